#[xplug::interface(version = "1.0")]
pub trait Versioned {
    fn get() -> u32;
}

fn main() {}
