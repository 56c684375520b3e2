//! Bad input of every kind (the table in `bad_inputs.rs`): each is refused with its own error
//! kind and facts, and the host keeps running.

use std::fs;
use std::path::Path;

use xplug_loader::{ErrorKind, LoadError, Stage};
use xtask::Fixture;

use crate::bad_inputs::{bad_inputs, LIBZ};
use crate::support::{assert_good_plugin_works, loader, plugin, scratch};

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

/// Checks the facts of the error for the bad input `name`.
fn check_facts(name: &str, path: &Path, e: &LoadError) {
    let real = || fs::canonicalize(path).unwrap();
    match (name, e.kind()) {
        ("not_found", ErrorKind::NotFound { .. }) => assert_eq!(e.path(), path),
        ("not_a_file", ErrorKind::NotAFile { kind, .. }) => {
            assert_eq!(*kind, "directory");
            assert_eq!(e.path(), real());
        }
        ("not_a_library_empty", ErrorKind::NotALibrary { reason, .. }) => {
            assert_eq!(reason, "the file is empty")
        }
        ("not_a_library_random", ErrorKind::NotALibrary { reason, .. }) => {
            assert_eq!(reason, "unknown file format")
        }
        ("not_a_library_text", ErrorKind::NotALibrary { reason, .. }) => {
            assert_eq!(reason, "it is a text file")
        }
        ("not_a_library_archive", ErrorKind::NotALibrary { reason, .. }) => {
            assert_eq!(reason, "it is a static library archive")
        }
        (
            "wrong_format",
            ErrorKind::WrongFormat {
                expected, found, ..
            },
        ) => {
            assert_eq!((*expected, found.as_str()), ("ELF", "PE"))
        }
        (
            "wrong_architecture",
            ErrorKind::WrongArchitecture {
                expected, found, ..
            },
        ) => {
            assert_eq!(found, "aarch64");
            assert_eq!(expected, std::env::consts::ARCH);
        }
        ("not_a_shared_library", ErrorKind::NotASharedLibrary { kind, .. }) => {
            assert_eq!(kind, "an executable")
        }
        ("malformed", ErrorKind::Malformed { format, reason, .. }) => {
            assert_eq!(format, "ELF");
            assert!(!reason.is_empty());
        }
        ("not_a_plugin", ErrorKind::NotAPlugin { .. }) => assert_eq!(e.path(), real()),
        ("bad_header", ErrorKind::BadHeader { reason, .. }) => {
            assert!(reason.starts_with("interface version `1.x`"), "{reason}")
        }
        ("unsupported_header", ErrorKind::UnsupportedHeader { found, .. }) => {
            assert_eq!(*found, 99)
        }
        (
            "interface_mismatch",
            ErrorKind::InterfaceMismatch {
                expected, found, ..
            },
        ) => {
            assert_eq!(expected, "greeter");
            assert_eq!(found, "farewell");
            assert_eq!(e.plugin().unwrap().name, "fixture-wrong-interface");
        }
        (
            "version_mismatch",
            ErrorKind::VersionMismatch {
                required,
                host_version,
                found,
                ..
            },
        ) => {
            assert_eq!(required.to_string(), "^1");
            assert_eq!(
                host_version.as_ref().map(|v| v.to_string()).as_deref(),
                Some("1.1.0")
            );
            assert_eq!(found.to_string(), "2.0.0");
            assert_eq!(e.plugin().unwrap().interface_version.to_string(), "2.0.0");
        }
        ("target_mismatch", ErrorKind::TargetMismatch { found, .. }) => {
            assert_eq!(found, "x86_64-unknown-linux-musl")
        }
        ("panic_abort", ErrorKind::PanicAbort { .. }) => {}
        ("open", ErrorKind::Open { source, .. }) => {
            assert!(source.to_string().contains("libgcc_q"), "{source}")
        }
        ("root_module", ErrorKind::RootModule { message, .. }) => {
            assert!(message.contains("no root module"), "{message}")
        }
        (
            "layout_changed_type",
            ErrorKind::LayoutMismatch {
                found,
                host_version,
                difference,
                ..
            },
        ) => {
            assert_eq!(found.to_string(), "1.1.0+changed-type");
            assert_eq!(host_version.to_string(), "1.1.0");
            assert_eq!(difference.at, "GreeterModule.add");
            assert_eq!(difference.expected, "extern \"C\" fn(u32, u32) -> u32");
            assert_eq!(difference.found, "extern \"C\" fn(u64, u64) -> u64");
        }
        ("layout_changed_nested", ErrorKind::LayoutMismatch { difference, .. }) => {
            assert_eq!(difference.at, "GreeterModule.map(Callback).field_0");
            assert_eq!(difference.expected, "extern \"C\" fn(i64) -> i64");
            assert_eq!(difference.found, "extern \"C\" fn(i32) -> i32");
        }
        ("layout_removed_fn", ErrorKind::LayoutMismatch { difference, .. }) => {
            let text = format!("{difference}");
            assert!(text.contains("words"), "{difference:?}");
        }
        (
            "init_panicked",
            ErrorKind::InitPanicked {
                message, location, ..
            },
        ) => {
            assert_eq!(message, "the configuration file is missing");
            assert!(location.contains("lib.rs"), "{location}");
        }
        ("init_failed", ErrorKind::InitFailed { message, .. }) => {
            assert_eq!(message, "no licence key")
        }
        (name, other) => panic!("{name}: unexpected {other:?}"),
    }
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn every_bad_input_is_refused_with_its_kind_and_the_host_keeps_working() {
    let mut stages = Vec::new();
    for input in bad_inputs("rejections") {
        let e = expect_err(&input.path);
        check_facts(input.name, &input.path, &e);
        // Nothing refused before stage 5 was ever opened: no plugin code ran.
        if e.stage() < Stage::Layout && input.path != Path::new(LIBZ) && input.path.is_file() {
            assert!(
                !crate::support::is_mapped(&input.path),
                "{}: {} was mapped into the host",
                input.name,
                input.path.display()
            );
        }
        stages.push(e.stage());
    }
    // Every stage refused something.
    stages.dedup();
    assert_eq!(
        stages,
        [
            Stage::File,
            Stage::Object,
            Stage::Header,
            Stage::Compatibility,
            Stage::Layout,
            Stage::Init
        ]
    );
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

    let major = loader().load(plugin(Fixture::Major)).unwrap_err();
    assert_eq!(major.stage(), Stage::Compatibility);
    assert_eq!(
        major.plugin().map(|p| p.name.as_str()),
        Some("fixture-major")
    );
    assert_eq!(major.to_string().lines().count(), 1);

    // An unreadable directory passed to load_dir keeps its io::Error as source.
    let e = loader().load_dir(dir.join("missing-dir")).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotFound { .. }), "{e:?}");
    let file = dir.join("file");
    fs::write(&file, b"x").unwrap();
    let e = loader().load_dir(&file).unwrap_err();
    match e.kind() {
        ErrorKind::Unreadable { .. } => assert!(e.source().is_some()),
        other => panic!("{other:?}"),
    }
}
