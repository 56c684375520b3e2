//! The report of every rejection class, as text and as JSON, against golden files in
//! `snapshots/`. Paths, compiler versions and the environment (`RUST_BACKTRACE`) are
//! normalized away, so the snapshots hold on any machine of this platform.
//!
//! Review a change with `cargo insta review`, or `INSTA_UPDATE=always cargo test` and `git diff`.

use std::fs;
use std::path::PathBuf;

use xplug_loader::trust::Sha256;
use xplug_loader::LoadError;
use xtask::Fixture;

use crate::bad_inputs::{bad_inputs, LIBZ};
use crate::support::{loader, plugins, scratch};

/// Every rejection class, each with the error a host gets: the shared table of bad inputs,
/// plus the two that need a sequence of steps.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn every_rejection() -> Vec<(&'static str, LoadError)> {
    let l = loader();
    let mut all: Vec<(&'static str, LoadError)> = bad_inputs("diagnostics")
        .into_iter()
        .map(|input| {
            let e = input.loader.load(&input.path).expect_err("must be refused");
            (input.name, e)
        })
        .collect();

    let dir = scratch("diagnostics-steps");
    let file = dir.join("plain-file");
    fs::write(&file, b"x").unwrap();
    all.push((
        "unreadable",
        l.load_dir(&file).expect_err("not a directory"),
    ));
    // Loaded in place, then rewritten in place (its header's version only).
    let in_place = l.clone().mode(xplug_loader::LoadMode::InPlace);
    let swapped = dir.join("libswapped.so");
    fs::write(
        &swapped,
        crate::snapshots::variant(Fixture::GreeterEn, "0.3.0-swap"),
    )
    .unwrap();
    in_place.load(&swapped).expect("loads");
    crate::snapshots::rewrite_version_in_place(&swapped, b'8');
    all.push((
        "replaced",
        in_place.load(&swapped).expect_err("rewritten in place"),
    ));
    let own = dir.join("libown.so");
    fs::write(
        &own,
        crate::snapshots::variant(Fixture::Counting, "0.1.0-diagnostics"),
    )
    .unwrap();
    let (outer, nested) = crate::loading::load_own_file(&own);
    outer.expect("the outer load succeeds");
    all.push(("reentrant", nested.expect("the nested load is refused")));

    // A reload whose new version refuses the state handed over.
    let live_path = dir.join("liblive.so");
    fs::write(
        &live_path,
        crate::snapshots::variant(Fixture::Counting, "0.1.0-live-a"),
    )
    .unwrap();
    let live = l.live(&live_path).expect("loads");
    fs::write(
        &live_path,
        crate::snapshots::variant(Fixture::Counting, "0.1.0-live-b"),
    )
    .unwrap();
    all.push((
        "state_not_handed_over",
        live.reload()
            .expect_err("the new version refuses the state"),
    ));

    // A reload asked for from inside a call through the same live handle.
    let held_path = dir.join("libheld.so");
    fs::write(
        &held_path,
        crate::snapshots::variant(Fixture::GreeterEn, "0.3.0-held-a"),
    )
    .unwrap();
    let live = l.live(&held_path).expect("loads");
    fs::write(
        &held_path,
        crate::snapshots::variant(Fixture::GreeterEn, "0.3.0-held-b"),
    )
    .unwrap();
    let held = live.get();
    all.push((
        "calls_still_running",
        live.reload().expect_err("a call through the handle runs"),
    ));
    drop(held);

    // A journal that cannot be written: the plugin's code is not run.
    let unjournaled = dir.join("libunjournaled.so");
    fs::write(
        &unjournaled,
        crate::snapshots::variant(Fixture::GreeterEn, "0.3.0-unjournaled"),
    )
    .unwrap();
    all.push((
        "journal",
        l.clone()
            .quarantine(dir.join("no-such-directory").join("plugins.quarantine"))
            .load(&unjournaled)
            .expect_err("no journal"),
    ));

    // Loaded in place before by a loader with host services, now by one without.
    let served = dir.join("libserved.so");
    fs::write(
        &served,
        crate::snapshots::variant(Fixture::GreeterEn, "0.3.0-served"),
    )
    .unwrap();
    in_place
        .clone()
        .host_services(greeter_interface::GreeterHostBox::new(
            crate::objects::TestHost,
        ))
        .load(&served)
        .expect("loads");
    all.push((
        "services_differ",
        in_place.load(&served).expect_err("other services"),
    ));

    // Isolated: this test binary serves no interface to isolated plugins; the runner's
    // layout check refuses a changed layout.
    all.push((
        "isolation",
        l.clone()
            .isolate(xplug_loader::isolation::Isolation::new())
            .load(plugins().path(Fixture::GreeterEn))
            .expect_err("no runner"),
    ));
    all.push((
        "refused_isolated",
        l.clone()
            .isolate(
                xplug_loader::isolation::Isolation::new()
                    .runner(env!("CARGO_BIN_EXE_isolated-runner")),
            )
            .load(plugins().path(Fixture::ChangedType))
            .expect_err("a changed layout"),
    ));

    // Under a trust policy, a plugin whose library search path is relative.
    let relative = crate::trust::with_runpath(
        &crate::snapshots::variant(Fixture::GreeterEn, "0.3.0-runpath"),
        "relative-path",
    );
    let runpath = dir.join("librunpath.so");
    fs::write(&runpath, &relative).unwrap();
    all.push((
        "unsafe_search_path",
        l.clone()
            .trust_policy(
                xplug_loader::trust::TrustPolicy::new().require_sha256(Sha256::of(&relative)),
            )
            .load(&runpath)
            .expect_err("a relative search path"),
    ));

    // Listed in a quarantine journal by an earlier run that died loading it.
    let quarantined = dir.join("libquarantined.so");
    let bytes = crate::snapshots::variant(Fixture::GreeterEn, "0.3.0-quarantined");
    fs::write(&quarantined, &bytes).unwrap();
    let journal = dir.join("plugins.quarantine");
    fs::write(
        &journal,
        format!("{}  {}\n", Sha256::of(&bytes), quarantined.display()),
    )
    .unwrap();
    all.push((
        "quarantined",
        l.clone()
            .quarantine(&journal)
            .load(&quarantined)
            .expect_err("quarantined"),
    ));

    // Listed by the restart policy of an isolated plugin that crashed as often as it allows.
    let crashed = dir.join("libcrashed.so");
    let bytes = crate::snapshots::variant(Fixture::GreeterEn, "0.3.0-crashed");
    fs::write(&crashed, &bytes).unwrap();
    let journal = dir.join("crashes.quarantine");
    fs::write(
        &journal,
        format!(
            "{}  !crashed 3 times  {}\n",
            Sha256::of(&bytes),
            crashed.display()
        ),
    )
    .unwrap();
    all.push((
        "crashed_too_often",
        l.clone()
            .quarantine(&journal)
            .load(&crashed)
            .expect_err("quarantined after crashes"),
    ));
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
        // The symlink's target, then the symlink.
        (libz, "[LIBZ-TARGET]"),
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
    hide_digests(&out)
}

/// SHA-256 digests (64 hex digits) as `[SHA256]`: a build's bytes depend on its paths.
fn hide_digests(text: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        out.push_str(if run.len() == 64 { "[SHA256]" } else { &run });
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

fn scratch_root(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name)
}

/// Set for the child process that cannot start a thread.
const NO_THREADS: &str = "XPLUG_TEST_NO_THREADS_DIR";

/// Not a test of its own: the host that `every_rejection_class_...` runs in a child process
/// whose address space has no room for another thread's stack. Starts a directory watcher,
/// which must fail, and prints its report and its JSON between marker lines.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "run as a child process by the diagnostics test"]
fn no_threads_child_host() {
    let dir = std::env::var_os(NO_THREADS).expect("run by the diagnostics test");
    let loader = loader();
    let status = fs::read_to_string("/proc/self/status").unwrap();
    let size_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmSize:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmSize");
    // Room for the watcher's small allocations, none for a thread's stack (2 MiB).
    let limit = (size_kib + 1024) * 1024;
    let rlimit = libc::rlimit {
        rlim_cur: limit,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `setrlimit` reads the struct, which outlives the call.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) }, 0);
    let outcome = loader.watch_dir_polling(PathBuf::from(dir), std::time::Duration::from_secs(1));
    let error = outcome.expect_err("no room for the watcher's thread");
    let json = serde_json::to_string_pretty(&error.diagnostic()).unwrap();
    println!("--report--\n{}\n--json--\n{json}\n--end--", error.report());
}

/// The report and JSON of a watcher that cannot start its thread, from a child process.
#[cfg(target_os = "linux")]
fn no_threads_rejection() -> (String, String) {
    let dir = scratch("diagnostics-no-threads");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "diagnostics::no_threads_child_host", "--ignored"])
        .args(["--nocapture", "--test-threads=1"])
        .env(NO_THREADS, &dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let between = |start: &str, end: &str| -> String {
        let from = stdout
            .find(start)
            .map(|i| i + start.len())
            .unwrap_or_else(|| {
                panic!(
                    "the child printed no {start}: {stdout}\n{}",
                    String::from_utf8_lossy(&output.stderr)
                )
            });
        let to = from + stdout[from..].find(end).expect("the end marker");
        stdout[from..to].trim_matches('\n').to_owned()
    };
    (
        between("--report--\n", "\n--json--"),
        between("--json--\n", "\n--end--"),
    )
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn every_rejection_class_has_a_short_report_and_json() {
    let all = every_rejection();
    let mut variants: Vec<String> = Vec::new();
    // One from a child process that has no room for a thread.
    let (report, json) = no_threads_rejection();
    insta::assert_snapshot!("report_thread_not_started", normalize(&report));
    insta::assert_snapshot!("json_thread_not_started", normalize(&json));
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    variants.push(value["error"]["variant"].as_str().unwrap().to_owned());
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
