//! Windows: the demo host, the `xplug` tool, the demo plugins and the mismatched fixtures,
//! all built for `x86_64-pc-windows-gnu` by Debian's rustc 1.63 (the only Windows toolchain
//! Debian ships), run under wine. Every good DLL loads and answers right, every mismatched
//! DLL is refused with the same report as its Linux twin, stage 2 refuses foreign PE files,
//! a loaded DLL replaced while the host runs is reloaded, isolated DLLs answer as in-process
//! and a crashing one does not take the host down, and `xplug inspect` reads a DLL's header
//! without loading it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::{BuiltPlugins, Fixture, Toolchain};

use crate::support::{in_ci, notice, scratch};

/// The wine launcher, if installed.
fn wine() -> Option<PathBuf> {
    ["/usr/bin/wine", "/usr/bin/wine64", "/usr/lib/wine/wine64"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

struct Wine {
    launcher: PathBuf,
    prefix: PathBuf,
}

impl Wine {
    /// Runs a Windows program; returns its exit code, and its standard output followed by its
    /// standard error, if any.
    fn run(&self, program: &Path, args: &[String]) -> (Option<i32>, String) {
        let out = Command::new(&self.launcher)
            .arg(program)
            .args(args)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            // No Gecko or Mono install prompts; no winedbg for a process that crashes (on
            // purpose, in the isolated run): wine then ends it as Windows would.
            .env("WINEDLLOVERRIDES", "mscoree,mshtml=;winedbg.exe=d")
            .output()
            .expect("run wine");
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.stderr.is_empty() {
            text.push_str("\n--- stderr ---\n");
            text.push_str(&String::from_utf8_lossy(&out.stderr));
        }
        (out.status.code(), text.replace("\r\n", "\n"))
    }
}

impl Drop for Wine {
    /// Stops this prefix's wine server, so that nothing outlives the test.
    fn drop(&mut self) {
        let _ = Command::new("wineserver")
            .arg("-k")
            .env("WINEPREFIX", &self.prefix)
            .status();
    }
}

/// `Z:\...`: how wine names a path of this machine.
fn win(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// The snapshot copies in the prefix's temporary directories (`xplug` in `%TEMP%`).
fn snapshot_copies(prefix: &Path) -> Vec<PathBuf> {
    let mut copies = Vec::new();
    for user in fs::read_dir(prefix.join("drive_c/users"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for temp in ["Temp", "AppData/Local/Temp"] {
            let dir = user.path().join(temp).join("xplug");
            for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
                if entry.path().extension().is_some_and(|e| e == "dll") {
                    copies.push(entry.path());
                }
            }
        }
    }
    copies
}

fn pe_machine_patched(from: &Path, to: &Path) {
    let mut bytes = fs::read(from).unwrap();
    let pe = u32::from_le_bytes(bytes[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(&bytes[pe..pe + 4], b"PE\0\0");
    bytes[pe + 4..pe + 6].copy_from_slice(&0xaa64u16.to_le_bytes()); // ARM64
    fs::write(to, bytes).unwrap();
}

#[test]
fn windows_dlls_load_under_wine_and_mismatches_are_refused_as_on_linux() {
    let (toolchain, launcher) = match (Toolchain::windows(), wine()) {
        (Ok(t), Some(w)) => (t, w),
        (t, w) => {
            let why = match (t, w) {
                (Err(e), _) => e,
                _ => String::from("wine is not installed: run .ci/install-toolchains"),
            };
            assert!(!in_ci(), "the Windows cell must run in CI, but: {why}");
            notice(&format!("windows: SKIPPED: {why}"));
            return;
        }
    };
    let built: BuiltPlugins = xtask::build(&toolchain).unwrap_or_else(|e| panic!("{e}"));
    let wine = Wine {
        launcher,
        // Kept between runs: creating a prefix takes seconds.
        prefix: xtask::target_dir().join("xplug-wine-prefix"),
    };
    let demo = built.program("demo");

    // Good plugins, in a directory whose name is not ASCII.
    let dir = crate::support::demo_plugins_dir(&built, "windows-plugins-été");
    let (code, out) = wine.run(&demo, &[win(&dir)]);
    crate::support::assert_demo_run(
        code,
        &out,
        &["target x86_64-pc-windows-gnu, panic = unwind", "été"],
    );

    // Plugins of 1.0, 1.1 and 1.2 in a host of 1.2.
    let next: Vec<String> = crate::hosts::NEXT_HOST_PLUGINS
        .iter()
        .map(|&f| win(&built.path(f)))
        .collect();
    let (code, out) = wine.run(&built.program("host-next"), &next);
    crate::hosts::check_next_host(code, &out, "windows");

    // Every mismatched DLL is refused with the same report as its Linux twin.
    crate::support::assert_refused_as_here(&built, "windows", |check, path| match check {
        true => wine.run(&demo, &[String::from("check"), win(path)]),
        false => wine.run(&demo, &[win(path)]),
    });

    // Stage 2 refuses a DLL for another machine, an executable, a truncated DLL.
    let odd = scratch("windows-stage2");
    let arm = odd.join("arm64.dll");
    pe_machine_patched(&built.path(Fixture::GreeterEn), &arm);
    let truncated = odd.join("truncated.dll");
    fs::write(
        &truncated,
        &fs::read(built.path(Fixture::GreeterEn)).unwrap()[..4096],
    )
    .unwrap();
    for (file, want) in [
        (arm, "built for aarch64, but this host runs on x86_64"),
        (demo.clone(), "an executable, not a shared library"),
        (truncated, "damaged PE file"),
    ] {
        let (code, out) = wine.run(&demo, &[String::from("check"), win(&file)]);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains(want), "`{want}` missing:\n{out}");
    }

    // Hot reload: the host installs counter-v2.dll over the loaded counter.dll while it runs
    // (Windows forbids replacing a loaded DLL; the loaded one is a private snapshot). The
    // watcher reloads it, the count carries over, a half-written copy is refused.
    let reload = scratch("windows-reload");
    fs::copy(built.path(Fixture::CounterV1), reload.join("counter.dll")).unwrap();
    let (code, out) = wine.run(
        &demo,
        &[
            String::from("reload"),
            win(&reload),
            win(&built.path(Fixture::CounterV2)),
        ],
    );
    // (The copy Windows keeps while a DLL is loaded can be removed once it left the process.)
    crate::support::assert_demo_reload(code, &out, "PE");
    // Windows keeps a loaded DLL's file until its process ends, so the copy of the generation
    // the run ended with outlived it; the next process that makes a copy removes it.
    let left = snapshot_copies(&wine.prefix);
    assert!(
        !left.is_empty(),
        "the reload run's last generation left no copy behind"
    );

    // Isolated: each greeter served by a process of its own (a loopback connection, the
    // snapshot a copy the process checks), printing what the in-process run prints but for
    // the callback; a plugin that writes through a null pointer crashes its process, not the
    // host, which reports it and restarts it.
    let isolated = scratch("windows-isolated");
    for fixture in [Fixture::GreeterEn, Fixture::GreeterFr] {
        let from = built.path(fixture);
        fs::copy(&from, isolated.join(from.file_name().unwrap())).unwrap();
    }
    let (code, inside) = wine.run(&demo, &[win(&isolated)]);
    assert_eq!(code, Some(0), "{inside}");
    let still: Vec<&PathBuf> = left.iter().filter(|copy| copy.exists()).collect();
    assert!(still.is_empty(), "copies an ended process left: {still:?}");
    let (code, outside) = wine.run(
        &demo,
        &[
            String::from("isolated"),
            win(&isolated),
            win(&built.path(Fixture::Hostile)),
        ],
    );
    assert_eq!(code, Some(0), "{outside}");
    crate::isolation::assert_printed_alike(inside.as_bytes(), outside.as_bytes());
    for want in [
        "crashed with status 0xC0000005 (STATUS_ACCESS_VIOLATION)",
        "meanwhile greeter-en",
        "(restarted: process",
    ] {
        assert!(outside.contains(want), "`{want}` missing:\n{outside}");
    }

    // Async: the clock plugin's futures awaited on the host's tokio runtime, which lends it
    // timers and spawns its task.
    let (code, out) = wine.run(
        &demo,
        &[String::from("async"), win(&built.path(Fixture::Clock))],
    );
    assert_eq!(code, Some(0), "{out}");
    crate::async_plugins::assert_demo_async_run(&out, "windows");

    // `xplug inspect` reads a DLL's header without loading it.
    let xplug = built.program("xplug");
    let (code, out) = wine.run(
        &xplug,
        &[
            String::from("inspect"),
            win(&built.path(Fixture::GreeterFr)),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("plugin     greeter-fr 0.2.1"), "{out}");
    assert!(out.contains("target     x86_64-pc-windows-gnu"), "{out}");
    notice(&format!(
        "windows: {} under wine: 5 DLLs load and answer right; 8 mismatched DLLs refused as on Linux; a loaded DLL replaced and reloaded; 2 DLLs served isolated as in-process, a crashing one restarted; an async DLL awaited on tokio",
        toolchain.rustc_version
    ));
}
