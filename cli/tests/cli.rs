//! The `xplug` binary against real plugin files.
// The tests run with the current compiler only; the crate itself builds with 1.63.
#![allow(clippy::incompatible_msrv)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use greeter_interface::GreeterRef;
use xplug_loader::Loader;
use xtask::{host_built as plugins, Fixture};

fn xplug(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xplug"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .expect("run xplug")
}

/// `xplug check FILE --interface greeter@^1 --against REFERENCE`.
fn check_against(file: &str, reference: Fixture) -> Output {
    xplug(&[
        "check",
        file,
        "--interface",
        "greeter@^1",
        "--against",
        &path(reference),
    ])
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn path(fixture: Fixture) -> String {
    plugins().path(fixture).display().to_string()
}

fn scratch(name: &str) -> PathBuf {
    xtask::scratch(Path::new(env!("CARGO_TARGET_TMPDIR")), name)
}

#[test]
fn inspect_prints_the_header() {
    let out = xplug(&["inspect", &path(Fixture::GreeterEn)]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out);
    for want in [
        "greeter-en 0.3.0",
        "greeter 1.1.0",
        "rustc 1.",
        "panic      unwind",
        &format!(
            "sha256     {}",
            xplug_loader::trust::Sha256::of(&fs::read(path(Fixture::GreeterEn)).unwrap())
        ),
    ] {
        assert!(t.contains(want), "{want} missing from:\n{t}");
    }
    assert!(
        !t.contains("\x1b["),
        "no color when stdout is not a terminal"
    );
}

#[test]
fn inspect_json_carries_the_header_and_the_typed_error() {
    let dir = scratch("inspect-json");
    let garbage = dir.join("libgarbage.so");
    fs::write(&garbage, b"garbage").unwrap();
    let out = xplug(&[
        "inspect",
        "--json",
        &path(Fixture::GreeterFr),
        garbage.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "one file is not a plugin");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v[0]["ok"], true);
    assert_eq!(v[0]["header"]["name"], "greeter-fr");
    assert_eq!(v[0]["header"]["interface_version"], "1.1.0");
    assert_eq!(v[1]["ok"], false);
    assert_eq!(v[1]["diagnostic"]["stage"], "object");
    assert_eq!(v[1]["diagnostic"]["error"]["variant"], "not_a_library");
    assert_eq!(v[1]["diagnostic"]["error"]["reason"], "it is a text file");
}

#[test]
#[cfg(target_os = "linux")]
fn inspect_runs_no_plugin_code_but_loading_does() {
    let dir = scratch("constructor");
    let marker = dir.join("marker");
    let file = path(Fixture::Constructor);
    let out = Command::new(env!("CARGO_BIN_EXE_xplug"))
        .args(["inspect", &file])
        .env("XPLUG_FIXTURE_MARKER", &marker)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        !marker.exists(),
        "inspect ran the plugin's static constructor"
    );

    // Loading it (in this process) runs the constructor: the marker proves the fixture works.
    std::env::set_var("XPLUG_FIXTURE_MARKER", &marker);
    let plugin = Loader::<GreeterRef>::new().load(&file).expect("loads");
    assert_eq!(plugin.add(1, 1).unwrap(), 2);
    assert_eq!(
        fs::read_to_string(&marker).expect("loading ran the constructor"),
        "the static constructor ran"
    );
}

#[test]
fn ls_lists_every_library_with_its_status() {
    let dir = scratch("ls");
    for fixture in [Fixture::GreeterEn, Fixture::Major] {
        let from = plugins().path(fixture);
        fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    fs::write(
        dir.join(xplug_loader::tools::library_file_name("junk")),
        b"junk",
    )
    .unwrap();
    fs::write(dir.join("notes.txt"), b"not listed").unwrap();
    let out = xplug(&["ls", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 4, "{t}");
    assert!(lines[0].starts_with("FILE"));
    assert!(
        t.contains("greeter-en") && t.contains("greeter 2.0.0"),
        "{t}"
    );
    let junk = lines.iter().find(|l| l.contains("junk")).unwrap();
    assert!(
        junk.ends_with("not a shared library: it is a text file"),
        "{junk}"
    );
    assert!(!t.contains("notes.txt"));

    let json = xplug(&["ls", "--json", dir.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 3);
    assert_eq!(v[0]["status"], "ok");
}

/// `bytes` of a plugin with its header marked `panic = "abort"`.
fn marked_panic_abort(mut bytes: Vec<u8>) -> Vec<u8> {
    let magic = xplug::header::MAGIC;
    let at = bytes
        .windows(magic.len())
        .position(|w| w == magic)
        .expect("a header");
    bytes[at + std::mem::offset_of!(xplug::header::PluginHeader, panic_strategy)] =
        xplug::header::PANIC_ABORT;
    bytes
}

#[test]
fn ls_gives_the_verdict_of_check_and_default_hosts() {
    let dir = scratch("ls-verdict");
    let abort = dir.join(xplug_loader::tools::library_file_name("abort"));
    fs::write(
        &abort,
        marked_panic_abort(fs::read(path(Fixture::GreeterEn)).unwrap()),
    )
    .unwrap();
    let en = plugins().path(Fixture::GreeterEn);
    fs::copy(&en, dir.join(en.file_name().unwrap())).unwrap();

    // Refused by `check` and by a default host ...
    let check = xplug(&[
        "check",
        abort.to_str().unwrap(),
        "--interface",
        "greeter@^1",
    ]);
    assert_eq!(check.status.code(), Some(1));
    let refusal = String::from_utf8_lossy(&check.stderr).into_owned();
    assert!(
        refusal.contains("built with panic = \"abort\""),
        "{refusal}"
    );
    let host = Loader::<GreeterRef>::new()
        .load(&abort)
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(host.kind(), xplug_loader::ErrorKind::PanicAbort { .. }),
        "{host}"
    );

    // ... so `ls` does not say `ok`, and says why; the good plugin beside it is `ok`.
    let out = xplug(&["ls", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let t = text(&out);
    let row = |name: &str| t.lines().find(|l| l.starts_with(name)).unwrap().to_owned();
    let abort_row = row(&xplug_loader::tools::library_file_name("abort"));
    assert!(
        abort_row.ends_with(&host.kind().to_string()),
        "{abort_row}\n{t}"
    );
    let en_name = en.file_name().unwrap().to_str().unwrap();
    assert!(row(en_name).ends_with("  ok"), "{t}");
    let json = xplug(&["ls", "--json", dir.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        v[0]["file"],
        xplug_loader::tools::library_file_name("abort")
    );
    assert_eq!(v[0]["header"]["panic_strategy"], "abort");
    assert_eq!(v[0]["status"], host.kind().to_string());
    assert_eq!(v[1]["status"], "ok");
}

#[test]
fn check_exits_0_when_compatible_and_1_with_the_diagnostic_otherwise() {
    let ok = xplug(&[
        "check",
        &path(Fixture::GreeterFr),
        "--interface",
        "greeter@^1.1",
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).starts_with("ok: greeter-fr 0.2.1"));

    let major = xplug(&["check", &path(Fixture::Major), "--interface", "greeter@^1"]);
    assert_eq!(major.status.code(), Some(1));
    assert!(major.stdout.is_empty(), "{}", text(&major));
    let t = String::from_utf8_lossy(&major.stderr);
    assert!(t.starts_with("error: plugin rejected: "), "{t}");
    assert!(t.contains("built against 2.0.0, required: ^1"), "{t}");
    assert!(t.contains("help: "), "{t}");

    let name = xplug(&[
        "check",
        &path(Fixture::GreeterEn),
        "--interface",
        "calculator@*",
    ]);
    assert_eq!(name.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&name.stderr)
        .contains("the plugin implements interface `greeter`, but this host loads `calculator`"));

    let json = xplug(&[
        "check",
        "--json",
        &path(Fixture::Major),
        "--interface",
        "greeter@^1",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["diagnostic"]["error"]["variant"], "version_mismatch");
    assert_eq!(v["diagnostic"]["error"]["required"], "^1");
    assert_eq!(v["diagnostic"]["plugin"]["interface_version"], "2.0.0");
}

#[test]
fn bad_command_lines_exit_2_and_help_documents_exit_codes() {
    let bad = xplug(&["check", "x.so", "--interface", "no-version"]);
    assert_eq!(bad.status.code(), Some(2));
    let help = xplug(&["--help"]);
    assert_eq!(help.status.code(), Some(0));
    let t = text(&help);
    assert!(
        t.contains("Exit codes:") && t.contains("xplug inspect"),
        "{t}"
    );
    assert!(Path::new(env!("CARGO_BIN_EXE_xplug")).is_file());
}

#[test]
fn errors_name_their_path_on_stderr() {
    let missing = scratch("missing-parent").join("missing");
    let out = xplug(&["ls", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "xplug: cannot read the directory {}: ",
            missing.display()
        )),
        "{err}"
    );
}

#[test]
fn text_from_a_crafted_file_cannot_drive_the_terminal() {
    let dir = scratch("escape");
    let mut bytes = fs::read(plugins().path(Fixture::GreeterEn)).unwrap();
    // The plugin's name in its header, overwritten with a terminal escape sequence.
    let header = bytes
        .windows(8)
        .position(|w| w == xplug::header::MAGIC)
        .expect("a header");
    let at = header + std::mem::offset_of!(xplug::PluginHeader, plugin_name);
    bytes[at..at + 9].copy_from_slice(b"\x1b]0;pwn\x07\0");
    let file = dir.join("lib\x1b[2Jevil.so");
    fs::write(&file, &bytes).unwrap();
    for args in [
        vec!["inspect", file.to_str().unwrap()],
        vec!["ls", dir.to_str().unwrap()],
        vec!["check", file.to_str().unwrap(), "--interface", "greeter@^1"],
    ] {
        let out = xplug(&args);
        let all = [out.stdout.as_slice(), out.stderr.as_slice()].concat();
        assert!(
            !all.contains(&0x1b),
            "{args:?}: {}",
            String::from_utf8_lossy(&all)
        );
        assert!(!all.contains(&0x07), "{args:?}");
        let all = String::from_utf8_lossy(&all);
        assert!(all.contains("lib\\u{1b}[2Jevil.so"), "{args:?}: {all}");
    }
}

#[test]
fn verify_checks_signatures_and_digests_and_exits_1_when_untrusted() {
    let dir = scratch("verify");
    let file = dir.join("libgreeter_en.so");
    fs::copy(path(Fixture::GreeterEn), &file).unwrap();
    let file_arg = file.to_str().unwrap();
    let keys = minisign::KeyPair::generate_unencrypted_keypair().unwrap();
    let public = dir.join("plugins.pub");
    fs::write(&public, keys.pk.to_box().unwrap().into_string()).unwrap();
    let bytes = fs::read(&file).unwrap();
    let signature = minisign::sign(Some(&keys.pk), &keys.sk, &bytes[..], None, None).unwrap();
    fs::write(
        dir.join("libgreeter_en.so.minisig"),
        signature.into_string(),
    )
    .unwrap();
    let digest = xplug_loader::trust::Sha256::of(&bytes).to_string();

    let out = xplug(&["verify", file_arg, "--key", public.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out).contains(&digest));
    // The key as base64, and a digest, together.
    let base64 = keys.pk.to_base64();
    let out = xplug(&["verify", file_arg, "--key", &base64, "--sha256", &digest]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // One byte changed: the signature no longer matches, nor the digest.
    let mut tampered = bytes.clone();
    tampered[200] ^= 1;
    fs::write(&file, &tampered).unwrap();
    let out = xplug(&["verify", file_arg, "--key", &base64]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the signature does not match the file's bytes"),
        "{stderr}"
    );
    let out = xplug(&["verify", file_arg, "--sha256", &digest]);
    assert_eq!(out.status.code(), Some(1));

    // Nothing to verify against, or a key that is none: a bad command line.
    assert_eq!(xplug(&["verify", file_arg]).status.code(), Some(2));
    assert_eq!(
        xplug(&["verify", file_arg, "--key", "not-a-key"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn abi_diff_gives_each_fixture_its_verdict_and_version_advice() {
    // (old, new, verdict line, a line that must follow it, exit code, advice)
    let cases = [
        (Fixture::GreeterEn, Fixture::GreeterFr, "no change", "", 0, None),
        (
            Fixture::OlderMinor,
            Fixture::GreeterEn,
            "compatible: minor",
            "  appended: shout",
            0,
            None,
        ),
        (
            Fixture::GreeterEn,
            Fixture::NewerMinor,
            "compatible: minor",
            "  appended: whisper",
            0,
            None,
        ),
        (
            Fixture::GreeterEn,
            Fixture::OlderMinor,
            "breaking",
            "  number of fields differs at `GreeterModule`: expected 12 fields, found 11 fields",
            1,
            Some("2.0.0"),
        ),
        (
            Fixture::GreeterEn,
            Fixture::ChangedType,
            "breaking",
            "  type differs at `GreeterModule.add`: expected extern \"C\" fn(u32, u32) -> u32, found extern \"C\" fn(u64, u64) -> u64",
            1,
            Some("2.0.0"),
        ),
        (
            Fixture::GreeterEn,
            Fixture::ChangedNested,
            "breaking",
            "  type differs at `GreeterModule.map(Callback).field_0`: expected extern \"C\" fn(i64) -> i64, found extern \"C\" fn(i32) -> i32",
            1,
            Some("2.0.0"),
        ),
        (
            Fixture::GreeterEn,
            Fixture::RemovedFn,
            "breaking",
            "  function removed at `GreeterModule`: expected function `words`, found none: the functions after it come one place earlier",
            1,
            Some("2.0.0"),
        ),
        // A new major version may break anything.
        (Fixture::GreeterEn, Fixture::Major, "breaking", "", 0, None),
    ];
    for (old, new, verdict, detail, code, advice) in cases {
        let out = xplug(&["abi-diff", &path(old), &path(new)]);
        let t = text(&out);
        let what = format!("{} -> {}:\n{t}", old.name(), new.name());
        assert_eq!(out.status.code(), Some(code), "{what}");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.get(1), Some(&verdict), "{what}");
        if !detail.is_empty() {
            assert_eq!(lines.get(2), Some(&detail), "{what}");
        }
        match advice {
            Some(version) => assert!(
                t.contains(&format!("help: publish the new interface as {version}")),
                "{what}"
            ),
            None => assert!(t.contains("says so"), "{what}"),
        }
    }

    let json = xplug(&[
        "abi-diff",
        "--json",
        &path(Fixture::GreeterEn),
        &path(Fixture::ChangedType),
    ]);
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["change"]["verdict"], "breaking");
    assert_eq!(v["change"]["differences"][0]["at"], "GreeterModule.add");
    assert_eq!(v["versioning"]["ok"], false);
    assert_eq!(v["versioning"]["error"]["publish"], "2.0.0");

    // Files that cannot be compared: exit code 2, nothing loaded.
    let other = xplug(&[
        "abi-diff",
        &path(Fixture::GreeterEn),
        &path(Fixture::WrongInterface),
    ]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("of `farewell`"));
    let garbage = xplug(&["abi-diff", &path(Fixture::GreeterEn), "README.md"]);
    assert_eq!(garbage.status.code(), Some(2));
}

#[test]
fn check_says_whether_the_layout_was_checked() {
    let changed = path(Fixture::ChangedType);
    let header_only = xplug(&["check", &changed, "--interface", "greeter@^1"]);
    assert_eq!(header_only.status.code(), Some(0));
    assert!(
        text(&header_only).contains("the type layout was NOT checked"),
        "{}",
        text(&header_only)
    );
    let against = check_against(&changed, Fixture::GreeterEn);
    assert_eq!(against.status.code(), Some(1));
    let t = String::from_utf8_lossy(&against.stderr);
    assert!(t.contains("type differs at `GreeterModule.add`"), "{t}");
    let older = check_against(&path(Fixture::OlderMinor), Fixture::GreeterEn);
    assert_eq!(older.status.code(), Some(0), "{}", text(&older));
    assert!(text(&older).contains("header and type layout checked"));
}

#[test]
fn check_reports_name_what_was_compared_and_no_host() {
    let changed = path(Fixture::ChangedType);
    let against = check_against(&changed, Fixture::GreeterEn);
    assert_eq!(against.status.code(), Some(1));
    let t = String::from_utf8_lossy(&against.stderr);
    assert!(!t.contains("host built by"), "no host is involved:\n{t}");
    let line = t
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with("plugin fixture-changed-type 0.1.0")
        })
        .unwrap_or_else(|| panic!("no built-by line:\n{t}"));
    assert!(
        line.contains("; the other build, greeter-en 0.3.0, built by rustc 1."),
        "{line}"
    );
    let json = xplug(&[
        "check",
        "--json",
        &changed,
        "--interface",
        "greeter@^1",
        "--against",
        &path(Fixture::GreeterEn),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["diagnostic"]["other_build"]["name"], "greeter-en");

    // A header check concerns no host either.
    let major = xplug(&["check", &path(Fixture::Major), "--interface", "greeter@^1"]);
    let t = String::from_utf8_lossy(&major.stderr);
    assert!(
        t.contains("plugin fixture-major 0.1.0, built by rustc 1."),
        "{t}"
    );
    assert!(!t.contains("host built by"), "{t}");

    // A reference of another interface is no reference: nothing is loaded.
    let other = check_against(&path(Fixture::GreeterEn), Fixture::WrongInterface);
    assert_eq!(other.status.code(), Some(2));
    let t = String::from_utf8_lossy(&other.stderr);
    assert!(
        t.contains("cannot be the reference: it implements interface `farewell`, not `greeter`"),
        "{t}"
    );
}

#[test]
fn abi_diff_loads_the_files_in_a_child_process_whose_crash_it_reports() {
    let out = Command::new(env!("CARGO_BIN_EXE_xplug"))
        .args([
            "abi-diff",
            &path(Fixture::GreeterEn),
            &path(Fixture::Constructor),
        ])
        .env("XPLUG_FIXTURE_CONSTRUCTOR_CRASH", "1")
        .output()
        .expect("run xplug");
    // The constructor aborted the child; the parent, which never mapped the file, reports it.
    assert_eq!(out.status.code(), Some(2));
    let t = String::from_utf8_lossy(&out.stderr);
    assert!(t.contains("crashed"), "{t}");
}

/// `xplug` with cargo's target directory set to the workspace's, so that `abi-dump` builds
/// its programs there for every interface crate (the fixtures' workspace included).
fn xplug_dump(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xplug"))
        .args(args)
        .env("CARGO_TARGET_DIR", xtask::target_dir())
        // Every dependency is in cargo's cache already: no index update for the programs'
        // lock files.
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .expect("run xplug")
}

/// Describes the interface crate `dir` (relative to the repository) into `file`.
fn dump(dir: &str, handle: Option<&str>, file: &Path) {
    let crate_dir = xtask::repo_root().join(dir);
    let mut args = vec![
        "abi-dump",
        crate_dir.to_str().unwrap(),
        "-o",
        file.to_str().unwrap(),
    ];
    if let Some(handle) = handle {
        args.extend(["--handle", handle]);
    }
    let out = xplug_dump(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "abi-dump {dir}:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn abi_dump_describes_interface_crates_that_abi_diff_compares_with_each_other_and_plugins() {
    let dir = scratch("abi-dump");
    let (v1_0, v1_1, v1_2) = (
        dir.join("greeter-1.0.0.json"),
        dir.join("greeter-1.1.0.json"),
        dir.join("greeter-1.2.0.json"),
    );
    dump("examples/greeter-interface", None, &v1_1);
    // The fixtures' interfaces `include!` their source: their handle is named.
    dump("tests/fixtures/interfaces/v1_0", Some("GreeterRef"), &v1_0);
    dump("tests/fixtures/interfaces/v1_2", Some("GreeterRef"), &v1_2);
    let description: serde_json::Value = serde_json::from_slice(&fs::read(&v1_1).unwrap()).unwrap();
    assert_eq!(description["interface"], "greeter");
    assert_eq!(description["version"], "1.1.0");
    assert_eq!(description["host"], "GreeterHost");

    let s = |p: &Path| p.display().to_string();
    let interface_dir = xtask::repo_root().join("examples/greeter-interface");
    // (old, new, exit code, lines that must be printed)
    let cases: [(String, String, i32, &[&str]); 6] = [
        (
            s(&v1_0),
            s(&v1_1),
            0,
            &["compatible: minor", "  appended: shout", "  appended: Counter.reset"],
        ),
        // An interface crate is described on the spot.
        (
            s(&interface_dir),
            s(&v1_2),
            0,
            &[
                "  appended: whisper",
                "  appended: Counter.peek",
                "  appended: GreeterHost.greeting_word",
            ],
        ),
        (
            s(&v1_2),
            s(&v1_1),
            1,
            &[
                "breaking",
                "  method removed at `Counter`: expected method `peek`, found none",
                "  method removed at `GreeterHost`: expected method `greeting_word`, found none",
                "  help: publish the new interface as 2.0.0",
            ],
        ),
        // A description against plugins built for the same or another version.
        (s(&v1_1), path(Fixture::GreeterEn), 0, &["no change"]),
        (
            path(Fixture::OlderMinor),
            s(&v1_1),
            0,
            &["  appended: shout", "  appended: Counter.reset"],
        ),
        (
            s(&v1_1),
            path(Fixture::ChangedObject),
            1,
            &["  function signature differs at `Counter.skip`: expected fn(&mut self, u64) -> u64, found fn(&mut self, u32) -> u64"],
        ),
    ];
    for (old, new, code, lines) in cases {
        let out = xplug_dump(&["abi-diff", &old, &new]);
        let t = text(&out);
        let what = format!(
            "{old} -> {new}:\n{t}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(code), "{what}");
        for line in lines {
            assert!(t.lines().any(|l| l == *line), "{line:?} missing: {what}");
        }
    }

    // Another interface, a description that is not one: nothing to compare.
    let other = xplug_dump(&["abi-diff", &s(&v1_1), &path(Fixture::WrongInterface)]);
    assert_eq!(other.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&other.stderr).contains("cannot compare two interfaces"));
    let broken = dir.join("broken.json");
    fs::write(&broken, "{\"xplug_abi_dump\": 1}").unwrap();
    let out = xplug_dump(&["abi-diff", &s(&v1_1), &s(&broken)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`version` is missing"));
    // A crate whose sources declare no interface the tool can see.
    let out = xplug_dump(&[
        "abi-dump",
        xtask::repo_root()
            .join("tests/fixtures/interfaces/v1_0")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--handle"));
}

/// The check an interface author runs in CI, on the demo interface: its committed description
/// of the released 1.1.0 against the crate as it is now.
#[test]
fn the_demo_interface_matches_its_committed_description() {
    let root = xtask::repo_root();
    let out = xplug_dump(&[
        "abi-diff",
        root.join("examples/greeter-interface/abi/greeter-1.1.0.json")
            .to_str()
            .unwrap(),
        root.join("examples/greeter-interface").to_str().unwrap(),
    ]);
    let t = text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{t}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(t.lines().any(|l| l == "no change"), "{t}");
}
