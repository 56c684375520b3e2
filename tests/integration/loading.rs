//! Loading files and directories: one plugin per file, side by side, from many threads.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use xplug_loader::{ErrorKind, Plugin};
use xtask::Fixture;

use crate::support::{loader, plugin, scratch};

/// How often the counting fixture's `on_load` ran, read through the dynamic loader (the
/// library is already open, so this adds a reference and runs nothing).
fn on_load_count(path: &Path) -> u32 {
    // SAFETY: the fixture is an xplug plugin whose static constructors are Rust's defaults
    // (none); the symbol is a `#[no_mangle] static AtomicU32`.
    unsafe {
        let lib = libloading::Library::new(path).expect("open fixture");
        let count: libloading::Symbol<'_, *const AtomicU32> = lib
            .get(b"XPLUG_FIXTURE_ON_LOAD_COUNT\0")
            .expect("fixture exports its counter");
        (**count).load(Ordering::SeqCst)
    }
}

#[test]
fn the_same_file_through_other_paths_is_one_plugin_loaded_once() {
    let dir = scratch("same-file");
    let real = plugin(Fixture::Counting);
    let link = dir.join("libcounting-link.so");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&real, &link).unwrap();
    #[cfg(not(unix))]
    fs::copy(&real, &link).unwrap();
    let parent = real.parent().unwrap();
    let dotted: PathBuf = parent
        .join("..")
        .join(parent.file_name().unwrap())
        .join(real.file_name().unwrap());

    let a = loader().load(&real).unwrap();
    let b = loader().load(&dotted).unwrap();
    assert!(a.same_library(&b));
    #[cfg(unix)]
    {
        let c = loader().load(&link).unwrap();
        assert!(a.same_library(&c));
        assert_eq!(c.path(), fs::canonicalize(&real).unwrap());
    }
    assert_eq!(on_load_count(&real), 1);
}

#[test]
fn eight_threads_get_consistent_results_and_one_load_per_file() {
    let files = [
        plugin(Fixture::Counting),
        plugin(Fixture::GreeterFr),
        plugin(Fixture::GreeterEn),
    ];
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let files = files.clone();
            thread::spawn(move || {
                barrier.wait();
                // Every thread loads the counting fixture, plus one other file by turns.
                let counting = loader().load(&files[0]).expect("counting fixture loads");
                let other = loader().load(&files[1 + i % 2]).expect("demo plugin loads");
                assert_eq!(counting.add(i as u32, 1).unwrap(), i as u32 + 1);
                (counting, other, i % 2)
            })
        })
        .collect();
    let results: Vec<(Plugin<_>, Plugin<_>, usize)> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    for (counting, other, which) in &results {
        assert!(counting.same_library(&results[0].0));
        let twin = results.iter().find(|r| r.2 == *which).unwrap();
        assert!(other.same_library(&twin.1));
    }
    assert_eq!(on_load_count(&files[0]), 1);
}

#[test]
fn a_directory_loads_its_plugins_and_reports_each_refused_file() {
    let dir = scratch("plugin-dir");
    for fixture in [Fixture::GreeterEn, Fixture::GreeterFr, Fixture::Major] {
        let from = plugin(fixture);
        fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    let garbage = dir.join(xplug_loader::library_file_name("garbage"));
    fs::write(&garbage, b"not a library").unwrap();
    fs::create_dir(dir.join(xplug_loader::library_file_name("subdir"))).unwrap();
    fs::write(dir.join("README.md"), "ignored: not named like a library").unwrap();

    let report = loader().load_dir(&dir).expect("directory readable");
    let mut names: Vec<&str> = report
        .plugins
        .iter()
        .map(|p| p.info().name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["greeter-en", "greeter-fr"]);
    // Two plugins of one interface side by side, each with its own code.
    let greetings: Vec<String> = report
        .plugins
        .iter()
        .map(|p| p.greet("Zoe".into()).unwrap().into())
        .collect();
    assert!(greetings.contains(&String::from("Hello, Zoe!")));
    assert!(greetings.contains(&String::from("Bonjour, Zoe !")));

    assert_eq!(report.rejected.len(), 3, "{:#?}", report.rejected);
    let kinds: Vec<&'static str> = report
        .rejected
        .iter()
        .map(|e| match e.kind() {
            ErrorKind::VersionMismatch { .. } => "version",
            ErrorKind::NotALibrary { .. } => "garbage",
            ErrorKind::NotAFile { .. } => "directory",
            other => panic!("unexpected rejection {other:?}"),
        })
        .collect();
    for kind in ["version", "garbage", "directory"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
}

/// Installs `from` at `to` as a new file (write, then rename): overwriting a loaded library in
/// place would change the code mapped into this process under its feet.
fn install(from: &Path, to: &Path) {
    let tmp = to.with_extension("new");
    fs::copy(from, &tmp).unwrap();
    fs::rename(&tmp, to).unwrap();
}

#[test]
fn a_file_replaced_after_loading_is_refused_and_one_fixed_before_loading_is_read_again() {
    let dir = scratch("replaced");
    let path = dir.join(xplug_loader::library_file_name("swap"));

    // Loaded, then replaced by another plugin: the old code stays, the new file is refused.
    install(&plugin(Fixture::GreeterEn), &path);
    let en = loader().load(&path).expect("loads");
    assert_eq!(en.greet("Al".into()).unwrap(), "Hello, Al!");
    install(&plugin(Fixture::GreeterFr), &path);
    match loader().load(&path) {
        Err(e) if matches!(e.kind(), ErrorKind::Replaced { .. }) => {
            assert_eq!(e.plugin().unwrap().name, "greeter-en")
        }
        other => panic!("expected the replaced file to be refused, got {other:?}"),
    }
    assert_eq!(
        en.greet("Al".into()).unwrap(),
        "Hello, Al!",
        "the loaded plugin still works"
    );

    // Refused before it was opened, then fixed: the new file is read and loads.
    let later = dir.join(xplug_loader::library_file_name("fixed"));
    fs::copy(plugin(Fixture::Major), &later).unwrap();
    assert!(matches!(
        loader().load(&later).map_err(|e| e.kind().clone()),
        Err(ErrorKind::VersionMismatch { .. })
    ));
    fs::copy(plugin(Fixture::GreeterFr), &later).unwrap();
    let fr = loader().load(&later).expect("the fixed file loads");
    assert_eq!(fr.greet("Al".into()).unwrap(), "Bonjour, Al !");
}
