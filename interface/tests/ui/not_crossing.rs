use abi_stable::std_types::{RString, RVec};

#[xplug::interface(name = "t")]
pub trait Names {
    fn all() -> Vec<String>;
    fn find(name: &str, among: RVec<RString>) -> Option<u32>;
    fn first(names: &[RString]) -> Option<&'static u32>;
}

#[xplug::object]
pub trait Book {
    fn title(&self) -> String;
}

fn main() {}
