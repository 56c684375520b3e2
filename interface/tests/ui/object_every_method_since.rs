#[xplug::object]
pub trait Book {
    #[xplug(since = "1.1")]
    fn pages(&self) -> u32;
}

fn main() {}
