//! Short, compiler-style reports of why a plugin was refused.

use std::fmt;

use crate::error::LoadError;
use crate::info::PluginInfo;

/// A multi-line report of a [`LoadError`]: what was refused, what differs between host and
/// plugin, and a `help:` line that says who must do what. Made by [`LoadError::report`].
///
/// ```text
/// error: plugin rejected: /plugins/libgreeter_fr.so
///   interface `greeter`: the plugin was built against 2.0.0, this host accepts ^1 (host 1.1.0)
///   plugin greeter-fr 0.4.1, built by rustc 1.85.0; host built by rustc 1.95.0
///   help: rebuild the plugin against the `greeter` interface 1.x, or upgrade the host to 2.x
/// ```
pub struct Report<'a> {
    error: &'a LoadError,
    color: bool,
}

impl Report<'_> {
    /// Renders with ANSI colors (`error`, `note`, `help` highlighted) when `on` is true. See
    /// [`use_color`] for the usual choice.
    pub fn color(mut self, on: bool) -> Self {
        self.color = on;
        self
    }
}

/// A rejection for tools: the typed error with its facts (`error`, tagged by `variant`), plus
/// the report's text. Made by [`LoadError::diagnostic`]; serialize it, e.g. to JSON.
#[cfg(feature = "serde")]
#[derive(serde::Serialize)]
pub struct Diagnostic<'a> {
    /// The file concerned.
    pub file: &'a std::path::Path,
    /// The stage that refused it.
    pub stage: crate::error::Stage,
    /// The one-line message.
    pub message: String,
    /// The report's detail lines.
    pub details: Vec<String>,
    /// The report's help line.
    pub help: String,
    /// The typed error and its facts.
    pub error: &'a LoadError,
}

#[cfg(feature = "serde")]
impl LoadError {
    /// The error as a serializable [`Diagnostic`].
    pub fn diagnostic(&self) -> Diagnostic<'_> {
        let (details, help) = self.explain();
        Diagnostic {
            file: self.path(),
            stage: self.stage(),
            message: self.to_string(),
            details,
            help,
            error: self,
        }
    }
}

/// Whether to color output written to a stream: only when it is a terminal (see
/// [`stdout_is_terminal`]) and `NO_COLOR` is unset or empty (<https://no-color.org>).
pub fn use_color(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty())
}

/// Whether standard output is a terminal. Always `false` when built by a compiler older than
/// 1.70, which lacks `std::io::IsTerminal`.
#[rustversion::since(1.70)]
pub fn stdout_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout())
}

/// Whether standard output is a terminal. Always `false` when built by a compiler older than
/// 1.70, which lacks `std::io::IsTerminal`.
#[rustversion::before(1.70)]
pub fn stdout_is_terminal() -> bool {
    false
}

impl LoadError {
    /// The error as a short multi-line diagnostic for people, without color.
    pub fn report(&self) -> Report<'_> {
        Report {
            error: self,
            color: false,
        }
    }

    /// The `help:` line of the report: who must do what.
    pub fn help(&self) -> String {
        self.explain().1
    }

    /// The lines of the report between its heading and its `help:` line: what differs,
    /// which compilers built each side, notes.
    pub fn details(&self) -> Vec<String> {
        self.explain().0
    }
}

/// The version of the compiler that built this host.
fn host_rustc() -> &'static str {
    let full = xplug::build_info::RUSTC_VERSION;
    full.split_whitespace().nth(1).unwrap_or(full)
}

fn built_by(plugin: &PluginInfo) -> String {
    format!(
        "plugin {}, built by rustc {}; host built by rustc {}",
        plugin.label(),
        plugin.rustc_release(),
        host_rustc()
    )
}

const BOLD_RED: &str = "\x1b[1;31m";
const BOLD_GREEN: &str = "\x1b[1;32m";
const BOLD_CYAN: &str = "\x1b[1;36m";
const RESET: &str = "\x1b[0m";

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let paint = |style: &str, text: &str| {
            if self.color {
                format!("{style}{text}{RESET}")
            } else {
                text.to_owned()
            }
        };
        let (lines, help) = self.error.explain();
        writeln!(
            f,
            "{}: plugin rejected: {}",
            paint(BOLD_RED, "error"),
            self.error.path().display()
        )?;
        for line in lines {
            match line.strip_prefix("note: ") {
                Some(note) => writeln!(f, "  {}: {note}", paint(BOLD_GREEN, "note"))?,
                None => writeln!(f, "  {line}")?,
            }
        }
        write!(f, "  {}: {help}", paint(BOLD_CYAN, "help"))
    }
}

impl LoadError {
    /// The report's detail lines and its help line.
    fn explain(&self) -> (Vec<String>, String) {
        use LoadError::*;
        let e = self;
        let mut lines: Vec<String> = Vec::new();
        let help: String = match e {
            NotFound { .. } => {
                lines.push(String::from("no file at this path"));
                String::from("check the path, or install the plugin there")
            }
            NotAFile { kind, .. } => {
                lines.push(format!("it is a {kind}, not a plugin file"));
                String::from(
                    "point the host at a plugin file; `Loader::load_dir` loads a directory",
                )
            }
            Replaced { plugin, .. } => {
                lines.push(format!(
                    "the file changed after plugin {} was loaded from it",
                    plugin.label()
                ));
                String::from(
                    "loaded code is never unloaded: restart the host to load the new file, or \
                     install the new version under another file name",
                )
            }
            Unreadable { source, .. } => {
                lines.push(format!("cannot read it: {source}"));
                String::from("check that the path exists, is of the right kind, and is readable by the host's user")
            }
            NotALibrary { reason, .. } => {
                lines.push(format!("not a shared library: {reason}"));
                String::from("remove it from the plugin directory; plugins are shared libraries")
            }
            WrongFormat {
                expected, found, ..
            } => {
                lines.push(format!(
                    "a {found} file; this platform loads {expected} libraries"
                ));
                format!(
                    "plugin author: build the plugin for {}",
                    xplug::build_info::TARGET
                )
            }
            WrongArchitecture {
                expected, found, ..
            } => {
                lines.push(format!("built for {found}; this host runs on {expected}"));
                format!(
                    "plugin author: rebuild with `--target {}`",
                    xplug::build_info::TARGET
                )
            }
            NotASharedLibrary { kind, .. } => {
                lines.push(format!("{kind}, not a shared library"));
                String::from("plugin author: build it with `crate-type = [\"cdylib\"]`")
            }
            Malformed { format, reason, .. } => {
                lines.push(format!("damaged {format} file: {reason}"));
                String::from("the file is incomplete or corrupt (a truncated copy?): reinstall it")
            }
            NotAPlugin { .. } => {
                lines.push(format!(
                    "a shared library without an xplug header (`{}`)",
                    xplug::header::HEADER_SYMBOL
                ));
                String::from(
                    "remove it from the plugin directory; plugins export themselves with \
                     `xplug::export_plugin!`",
                )
            }
            BadHeader { reason, .. } => {
                lines.push(format!("its xplug header is invalid: {reason}"));
                String::from("plugin author: rebuild the plugin with a released `xplug`")
            }
            UnsupportedHeader {
                found, supported, ..
            } => {
                lines.push(format!(
                    "header format {found}; this host reads format {supported} and older"
                ));
                String::from("host author: upgrade `xplug-loader`")
            }
            InterfaceMismatch {
                expected, plugin, ..
            } => {
                lines.push(format!(
                    "the plugin implements interface `{}`; this host loads `{expected}`",
                    plugin.interface_name
                ));
                lines.push(built_by(plugin));
                format!(
                    "install it in a host for `{}`, or rebuild it against `{expected}`",
                    plugin.interface_name
                )
            }
            VersionMismatch {
                required,
                host_version: Some(host_version),
                plugin,
                ..
            } => {
                lines.push(format!(
                    "interface `{}`: the plugin was built against {}, this host accepts {required} \
                     (host {host_version})",
                    plugin.interface_name, plugin.interface_version
                ));
                lines.push(built_by(plugin));
                let host_major = host_version.major;
                if plugin.interface_version > *host_version {
                    format!(
                        "rebuild the plugin against the `{}` interface {host_major}.x, or upgrade \
                         the host to {}.x",
                        plugin.interface_name, plugin.interface_version.major
                    )
                } else {
                    format!(
                        "plugin author: rebuild the plugin against the `{}` interface {host_major}.x",
                        plugin.interface_name
                    )
                }
            }
            VersionMismatch {
                required,
                host_version: None,
                plugin,
                ..
            } => {
                lines.push(format!(
                    "interface `{}`: the plugin was built against {}, required: {required}",
                    plugin.interface_name, plugin.interface_version
                ));
                lines.push(format!(
                    "plugin {}, built by rustc {}",
                    plugin.label(),
                    plugin.rustc_release()
                ));
                format!(
                    "rebuild the plugin against a `{}` version matching {required}, or use a host \
                     that accepts {}",
                    plugin.interface_name, plugin.interface_version
                )
            }
            TargetMismatch {
                expected, plugin, ..
            } => {
                lines.push(format!(
                    "built for {}; this host is {expected}",
                    plugin.target
                ));
                lines.push(built_by(plugin));
                format!("plugin author: rebuild with `--target {expected}`")
            }
            PanicAbort { plugin, .. } => {
                lines.push(String::from(
                    "built with panic = \"abort\": a panic in it would abort the host",
                ));
                lines.push(built_by(plugin));
                String::from(
                    "plugin author: build with panic = \"unwind\" (the default); host author: \
                     `Loader::allow_panic_abort(true)` accepts it at your own risk",
                )
            }
            Open { source, plugin, .. } => {
                lines.push(format!("the dynamic loader refused it: {source}"));
                lines.push(built_by(plugin));
                String::from("install the libraries it depends on, or rebuild it for this system")
            }
            RootModule {
                message, plugin, ..
            } => {
                lines.push(format!("unusable root module: {message}"));
                lines.push(built_by(plugin));
                String::from(
                    "plugin author: export the plugin with `xplug::export_plugin!`, built with the \
                     `xplug` version the host uses",
                )
            }
            LayoutMismatch {
                host_version,
                plugin,
                difference,
                ..
            } => {
                lines.push(format!(
                    "interface `{}` {}: {} at `{}`",
                    plugin.interface_name, plugin.interface_version, difference.what, difference.at
                ));
                lines.push(format!("  expected: {}", difference.expected));
                lines.push(format!("     found: {}", difference.found));
                lines.push(built_by(plugin));
                let (p, h) = (&plugin.interface_version, host_version);
                if (p.major, p.minor, p.patch) == (h.major, h.minor, h.patch) {
                    lines.push(format!(
                        "note: both sides claim {h}, so the interface changed without a version bump"
                    ));
                    String::from(
                        "interface author: a layout change is a breaking change: bump the \
                         interface crate's major version",
                    )
                } else {
                    format!(
                        "plugin author: rebuild the plugin against the `{}` interface {h}",
                        plugin.interface_name
                    )
                }
            }
            InitFailed {
                message, plugin, ..
            } => {
                lines.push(format!("its on_load hook refused to load: {message}"));
                lines.push(built_by(plugin));
                String::from("fix what the plugin's message names, then load it again")
            }
            InitPanicked {
                message,
                location,
                plugin,
                ..
            } => {
                let at = if location.is_empty() {
                    String::new()
                } else {
                    format!(" at {location}")
                };
                lines.push(format!("its on_load hook panicked{at}: {message}"));
                lines.push(built_by(plugin));
                String::from("plugin author: this is a bug in the plugin's on_load hook")
            }
        };
        (lines, help)
    }
}
