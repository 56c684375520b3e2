//! Why a file was not loaded: one variant per failing check, each with the facts it found.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::info::PluginInfo;

/// The stage of the load pipeline at which a file was refused.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// 1. The path names a regular, readable file.
    File,
    /// 2. The file is a shared library for this OS and architecture.
    Object,
    /// 3. The library carries a valid xplug header.
    Header,
    /// 4. The header matches the host's interface name, version, target and panic strategy.
    Compatibility,
    /// 5. The library opens and its root module's type layout matches the host's.
    Layout,
    /// 6. The plugin's `on_load` hook succeeds.
    Init,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::File => "file",
            Stage::Object => "object format",
            Stage::Header => "header",
            Stage::Compatibility => "compatibility",
            Stage::Layout => "layout",
            Stage::Init => "init",
        })
    }
}

/// The first difference between the host's and the plugin's root-module layout.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutDifference {
    /// Where the layouts differ, e.g. `GreeterModule.add`.
    pub at: String,
    /// What differs, e.g. `mismatched type`.
    pub what: String,
    /// The host's side.
    pub expected: String,
    /// The plugin's side.
    pub found: String,
}

impl fmt::Display for LayoutDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at `{}`: expected {}, found {}",
            self.what, self.at, self.expected, self.found
        )
    }
}

/// Why a plugin was not loaded. Every variant names the file (`path`, symlinks resolved where
/// the file exists) and carries the facts of its check; [`LoadError::stage`] says which check.
///
/// `Display` is one line; `source()` returns the underlying I/O or loader error, if any.
#[derive(Clone, Debug, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "variant", rename_all = "snake_case"))]
#[non_exhaustive]
pub enum LoadError {
    /// Stage 1: nothing exists at `path`.
    #[error("{}: no such file", path.display())]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// Stage 1: `path` exists but is not a regular file.
    #[error("{}: not a regular file but a {kind}", path.display())]
    NotAFile {
        /// The resolved path.
        path: PathBuf,
        /// What it is instead, e.g. `directory`.
        kind: &'static str,
    },
    /// Stage 1: the file changed after this process loaded a plugin from it. Loaded code is
    /// never unloaded, so the new file cannot take its place in this process.
    #[error(
        "{}: changed since plugin {} was loaded from it; this process keeps the loaded code",
        path.display(), plugin.label()
    )]
    Replaced {
        /// The resolved path.
        path: PathBuf,
        /// The header of the plugin loaded from it earlier.
        plugin: Box<PluginInfo>,
    },
    /// Stage 1: `path` could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        #[cfg_attr(feature = "serde", serde(serialize_with = "display"))]
        source: Arc<io::Error>,
    },

    /// Stage 2: the file is not an object file of any kind this loader knows.
    #[error("{}: not a shared library: {reason}", path.display())]
    NotALibrary {
        /// The resolved path.
        path: PathBuf,
        /// What the file looks like instead.
        reason: String,
    },
    /// Stage 2: an object file of another platform's format (e.g. a PE DLL on Linux).
    #[error("{}: {found} file, but this platform loads {expected} libraries", path.display())]
    WrongFormat {
        /// The resolved path.
        path: PathBuf,
        /// The host's format.
        expected: &'static str,
        /// The file's format.
        found: String,
    },
    /// Stage 2: a library for another processor architecture.
    #[error("{}: built for {found}, but this host runs on {expected}", path.display())]
    WrongArchitecture {
        /// The resolved path.
        path: PathBuf,
        /// The host's architecture.
        expected: String,
        /// The file's architecture.
        found: String,
    },
    /// Stage 2: an object file that is not a shared library (an executable, an object file).
    #[error("{}: {kind}, not a shared library", path.display())]
    NotASharedLibrary {
        /// The resolved path.
        path: PathBuf,
        /// What kind of object file it is.
        kind: String,
    },
    /// Stage 2: the file starts like a library but cannot be parsed (e.g. truncated).
    #[error("{}: malformed {format} file: {reason}", path.display())]
    Malformed {
        /// The resolved path.
        path: PathBuf,
        /// The format its first bytes claim.
        format: String,
        /// What the parser found wrong.
        reason: String,
    },

    /// Stage 3: a shared library without an xplug header.
    #[error("{}: not an xplug plugin (no `{}` symbol)", path.display(), xplug::header::HEADER_SYMBOL)]
    NotAPlugin {
        /// The resolved path.
        path: PathBuf,
    },
    /// Stage 3: the header is there but unreadable or inconsistent.
    #[error("{}: invalid xplug header: {reason}", path.display())]
    BadHeader {
        /// The resolved path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Stage 3: a header format newer than this loader understands.
    #[error(
        "{}: xplug header format {found} is newer than this host's (format {supported})",
        path.display()
    )]
    UnsupportedHeader {
        /// The resolved path.
        path: PathBuf,
        /// The file's header format.
        found: u32,
        /// The newest format this loader reads.
        supported: u32,
    },

    /// Stage 4: the plugin implements another interface.
    #[error(
        "{}: plugin {} implements interface `{}`, this host loads `{expected}`",
        path.display(), plugin.label(), plugin.interface_name
    )]
    InterfaceMismatch {
        /// The resolved path.
        path: PathBuf,
        /// The host's interface name.
        expected: String,
        /// The plugin's header.
        plugin: Box<PluginInfo>,
    },
    /// Stage 4: the plugin's interface version does not satisfy the host's requirement.
    #[error(
        "{}: plugin {} was built against `{}` {}, this host requires {required}",
        path.display(), plugin.label(), plugin.interface_name, plugin.interface_version
    )]
    VersionMismatch {
        /// The resolved path.
        path: PathBuf,
        /// The host's requirement on the interface version.
        required: semver::VersionReq,
        /// The host's interface version, if the check was made for a host.
        host_version: Option<semver::Version>,
        /// The plugin's header.
        plugin: Box<PluginInfo>,
    },
    /// Stage 4: the plugin was built for another target triple.
    #[error(
        "{}: plugin {} was built for {}, this host for {expected}",
        path.display(), plugin.label(), plugin.target
    )]
    TargetMismatch {
        /// The resolved path.
        path: PathBuf,
        /// The host's target triple.
        expected: String,
        /// The plugin's header.
        plugin: Box<PluginInfo>,
    },
    /// Stage 4: the plugin aborts on panic, so a panic in it would kill the host.
    #[error(
        "{}: plugin {} was built with panic = \"abort\"; a panic in it would abort the host",
        path.display(), plugin.label()
    )]
    PanicAbort {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's header.
        plugin: Box<PluginInfo>,
    },

    /// Stage 5: the dynamic loader refused the library.
    #[error("{}: cannot open library: {source}", path.display())]
    Open {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's header.
        plugin: Box<PluginInfo>,
        /// The dynamic loader's error.
        #[source]
        #[cfg_attr(feature = "serde", serde(serialize_with = "display"))]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// Stage 5: the library's root module is missing or its abi_stable runtime is incompatible.
    #[error("{}: unusable root module: {message}", path.display())]
    RootModule {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's header.
        plugin: Box<PluginInfo>,
        /// abi_stable's explanation.
        message: String,
    },
    /// Stage 5: the plugin's root-module type layout differs from the host's.
    #[error("{}: plugin {} has a different layout of interface `{}`: {difference}",
        path.display(), plugin.label(), plugin.interface_name)]
    LayoutMismatch {
        /// The resolved path.
        path: PathBuf,
        /// The host's interface version.
        host_version: semver::Version,
        /// The plugin's header.
        plugin: Box<PluginInfo>,
        /// The first difference found.
        difference: Box<LayoutDifference>,
        /// abi_stable's full report, for when the first difference is not enough (hundreds of
        /// lines; not serialized).
        #[cfg_attr(feature = "serde", serde(skip))]
        details: String,
    },

    /// Stage 6: the plugin's `on_load` hook returned an error.
    #[error("{}: plugin {} refused to load: {message}", path.display(), plugin.label())]
    InitFailed {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's header.
        plugin: Box<PluginInfo>,
        /// The hook's message.
        message: String,
    },
    /// Stage 6: the plugin's `on_load` hook panicked (the panic was contained).
    #[error("{}: plugin {} panicked while loading: {message}", path.display(), plugin.label())]
    InitPanicked {
        /// The resolved path.
        path: PathBuf,
        /// The plugin's header.
        plugin: Box<PluginInfo>,
        /// The panic message.
        message: String,
        /// Where it panicked (`file:line:column`), or empty.
        location: String,
    },
}

/// Serializes an error source as its message.
#[cfg(feature = "serde")]
fn display<T: fmt::Display + ?Sized, S: serde::Serializer>(
    value: &Arc<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

impl LoadError {
    /// The pipeline stage that refused the file.
    pub fn stage(&self) -> Stage {
        use LoadError::*;
        match self {
            NotFound { .. } | NotAFile { .. } | Replaced { .. } | Unreadable { .. } => Stage::File,
            NotALibrary { .. }
            | WrongFormat { .. }
            | WrongArchitecture { .. }
            | NotASharedLibrary { .. }
            | Malformed { .. } => Stage::Object,
            NotAPlugin { .. } | BadHeader { .. } | UnsupportedHeader { .. } => Stage::Header,
            InterfaceMismatch { .. }
            | VersionMismatch { .. }
            | TargetMismatch { .. }
            | PanicAbort { .. } => Stage::Compatibility,
            Open { .. } | RootModule { .. } | LayoutMismatch { .. } => Stage::Layout,
            InitFailed { .. } | InitPanicked { .. } => Stage::Init,
        }
    }

    /// The file the error concerns.
    pub fn path(&self) -> &Path {
        use LoadError::*;
        match self {
            NotFound { path }
            | NotAFile { path, .. }
            | Replaced { path, .. }
            | Unreadable { path, .. }
            | NotALibrary { path, .. }
            | WrongFormat { path, .. }
            | WrongArchitecture { path, .. }
            | NotASharedLibrary { path, .. }
            | Malformed { path, .. }
            | NotAPlugin { path }
            | BadHeader { path, .. }
            | UnsupportedHeader { path, .. }
            | InterfaceMismatch { path, .. }
            | VersionMismatch { path, .. }
            | TargetMismatch { path, .. }
            | PanicAbort { path, .. }
            | Open { path, .. }
            | RootModule { path, .. }
            | LayoutMismatch { path, .. }
            | InitFailed { path, .. }
            | InitPanicked { path, .. } => path,
        }
    }

    /// The plugin's header, for errors found after it was read (stages 4 to 6).
    pub fn plugin(&self) -> Option<&PluginInfo> {
        use LoadError::*;
        match self {
            Replaced { plugin, .. }
            | InterfaceMismatch { plugin, .. }
            | VersionMismatch { plugin, .. }
            | TargetMismatch { plugin, .. }
            | PanicAbort { plugin, .. }
            | Open { plugin, .. }
            | RootModule { plugin, .. }
            | LayoutMismatch { plugin, .. }
            | InitFailed { plugin, .. }
            | InitPanicked { plugin, .. } => Some(plugin),
            _ => None,
        }
    }
}
