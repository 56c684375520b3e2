//! One plugin as the process knows it: a [`Library`], found by its [`Identity`] and told apart
//! from other bytes under that identity by its [`Source`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use abi_stable::library::LibHeader;
use xplug::__private::PluginRuntime;
use xplug::header::HEADER_SIZE;

use crate::digest::{LazyDigest, Sha256};
use crate::error::ErrorKind;
use crate::info::PluginInfo;
use crate::sys::{self, FileId, Mapping, SealedFile};

use super::step::Step;

/// Where to look for a load's plugin: an index into the registry, not a proof. Each library
/// found there is compared with the load (a [`Probe`]) before it is taken.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Identity {
    /// A snapshot: the length and the 128-bit XXH3 of its bytes, seeded per process (so no
    /// one can craft files that share a bucket in advance), and the host services it is handed
    /// (their address, 0 for none): each set of services gets its own instance of the bytes.
    Content {
        len: u64,
        xxh3: u128,
        services: usize,
    },
    /// A file loaded in place: the file itself.
    File(FileId),
}

impl Identity {
    /// The identity of a snapshot of `bytes` handed the host services at `services`.
    pub(crate) fn of_content(bytes: &[u8], services: usize) -> Identity {
        Identity::Content {
            len: bytes.len() as u64,
            xxh3: xxhash_rust::xxh3::xxh3_128_with_seed(bytes, super::seed()),
            services,
        }
    }

    /// Whether libraries of other bytes may share this identity (snapshots, whose hashes may
    /// collide), rather than being earlier contents of the same file.
    pub(crate) fn is_content(&self) -> bool {
        matches!(self, Identity::Content { .. })
    }
}

/// What says that a file loaded in place still holds the bytes that were checked: its size
/// and modification time when it was opened, and the XXH3 of its bytes when they were read
/// (for a trust policy). A file rewritten in place changes them (a rewrite that keeps size
/// and modification time is seen only where the bytes were read). The change time is left
/// out on purpose: renaming the file or linking it elsewhere changes it too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    xxh3: Option<u128>,
}

impl Stamp {
    pub(crate) fn of(meta: &std::fs::Metadata, bytes: Option<&[u8]>) -> Stamp {
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            xxh3: bytes.map(|bytes| xxhash_rust::xxh3::xxh3_128_with_seed(bytes, super::seed())),
        }
    }

    /// Whether `self` and `other` describe the same contents: equal, where the bytes were
    /// read for both, also in them.
    fn matches(&self, other: &Stamp) -> bool {
        let content = match (self.xxh3, other.xxh3) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.len == other.len && self.modified == other.modified && content
    }
}

/// Where a plugin's code comes from, and what a later load compares with it.
pub(crate) enum Source {
    /// A snapshot in a sealed memfd: its bytes, compared byte for byte.
    Sealed(Arc<SealedFile>),
    /// A snapshot copied to a private directory (the copy is removed once opened): the
    /// SHA-256 of its bytes.
    Copy(Sha256),
    /// A file loaded in place: its stamp when its header was read.
    InPlace(Stamp),
}

/// What a load has of its file, to compare with the libraries registered under its identity.
pub(crate) enum Probe<'a> {
    /// A snapshot of these bytes.
    Snapshot(&'a LazyDigest<'a>),
    /// A file loaded in place, as it is now.
    InPlace(Stamp),
}

/// One plugin: its header, and stages 5 and 6, each run once.
pub(crate) struct Library {
    pub(crate) info: PluginInfo,
    /// The header's bytes as stage 3 read and checked them; the header found in memory after
    /// `dlopen` must be the same.
    pub(crate) header: [u8; HEADER_SIZE],
    pub(crate) source: Source,
    /// Stage 5's `dlopen` and header checks, kept once the library was mapped (a failed
    /// `dlopen` maps nothing, and is tried again by the next load).
    pub(crate) opened: Step<Result<Opened, ErrorKind>>,
    /// Stage 6's `on_load` hook, run once, its outcome kept with the address of the host
    /// services the plugin was handed then (0 for none): the plugin keeps them for good.
    pub(crate) loaded: Step<(Result<(), ErrorKind>, usize)>,
    /// The runtime of its copy of xplug, once its layout was checked.
    pub(crate) runtime: Mutex<Option<PluginRuntime>>,
    /// Unloaded, but kept mapped by the dynamic loader (a file loaded in place): its code is
    /// in the process although `opened` is empty, its abi_stable header at this address. (If
    /// the next `dlopen` finds the header elsewhere, the mapping was made anew, and is
    /// initialised anew.)
    pub(crate) stays_mapped: Option<usize>,
    /// The thread of an `on_unload` hook that had not returned when its unload gave up
    /// waiting: the library stays until that thread has ended.
    pub(crate) unload_hook: Mutex<Option<JoinHandle<()>>>,
}

/// An opened library: its abi_stable header, its mapping, and for a file loaded in place the
/// name it was opened by (taken back once it is unmapped).
#[derive(Clone)]
pub(crate) struct Opened {
    pub(crate) header: &'static LibHeader,
    pub(crate) mapping: Arc<Mapping>,
    pub(crate) in_place_name: Option<(PathBuf, usize)>,
}

impl Library {
    pub(crate) fn new(info: PluginInfo, header: [u8; HEADER_SIZE], source: Source) -> Self {
        Library {
            info,
            header,
            source,
            opened: Step::new(),
            loaded: Step::new(),
            runtime: Mutex::new(None),
            stays_mapped: None,
            unload_hook: Mutex::new(None),
        }
    }

    /// Whether its code was mapped into the process (by this process's `dlopen`).
    pub(crate) fn was_mapped(&self) -> bool {
        self.stays_mapped.is_some() || self.opened.is_kept()
    }

    /// Whether its load has finished in this process (its `on_load` outcome is known): none
    /// of its loading code runs again.
    pub(crate) fn is_settled(&self) -> bool {
        self.loaded.is_kept()
    }

    /// Whether `probe` is a load of this library's bytes.
    pub(crate) fn matches(&self, probe: &Probe<'_>) -> bool {
        match (&self.source, probe) {
            (Source::Sealed(sealed), Probe::Snapshot(bytes)) => {
                sys::sealed_holds(sealed, bytes.bytes())
            }
            (Source::Copy(sha256), Probe::Snapshot(bytes)) => *sha256 == bytes.get(),
            (Source::InPlace(then), Probe::InPlace(now)) => then.matches(now),
            // Snapshots and files loaded in place have identities of different kinds.
            _ => false,
        }
    }
}
