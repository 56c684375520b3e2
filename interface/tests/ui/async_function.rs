#[xplug::interface(name = "t")]
pub trait Asynchronous {
    async fn get() -> u32;
}

fn main() {}
