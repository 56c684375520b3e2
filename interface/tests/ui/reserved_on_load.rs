#[xplug::interface(name = "t")]
pub trait Reserved {
    fn on_load() -> u32;
}

fn main() {}
