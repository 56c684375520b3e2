//! The compilers of the compatibility matrix, and how to run each one's cargo.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The compilers of the compatibility matrix: plugins built by each must load in a host
/// built by the host's compiler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compiler {
    /// The compiler building this program (rustup's stable in CI): the host's own.
    Host,
    /// rustup's nightly with `-Zrandomize-layout`, which shuffles every non-`repr(C)` type.
    NightlyRandomized,
    /// Debian's `rustc-web` 1.85.0 (`/usr/bin/rustc`).
    Debian185,
    /// Debian's `rustc` 1.63.0, unpacked into `$XPLUG_RUST_1_63` (default
    /// `/opt/xplug/rust-1.63`) by `.ci/install-toolchains`.
    Debian163,
}

impl Compiler {
    /// Every cell of the matrix.
    pub const ALL: [Compiler; 4] = [
        Compiler::Host,
        Compiler::NightlyRandomized,
        Compiler::Debian185,
        Compiler::Debian163,
    ];

    /// A short name, also the build directory's.
    pub fn name(self) -> &'static str {
        match self {
            Compiler::Host => "host",
            Compiler::NightlyRandomized => "nightly-randomize-layout",
            Compiler::Debian185 => "debian-1.85",
            Compiler::Debian163 => "debian-1.63",
        }
    }

    /// Whether CI must run this cell (nightly may be absent from a machine).
    pub fn required_in_ci(self) -> bool {
        self != Compiler::NightlyRandomized
    }

    /// The toolchain, or why this machine does not have it.
    pub fn toolchain(self) -> Result<Toolchain, String> {
        match self {
            Compiler::Host => Ok(Toolchain::current()),
            Compiler::NightlyRandomized => {
                let which = |tool: &str| -> Result<PathBuf, String> {
                    let out = Command::new("rustup")
                        .args(["which", "--toolchain", "nightly", tool])
                        .output()
                        .map_err(|e| format!("rustup is not available ({e})"))?;
                    if !out.status.success() {
                        return Err(String::from("rustup has no nightly toolchain"));
                    }
                    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
                };
                let rustc = which("rustc")?;
                Toolchain::probe(
                    self,
                    which("cargo")?,
                    vec![
                        (String::from("RUSTC"), rustc.display().to_string()),
                        (
                            String::from("RUSTFLAGS"),
                            String::from("-Zrandomize-layout"),
                        ),
                    ],
                    Vec::new(),
                    &rustc,
                    "",
                )
            }
            Compiler::Debian185 => Toolchain::probe(
                self,
                PathBuf::from("/usr/bin/cargo"),
                vec![(String::from("RUSTC"), String::from("/usr/bin/rustc"))],
                Vec::new(),
                Path::new("/usr/bin/rustc"),
                "rustc 1.85.",
            ),
            Compiler::Debian163 => {
                let dir = std::env::var_os("XPLUG_RUST_1_63")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from("/opt/xplug/rust-1.63"));
                let lib = dir.join("usr/lib/x86_64-linux-gnu");
                let rustc = dir.join("usr/bin/rustc");
                Toolchain::probe(
                    self,
                    dir.join("usr/bin/cargo"),
                    vec![
                        (String::from("LD_LIBRARY_PATH"), lib.display().to_string()),
                        (String::from("RUSTC"), rustc.display().to_string()),
                        // Cargo 0.66 reaches crates.io only through the (then unstable)
                        // sparse index.
                        (
                            String::from("__CARGO_TEST_CHANNEL_OVERRIDE_DO_NOT_USE_THIS"),
                            String::from("nightly"),
                        ),
                    ],
                    vec![String::from("-Zsparse-registry")],
                    &rustc,
                    "rustc 1.63.",
                )
            }
        }
    }
}

/// A toolchain to build plugins with.
#[derive(Clone, Debug)]
pub struct Toolchain {
    /// A short name, used for the build directory.
    pub name: String,
    /// The `cargo` to run.
    pub cargo: PathBuf,
    /// Extra environment for it.
    pub env: Vec<(String, String)>,
    /// Extra arguments before `build`.
    pub args: Vec<String>,
    /// `rustc --version`.
    pub rustc_version: String,
    /// The target triple to build for, when not the machine's own.
    pub target: Option<String>,
    /// The host programs to build too, beside the plugins: the demo host (a host built by
    /// this compiler, for the grid of host and plugin compilers), the host of greeter 1.2
    /// (`host-next`) and, for a target where the host's own build cannot run (Windows under
    /// wine), the `xplug` tool.
    pub hosts: &'static [&'static str],
}

impl Toolchain {
    /// The toolchain running this program (`$CARGO`, else `cargo` on `PATH`).
    pub fn current() -> Toolchain {
        let rustc_version = Command::new("rustc")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Toolchain {
            name: String::from(Compiler::Host.name()),
            cargo: std::env::var_os("CARGO")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("cargo")),
            env: Vec::new(),
            args: Vec::new(),
            rustc_version,
            target: None,
            // The test suites themselves are this compiler's hosts of greeter 1.1; its host of
            // 1.2 is a program.
            hosts: &["host-next"],
        }
    }

    /// Debian's rustc 1.63 building plugins, fixtures, the demo host and the `xplug` tool for
    /// `x86_64-pc-windows-gnu` (linked by MinGW), the only Windows toolchain Debian offers.
    pub fn windows() -> Result<Toolchain, String> {
        Toolchain::debian_163_for(
            "x86_64-pc-windows-gnu",
            "libstd-rust-dev-windows",
            ("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64"),
            "debian-1.63-windows",
        )
    }

    /// Debian's rustc 1.63 building plugins, fixtures, the demo host and the `xplug` tool for
    /// `aarch64-unknown-linux-gnu` (Debian's arm64 std, linked by its cross gcc), to run under
    /// `qemu-aarch64`.
    pub fn aarch64() -> Result<Toolchain, String> {
        Toolchain::debian_163_for(
            "aarch64-unknown-linux-gnu",
            "libstd-rust-dev:arm64",
            ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
            "debian-1.63-aarch64",
        )
    }

    /// Debian's rustc 1.63 building for `target`, whose std Debian's package `std_package`
    /// put in its sysroot, linked by `linker` (of the package named beside it), with the
    /// hosts: the build directory is `name`.
    fn debian_163_for(
        target: &str,
        std_package: &str,
        (linker, linker_package): (&str, &str),
        name: &str,
    ) -> Result<Toolchain, String> {
        let mut t = Compiler::Debian163.toolchain()?;
        let sysroot = t
            .env
            .iter()
            .find(|(k, _)| k == "RUSTC")
            .map(|(_, v)| PathBuf::from(v))
            .and_then(|rustc| Some(rustc.parent()?.parent()?.to_path_buf()))
            .ok_or("no rustc")?;
        let std = sysroot.join("lib/rustlib").join(target);
        if !std.is_dir() {
            return Err(format!(
                "{} is missing (Debian's {std_package} 1.63): run .ci/install-toolchains",
                std.display()
            ));
        }
        if Command::new(linker).arg("--version").output().is_err() {
            return Err(format!(
                "{linker} is missing (Debian's {linker_package}): run .ci/install-toolchains"
            ));
        }
        t.name = name.to_owned();
        t.env.push((
            format!(
                "CARGO_TARGET_{}_LINKER",
                target.to_uppercase().replace('-', "_")
            ),
            linker.to_owned(),
        ));
        t.target = Some(target.to_owned());
        t.hosts = &["xplug-demo", "xplug-cli", "host-next"];
        Ok(t)
    }

    /// Checks that `rustc` runs and reports a version starting with `expect`.
    fn probe(
        compiler: Compiler,
        cargo: PathBuf,
        env: Vec<(String, String)>,
        args: Vec<String>,
        rustc: &Path,
        expect: &str,
    ) -> Result<Toolchain, String> {
        let hint = "run .ci/install-toolchains (as root, on Debian bookworm)";
        if !cargo.is_file() {
            return Err(format!("{} is not installed: {hint}", cargo.display()));
        }
        let out = Command::new(rustc)
            .arg("--version")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .map_err(|e| format!("cannot run {}: {e}; {hint}", rustc.display()))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() || !version.starts_with(expect) {
            return Err(format!(
                "{} is `{version}`, not {expect}*: {hint}",
                rustc.display()
            ));
        }
        Ok(Toolchain {
            name: compiler.name().to_owned(),
            cargo,
            env,
            args,
            rustc_version: version,
            target: None,
            hosts: &["xplug-demo", "host-next"],
        })
    }
}
