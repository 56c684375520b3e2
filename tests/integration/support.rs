//! Shared helpers: the built plugins, scratch directories, a loader.

use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

use greeter_interface::GreeterRef;
use xplug_loader::{Loader, Plugin};
use xtask::{BuiltPlugins, Toolchain};

/// Every plugin and fixture, built once per test run.
pub fn plugins() -> &'static BuiltPlugins {
    static BUILT: OnceLock<BuiltPlugins> = OnceLock::new();
    BUILT.get_or_init(|| match xtask::build(&Toolchain::current()) {
        Ok(built) => built,
        Err(e) => panic!("cannot build the test plugins: {e}"),
    })
}

/// The library file of a plugin or fixture, e.g. `plugin("greeter-en")`.
pub fn plugin(name: &str) -> PathBuf {
    let path = plugins().path(name);
    assert!(path.is_file(), "{} was not built", path.display());
    path
}

/// An empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// The host's loader for the demo interface.
pub fn loader() -> Loader<GreeterRef> {
    Loader::<GreeterRef>::new()
}

/// Loads a good plugin and checks that it works: the host is still healthy.
pub fn assert_good_plugin_works() {
    let en: Plugin<GreeterRef> = loader()
        .load(plugin("greeter-en"))
        .expect("greeter-en loads");
    assert_eq!(en.greet("Ada".into()).unwrap(), "Hello, Ada!");
    assert_eq!(en.add(40, 2).unwrap(), 42);
}

/// Whether the library at `path` is mapped into this process (Linux): proof that it was, or
/// was not, opened.
#[cfg(target_os = "linux")]
pub fn is_mapped(path: &std::path::Path) -> bool {
    let real = fs::canonicalize(path).expect("canonicalize");
    let maps = fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    maps.lines()
        .any(|l| l.ends_with(real.to_str().expect("UTF-8 path")))
}

/// Writes past the test harness's output capture, so that skips and results show in logs.
pub fn notice(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Whether this run is CI's (`CI` set and not `false`), where no test may skip.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}
