//! Bad input of every kind (the table in `bad_inputs.rs`): each is refused with its own error
//! kind and facts, and the host keeps running.

use std::fs;
use std::path::Path;

use greeter_interface::GreeterRef;
use xplug_loader::{ErrorKind, LoadError, Loader, Stage};
use xtask::Fixture;

use crate::bad_inputs::{bad_inputs, LIBZ};
use crate::support::{assert_good_plugin_works, loader, plugin, scratch};

fn expect_err(loader: &Loader<GreeterRef>, path: &Path) -> LoadError {
    match loader.load(path) {
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
        ("too_large", ErrorKind::TooLarge { size, .. }) => assert_eq!(*size, 2 << 30),
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
        ("layout_changed_object", ErrorKind::LayoutMismatch { difference, .. }) => {
            assert_eq!(difference.at, "Counter.skip");
            assert!(difference.expected.contains("u64"), "{difference:?}");
            assert!(difference.found.contains("u32"), "{difference:?}");
        }
        ("layout_changed_host", ErrorKind::LayoutMismatch { difference, .. }) => {
            assert_eq!(difference.at, "GreeterHost.setting");
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
        (
            "writable_by_others",
            ErrorKind::WritableByOthers {
                kind,
                path: what,
                mode,
                ..
            },
        ) => {
            assert_eq!((*kind, *mode), ("file", 0o666));
            assert_eq!(what, &real());
        }
        ("not_allowed", ErrorKind::NotAllowed { sha256, .. }) => {
            assert_eq!(*sha256, xplug_loader::Sha256::of(&fs::read(path).unwrap()))
        }
        ("signature_missing", ErrorKind::SignatureMissing { signature, .. }) => {
            assert_eq!(signature, &xplug_loader::signature_path(path))
        }
        ("bad_signature", ErrorKind::BadSignature { reason, .. }) => {
            assert_eq!(reason, "the signature does not match the file's bytes")
        }
        ("snapshot", ErrorKind::Snapshot { source, .. }) => {
            assert!(
                source.to_string().contains("not a private directory"),
                "{source}"
            )
        }
        ("header_changed", ErrorKind::HeaderChanged { .. }) => {
            assert_eq!(e.plugin().unwrap().version.to_string(), "0.1.0-rewrite")
        }
        (name, other) => panic!("{name}: unexpected {other:?}"),
    }
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn every_bad_input_is_refused_with_its_kind_and_the_host_keeps_working() {
    let mut stages = Vec::new();
    for input in bad_inputs("rejections") {
        let e = expect_err(&input.loader, &input.path);
        check_facts(input.name, &input.path, &e);
        // Nothing refused before stage 5 was ever opened: no plugin code ran. (Checked for
        // the files made here: the fixtures' own bytes are loaded by other tests.)
        let crafted = !input.path.starts_with(&crate::support::plugins().dir);
        if e.stage() < Stage::Layout
            && crafted
            && input.path != Path::new(LIBZ)
            && input.path.is_file()
        {
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
            Stage::Trust,
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

/// A copy of a plugin at `path`, written as installers do (a new file renamed over the path).
fn install(bytes: &[u8], path: &Path) {
    let tmp = path.with_extension("new");
    fs::write(&tmp, bytes).unwrap();
    fs::rename(&tmp, path).unwrap();
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn a_library_the_dynamic_loader_refused_loads_once_the_file_is_fixed() {
    let dir = scratch("fixed-after-open");
    let path = dir.join(xplug_loader::library_file_name("fixed"));
    let broken = bad_inputs("fixed-after-open-inputs")
        .into_iter()
        .find(|i| i.name == "open")
        .unwrap();
    install(&fs::read(&broken.path).unwrap(), &path);
    let e = loader().load(&path).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Open { .. }), "{e:?}");
    // Nothing was mapped, so the fixed file is simply the next plugin at this path.
    install(&fs::read(plugin(Fixture::GreeterEn)).unwrap(), &path);
    let en = loader()
        .load(&path)
        .unwrap_or_else(|e| panic!("the fixed file must load:\n{}", e.report()));
    assert_eq!(en.add(2, 2).unwrap(), 4);
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn numbers_from_a_crafted_file_never_overflow() {
    use object::{Object, ObjectSection, ObjectSymbol};
    let dir = scratch("overflow");
    let good = fs::read(plugin(Fixture::GreeterEn)).unwrap();
    let (value_at, section_ends) = {
        let file = object::File::parse(&*good).unwrap();
        let dynsym = file.section_by_name(".dynsym").unwrap();
        let (dynsym_offset, _) = dynsym.file_range().unwrap();
        let symbol = file
            .dynamic_symbols()
            .find(|s| s.name() == Ok(xplug::header::HEADER_SYMBOL))
            .unwrap();
        // Elf64_Sym: st_name 4, st_info 1, st_other 1, st_shndx 2, st_value 8, st_size 8.
        let value_at = dynsym_offset as usize + symbol.index().0 * 24 + 8;
        (value_at, file.sections().count())
    };
    assert!(section_ends > 1);
    // The header symbol's address at the top of the address space: `address + size` wraps.
    let mut bytes = good.clone();
    bytes[value_at..value_at + 8].copy_from_slice(&(u64::MAX - 8).to_le_bytes());
    let wrapped = dir.join("libwrapped.so");
    fs::write(&wrapped, &bytes).unwrap();
    match loader().load(&wrapped) {
        Err(e) => assert!(matches!(e.kind(), ErrorKind::BadHeader { .. }), "{e:?}"),
        Ok(_) => panic!("a header at an impossible address loaded"),
    }
    assert_good_plugin_works();
}
#[test]
#[cfg(unix)]
fn a_huge_sparse_file_is_refused_before_it_is_read() {
    let dir = scratch("sparse");
    let path = dir.join(xplug_loader::library_file_name("sparse"));
    fs::write(&path, fs::read(plugin(Fixture::GreeterEn)).unwrap()).unwrap();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(2 << 30).unwrap();
    drop(file);
    let e = loader().load(&path).unwrap_err();
    match e.kind() {
        ErrorKind::TooLarge { size, limit, .. } => {
            assert_eq!(*size, 2 << 30);
            assert!(limit < size);
        }
        other => panic!("{other:?}"),
    }
    // A host may set the limit; a file within it is read (a real plugin, padded with zeros).
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(16 << 20).unwrap();
    drop(file);
    assert!(matches!(
        loader()
            .max_file_size(8 << 20)
            .load(&path)
            .unwrap_err()
            .kind(),
        ErrorKind::TooLarge { .. }
    ));
    let padded = loader()
        .max_file_size(32 << 20)
        .load(&path)
        .unwrap_or_else(|e| panic!("{}", e.report()));
    assert_eq!(padded.add(1, 2).unwrap(), 3);
}
