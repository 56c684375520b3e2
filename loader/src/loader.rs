//! Stages 4 to 6, the process-wide registry of opened libraries, and the host-facing types.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io;
use std::marker::PhantomData;
use std::mem;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{lib_header_from_raw_library, LibHeader, LibraryError, RawLibrary};
use abi_stable::StableAbi;
use semver::{Comparator, Op, Prerelease, Version, VersionReq};
use xplug::{Interface, LoadHookError};

use crate::compat::Requirements;
use crate::error::LoadError;
use crate::info::PluginInfo;
use crate::inspect::{self, Inspected};
use crate::layout;

/// One library file, opened at most once per process and never unloaded.
struct Library {
    path: PathBuf,
    info: PluginInfo,
    /// The file as it was when its header was read.
    stamp: Option<Stamp>,
    /// Stage 5's `dlopen` and abi_stable header, done once.
    opened: Once<Result<&'static LibHeader, LoadError>>,
    /// Stage 6's `on_load` hook, run once.
    loaded: Once<Result<(), LoadError>>,
}

/// A value computed once: the first caller computes it while later ones wait, then all get a
/// copy. (`std::sync::OnceLock` would do, but this crate builds with rustc 1.63.)
struct Once<T>(Mutex<Option<T>>);

impl<T: Clone> Once<T> {
    const fn new() -> Self {
        Once(Mutex::new(None))
    }

    fn is_set(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    fn get_or_init(&self, init: impl FnOnce() -> T) -> T {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Some(value) => value.clone(),
            None => {
                let value = init();
                *slot = Some(value.clone());
                value
            }
        }
    }
}

type Registry = HashMap<PathBuf, Arc<Library>>;

/// Every library this process has inspected and accepted far enough to open, by real path.
static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

/// Runs `f` on the registry, under its lock.
fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let mut guard = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    f(guard.get_or_insert_with(HashMap::new))
}

/// What tells a file's versions apart cheaply: size, modification time and, on Unix, inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    Some(Stamp {
        len: meta.len(),
        modified: meta.modified().ok(),
        #[cfg(unix)]
        inode: std::os::unix::fs::MetadataExt::ino(&meta),
    })
}

/// Stages 2 and 3 for a file not seen before; the registry's entry otherwise. A file that
/// changed since is read again if it was never opened, and refused if it was: its old code
/// stays loaded.
fn library(real: PathBuf) -> Result<Arc<Library>, LoadError> {
    let known = with_registry(|r| r.get(&real).cloned());
    if let Some(lib) = known {
        let now = stamp(&real);
        if now.is_none() || now == lib.stamp {
            return Ok(lib);
        }
        if lib.opened.is_set() {
            return Err(LoadError::Replaced {
                path: real,
                plugin: Box::new(lib.info.clone()),
            });
        }
        with_registry(|r| {
            if r.get(&real).map_or(false, |l| Arc::ptr_eq(l, &lib)) {
                r.remove(&real);
            }
        });
    }
    // Inspect outside the lock: it reads the file but runs nothing, so two threads racing on
    // one file are harmless, and the first to insert wins.
    let before = stamp(&real);
    let Inspected { path, info } = inspect::inspect(&real)?;
    let fresh = Arc::new(Library {
        path: path.clone(),
        info,
        stamp: before,
        opened: Once::new(),
        loaded: Once::new(),
    });
    Ok(with_registry(|r| r.entry(path).or_insert(fresh).clone()))
}

impl Library {
    /// Stage 5, first half: `dlopen` (the library's static constructors run here).
    fn open(&self) -> Result<&'static LibHeader, LoadError> {
        self.opened.get_or_init(|| {
            let raw = RawLibrary::load_at(&self.path).map_err(|e| self.library_error(e))?;
            // SAFETY: `lib_header_from_raw_library` returns `'static` references into the
            // library; they stay valid because the library is never unloaded (`raw` is
            // leaked right after, whatever the result).
            let header = unsafe { lib_header_from_raw_library(&raw) };
            mem::forget(raw);
            header.map_err(|e| self.library_error(e))
        })
    }

    fn library_error(&self, e: LibraryError) -> LoadError {
        match e {
            LibraryError::OpenError { err, .. } => LoadError::Open {
                path: self.path.clone(),
                plugin: Box::new(self.info.clone()),
                source: Arc::new(*err),
            },
            LibraryError::GetSymbolError { .. } => LoadError::RootModule {
                path: self.path.clone(),
                plugin: Box::new(self.info.clone()),
                message: String::from(
                    "the library has an xplug header but no root module (`export_plugin!` emits both)",
                ),
            },
            other => LoadError::RootModule {
                path: self.path.clone(),
                plugin: Box::new(self.info.clone()),
                // abi_stable's messages span lines; a report line is one.
                message: other.to_string().split_whitespace().collect::<Vec<_>>().join(" "),
            },
        }
    }

    /// Stage 5, second half: the full type-layout check, then the module itself.
    ///
    /// abi_stable lets a library's prefix types have more fields than the host's (a newer
    /// minor version), not fewer. xplug also loads older minor versions, whose root module is
    /// a prefix of the host's: for those, the plugin's layout is checked as the interface and
    /// the host's as its implementation, and the host's accessors report the appended
    /// functions absent.
    fn module<M: Interface>(&self, header: &'static LibHeader) -> Result<M, LoadError> {
        let found = match header.layout() {
            Some(found) => found,
            None => {
                return Err(LoadError::RootModule {
                    path: self.path.clone(),
                    plugin: Box::new(self.info.clone()),
                    message: String::from("the library exports no type-layout information"),
                });
            }
        };
        let host = host_version::<M>();
        let expected = <M as StableAbi>::LAYOUT;
        let checked = if self.info.interface_version < host {
            check_layout_compatibility(found, expected)
        } else {
            check_layout_compatibility(expected, found)
        };
        if let Err(errors) = checked {
            return Err(LoadError::LayoutMismatch {
                path: self.path.clone(),
                host_version: host,
                plugin: Box::new(self.info.clone()),
                difference: Box::new(layout::first_difference(&errors)),
                details: errors.to_string(),
            });
        }
        // SAFETY: the root module's whole type layout was checked against `M`'s just above.
        unsafe { header.unchecked_layout::<M>() }.map_err(|e| LoadError::RootModule {
            path: self.path.clone(),
            plugin: Box::new(self.info.clone()),
            message: e.to_string(),
        })
    }

    /// Stage 6: the plugin's `on_load` hook, once per library.
    fn on_load<M: Interface>(&self, module: M) -> Result<(), LoadError> {
        self.loaded.get_or_init(|| {
            module.on_load().map_err(|e| match e {
                LoadHookError::Failed(message) => LoadError::InitFailed {
                    path: self.path.clone(),
                    plugin: Box::new(self.info.clone()),
                    message,
                },
                LoadHookError::Panicked { message, location } => LoadError::InitPanicked {
                    path: self.path.clone(),
                    plugin: Box::new(self.info.clone()),
                    message,
                    location,
                },
            })
        })
    }
}

/// The interface version of the host, `M::INTERFACE_VERSION`.
fn host_version<M: Interface>() -> Version {
    // Cargo only accepts semver package versions, so this parses.
    Version::parse(M::INTERFACE_VERSION).unwrap_or_else(|_| Version::new(0, 0, 0))
}

/// The default requirement: the host's major version (for 0.x, its minor version), any
/// minor version in either direction.
pub fn default_requirement(host: &Version) -> VersionReq {
    let comparator = Comparator {
        op: Op::Caret,
        major: host.major,
        minor: (host.major == 0).then_some(host.minor),
        patch: (host.major == 0 && host.minor == 0).then_some(host.patch),
        pre: Prerelease::EMPTY,
    };
    VersionReq {
        comparators: vec![comparator],
    }
}

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

    /// The version requirement plugins must meet.
    pub fn requirement(&self) -> &VersionReq {
        &self.requirement
    }

    /// Loads one plugin file, running every check of the pipeline first.
    ///
    /// The same file (also through a symlink or another relative path) is opened and
    /// initialised once per process; later calls return the same plugin.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Plugin<M>, LoadError> {
        let (library, module) = self.checked(path.as_ref())?;
        library.on_load(module)?;
        Ok(Plugin {
            module,
            library,
            _interface: PhantomData,
        })
    }

    /// Stage 4's requirements: this interface, the version rule, this target.
    pub fn requirements(&self) -> Requirements {
        Requirements {
            host_version: Some(host_version::<M>()),
            allow_panic_abort: self.allow_panic_abort,
            ..Requirements::new(M::INTERFACE_NAME, self.requirement.clone())
        }
    }

    /// Runs stages 1 to 5 without initialising the plugin: the header checks, `dlopen` and
    /// the full type-layout check against `M`. Its `on_load` hook does not run (its static
    /// constructors, if any, do: they run at `dlopen`). Returns the plugin's header.
    pub fn verify(&self, path: impl AsRef<Path>) -> Result<PluginInfo, LoadError> {
        let (library, _) = self.checked(path.as_ref())?;
        Ok(library.info.clone())
    }

    /// Stages 1 to 5: the file's library and its checked root module.
    fn checked(&self, path: &Path) -> Result<(Arc<Library>, M), LoadError> {
        let library = library(inspect::resolve(path)?)?;
        self.requirements().check(&library.path, &library.info)?;
        let header = library.open()?;
        let module = library.module::<M>(header)?;
        Ok((library, module))
    }

    /// Loads every library in `dir` (files named `*.so`, `*.dll` or `*.dylib`, as this
    /// platform names them), in file-name order. A file that fails any check is reported in
    /// [`DirReport::rejected`] and never stops the others. Only an unreadable `dir` is an
    /// error.
    pub fn load_dir(&self, dir: impl AsRef<Path>) -> Result<DirReport<M>, LoadError> {
        let dir = dir.as_ref();
        let entries = fs::read_dir(dir).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => LoadError::NotFound {
                path: dir.to_owned(),
            },
            _ => LoadError::Unreadable {
                path: dir.to_owned(),
                source: Arc::new(e),
            },
        })?;
        let mut files = Vec::new();
        let mut rejected = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) if is_library_file_name(&entry.path()) => files.push(entry.path()),
                Ok(_) => {}
                Err(e) => rejected.push(LoadError::Unreadable {
                    path: dir.to_owned(),
                    source: Arc::new(e),
                }),
            }
        }
        files.sort();
        let mut plugins: Vec<Plugin<M>> = Vec::new();
        for file in files {
            match self.load(&file) {
                Ok(plugin)
                    if plugins
                        .iter()
                        .any(|p| Arc::ptr_eq(&p.library, &plugin.library)) => {}
                Ok(plugin) => plugins.push(plugin),
                Err(e) => rejected.push(e),
            }
        }
        Ok(DirReport { plugins, rejected })
    }
}

/// Whether `path` is named like a shared library of this platform.
pub fn is_library_file_name(path: &Path) -> bool {
    path.extension()
        .map_or(false, |ext| ext == std::env::consts::DLL_EXTENSION)
}

/// This platform's file name for the library `name`: `libname.so`, `name.dll`,
/// `libname.dylib`.
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name,
        std::env::consts::DLL_SUFFIX
    )
}

/// What [`Loader::load_dir`] found: the plugins it loaded and one error per refused file.
pub struct DirReport<M> {
    /// The loaded plugins, in file-name order.
    pub plugins: Vec<Plugin<M>>,
    /// One error per refused file.
    pub rejected: Vec<LoadError>,
}

impl<M> fmt::Debug for DirReport<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirReport")
            .field("plugins", &self.plugins)
            .field("rejected", &self.rejected)
            .finish()
    }
}

/// A loaded plugin: its root module `M` (dereference to call its functions) and its header.
///
/// Cheap to clone. The library stays loaded for the life of the process.
pub struct Plugin<M> {
    module: M,
    library: Arc<Library>,
    _interface: PhantomData<fn() -> M>,
}

impl<M: Copy> Plugin<M> {
    /// The root module, the handle through which its functions are called.
    pub fn module(&self) -> M {
        self.module
    }
}

impl<M> Plugin<M> {
    /// What the plugin's header says.
    pub fn info(&self) -> &PluginInfo {
        &self.library.info
    }

    /// The plugin's real path.
    pub fn path(&self) -> &Path {
        &self.library.path
    }

    /// Whether two handles refer to the same loaded library.
    pub fn same_library(&self, other: &Plugin<M>) -> bool {
        Arc::ptr_eq(&self.library, &other.library)
    }
}

impl<M> Deref for Plugin<M> {
    type Target = M;

    fn deref(&self) -> &M {
        &self.module
    }
}

impl<M: Copy> Clone for Plugin<M> {
    fn clone(&self) -> Self {
        Plugin {
            module: self.module,
            library: Arc::clone(&self.library),
            _interface: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Plugin<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.library.path)
            .field("info", &self.library.info)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rule_is_same_major_or_same_zero_minor() {
        let req = default_requirement(&Version::new(1, 3, 2));
        assert!(req.matches(&Version::new(1, 0, 0)));
        assert!(req.matches(&Version::new(1, 9, 0)));
        assert!(!req.matches(&Version::new(2, 0, 0)));
        assert!(!req.matches(&Version::new(0, 9, 0)));
        let req = default_requirement(&Version::new(0, 4, 1));
        assert!(req.matches(&Version::new(0, 4, 0)));
        assert!(req.matches(&Version::new(0, 4, 9)));
        assert!(!req.matches(&Version::new(0, 5, 0)));
        let req = default_requirement(&Version::new(0, 0, 3));
        assert!(req.matches(&Version::new(0, 0, 3)));
        assert!(!req.matches(&Version::new(0, 0, 4)));
    }

    #[test]
    fn library_names_follow_the_platform() {
        let name = library_file_name("greeter_en");
        assert!(is_library_file_name(Path::new(&name)));
        assert!(!is_library_file_name(Path::new("README.md")));
    }
}
