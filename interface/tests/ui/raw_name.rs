#[xplug::interface(name = "t")]
pub trait Raw {
    fn r#type() -> u32;
}

fn main() {}
