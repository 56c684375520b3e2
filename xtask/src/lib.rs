//! Builds the repository's plugins: the demo plugins and the test fixtures.
//!
//! Every fixture is the demo's `greeter-en` plugin, or the `greeter` interface it is built
//! against, with exactly one documented change (see [`FIXTURES`]). They are generated into one
//! cargo workspace under `target/xplug-plugins/<toolchain>/` and built by a single cargo
//! invocation, whose target directory later runs reuse.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the repository root")
        .to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR`, else `target/` in the repository.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join("target"),
    }
}

/// A change to a source file: replace `from` (which must occur) with `to`.
#[derive(Clone, Copy, Debug)]
pub struct Edit {
    /// Text that must occur in the file.
    pub from: &'static str,
    /// Its replacement.
    pub to: &'static str,
}

/// A variant of the `greeter` interface crate.
#[derive(Clone, Copy, Debug)]
pub struct InterfaceVariant {
    /// The crate version it claims.
    pub version: &'static str,
    /// Changes to `examples/greeter-interface/src/lib.rs`.
    pub edits: &'static [Edit],
}

/// A plugin crate built from the demo's plugin sources.
#[derive(Clone, Copy, Debug)]
pub struct PluginSpec {
    /// The package name; the library is named after it.
    pub name: &'static str,
    /// The package version.
    pub version: &'static str,
    /// The demo plugin it starts from (`greeter-en` or `greeter-fr`).
    pub base: &'static str,
    /// The interface it is built against; `None` is the demo interface itself.
    pub interface: Option<(&'static str, InterfaceVariant)>,
    /// Changes to the plugin's `src/lib.rs`.
    pub edits: &'static [Edit],
    /// What this plugin is for.
    pub purpose: &'static str,
}

const EN_IMPL: &str = "impl Greeter for English {\n";

const SHOUT_DECL: &str = "    /// `text`, shouted.
    #[xplug(since = \"1.1\")]
    fn shout(text: RStr<'_>) -> RString;
";
const SHOUT_IMPL: &str = "
    fn shout(text: RStr<'_>) -> RString {
        format!(\"{}!\", text.as_str().to_uppercase()).into()
    }
";
const WORDS_DECL: &str = "    /// The distinct words of `text`, sorted.
    fn words(text: RStr<'_>) -> RVec<RString>;
";
const WORDS_IMPL: &str = "
    fn words(text: RStr<'_>) -> RVec<RString> {
        let mut words: Vec<&str> = text.as_str().split_whitespace().collect();
        words.sort_unstable();
        words.dedup();
        words.into_iter().map(RString::from).collect()
    }
";

/// Every plugin the tests and the demo use.
pub const FIXTURES: &[PluginSpec] = &[
    PluginSpec {
        name: "greeter-en",
        version: "0.3.0",
        base: "greeter-en",
        interface: None,
        edits: &[],
        purpose: "demo plugin, English",
    },
    PluginSpec {
        name: "greeter-fr",
        version: "0.2.1",
        base: "greeter-fr",
        interface: None,
        edits: &[],
        purpose: "demo plugin, French, with an on_load hook",
    },
    PluginSpec {
        name: "fixture-wrong-interface",
        version: "0.1.0",
        base: "greeter-en",
        interface: Some((
            "renamed",
            InterfaceVariant {
                version: "1.1.0+renamed",
                edits: &[Edit {
                    from: "#[xplug::interface(name = \"greeter\")]",
                    to: "#[xplug::interface(name = \"farewell\")]",
                }],
            },
        )),
        edits: &[],
        purpose: "implements an interface named `farewell`",
    },
    PluginSpec {
        name: "fixture-major",
        version: "0.1.0",
        base: "greeter-en",
        interface: Some((
            "v2",
            InterfaceVariant {
                version: "2.0.0",
                edits: &[],
            },
        )),
        edits: &[],
        purpose: "built against greeter 2.0.0",
    },
    PluginSpec {
        name: "fixture-older-minor",
        version: "0.1.0",
        base: "greeter-en",
        interface: Some((
            "v1_0",
            InterfaceVariant {
                version: "1.0.0",
                edits: &[Edit {
                    from: SHOUT_DECL,
                    to: "",
                }],
            },
        )),
        edits: &[Edit {
            from: SHOUT_IMPL,
            to: "",
        }],
        purpose: "built against greeter 1.0.0, before `shout` was appended",
    },
    PluginSpec {
        name: "fixture-newer-minor",
        version: "0.1.0",
        base: "greeter-en",
        interface: Some((
            "v1_2",
            InterfaceVariant {
                version: "1.2.0",
                edits: &[Edit {
                    from: SHOUT_DECL,
                    to: "    /// `text`, shouted.
    #[xplug(since = \"1.1\")]
    fn shout(text: RStr<'_>) -> RString;
    /// `text`, whispered.
    #[xplug(since = \"1.2\")]
    fn whisper(text: RStr<'_>) -> RString;
",
                }],
            },
        )),
        edits: &[Edit {
            from: EN_IMPL,
            to: "impl Greeter for English {
    fn whisper(text: RStr<'_>) -> RString {
        text.as_str().to_lowercase().into()
    }
",
        }],
        purpose: "built against greeter 1.2.0, which appends `whisper`",
    },
    PluginSpec {
        name: "fixture-changed-type",
        version: "0.1.0",
        base: "greeter-en",
        interface: Some((
            "changed_type",
            InterfaceVariant {
                version: "1.1.0+changed-type",
                edits: &[Edit {
                    from: "fn add(a: u32, b: u32) -> u32;",
                    to: "fn add(a: u64, b: u64) -> u64;",
                }],
            },
        )),
        edits: &[Edit {
            from: "fn add(a: u32, b: u32) -> u32 {",
            to: "fn add(a: u64, b: u64) -> u64 {",
        }],
        purpose: "claims greeter 1.1.0, but `add` takes u64",
    },
    PluginSpec {
        name: "fixture-changed-nested",
        version: "0.1.0",
        base: "greeter-en",
        interface: Some((
            "changed_nested",
            InterfaceVariant {
                version: "1.1.0+changed-nested",
                edits: &[Edit {
                    from: "pub struct Callback(pub extern \"C\" fn(i64) -> i64);",
                    to: "pub struct Callback(pub extern \"C\" fn(i32) -> i32);",
                }],
            },
        )),
        edits: &[Edit {
            from: ".map(|&v| (f.0)(v))",
            to: ".map(|&v| i64::from((f.0)(v as i32)))",
        }],
        purpose: "claims greeter 1.1.0, but the callback inside `map`'s parameter changed",
    },
    PluginSpec {
        name: "fixture-removed-fn",
        version: "0.1.0",
        base: "greeter-en",
        interface: Some((
            "removed_fn",
            InterfaceVariant {
                version: "1.1.0+removed-fn",
                edits: &[Edit {
                    from: WORDS_DECL,
                    to: "",
                }],
            },
        )),
        edits: &[Edit {
            from: WORDS_IMPL,
            to: "",
        }],
        purpose: "claims greeter 1.1.0, but `words` was removed",
    },
    PluginSpec {
        name: "fixture-init-panic",
        version: "0.1.0",
        base: "greeter-en",
        interface: None,
        edits: &[Edit {
            from: EN_IMPL,
            to: "impl Greeter for English {
    fn on_load() -> Result<(), String> {
        panic!(\"the configuration file is missing\")
    }
",
        }],
        purpose: "panics in its on_load hook",
    },
    PluginSpec {
        name: "fixture-init-error",
        version: "0.1.0",
        base: "greeter-en",
        interface: None,
        edits: &[Edit {
            from: EN_IMPL,
            to: "impl Greeter for English {
    fn on_load() -> Result<(), String> {
        Err(String::from(\"no licence key\"))
    }
",
        }],
        purpose: "refuses to load from its on_load hook",
    },
    PluginSpec {
        name: "fixture-constructor",
        version: "0.1.0",
        base: "greeter-en",
        interface: None,
        edits: &[Edit {
            from: EN_IMPL,
            to: "/// A static constructor: runs when the library is opened, before any xplug check
/// could refuse it. Writes the file named by `XPLUG_FIXTURE_MARKER`.
#[cfg(target_os = \"linux\")]
#[used]
#[link_section = \".init_array\"]
static WRITE_MARKER: extern \"C\" fn() = write_marker;

#[cfg(target_os = \"linux\")]
extern \"C\" fn write_marker() {
    if let Some(path) = std::env::var_os(\"XPLUG_FIXTURE_MARKER\") {
        let _ = std::fs::write(path, \"the static constructor ran\");
    }
}

impl Greeter for English {
",
        }],
        purpose: "has a static constructor that writes a marker file",
    },
    PluginSpec {
        name: "fixture-no-root-module",
        version: "0.1.0",
        base: "greeter-en",
        interface: None,
        edits: &[Edit {
            from: "xplug::export_plugin!(English as Greeter);",
            to: "// A valid header, but no root module.
#[no_mangle]
pub static XPLUG_PLUGIN_HEADER: xplug::PluginHeader =
    xplug::PluginHeader::new(xplug::header::HeaderFields {
        interface_name: \"greeter\",
        interface_version: \"1.1.0\",
        plugin_name: \"fixture-no-root-module\",
        plugin_version: \"0.1.0\",
        panic_unwind: true,
        debug: true,
    });

#[allow(dead_code)]
fn keep(_: English) {}",
        }],
        purpose: "exports a header but no root module",
    },
    PluginSpec {
        name: "fixture-counting",
        version: "0.1.0",
        base: "greeter-en",
        interface: None,
        edits: &[Edit {
            from: EN_IMPL,
            to: "/// How often `on_load` ran; read by the tests through the dynamic loader.
#[no_mangle]
pub static XPLUG_FIXTURE_ON_LOAD_COUNT: std::sync::atomic::AtomicU32 =
    std::sync::atomic::AtomicU32::new(0);

impl Greeter for English {
    fn on_load() -> Result<(), String> {
        XPLUG_FIXTURE_ON_LOAD_COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
",
        }],
        purpose: "counts how often its on_load hook runs",
    },
];

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
    /// Whether to build the demo host and the `xplug` tool too (for a target where the
    /// host's own build cannot run, such as Windows under wine).
    pub hosts: bool,
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
            hosts: false,
        }
    }

    /// Debian's rustc 1.63 building plugins, fixtures, the demo host and the `xplug` tool for
    /// `x86_64-pc-windows-gnu` (linked by MinGW), the only Windows toolchain Debian offers.
    pub fn windows() -> Result<Toolchain, String> {
        let mut t = Compiler::Debian163.toolchain()?;
        let sysroot = t
            .env
            .iter()
            .find(|(k, _)| k == "RUSTC")
            .map(|(_, v)| PathBuf::from(v))
            .and_then(|rustc| Some(rustc.parent()?.parent()?.to_path_buf()))
            .ok_or("no rustc")?;
        let std = sysroot.join("lib/rustlib/x86_64-pc-windows-gnu");
        if !std.is_dir() {
            return Err(format!(
                "{} is missing (Debian's libstd-rust-dev-windows 1.63): run .ci/install-toolchains",
                std.display()
            ));
        }
        let linker = "x86_64-w64-mingw32-gcc";
        if Command::new(linker).arg("--version").output().is_err() {
            return Err(format!(
                "{linker} is missing (Debian's gcc-mingw-w64-x86-64): run .ci/install-toolchains"
            ));
        }
        t.name = String::from("debian-1.63-windows");
        t.env.push((
            String::from("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER"),
            String::from(linker),
        ));
        t.target = Some(String::from("x86_64-pc-windows-gnu"));
        t.hosts = true;
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
            hosts: false,
        })
    }
}

/// The built plugins of one toolchain.
#[derive(Clone, Debug)]
pub struct BuiltPlugins {
    /// The directory holding the built libraries (and programs, for a toolchain with hosts).
    pub dir: PathBuf,
    /// Whether they were built for Windows.
    pub windows: bool,
}

impl BuiltPlugins {
    /// The library file of the plugin package `name`.
    pub fn path(&self, name: &str) -> PathBuf {
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

/// Writes `contents` to `path` unless it already holds exactly that, so that cargo's
/// fingerprints (file times) stay valid between runs.
fn write_if_changed(path: &Path, contents: &str) -> io::Result<()> {
    if fs::read_to_string(path).ok().as_deref() == Some(contents) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, contents)?;
    fs::rename(&tmp, path)
}

fn apply(what: &str, source: &Path, edits: &[Edit]) -> Result<String, String> {
    let mut text =
        fs::read_to_string(source).map_err(|e| format!("{}: {}", source.display(), e))?;
    for edit in edits {
        if !text.contains(edit.from) {
            return Err(format!(
                "{}: the change for {} no longer applies: {:?} is not in the file",
                source.display(),
                what,
                edit.from
            ));
        }
        text = text.replacen(edit.from, edit.to, 1);
    }
    Ok(text)
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "/")
}

/// Generates the plugin workspace for `toolchain` and returns its directory.
pub fn generate(toolchain: &Toolchain) -> Result<PathBuf, String> {
    let root = repo_root();
    let ws = target_dir().join("xplug-plugins").join(&toolchain.name);
    let io = |e: io::Error| format!("{}: {}", ws.display(), e);
    let xplug = root.join("interface");
    let demo_iface = root.join("examples").join("greeter-interface");
    let mut members = Vec::new();
    for spec in FIXTURES {
        let iface_dir = match spec.interface {
            None => demo_iface.clone(),
            Some((variant, iface)) => {
                let dir = ws.join("interfaces").join(variant);
                let src = if iface.edits.is_empty() {
                    demo_iface.join("src").join("lib.rs")
                } else {
                    let text = apply(
                        &format!("interface variant `{}`", variant),
                        &demo_iface.join("src").join("lib.rs"),
                        iface.edits,
                    )?;
                    let src = dir.join("lib.rs");
                    write_if_changed(&src, &text).map_err(io)?;
                    src
                };
                let manifest = format!(
                    "[package]\nname = \"greeter-interface\"\nversion = \"{}\"\nedition = \"2021\"\n\
                     rust-version = \"1.63\"\npublish = false\n\n[lib]\npath = \"{}\"\n\n[dependencies]\n\
                     xplug = {{ path = \"{}\" }}\nabi_stable = \"0.11.3\"\n",
                    iface.version,
                    toml_path(&src),
                    toml_path(&xplug)
                );
                write_if_changed(&dir.join("Cargo.toml"), &manifest).map_err(io)?;
                dir
            }
        };
        let dir = ws.join(spec.name);
        let base_src = root
            .join("examples")
            .join("plugins")
            .join(spec.base)
            .join("src")
            .join("lib.rs");
        let src = if spec.edits.is_empty() {
            base_src
        } else {
            let text = apply(&format!("plugin `{}`", spec.name), &base_src, spec.edits)?;
            let src = dir.join("lib.rs");
            write_if_changed(&src, &text).map_err(io)?;
            src
        };
        let manifest = format!(
            "[package]\nname = \"{}\"\nversion = \"{}\"\nedition = \"2021\"\nrust-version = \"1.63\"\n\
             publish = false\n\
             description = \"{}\"\n\n[lib]\ncrate-type = [\"cdylib\"]\npath = \"{}\"\n\n\
             [dependencies]\nxplug = {{ path = \"{}\" }}\n\
             greeter-interface = {{ path = \"{}\" }}\nabi_stable = \"0.11.3\"\n",
            spec.name,
            spec.version,
            spec.purpose,
            toml_path(&src),
            toml_path(&xplug),
            toml_path(&iface_dir)
        );
        write_if_changed(&dir.join("Cargo.toml"), &manifest).map_err(io)?;
        members.push(spec.name);
    }
    if toolchain.hosts {
        let loader = root.join("loader");
        let demo = root.join("examples").join("demo").join("src");
        let host_demo = format!(
            "[package]\nname = \"xplug-demo\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
             rust-version = \"1.63\"\npublish = false\n\n[lib]\npath = \"{}\"\n\n\
             [[bin]]\nname = \"demo\"\npath = \"{}\"\n\n[dependencies]\n\
             xplug-loader = {{ path = \"{}\" }}\ngreeter-interface = {{ path = \"{}\" }}\n\
             abi_stable = \"0.11.3\"\n",
            toml_path(&demo.join("lib.rs")),
            toml_path(&demo.join("main.rs")),
            toml_path(&loader),
            toml_path(&demo_iface)
        );
        write_if_changed(&ws.join("host-demo").join("Cargo.toml"), &host_demo).map_err(io)?;
        let host_cli = format!(
            "[package]\nname = \"xplug-cli\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\
             rust-version = \"1.63\"\npublish = false\n\n[[bin]]\nname = \"xplug\"\npath = \"{}\"\n\n\
             [dependencies]\nxplug-loader = {{ path = \"{}\", features = [\"serde\"] }}\n\
             clap = {{ version = \"4.0\", features = [\"derive\"] }}\n\
             serde = {{ version = \"1.0\", features = [\"derive\"] }}\nserde_json = \"1.0\"\n",
            toml_path(&root.join("cli").join("src").join("main.rs")),
            toml_path(&loader)
        );
        write_if_changed(&ws.join("host-cli").join("Cargo.toml"), &host_cli).map_err(io)?;
        members.push("host-demo");
        members.push("host-cli");
    }
    let mut manifest = String::from("# Generated by xtask: the repository's plugins and test fixtures.\n[workspace]\nresolver = \"2\"\nexclude = [\"interfaces\"]\nmembers = [\n");
    for m in &members {
        let _ = writeln!(manifest, "    \"{}\",", m);
    }
    manifest.push_str("]\n\n[profile.dev]\ndebug = false\n");
    write_if_changed(&ws.join("Cargo.toml"), &manifest).map_err(io)?;
    let lock = ws.join("Cargo.lock");
    if !lock.exists() {
        // Dependency versions that every compiler of the matrix builds, 1.63 included.
        let seed = if toolchain.hosts {
            "plugins-and-hosts.lock"
        } else {
            "plugins.lock"
        };
        fs::copy(root.join("xtask").join(seed), &lock).map_err(io)?;
    }
    Ok(ws)
}

/// Generates and builds every plugin in [`FIXTURES`] with `toolchain`, in one cargo run.
pub fn build(toolchain: &Toolchain) -> Result<BuiltPlugins, String> {
    let ws = generate(toolchain)?;
    let target_dir = ws.join("target");
    let mut cmd = Command::new(&toolchain.cargo);
    cmd.args(&toolchain.args)
        .arg("build")
        .arg("--workspace")
        .arg("--manifest-path")
        .arg(ws.join("Cargo.toml"))
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
    for (k, v) in &toolchain.env {
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
