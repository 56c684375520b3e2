//! What loads is what was checked: one read of the file, a private snapshot of those bytes,
//! identity by content. Files renamed, rewritten or deleted under a running host change
//! nothing already loaded.

use std::fs;
use std::mem::offset_of;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use xplug::PluginHeader;
use xplug_loader::trust::TrustPolicy;
use xplug_loader::{ErrorKind, LoadMode, PanicStrategy};
use xtask::Fixture;

#[cfg(target_os = "linux")]
use crate::loading::on_load_count;
use crate::support::{loader, plugin, scratch};

/// A copy of `fixture`'s bytes whose header claims another plugin version: other bytes, so a
/// plugin of its own, never loaded by another test.
pub(crate) fn variant(fixture: Fixture, version: &str) -> Vec<u8> {
    variant_of(&plugin(fixture), version)
}

/// The bytes of the plugin file `file`, its header claiming the plugin version `version`,
/// and the version again after its end (bytes no loader reads): a snapshot's name in
/// `/proc/PID/maps` hashes a file's last bytes, not all of them, and the tests that look for
/// a variant's snapshot there find it by that name.
pub(crate) fn variant_of(file: &Path, version: &str) -> Vec<u8> {
    let mut bytes = fs::read(file).unwrap();
    crate::bad_inputs::set_header_field(
        &mut bytes,
        offset_of!(PluginHeader, plugin_version),
        32,
        version,
    );
    bytes.extend_from_slice(version.as_bytes());
    bytes
}

/// Writes `bytes` at `path` as installers do: a new file renamed over the path.
pub(crate) fn install(bytes: &[u8], path: &Path) {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_plugin_renamed_over_the_path_during_loads_never_mixes_with_the_checked_one() {
    let dir = scratch("rename-race");
    let path = dir.join(xplug_loader::tools::library_file_name("race"));
    let en = fs::read(plugin(Fixture::GreeterEn)).unwrap();
    let fr = fs::read(plugin(Fixture::GreeterFr)).unwrap();
    // greeter-fr marked `panic = "abort"`: a default loader refuses it.
    let mut abort = fr.clone();
    let at = crate::bad_inputs::header_offset(&abort) + offset_of!(PluginHeader, panic_strategy);
    abort[at] = xplug::header::PANIC_ABORT;
    let versions: Vec<PathBuf> = [&en, &fr, &abort]
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            let staged = dir.join(format!("staged-{i}"));
            fs::write(&staged, bytes).unwrap();
            staged
        })
        .collect();
    install(&en, &path);

    let done = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (done, path, dir) = (Arc::clone(&done), path.clone(), dir.clone());
        thread::spawn(move || {
            let mut i = 0;
            while !done.load(Ordering::SeqCst) {
                let tmp = dir.join("swap.tmp");
                fs::copy(&versions[i % 3], &tmp).unwrap();
                fs::rename(&tmp, &path).unwrap();
                i += 1;
            }
            i
        })
    };
    let (mut english, mut french, mut refused) = (0, 0, 0);
    for _ in 0..200 {
        match loader().load(&path) {
            Ok(p) => {
                assert_eq!(p.info().panic_strategy, PanicStrategy::Unwind);
                let greeting = String::from(p.greet("Al".into()).unwrap());
                match p.info().name.as_str() {
                    "greeter-en" => {
                        assert_eq!(greeting, "Hello, Al!");
                        english += 1
                    }
                    "greeter-fr" => {
                        assert_eq!(greeting, "Bonjour, Al !");
                        french += 1
                    }
                    other => panic!("unexpected plugin {other}"),
                }
            }
            Err(e) => {
                assert!(matches!(e.kind(), ErrorKind::PanicAbort { .. }), "{e}");
                refused += 1;
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    let swaps = swapper.join().unwrap();
    crate::support::notice(&format!(
        "rename race: {swaps} renames; loads: {english} greeter-en, {french} greeter-fr, \
         {refused} refused (panic = abort)"
    ));
}

#[test]
fn a_loaded_plugin_survives_its_file_being_overwritten_renamed_over_or_deleted() {
    let dir = scratch("overwritten");
    let path = dir.join(xplug_loader::tools::library_file_name("live"));
    fs::copy(plugin(Fixture::GreeterEn), &path).unwrap();
    let en = loader().load(&path).unwrap();

    // `cp new.so loaded.so`: the same file (inode), rewritten in place.
    fs::copy(plugin(Fixture::GreeterFr), &path).unwrap();
    assert_eq!(
        en.greet("Al".into()).unwrap(),
        "Hello, Al!",
        "old code intact"
    );
    let fr = loader().load(&path).expect("the new bytes load");
    assert!(!fr.same_library(&en), "a new plugin, beside the old one");
    assert_eq!(fr.greet("Al".into()).unwrap(), "Bonjour, Al !");
    assert_eq!(en.greet("Al".into()).unwrap(), "Hello, Al!");

    // Renamed over, then deleted.
    install(&variant(Fixture::GreeterEn, "0.3.0-next"), &path);
    let next = loader().load(&path).unwrap();
    assert_eq!(next.info().version.to_string(), "0.3.0-next");
    fs::remove_file(&path).unwrap();
    for p in [&en, &fr, &next] {
        assert_eq!(p.add(20, 22).unwrap(), 42);
    }
    assert!(matches!(
        loader().load(&path).unwrap_err().kind(),
        ErrorKind::NotFound { .. }
    ));

    // The same bytes again, under any path: the plugin already loaded.
    let again = dir.join("copy-of-en.so");
    fs::copy(plugin(Fixture::GreeterEn), &again).unwrap();
    assert!(loader().load(&again).unwrap().same_library(&en));
}

#[test]
#[cfg(target_os = "linux")]
fn hard_links_symlinks_and_copies_are_one_plugin_initialised_once() {
    let dir = scratch("links");
    let path = dir.join(xplug_loader::tools::library_file_name("counting"));
    fs::write(&path, variant(Fixture::Counting, "0.1.0-links")).unwrap();
    let hard = dir.join("hard.so");
    fs::hard_link(&path, &hard).unwrap();
    let soft = dir.join("soft.so");
    std::os::unix::fs::symlink(&path, &soft).unwrap();
    let copy = dir.join("copy.so");
    fs::copy(&path, &copy).unwrap();

    let first = loader().load(&path).unwrap();
    for other in [&hard, &soft, &copy] {
        let p = loader().load(other).unwrap();
        assert!(p.same_library(&first), "{}", other.display());
    }
    assert_eq!(on_load_count(&first), 1);
    assert_eq!(
        loader().load(&soft).unwrap().path(),
        fs::canonicalize(&path).unwrap()
    );
}

#[test]
#[cfg(target_os = "linux")]
fn in_place_mode_loads_the_descriptor_it_checked_and_refuses_a_file_rewritten_in_place() {
    let dir = scratch("in-place");
    let in_place = loader().mode(LoadMode::InPlace);
    let path = dir.join(xplug_loader::tools::library_file_name("in-place"));
    fs::write(&path, variant(Fixture::GreeterEn, "0.3.0-in-place")).unwrap();
    let en = in_place.load(&path).unwrap();
    assert!(
        crate::support::maps().contains(&fs::canonicalize(&path).unwrap().display().to_string()),
        "the file itself is mapped"
    );
    assert!(in_place.load(&path).unwrap().same_library(&en));

    rewrite_version_in_place(&path, b'9');
    let e = in_place.load(&path).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Replaced { .. }), "{e:?}");
    assert_eq!(e.plugin().unwrap().version.to_string(), "0.3.0-in-place");

    // A new file renamed over the path is a new plugin.
    install(&variant(Fixture::GreeterEn, "0.3.0-renamed"), &path);
    let renamed = in_place.load(&path).unwrap();
    assert!(!renamed.same_library(&en));
    assert_eq!(en.add(1, 1).unwrap(), 2);

    // Refused before it was ever opened, then rewritten in place: read again, and it loads.
    let fixed = dir.join(xplug_loader::tools::library_file_name("fixed"));
    fs::copy(plugin(Fixture::Major), &fixed).unwrap();
    assert!(matches!(
        in_place.load(&fixed).unwrap_err().kind(),
        ErrorKind::VersionMismatch { .. }
    ));
    fs::write(&fixed, variant(Fixture::GreeterEn, "0.3.0-fixed")).unwrap();
    let loaded = in_place.load(&fixed).expect("the fixed file loads");
    assert_eq!(loaded.info().version.to_string(), "0.3.0-fixed");
}

/// Rewrites one byte of the header's version string in place, without truncating the file
/// (truncating drops the process's relocated pages of a mapped library: it would crash).
pub(crate) fn rewrite_version_in_place(path: &Path, byte: u8) {
    use std::io::{Seek, SeekFrom, Write};
    let bytes = fs::read(path).unwrap();
    let at = crate::bad_inputs::header_offset(&bytes) + offset_of!(PluginHeader, plugin_version);
    let mut file = fs::OpenOptions::new().write(true).open(path).unwrap();
    file.seek(SeekFrom::Start(at as u64 + 4)).unwrap();
    file.write_all(&[byte]).unwrap();
}

#[test]
#[cfg(unix)]
fn snapshots_in_a_private_directory_load_and_are_removed_once_opened() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("snapshot-dir");
    let private = dir.join("private");
    let path = dir.join(xplug_loader::tools::library_file_name("en"));
    fs::write(&path, variant(Fixture::GreeterEn, "0.3.0-private")).unwrap();
    let p = loader().snapshot_dir(&private).load(&path).unwrap();
    assert_eq!(p.greet("Al".into()).unwrap(), "Hello, Al!");
    let mode = fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    assert_eq!(fs::read_dir(&private).unwrap().count(), 0, "copies removed");

    // Below a directory every user may write, the private directory could be swapped for
    // another: refused before a copy is written.
    let open = dir.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let other = dir.join(xplug_loader::tools::library_file_name("other"));
    fs::write(&other, variant(Fixture::GreeterEn, "0.3.0-private-open")).unwrap();
    let e = loader()
        .snapshot_dir(open.join("private"))
        .load(&other)
        .unwrap_err();
    match e.kind() {
        ErrorKind::Snapshot { source, .. } => {
            assert!(
                source
                    .to_string()
                    .contains("could be replaced before it is opened"),
                "{source}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_snapshot_refused_before_its_code_runs_keeps_no_memfd() {
    use xplug_loader::semver::VersionReq;
    let dir = scratch("refused-memfd");
    let path = dir.join(xplug_loader::tools::library_file_name("refused"));
    let bytes = variant(Fixture::GreeterEn, "0.3.0-refused-memfd");
    fs::write(&path, &bytes).unwrap();
    let strict = loader().version_requirement(VersionReq::parse("=99.0.0").unwrap());
    for _ in 0..3 {
        let e = strict.load(&path).unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::VersionMismatch { .. }),
            "{e:?}"
        );
    }
    assert_eq!(crate::support::snapshot_descriptors(&bytes), 0);
    // Loaded, it has one, however often it is loaded.
    let loaded = loader().load(&path).unwrap();
    assert!(loader().load(&path).unwrap().same_library(&loaded));
    assert_eq!(crate::support::snapshot_descriptors(&bytes), 1);
    assert!(
        crate::support::is_mapped(&path),
        "a loaded snapshot is mapped"
    );
}

#[test]
#[cfg(target_os = "linux")]
fn a_snapshot_copied_to_a_directory_and_a_sealed_one_of_the_same_bytes_are_one_plugin() {
    let dir = scratch("copy-and-sealed");
    let path = dir.join(xplug_loader::tools::library_file_name("counting"));
    let bytes = variant(Fixture::Counting, "0.1.0-copy-and-sealed");
    fs::write(&path, &bytes).unwrap();
    let copied = loader()
        .snapshot_dir(dir.join("private"))
        .load(&path)
        .unwrap();
    let sealed = loader().load(&path).unwrap();
    assert!(sealed.same_library(&copied));
    assert_eq!(on_load_count(&copied), 1);
    assert_eq!(
        crate::support::snapshot_descriptors(&bytes),
        0,
        "never sealed"
    );
}

#[test]
#[cfg(unix)]
fn in_place_with_a_trust_policy_loads_only_files_no_one_else_can_change() {
    use std::os::unix::fs::PermissionsExt;
    use xplug_loader::trust::{Sha256, TrustPolicy};
    let dir = scratch("in-place-trust-protected");
    let bytes = variant(Fixture::GreeterEn, "0.3.0-in-place-protected");
    let path = dir.join(xplug_loader::tools::library_file_name("protected"));
    fs::write(&path, &bytes).unwrap();
    let pinned = loader()
        .mode(LoadMode::InPlace)
        .trust_policy(TrustPolicy::new().require_sha256(Sha256::of(&bytes)));
    // Its group may write the directory: a file renamed over the path, or the file rewritten,
    // between the check and the `dlopen` would run unchecked.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o775)).unwrap();
    match pinned.load(&path).unwrap_err().kind() {
        ErrorKind::InPlaceUnprotected { mode, .. } => assert_eq!(*mode, 0o775),
        other => panic!("{other:?}"),
    }
    // A snapshot of the same file loads: what runs is the bytes checked.
    let snapshot = loader().trust_policy(TrustPolicy::new().require_sha256(Sha256::of(&bytes)));
    assert!(snapshot.load(&path).is_ok());
    // Writable by this user alone, it loads in place.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(pinned.load(&path).is_ok());
}

#[test]
#[cfg(target_os = "linux")]
fn in_place_with_a_trust_policy_sees_a_rewrite_that_keeps_size_and_modification_time() {
    use xplug_loader::trust::Sha256;
    let dir = scratch("in-place-same-time");
    let path = dir.join(xplug_loader::tools::library_file_name("same-time"));
    fs::write(&path, variant(Fixture::GreeterEn, "0.3.0-same-time")).unwrap();
    let trusting = |path: &Path| {
        let digest = Sha256::of(&fs::read(path).unwrap());
        loader()
            .mode(LoadMode::InPlace)
            .trust_policy(TrustPolicy::new().require_sha256(digest))
    };
    let first = trusting(&path).load(&path).unwrap();
    let modified = fs::metadata(&path).unwrap().modified().unwrap();
    rewrite_version_in_place(&path, b'8');
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), modified);
    let e = trusting(&path).load(&path).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Replaced { .. }), "{e:?}");
    assert_eq!(first.add(2, 2).unwrap(), 4);
}
