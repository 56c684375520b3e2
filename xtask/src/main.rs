//! `cargo xtask <task>`: repository tasks.
//!
//! - `demo`: builds the demo plugins and a mismatched one, then runs the demo host on them;
//!   then the hot-reload run, on the counter plugin.
//! - `plugins [COMPILER]`: builds every plugin and test fixture with one compiler of the
//!   compatibility matrix (default: the host's) and prints where they are; `windows` and
//!   `aarch64` build them, the demo host and the `xplug` tool for Windows and for aarch64
//!   Linux with Debian's rustc 1.63 (to run under wine and `qemu-aarch64`).
//! - `bench NAME [FILTER]`: builds the criterion benchmark `NAME` (`calls`, `loading`, ...)
//!   with its loops aligned to 64 bytes (the benchmark crate's, not the plugins'), then
//!   runs the benchmarks matching `FILTER`.
//! - `call-builds [GROUP]`: builds the `calls` benchmark five ways (its own code generation
//!   alone changes) and runs the `xplug` and `abi_stable` rows of `GROUP` (default: the 64-byte
//!   string call) in each, then prints xplug's time against abi_stable's, one build a row.
//! - `chart`: draws `docs/load-scaling.svg` from the estimates the `scaling` and `loading`
//!   benchmarks (the latter in a release and a debug host) left in the target directory.

mod chart;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use xtask::{build, target_dir, Compiler, Fixture, Toolchain};

/// The plugins the demo host finds in its plugin directory.
const DEMO_PLUGINS: [Fixture; 3] = [Fixture::GreeterEn, Fixture::GreeterFr, Fixture::ChangedType];

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "demo" => demo(),
        "plugins" => plugins(std::env::args().nth(2).as_deref()),
        "bench" => bench(std::env::args().skip(2).collect()),
        "call-builds" => call_builds(std::env::args().nth(2)),
        "chart" => chart::chart(
            &target_dir().join("criterion"),
            // The checkout run from, not the one this binary was first built in.
            &xtask::repo_root().join("docs").join("load-scaling.svg"),
        ),
        _ => Err(String::from(
            "usage: cargo xtask demo | cargo xtask plugins [host|nightly-randomize-layout|debian-1.85|debian-1.63|windows|aarch64] | cargo xtask bench NAME [FILTER] | cargo xtask call-builds [GROUP] | cargo xtask chart",
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds every plugin and fixture with one compiler of the matrix and prints where.
fn plugins(compiler: Option<&str>) -> Result<(), String> {
    let toolchain = match compiler {
        None => Compiler::Host.toolchain()?,
        Some("windows") => Toolchain::windows()?,
        Some("aarch64") => Toolchain::aarch64()?,
        Some(name) => Compiler::ALL
            .iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| format!("unknown compiler `{name}`"))?
            .toolchain()?,
    };
    let built = build(&toolchain)?;
    println!("{}", built.dir.display());
    Ok(())
}

fn demo() -> Result<(), String> {
    eprintln!("building the demo plugins (the first run takes a minute) ...");
    let built = build(&Toolchain::current())?;
    let dir: PathBuf = target_dir().join("xplug-demo").join("plugins");
    // A fresh directory each run, so that it holds exactly the demo's plugins.
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for fixture in DEMO_PLUGINS {
        let from = built.path(fixture);
        let to = dir.join(from.file_name().unwrap_or_default());
        fs::copy(&from, &to).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    run_demo(&[dir.as_os_str()])?;

    // Hot reload: the counter plugin's first release in a directory of its own; the host
    // installs the second over it while it runs.
    let reload: PathBuf = target_dir().join("xplug-demo").join("reload");
    let _ = fs::remove_dir_all(&reload);
    fs::create_dir_all(&reload).map_err(|e| format!("{}: {e}", reload.display()))?;
    let first = built.path(Fixture::CounterV1);
    let installed = reload.join(format!(
        "{}counter{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    fs::copy(&first, &installed).map_err(|e| format!("{}: {e}", first.display()))?;
    println!();
    run_demo(&[
        "reload".as_ref(),
        reload.as_os_str(),
        built.path(Fixture::CounterV2).as_os_str(),
    ])?;

    // Async: the clock plugin awaited on the host's tokio runtime.
    println!();
    run_demo(&["async".as_ref(), built.path(Fixture::Clock).as_os_str()])?;

    // Isolated: the same plugins, each in a process of its own, and one that crashes.
    if cfg!(unix) {
        println!();
        run_demo(&[
            "isolated".as_ref(),
            dir.as_os_str(),
            built.path(Fixture::Hostile).as_os_str(),
        ])?;
    }
    Ok(())
}

/// Builds one benchmark binary with its loops aligned, and runs it.
///
/// A call costs a few nanoseconds, so where the linker happens to place the measuring loop
/// shows: the same loop ran about a cycle slower when it crossed a 64-byte line (two builds
/// differing only in an unrelated function measured the same object call 1.00x and 1.12x
/// its baseline; aligned, both 1.00x). Aligning removes that, not every effect of the
/// harness's code generation (docs/performance.md). (`cargo bench` works as well, with the
/// placement left to chance; switching between the two rebuilds the benchmark.)
fn bench(args: Vec<String>) -> Result<(), String> {
    let (name, filter) = match args.as_slice() {
        [name] => (name, None),
        [name, filter] => (name, Some(filter.as_str())),
        _ => return Err(String::from("usage: cargo xtask bench NAME [FILTER]")),
    };
    let executable = build_bench(name, ALIGNED)?;
    run_bench(name, &executable, filter)
}

/// The loops of the benchmark crate aligned to 64 bytes.
const ALIGNED: &[&str] = &["-C", "llvm-args=-align-loops=64"];

/// The builds of the `calls` benchmark that `call-builds` compares: the benchmark crate's own
/// code generation changes (the plugins and the other crates stay as they are), and with it
/// how the host's code moves what a call returns. (The flags come after the `bench` profile's
/// own on rustc's command line, so `opt-level` and `codegen-units` here are the ones used.)
const CALL_BUILDS: [(&str, &[&str]); 5] = [
    ("loops aligned (cargo xtask bench)", ALIGNED),
    ("as cargo bench builds it", &[]),
    ("one codegen unit", &["-C", "codegen-units=1"]),
    ("opt-level 2", &["-C", "opt-level=2"]),
    ("this machine's CPU", &["-C", "target-cpu=native"]),
];

/// The groups of the `calls` benchmark with both an `xplug` and an `abi_stable` row.
const CALL_GROUPS: [&str; 3] = ["echo_64_byte_string", "add_u64", "sum_4_kib_slice"];

/// Builds the `calls` benchmark in each of [`CALL_BUILDS`], runs the `xplug` and `abi_stable`
/// rows of `group` (default: the 64-byte string call) in each, and prints xplug's time
/// against abi_stable's for every build, from the estimates criterion left.
fn call_builds(group: Option<String>) -> Result<(), String> {
    let group = group.unwrap_or_else(|| String::from(CALL_GROUPS[0]));
    if !CALL_GROUPS.contains(&group.as_str()) {
        return Err(format!(
            "`{group}` is not one of the call groups with an abi_stable row: {}",
            CALL_GROUPS.join(", ")
        ));
    }
    let filter = format!("^{group}/(xplug|abi_stable)$");
    let criterion = target_dir().join("criterion");
    let mut rows = Vec::new();
    for (build, flags) in CALL_BUILDS {
        eprintln!("xtask: the calls benchmark, {build}");
        let executable = build_bench("calls", flags)?;
        // Estimates left by an earlier run must not stand in for this build's.
        for row in ["xplug", "abi_stable"] {
            let _ = fs::remove_dir_all(criterion.join(&group).join(row).join("new"));
        }
        run_bench("calls", &executable, Some(&filter))?;
        let xplug = chart::mean_ns(&criterion, &[&group, "xplug"])?;
        let abi_stable = chart::mean_ns(&criterion, &[&group, "abi_stable"])?;
        rows.push((build, xplug, abi_stable));
    }
    println!("\n{group}: xplug against abi_stable, one build of the benchmark a row");
    println!("| build | ratio | xplug | abi_stable |\n|---|---|---|---|");
    for (build, xplug, abi_stable) in rows {
        println!(
            "| {build} | {:.2}x | {xplug:.1} ns | {abi_stable:.1} ns |",
            xplug / abi_stable
        );
    }
    Ok(())
}

/// Builds the criterion benchmark `name` of `xplug-benches` with `flags` given to rustc for
/// the benchmark crate alone; returns its executable.
fn build_bench(name: &str, flags: &[&str]) -> Result<PathBuf, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["rustc", "--package", "xplug-benches", "--profile", "bench"])
        .args([
            "--bench",
            name,
            "--message-format",
            "json-render-diagnostics",
        ])
        .arg("--")
        .args(flags)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("building the `{name}` benchmark failed"));
    }
    // The benchmark's artifact message names its executable (a JSON string: `\\` and `\"`
    // are the only escapes a path needs here).
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| line.contains("\"reason\":\"compiler-artifact\""))
        .filter(|line| line.contains("\"kind\":[\"bench\"]"))
        .filter_map(|line| json_string_after(line, "\"executable\":\""))
        .next_back()
        .map(PathBuf::from)
        .ok_or_else(|| format!("cargo named no executable for the `{name}` benchmark"))
}

/// Runs the benchmark `name`'s `executable` on the benchmarks matching `filter`.
fn run_bench(name: &str, executable: &Path, filter: Option<&str>) -> Result<(), String> {
    let status = Command::new(executable)
        .arg("--bench")
        .args(filter)
        .status()
        .map_err(|e| format!("{}: {e}", executable.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the `{name}` benchmark failed ({status})"))
    }
}

/// The JSON string that starts right after `key` in `line`, unescaped.
fn json_string_after(line: &str, key: &str) -> Option<String> {
    let rest = &line[line.find(key)? + key.len()..];
    let mut value = String::new();
    let mut chars = rest.chars();
    loop {
        match chars.next()? {
            '"' => return Some(value),
            '\\' => value.push(chars.next()?),
            c => value.push(c),
        }
    }
}

/// Runs the demo host with `args`.
fn run_demo(args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["run", "--quiet", "--package", "xplug-demo", "--"])
        .args(args)
        .status()
        .map_err(|e| format!("cannot run the demo host: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the demo host failed ({status})"))
    }
}
