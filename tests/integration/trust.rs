//! The trust policy: SHA-256 pins and allow-lists, minisign signatures, and files others can
//! write; each checked on the bytes that load.

use std::fs;
use std::path::Path;

use xplug_loader::trust::{signature_path, AllowList, PublicKey, Sha256, TrustPolicy};
use xplug_loader::{ErrorKind, Stage};
use xtask::Fixture;

use crate::support::{in_ci, loader, notice, plugin, scratch};

/// A minisign key pair, as `minisign -G` makes one.
pub(crate) struct Signer(minisign::KeyPair);

impl Signer {
    pub(crate) fn new() -> Self {
        Signer(minisign::KeyPair::generate_unencrypted_keypair().expect("a key pair"))
    }

    /// The public key, read back from its `minisign.pub` text as a host would.
    pub(crate) fn public_key(&self) -> PublicKey {
        PublicKey::decode(&self.public_key_text()).expect("minisign.pub text")
    }

    /// The public key as a `minisign.pub` file holds it.
    pub(crate) fn public_key_text(&self) -> String {
        self.0.pk.to_box().expect("a key box").into_string()
    }
}

/// Writes `path.minisig`, as `minisign -Sm path` does.
pub(crate) fn sign(signer: &Signer, path: &Path) {
    let bytes = fs::read(path).unwrap();
    fs::write(signature_path(path), signature(signer, &bytes)).unwrap();
}

/// The text of a `.minisig` file for `bytes`, as `minisign -Sm` writes it.
pub(crate) fn signature(signer: &Signer, bytes: &[u8]) -> String {
    minisign::sign(
        Some(&signer.0.pk),
        &signer.0.sk,
        bytes,
        Some("a test plugin"),
        None,
    )
    .expect("sign")
    .into_string()
}

fn copy(fixture: Fixture, dir: &Path) -> std::path::PathBuf {
    let from = plugin(fixture);
    let to = dir.join(from.file_name().unwrap());
    fs::copy(&from, &to).unwrap();
    to
}

#[test]
fn pinned_and_allow_listed_digests_load_others_are_refused() {
    let dir = scratch("trust-pins");
    let en = copy(Fixture::GreeterEn, &dir);
    let fr = copy(Fixture::GreeterFr, &dir);
    let en_digest = Sha256::of(&fs::read(&en).unwrap());

    let pinned = loader().trust_policy(TrustPolicy::new().require_sha256(en_digest));
    assert_eq!(
        pinned.load(&en).unwrap().greet("Al".into()).unwrap(),
        "Hello, Al!"
    );
    let e = pinned.load(&fr).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::NotAllowed { .. }), "{e:?}");
    assert_eq!(e.stage(), Stage::Trust);
    assert!(e.plugin().is_none(), "refused before the header was read");

    // `sha256sum *.so > plugins.sha256`: only the listed file loads.
    let list = dir.join("plugins.sha256");
    fs::write(&list, format!("{en_digest}  {}\n", en.display())).unwrap();
    let listed =
        loader().trust_policy(TrustPolicy::new().allow_list(AllowList::read(&list).unwrap()));
    assert!(listed.load(&en).is_ok());
    assert!(matches!(
        listed.load(&fr).unwrap_err().kind(),
        ErrorKind::NotAllowed { .. }
    ));
}

#[test]
fn signed_plugins_load_tampered_unsigned_and_foreign_ones_are_refused() {
    let dir = scratch("trust-signatures");
    let signer = Signer::new();
    let other = Signer::new();
    let signed = loader().trust_policy(TrustPolicy::new().trust_key(signer.public_key()));

    let en = copy(Fixture::GreeterEn, &dir);
    sign(&signer, &en);
    assert_eq!(signed.load(&en).unwrap().add(1, 2).unwrap(), 3);

    // Signed by a key the host does not trust.
    let fr = copy(Fixture::GreeterFr, &dir);
    sign(&other, &fr);
    match signed.load(&fr).unwrap_err().kind() {
        ErrorKind::BadSignature { reason, .. } => {
            assert_eq!(reason, "signed by a key this host does not trust")
        }
        other => panic!("{other:?}"),
    }
    // Either trusted key will do.
    let both = loader().trust_policy(
        TrustPolicy::new()
            .trust_key(signer.public_key())
            .trust_key(other.public_key()),
    );
    assert!(both.load(&fr).is_ok());

    // One byte changed after signing.
    let counting = copy(Fixture::Counting, &dir);
    sign(&signer, &counting);
    let mut bytes = fs::read(&counting).unwrap();
    bytes[100] ^= 0x20;
    fs::write(&counting, bytes).unwrap();
    assert!(matches!(
        signed.load(&counting).unwrap_err().kind(),
        ErrorKind::BadSignature { .. }
    ));

    // No signature at all; and a signature file that is not one.
    let plain = copy(Fixture::NewerMinor, &dir);
    assert!(matches!(
        signed.load(&plain).unwrap_err().kind(),
        ErrorKind::SignatureMissing { .. }
    ));
    fs::write(signature_path(&plain), "untrusted comment: x\nnot base64\n").unwrap();
    match signed.load(&plain).unwrap_err().kind() {
        ErrorKind::BadSignature { reason, .. } => {
            assert!(reason.starts_with("not a minisign signature"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
#[cfg(unix)]
fn files_and_directories_others_can_write_are_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("trust-writable");
    let open_dir = dir.join("open");
    fs::create_dir(&open_dir).unwrap();
    let en = copy(Fixture::GreeterEn, &open_dir);
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).unwrap();
    match loader().load(&en).unwrap_err().kind() {
        ErrorKind::WritableByOthers {
            kind, path, mode, ..
        } => {
            assert_eq!((*kind, *mode), ("directory", 0o777));
            assert_eq!(path, &fs::canonicalize(&open_dir).unwrap());
        }
        other => panic!("{other:?}"),
    }
    // The sticky bit keeps others from replacing files they do not own, as in /tmp.
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o1777)).unwrap();
    assert!(loader().load(&en).is_ok());
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(loader().allow_writable_by_others(true).load(&en).is_ok());
}

#[test]
#[cfg(unix)]
fn a_symlink_in_a_directory_others_can_write_and_a_file_of_another_user_are_refused() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = scratch("trust-symlink");
    let (open_dir, safe_dir) = (dir.join("open"), dir.join("safe"));
    fs::create_dir(&open_dir).unwrap();
    fs::create_dir(&safe_dir).unwrap();
    // The plugin lies in a safe directory; a link to it lies in one every user can write.
    let en = copy(Fixture::GreeterEn, &safe_dir);
    let link = open_dir.join(en.file_name().unwrap());
    symlink(&en, &link).unwrap();
    fs::set_permissions(&open_dir, fs::Permissions::from_mode(0o777)).unwrap();
    match loader().load(&link).unwrap_err().kind() {
        ErrorKind::WritableByOthers { kind, path, .. } => {
            assert_eq!(*kind, "directory");
            assert_eq!(path, &fs::canonicalize(&open_dir).unwrap());
        }
        other => panic!("{other:?}"),
    }
    let report = loader().load_dir(&open_dir).unwrap();
    assert!(report.plugins.is_empty(), "{:?}", report.plugins);
    // So is a link to the safe directory, in any component of the path.
    symlink(&safe_dir, open_dir.join("safe-link")).unwrap();
    let through = open_dir.join("safe-link").join(en.file_name().unwrap());
    match loader().load(&through).unwrap_err().kind() {
        ErrorKind::WritableByOthers { kind, path, .. } => {
            assert_eq!(*kind, "directory");
            assert_eq!(path, &fs::canonicalize(&open_dir).unwrap());
        }
        other => panic!("{other:?}"),
    }
    // Through the safe directory, the same file loads.
    assert!(loader().load(&en).is_ok());

    // A file another user owns, in a safe directory: that user chooses what runs.
    if !is_root() {
        assert!(!in_ci(), "CI runs as root, to give a file to another user");
        notice("a file of another user: not running as root, cannot chown; skipped");
        return;
    }
    let fr = copy(Fixture::GreeterFr, &safe_dir);
    std::os::unix::fs::chown(&fr, Some(4242), None).unwrap();
    match loader().load(&fr).unwrap_err().kind() {
        ErrorKind::ForeignOwner { path, owner, .. } => {
            assert_eq!(*owner, 4242);
            assert_eq!(path, &fs::canonicalize(&fr).unwrap());
        }
        other => panic!("{other:?}"),
    }
    assert!(loader().allow_writable_by_others(true).load(&fr).is_ok());
}

#[test]
#[cfg(unix)]
fn allow_lists_and_keys_others_can_write_are_not_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("trust-anchors");
    let list = dir.join("plugins.sha256");
    fs::write(&list, format!("{}  x.so\n", Sha256::of(b"x"))).unwrap();
    let key = dir.join("plugins.pub");
    fs::write(&key, Signer::new().public_key_text()).unwrap();
    assert!(AllowList::read(&list).is_ok());
    assert!(PublicKey::read(&key).is_ok());
    for path in [&list, &key] {
        fs::set_permissions(path, fs::Permissions::from_mode(0o666)).unwrap();
    }
    let refused = [
        AllowList::read(&list).map(|_| ()).unwrap_err(),
        PublicKey::read(&key).map(|_| ()).unwrap_err(),
    ];
    for e in refused {
        assert!(e.to_string().contains("writable by every user"), "{e}");
    }
}

/// Whether this process runs as root (and so may give files to other users).
#[cfg(unix)]
fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `bytes`, an x86_64 ELF plugin, with its `NEEDED libgcc_s.so.1` turned into a
/// `RUNPATH` entry: `search`, which takes the name's 13 bytes in the string table.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) fn with_runpath(bytes: &[u8], search: &str) -> Vec<u8> {
    use object::{Object, ObjectSection};
    const NAME: &[u8] = b"libgcc_s.so.1\0";
    assert_eq!(search.len() + 1, NAME.len());
    let file = object::File::parse(bytes).unwrap();
    let range = |name: &str| {
        let (start, len) = file.section_by_name(name).unwrap().file_range().unwrap();
        (start as usize, (start + len) as usize)
    };
    let (strings, strings_end) = range(".dynstr");
    let (dynamic, dynamic_end) = range(".dynamic");
    let at = bytes[strings..strings_end]
        .windows(NAME.len())
        .position(|w| w == NAME)
        .expect("a libgcc_s dependency");
    let mut patched = bytes.to_vec();
    let entry = (dynamic..dynamic_end)
        .step_by(16)
        .find(|&e| {
            let tag = u64::from_le_bytes(bytes[e..e + 8].try_into().unwrap());
            let value = u64::from_le_bytes(bytes[e + 8..e + 16].try_into().unwrap());
            tag == 1 && value == at as u64
        })
        .expect("its NEEDED entry");
    patched[entry..entry + 8].copy_from_slice(&29u64.to_le_bytes()); // DT_RUNPATH
    patched[strings + at..strings + at + search.len()].copy_from_slice(search.as_bytes());
    patched
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn a_library_search_path_others_could_fill_is_refused_under_a_trust_policy() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("trust-runpath");
    let bytes = fs::read(plugin(Fixture::GreeterEn)).unwrap();
    let pinned = |patched: &[u8]| {
        loader().trust_policy(TrustPolicy::new().require_sha256(Sha256::of(patched)))
    };
    // An absolute directory (this process's own, 13 bytes) every user can write.
    let search = format!("/tmp/x{:07x}", std::process::id() & 0x0fff_ffff);
    let search_dir = Path::new(&search);
    let _ = fs::remove_dir_all(search_dir);
    fs::create_dir(search_dir).unwrap();
    fs::set_permissions(search_dir, fs::Permissions::from_mode(0o777)).unwrap();
    let patched = with_runpath(&bytes, &search);
    let path = dir.join(xplug_loader::tools::library_file_name("runpath"));
    fs::write(&path, &patched).unwrap();
    match pinned(&patched).load(&path).unwrap_err().kind() {
        ErrorKind::UnsafeSearchPath { entry, reason, .. } => {
            assert_eq!(entry, &search);
            assert!(reason.contains("0777"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // (Writable by this user alone, it would pass: see the loader's unit tests. The patched
    // library itself cannot be opened: its symbol versions still name the dependency.)
    let _ = fs::remove_dir_all(search_dir);

    // A relative one is resolved against the host's current directory: always refused.
    let relative = with_runpath(&bytes, "relative-path");
    let path = dir.join(xplug_loader::tools::library_file_name("relative"));
    fs::write(&path, &relative).unwrap();
    match pinned(&relative).load(&path).unwrap_err().kind() {
        ErrorKind::UnsafeSearchPath { entry, .. } => assert_eq!(entry, "relative-path"),
        other => panic!("{other:?}"),
    }
}
