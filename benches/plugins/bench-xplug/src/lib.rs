//! The benchmark workloads as an xplug plugin, and as raw `#[no_mangle] extern "C"`
//! functions with the same signatures (the floor a call cannot go below).

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RSlice, RStr, RString};
use std::hint::black_box;

use bench_interface::{bodies, Bench, Callback, Counter, CounterBox, Counter_TO, Tally, TallyBox};

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
    fn tally(start: u64) -> TallyBox {
        TallyBox::new(Count(start))
    }
    fn ping_host(times: u64) -> u64 {
        let host = match Self::host() {
            Some(host) => host,
            None => return 0,
        };
        let mut sum = 0u64;
        for i in 0..times {
            sum = sum.wrapping_add(host.ping(black_box(i)).unwrap_or(0));
        }
        sum
    }
    fn call_back(times: u64, f: Callback) -> u64 {
        let mut sum = 0u64;
        for i in 0..times {
            sum = sum.wrapping_add((f.0)(black_box(i)));
        }
        sum
    }
    fn log_debug(times: u64) {
        for i in 0..times {
            log::debug!("value {}", black_box(i));
        }
    }
    fn log_info(times: u64) {
        for i in 0..times {
            log::info!("value {}", black_box(i));
        }
    }
}

impl Tally for Count {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// The object workload through a raw function pointer: the state is the host's.
///
/// # Safety
/// `state` points to a `u64` no one else accesses during the call.
#[no_mangle]
pub unsafe extern "C" fn raw_tally_next(state: *mut u64) -> u64 {
    *state = (*state).wrapping_add(1);
    *state
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
