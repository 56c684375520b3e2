//! Everything the loader keeps for the life of the process, in one place (thread-locals
//! aside):
//!
//! | state | module | what for |
//! |---|---|---|
//! | the registry of libraries | [`registry`] | the same bytes are one plugin, opened and initialised once |
//! | which live generations each thread is calling into (feature `reload`) | `calls` | a reload waits for the calls on the generation it replaces; an unload sees them |
//! | which thread runs which step | [`step`] | no lock held while plugin code runs; a wait that would never end is refused |
//! | layouts that passed | [`layout_cache`] | each distinct root-module layout is checked in full once |
//! | the XXH3 seed, the memfd flags, the snapshot counter, in-place names in use, leftovers removed | here | answers asked once, names of loaded libraries never reused |
//! | loads listed in quarantine journals, and this process's owner file of each journal | here ([`quarantine_loads`], [`journal_owner`]) | a load in progress is not taken for a crash |

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use crate::digest::Sha256;
use crate::sys;

#[cfg(feature = "reload")]
pub(crate) mod calls;
pub(crate) mod layout_cache;
pub(crate) mod library;
pub(crate) mod registry;
pub(crate) mod step;

/// Locks `mutex`, whose data stays consistent even if a thread panicked while holding it
/// (every critical section here writes whole values).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This process's XXH3 seed, random (from the standard library's hash keys).
pub(crate) fn seed() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    static SEED: AtomicU64 = AtomicU64::new(0);
    match SEED.load(Ordering::Relaxed) {
        0 => {
            let seed = RandomState::new().build_hasher().finish() | 1;
            // Two threads may race here: the first stored seed wins for both.
            match SEED.compare_exchange(0, seed, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => seed,
                Err(stored) => stored,
            }
        }
        seed => seed,
    }
}

/// [`sys::memfd_exec_flags`], asked once per process.
pub(crate) fn memfd_exec_flags() -> Option<u32> {
    const UNKNOWN: u32 = u32::MAX;
    const NO_MEMFD: u32 = u32::MAX - 1;
    static FLAGS: AtomicU32 = AtomicU32::new(UNKNOWN);
    let flags = match FLAGS.load(Ordering::Relaxed) {
        UNKNOWN => {
            let flags = sys::memfd_exec_flags().unwrap_or(NO_MEMFD);
            FLAGS.store(flags, Ordering::Relaxed);
            flags
        }
        known => known,
    };
    if flags == NO_MEMFD {
        None
    } else {
        Some(flags)
    }
}

/// A number not given out before in this process: names snapshot copies.
pub(crate) fn next_copy_number() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    COUNTER.fetch_add(1, Ordering::Relaxed)
}

/// Where snapshot copies outlive their processes (Windows), removes the leftovers of earlier
/// processes from the copies' directory, once per process.
pub(crate) fn remove_leftover_copies(dir: Option<&Path>) {
    static ONCE: Once = Once::new();
    if sys::private_dir::COPIES_OUTLIVE_PROCESSES {
        ONCE.call_once(|| sys::private_dir::remove_leftovers(dir));
    }
}

/// Which names of each file loaded in place may still name a loaded library: the numbers of
/// the names [`in_place_name`] gave out and [`release_in_place_name`] did not take back.
static IN_PLACE_NAMES: Mutex<Option<HashMap<PathBuf, Vec<usize>>>> = Mutex::new(None);

/// A name for the dynamic loader to open `path` by, in place, that names no library still
/// loaded, and its number. The dynamic loader knows a library by the name it was opened with
/// and returns the loaded one for the same name, so while a library opened from `path` is
/// loaded, the file there (replaced since) gets another name for the same directory:
/// `dir/file`, `dir/./file`, `dir/././file`, ... The shortest free one is given, so names stay
/// short when libraries are unloaded.
pub(crate) fn in_place_name(path: &Path) -> (PathBuf, usize) {
    let mut names = lock(&IN_PLACE_NAMES);
    let used = names
        .get_or_insert_with(HashMap::new)
        .entry(path.to_path_buf())
        .or_default();
    let number = (0..).find(|n| !used.contains(n)).unwrap_or(0);
    used.push(number);
    let mut name = path.parent().map(Path::to_path_buf).unwrap_or_default();
    for _ in 0..number {
        name.push(".");
    }
    let name = match path.file_name() {
        Some(file) => name.join(file),
        None => path.to_path_buf(),
    };
    (name, number)
}

/// Takes back the name number `number` of `path`: no library opened by it is loaded any more.
pub(crate) fn release_in_place_name(path: &Path, number: usize) {
    let mut names = lock(&IN_PLACE_NAMES);
    if let Some(used) = names.as_mut().and_then(|names| names.get_mut(path)) {
        used.retain(|n| *n != number);
        if used.is_empty() {
            names.as_mut().map(|names| names.remove(path));
        }
    }
}

/// How many loads of each quarantine journal entry (journal, digest) this process is running:
/// entries it wrote and has not yet cleared (loads in progress, not crashes).
pub(crate) type QuarantineLoads = HashMap<(PathBuf, Sha256), usize>;

/// This process's [`QuarantineLoads`], locked. The lock also orders this process's writes to
/// journals.
pub(crate) fn quarantine_loads() -> MutexGuard<'static, Option<QuarantineLoads>> {
    static LOADS: Mutex<Option<QuarantineLoads>> = Mutex::new(None);
    lock(&LOADS)
}

/// This process's owner files of the journals it wrote to, each kept open and locked for the
/// life of the process: the token that names this process in the journal's lines.
static JOURNAL_OWNERS: Mutex<Option<HashMap<PathBuf, (String, std::fs::File)>>> = Mutex::new(None);

/// The token that names this process in the lines it writes to the journal at `journal` (its
/// real path): the name of a file in `owners_dir` (the journal's `JOURNAL.owners/`) this process
/// keeps locked while it lives, made at the first call. `None` where files cannot be locked or the file cannot be
/// made: lines then name no process.
pub(crate) fn journal_owner(journal: &Path, owners_dir: &Path) -> Option<String> {
    let mut owners = lock(&JOURNAL_OWNERS);
    let owners = owners.get_or_insert_with(HashMap::new);
    if let Some((token, _)) = owners.get(journal) {
        return Some(token.clone());
    }
    if !sys::FILE_LOCKS {
        return None;
    }
    let dir = owners_dir;
    std::fs::create_dir_all(dir).ok()?;
    let token = format!(
        "{}-{:016x}",
        std::process::id(),
        seed() ^ next_copy_number()
    );
    let path = dir.join(&token);
    let file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)
        .ok()?;
    if !sys::try_lock_file(&file).unwrap_or(false) {
        let _ = std::fs::remove_file(&path);
        return None;
    }
    owners.insert(journal.to_path_buf(), (token.clone(), file));
    Some(token)
}

/// Whether `text` is a token [`journal_owner`] makes: `PID-` and 16 hex digits (so that a
/// journal line names no other file).
pub(crate) fn is_journal_owner_token(text: &str) -> bool {
    match text.split_once('-') {
        Some((pid, nonce)) => {
            !pid.is_empty()
                && pid.bytes().all(|b| b.is_ascii_digit())
                && nonce.len() == 16
                && nonce.bytes().all(|b| b.is_ascii_hexdigit())
        }
        None => false,
    }
}

/// [`journal_owner`], if this process has one for `journal` already.
pub(crate) fn journal_owner_if_any(journal: &Path) -> Option<String> {
    lock(&JOURNAL_OWNERS)
        .as_ref()
        .and_then(|owners| owners.get(journal))
        .map(|(token, _)| token.clone())
}
