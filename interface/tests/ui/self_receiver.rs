#[xplug::interface(name = "t")]
pub trait Stateful {
    fn get(&self) -> u32;
}

fn main() {}
