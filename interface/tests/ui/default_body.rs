#[xplug::interface(name = "t")]
pub trait Defaulted {
    fn get() -> u32 {
        1
    }
}

fn main() {}
