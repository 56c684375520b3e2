//! The benchmark workloads as a plain abi_stable root module, exported the way abi_stable's
//! own examples do (`#[export_root_module]`, `#[sabi_extern_fn]`).

use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RSlice, RStr, RString};
use abi_stable::{export_root_module, sabi_extern_fn};
use bench_interface::{bodies, Counter, CounterBox, Counter_TO, PlainModule, PlainModuleRef};

struct Count(u64);

impl Counter for Count {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

#[sabi_extern_fn]
fn add(a: u64, b: u64) -> u64 {
    bodies::add(a, b)
}

#[sabi_extern_fn]
fn echo(s: RStr<'_>) -> RString {
    bodies::echo(s)
}

#[sabi_extern_fn]
fn sum(values: RSlice<'_, u64>) -> u64 {
    bodies::sum(values)
}

#[sabi_extern_fn]
fn counter(start: u64) -> CounterBox {
    Counter_TO::from_value(Count(start), TD_Opaque)
}

/// The root module.
#[export_root_module]
pub fn get_library() -> PlainModuleRef {
    PlainModule {
        add,
        echo,
        sum,
        counter,
    }
    .leak_into_prefix()
}
