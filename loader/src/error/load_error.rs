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
/// header was read; `{path} -> {target}` for a symlink), with control characters escaped (file names and plugin messages come
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
    /// Where symlinks on the way from `path` led: the file stage 1 opened.
    target: Option<PathBuf>,
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
            target: None,
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

    /// The same error, if it is about `real`, the file stage 1 resolved `requested` to (the
    /// path every later check names), named by `requested` instead, as the host named it;
    /// `real` goes beside it when symlinks on the way were followed (`linked`).
    pub(crate) fn found_at(mut self, requested: &Path, real: &Path, linked: bool) -> LoadError {
        if self.0.path == real {
            self.0.path = requested.to_path_buf();
            self.0.target = if linked {
                Some(real.to_path_buf())
            } else {
                None
            };
        }
        self
    }

    /// The file the error concerns, as the host named it: the path given to
    /// [`Loader::load`](crate::Loader::load) (or to a tool), or for
    /// [`Loader::load_dir`](crate::Loader::load_dir) the directory's entry, which is what to
    /// remove or replace. Where that is a symlink (or passes through one),
    /// [`target`](LoadError::target) names the file it led to.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// The real path of the file the error concerns, when symlinks on the way from
    /// [`path`](LoadError::path) led elsewhere: the file that was read. `None` when the path
    /// names the file itself, or the error came before the path was resolved (a missing
    /// file).
    pub fn target(&self) -> Option<&Path> {
        self.0.target.as_deref()
    }

    /// `path`, with ` -> target` when symlinks led elsewhere: how reports name the file.
    pub(super) fn shown_path(&self) -> String {
        match &self.0.target {
            Some(target) => format!("{} -> {}", self.0.path.display(), target.display()),
            None => self.0.path.display().to_string(),
        }
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
        let path = self.shown_path();
        let line = match &self.0.plugin {
            Some(plugin) => format!("{path}: plugin {}: {}", plugin.label(), self.0.kind),
            None => format!("{path}: {}", self.0.kind),
        };
        f.write_str(&escape_control(&line))
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.0.kind)
    }
}
