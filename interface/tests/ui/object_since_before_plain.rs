#[xplug::object]
pub trait Book {
    fn pages(&self) -> u32;
    #[xplug(since = "1.1")]
    fn title(&self) -> u32;
    fn author(&self) -> u32;
}

fn main() {}
