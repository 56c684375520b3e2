//! The report of every rejection class, as text and as JSON, against golden files in
//! `snapshots/`. Paths, compiler versions and the environment (`RUST_BACKTRACE`) are
//! normalized away, so the snapshots hold on any machine of this platform.
//!
//! Review a change with `cargo insta review`, or `INSTA_UPDATE=always cargo test` and `git diff`.

use std::fs;
use std::path::{Path, PathBuf};

use xplug_loader::LoadError;

use crate::support::{loader, plugin, plugins, scratch};

/// Writes a copy of a plugin with `patch` applied to its bytes.
fn patched(dir: &Path, name: &str, from: &str, patch: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = fs::read(plugin(from)).unwrap();
    patch(&mut bytes);
    let path = dir.join(xplug_loader::library_file_name(name));
    fs::write(&path, bytes).unwrap();
    path
}

/// The offset of the plugin header in a plugin file.
fn header_offset(bytes: &[u8]) -> usize {
    let magic = b"XPLUGHDR";
    let hits: Vec<usize> = bytes
        .windows(magic.len())
        .enumerate()
        .filter(|(_, w)| w == magic)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(hits.len(), 1, "exactly one header in the file");
    hits[0]
}

fn set_field(bytes: &mut [u8], offset: usize, len: usize, text: &str) {
    let field = &mut bytes[offset..offset + len];
    field.fill(0);
    field[..text.len()].copy_from_slice(text.as_bytes());
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

/// Every rejection class, each with the error a host gets.
fn every_rejection() -> Vec<(&'static str, LoadError)> {
    let dir = scratch("diagnostics");
    let l = loader();
    let err = |path: &Path| l.load(path).expect_err("must be refused");
    let mut all = Vec::new();

    all.push(("not_found", err(&dir.join("libmissing.so"))));
    let sub = dir.join("libdir.so");
    fs::create_dir(&sub).unwrap();
    all.push(("not_a_file", err(&sub)));
    let file = dir.join("plain-file");
    fs::write(&file, b"x").unwrap();
    all.push((
        "unreadable",
        l.load_dir(&file).expect_err("not a directory"),
    ));
    let swapped = dir.join("libswapped.so");
    fs::copy(plugin("greeter-en"), &swapped).unwrap();
    l.load(&swapped).expect("loads");
    // A new file renamed over it, as installers do (overwriting a loaded library in place
    // would change the code mapped into this process).
    fs::copy(plugin("greeter-fr"), dir.join("swapped.new")).unwrap();
    fs::rename(dir.join("swapped.new"), &swapped).unwrap();
    all.push(("replaced", err(&swapped)));
    let empty = dir.join("libempty.so");
    fs::write(&empty, b"").unwrap();
    all.push(("not_a_library_empty", err(&empty)));
    let text = dir.join("libtext.so");
    fs::write(&text, "a note\n").unwrap();
    all.push(("not_a_library_text", err(&text)));
    let pe = dir.join("libwindows.so");
    fs::write(&pe, pe_file()).unwrap();
    all.push(("wrong_format", err(&pe)));
    let arm = patched(&dir, "arm", "greeter-en", |b| {
        b[18..20].copy_from_slice(&183u16.to_le_bytes())
    });
    all.push(("wrong_architecture", err(&arm)));
    let exec = patched(&dir, "exec", "greeter-en", |b| {
        b[16..18].copy_from_slice(&2u16.to_le_bytes())
    });
    all.push(("not_a_shared_library", err(&exec)));
    let truncated = patched(&dir, "truncated", "greeter-en", |b| b.truncate(4096));
    all.push(("malformed", err(&truncated)));
    all.push(("not_a_plugin", err(Path::new(LIBZ))));
    let bad = patched(&dir, "bad-header", "greeter-en", |b| {
        let h = header_offset(b);
        set_field(b, h + 80, 32, "1.x");
    });
    all.push(("bad_header", err(&bad)));
    let newer = patched(&dir, "newer-header", "greeter-en", |b| {
        let h = header_offset(b);
        b[h + 8..h + 12].copy_from_slice(&99u32.to_le_bytes());
    });
    all.push(("unsupported_header", err(&newer)));
    all.push((
        "interface_mismatch",
        err(&plugin("fixture-wrong-interface")),
    ));
    all.push(("version_mismatch", err(&plugin("fixture-major"))));
    let musl = patched(&dir, "musl", "greeter-en", |b| {
        let h = header_offset(b);
        set_field(b, h + 336, 64, "x86_64-unknown-linux-musl");
    });
    all.push(("target_mismatch", err(&musl)));
    let abort = patched(&dir, "abort", "greeter-en", |b| {
        let h = header_offset(b);
        b[h + 416] = 2;
    });
    all.push(("panic_abort", err(&abort)));
    let unloadable = patched(&dir, "unloadable", "greeter-en", |b| {
        // Rename its `libgcc_s.so.1` dependency in place to `libgcc_q.so.1`, which does not
        // exist: the dynamic loader refuses the library.
        let name = b"libgcc_s.so.1\0";
        let at = b
            .windows(name.len())
            .position(|w| w == name)
            .expect("a libgcc_s dependency");
        b[at + 7] = b'q';
    });
    all.push(("open", err(&unloadable)));
    all.push(("root_module", err(&plugin("fixture-no-root-module"))));
    all.push(("layout_changed_type", err(&plugin("fixture-changed-type"))));
    all.push((
        "layout_changed_nested",
        err(&plugin("fixture-changed-nested")),
    ));
    all.push(("layout_removed_fn", err(&plugin("fixture-removed-fn"))));
    all.push(("init_failed", err(&plugin("fixture-init-error"))));
    all.push(("init_panicked", err(&plugin("fixture-init-panic"))));
    all
}

const LIBZ: &str = "/lib/x86_64-linux-gnu/libz.so.1";

/// Replaces what depends on the machine: paths, compiler versions.
fn normalize(text: &str) -> String {
    let mut text = text.to_owned();
    let libz = fs::canonicalize(LIBZ).unwrap();
    let replacements = [
        (scratch_root(), "[SCRATCH]"),
        (plugins().dir.clone(), "[PLUGINS]"),
        (xtask::target_dir(), "[TARGET]"),
        (libz, "[LIBZ]"),
        (PathBuf::from(LIBZ), "[LIBZ]"),
    ];
    for (path, with) in replacements {
        text = text.replace(&path.display().to_string(), with);
    }
    // `rustc 1.95.0 (59807616e 2026-04-14)` and `rustc 1.95.0` alike.
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("rustc 1.") {
        out.push_str(&rest[..i]);
        out.push_str("rustc [VERSION]");
        let after = &rest[i + "rustc ".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .unwrap_or(after.len());
        let mut tail = &after[end..];
        // A full `--version` line: drop its `(hash date)` too.
        if let Some(paren) = tail.strip_prefix(" (") {
            if let Some(close) = paren.find(')') {
                if !tail.starts_with(" (hash") {
                    tail = &paren[close + 1..];
                }
            }
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

fn scratch_root() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("diagnostics")
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn every_rejection_class_has_a_short_report_and_json() {
    assert!(
        Path::new(LIBZ).is_file(),
        "{LIBZ} is needed (install zlib1g)"
    );
    let all = every_rejection();
    let mut variants: Vec<String> = Vec::new();
    for (name, error) in &all {
        let report = error.report().to_string();
        assert!(report.lines().count() <= 12, "{name}: {report}");
        assert!(!report.contains("\x1b["), "{name}: no color unless asked");
        assert!(error
            .report()
            .color(true)
            .to_string()
            .contains("\x1b[1;31merror\x1b[0m"));
        insta::assert_snapshot!(format!("report_{name}"), normalize(&report));
        let json = serde_json::to_string_pretty(&error.diagnostic()).unwrap();
        insta::assert_snapshot!(format!("json_{name}"), normalize(&json));
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        variants.push(value["error"]["variant"].as_str().unwrap().to_owned());
    }
    // Every variant of LoadError is covered once.
    variants.sort();
    variants.dedup();
    assert_eq!(variants.len(), 21, "{variants:?}");
}
