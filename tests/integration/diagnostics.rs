//! The report of every rejection class, as text and as JSON, against golden files in
//! `snapshots/`. Paths, compiler versions and the environment (`RUST_BACKTRACE`) are
//! normalized away, so the snapshots hold on any machine of this platform.
//!
//! Review a change with `cargo insta review`, or `INSTA_UPDATE=always cargo test` and `git diff`.

use std::fs;
use std::path::{Path, PathBuf};

use xplug_loader::LoadError;
use xtask::Fixture;

use crate::bad_inputs::{bad_inputs, LIBZ};
use crate::support::{loader, plugin, plugins, scratch};

/// Every rejection class, each with the error a host gets: the shared table of bad inputs,
/// plus the two that need a sequence of steps.
fn every_rejection() -> Vec<(&'static str, LoadError)> {
    let l = loader();
    let err = |path: &Path| l.load(path).expect_err("must be refused");
    let mut all: Vec<(&'static str, LoadError)> = bad_inputs("diagnostics")
        .into_iter()
        .map(|input| (input.name, err(&input.path)))
        .collect();

    let dir = scratch("diagnostics-steps");
    let file = dir.join("plain-file");
    fs::write(&file, b"x").unwrap();
    all.push((
        "unreadable",
        l.load_dir(&file).expect_err("not a directory"),
    ));
    let swapped = dir.join("libswapped.so");
    fs::copy(plugin(Fixture::GreeterEn), &swapped).unwrap();
    l.load(&swapped).expect("loads");
    // A new file renamed over it, as installers do (overwriting a loaded library in place
    // would change the code mapped into this process).
    fs::copy(plugin(Fixture::GreeterFr), dir.join("swapped.new")).unwrap();
    fs::rename(dir.join("swapped.new"), &swapped).unwrap();
    all.push(("replaced", err(&swapped)));
    all
}

/// Replaces what depends on the machine: paths, compiler versions.
fn normalize(text: &str) -> String {
    let mut text = text.to_owned();
    let libz = fs::canonicalize(LIBZ).unwrap();
    let replacements = [
        // The longer name first: it starts with the shorter one.
        (scratch_root("diagnostics-steps"), "[SCRATCH]"),
        (scratch_root("diagnostics"), "[SCRATCH]"),
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

fn scratch_root(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn every_rejection_class_has_a_short_report_and_json() {
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
    // Every kind of LoadError is covered.
    variants.sort();
    variants.dedup();
    assert_eq!(
        variants.len(),
        xplug_loader::ErrorKind::NAMES.len(),
        "{variants:?}"
    );
}
