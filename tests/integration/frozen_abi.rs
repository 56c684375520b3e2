//! xplug ABI 1, frozen: a plugin built with the `xplug` crates as they were when ABI 1 was
//! released (`tests/fixtures/frozen/abi1/`) loads and answers in a host built from today's code,
//! for as long as this host speaks ABI 1: hooks, calls, panics, objects either side makes, host
//! services, logs and unloading. A host of a later ABI refuses it with a typed error.

use abi_stable::std_types::RSlice;
use greeter_interface::{Callback, CounterBox, GreeterHostBox};
use xplug_loader::{CallErrorKind, ErrorKind};
use xtask::Fixture;

use crate::objects::TestHost;
use crate::support::{loader, plugin};

extern "C" fn triple(v: i64) -> i64 {
    v * 3
}

#[test]
fn a_plugin_built_with_the_frozen_crates_of_abi_1_loads_and_answers() {
    let loaded = loader()
        .host_services(GreeterHostBox::new(TestHost))
        .load(plugin(Fixture::FrozenAbi1));
    if xplug::abi::ABI_VERSION != 1 {
        // A new ABI: ABI 1's plugins are refused before their code runs.
        match loaded.map(|_| ()).unwrap_err().kind() {
            ErrorKind::AbiMismatch { found, .. } => assert_eq!(*found, 1),
            other => panic!("{other:?}"),
        }
        return;
    }
    let frozen = loaded.expect("an ABI 1 plugin loads in every ABI 1 host");
    let info = frozen.info();
    assert_eq!(
        (info.xplug_abi, info.xplug_version.as_str()),
        (1, "0.1.0+abi1")
    );
    assert_eq!(info.interface_version.to_string(), "1.1.0+abi1");

    // Values the plugin returns carry its code (their vtables): each is dropped before unloading.
    assert_eq!(frozen.greet("Ada".into()).unwrap(), "Hello, Ada!");
    assert_eq!(frozen.add(2, 40).unwrap(), 42);
    let words = frozen.words("b a b".into()).unwrap();
    assert_eq!(
        words.iter().map(|w| w.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    drop(words);
    let tripled = frozen
        .map(RSlice::from_slice(&[1, 2]), Callback(triple))
        .unwrap();
    assert_eq!(tripled.as_slice(), [3, 6]);
    drop(tripled);
    assert_eq!(frozen.shout("hi".into()).unwrap(), "HI!");
    // The host's services, reached from the plugin.
    let merci = frozen.translate("merci".into()).unwrap().into_option();
    assert_eq!(merci.unwrap(), "thanks, says the host");
    // A panic, contained and described through the frozen entries.
    let e = frozen.greet("".into()).unwrap_err();
    assert_eq!(e.panic_message(), Some("cannot greet an empty name"));

    // Objects the plugin makes, with the method appended in 1.1 and a contained panic.
    let mut counter = frozen.counter(5).unwrap();
    assert_eq!(counter.next().unwrap(), 6);
    assert_eq!(counter.reset().unwrap(), 6);
    let e = counter.skip(0).unwrap_err();
    assert!(matches!(e.kind(), CallErrorKind::Panicked { .. }), "{e:?}");
    assert_eq!(frozen.live_objects(), 1);
    drop(counter);
    assert_eq!(frozen.live_objects(), 0);
    // An object the host makes, driven by the plugin.
    let mut mine = CounterBox::new(crate::objects::HostCounter {
        value: 10,
        limit: 100,
    });
    assert_eq!(frozen.drive(&mut mine, 2).unwrap(), 12);
    drop(mine);

    // Unloading runs its `on_unload` hook through the frozen entries.
    // SAFETY: nothing the plugin returned is alive any more.
    if unsafe { frozen.unload() }.is_err() {
        panic!("the only handle, no live objects: unloads");
    }
}
