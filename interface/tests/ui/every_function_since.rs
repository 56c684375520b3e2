#[xplug::interface(name = "t")]
pub trait AllAppended {
    #[xplug(since = "1.1")]
    fn one() -> u32;
    #[xplug(since = "1.1")]
    fn two() -> u32;
}

fn main() {}
