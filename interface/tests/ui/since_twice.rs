#[xplug::interface(name = "t")]
pub trait Appended {
    fn first() -> u32;
    #[xplug(since = "1.1")]
    #[xplug(since = "1.2")]
    fn second() -> u32;
}

fn main() {}
