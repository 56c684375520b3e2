#[xplug::interface(name = "an-interface-name-that-is-longer-than-the-sixty-four-bytes-a-header-holds")]
pub trait Long {
    fn get() -> u32;
}

fn main() {}
