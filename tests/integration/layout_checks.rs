//! Each distinct root-module layout is checked in full once per process; plugins with a
//! layout that passed before are answered by its fingerprint. Counted per thread, so that
//! tests running in parallel do not disturb the count (they may take the first check).

use std::fs;
use std::path::PathBuf;

use xplug_loader::__private::full_checks_on_this_thread;
use xplug_loader::ErrorKind;
use xtask::Fixture;

use crate::support::{loader, plugin, scratch};

/// A copy of `fixture` with one more byte at its end: another file, with other bytes, so that
/// the loader opens and checks it as a library of its own.
fn copy_of(fixture: Fixture, dir: &std::path::Path, n: u8) -> PathBuf {
    let mut bytes = fs::read(plugin(fixture)).unwrap();
    bytes.push(n);
    let path = dir.join(xplug_loader::tools::library_file_name(&format!("copy_{n}")));
    fs::write(&path, bytes).unwrap();
    path
}

fn checks_during<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = full_checks_on_this_thread();
    let value = f();
    (full_checks_on_this_thread() - before, value)
}

#[test]
fn a_layout_that_passed_is_checked_once_per_process() {
    let dir = scratch("layout-checks");
    let loader = loader();
    let (first, greeter) = checks_during(|| loader.load(copy_of(Fixture::GreeterEn, &dir, 0)));
    assert_eq!(
        greeter.expect("loads").greet("Ada".into()).unwrap(),
        "Hello, Ada!"
    );
    assert!(first <= 1, "the first load checked {first} layouts");

    // Other files of the same plugin, and another plugin of the same interface version.
    let (again, plugins) = checks_during(|| {
        let mut plugins: Vec<_> = (1..4)
            .map(|n| {
                loader
                    .load(copy_of(Fixture::GreeterEn, &dir, n))
                    .expect("loads")
            })
            .collect();
        plugins.push(loader.load(plugin(Fixture::GreeterFr)).expect("loads"));
        plugins
    });
    assert_eq!(again, 0, "{} loads of a layout that passed", plugins.len());
    assert_eq!(plugins[3].greet("Ada".into()).unwrap(), "Bonjour, Ada !");
}

#[test]
fn a_layout_that_failed_is_checked_again_at_every_load() {
    let dir = scratch("layout-checks-refused");
    let loader = loader();
    // The host's layout has passed with a plugin in this process before the changed one.
    loader.load(plugin(Fixture::GreeterEn)).expect("loads");
    for n in 0..2 {
        let (checks, refused) =
            checks_during(|| loader.load(copy_of(Fixture::ChangedType, &dir, n)));
        let error = refused.expect_err("a changed type is refused");
        let kind = error.kind();
        assert!(matches!(kind, ErrorKind::LayoutMismatch { .. }), "{kind:?}");
        assert_eq!(checks, 1, "refusal {n}");
    }
}
