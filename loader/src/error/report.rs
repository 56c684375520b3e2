//! Short, compiler-style reports of why a plugin was refused, for people and for tools.

use std::fmt;

use crate::host::host_rustc;
use crate::info::PluginInfo;

use super::load_error::{Counterpart, LoadError};
use super::text::escape_control;

/// A multi-line report of a [`LoadError`]: what was refused, what differs between host and
/// plugin, and a `help:` line that says who must do what. Made by [`LoadError::report`].
///
/// ```text
/// error: plugin rejected: /plugins/libgreeter_fr.so
///   interface `greeter`: the plugin was built against 2.0.0, this host accepts ^1
///   plugin greeter-fr 0.4.1, built by rustc 1.85.0; host built by rustc 1.95.0
///   note: the host implements `greeter` 1.1.0
///   help: rebuild the plugin against the `greeter` interface 1.x, or upgrade the host to 2.x
/// ```
///
/// A file reached through a symlink is named as the host named it, its target beside it
/// (`error: plugin rejected: plugins/libc.so -> /usr/lib/x86_64-linux-gnu/libc.so.6`).
///
/// Control characters from the file (its name, its header, a plugin's messages) are printed
/// escaped, so a crafted file cannot drive the terminal.
pub struct Report<'a> {
    error: &'a LoadError,
    color: bool,
}

impl Report<'_> {
    /// Renders with ANSI colors (`error`, `note`, `help` highlighted) when `on` is true, e.g.
    /// when writing to a terminal and `NO_COLOR` is unset.
    pub fn color(mut self, on: bool) -> Self {
        self.color = on;
        self
    }
}

impl LoadError {
    /// The error as a short multi-line diagnostic for people, without color.
    pub fn report(&self) -> Report<'_> {
        Report {
            error: self,
            color: false,
        }
    }
}

impl LoadError {
    /// The lines of the report between its heading and its `help:` line: the one-line text,
    /// what differs, which compilers built each side, then notes.
    pub fn details(&self) -> Vec<String> {
        let (notes, extra): (Vec<String>, Vec<String>) = self
            .kind()
            .notes()
            .into_iter()
            .partition(|line| line.starts_with("note: "));
        let mut lines = vec![self.kind().to_string()];
        lines.extend(extra);
        if let Some(plugin) = self.plugin() {
            lines.push(built_by(plugin, self.counterpart()));
        }
        lines.extend(notes);
        lines
    }
}

/// Which compiler built the plugin and what it was checked against: this host, another build
/// (tools comparing two builds), or nothing (a tool's header check).
fn built_by(plugin: &PluginInfo, against: &Counterpart) -> String {
    let plugin_line = format!(
        "plugin {}, built by rustc {}",
        plugin.label(),
        plugin.rustc_release()
    );
    match against {
        Counterpart::Host => {
            let host = host_rustc();
            format!(
                "{plugin_line}; host built by rustc {}",
                host.split_whitespace().nth(1).unwrap_or(host)
            )
        }
        Counterpart::Build(other) => format!(
            "{plugin_line}; the other build, {}, built by rustc {}",
            other.label(),
            other.rustc_release()
        ),
        Counterpart::Nothing => plugin_line,
    }
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
        let path = self.error.shown_path();
        writeln!(
            f,
            "{}: plugin rejected: {}",
            paint(BOLD_RED, "error"),
            escape_control(&path)
        )?;
        for line in self.error.details() {
            let line = escape_control(&line);
            match line.strip_prefix("note: ") {
                Some(note) => writeln!(f, "  {}: {note}", paint(BOLD_GREEN, "note"))?,
                None => writeln!(f, "  {line}")?,
            }
        }
        let help = self.error.help();
        write!(
            f,
            "  {}: {}",
            paint(BOLD_CYAN, "help"),
            escape_control(&help)
        )
    }
}

/// A rejection for tools: the report's facts and text, and the typed error (`error`, tagged
/// by `variant`). Made by [`LoadError::diagnostic`]; serialize it, e.g. to JSON.
#[cfg(feature = "serde")]
#[derive(serde::Serialize)]
#[non_exhaustive]
pub struct Diagnostic<'a> {
    /// The file concerned, as the host named it ([`LoadError::path`]).
    pub file: &'a std::path::Path,
    /// Where symlinks from `file` led, if they did ([`LoadError::target`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<&'a std::path::Path>,
    /// The stage that refused it.
    pub stage: super::kind::Stage,
    /// The one-line message.
    pub message: String,
    /// The report's detail lines.
    pub details: Vec<String>,
    /// The report's help line.
    pub help: String,
    /// The plugin's header, when it was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<&'a PluginInfo>,
    /// The header of the build the plugin was compared with, for tools that compare two
    /// builds ([`LoadError::other_build`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_build: Option<&'a PluginInfo>,
    /// The kind of failure and its facts.
    pub error: &'a super::kind::ErrorKind,
}

#[cfg(feature = "serde")]
impl LoadError {
    /// The error as a serializable [`Diagnostic`].
    pub fn diagnostic(&self) -> Diagnostic<'_> {
        Diagnostic {
            file: self.path(),
            target: self.target(),
            stage: self.stage(),
            message: self.to_string(),
            details: self.details(),
            help: self.help(),
            plugin: self.plugin(),
            other_build: self.other_build(),
            error: self.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::info::{PanicStrategy, Profile};
    use std::path::Path;

    fn info() -> PluginInfo {
        PluginInfo {
            name: String::from("greeter-fr"),
            version: semver::Version::new(0, 4, 1),
            interface_name: String::from("greeter"),
            interface_version: semver::Version::new(2, 0, 0),
            rustc: String::from("rustc 1.85.0 (4d91de4e4 2025-02-17)"),
            target: String::from("x86_64-unknown-linux-gnu"),
            xplug_version: String::from("0.1.0"),
            panic_strategy: PanicStrategy::Unwind,
            profile: Profile::Release,
            header_format: 2,
            xplug_abi: 1,
        }
    }

    #[test]
    fn a_version_mismatch_reads_as_a_short_report() {
        let error = LoadError::new(
            "/plugins/libgreeter_fr.so",
            ErrorKind::VersionMismatch {
                interface: String::from("greeter"),
                found: semver::Version::new(2, 0, 0),
                required: "^1".parse().unwrap(),
                host_version: Some(semver::Version::new(1, 1, 0)),
            },
        )
        .with_plugin(&info());
        let report = error.report().to_string();
        let host = host_rustc().split_whitespace().nth(1).unwrap();
        assert_eq!(
            report,
            format!(
                "error: plugin rejected: /plugins/libgreeter_fr.so\n  \
                 interface `greeter`: the plugin was built against 2.0.0, this host accepts ^1\n  \
                 plugin greeter-fr 0.4.1, built by rustc 1.85.0; host built by rustc {host}\n  \
                 note: the host implements `greeter` 1.1.0\n  \
                 help: rebuild the plugin against the `greeter` interface 1.x, or upgrade the \
                 host to 2.x"
            )
        );
        assert_eq!(
            error.to_string(),
            "/plugins/libgreeter_fr.so: plugin greeter-fr 0.4.1: interface `greeter`: the \
             plugin was built against 2.0.0, this host accepts ^1"
        );
        let colored = error.report().color(true).to_string();
        assert!(colored.starts_with("\x1b[1;31merror\x1b[0m: plugin rejected"));
        assert!(colored.contains("\x1b[1;32mnote\x1b[0m: the host"));
        assert!(colored.contains("\x1b[1;36mhelp\x1b[0m: rebuild"));
    }

    #[test]
    fn a_comparison_of_two_builds_names_the_other_build_not_the_host() {
        let kind = ErrorKind::InterfaceMismatch {
            expected: String::from("greeter"),
            found: String::from("farewell"),
        };
        let error = LoadError::new("/p/libx.so", kind).with_plugin(&info());
        let host = host_rustc().split_whitespace().nth(1).unwrap();
        let built_by = |error: &LoadError| error.details()[1].clone();
        assert_eq!(
            built_by(&error),
            format!("plugin greeter-fr 0.4.1, built by rustc 1.85.0; host built by rustc {host}")
        );
        let mut other = info();
        other.name = String::from("greeter-en");
        other.rustc = String::from("rustc 1.63.0 (4b91a6ea7 2022-08-08)");
        let compared = error.clone().against_build(&other);
        assert_eq!(
            built_by(&compared),
            "plugin greeter-fr 0.4.1, built by rustc 1.85.0; the other build, greeter-en \
             0.4.1, built by rustc 1.63.0"
        );
        assert_eq!(compared.other_build(), Some(&other));
        assert!(!compared.report().to_string().contains("host built by"));
        assert_eq!(
            built_by(&error.without_host()),
            "plugin greeter-fr 0.4.1, built by rustc 1.85.0"
        );
    }

    #[test]
    fn a_file_reached_through_a_symlink_is_named_as_found_with_its_target() {
        let real = "/usr/lib/libz.so.1.2.13";
        let error = LoadError::new(real, ErrorKind::NotAPlugin {});
        let linked = error
            .clone()
            .found_at(Path::new("plugins/libz.so"), Path::new(real), true);
        assert_eq!(linked.path(), Path::new("plugins/libz.so"));
        assert_eq!(linked.target(), Some(Path::new(real)));
        assert!(
            linked.report().to_string().starts_with(
                "error: plugin rejected: plugins/libz.so -> /usr/lib/libz.so.1.2.13\n"
            ),
            "{}",
            linked.report()
        );
        assert!(linked
            .to_string()
            .starts_with("plugins/libz.so -> /usr/lib/libz.so.1.2.13: not an xplug plugin"));
        // A relative path to the file itself: named as given, no target.
        let plain = error
            .clone()
            .found_at(Path::new("libz.so"), Path::new(real), false);
        assert_eq!((plain.path(), plain.target()), (Path::new("libz.so"), None));
        // An error about another path is left as it is.
        let other = error.found_at(Path::new("x.so"), Path::new("/elsewhere/x.so"), true);
        assert_eq!((other.path(), other.target()), (Path::new(real), None));
    }

    #[test]
    fn control_characters_from_a_file_are_escaped() {
        let error = LoadError::new(
            "/plugins/lib\x1b]0;owned\x07.so",
            ErrorKind::InitFailed {
                message: String::from("bad\r\x1b[2Jnews"),
            },
        );
        let report = error.report().to_string();
        assert!(
            !report.chars().any(|c| c.is_control() && c != '\n'),
            "{report:?}"
        );
        assert!(report.contains("lib\\u{1b}]0;owned\\u{7}.so"), "{report}");
        assert!(report.contains("bad\\u{d}\\u{1b}[2Jnews"), "{report}");
        assert!(!error.to_string().chars().any(char::is_control));
    }

    #[test]
    fn every_report_line_of_a_layout_mismatch_says_which_side_is_which() {
        let error = LoadError::new(
            "/p/libbad.so",
            ErrorKind::LayoutMismatch {
                interface: String::from("greeter"),
                found: "1.1.0+changed".parse().unwrap(),
                host_version: semver::Version::new(1, 1, 0),
                difference: Box::new(crate::error::LayoutDifference {
                    at: String::from("GreeterModule.add"),
                    what: String::from("type differs"),
                    expected: String::from("extern \"C\" fn(u32, u32) -> u32"),
                    found: String::from("extern \"C\" fn(u64, u64) -> u64"),
                }),
                details: String::new(),
            },
        );
        assert_eq!(
            error.details(),
            [
                "interface `greeter` 1.1.0+changed: type differs at `GreeterModule.add`",
                "  expected: extern \"C\" fn(u32, u32) -> u32",
                "     found: extern \"C\" fn(u64, u64) -> u64",
                "note: both sides claim 1.1.0, so the interface changed without a version bump",
            ]
        );
        assert!(error.help().starts_with("interface author:"));
    }
}
