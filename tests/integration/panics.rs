//! Panic containment: a panicking plugin function returns an error; the host keeps running.

use xplug_loader::{CallErrorKind, ErrorKind};
use xtask::Fixture;

use crate::support::{assert_good_plugin_works, loader, plugin};

#[test]
fn a_thousand_panics_come_back_as_errors() {
    let en = loader().load(plugin(Fixture::GreeterEn)).expect("loads");
    for _ in 0..1000 {
        match en.greet("".into()) {
            Err(e) => {
                let CallErrorKind::Panicked { message, location } = e.kind() else {
                    panic!("expected a contained panic, got {e:?}")
                };
                assert_eq!(e.function(), "greet");
                assert_eq!(message, "cannot greet an empty name");
                assert!(location.contains("greeter-en"), "{location}");
            }
            other => panic!("expected a contained panic, got {other:?}"),
        }
    }
    assert_eq!(en.greet("Ada".into()).unwrap(), "Hello, Ada!");
    assert_good_plugin_works();
}

#[test]
fn a_failed_on_load_is_reported_again_without_running_twice() {
    let first = loader().load(plugin(Fixture::InitPanic)).unwrap_err();
    let second = loader().load(plugin(Fixture::InitPanic)).unwrap_err();
    assert!(
        matches!(first.kind(), ErrorKind::InitPanicked { .. }),
        "{first:?}"
    );
    assert_eq!(first.to_string(), second.to_string());
}
