#[xplug::interface(name = "t")]
pub trait Appended {
    fn first() -> u32;
    #[xplug(since = "banana")]
    fn second() -> u32;
}

fn main() {}
