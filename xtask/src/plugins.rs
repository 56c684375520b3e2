//! Building the fixtures' workspace with one toolchain, in one cargo run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::fixtures::{self, Fixture};
use crate::toolchains::Toolchain;

/// The packages of the fixtures' workspace that are hosts, built only for a toolchain that
/// lists them in [`Toolchain::hosts`].
const HOSTS: [&str; 3] = ["xplug-demo", "xplug-cli", "host-next"];

/// The built plugins of one toolchain.
#[derive(Clone, Debug)]
pub struct BuiltPlugins {
    /// The directory holding the built libraries (and programs, for a toolchain with hosts).
    pub dir: PathBuf,
    /// Whether they were built for Windows.
    pub windows: bool,
}

impl BuiltPlugins {
    /// The library file of a fixture.
    pub fn path(&self, fixture: Fixture) -> PathBuf {
        let name = fixture.name();
        let (prefix, suffix) = if self.windows {
            ("", ".dll")
        } else {
            (std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX)
        };
        self.dir
            .join(format!("{}{}{}", prefix, name.replace('-', "_"), suffix))
    }

    /// A program built with the hosts (`demo`, `xplug`).
    pub fn program(&self, name: &str) -> PathBuf {
        let suffix = if self.windows {
            ".exe"
        } else {
            std::env::consts::EXE_SUFFIX
        };
        self.dir.join(format!("{name}{suffix}"))
    }
}

/// The environment of a build with `toolchain` into its directory of `target/xplug-plugins/`:
/// the toolchain's, and `RUSTFLAGS` that every build there shares (other flags would rebuild
/// every dependency).
pub fn environment(toolchain: &Toolchain) -> Vec<(String, String)> {
    // Panic locations that read from the repository root: rustc names the fixtures' sources
    // relative to their workspace (`plugins/greeter-en/../../../../examples/plugins/...` for a
    // demo plugin built from `examples/`), which this prefixes with the workspace's place in
    // the repository; hosts resolve the `..` (`examples/plugins/greeter-en/src/lib.rs`).
    let mut rustflags = vec![String::from(
        "--remap-path-prefix=plugins=tests/fixtures/plugins",
    )];
    let mut env = Vec::new();
    for (k, v) in &toolchain.env {
        match k.as_str() {
            "RUSTFLAGS" => rustflags.push(v.clone()),
            _ => env.push((k.clone(), v.clone())),
        }
    }
    env.push((String::from("RUSTFLAGS"), rustflags.join(" ")));
    env
}

/// Builds every fixture (and the hosts the toolchain lists: the demo host, the `xplug` tool)
/// with `toolchain`, in one cargo run, into `target/xplug-plugins/<toolchain>/`.
pub fn build(toolchain: &Toolchain) -> Result<BuiltPlugins, String> {
    let target_dir = crate::target_dir()
        .join("xplug-plugins")
        .join(&toolchain.name);
    let mut cmd = Command::new(&toolchain.cargo);
    cmd.args(&toolchain.args)
        .arg("build")
        .arg("--workspace")
        // The committed lockfile serves every compiler: none may rewrite it.
        .arg("--locked")
        .arg("--manifest-path")
        .arg(fixtures::workspace().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .args(
            toolchain
                .target
                .iter()
                .flat_map(|t| ["--target", t.as_str()]),
        )
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for host in HOSTS {
        if !toolchain.hosts.contains(&host) {
            cmd.args(["--exclude", host]);
        }
    }
    for (k, v) in environment(toolchain) {
        cmd.env(k, v);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {}", toolchain.cargo.display(), e))?;
    if !out.status.success() {
        return Err(format!(
            "building the plugins with {} failed:\n{}",
            toolchain.name,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let dir = match &toolchain.target {
        Some(target) => target_dir.join(target).join("debug"),
        None => target_dir.join("debug"),
    };
    Ok(BuiltPlugins {
        windows: toolchain
            .target
            .as_deref()
            .map_or(cfg!(windows), |t| t.contains("windows")),
        dir,
    })
}

/// Every fixture built by the toolchain running this program, once per process: what the
/// test suites load.
pub fn host_built() -> &'static BuiltPlugins {
    static BUILT: OnceLock<BuiltPlugins> = OnceLock::new();
    BUILT.get_or_init(|| match build(&Toolchain::current()) {
        Ok(built) => built,
        Err(e) => panic!("cannot build the test plugins: {e}"),
    })
}

/// An empty directory `name` under `root` (a test's `CARGO_TARGET_TMPDIR`).
pub fn scratch(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a scratch directory");
    dir
}
