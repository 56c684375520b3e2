#[xplug::interface(name = "t")]
pub trait WithConst {
    const LIMIT: u32;
    fn get() -> u32;
}

fn main() {}
