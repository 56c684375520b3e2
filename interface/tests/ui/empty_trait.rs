#[xplug::interface(name = "t")]
pub trait Empty {}

fn main() {}
