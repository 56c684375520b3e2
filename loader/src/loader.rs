//! [`Loader`]: a host's entry point, configured once, running the pipeline for each file.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use semver::VersionReq;
use xplug::Interface;

use crate::error::LoadError;
use crate::host::host_version;
use crate::info::PluginInfo;
use crate::plugin::Plugin;
use crate::registry::{self, Library};
use crate::stages::compat::{default_requirement, Requirements};
use crate::stages::{file, init, layout, open};

/// Loads plugins of the interface `M`, a root module declared with `#[xplug::interface]`.
///
/// ```no_run
/// use greeter_interface::GreeterRef;
/// use xplug_loader::Loader;
///
/// let loader = Loader::<GreeterRef>::new();
/// let report = loader.load_dir("plugins")?;
/// for plugin in &report.plugins {
///     println!("{}: {}", plugin.info().label(), plugin.greet("world".into())?);
/// }
/// for refused in &report.rejected {
///     eprintln!("refused: {refused}");
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Loader<M> {
    requirement: VersionReq,
    allow_panic_abort: bool,
    max_file_size: u64,
    _interface: PhantomData<fn() -> M>,
}

impl<M: Interface> Default for Loader<M> {
    fn default() -> Self {
        Self::new()
    }
}

impl<M> Clone for Loader<M> {
    fn clone(&self) -> Self {
        Loader {
            requirement: self.requirement.clone(),
            allow_panic_abort: self.allow_panic_abort,
            max_file_size: self.max_file_size,
            _interface: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Loader<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader")
            .field("interface", &std::any::type_name::<M>())
            .field("requirement", &self.requirement)
            .field("allow_panic_abort", &self.allow_panic_abort)
            .field("max_file_size", &self.max_file_size)
            .finish()
    }
}

impl<M: Interface> Loader<M> {
    /// A loader with the default version rule: plugins built against the host's major
    /// version of the interface (for 0.x, its minor version).
    pub fn new() -> Self {
        Loader {
            requirement: default_requirement(&host_version::<M>()),
            allow_panic_abort: false,
            max_file_size: file::DEFAULT_MAX_SIZE,
            _interface: PhantomData,
        }
    }

    /// Replaces the version rule: accept plugins whose interface version matches `req`.
    /// The layout check still applies.
    pub fn with_requirement(mut self, req: VersionReq) -> Self {
        self.requirement = req;
        self
    }

    /// Accepts plugins built with `panic = "abort"` (refused by default: a panic in such a
    /// plugin aborts the host instead of returning an error).
    pub fn allow_panic_abort(mut self, allow: bool) -> Self {
        self.allow_panic_abort = allow;
        self
    }

    /// Refuses files larger than `bytes` before reading them (default 512 MiB).
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.max_file_size = bytes;
        self
    }

    /// The version requirement plugins must meet.
    pub fn requirement(&self) -> &VersionReq {
        &self.requirement
    }

    /// Stage 4's requirements: this interface, the version rule, this target.
    pub fn requirements(&self) -> Requirements {
        Requirements::new(M::INTERFACE_NAME, self.requirement.clone())
            .host_version(host_version::<M>())
            .allow_panic_abort(self.allow_panic_abort)
    }

    /// Loads one plugin file, running every check of the pipeline first, then its `on_load`
    /// hook.
    ///
    /// The same file (also through a symlink or another relative path) is opened and
    /// initialised once per process; later calls return the same plugin.
    ///
    /// # What runs, and what the checks guarantee
    ///
    /// Loading a plugin runs its code inside this process, with this process's rights:
    ///
    /// - Stages 1 to 4 only read the file: a file refused there never ran any code.
    /// - At stage 5 the operating system's dynamic loader opens the library, which runs its
    ///   static constructors (`.init_array` entries, `DllMain`) and those of the libraries it
    ///   depends on, *before* the type-layout check. A plugin built with `export_plugin!`
    ///   adds none, but a crafted file can. The header read at stage 3 cannot stop that: load
    ///   only files you would run.
    /// - After every check passed, stage 6 runs the plugin's `on_load` hook, with panics
    ///   contained.
    ///
    /// The checks guarantee that the plugin was built against a compatible version of the
    /// interface, for this target, with unwinding panics, and that the type layout of every
    /// function of the interface matches the host's: calls through the returned handle pass
    /// and return values of the types both sides agreed on, and a panic comes back as a
    /// [`CallError`](crate::CallError).
    ///
    /// They cannot make the plugin's code correct or benign: it may crash (a segfault or an
    /// abort ends the process), loop, corrupt memory, block the calling thread or do anything
    /// the process may do. Isolate untrusted plugins in another process.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Plugin<M>, LoadError> {
        let (library, module) = self.checked(path.as_ref())?;
        init::on_load(&library, module)?;
        Ok(Plugin::new(module, library))
    }

    /// Runs stages 1 to 5 without initialising the plugin: the header checks, `dlopen` and
    /// the full type-layout check against `M`. Returns the plugin's header.
    ///
    /// The plugin's `on_load` hook does not run; its static constructors, if any, do (they
    /// run at `dlopen`): the trust contract of [`load`](Loader::load) applies.
    pub fn verify(&self, path: impl AsRef<Path>) -> Result<PluginInfo, LoadError> {
        let (library, _) = self.checked(path.as_ref())?;
        Ok(library.info.clone())
    }

    /// Stages 1 to 5: the file's library and its checked root module.
    fn checked(&self, path: &Path) -> Result<(Arc<Library>, M), LoadError> {
        let library = registry::library(file::resolve(path)?, self.max_file_size)?;
        self.requirements()
            .check_info(&library.path, &library.info)?;
        let header = open::open(&library)?;
        let module = layout::module::<M>(&library, header)?;
        Ok((library, module))
    }
}
