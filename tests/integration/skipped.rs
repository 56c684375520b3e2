//! Entries of a plugin directory that are not libraries: listed by `load_dir`, reported once
//! per appearance by watchers; a library's signature file is neither.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use xplug_loader::reload::Event;
use xplug_loader::tools::library_file_name;
use xtask::Fixture;

use crate::snapshots::install;
use crate::support::{loader, next_event, plugin, scratch};

fn skipped(event: Event) -> PathBuf {
    match event {
        Event::Skipped { path } => path,
        other => panic!("expected a skipped entry: {other}"),
    }
}

/// A directory with a plugin, its signature, and entries that are no plugins: a versioned
/// library name, a data file, a subdirectory.
fn mixed_dir(name: &str) -> (PathBuf, [PathBuf; 3]) {
    let dir = scratch(name);
    let library = dir.join(library_file_name("greeter"));
    fs::copy(plugin(Fixture::GreeterEn), &library).unwrap();
    fs::write(
        xplug_loader::trust::signature_path(&library),
        "not read: no policy here",
    )
    .unwrap();
    let versioned = dir.join(format!("{}.1", library_file_name("z")));
    fs::copy(plugin(Fixture::GreeterFr), &versioned).unwrap();
    fs::write(dir.join("random.bin"), b"\x00\x01").unwrap();
    fs::create_dir(dir.join("old")).unwrap();
    let mut others = [versioned, dir.join("old"), dir.join("random.bin")];
    others.sort();
    (dir, others)
}

#[test]
fn load_dir_lists_the_entries_it_did_not_try() {
    let (dir, others) = mixed_dir("skipped-load-dir");
    let report = loader().load_dir(&dir).unwrap();
    assert_eq!(report.plugins.len(), 1);
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.skipped, others);
    assert!(format!("{report:?}").contains("random.bin"));
}

#[test]
fn a_watcher_reports_each_skipped_entry_once_per_appearance() {
    let (dir, others) = mixed_dir("skipped-watcher");
    let watcher = loader().watch_dir(&dir).unwrap();
    // The first events, in name order: the library, then the others (not the signature).
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
    for other in &others {
        assert_eq!(&skipped(next_event(&watcher)), other);
    }
    let line = Event::Skipped {
        path: others[2].clone(),
    }
    .to_string();
    assert!(
        line.starts_with("skipped ") && line.contains("random.bin"),
        "{line}"
    );

    // Changed: not reported again. A new library, installed through a temporary name
    // renamed into place, and its signature: only the library is reported.
    fs::write(dir.join("random.bin"), b"changed").unwrap();
    let new = dir.join(library_file_name("greeter_fr"));
    install(&fs::read(plugin(Fixture::GreeterFr)).unwrap(), &new);
    match next_event(&watcher) {
        Event::Loaded { path, .. } => assert_eq!(path, new),
        other => panic!("{other}"),
    }
    fs::write(xplug_loader::trust::signature_path(&new), "x").unwrap();
    // A new entry that stays is reported, once, after the temporary name would have been.
    let notes = dir.join("notes.txt");
    fs::write(&notes, "plugins go here").unwrap();
    assert_eq!(skipped(next_event(&watcher)), notes);
    fs::write(&notes, "plugins go here, signed").unwrap();
    fs::remove_file(dir.join("random.bin")).unwrap();
    let later = dir.join("later.txt");
    fs::write(&later, "").unwrap();
    assert_eq!(skipped(next_event(&watcher)), later);
    // Removed, then back: a new appearance, reported again.
    fs::write(dir.join("random.bin"), b"back").unwrap();
    assert_eq!(skipped(next_event(&watcher)), dir.join("random.bin"));
}

#[test]
fn a_polling_watcher_reports_skipped_entries_too() {
    let (dir, others) = mixed_dir("skipped-polling");
    let watcher = loader()
        .watch_dir_polling(&dir, Duration::from_millis(20))
        .unwrap();
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
    for other in &others {
        assert_eq!(&skipped(next_event(&watcher)), other);
    }
    let notes: &Path = &dir.join("notes.txt");
    fs::write(notes, "plugins go here").unwrap();
    assert_eq!(skipped(next_event(&watcher)), notes);
}
