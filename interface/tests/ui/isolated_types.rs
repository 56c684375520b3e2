use abi_stable::std_types::{RStr, RString, RVec};

/// A raw function pointer in a newtype: the attribute cannot tell, the compiler can.
#[repr(transparent)]
#[derive(abi_stable::StableAbi, Clone, Copy)]
pub struct Callback(pub extern "C" fn(i64) -> i64);

#[xplug::object(isolated)]
pub trait Counter: Send {
    fn next(&mut self) -> u64;
    fn hook(&self, f: Callback) -> u64;
}

// Accepted: copies, objects returned and lent. Refused at the type: the rest.
#[xplug::interface(name = "t", isolated)]
pub trait Tools {
    fn fine(name: RStr<'_>, count: u64) -> RVec<RString>;
    fn counter(start: u64) -> CounterBox;
    fn drive(counter: &mut CounterBox, seen: &u64) -> u64;
    fn callback(f: Callback) -> u64;
    fn copy_back(v: &mut u64) -> u64;
    fn give(counter: CounterBox) -> u64;
}

fn main() {}
