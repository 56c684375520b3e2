//! [`LoadError`]: why a file was not loaded.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::info::PluginInfo;

use super::kind::{ErrorKind, Stage};
use super::text::escape_control;

/// Why a plugin was not loaded: the file, the plugin's header when it was read, and the
/// [`ErrorKind`] of the check that failed.
///
/// `Display` is one line, `{path}: plugin {name} {version}: {what failed}` (the plugin once its
/// header was read), with control characters escaped (file names and plugin messages come
/// from outside); [`report`](LoadError::report) renders a few
/// lines with who must act. `source()` returns the underlying I/O or dynamic-loader error.
///
/// One pointer wide: the facts live behind a box, so that `Result<_, LoadError>` stays small on
/// the paths that succeed.
#[derive(Clone, Debug)]
pub struct LoadError(Box<Inner>);

#[derive(Clone, Debug)]
struct Inner {
    path: PathBuf,
    plugin: Option<PluginInfo>,
    against: Counterpart,
    kind: ErrorKind,
}

/// What the plugin was checked against: what the report names beside the plugin's compiler.
#[derive(Clone, Debug)]
pub(super) enum Counterpart {
    /// This host, built by the compiler that built this crate.
    Host,
    /// Another build of the interface, by tools that compare two builds.
    Build(Box<PluginInfo>),
    /// Requirements alone: a header check by a tool, for no host.
    Nothing,
}

impl LoadError {
    /// An error about the file at `path`.
    pub(crate) fn new(path: impl Into<PathBuf>, kind: ErrorKind) -> LoadError {
        LoadError(Box::new(Inner {
            path: path.into(),
            plugin: None,
            against: Counterpart::Host,
            kind,
        }))
    }

    /// The same error, about the plugin whose header is `plugin`.
    pub(crate) fn with_plugin(mut self, plugin: &PluginInfo) -> LoadError {
        self.0.plugin = Some(plugin.clone());
        self
    }

    /// The same error, found by comparing the plugin with `other`, another build of its
    /// interface, rather than by a host.
    pub(crate) fn against_build(mut self, other: &PluginInfo) -> LoadError {
        self.0.against = Counterpart::Build(Box::new(other.clone()));
        self
    }

    /// The same error, found by a check for no host (a tool's).
    pub(crate) fn without_host(mut self) -> LoadError {
        self.0.against = Counterpart::Nothing;
        self
    }

    /// For errors of tools that compare two builds of an interface
    /// ([`tools::check_against`](crate::tools::check_against), [`tools::compare`](crate::tools::compare)):
    /// the header of the build the plugin was compared with, which the report names where a
    /// host's report names the host.
    pub fn other_build(&self) -> Option<&PluginInfo> {
        match &self.0.against {
            Counterpart::Build(other) => Some(other),
            _ => None,
        }
    }

    /// What the plugin was checked against.
    pub(super) fn counterpart(&self) -> &Counterpart {
        &self.0.against
    }

    /// The file the error concerns: the path as given for stage 1 errors found before the
    /// path was resolved, its real path (symlinks resolved) after.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// The plugin's header, for errors found after it was read (stages 4 to 6, and
    /// [`ErrorKind::Replaced`]: the plugin loaded from the file before it changed).
    pub fn plugin(&self) -> Option<&PluginInfo> {
        self.0.plugin.as_ref()
    }

    /// What failed, with its facts.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The pipeline stage that refused the file.
    pub fn stage(&self) -> Stage {
        self.0.kind.stage()
    }

    /// The `help:` line of the report: who must do what.
    pub fn help(&self) -> String {
        self.0.kind.help()
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let line = match &self.0.plugin {
            Some(plugin) => format!(
                "{}: plugin {}: {}",
                self.0.path.display(),
                plugin.label(),
                self.0.kind
            ),
            None => format!("{}: {}", self.0.path.display(), self.0.kind),
        };
        f.write_str(&escape_control(&line))
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0.kind)
    }
}
