//! `xplug new plugin`: for the demo's interface and for one laid out as an application's may
//! be (modules, renamed imports, `crate::` paths, an object, host services), the generated
//! crate builds without a warning, passes its own test as written, and loads in a host; and it
//! builds with the older compilers of the matrix, as its `rust-version` says.
// The tests run with the current compiler only; the crate itself builds with 1.63.
#![allow(clippy::incompatible_msrv)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use greeter_interface::GreeterRef;
use xplug_loader::Loader;
use xtask::{Compiler, Toolchain};

/// Kept between runs, so that the generated crates' dependencies build once.
fn work() -> PathBuf {
    xtask::target_dir().join("xplug-new")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn succeeded(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Runs `xplug new plugin --interface INTERFACE <work>/crates/NAME`; the crate's directory.
fn generate(interface: &Path, name: &str) -> PathBuf {
    let dir = work().join("crates").join(name);
    let _ = fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_xplug"))
        .args(["new", "plugin", "--interface"])
        .arg(interface)
        .arg(&dir)
        .output()
        .expect("run xplug");
    let out = succeeded(out, "xplug new plugin");
    let said = text(&out.stdout);
    assert!(said.contains(&format!("Created plugin `{name}`")), "{said}");
    assert!(
        out.stderr.is_empty(),
        "no warning expected:\n{}",
        text(&out.stderr)
    );
    dir
}

/// `cargo ARGS` in the generated crate `dir`, with the current toolchain, into `work()`.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(args)
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", work().join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo")
}

/// The generated crate passes `cargo test` as written, and nothing in it warns.
fn passes_its_test_without_warnings(dir: &Path) {
    let out = succeeded(cargo(dir, &["test"]), "cargo test in the generated crate");
    assert!(
        text(&out.stdout).contains("test the_plugin_loads_in_a_host ... ok"),
        "{}",
        text(&out.stdout)
    );
    // A second look at the crate's own code only: its warnings, if any, are printed again.
    fs::write(
        dir.join("src/lib.rs"),
        fs::read_to_string(dir.join("src/lib.rs")).unwrap(),
    )
    .unwrap();
    let out = succeeded(
        cargo(dir, &["build", "--all-targets"]),
        "cargo build in the generated crate",
    );
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("warning"), "{stderr}");
    // Formatted as rustfmt formats it.
    succeeded(
        Command::new("rustfmt")
            .args(["--check", "--edition", "2021"])
            .arg(dir.join("src/lib.rs"))
            .arg(dir.join("tests/load.rs"))
            .output()
            .expect("run rustfmt"),
        "rustfmt --check",
    );
}

fn contains_all(haystack: &str, needles: &[&str]) {
    for needle in needles {
        assert!(
            haystack.contains(needle),
            "`{needle}` missing from:\n{haystack}"
        );
    }
}

#[test]
fn a_plugin_for_the_demo_interface_builds_passes_its_test_and_loads() {
    let repo = xtask::repo_root();
    let dir = generate(&repo.join("examples/greeter-interface"), "new-greeter");
    let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    contains_all(
        &lib,
        &[
            "use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};",
            "use greeter_interface::{Callback, Counter, CounterBox, Greeter};",
            "pub struct NewGreeter;",
            "impl Greeter for NewGreeter {",
            // Every function, with its documentation, as `todo!()`.
            "    /// A greeting for `name`. Greeting nobody is a bug: plugins panic on an empty name.\n    \
             fn greet(_name: RStr<'_>) -> RString {\n        todo!()\n    }",
            "fn map(_values: RSlice<'_, i64>, _f: Callback) -> RVec<i64> {",
            "fn drive(_counter: &mut CounterBox, _times: u32) -> u64 {",
            // Appended functions too, without the interface's `since` attribute.
            "    /// `text`, shouted.\n    fn shout(_text: RStr<'_>) -> RString {",
            // The object the plugin returns, every method.
            "impl Counter for MyCounter {",
            "fn skip(&mut self, _steps: u64) -> u64 {",
            "fn reset(&mut self) -> u64 {",
            "The host's services (`GreeterHost`) are `NewGreeter::host()`",
            "xplug::export_plugin!(NewGreeter as Greeter);",
        ],
    );
    assert!(!lib.contains("#[xplug("), "{lib}");
    // Host services are the host's to implement.
    assert!(!lib.contains("impl GreeterHost"), "{lib}");
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    contains_all(
        &manifest,
        &[
            "name = \"new-greeter\"",
            "rust-version = \"1.63\"",
            "crate-type = [\"cdylib\", \"rlib\"]",
            "greeter-interface = { path = ",
            "xplug = { path = ",
            "abi_stable = \"0.11.3\"",
            "xplug-loader = { path = ",
            "panic = \"unwind\"",
        ],
    );

    passes_its_test_without_warnings(&dir);

    // A host loads it, and a function not yet written is a contained panic.
    let file = work()
        .join("target/debug/deps")
        .join(xplug_loader::tools::library_file_name("new_greeter"));
    let plugin = match Loader::<GreeterRef>::new().load(&file) {
        Ok(plugin) => plugin,
        Err(e) => panic!("{}", e.report()),
    };
    assert_eq!(plugin.info().name, "new-greeter");
    let e = plugin.add(1, 2).expect_err("add is todo!()");
    assert!(
        e.panic_message()
            .map_or(false, |m| m.contains("not yet implemented")),
        "{e}"
    );
}

#[test]
fn a_plugin_for_an_interface_with_modules_objects_and_host_services() {
    let interface =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interfaces/log-filter-interface");
    let dir = generate(&interface, "new-filter");
    let lib = fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    contains_all(
        &lib,
        &[
            // Imports as the interface's module has them: renamed, through `super::`, and the
            // interface's own items from the module that declares them.
            "use abi_stable::std_types::{RStr, RString as Text, RVec};",
            "use log_filter_interface::api::{Filter, FilterBox, LogFilter};",
            "use log_filter_interface::types::Record;",
            // `Tag` from the crate root's re-export: its own module is private.
            "use log_filter_interface::{types, Tag};",
            // The second object's names come from its module's glob import.
            "use abi_stable::std_types::*;",
            "use log_filter_interface::objects::Batch;",
            "impl LogFilter for NewFilter {",
            // A path through a dependency stays one; a `crate::` path names the crate.
            "fn filter(_spec: RStr<'_>) -> abi_stable::std_types::RResult<FilterBox, Text> {",
            "fn levels() -> RVec<log_filter_interface::types::Level> {",
            "fn prune(_records: RVec<Record>) -> RVec<Record> {",
            "impl Filter for MyFilter {",
            "    /// Whether `record` passes.\n    fn keep(&mut self, _record: &Record) -> bool {",
            "fn kept(&self) -> u64 {",
            "fn threshold(&self) -> types::Level {",
            "fn describe(&self) -> Text {",
            "fn batch(_records: RVec<Record>, _tag: Tag) -> log_filter_interface::objects::BatchBox {",
            // A raw identifier, unused for now.
            "fn levels_of(_type: RStr<'_>) -> u32 {",
            "impl Batch for MyBatch {",
            "fn messages(&self) -> RVec<RString> {",
            "The host's services (`FilterHost`) are `NewFilter::host()`",
            "xplug::export_plugin!(NewFilter as LogFilter);",
        ],
    );
    assert!(!lib.contains("impl FilterHost"), "{lib}");
    // The interface's examples are in its docs, and are no tests of the plugin's.
    assert!(lib.contains("/// ```"), "{lib}");
    let manifest = fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains("doctest = false"), "{manifest}");
    let test = fs::read_to_string(dir.join("tests/load.rs")).unwrap();
    contains_all(
        &test,
        &[
            "use log_filter_interface::api::LogFilterRef;",
            "Loader::<LogFilterRef>::new()",
            "assert_eq!(plugin.info().interface_name, \"log-filter\");",
        ],
    );

    passes_its_test_without_warnings(&dir);
}

#[test]
fn an_existing_directory_with_files_is_left_alone() {
    let dir = work().join("crates").join("occupied");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("keep.txt"), "mine").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xplug"))
        .args(["new", "plugin", "--interface"])
        .arg(xtask::repo_root().join("examples/greeter-interface"))
        .arg(&dir)
        .output()
        .expect("run xplug");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("exists and is not empty"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read_to_string(dir.join("keep.txt")).unwrap(), "mine");
    assert!(!dir.join("Cargo.toml").exists());

    // A generation that fails leaves nothing behind, beside it either.
    let parent = work().join("crates").join("failing");
    let _ = fs::remove_dir_all(&parent);
    fs::create_dir_all(&parent).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xplug"))
        .args(["new", "plugin", "--interface"])
        .arg(xtask::repo_root().join("examples/greeter-interface"))
        .arg("--xplug")
        .arg(parent.join("no-such-checkout"))
        .arg(parent.join("new-plugin"))
        .output()
        .expect("run xplug");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--xplug names a checkout of xplug"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(fs::read_dir(&parent).unwrap().count(), 0);
}

/// Whether this run is CI's (`CI` set and not `false`), where no test may skip.
fn in_ci() -> bool {
    std::env::var_os("CI").map_or(false, |v| !v.is_empty() && v != "false")
}

#[test]
fn the_generated_plugins_pass_their_tests_with_the_older_compilers_and_load_in_this_host() {
    let repo = xtask::repo_root();
    let crates = [
        generate(
            &repo.join("examples/greeter-interface"),
            "new-greeter-matrix",
        ),
        generate(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interfaces/log-filter-interface"),
            "new-filter-matrix",
        ),
    ];
    for dir in &crates {
        // The documented start for old compilers: the lockfile the tests' fixtures build with.
        fs::copy(
            repo.join("tests/fixtures/Cargo.lock"),
            dir.join("Cargo.lock"),
        )
        .unwrap();
    }
    for compiler in [
        Compiler::Debian185,
        Compiler::Debian163,
        Compiler::NightlyRandomized,
    ] {
        let toolchain = match compiler.toolchain() {
            Ok(toolchain) => toolchain,
            Err(why) => {
                assert!(
                    !(in_ci() && compiler.required_in_ci()),
                    "the generated plugins with {} must be built in CI, but: {why}",
                    compiler.name()
                );
                eprintln!(
                    "SKIPPED the generated plugins built by {}: {why}",
                    compiler.name()
                );
                continue;
            }
        };
        // Each passes its own test as generated, its host built by the same compiler.
        for dir in &crates {
            test_with(&toolchain, dir);
        }
        // And the demo interface's loads in this host, built by today's compiler.
        let file = xtask::target_dir()
            .join("xplug-plugins")
            .join(&toolchain.name)
            .join("debug/deps")
            .join(xplug_loader::tools::library_file_name("new_greeter_matrix"));
        let plugin = match Loader::<GreeterRef>::new().load(&file) {
            Ok(plugin) => plugin,
            Err(e) => panic!("built by {}: {}", toolchain.name, e.report()),
        };
        assert_eq!(plugin.info().name, "new-greeter-matrix");
        let version = toolchain
            .rustc_version
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        assert!(
            plugin.info().rustc.contains(&version),
            "{} built by {}",
            plugin.info().rustc,
            toolchain.rustc_version
        );
    }
}

/// `cargo test` in the crate in `dir` with `toolchain`, beside the fixtures it builds (their
/// dependencies are built there already).
fn test_with(toolchain: &Toolchain, dir: &Path) {
    let target_dir = xtask::target_dir()
        .join("xplug-plugins")
        .join(&toolchain.name);
    let mut cmd = Command::new(&toolchain.cargo);
    // `--tests`: each toolchain's cargo, rustc and test harness, but `rustdoc` is whichever
    // is first on `PATH`.
    cmd.args(&toolchain.args)
        .args(["test", "--tests"])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    // The fixtures' environment, so that their dependencies serve this build too.
    for (k, v) in xtask::plugins::environment(toolchain) {
        cmd.env(k, v);
    }
    let out = succeeded(
        cmd.output().expect("run cargo"),
        &format!("cargo test in {} with {}", dir.display(), toolchain.name),
    );
    assert!(
        text(&out.stdout).contains("test the_plugin_loads_in_a_host ... ok"),
        "{}",
        text(&out.stdout)
    );
}
