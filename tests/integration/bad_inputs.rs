//! One table of bad inputs, each with what its error must say: files of every kind a host must
//! refuse, crafted from real plugins where a real plugin is needed. The rejection tests check
//! each error's facts, the diagnostics tests its report and JSON.

use std::fs;
use std::mem::offset_of;
use std::path::{Path, PathBuf};

use greeter_interface::GreeterRef;
use xplug::PluginHeader;
use xplug_loader::trust::Sha256;
use xplug_loader::trust::TrustPolicy;
use xplug_loader::{ErrorKind, LoadError, Loader};
use xtask::Fixture;

use crate::support::{loader, plugin, scratch};
use crate::trust::{sign, Signer};

/// A real shared library that is not a plugin.
pub(crate) const LIBZ: &str = "/lib/x86_64-linux-gnu/libz.so.1";

/// A file to refuse, named after what is wrong with it, the loader that refuses it, and what
/// its error must say.
pub(crate) struct BadInput {
    /// What is wrong, e.g. `wrong_architecture`; the golden files' name.
    pub(crate) name: &'static str,
    pub(crate) path: PathBuf,
    /// The demo host's loader, configured as this input needs (a trust policy, say).
    pub(crate) loader: Loader<GreeterRef>,
    /// Checks the error's kind and facts (panics otherwise); called with the input's path.
    pub(crate) expect: Expect,
}

/// A check of a refusal: the error, and the path that was loaded.
pub(crate) type Expect = Box<dyn Fn(&LoadError, &Path)>;

/// Fails a check on an error of another kind.
fn unexpected(kind: &ErrorKind) -> ! {
    panic!("unexpected {kind:?}")
}

/// The real path of `path`, symlinks resolved.
fn real(path: &Path) -> PathBuf {
    fs::canonicalize(path).unwrap()
}

/// Every bad input, written into the scratch directory `dir_name`. Linux x86_64: the crafted
/// files patch ELF fields, and a system `libz.so.1` is needed (`zlib1g`).
pub(crate) fn bad_inputs(dir_name: &str) -> Vec<BadInput> {
    assert!(
        Path::new(LIBZ).is_file(),
        "{LIBZ} is needed (install zlib1g)"
    );
    let dir = scratch(dir_name);
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.join(xplug_loader::tools::library_file_name(name));
        fs::write(&path, bytes).unwrap();
        path
    };
    let patched = |name: &str, patch: &dyn Fn(&mut Vec<u8>)| {
        let mut bytes = fs::read(plugin(Fixture::GreeterEn)).unwrap();
        patch(&mut bytes);
        file(name, &bytes)
    };
    let sub = dir.join(xplug_loader::tools::library_file_name("dir"));
    fs::create_dir(&sub).unwrap();
    let sparse = file("sparse", b"");
    fs::OpenOptions::new()
        .write(true)
        .open(&sparse)
        .and_then(|f| f.set_len(2 << 30))
        .unwrap();
    fn input(
        name: &'static str,
        path: PathBuf,
        expect: impl Fn(&LoadError, &Path) + 'static,
    ) -> BadInput {
        configured(name, path, loader(), expect)
    }
    fn configured(
        name: &'static str,
        path: PathBuf,
        loader: Loader<GreeterRef>,
        expect: impl Fn(&LoadError, &Path) + 'static,
    ) -> BadInput {
        BadInput {
            name,
            path,
            loader,
            expect: Box::new(expect),
        }
    }
    // Each a plugin of its own bytes (its version differs), never loaded by another test.
    let version = |name: &str, v: &'static str| {
        patched(name, &|b| {
            set_header_field(b, offset_of!(PluginHeader, plugin_version), 32, v)
        })
    };
    let writable = version("writable", "0.3.0-writable");
    set_mode(&writable, 0o666);
    let foreign = version("foreign", "0.3.0-foreign");
    std::os::unix::fs::chown(&foreign, Some(4242), None)
        .expect("the bad inputs give a file to another user: run the tests as root");
    let signer = Signer::new();
    let unsigned = version("unsigned", "0.3.0-unsigned");
    let tampered = patched("tampered", &|_| {});
    sign(&signer, &tampered);
    let mut bytes = fs::read(&tampered).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&tampered, bytes).unwrap();
    // A directory its group may write: a file there may change between check and `dlopen`.
    let group_dir = dir.join("group-writable");
    fs::create_dir(&group_dir).unwrap();
    set_mode(&group_dir, 0o775);
    let shared = group_dir.join(xplug_loader::tools::library_file_name("shared"));
    fs::write(
        &shared,
        crate::snapshots::variant(Fixture::GreeterEn, "0.3.0-group-writable"),
    )
    .unwrap();
    let public_dir = dir.join("public-snapshots");
    fs::create_dir(&public_dir).unwrap();
    set_mode(&public_dir, 0o755);
    vec![
        input("not_found", dir.join("libmissing.so"), |e, path| {
            match e.kind() {
                ErrorKind::NotFound { .. } => assert_eq!(e.path(), path),
                other => unexpected(other),
            }
        }),
        input("not_a_file", sub, |e, path| match e.kind() {
            ErrorKind::NotAFile { kind, .. } => {
                assert_eq!(*kind, "directory");
                assert_eq!(e.path(), path);
                assert_eq!(e.target(), None, "no symlink");
            }
            other => unexpected(other),
        }),
        input("too_large", sparse, |e, _| match e.kind() {
            ErrorKind::TooLarge { size, .. } => assert_eq!(*size, 2 << 30),
            other => unexpected(other),
        }),
        input("writable_by_others", writable, |e, path| match e.kind() {
            ErrorKind::WritableByOthers {
                kind,
                path: what,
                mode,
                ..
            } => {
                assert_eq!((*kind, *mode), ("file", 0o666));
                assert_eq!(what, &real(path));
            }
            other => unexpected(other),
        }),
        input("foreign_owner", foreign, |e, path| match e.kind() {
            ErrorKind::ForeignOwner {
                path: what, owner, ..
            } => {
                assert_eq!((what, *owner), (&real(path), 4242))
            }
            other => unexpected(other),
        }),
        configured(
            "not_allowed",
            version("not-allowed", "0.3.0-not-allowed"),
            loader().trust_policy(TrustPolicy::new().require_sha256(Sha256::of(b"another plugin"))),
            |e, path| match e.kind() {
                ErrorKind::NotAllowed { sha256, .. } => {
                    assert_eq!(
                        *sha256,
                        xplug_loader::trust::Sha256::of(&fs::read(path).unwrap())
                    )
                }
                other => unexpected(other),
            },
        ),
        configured(
            "signature_missing",
            unsigned,
            loader().trust_policy(TrustPolicy::new().trust_key(signer.public_key())),
            |e, path| match e.kind() {
                ErrorKind::SignatureMissing { signature, .. } => {
                    assert_eq!(signature, &xplug_loader::trust::signature_path(path))
                }
                other => unexpected(other),
            },
        ),
        configured(
            "bad_signature",
            tampered,
            loader().trust_policy(TrustPolicy::new().trust_key(signer.public_key())),
            |e, _| match e.kind() {
                ErrorKind::BadSignature { reason, .. } => {
                    assert_eq!(reason, "the signature does not match the file's bytes")
                }
                other => unexpected(other),
            },
        ),
        configured(
            "in_place_unprotected",
            shared.clone(),
            loader().mode(xplug_loader::LoadMode::InPlace).trust_policy(
                TrustPolicy::new().require_sha256(Sha256::of(&fs::read(&shared).unwrap())),
            ),
            |e, path| match e.kind() {
                ErrorKind::InPlaceUnprotected {
                    path: what, mode, ..
                } => {
                    assert_eq!(*mode, 0o775);
                    assert_eq!(what, &real(path).parent().unwrap());
                }
                other => unexpected(other),
            },
        ),
        input("not_a_library_empty", file("empty", b""), |e, _| {
            match e.kind() {
                ErrorKind::NotALibrary { reason, .. } => {
                    assert_eq!(reason, "the file is empty")
                }
                other => unexpected(other),
            }
        }),
        input(
            "not_a_library_random",
            file("random", &random_bytes(4096)),
            |e, _| match e.kind() {
                ErrorKind::NotALibrary { reason, .. } => {
                    assert_eq!(reason, "unknown file format")
                }
                other => unexpected(other),
            },
        ),
        input(
            "not_a_library_text",
            file("text", b"this is not a library\nbut a note\n"),
            |e, _| match e.kind() {
                ErrorKind::NotALibrary { reason, .. } => {
                    assert_eq!(reason, "it is a text file")
                }
                other => unexpected(other),
            },
        ),
        input(
            "not_a_library_archive",
            file(
                "archive",
                b"!<arch>\n/               0           0     0     0       4         `\n\0\0\0\0",
            ),
            |e, _| match e.kind() {
                ErrorKind::NotALibrary { reason, .. } => {
                    assert_eq!(reason, "it is a static library archive")
                }
                other => unexpected(other),
            },
        ),
        input(
            "wrong_format",
            file("windows", &pe_file()),
            |e, _| match e.kind() {
                ErrorKind::WrongFormat {
                    expected, found, ..
                } => {
                    assert_eq!((*expected, found.as_str()), ("ELF", "PE"))
                }
                other => unexpected(other),
            },
        ),
        input(
            "wrong_architecture",
            patched("arm", &|b| set_elf_machine(b, AARCH64)),
            |e, _| match e.kind() {
                ErrorKind::WrongArchitecture {
                    expected, found, ..
                } => {
                    assert_eq!(found, "aarch64");
                    assert_eq!(expected, std::env::consts::ARCH);
                }
                other => unexpected(other),
            },
        ),
        input(
            "not_a_shared_library",
            patched("exec", &|b| b[16..18].copy_from_slice(&2u16.to_le_bytes())),
            |e, _| match e.kind() {
                ErrorKind::NotASharedLibrary { kind, .. } => {
                    assert_eq!(kind, "an executable")
                }
                other => unexpected(other),
            },
        ),
        input(
            "malformed",
            patched("truncated", &|b| b.truncate(4096)),
            |e, _| match e.kind() {
                ErrorKind::Malformed { format, reason, .. } => {
                    assert_eq!(format, "ELF");
                    assert!(!reason.is_empty());
                }
                other => unexpected(other),
            },
        ),
        input("not_a_plugin", PathBuf::from(LIBZ), |e, path| {
            match e.kind() {
                // Named as given, a symlink, with the file it leads to.
                ErrorKind::NotAPlugin { .. } => {
                    assert_eq!(e.path(), path);
                    assert_eq!(e.target(), Some(real(path).as_path()));
                }
                other => unexpected(other),
            }
        }),
        input(
            "bad_header",
            patched("bad-header", &|b| {
                set_header_field(b, offset_of!(PluginHeader, interface_version), 32, "1.x")
            }),
            |e, _| match e.kind() {
                ErrorKind::BadHeader { reason, .. } => {
                    assert!(reason.starts_with("interface version `1.x`"), "{reason}")
                }
                other => unexpected(other),
            },
        ),
        input(
            "unsupported_header",
            patched("newer-header", &|b| {
                let at = header_offset(b) + offset_of!(PluginHeader, format_version);
                b[at..at + 4].copy_from_slice(&99u32.to_le_bytes());
            }),
            |e, _| match e.kind() {
                ErrorKind::UnsupportedHeader { found, .. } => {
                    assert_eq!(*found, 99)
                }
                other => unexpected(other),
            },
        ),
        input(
            "abi_before_1",
            // A header as the `xplug` releases before ABI 1 wrote it: format 1, no ABI.
            patched("before-abi-1", &|b| {
                let at = header_offset(b) + offset_of!(PluginHeader, format_version);
                b[at..at + 4].copy_from_slice(&1u32.to_le_bytes());
                let at = header_offset(b) + offset_of!(PluginHeader, abi_version);
                b[at..at + 2].copy_from_slice(&[0, 0]);
            }),
            |e, _| match e.kind() {
                ErrorKind::AbiMismatch {
                    found, supported, ..
                } => {
                    assert_eq!((*found, *supported), (0, 1));
                    assert!(e.report().to_string().contains("rebuild the plugin"));
                }
                other => unexpected(other),
            },
        ),
        input(
            "abi_mismatch",
            patched("newer-abi", &|b| {
                let at = header_offset(b) + offset_of!(PluginHeader, abi_version);
                b[at..at + 2].copy_from_slice(&2u16.to_le_bytes());
            }),
            |e, _| match e.kind() {
                ErrorKind::AbiMismatch {
                    found, supported, ..
                } => {
                    assert_eq!((*found, *supported), (2, 1));
                    assert!(e.report().to_string().contains("upgrade `xplug-loader`"));
                }
                other => unexpected(other),
            },
        ),
        input(
            "interface_mismatch",
            plugin(Fixture::WrongInterface),
            |e, _| match e.kind() {
                ErrorKind::InterfaceMismatch {
                    expected, found, ..
                } => {
                    assert_eq!(expected, "greeter");
                    assert_eq!(found, "farewell");
                    assert_eq!(e.plugin().unwrap().name, "fixture-wrong-interface");
                }
                other => unexpected(other),
            },
        ),
        input("version_mismatch", plugin(Fixture::Major), |e, _| {
            match e.kind() {
                ErrorKind::VersionMismatch {
                    required,
                    host_version,
                    found,
                    ..
                } => {
                    assert_eq!(required.to_string(), "^1");
                    assert_eq!(
                        host_version.as_ref().map(|v| v.to_string()).as_deref(),
                        Some("1.1.0")
                    );
                    assert_eq!(found.to_string(), "2.0.0");
                    assert_eq!(e.plugin().unwrap().interface_version.to_string(), "2.0.0");
                }
                other => unexpected(other),
            }
        }),
        input(
            "target_mismatch",
            patched("musl", &|b| {
                set_header_field(
                    b,
                    offset_of!(PluginHeader, target),
                    64,
                    "x86_64-unknown-linux-musl",
                )
            }),
            |e, _| match e.kind() {
                ErrorKind::TargetMismatch { found, .. } => {
                    assert_eq!(found, "x86_64-unknown-linux-musl")
                }
                other => unexpected(other),
            },
        ),
        input(
            "panic_abort",
            patched("abort", &|b| {
                let at = header_offset(b) + offset_of!(PluginHeader, panic_strategy);
                b[at] = xplug::header::PANIC_ABORT;
            }),
            |e, _| match e.kind() {
                ErrorKind::PanicAbort { .. } => {}
                other => unexpected(other),
            },
        ),
        input(
            "open",
            patched("unloadable", &|b| {
                // Rename its `libgcc_s.so.1` dependency in place to `libgcc_q.so.1`, which does
                // not exist: the dynamic loader refuses the library.
                let name = b"libgcc_s.so.1\0";
                let at = b
                    .windows(name.len())
                    .position(|w| w == name)
                    .expect("a libgcc_s dependency");
                b[at + 7] = b'q';
            }),
            |e, _| match e.kind() {
                ErrorKind::Open { source, .. } => {
                    assert!(source.to_string().contains("libgcc_q"), "{source}")
                }
                other => unexpected(other),
            },
        ),
        input(
            "root_module",
            plugin(Fixture::NoRootModule),
            |e, _| match e.kind() {
                ErrorKind::RootModule { message, .. } => {
                    assert!(message.contains("no root module"), "{message}")
                }
                other => unexpected(other),
            },
        ),
        configured(
            "snapshot",
            version("public-snapshot", "0.3.0-public"),
            loader().snapshot_dir(&public_dir),
            |e, _| match e.kind() {
                ErrorKind::Snapshot { source, .. } => {
                    assert!(
                        source.to_string().contains("not a private directory"),
                        "{source}"
                    )
                }
                other => unexpected(other),
            },
        ),
        input(
            "header_changed",
            file("rewrite", &{
                let mut b = fs::read(plugin(Fixture::Constructor)).unwrap();
                set_header_field(
                    &mut b,
                    offset_of!(PluginHeader, plugin_version),
                    32,
                    "0.1.0-rewrite",
                );
                b
            }),
            |e, _| match e.kind() {
                ErrorKind::HeaderChanged { .. } => {
                    assert_eq!(e.plugin().unwrap().version.to_string(), "0.1.0-rewrite")
                }
                other => unexpected(other),
            },
        ),
        input(
            "layout_changed_type",
            plugin(Fixture::ChangedType),
            |e, _| match e.kind() {
                ErrorKind::LayoutMismatch {
                    found,
                    host_version,
                    difference,
                    ..
                } => {
                    assert_eq!(found.to_string(), "1.1.0+changed-type");
                    assert_eq!(host_version.to_string(), "1.1.0");
                    assert_eq!(difference.at, "GreeterModule.add");
                    assert_eq!(difference.expected, "extern \"C\" fn(u32, u32) -> u32");
                    assert_eq!(difference.found, "extern \"C\" fn(u64, u64) -> u64");
                }
                other => unexpected(other),
            },
        ),
        input(
            "layout_changed_nested",
            plugin(Fixture::ChangedNested),
            |e, _| match e.kind() {
                ErrorKind::LayoutMismatch { difference, .. } => {
                    assert_eq!(difference.at, "GreeterModule.map(Callback).field_0");
                    assert_eq!(difference.expected, "extern \"C\" fn(i64) -> i64");
                    assert_eq!(difference.found, "extern \"C\" fn(i32) -> i32");
                }
                other => unexpected(other),
            },
        ),
        input(
            "layout_removed_fn",
            plugin(Fixture::RemovedFn),
            |e, _| match e.kind() {
                ErrorKind::LayoutMismatch { difference, .. } => {
                    let text = format!("{difference}");
                    assert!(text.contains("words"), "{difference:?}");
                }
                other => unexpected(other),
            },
        ),
        input(
            "layout_changed_object",
            plugin(Fixture::ChangedObject),
            |e, _| match e.kind() {
                ErrorKind::LayoutMismatch { difference, .. } => {
                    assert_eq!(difference.at, "Counter.skip");
                    assert!(difference.expected.contains("u64"), "{difference:?}");
                    assert!(difference.found.contains("u32"), "{difference:?}");
                }
                other => unexpected(other),
            },
        ),
        input(
            "layout_changed_host",
            plugin(Fixture::ChangedHost),
            |e, _| match e.kind() {
                ErrorKind::LayoutMismatch { difference, .. } => {
                    assert_eq!(difference.at, "GreeterHost.setting");
                }
                other => unexpected(other),
            },
        ),
        input("init_failed", plugin(Fixture::InitError), |e, _| {
            match e.kind() {
                ErrorKind::InitFailed { message, .. } => {
                    assert_eq!(message, "no licence key")
                }
                other => unexpected(other),
            }
        }),
        input(
            "init_panicked",
            plugin(Fixture::InitPanic),
            |e, _| match e.kind() {
                ErrorKind::InitPanicked {
                    message, location, ..
                } => {
                    assert_eq!(message, "the configuration file is missing");
                    assert!(location.contains("lib.rs"), "{location}");
                }
                other => unexpected(other),
            },
        ),
    ]
}

/// Sets a file's permission bits.
#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `e_machine` of aarch64 ELF files.
pub(crate) const AARCH64: u16 = 183;

/// Sets `e_machine` (offset 18, two bytes, little-endian here) of an ELF file.
pub(crate) fn set_elf_machine(bytes: &mut [u8], machine: u16) {
    assert_eq!(&bytes[..4], b"\x7fELF", "an ELF file");
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
}

/// The offset of the plugin header in a plugin file.
pub(crate) fn header_offset(bytes: &[u8]) -> usize {
    let hits: Vec<usize> = bytes
        .windows(xplug::header::MAGIC.len())
        .enumerate()
        .filter(|(_, w)| *w == xplug::header::MAGIC)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "exactly one header in the file");
    hits[0]
}

/// Writes `text` into the header's text field at `field` (its offset in the header), `len`
/// bytes long, NUL-padded.
pub(crate) fn set_header_field(bytes: &mut [u8], field: usize, len: usize, text: &str) {
    let at = header_offset(bytes) + field;
    let field = &mut bytes[at..at + len];
    field.fill(0);
    field[..text.len()].copy_from_slice(text.as_bytes());
}

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

/// A minimal PE32+ header: enough for the file to be recognised as a Windows DLL.
fn pe_file() -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    b[0x40..0x44].copy_from_slice(b"PE\0\0");
    b[0x44..0x46].copy_from_slice(&0x8664u16.to_le_bytes()); // x86_64
    b[0x54..0x56].copy_from_slice(&240u16.to_le_bytes()); // optional header size
    b[0x56..0x58].copy_from_slice(&0x2022u16.to_le_bytes()); // executable, DLL
    b[0x58..0x5a].copy_from_slice(&0x20bu16.to_le_bytes()); // PE32+
    b
}
