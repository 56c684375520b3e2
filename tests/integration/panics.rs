//! Panic containment: a panicking plugin function returns an error; the host keeps running.

use std::path::Path;

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
                assert_eq!(e.plugin(), Some("greeter-en 0.3.0"));
            }
            other => panic!("expected a contained panic, got {other:?}"),
        }
    }
    assert_eq!(en.greet("Ada".into()).unwrap(), "Hello, Ada!");
    assert_good_plugin_works();
}

#[test]
fn a_contained_panic_names_its_plugin_and_a_source_file_that_opens() {
    let en = loader().load(plugin(Fixture::GreeterEn)).expect("loads");
    let e = en.greet("".into()).unwrap_err();
    let CallErrorKind::Panicked { location, .. } = e.kind() else {
        panic!("expected a contained panic, got {e:?}")
    };
    // The demo plugin's source, built from `examples/` by the fixtures' workspace: its path
    // opens from the repository root.
    let file = location.rsplitn(3, ':').nth(2).unwrap();
    assert_eq!(
        Path::new(file),
        Path::new("examples/plugins/greeter-en/src/lib.rs")
    );
    assert!(xtask::repo_root().join(file).is_file(), "{location}");
    let text = e.to_string();
    assert!(
        text.starts_with(&format!(
            "plugin greeter-en 0.3.0 panicked in `greet`: cannot greet an empty name (at {file}:"
        )),
        "{text}"
    );

    // A panic in `on_load`: its location is tidy too.
    let init = loader()
        .load(plugin(Fixture::InitPanic))
        .map(|_| ())
        .unwrap_err();
    let ErrorKind::InitPanicked { location, .. } = init.kind() else {
        panic!("{init:?}")
    };
    let file = location.rsplitn(3, ':').nth(2).unwrap();
    assert!(xtask::repo_root().join(file).is_file(), "{location}");
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
