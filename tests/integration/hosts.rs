//! The grid of host and plugin compilers: the demo host built by each compiler of the matrix
//! loads the plugins built by each compiler. (The host built by the host's compiler is this
//! test process: `compilers.rs`.)
//!
//! Each host, a `demo` program built by its compiler, runs on a directory of the compatible
//! plugins built by each compiler: its output must be exactly what this process's build of
//! the demo prints for the same directory (every plugin loads, every function answers the
//! same), and its async run awaits the async plugin. Each mismatched fixture must be refused with the same report as this process
//! gives, but for the line naming the host's compiler.

use std::fs;
use std::path::Path;
use std::process::Command;

use xtask::{Compiler, Fixture};

use crate::compilers::{built_or_skip, COMPATIBLE, MISMATCHED};
use crate::support::{demo_refusal, facts_of, loader, notice, scratch};

/// Runs `program` with `args`: its exit code and its standard output.
fn run(program: &Path, args: &[&Path]) -> (Option<i32>, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn host_cell(host: Compiler) {
    let (toolchain, host_built) =
        match built_or_skip(host, &format!("the host cell {}", host.name())) {
            Some(built) => built,
            None => return,
        };
    let demo = host_built.program("demo");
    let mut cells = Vec::new();
    for plugins in Compiler::ALL {
        let what = format!(
            "the plugins of {} for the host {}",
            plugins.name(),
            host.name()
        );
        let (plugin_toolchain, plugins_built) = match built_or_skip(plugins, &what) {
            Some(built) => built,
            None => continue,
        };
        let cell = format!("host {} x plugins {}", host.name(), plugins.name());

        // The compatible plugins: the same output as this process's demo.
        let dir = scratch(&format!("grid-{}-{}", host.name(), plugins.name()));
        for &(fixture, _) in COMPATIBLE {
            let from = plugins_built.path(fixture);
            fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
        }
        let (code, out) = run(&demo, &[&dir]);
        assert_eq!(code, Some(0), "{cell}:\n{out}");
        let mut expected = Vec::new();
        xplug_demo::run(&dir, &mut expected).expect("this process's demo runs");
        // A plugin receives host services once, at its first load in a process: this
        // process may have loaded these plugins' bytes before, without services, so its demo
        // may hear the plugin's own word where the other host, a fresh process, hears its own.
        let heard = "translate(\"merci\")   -> Some(\"thanks (the host's word)\")";
        assert!(
            out.contains(heard),
            "{cell}: no plugin heard the host:\n{out}"
        );
        let unheard = |s: &str| s.replace(heard, "translate(\"merci\")   -> None");
        let (out, expected) = (
            unheard(&out),
            unheard(&String::from_utf8(expected).unwrap()),
        );
        assert_eq!(
            out, expected,
            "{cell}: the demo built by {} answers otherwise",
            toolchain.rustc_version
        );
        assert!(
            out.contains(&format!("{} plugin(s) loaded, 0 refused", COMPATIBLE.len())),
            "{cell}:\n{out}"
        );
        assert!(
            out.contains(&format!("built by {}", plugin_toolchain.rustc_version)),
            "{cell}:\n{out}"
        );

        // An async plugin, awaited on the host's tokio runtime that lends it timers and
        // spawns its task.
        let clock = plugins_built.path(Fixture::Clock);
        let (code, out) = run(&demo, &[Path::new("async"), &clock]);
        assert_eq!(code, Some(0), "{cell}:\n{out}");
        crate::async_plugins::assert_demo_async_run(&out, &cell);

        // The mismatched fixtures: the same report, but for the host's compiler.
        for &fixture in MISMATCHED {
            let file = plugins_built.path(fixture);
            let name = fixture.name();
            let scratch_name = format!("grid-{}-{}-{name}", host.name(), plugins.name());
            let out = demo_refusal(fixture, &file, &scratch_name, |check, path| match check {
                true => run(&demo, &[Path::new("check"), path]),
                false => run(&demo, &[path]),
            });
            let here = loader()
                .load(&file)
                .expect_err("refused by this process too");
            assert_eq!(
                facts_of(&out),
                facts_of(&here.report().to_string()),
                "{cell}, {name}: the report differs from this process's"
            );
        }
        cells.push(plugins.name());
    }
    notice(&format!(
        "grid: host {} ({}) x plugins of {}: {} plugins load and answer as in a host built by the host's compiler; an async plugin awaited; {} mismatched fixtures refused with the same reports",
        host.name(),
        toolchain.rustc_version,
        cells.join(", "),
        COMPATIBLE.len(),
        MISMATCHED.len()
    ));
}

/// Plugins of greeter 1.0, 1.1 and 1.2 in a host of 1.2 (`host-next`), all built by one
/// compiler, and what each must print: the 1.1 plugin asks the host's `setting` through the
/// longer services table of 1.2; the 1.2 plugin hears the service appended in 1.2; the host
/// calls the object method appended in 1.2, which older plugins' objects lack.
pub(crate) const NEXT_HOST_PLUGINS: [Fixture; 3] =
    [Fixture::OlderMinor, Fixture::GreeterEn, Fixture::NewerMinor];

/// Checks `host-next`'s output on [`NEXT_HOST_PLUGINS`].
pub(crate) fn check_next_host(code: Option<i32>, out: &str, cell: &str) {
    assert_eq!(code, Some(0), "{cell}:\n{out}");
    let missing_peek =
        "  counter(4).peek() -> plugin does not provide `Counter.peek`: it was built against an \
         interface older than 1.2";
    let expected = [
        "fixture-older-minor 0.1.0 (greeter 1.0.0): loaded",
        missing_peek,
        "greeter-en 0.3.0 (greeter 1.1.0): loaded",
        "  translate(\"merci\") -> Some(\"thanks (the 1.2 host's word)\")",
        missing_peek,
        "  log: INFO fixture_newer_minor: host service greeting_word: answered",
        "fixture-newer-minor 0.1.0 (greeter 1.2.0): loaded",
        "  counter(4).peek() -> 4",
    ];
    let mut lines = out.lines();
    for want in expected {
        assert!(
            lines.any(|line| line.starts_with(want)),
            "{cell}: `{want}` missing (in this order) from host-next's output:\n{out}"
        );
    }
}

/// `host-next`, a host of greeter 1.2 built by `compiler`, on the plugins of 1.0, 1.1 and 1.2
/// built by the same compiler.
fn next_host_cell(compiler: Compiler) {
    let cell = format!("the host of greeter 1.2 built by {}", compiler.name());
    let (toolchain, built) = match built_or_skip(compiler, &cell) {
        Some(built) => built,
        None => return,
    };
    let files: Vec<_> = NEXT_HOST_PLUGINS.iter().map(|&f| built.path(f)).collect();
    let args: Vec<&Path> = files.iter().map(|f| f.as_path()).collect();
    let (code, out) = run(&built.program("host-next"), &args);
    check_next_host(code, &out, &cell);
    notice(&format!(
        "newer host: greeter 1.2 built by {} serves plugins of 1.0, 1.1 and 1.2 what each knows",
        toolchain.rustc_version
    ));
}

#[test]
fn a_host_of_a_newer_minor_serves_each_older_plugin_what_it_knows() {
    for compiler in Compiler::ALL {
        next_host_cell(compiler);
    }
}

#[test]
fn a_host_built_by_nightly_with_randomized_layouts() {
    host_cell(Compiler::NightlyRandomized);
}

#[test]
fn a_host_built_by_debian_rustc_1_85() {
    host_cell(Compiler::Debian185);
}

#[test]
fn a_host_built_by_debian_rustc_1_63() {
    host_cell(Compiler::Debian163);
}
