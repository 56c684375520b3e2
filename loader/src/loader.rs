//! [`Loader`]: a host's entry point, configured once, running the pipeline for each file.

use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::Duration;

use semver::VersionReq;
use xplug::Interface;

use crate::error::LoadError;
use crate::info::PluginInfo;
#[cfg(any(unix, windows))]
use crate::isolation::{self, Isolation};
use crate::plugin::Plugin;
use crate::stages::compat::Requirements;
use crate::stages::{self, Checked, LoadMode, Options};
use crate::trust::Quarantine;
#[cfg(feature = "trust")]
use crate::trust::TrustPolicy;

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
    pub(crate) options: Options,
    /// The services handed to every plugin this loader loads: an `M::Host`.
    host: Option<&'static (dyn std::any::Any + Send + Sync)>,
    /// Whether, and how, plugins run in a process of their own.
    #[cfg(any(unix, windows))]
    isolation: Option<Isolation>,
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
            options: self.options.clone(),
            host: self.host,
            #[cfg(any(unix, windows))]
            isolation: self.isolation.clone(),
            _interface: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Loader<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut loader = f.debug_struct("Loader");
        loader
            .field("interface", &std::any::type_name::<M>())
            .field("options", &self.options)
            .field("host_services", &self.host.is_some());
        #[cfg(any(unix, windows))]
        loader.field("isolation", &self.isolation);
        loader.finish()
    }
}

impl<M: Interface> Loader<M> {
    /// A loader with the default version rule: plugins built against the host's major
    /// version of the interface (for 0.x, its minor version).
    pub fn new() -> Self {
        Loader {
            options: Options::for_interface::<M>(),
            host: None,
            #[cfg(any(unix, windows))]
            isolation: None,
            _interface: PhantomData,
        }
    }

    /// Hands `services` to every plugin this loader loads, before its `on_load` hook runs:
    /// the handle of the object trait the interface names in
    /// `#[xplug::interface(host = ..)]`, which plugins reach through their trait's `host()`.
    /// Each service call runs in the host under its panic guard: a panic comes back to the
    /// plugin as a [`CallError`](crate::CallError), never unwinding through its frames.
    ///
    /// Plugins may call the services at any time and keep them for the life of the process,
    /// so they are kept that long (one allocation per call of this method). A plugin keeps
    /// the services it was handed when it loaded: the same bytes loaded through a loader with
    /// other services (another call of this method, or none) are another instance of the
    /// plugin (its own snapshot, statics and services), and in place, where the file is its
    /// one instance, they are refused with
    /// [`ErrorKind::ServicesDiffer`](crate::ErrorKind::ServicesDiffer). Clones of a loader
    /// share its services: make the loader once.
    ///
    /// ```no_run
    /// use abi_stable::std_types::{ROption, RStr, RString};
    /// use greeter_interface::{GreeterHost, GreeterHostBox, GreeterRef};
    /// use xplug_loader::Loader;
    ///
    /// struct Settings;
    /// impl GreeterHost for Settings {
    ///     fn setting(&self, key: RStr<'_>) -> ROption<RString> {
    ///         ROption::RSome(format!("value of {}", key).into())
    ///     }
    /// }
    /// let loader = Loader::<GreeterRef>::new().host_services(GreeterHostBox::new(Settings));
    /// ```
    pub fn host_services(mut self, services: M::Host) -> Self {
        let services: &'static M::Host = Box::leak(Box::new(services));
        self.host = Some(services);
        self
    }

    /// Replaces the version rule: accept plugins whose interface version matches `req`.
    /// The layout check still applies.
    pub fn version_requirement(mut self, req: VersionReq) -> Self {
        self.options.requirements = self.options.requirements.with_versions(req);
        self
    }

    /// Accepts plugins built with `panic = "abort"` (refused by default: a panic in such a
    /// plugin aborts the host instead of returning an error).
    pub fn allow_panic_abort(mut self, allow: bool) -> Self {
        self.options.requirements = self.options.requirements.allow_panic_abort(allow);
        self
    }

    /// Refuses files larger than `bytes` before reading them (default 512 MiB).
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.options.file.max_size = bytes;
        self
    }

    /// Accepts plugin files others could change (Unix; refused by default: whoever can write a
    /// plugin runs code in the host): files of other users than this one and root,
    /// world-writable files, and files below world-writable directories, also through a
    /// symlink in one. A directory with the sticky bit (like `/tmp`) is accepted without this
    /// when the entry in it belongs to this user or root. Group permissions are not checked.
    pub fn allow_writable_by_others(mut self, allow: bool) -> Self {
        self.options.file.allow_writable_by_others = allow;
        self
    }

    /// How files are opened: a private snapshot (the default) or in place.
    pub fn mode(mut self, mode: LoadMode) -> Self {
        self.options.mode = mode;
        self
    }

    /// Keeps snapshots as files in `dir` instead of the platform's default (a sealed memfd
    /// on Linux; a per-user private directory elsewhere). On Unix `dir` is created with mode
    /// 0700 if missing, and refused (a [`Snapshot`](crate::ErrorKind::Snapshot) error) unless
    /// it belongs to this user and no one else may enter it, and unless the directories above
    /// it belong to this user or root and no group or other user may write them (a sticky
    /// directory like `/tmp` may). Copies are removed once opened,
    /// where the platform allows (Unix).
    pub fn snapshot_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.snapshot_dir = Some(dir.into());
        self
    }

    /// Checks every file's bytes against `policy` (SHA-256 pins, allow-lists, minisign
    /// signatures) before any of them is parsed; the one place a loader's trust policy is set.
    ///
    /// ```no_run
    /// # use greeter_interface::GreeterRef;
    /// use xplug_loader::trust::{AllowList, PublicKey, TrustPolicy};
    /// use xplug_loader::Loader;
    ///
    /// // Made with `sha256sum plugins/*.so > plugins.sha256` and `minisign -G`.
    /// let policy = TrustPolicy::new()
    ///     .allow_list(AllowList::read("plugins.sha256")?)
    ///     .trust_key(PublicKey::read("plugins.pub")?);
    /// let loader = Loader::<GreeterRef>::new().trust_policy(policy);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "trust")]
    pub fn trust_policy(mut self, policy: TrustPolicy) -> Self {
        self.options.trust = policy;
        self
    }

    /// Keeps a quarantine journal in the file `journal`: a plugin whose static constructors or
    /// `on_load` hook killed the process is refused at the next start
    /// ([`ErrorKind::Quarantined`](crate::ErrorKind)), until its file changes or the entry is
    /// cleared ([`Quarantine::clear`], `xplug quarantine clear`).
    ///
    /// Before a plugin's code first runs in this process, the SHA-256 of its bytes is written
    /// to the journal and flushed to disk; once its load has finished, loaded or refused, the
    /// entry is removed (two small writes per first load of a file). Processes may share a
    /// journal (Unix): each change is made under a lock of `JOURNAL.lock`, and an entry names
    /// its process by a file in `JOURNAL.owners/` that the process keeps locked while it
    /// runs, so another process's load in progress is never taken for a crash, nor removed.
    /// Elsewhere, use one journal per process. A journal that cannot be used refuses the load
    /// before the plugin's code runs ([`ErrorKind::Journal`](crate::ErrorKind)).
    ///
    /// ```no_run
    /// # use greeter_interface::GreeterRef;
    /// use xplug_loader::Loader;
    ///
    /// let loader = Loader::<GreeterRef>::new().quarantine("/var/lib/myapp/plugins.quarantine");
    /// let report = loader.load_dir("plugins")?; // a plugin that crashed the last run is refused
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn quarantine(mut self, journal: impl Into<PathBuf>) -> Self {
        self.options.quarantine = Some(Quarantine::new(journal));
        self
    }

    /// Runs each plugin this loader loads in a process of its own, as `isolation` says: a
    /// crash, a hang or a hostile plugin then cannot take the host down, at the cost of a
    /// round trip per call (see [`isolation`](crate::isolation), and what the host's `main`
    /// must call). The handles, and the code that calls plugins, are the same. Loaders are
    /// cheap to clone: isolate per plugin or per directory with a clone.
    ///
    /// ```no_run
    /// # use greeter_interface::GreeterRef;
    /// use xplug_loader::isolation::{serve_if_child, serves, Isolation};
    /// use xplug_loader::Loader;
    ///
    /// serve_if_child(&[serves::<GreeterRef>()]); // first thing in `main`
    /// let trusted = Loader::<GreeterRef>::new();
    /// let untrusted = trusted.clone().isolate(Isolation::new());
    /// let report = untrusted.load_dir("plugins/third-party")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(any(unix, windows))]
    pub fn isolate(mut self, isolation: Isolation) -> Self {
        self.isolation = Some(isolation);
        self
    }

    /// How long [`Plugin::unload`] (and `unload_retired`) waits for a plugin's `on_unload`
    /// hook: 1 second unless set. A hook that has not returned by then leaves its plugin
    /// loaded ([`KeptLoaded::HookTimedOut`](crate::KeptLoaded::HookTimedOut)).
    pub fn unload_wait(mut self, wait: Duration) -> Self {
        self.options.unload_wait = wait;
        self
    }

    /// How long a live handle's reload waits for the calls running on the version it replaces
    /// (each [`Held`](crate::reload::Held)) before it hands the state over: 1 second unless
    /// set. New calls wait meanwhile. A reload that waited this long is refused with
    /// [`ErrorKind::CallsStillRunning`](crate::ErrorKind::CallsStillRunning), and the old
    /// version keeps serving.
    #[cfg(feature = "reload")]
    pub fn reload_wait(mut self, wait: Duration) -> Self {
        self.options.reload_wait = wait;
        self
    }

    /// Whether this loader runs plugins in processes of their own ([`isolate`](Loader::isolate)).
    pub fn is_isolated(&self) -> bool {
        #[cfg(any(unix, windows))]
        {
            self.isolation.is_some()
        }
        #[cfg(not(any(unix, windows)))]
        {
            false
        }
    }

    /// What stage 4 requires of a plugin's header: this interface, the version rule
    /// ([`Requirements::versions`]), this target, the panic strategy.
    pub fn requirements(&self) -> &Requirements {
        &self.options.requirements
    }

    /// Loads one plugin file: takes it through every stage of [the load
    /// pipeline](crate#the-load-pipeline), its `on_load` hook last, and returns its handle.
    ///
    /// The file is opened once and read once: every check, and the code that runs, work on
    /// those bytes (a private, sealed snapshot by default; see [`LoadMode`]). The same bytes,
    /// through any path, symlink, hard link or copy, are one plugin, opened and initialised
    /// once per process; later calls return it. (Snapshots are found by a 128-bit XXH3 of
    /// their bytes, then compared byte for byte with a sealed memfd, or by SHA-256 with a
    /// snapshot copied to a directory. A file loaded in place and a snapshot of the same
    /// bytes are two plugins.) A file whose bytes changed is a new plugin, loaded beside the
    /// old one, whose handles keep running the old code.
    ///
    /// # Runs plugin code
    ///
    /// The library's static constructors run when it is opened (stage 5), its `on_load` hook
    /// after every check passed (stage 6); no lock of xplug's is held meanwhile. What the
    /// checks guarantee, and what they cannot, is said in the crate docs ([what runs, and
    /// what is guaranteed](crate#what-runs-and-what-is-guaranteed)): load only files you
    /// would run, and isolate untrusted plugins in another process.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Plugin<M>, LoadError> {
        #[cfg(any(unix, windows))]
        if let Some(isolation) = &self.isolation {
            let loaded =
                isolation::load::<M>(&self.options, isolation, path.as_ref(), self.services())?;
            return Ok(Plugin::isolated(
                loaded.module,
                loaded.isolated,
                loaded.path.into(),
                self.options.unload_wait,
            ));
        }
        let loaded = stages::run::<M>(&self.options, path.as_ref(), self.services())?;
        Ok(self.plugin(loaded))
    }

    /// The handle of a plugin whose load has finished (its journal entry, if any, is cleared).
    pub(crate) fn plugin(&self, loaded: Checked<M>) -> Plugin<M> {
        let plugin = Plugin::new(
            loaded.module,
            loaded.library,
            loaded.path.into(),
            self.options.unload_wait,
        );
        drop(loaded.journaled);
        plugin
    }

    /// Stage 1, stages 2 to 4 as far as the file's first blocks tell, the permission rule, and
    /// the file's bytes if the load reads it whole ([`stages::Read`]): what
    /// [`load_dir`](Loader::load_dir) runs for several files at once.
    pub(crate) fn read(&self, path: &Path) -> Result<stages::Read, LoadError> {
        stages::open_and_read(&self.options, path)
    }

    /// The rest of a load of a file [`Loader::read`] read.
    pub(crate) fn load_read(
        &self,
        path: &Path,
        read: stages::Read,
    ) -> Result<Plugin<M>, LoadError> {
        stages::run_read::<M>(&self.options, path, read, self.services())
            .map(|loaded| self.plugin(loaded))
    }

    /// The services this loader hands its plugins.
    fn services(&self) -> Option<&'static M::Host> {
        self.host.and_then(|host| host.downcast_ref::<M::Host>())
    }

    /// Runs stages 1 to 5 without initialising the plugin: the header checks, then it opens
    /// the library (`dlopen`: its static constructors, if any, run) and checks its whole type
    /// layout against `M`. Returns the plugin's header. The plugin's `on_load` hook does not
    /// run; the trust contract of [`load`](Loader::load) applies.
    ///
    /// A loader that isolates loads the plugin isolated instead ([`load`](Loader::load): the
    /// layout check runs in the plugin's own process, its `on_load` too) and returns its
    /// header; the process exits when no other handle of the plugin is left.
    pub fn open_and_check(&self, path: impl AsRef<Path>) -> Result<PluginInfo, LoadError> {
        #[cfg(any(unix, windows))]
        if self.isolation.is_some() {
            return self.load(path).map(|plugin| plugin.info().clone());
        }
        let services = stages::services_address::<M>(self.services());
        let checked = stages::run_checks::<M>(&self.options, path.as_ref(), services)?;
        let info = checked.library.info.clone();
        // Opened and checked, the plugin's code is done: its journal entry is cleared.
        drop(checked.journaled);
        Ok(info)
    }
}
