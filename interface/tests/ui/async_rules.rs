use abi_stable::std_types::{RStr, RString};

#[xplug::interface(name = "t")]
pub trait Borrowing {
    async fn get(name: RStr<'_>, other: &u32) -> u32;
    async fn borrowed() -> RStr<'static>;
    unsafe fn risky() -> u32;
}

#[xplug::interface(name = "u", isolated)]
pub trait Isolated {
    async fn later(name: RString) -> u32;
    fn now() -> u32;
}

fn main() {}
