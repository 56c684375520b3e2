//! Bad input of every kind: each is refused with its own error variant and facts, and the
//! host keeps running.

use std::fs;
use std::path::{Path, PathBuf};

use xplug_loader::{LoadError, Stage};

use crate::support::{assert_good_plugin_works, loader, plugin, scratch};

/// Deterministic bytes that are no known object format.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// A real shared library that is not a plugin.
fn system_library() -> PathBuf {
    let candidates = [
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/aarch64-linux-gnu/libz.so.1",
        "/usr/lib/aarch64-linux-gnu/libz.so.1",
        "/usr/lib/libz.so.1",
        "/lib64/libz.so.1",
    ];
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("no libz.so.1 on this machine (install zlib1g); looked in {candidates:?}")
        })
}

/// A copy of a real plugin whose ELF header names another machine (aarch64, or x86_64 on an
/// aarch64 host).
fn foreign_architecture_copy(dir: &Path) -> (PathBuf, &'static str) {
    let mut bytes = fs::read(plugin("greeter-en")).expect("read plugin");
    assert_eq!(&bytes[..4], b"\x7fELF", "this test crafts ELF files");
    let (machine, name): (u16, &str) = if cfg!(target_arch = "aarch64") {
        (62, "x86_64")
    } else {
        (183, "aarch64")
    };
    // e_machine: offset 18, two bytes, in the file's (little) endianness.
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    let path = dir.join("libforeign.so");
    fs::write(&path, bytes).expect("write");
    (path, name)
}

fn expect_err(path: &Path) -> LoadError {
    match loader().load(path) {
        Ok(p) => panic!("{} loaded, but must be refused: {:?}", path.display(), p),
        Err(e) => {
            // Every rejection renders a short report that names the file and says who acts.
            let report = e.report().to_string();
            assert!(report.starts_with("error: plugin rejected: "), "{report}");
            assert!(report.contains("help: "), "{report}");
            assert!(report.lines().count() <= 12, "{report}");
            e
        }
    }
}

#[test]
#[cfg(all(unix, not(target_vendor = "apple")))]
fn every_bad_input_is_refused_with_its_variant_and_the_host_keeps_working() {
    let dir = scratch("rejections");

    // Stage 1: a path that does not exist.
    let missing = dir.join("libmissing.so");
    match expect_err(&missing) {
        LoadError::NotFound { path } => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }

    // Stage 1: a directory (named like a library).
    let subdir = dir.join("libdir.so");
    fs::create_dir(&subdir).unwrap();
    match expect_err(&subdir) {
        LoadError::NotAFile { path, kind } => {
            assert_eq!(kind, "directory");
            assert_eq!(path, fs::canonicalize(&subdir).unwrap());
        }
        other => panic!("{other:?}"),
    }

    // Stage 2: an empty file.
    let empty = dir.join("libempty.so");
    fs::write(&empty, b"").unwrap();
    match expect_err(&empty) {
        LoadError::NotALibrary { reason, .. } => assert_eq!(reason, "the file is empty"),
        other => panic!("{other:?}"),
    }

    // Stage 2: random bytes.
    let random = dir.join("librandom.so");
    fs::write(&random, random_bytes(4096)).unwrap();
    match expect_err(&random) {
        LoadError::NotALibrary { reason, .. } => assert_eq!(reason, "unknown file format"),
        other => panic!("{other:?}"),
    }

    // Stage 2: a text file named `.so`.
    let text = dir.join("libtext.so");
    fs::write(&text, "this is not a library\nbut a note\n").unwrap();
    match expect_err(&text) {
        LoadError::NotALibrary { reason, .. } => assert_eq!(reason, "it is a text file"),
        other => panic!("{other:?}"),
    }

    // Stage 2: a truncated plugin, its first 4 KiB.
    let truncated = dir.join("libtruncated.so");
    let full = fs::read(plugin("greeter-en")).unwrap();
    fs::write(&truncated, &full[..4096]).unwrap();
    match expect_err(&truncated) {
        LoadError::Malformed { format, reason, .. } => {
            assert_eq!(format, "ELF");
            assert!(!reason.is_empty());
        }
        other => panic!("{other:?}"),
    }

    // Stage 2: an ELF shared object for another architecture.
    let (foreign, foreign_arch) = foreign_architecture_copy(&dir);
    match expect_err(&foreign) {
        LoadError::WrongArchitecture {
            expected, found, ..
        } => {
            assert_eq!(found, foreign_arch);
            assert_eq!(expected, std::env::consts::ARCH);
        }
        other => panic!("{other:?}"),
    }

    // Stage 3: a real shared library that is not a plugin.
    let libz = system_library();
    match expect_err(&libz) {
        LoadError::NotAPlugin { path } => assert_eq!(path, fs::canonicalize(&libz).unwrap()),
        other => panic!("{other:?}"),
    }

    // Stage 4: another interface.
    let wrong = plugin("fixture-wrong-interface");
    match expect_err(&wrong) {
        LoadError::InterfaceMismatch {
            expected, plugin, ..
        } => {
            assert_eq!(expected, "greeter");
            assert_eq!(plugin.interface_name, "farewell");
            assert_eq!(plugin.name, "fixture-wrong-interface");
        }
        other => panic!("{other:?}"),
    }

    // Stage 4: an incompatible major version.
    let major = plugin("fixture-major");
    match expect_err(&major) {
        LoadError::VersionMismatch {
            required,
            host_version,
            plugin,
            ..
        } => {
            assert_eq!(required.to_string(), "^1");
            assert_eq!(
                host_version.map(|v| v.to_string()).as_deref(),
                Some("1.1.0")
            );
            assert_eq!(plugin.interface_version.to_string(), "2.0.0");
        }
        other => panic!("{other:?}"),
    }

    // Nothing refused before stage 5 was ever opened: no plugin code ran.
    #[cfg(target_os = "linux")]
    for path in [&wrong, &major, &truncated, &foreign] {
        assert!(
            !crate::support::is_mapped(path),
            "{} was mapped into the host",
            path.display()
        );
    }

    // Stage 5: a changed function signature under the same version.
    match expect_err(&plugin("fixture-changed-type")) {
        LoadError::LayoutMismatch {
            plugin,
            host_version,
            difference,
            ..
        } => {
            assert_eq!(plugin.interface_version.to_string(), "1.1.0+changed-type");
            assert_eq!(host_version.to_string(), "1.1.0");
            assert_eq!(difference.at, "GreeterModule.add");
            assert_eq!(difference.expected, "extern \"C\" fn(u32, u32) -> u32");
            assert_eq!(difference.found, "extern \"C\" fn(u64, u64) -> u64");
        }
        other => panic!("{other:?}"),
    }

    // Stage 5: a changed type inside a parameter's type, under the same version.
    match expect_err(&plugin("fixture-changed-nested")) {
        LoadError::LayoutMismatch { difference, .. } => {
            assert_eq!(difference.at, "GreeterModule.map(Callback).field_0");
            assert_eq!(difference.expected, "extern \"C\" fn(i64) -> i64");
            assert_eq!(difference.found, "extern \"C\" fn(i32) -> i32");
        }
        other => panic!("{other:?}"),
    }

    // Stage 5: a removed function under the same version.
    match expect_err(&plugin("fixture-removed-fn")) {
        LoadError::LayoutMismatch { difference, .. } => {
            let text = format!("{difference}");
            assert!(text.contains("words"), "{difference:?}");
        }
        other => panic!("{other:?}"),
    }

    // Stage 6: a panicking and a failing on_load hook.
    match expect_err(&plugin("fixture-init-panic")) {
        LoadError::InitPanicked {
            message, location, ..
        } => {
            assert_eq!(message, "the configuration file is missing");
            assert!(location.contains("lib.rs"), "{location}");
        }
        other => panic!("{other:?}"),
    }
    match expect_err(&plugin("fixture-init-error")) {
        LoadError::InitFailed { message, .. } => assert_eq!(message, "no licence key"),
        other => panic!("{other:?}"),
    }

    // The same process still loads and calls a good plugin.
    assert_good_plugin_works();
}

#[test]
fn errors_name_their_stage_and_keep_their_source() {
    use std::error::Error as _;
    let dir = scratch("stages");
    let e = loader().load(dir.join("nope.so")).unwrap_err();
    assert_eq!(e.stage(), Stage::File);
    assert!(e.to_string().ends_with("nope.so: no such file"), "{e}");

    let major = loader().load(plugin("fixture-major")).unwrap_err();
    assert_eq!(major.stage(), Stage::Compatibility);
    assert_eq!(
        major.plugin().map(|p| p.name.as_str()),
        Some("fixture-major")
    );
    assert_eq!(major.to_string().lines().count(), 1);

    // An unreadable directory passed to load_dir keeps its io::Error as source.
    let e = loader().load_dir(dir.join("missing-dir")).unwrap_err();
    assert!(matches!(e, LoadError::NotFound { .. }), "{e:?}");
    let file = dir.join("file");
    fs::write(&file, b"x").unwrap();
    let e = loader().load_dir(&file).unwrap_err();
    match &e {
        LoadError::Unreadable { .. } => assert!(e.source().is_some()),
        other => panic!("{other:?}"),
    }
}
