#[xplug::interface(name = "t")]
pub trait Generic<T> {
    fn get() -> u32;
}

fn main() {}
