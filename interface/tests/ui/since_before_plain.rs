#[xplug::interface(name = "t")]
pub trait Order {
    fn first() -> u32;
    #[xplug(since = "1.1")]
    fn appended() -> u32;
    fn after_appended() -> u32;
}

fn main() {}
