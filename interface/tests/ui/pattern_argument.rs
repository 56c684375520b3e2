#[xplug::interface(name = "t")]
pub trait Destructuring {
    fn sum((a, b): (u32, u32)) -> u32;
}

fn main() {}
