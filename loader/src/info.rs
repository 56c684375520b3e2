//! What a plugin's header says, parsed and checked (stage 3).

use std::fmt;

use xplug::header::{self, PluginHeader};

/// How a plugin handles panics.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PanicStrategy {
    /// `panic = "unwind"`: panics are contained and reported to the host.
    Unwind,
    /// `panic = "abort"`: a panic aborts the whole process.
    Abort,
}

/// The build profile of a plugin.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Built with debug assertions.
    Debug,
    /// Built without debug assertions.
    Release,
}

impl fmt::Display for PanicStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PanicStrategy::Unwind => "unwind",
            PanicStrategy::Abort => "abort",
        })
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        })
    }
}

/// A plugin's header: who built what, against which interface.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginInfo {
    /// The plugin crate's name.
    pub name: String,
    /// The plugin crate's version.
    pub version: semver::Version,
    /// The interface it implements.
    pub interface_name: String,
    /// The interface version it was built against.
    pub interface_version: semver::Version,
    /// `rustc --version` of the compiler that built it.
    pub rustc: String,
    /// The target triple it was built for.
    pub target: String,
    /// The `xplug` version it was built with.
    pub xplug_version: String,
    /// How it handles panics.
    pub panic_strategy: PanicStrategy,
    /// Debug or release.
    pub profile: Profile,
    /// The header format version.
    pub header_format: u32,
}

impl PluginInfo {
    /// `name version`, e.g. `greeter-en 0.3.0`.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.version)
    }

    /// The compiler version alone, e.g. `1.85.0` from `rustc 1.85.0 (4d91de4e4 2025-02-17)`.
    pub fn rustc_release(&self) -> &str {
        self.rustc
            .split_whitespace()
            .nth(1)
            .unwrap_or(self.rustc.as_str())
    }

    /// Parses and checks a header read from a file. `Err` is the reason it is invalid, or
    /// `Ok(Err(format))` for a header format newer than this loader.
    pub(crate) fn from_header(h: &PluginHeader) -> Result<Result<PluginInfo, u32>, String> {
        if h.magic != header::MAGIC {
            return Err(String::from("bad magic bytes"));
        }
        let format = u32::from_le_bytes(h.format_version);
        if format > header::FORMAT_VERSION {
            return Ok(Err(format));
        }
        if format == 0 {
            return Err(String::from("format version 0"));
        }
        let text = |field: &[u8], what: &str| -> Result<String, String> {
            match header::field_str(field) {
                Some(s) if !s.is_empty() => Ok(s.to_owned()),
                Some(_) => Err(format!("empty {}", what)),
                None => Err(format!("{} is not UTF-8", what)),
            }
        };
        let version = |field: &[u8], what: &str| -> Result<semver::Version, String> {
            let s = text(field, what)?;
            semver::Version::parse(&s).map_err(|e| format!("{} `{}`: {}", what, s, e))
        };
        let panic_strategy = match h.panic_strategy {
            header::PANIC_UNWIND => PanicStrategy::Unwind,
            header::PANIC_ABORT => PanicStrategy::Abort,
            other => return Err(format!("unknown panic strategy {}", other)),
        };
        let profile = match h.profile {
            header::PROFILE_DEBUG => Profile::Debug,
            header::PROFILE_RELEASE => Profile::Release,
            other => return Err(format!("unknown build profile {}", other)),
        };
        Ok(Ok(PluginInfo {
            name: text(&h.plugin_name, "plugin name")?,
            version: version(&h.plugin_version, "plugin version")?,
            interface_name: text(&h.interface_name, "interface name")?,
            interface_version: version(&h.interface_version, "interface version")?,
            rustc: text(&h.rustc_version, "rustc version")?,
            target: text(&h.target, "target")?,
            xplug_version: text(&h.xplug_version, "xplug version")?,
            panic_strategy,
            profile,
            header_format: format,
        }))
    }
}
