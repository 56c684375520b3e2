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
    /// A snapshot: the length and the 128-bit XXH3 of a bounded part of its bytes (see
    /// [`hashed_ranges`]: the pieces between the edges lie at offsets seeded per process), and
    /// the host services it is handed (their address, 0 for none): each set of services gets
    /// its own instance of the bytes. Files of one length that differ only between the pieces
    /// share a bucket (likely, for builds of one plugin); its libraries are told apart byte
    /// for byte ([`Library::matches`]), each new load compared with each of them.
    Content {
        len: u64,
        xxh3: u128,
        services: usize,
    },
    /// A file loaded in place: the file itself.
    File(FileId),
}

impl Identity {
    /// The identity of a snapshot of `len` bytes whose [`content_hash`] with this process's
    /// seed is `xxh3`, handed the host services at `services`.
    pub(crate) fn of_content(len: usize, xxh3: u128, services: usize) -> Identity {
        Identity::Content {
            len: len as u64,
            xxh3,
            services,
        }
    }

    /// Whether libraries of other bytes may share this identity (snapshots, whose hashes may
    /// collide), rather than being earlier contents of the same file.
    pub(crate) fn is_content(&self) -> bool {
        matches!(self, Identity::Content { .. })
    }
}

/// The bytes of a large file a snapshot's identity hashes at most: its first and last
/// [`EDGE`] bytes (the headers, with a build's identifier where the linker writes one, and the
/// end of the section table, which differ between any two builds) and [`PIECES`] pieces of
/// [`PIECE`] bytes between them, 3 KiB in all. A library's loops run at its user's
/// optimisation level: hashing a whole 13 MB debug build took 100 ms in a debug host, 192 KiB
/// of it 1.3 ms, more than the rest of the checks, and 9 KiB (4 KiB edges) still a sixth of a
/// small plugin's load there. The hash only picks a bucket: two files that differ only between
/// the pieces share one and are told apart by `memcmp`.
const EDGE: usize = 1 << 10;
/// See [`EDGE`].
const PIECES: usize = 16;
/// See [`EDGE`].
const PIECE: usize = 64;

/// The ranges of a file of `len` bytes that its identity hashes: all of it up to
/// `2 * EDGE + PIECES * PIECE` bytes; beyond, the edges and one piece in each of `PIECES`
/// equal strides between them, at an offset within the stride that `seed` picks.
fn hashed_ranges(len: usize, seed: u64) -> Vec<std::ops::Range<usize>> {
    if len <= 2 * EDGE + PIECES * PIECE {
        return std::iter::once(0..len).collect();
    }
    let middle = len - 2 * EDGE;
    let stride = middle / PIECES;
    let mut ranges = vec![0..EDGE, len - EDGE..len];
    for i in 0..PIECES {
        let jitter = seed.rotate_left((i as u32 * 7) % 64) as usize % (stride - PIECE + 1);
        let start = EDGE + i * stride + jitter;
        ranges.push(start..start + PIECE);
    }
    ranges
}

/// The seeded XXH3 of the parts of `bytes` that [`hashed_ranges`] names, and of their length:
/// a bucket for bytes, never a proof that two files hold the same (compare them for that).
pub(crate) fn content_hash(bytes: &[u8], seed: u64) -> u128 {
    hash_pieces(bytes.len(), seed, |range, hasher| {
        hasher.update(bytes.get(range).unwrap_or_default())
    })
}

/// Names a snapshot in `/proc/PID/maps` and in a private directory (beside the process id and
/// a counter): 16 hex digits of a hash of its bytes, the same in every process (unseeded), of a
/// bounded part of them ([`content_hash`]): a name for people, not an identity.
pub(crate) fn label(bytes: &[u8]) -> String {
    label_of(content_hash(bytes, 0))
}

/// [`label`] of a hash.
pub(crate) fn label_of(hash: u128) -> String {
    format!("{:032x}", hash)[..16].to_owned()
}

/// [`content_hash`] of what the file holds, `len` bytes, read piece by piece (no more than
/// the pieces hashed).
#[cfg(unix)]
pub(crate) fn file_content_hash(
    file: &std::fs::File,
    len: usize,
    seed: u64,
) -> std::io::Result<u128> {
    use std::os::unix::fs::FileExt;
    let mut piece = Vec::new();
    let mut failed = None;
    let hash = hash_pieces(len, seed, |range, hasher| {
        piece.resize(range.len(), 0);
        match file.read_exact_at(&mut piece, range.start as u64) {
            Ok(()) => hasher.update(&piece),
            Err(e) => failed = Some(e),
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(hash),
    }
}

/// The XXH3 of `len` and of what `piece` adds for each of [`hashed_ranges`].
fn hash_pieces(
    len: usize,
    seed: u64,
    mut piece: impl FnMut(std::ops::Range<usize>, &mut xxhash_rust::xxh3::Xxh3),
) -> u128 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::with_seed(seed);
    hasher.update(&(len as u64).to_le_bytes());
    for range in hashed_ranges(len, seed) {
        piece(range, &mut hasher);
    }
    hasher.digest128()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_s_identity_hashes_a_bounded_part_of_any_file() {
        let small = 2 * EDGE + PIECES * PIECE;
        for len in [0, 1, small, small + 1, small + PIECES, 13 << 20, 512 << 20] {
            for seed in [1, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
                let ranges = hashed_ranges(len, seed);
                let hashed: usize = ranges.iter().map(|r| r.len()).sum();
                assert!(hashed <= small, "{len} bytes: {hashed} hashed");
                assert!(
                    ranges.iter().all(|r| r.start < r.end && r.end <= len) || len == 0,
                    "{len}: {ranges:?}"
                );
            }
        }
        let whole = hashed_ranges(small, 1);
        assert!(
            whole.len() == 1 && whole[0] == (0..small),
            "small files whole"
        );
    }

    #[test]
    fn bytes_that_differ_where_they_are_hashed_or_in_length_get_other_buckets() {
        let bytes = vec![7u8; 1 << 20];
        let hash = content_hash(&bytes, 1);
        assert_eq!(hash, content_hash(&bytes.clone(), 1));
        for at in [0, EDGE - 1, bytes.len() - 1] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            assert_ne!(hash, content_hash(&changed, 1), "a change at {at}");
        }
        let mut longer = bytes.clone();
        longer.push(7);
        assert_ne!(hash, content_hash(&longer, 1));
        assert_ne!(hash, content_hash(&bytes, 2), "another process's seed");
    }
}
