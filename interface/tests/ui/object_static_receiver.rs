#[xplug::object]
pub trait Session {
    fn keep(&'static self) -> u32;
}

fn main() {}
