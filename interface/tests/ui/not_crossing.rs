use abi_stable::std_types::{RString, RVec};
use std::num::NonZeroU32;

// Refused, at each type, with the abi_stable type to use.
#[xplug::interface(name = "t")]
pub trait Names {
    fn all() -> Vec<String>;
    fn find(name: &str, among: RVec<RString>) -> Option<u32>;
    fn first(names: &[RString]) -> std::option::Option<bool>;
    // Accepted: an `Option` whose `None` is a null or a zero, and types of the crate's own.
    fn nth(n: Option<NonZeroU32>) -> Option<&'static u32>;
    fn own(v: crate::own::Vec) -> u32;
}

mod own {
    #[repr(C)]
    #[derive(abi_stable::StableAbi)]
    pub struct Vec(pub u32);
}

#[xplug::object]
pub trait Book {
    fn title(&self) -> String;
}

fn main() {}
