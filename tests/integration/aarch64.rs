//! aarch64 Linux: the demo host, the `xplug` tool, the demo plugins and the mismatched
//! fixtures, all built for `aarch64-unknown-linux-gnu` by Debian's rustc 1.63 with Debian's
//! arm64 std, run under `qemu-aarch64`. The checks that depend on pointer width, alignment
//! and calling convention meet a second architecture: every good plugin loads and answers
//! right, a panic is contained, objects and host services cross, every mismatched plugin is
//! refused with the same report as its x86_64 twin, a loaded plugin replaced while the host
//! runs is reloaded and the old generation unloaded, an async plugin is awaited on tokio, and
//! each architecture refuses the other's plugins at stage 2.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use xplug_loader::ErrorKind;
use xtask::{BuiltPlugins, Fixture, Toolchain};

use crate::support::{in_ci, loader, notice, plugin, scratch};

/// The directory of the aarch64 C library that `qemu-aarch64 -L` runs programs against.
const SYSROOT: &str = "/usr/aarch64-linux-gnu";

/// Runs an aarch64 program under qemu; returns its exit code, and its standard output
/// followed by its standard error, if any.
fn run(program: &Path, args: &[PathBuf]) -> (Option<i32>, String) {
    let out = Command::new("qemu-aarch64")
        .arg("-L")
        .arg(SYSROOT)
        .arg(program)
        .args(args)
        .output()
        .expect("run qemu-aarch64");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.stderr.is_empty() {
        text.push_str("\n--- stderr ---\n");
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    (out.status.code(), text)
}

/// Why the aarch64 cell cannot run here, if it cannot.
fn missing() -> Option<String> {
    if Command::new("qemu-aarch64")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some(String::from(
            "qemu-aarch64 is not installed: run .ci/install-toolchains",
        ));
    }
    if !Path::new(SYSROOT).join("lib").is_dir() {
        return Some(format!(
            "{SYSROOT} is missing (Debian's libc6-dev-arm64-cross): run .ci/install-toolchains"
        ));
    }
    None
}

#[test]
fn aarch64_hosts_and_plugins_run_under_qemu_and_each_architecture_refuses_the_other() {
    let toolchain = match (Toolchain::aarch64(), missing()) {
        (Ok(t), None) => t,
        (Err(why), _) | (_, Some(why)) => {
            assert!(!in_ci(), "the aarch64 cell must run in CI, but: {why}");
            notice(&format!("aarch64: SKIPPED: {why}"));
            return;
        }
    };
    let built: BuiltPlugins = xtask::build(&toolchain).unwrap_or_else(|e| panic!("{e}"));
    let demo = built.program("demo");

    // Good plugins: they load, answer, contain their panics, make and take objects.
    let dir = crate::support::demo_plugins_dir(&built, "aarch64-plugins");
    let (code, out) = run(&demo, std::slice::from_ref(&dir));
    crate::support::assert_demo_run(
        code,
        &out,
        &["target aarch64-unknown-linux-gnu, panic = unwind"],
    );

    // Plugins of 1.0, 1.1 and 1.2 in a host of 1.2.
    let next: Vec<PathBuf> = crate::hosts::NEXT_HOST_PLUGINS
        .iter()
        .map(|&f| built.path(f))
        .collect();
    let (code, out) = run(&built.program("host-next"), &next);
    crate::hosts::check_next_host(code, &out, "aarch64");

    // Every mismatched plugin is refused with the same report as its x86_64 twin.
    crate::support::assert_refused_as_here(&built, "aarch64", |check, path| match check {
        true => run(&demo, &[PathBuf::from("check"), path.to_path_buf()]),
        false => run(&demo, &[path.to_path_buf()]),
    });

    // Each architecture refuses the other's plugin at stage 2, by name.
    let refused = loader()
        .load(built.path(Fixture::GreeterEn))
        .expect_err("an aarch64 plugin in an x86_64 host");
    assert!(
        matches!(refused.kind(), ErrorKind::WrongArchitecture { .. }),
        "{refused:?}"
    );
    assert!(
        refused
            .to_string()
            .contains("built for aarch64, but this host runs on x86_64"),
        "{refused}"
    );
    let (code, out) = run(&demo, &[PathBuf::from("check"), plugin(Fixture::GreeterEn)]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("built for x86_64, but this host runs on aarch64"),
        "{out}"
    );

    // Hot reload with unloading: the host installs counter-v2 over the loaded counter while it
    // runs; the watcher reloads it, the count carries over, a half-written copy is refused,
    // the old generation leaves and the new one still answers.
    let reload = scratch("aarch64-reload");
    fs::copy(
        built.path(Fixture::CounterV1),
        reload.join(xplug_loader::tools::library_file_name("counter")),
    )
    .unwrap();
    let (code, out) = run(
        &demo,
        &[
            PathBuf::from("reload"),
            reload.clone(),
            built.path(Fixture::CounterV2),
        ],
    );
    crate::support::assert_demo_reload(code, &out, "ELF");

    // Async: the clock plugin's futures and streams awaited on the host's tokio runtime, which
    // lends it timers and spawns its task. (Isolated plugins are not run here: their host
    // starts a process of itself, which the kernel cannot run without qemu registered with
    // binfmt_misc, which needs a privileged machine.)
    let (code, out) = run(&demo, &[PathBuf::from("async"), built.path(Fixture::Clock)]);
    assert_eq!(code, Some(0), "{out}");
    crate::async_plugins::assert_demo_async_run(&out, "aarch64");

    // `xplug inspect` reads a plugin's header without loading it.
    let (code, out) = run(
        &built.program("xplug"),
        &[PathBuf::from("inspect"), built.path(Fixture::GreeterFr)],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("plugin     greeter-fr 0.2.1"), "{out}");
    assert!(
        out.contains("target     aarch64-unknown-linux-gnu"),
        "{out}"
    );
    notice(&format!(
        "aarch64: {} under qemu: 5 plugins load and answer right; {} mismatched plugins refused as on x86_64; each architecture refuses the other's plugin; a loaded plugin replaced, reloaded and its old generation unloaded; an async plugin awaited on tokio",
        toolchain.rustc_version,
        crate::compilers::MISMATCHED.len() + 1
    ));
}
