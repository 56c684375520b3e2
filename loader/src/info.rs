//! What a plugin's header says (read and checked at stage 3, `stages/header.rs`).

use std::fmt;

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
#[non_exhaustive]
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
    /// The xplug ABI it speaks ([`xplug::abi`]); 0 for a plugin built before ABI 1 (header
    /// format 1).
    pub xplug_abi: u16,
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
}
