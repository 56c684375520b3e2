//! The process-wide registry of plugin files: one entry per real path, holding the header
//! read at stage 3 and the outcomes of stages 5 and 6, each computed once. Libraries are
//! never unloaded, so an entry lives as long as the process.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use abi_stable::library::LibHeader;

use crate::error::{ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::inspect::{self, Inspected};

/// One library file, opened at most once per process and never unloaded.
pub(crate) struct Library {
    pub(crate) path: PathBuf,
    pub(crate) info: PluginInfo,
    /// The file as it was when its header was read.
    stamp: Option<Stamp>,
    /// Stage 5's `dlopen` and abi_stable header, once it succeeded (a failed `dlopen` maps
    /// nothing, and is tried again by the next load).
    pub(crate) opened: Once<&'static LibHeader>,
    /// Stage 6's `on_load` hook, run once.
    pub(crate) loaded: Once<Result<(), LoadError>>,
}

impl Library {
    /// An error about this library's file and plugin.
    pub(crate) fn error(&self, kind: ErrorKind) -> LoadError {
        LoadError::new(&self.path, kind).with_plugin(&self.info)
    }
}

/// A value computed once: the first caller computes it while later ones wait, then all get a
/// copy. (`std::sync::OnceLock` would do, but this crate builds with rustc 1.63.)
pub(crate) struct Once<T>(Mutex<Option<T>>);

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

    /// The value, or `init`'s result; only a success is kept, an error is returned as is.
    pub(crate) fn get_or_try_init<E>(&self, init: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &*slot {
            Some(value) => Ok(value.clone()),
            None => {
                let value = init()?;
                *slot = Some(value.clone());
                Ok(value)
            }
        }
    }

    pub(crate) fn get_or_init(&self, init: impl FnOnce() -> T) -> T {
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

/// The library at `real`, a resolved path: stages 2 and 3 for a file not seen before, the
/// registry's entry otherwise. A file that changed since is read again if it was never
/// opened, and refused if it was: its old code stays loaded.
pub(crate) fn library(real: PathBuf, max_size: u64) -> Result<Arc<Library>, LoadError> {
    let known = with_registry(|r| r.get(&real).cloned());
    if let Some(lib) = known {
        let now = stamp(&real);
        if now.is_none() || now == lib.stamp {
            return Ok(lib);
        }
        if lib.opened.is_set() {
            return Err(lib.error(ErrorKind::Replaced {}));
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
    let Inspected { path, info } = inspect::inspect_resolved(real, max_size)?;
    let fresh = Arc::new(Library {
        path: path.clone(),
        info,
        stamp: before,
        opened: Once::new(),
        loaded: Once::new(),
    });
    Ok(with_registry(|r| r.entry(path).or_insert(fresh).clone()))
}
