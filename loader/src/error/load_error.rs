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
    kind: ErrorKind,
}

impl LoadError {
    /// An error about the file at `path`.
    pub(crate) fn new(path: impl Into<PathBuf>, kind: ErrorKind) -> LoadError {
        LoadError(Box::new(Inner {
            path: path.into(),
            plugin: None,
            kind,
        }))
    }

    /// The same error, about the plugin whose header is `plugin`.
    pub(crate) fn with_plugin(mut self, plugin: &PluginInfo) -> LoadError {
        self.0.plugin = Some(plugin.clone());
        self
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
