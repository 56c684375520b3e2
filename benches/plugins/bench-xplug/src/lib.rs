//! The benchmark workloads as an xplug plugin, and as raw `#[no_mangle] extern "C"`
//! functions with the same signatures (the floor a call cannot go below).

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RSlice, RStr, RString};
use bench_interface::{bodies, Bench, Counter, CounterBox, Counter_TO};

struct Plugin;

impl Bench for Plugin {
    fn add(a: u64, b: u64) -> u64 {
        bodies::add(a, b)
    }
    fn echo(s: RStr<'_>) -> RString {
        bodies::echo(s)
    }
    fn sum(values: RSlice<'_, u64>) -> u64 {
        bodies::sum(values)
    }
    fn counter(start: u64) -> CounterBox {
        raw_counter(start)
    }
}

struct Count(u64);

impl Counter for Count {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// Adds two numbers.
#[no_mangle]
pub extern "C" fn raw_add(a: u64, b: u64) -> u64 {
    bodies::add(a, b)
}

/// Returns a copy of `s`.
#[no_mangle]
pub extern "C" fn raw_echo(s: RStr<'_>) -> RString {
    bodies::echo(s)
}

/// The sum of `values`.
#[no_mangle]
pub extern "C" fn raw_sum(values: RSlice<'_, u64>) -> u64 {
    bodies::sum(values)
}

/// A counter object.
#[no_mangle]
pub extern "C" fn raw_counter(start: u64) -> CounterBox {
    Counter_TO::from_value(Count(start), TD_Opaque)
}

xplug::export_plugin!(Plugin as Bench);
