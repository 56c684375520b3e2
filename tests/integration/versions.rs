//! The version rule: within a major version both directions load; appended functions are
//! reported absent by older plugins; a host may set its own requirement.

use greeter_interface::GreeterRef;
use xplug_loader::semver::VersionReq;
use xplug_loader::{CallErrorKind, ErrorKind, Loader};
use xtask::Fixture;

use crate::support::{loader, plugin};

#[test]
fn an_older_minor_plugin_loads_and_lacks_the_appended_function() {
    let old = loader()
        .load(plugin(Fixture::OlderMinor))
        .expect("a 1.0 plugin loads in a 1.1 host");
    assert_eq!(old.info().interface_version.to_string(), "1.0.0");
    assert_eq!(old.greet("Bo".into()).unwrap(), "Hello, Bo!");
    assert_eq!(old.add(1, 2).unwrap(), 3);
    match old.shout("hey".into()) {
        Err(e) => {
            assert_eq!(e.function(), "shout");
            assert_eq!(e.kind(), &CallErrorKind::Missing { since: "1.1" });
        }
        other => panic!("expected `shout` to be missing, got {other:?}"),
    }
    // Its objects lack the method appended to their trait in 1.1.
    let mut counter = old.counter(5).unwrap();
    assert_eq!(counter.next().unwrap(), 6);
    match counter.reset() {
        Err(e) => {
            assert_eq!(e.function(), "Counter.reset");
            assert_eq!(e.kind(), &CallErrorKind::Missing { since: "1.1" });
        }
        other => panic!("expected `Counter.reset` to be missing, got {other:?}"),
    }
    assert_eq!(counter.next().unwrap(), 7, "usable after a missing method");
}

#[test]
#[cfg(target_os = "linux")]
fn a_newer_minor_plugin_hears_missing_from_a_host_service_the_host_does_not_offer() {
    let new = loader()
        .host_services(greeter_interface::GreeterHostBox::new(
            crate::objects::TestHost,
        ))
        .load(plugin(Fixture::NewerMinor))
        .expect("a 1.2 plugin loads in a 1.1 host that offers services");
    // SAFETY: read at once, while `new` keeps the library loaded.
    let heard = unsafe { crate::loading::fixture_static(&new, "XPLUG_FIXTURE_HOST_SERVICE") }
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        heard, 2,
        "0: no services, 1: answered, 2: missing, 3: another error"
    );
    // Its objects have a method more than this host knows: the host calls what it knows.
    let mut counter = new.counter(1).unwrap();
    assert_eq!(counter.reset().unwrap(), 1);
}

#[test]
fn a_newer_minor_plugin_loads_and_its_extra_functions_are_ignored() {
    let new = loader()
        .load(plugin(Fixture::NewerMinor))
        .expect("a 1.2 plugin loads in a 1.1 host");
    assert_eq!(new.info().interface_version.to_string(), "1.2.0");
    assert_eq!(new.greet("Cy".into()).unwrap(), "Hello, Cy!");
    assert_eq!(new.shout("hey".into()).unwrap(), "HEY!");
}

#[test]
fn a_host_can_set_its_own_version_requirement() {
    let strict =
        Loader::<GreeterRef>::new().version_requirement(VersionReq::parse(">=1.1, <2").unwrap());
    let e = strict.load(plugin(Fixture::OlderMinor)).unwrap_err();
    match e.kind() {
        ErrorKind::VersionMismatch { required, .. } => {
            assert_eq!(required.to_string(), ">=1.1, <2");
            assert_eq!(e.plugin().unwrap().interface_version.to_string(), "1.0.0");
        }
        other => panic!("{other:?}"),
    }
    // A lenient requirement lets 2.0.0 past the version check, but not past the layout
    // check: the interface crate's major version is part of every type's layout.
    let lenient =
        Loader::<GreeterRef>::new().version_requirement(VersionReq::parse(">=1, <3").unwrap());
    match lenient
        .load(plugin(Fixture::Major))
        .map_err(|e| e.kind().clone())
    {
        Err(ErrorKind::LayoutMismatch { difference, .. }) => {
            assert_eq!(
                difference.what, "incompatible crate versions",
                "{difference:?}"
            );
            assert_eq!(
                (difference.expected.as_str(), difference.found.as_str()),
                ("greeter-interface 1.1.0", "greeter-interface 2.0.0")
            );
        }
        other => panic!("{other:?}"),
    }
}
