use abi_stable::std_types::{RStr, RString};

// An `isolated` interface refuses what its attribute can tell cannot cross, at each type.
#[xplug::interface(name = "t", isolated)]
pub trait Tools {
    fn fine(name: RStr<'_>, count: u64) -> RString;
    fn raw(p: *const u8) -> u64;
    fn pointers(p: abi_stable::std_types::RVec<*mut u8>) -> u64;
    fn borrowed() -> RStr<'static>;
    fn kept(name: RStr<'static>) -> u64;
}

fn main() {}
