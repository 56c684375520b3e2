#[xplug::object]
pub trait Session {
    fn feed(text: u32) -> u32;
}

fn main() {}
