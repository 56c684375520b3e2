//! [`Loader`]: a host's entry point, configured once, running the pipeline for each file.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use semver::VersionReq;
use xplug::Interface;

use crate::error::{ErrorKind, LoadError};
use crate::host::host_version;
use crate::info::PluginInfo;
use crate::inspect;
use crate::plugin::Plugin;
use crate::quarantine::{Entered, Quarantine};
use crate::registry::{self, Entry, Identity, Library, Source, Stamp};
use crate::stages::compat::{default_requirement, Requirements};
use crate::stages::file::{self, FileRules};
use crate::stages::open::Image;
use crate::stages::{init, layout, open};
use crate::trust::{AllowList, PublicKey, Sha256, TrustPolicy};

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
    options: Options,
    /// The services handed to every plugin this loader loads: an `M::Host`.
    host: Option<&'static (dyn std::any::Any + Send + Sync)>,
    _interface: PhantomData<fn() -> M>,
}

/// How a [`Loader`] opens plugin files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadMode {
    /// The default: the file's bytes are read once and every check, and the code that runs,
    /// work on that private, sealed snapshot (see [`Loader::load`]). The file may then be
    /// rewritten, renamed or deleted: loaded plugins are not affected, and loading the path
    /// again gives the new bytes as a new plugin. Identity is by content: the same bytes
    /// under any path are one plugin.
    #[default]
    Snapshot,
    /// The file itself is opened, for plugins that need their directory (libraries beside
    /// them found through `$ORIGIN`). The path is opened again; on Linux its device and
    /// inode before and after `dlopen` must be those of the file checked, elsewhere a file
    /// renamed over it in between is what loads (the header in memory is still compared
    /// with the one checked). Identity is
    /// the file (device and inode on Unix, the path elsewhere).
    ///
    /// The checks read the file's headers (and, for a trust policy or a quarantine journal,
    /// all its bytes once); the dynamic loader then maps the file as it is at that moment. A
    /// file whose size or modification time changed since its plugin was mapped (or, where
    /// both that load and this one read its bytes, their contents) is taken for rewritten. Whoever can write the file in between can
    /// change what runs: use in-place loading only for files no one else can write (the
    /// default refusal of world-writable files is part of that). A file rewritten in place
    /// while it is loaded changes the code under the running process: calls may then crash
    /// it. Install new versions by renaming a new file over
    /// the old one (a new file: the loaded one stays intact), or use snapshots. Loading a
    /// file rewritten in place is refused with [`ErrorKind::Replaced`](crate::ErrorKind).
    InPlace,
}

#[derive(Clone, Debug)]
struct Options {
    requirement: VersionReq,
    allow_panic_abort: bool,
    file: FileRules,
    mode: LoadMode,
    snapshot_dir: Option<PathBuf>,
    trust: TrustPolicy,
    quarantine: Option<Quarantine>,
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
            _interface: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Loader<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader")
            .field("interface", &std::any::type_name::<M>())
            .field("options", &self.options)
            .field("host_services", &self.host.is_some())
            .finish()
    }
}

impl<M: Interface> Loader<M> {
    /// A loader with the default version rule: plugins built against the host's major
    /// version of the interface (for 0.x, its minor version).
    pub fn new() -> Self {
        Loader {
            options: Options {
                requirement: default_requirement(&host_version::<M>()),
                allow_panic_abort: false,
                file: FileRules {
                    max_size: file::DEFAULT_MAX_SIZE,
                    allow_writable_by_others: false,
                },
                mode: LoadMode::Snapshot,
                snapshot_dir: None,
                trust: TrustPolicy::default(),
                quarantine: None,
            },
            host: None,
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
    /// so they are kept that long (one allocation per call of this method). A plugin already
    /// loaded in this process, by any loader, keeps the services it was given then.
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
    pub fn with_requirement(mut self, req: VersionReq) -> Self {
        self.options.requirement = req;
        self
    }

    /// Accepts plugins built with `panic = "abort"` (refused by default: a panic in such a
    /// plugin aborts the host instead of returning an error).
    pub fn allow_panic_abort(mut self, allow: bool) -> Self {
        self.options.allow_panic_abort = allow;
        self
    }

    /// Refuses files larger than `bytes` before reading them (default 512 MiB).
    pub fn max_file_size(mut self, bytes: u64) -> Self {
        self.options.file.max_size = bytes;
        self
    }

    /// Accepts world-writable plugin files, and files below world-writable directories (Unix;
    /// refused by default: whoever can write a plugin runs code in the host). A directory with
    /// the sticky bit (like `/tmp`) is accepted when the entry in it belongs to this user or
    /// root. Group permissions and the file's owner are not checked.
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
    /// it belongs to this user and no one else may enter it. Copies are removed once opened,
    /// where the platform allows (Unix).
    pub fn snapshot_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.options.snapshot_dir = Some(dir.into());
        self
    }

    /// Loads only files with this SHA-256 (with those of earlier calls, and of
    /// [`allow_list`](Loader::allow_list)). Checked on the bytes that load, before any is
    /// parsed.
    pub fn require_sha256(mut self, digest: Sha256) -> Self {
        self.options.trust = self.options.trust.require_sha256(digest);
        self
    }

    /// Loads only files whose SHA-256 is listed (with the digests of earlier calls).
    ///
    /// ```no_run
    /// # use greeter_interface::GreeterRef;
    /// use xplug_loader::{AllowList, Loader};
    ///
    /// // Made with `sha256sum plugins/*.so > plugins.sha256`.
    /// let list = AllowList::read("plugins.sha256")?;
    /// let loader = Loader::<GreeterRef>::new().allow_list(list);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn allow_list(mut self, list: AllowList) -> Self {
        self.options.trust = self.options.trust.allow_list(list);
        self
    }

    /// Requires every plugin file to carry a minisign signature by `key` (or by a key of an
    /// earlier call): `plugin.so.minisig` beside the path loaded (or beside the file a
    /// symlink points to), as `minisign -Sm plugin.so` writes it. Checked on the bytes that
    /// load, before any is parsed.
    pub fn trust_key(mut self, key: PublicKey) -> Self {
        self.options.trust = self.options.trust.trust_key(key);
        self
    }

    /// Replaces the trust policy with `policy`.
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
    /// entry is removed (two small writes per first load of a file). One journal per host:
    /// processes sharing one would take each other's loads in progress for crashes.
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

    /// The version requirement plugins must meet.
    pub fn requirement(&self) -> &VersionReq {
        &self.options.requirement
    }

    /// Stage 4's requirements: this interface, the version rule, this target.
    pub fn requirements(&self) -> Requirements {
        Requirements::new(M::INTERFACE_NAME, self.options.requirement.clone())
            .host_version(host_version::<M>())
            .allow_panic_abort(self.options.allow_panic_abort)
    }

    /// Loads one plugin file, running every check of the pipeline first, then its `on_load`
    /// hook.
    ///
    /// The file is opened once and read once: every check, and the code that runs, work on
    /// those bytes (a private, sealed snapshot by default; see [`LoadMode`]). The same bytes,
    /// through any path, symlink, hard link or copy, are one plugin, opened and initialised
    /// once per process; later calls return it. (Snapshots are found by a 128-bit XXH3 of
    /// their bytes, then compared byte for byte with a sealed memfd, or by SHA-256 with a
    /// snapshot copied to a directory. A file loaded in place and a snapshot of the same
    /// bytes are two plugins.) A file whose bytes changed is a new plugin,
    /// loaded beside the old one, whose handles keep running the old code.
    ///
    /// # What runs, and what the checks guarantee
    ///
    /// Loading a plugin runs its code inside this process, with this process's rights:
    ///
    /// - Stages 1 to 4 only read the file: a file refused there never ran any code. The
    ///   trust policy ([`require_sha256`](Loader::require_sha256),
    ///   [`allow_list`](Loader::allow_list), [`trust_key`](Loader::trust_key)) is checked on
    ///   the bytes before any of them is parsed.
    /// - At stage 5 the operating system's dynamic loader opens the library, which runs its
    ///   static constructors (`.init_array` entries, `DllMain`) and those of the libraries it
    ///   depends on, *before* the type-layout check. A plugin built with `export_plugin!`
    ///   adds none, but a crafted file can. The header read at stage 3 cannot stop that: load
    ///   only files you would run. After opening, the header in memory must equal the one
    ///   checked.
    /// - After every check passed, stage 6 runs the plugin's `on_load` hook, with panics
    ///   contained. No lock of xplug's is held while plugin code runs; a plugin that loads
    ///   itself from its hook (or two that load each other from their hooks, on two threads)
    ///   gets [`ErrorKind::Reentrant`](crate::ErrorKind), not a deadlock. Waits xplug cannot
    ///   see still can: a hook that joins a thread which loads the same plugin, or a static
    ///   constructor waiting for another thread's `dlopen` (the dynamic loader's own lock).
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
        let (library, path, module, journaled) = self.checked(path.as_ref())?;
        let host = self.host.and_then(|host| host.downcast_ref::<M::Host>());
        init::on_load(&library, &path, module, host)?;
        drop(journaled);
        Ok(Plugin::new(module, library, path.into()))
    }

    /// Runs stages 1 to 5 without initialising the plugin: the header checks, `dlopen` and
    /// the full type-layout check against `M`. Returns the plugin's header.
    ///
    /// The plugin's `on_load` hook does not run; its static constructors, if any, do (they
    /// run at `dlopen`): the trust contract of [`load`](Loader::load) applies.
    pub fn verify(&self, path: impl AsRef<Path>) -> Result<PluginInfo, LoadError> {
        let (library, _, _, _) = self.checked(path.as_ref())?;
        Ok(library.info.clone())
    }

    /// Stages 1 to 5: the library, the real path it was loaded from, its checked root module,
    /// and its quarantine journal entry while its code has not finished loading.
    ///
    /// Only what the checks need is read: a file loaded in place without a trust policy or a
    /// journal is never read whole (its headers and dynamic symbols are), and the file's
    /// SHA-256 is computed only for a trust policy with digests or a journal.
    fn checked(&self, requested: &Path) -> Result<Checked<M>, LoadError> {
        let options = &self.options;
        let open = file::open(requested, options.file)?;
        let wants_digest = options.trust.has_digests() || options.quarantine.is_some();
        let wants_bytes =
            options.mode == LoadMode::Snapshot || wants_digest || !options.trust.is_empty();
        let bytes = if wants_bytes {
            Some(file::read(&open, options.file.max_size)?)
        } else {
            None
        };
        let mut sha256 = None;
        if let Some(bytes) = &bytes {
            sha256 = wants_digest.then(|| Sha256::of(bytes));
            options
                .trust
                .check(requested, &open.path, bytes, sha256.as_ref())?;
        }
        let requirements = self.requirements();
        // Stages 2 to 4. A plugin refused here is not registered: nothing of it is kept.
        let header = |bytes: Option<&[u8]>| {
            let (info, header) = match bytes {
                Some(bytes) => inspect::read_header(&open.path, bytes)?,
                None => inspect::read_header_from_file(&open)?,
            };
            requirements.check_info(&open.path, &info)?;
            Ok::<_, LoadError>((info, header))
        };
        let (entry, image) = match (options.mode, bytes.as_deref()) {
            (LoadMode::Snapshot, Some(bytes)) => {
                let digest = Cell::new(sha256);
                let digest = || match digest.get() {
                    Some(known) => known,
                    None => {
                        let computed = Sha256::of(bytes);
                        digest.set(Some(computed));
                        computed
                    }
                };
                let entry = registry::entry(
                    Identity::of_content(bytes),
                    |library| match &library.source {
                        Source::Sealed(sealed) => open::holds(sealed, bytes),
                        Source::Copy(sha256) => *sha256 == digest(),
                        Source::InPlace(_) => false,
                    },
                    || {
                        let (info, header) = header(Some(bytes))?;
                        // Sealed only once every check that reads the file passed.
                        let sealed = match options.snapshot_dir {
                            Some(_) => None,
                            None => open::seal(bytes).map_err(|kind| {
                                LoadError::new(&open.path, kind).with_plugin(&info)
                            })?,
                        };
                        let source = match sealed {
                            Some(sealed) => Source::Sealed(sealed),
                            None => Source::Copy(digest()),
                        };
                        Ok(Library::new(info, header, source))
                    },
                )?;
                let image = Image::Snapshot {
                    bytes,
                    dir: options.snapshot_dir.as_deref(),
                };
                (entry, image)
            }
            (LoadMode::InPlace, bytes) => {
                let stamp = Stamp::of(&open.meta, bytes);
                let entry = registry::entry(
                    Identity::of_file(&open),
                    |library| match &library.source {
                        Source::InPlace(then) => then.matches(&stamp),
                        Source::Sealed(_) | Source::Copy(_) => false,
                    },
                    || {
                        let (info, header) = header(bytes)?;
                        Ok(Library::new(info, header, Source::InPlace(stamp)))
                    },
                )?;
                (entry, Image::InPlace(&open))
            }
            // Every snapshot load reads the file (`wants_bytes`).
            (LoadMode::Snapshot, None) => {
                return Err(LoadError::new(
                    &open.path,
                    ErrorKind::Snapshot {
                        source: Arc::new(std::io::Error::new(
                            std::io::ErrorKind::Other,
                            "the file was not read",
                        )),
                    },
                ))
            }
        };
        let library = match entry {
            Entry::Plugin(library) => library,
            Entry::Replaced(loaded) => {
                return Err(
                    LoadError::new(&open.path, ErrorKind::Replaced {}).with_plugin(&loaded.info)
                )
            }
        };
        // Again for a plugin registered by a loader with other requirements.
        requirements.check_info(&open.path, &library.info)?;
        let journaled = match (&options.quarantine, sha256) {
            (Some(journal), Some(sha256)) if !library.is_settled() => Some(
                journal
                    .enter(sha256, &open.path)
                    .map_err(|e| e.with_plugin(&library.info))?,
            ),
            _ => None,
        };
        let opened = open::open(&library, &open.path, image)?;
        let module = layout::module::<M>(&library, &open.path, opened.header)?;
        *library
            .runtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(module.__runtime());
        Ok((library, open.path, module, journaled))
    }
}

/// What [`Loader::checked`] returns.
type Checked<M> = (Arc<Library>, PathBuf, M, Option<Entered>);
