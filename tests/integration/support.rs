//! Shared helpers: the built plugins, scratch directories, a loader.

use std::fs;
use std::path::{Path, PathBuf};

use std::sync::mpsc::RecvTimeoutError;
use std::time::Duration;

use greeter_interface::GreeterRef;
use xplug_loader::reload::{Event, Watcher};
use xplug_loader::{Loader, Plugin};
use xtask::{BuiltPlugins, Fixture};

/// How long a test waits for a watcher's event before it fails.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// The watcher's next event; fails the test if none comes within [`PATIENCE`].
pub(crate) fn next_event<M>(watcher: &Watcher<M>) -> Event {
    match watcher.events().recv_timeout(PATIENCE) {
        Ok(event) => event,
        Err(RecvTimeoutError::Timeout) => panic!("no watcher event within {PATIENCE:?}"),
        Err(RecvTimeoutError::Disconnected) => panic!("the watcher stopped"),
    }
}

/// `path` (absolute) named relative to the current directory, through `..` where it is
/// outside it.
pub(crate) fn relative_to_cwd(path: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap();
    let common = cwd
        .components()
        .zip(path.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut relative = PathBuf::new();
    for _ in cwd.components().skip(common) {
        relative.push("..");
    }
    relative.extend(path.components().skip(common));
    relative
}

/// Every plugin and fixture, built once per test run.
pub(crate) fn plugins() -> &'static BuiltPlugins {
    xtask::host_built()
}

/// The library file of a plugin or fixture, e.g. `plugin(Fixture::GreeterEn)`.
pub(crate) fn plugin(fixture: Fixture) -> PathBuf {
    let path = plugins().path(fixture);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// An empty directory for one test.
pub(crate) fn scratch(name: &str) -> PathBuf {
    xtask::scratch(Path::new(env!("CARGO_TARGET_TMPDIR")), name)
}

/// The host's loader for the demo interface.
pub(crate) fn loader() -> Loader<GreeterRef> {
    Loader::<GreeterRef>::new()
}

/// Loads a good plugin and checks that it works: the host is still healthy.
pub(crate) fn assert_good_plugin_works() {
    let en: Plugin<GreeterRef> = loader()
        .load(plugin(Fixture::GreeterEn))
        .expect("greeter-en loads");
    assert_eq!(en.greet("Ada".into()).unwrap(), "Hello, Ada!");
    assert_eq!(en.add(40, 2).unwrap(), 42);
}

/// Whether the library at `path`, or a snapshot of its bytes, is mapped into this process
/// (Linux): proof that it was, or was not, opened.
#[cfg(target_os = "linux")]
pub(crate) fn is_mapped(path: &std::path::Path) -> bool {
    let real = fs::canonicalize(path).expect("canonicalize");
    let bytes = fs::read(&real).expect("read the file");
    let snapshot = xplug_loader::tools::snapshot_name(&bytes);
    maps().lines().any(|l| {
        l.ends_with(real.to_str().expect("UTF-8 path"))
            || (l.contains(&snapshot) && mapped_file_holds(l, &bytes))
    })
}

/// Whether the file a line of `/proc/self/maps` maps holds exactly `bytes`: a snapshot's name
/// hashes only part of its bytes, so others may share it. Read through a descriptor of this
/// process open on the same file (a loaded snapshot keeps its own), or else through
/// `/proc/self/map_files` (which needs root).
#[cfg(target_os = "linux")]
fn mapped_file_holds(line: &str, bytes: &[u8]) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mut fields = line.split_whitespace();
    let range = fields.next().unwrap_or_default();
    let inode: u64 = fields.nth(3).and_then(|i| i.parse().ok()).unwrap_or(0);
    let descriptor = fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .filter_map(|entry| Some(entry.ok()?.path()))
        .find(|path| {
            fs::read_link(path).is_ok_and(|target| target.to_string_lossy().starts_with("/memfd:"))
                && fs::metadata(path).is_ok_and(|meta| meta.ino() == inode)
        });
    if let Some(descriptor) = descriptor {
        return fs::read(descriptor).is_ok_and(|held| held == bytes);
    }
    match fs::read(format!("/proc/self/map_files/{range}")) {
        Ok(held) => held == bytes,
        // Unmapped meanwhile.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => panic!("cannot read /proc/self/map_files/{range} ({e}): run the tests as root"),
    }
}

/// How many of this process's descriptors are sealed snapshots of `bytes` (Linux).
#[cfg(target_os = "linux")]
pub(crate) fn snapshot_descriptors(bytes: &[u8]) -> usize {
    let snapshot = xplug_loader::tools::snapshot_name(bytes);
    fs::read_dir("/proc/self/fd")
        .expect("list /proc/self/fd")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let target = fs::read_link(&path).ok()?;
            Some((path, target))
        })
        .filter(|(path, target)| {
            target.to_string_lossy().starts_with(&snapshot)
                && fs::read(path).is_ok_and(|held| held == bytes)
        })
        .count()
}

/// This process's memory map (Linux).
#[cfg(target_os = "linux")]
pub(crate) fn maps() -> String {
    fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps")
}

/// Writes past the test harness's output capture, so that skips and results show in logs.
pub(crate) fn notice(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether this run is CI's (`CI` set and not `false`), where no test may skip.
pub(crate) fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// A load report without what depends on the machine and the host: the path line, the
/// compilers' versions, the host's compiler, panic locations.
pub(crate) fn facts_of(report: &str) -> String {
    report
        .lines()
        .skip(1)
        .map(|l| {
            let mut l = l.to_owned();
            for (from, to) in [("rustc 1.63.0", "rustc X"), ("rustc 1.95.0", "rustc X")] {
                l = l.replace(from, to);
            }
            // The host's compiler differs by platform here; keep the rest of the line.
            if let Some(i) = l.find("; host built by") {
                l.truncate(i);
            }
            // A panic location names the source file in the platform's own syntax.
            if l.trim_start().starts_with("at ") {
                l = String::from("at [LOCATION]");
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How a demo host built elsewhere reports the mismatched `fixture` (its file `file`): by
/// `demo check FILE` (exit code 1), or, for the fixtures whose `on_load` fails (`check` stops
/// before it), by loading a directory holding only that file (exit code 0, the report
/// printed among the rest). `run(check, path)` runs the demo with `check PATH` or `PATH`.
pub(crate) fn demo_refusal(
    fixture: xtask::Fixture,
    file: &std::path::Path,
    scratch_name: &str,
    mut run: impl FnMut(bool, &std::path::Path) -> (Option<i32>, String),
) -> String {
    use xtask::Fixture;
    let name = fixture.name();
    if matches!(fixture, Fixture::InitPanic | Fixture::InitError) {
        let one = scratch(scratch_name);
        fs::copy(file, one.join(file.file_name().unwrap())).unwrap();
        let (code, out) = run(false, &one);
        assert_eq!(code, Some(0), "{name}: {out}");
        let start = out.find("error: plugin rejected").unwrap_or(0);
        out[start..].trim_end().to_owned()
    } else {
        let (code, out) = run(true, file);
        assert_eq!(code, Some(1), "{name}: {out}");
        out.trim_end().to_owned()
    }
}

/// Every mismatched fixture of `built` (a cell's build: Windows, aarch64) refused by the demo
/// host that `run` runs (as [`demo_refusal`] calls it), with the same facts as this host's
/// report of its own build of the fixture.
pub(crate) fn assert_refused_as_here(
    built: &xtask::BuiltPlugins,
    cell: &str,
    mut run: impl FnMut(bool, &std::path::Path) -> (Option<i32>, String),
) {
    use xtask::Fixture;
    for &fixture in crate::compilers::MISMATCHED
        .iter()
        .chain(&[Fixture::NoRootModule])
    {
        let name = fixture.name();
        let out = demo_refusal(
            fixture,
            &built.path(fixture),
            &format!("{cell}-{name}"),
            &mut run,
        );
        let here = loader()
            .load(plugin(fixture))
            .expect_err("refused here too");
        assert_eq!(
            facts_of(&out),
            facts_of(&here.report().to_string()),
            "{name}: the {cell} report differs from this host's"
        );
    }
}

/// The good plugins the demo host runs in each cell built for another platform.
pub(crate) const DEMO_PLUGINS: [xtask::Fixture; 5] = [
    xtask::Fixture::GreeterEn,
    xtask::Fixture::GreeterFr,
    xtask::Fixture::OlderMinor,
    xtask::Fixture::NewerMinor,
    xtask::Fixture::FrozenAbi1,
];

/// What the demo host prints on [`DEMO_PLUGINS`] on every platform: they load and answer,
/// contain their panics, make and take objects, call host services, log.
pub(crate) const DEMO_LINES: &[&str] = &[
    "5 plugin(s) loaded, 0 refused",
    "plugin greeter-en 0.3.0",
    "built by rustc 1.63.0",
    "greet(\"Ada\")         -> Hello, Ada!",
    "greet(\"Ada\")         -> Bonjour, Ada !",
    "add(2, 40)           -> 42",
    "words(..)            -> [\"dog\", \"lazy\", \"quick\", \"the\"]",
    "map([1,2,3], double) -> [2, 4, 6]",
    "counter(5).next() x2 -> 6, 7",
    "counter(5).next() x2 -> 15, 25",
    "translate(\"merci\")   -> Some(\"thanks (the host's word)\")",
    "counter.skip(0)      -> contained: plugin function `Counter.skip` panicked: cannot skip zero steps",
    "counter.reset()      -> plugin does not provide `Counter.reset`",
    "drive(host's, 3)     -> 103",
    "host service greeting_word: missing",
    "interface greeter 1.1.0+abi1",
    "log: INFO greeter_en: greeting Ada",
    "parse_number(\"12x\") -> error: `12x` is not a number",
    "greet(\"\")            -> contained: plugin greeter-en 0.3.0 panicked in `greet`: cannot greet an empty name (at examples/plugins/greeter-en/src/lib.rs:",
    "translate(\"merci\")   -> Some(\"thanks\")",
    "counter.reset()      -> 7",
    "counter.reset()      -> 25",
    "xplug 0.1.0+abi1",
    "log: INFO greeter_fr: salutation de Ada",
    "shout(\"hi\")          -> HI!",
    "shout(\"hi\")          -> plugin does not provide `shout`",
];

/// A scratch directory `name` holding a cell's builds of [`DEMO_PLUGINS`].
pub(crate) fn demo_plugins_dir(built: &xtask::BuiltPlugins, name: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    for fixture in DEMO_PLUGINS {
        let from = built.path(fixture);
        fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    dir
}

/// Checks a cell's demo run on [`DEMO_PLUGINS`]: it succeeded and printed [`DEMO_LINES`] and
/// the cell's own lines `here`.
pub(crate) fn assert_demo_run(code: Option<i32>, out: &str, here: &[&str]) {
    assert_eq!(code, Some(0), "{out}");
    for want in DEMO_LINES.iter().chain(here) {
        assert!(
            out.contains(want),
            "`{want}` missing from the demo's output:\n{out}"
        );
    }
}

/// Checks a cell's run of `demo reload DIR NEXT` (counter v1 in `DIR`, v2 installed over it
/// while calls run): the watcher reloads it, the count carries over, a half-written copy
/// (damaged `format` file: `ELF`, `PE`) is refused while generation 2 serves, generation 1
/// is unloaded and leaves the process, and no call failed meanwhile.
pub(crate) fn assert_demo_reload(code: Option<i32>, out: &str, format: &str) {
    assert_eq!(code, Some(0), "{out}");
    let refused = format!("refused: damaged {format} file");
    for want in [
        "loaded counter-v1 1.0.0",
        "counter-v1 1.0.0: next() -> 1, 2, 3",
        "generation 1 -> 2, counter-v2 2.0.0",
        "counter-v2 2.0.0: next() -> 4 (the count carried over)",
        &refused,
        "generation 2 keeps serving",
        "generation 1 unloaded: its code and memory left the process",
        "counter-v2 2.0.0: next() -> 6",
        "meanwhile, 0 failed",
    ] {
        assert!(
            out.contains(want),
            "`{want}` missing from the reload run:\n{out}"
        );
    }
}

/// A counter the host makes and hands to plugins; past `u64::MAX` its `next` panics.
pub(crate) struct Upward(pub(crate) u64);

impl greeter_interface::Counter for Upward {
    fn next(&mut self) -> u64 {
        self.0 = self.0.checked_add(1).expect("the counter is at its end");
        self.0
    }
    fn skip(&mut self, steps: u64) -> u64 {
        self.0 = self.0.wrapping_add(steps);
        self.0
    }
    fn reset(&mut self) -> u64 {
        std::mem::take(&mut self.0)
    }
}
