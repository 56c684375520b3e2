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

#[xplug::interface(name = "v")]
pub trait Local {
    #[xplug(local)]
    fn plain() -> u32;
    #[xplug(local, local)]
    async fn twice() -> u32;
    #[xplug(since = "1.1", local)]
    async fn appended() -> u32;
}

fn main() {}
