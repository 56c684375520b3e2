#[xplug::object]
pub trait Session: Clone {
    fn feed(&mut self, text: u32) -> u32;
}

fn main() {}
