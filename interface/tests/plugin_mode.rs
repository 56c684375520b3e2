//! A copy of xplug in plugin mode (what a plugin's load shim switches on; this test binary
//! plays the plugin): guards contain panics without tracking on the call path, each guard
//! gets its own panic's details, and panics no guard takes are still reported.

use abi_stable::std_types::RResult;
use xplug::__private::{connect, guard, host_link, install_hook, take_panic};

fn enter_plugin_mode() {
    install_hook();
    connect(host_link());
}

#[test]
fn guards_in_plugin_mode_contain_panics_with_their_own_details() {
    enter_plugin_mode();
    assert_eq!(guard(|| 40 + 2), RResult::ROk(42));
    assert!(guard(|| panic!("first")).is_err());
    let first = take_panic();
    assert_eq!(first.message.as_str(), "first");
    assert!(
        first.location.as_str().contains("plugin_mode.rs"),
        "{first:?}"
    );

    // A panic caught by the plugin's own `catch_unwind`, outside any guard, then one inside
    // a guard: the guard reports its own.
    let _ = std::panic::catch_unwind(|| panic!("caught by the plugin itself"));
    let line = line!() + 1;
    assert!(guard(|| panic!("second")).is_err());
    let second = take_panic();
    assert_eq!(second.message.as_str(), "second");
    assert!(
        second.location.as_str().contains(&format!(":{line}:")),
        "{second:?} (line {line})"
    );
}

#[test]
fn a_panic_on_a_plugin_thread_outside_any_guard_still_ends_that_thread() {
    enter_plugin_mode();
    let died = std::thread::spawn(|| panic!("a plugin thread panics")).join();
    let payload = died.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>().copied(),
        Some("a plugin thread panics")
    );
    // Guards on this thread are unaffected.
    assert!(guard(|| panic!("after")).is_err());
    assert_eq!(take_panic().message.as_str(), "after");
}

#[xplug::object]
pub trait Gauge: Send {
    fn read(&mut self, divisor: u32) -> u32;
}

struct Level(u32);

impl Gauge for Level {
    fn read(&mut self, divisor: u32) -> u32 {
        self.0 / divisor
    }
}

#[test]
fn objects_made_in_plugin_mode_contain_panics_with_their_details() {
    enter_plugin_mode();
    // Made now, the object gets the shims that read no mode at each call.
    let mut gauge = GaugeBox::new(Level(84));
    // (Compared by their method's shim: a constant's address is not unique.)
    let shim = gauge.vtable.read() as usize;
    assert_eq!(
        shim,
        __XplugGaugeObjectShim::<Level>::PLUGIN_VTABLE.read() as usize
    );
    assert_ne!(
        shim,
        __XplugGaugeObjectShim::<Level>::VTABLE.read() as usize
    );
    assert_eq!(gauge.read(2).unwrap(), 42);
    let error = gauge.read(0).unwrap_err();
    assert!(error.to_string().contains("Gauge.read"), "{error}");
    let details = format!("{error:?}");
    assert!(details.contains("divide by zero"), "{details}");
    assert!(details.contains("plugin_mode.rs"), "{details}");
    assert_eq!(gauge.read(4).unwrap(), 21);
    gauge.close().unwrap();
}
