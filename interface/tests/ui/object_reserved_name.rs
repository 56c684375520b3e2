#[xplug::object]
pub trait Book {
    fn drop_(&self) -> u32;
}

fn main() {}
