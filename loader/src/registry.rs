//! The process-wide registry of loaded plugins, keyed by identity: a snapshot's bytes (the
//! same bytes under any path, link or copy are one plugin), or the device and inode of a file
//! loaded in place. Each entry opens and initialises its plugin once, and lives as long as the
//! process unless its library is unloaded ([`release`], an opt-in).
//!
//! No lock is held while plugin code runs (static constructors at `dlopen`, `on_load`): a
//! [`Step`] records which thread runs it, other threads wait for the outcome, and a wait that
//! would never end (the running thread waits, directly or through others, for this one) is a
//! typed error instead.

use std::collections::HashMap;
use std::fs;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, ThreadId};

use xplug::__private::PluginRuntime;
use xplug::header::HEADER_SIZE;

use crate::error::{ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::plugin::Unloaded;
use crate::stages::file::OpenFile;
use crate::stages::open::{Opened, Sealed};
use crate::trust::Sha256;

/// Where to look for a load's plugin: an index into the registry, not a proof. Each entry found
/// there is compared with the load (its [`Source`]) before it is taken.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Identity {
    /// A snapshot: the length and the 128-bit XXH3 of its bytes, seeded per process (so no
    /// one can craft files that share a bucket in advance).
    Content { len: u64, xxh3: u128 },
    /// A file loaded in place: the file itself.
    #[cfg(unix)]
    File { device: u64, inode: u64 },
    /// A file loaded in place, where files have no portable identity: its real path.
    #[cfg(not(unix))]
    Path(std::path::PathBuf),
}

impl Identity {
    /// The identity of a file loaded in place.
    pub(crate) fn of_file(open: &OpenFile) -> Identity {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Identity::File {
                device: open.meta.dev(),
                inode: open.meta.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            Identity::Path(open.path.clone())
        }
    }

    /// The identity of a snapshot of `bytes`.
    pub(crate) fn of_content(bytes: &[u8]) -> Identity {
        Identity::Content {
            len: bytes.len() as u64,
            xxh3: xxhash_rust::xxh3::xxh3_128_with_seed(bytes, seed()),
        }
    }

    /// Whether entries of other bytes may share this identity (snapshots, whose hashes may
    /// collide), rather than being earlier contents of the same file.
    fn is_content(&self) -> bool {
        matches!(self, Identity::Content { .. })
    }
}

/// This process's XXH3 seed, random (from the standard library's hash keys).
fn seed() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
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
    pub(crate) fn of(meta: &fs::Metadata, bytes: Option<&[u8]>) -> Stamp {
        Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            xxh3: bytes.map(|bytes| xxhash_rust::xxh3::xxh3_128_with_seed(bytes, seed())),
        }
    }

    /// Whether `self` and `other` describe the same contents: equal, where the bytes were
    /// read for both, also in them.
    pub(crate) fn matches(&self, other: &Stamp) -> bool {
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
    Sealed(Sealed),
    /// A snapshot copied to a private directory (the copy is removed once opened): the
    /// SHA-256 of its bytes.
    Copy(Sha256),
    /// A file loaded in place: its stamp when its header was read.
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
    /// Stage 6's `on_load` hook, run once, its outcome kept.
    pub(crate) loaded: Step<Result<(), ErrorKind>>,
    /// The runtime of its copy of xplug, once its layout was checked.
    pub(crate) runtime: Mutex<Option<&'static PluginRuntime>>,
}

impl Library {
    /// Whether its code was mapped into the process (by this process's `dlopen`).
    pub(crate) fn was_mapped(&self) -> bool {
        self.opened.is_kept()
    }

    /// Whether its load has finished in this process (its `on_load` outcome is known): none
    /// of its loading code runs again.
    pub(crate) fn is_settled(&self) -> bool {
        self.loaded.is_kept()
    }

    pub(crate) fn new(info: PluginInfo, header: [u8; HEADER_SIZE], source: Source) -> Self {
        Library {
            info,
            header,
            source,
            opened: Step::new(),
            loaded: Step::new(),
            runtime: Mutex::new(None),
        }
    }
}

/// Sets the maximum log level of the host (`log::set_max_level`) and of every plugin loaded in
/// this process whose records go to the host.
///
/// A plugin takes the host's level when it loads; `log::set_max_level` alone reaches only the
/// host's copy of `log`. Call this instead when the level changes after plugins loaded.
pub fn set_max_log_level(level: log::LevelFilter) {
    log::set_max_level(level);
    let registry = lock(&REGISTRY);
    for library in registry.iter().flat_map(|r| r.values()).flatten() {
        if let Some(runtime) = *lock(&library.runtime) {
            // Runs xplug's own code in the plugin, which sets a number: it cannot reenter. A
            // library leaves the registry (under this lock) before it is unloaded.
            (runtime.set_log_level)(level as usize as u8);
        }
    }
}

/// Each identity's plugins: several for snapshots whose hashes collide, at most one for a file
/// loaded in place.
type Registry = HashMap<Identity, Vec<Arc<Library>>>;

/// Every plugin this process has read far enough to register.
static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the registry holds for an identity and its bytes.
pub(crate) enum Entry {
    /// The plugin of these bytes.
    Plugin(Arc<Library>),
    /// A file loaded in place whose bytes changed since its plugin (this one) was mapped.
    Replaced(Arc<Library>),
}

/// The plugin registered for `identity` whose bytes are those of this load (`same` says), or
/// the one `read` makes (outside the lock: it reads the file but runs nothing, and the first
/// to register wins). For a file loaded in place, an entry for other bytes is kept if they
/// were mapped (the load is refused as replaced), and replaced if they never were (a file
/// refused, then rewritten); snapshots of other bytes that share an identity live side by
/// side.
///
/// `same` runs without the registry's lock (comparing a snapshot reads its bytes), except for
/// entries registered while `read` ran.
pub(crate) fn entry(
    identity: Identity,
    same: impl Fn(&Library) -> bool,
    read: impl FnOnce() -> Result<Library, LoadError>,
) -> Result<Entry, LoadError> {
    let bucket = |registry: &Option<Registry>| -> Vec<Arc<Library>> {
        registry
            .as_ref()
            .and_then(|registry| registry.get(&identity))
            .cloned()
            .unwrap_or_default()
    };
    let known = |libraries: &[Arc<Library>]| {
        if let Some(library) = libraries.iter().find(|library| same(library)) {
            return Some(Entry::Plugin(library.clone()));
        }
        if identity.is_content() {
            return None;
        }
        let mapped = libraries.iter().find(|library| library.was_mapped())?;
        Some(Entry::Replaced(mapped.clone()))
    };
    let seen = bucket(&lock(&REGISTRY));
    if let Some(entry) = known(&seen) {
        return Ok(entry);
    }
    let library = Arc::new(read()?);
    let mut registry = lock(&REGISTRY);
    let mut libraries = bucket(&registry);
    if identity.is_content() {
        // Those seen before were compared already.
        libraries.retain(|library| !seen.iter().any(|old| Arc::ptr_eq(old, library)));
    }
    if let Some(entry) = known(&libraries) {
        return Ok(entry);
    }
    let libraries = registry
        .get_or_insert_with(HashMap::new)
        .entry(identity.clone())
        .or_default();
    if !identity.is_content() {
        // Only entries never mapped are here (`known` returned the others).
        libraries.clear();
    }
    libraries.push(library.clone());
    Ok(Entry::Plugin(library))
}

/// Takes `library` out of the registry and unloads it, if this is its last handle; gives it
/// back otherwise (another handle, or a load in progress, holds it).
///
/// # Safety
/// As [`Mapping::unload`](crate::stages::open::Mapping::unload): nothing of the library is used afterwards.
pub(crate) unsafe fn release(library: Arc<Library>) -> Result<Unloaded, Arc<Library>> {
    let mut registry = lock(&REGISTRY);
    let table = registry.get_or_insert_with(HashMap::new);
    let identity = table
        .iter()
        .find(|(_, libraries)| libraries.iter().any(|l| Arc::ptr_eq(l, &library)))
        .map(|(identity, _)| identity.clone());
    if let Some(identity) = &identity {
        if let Some(libraries) = table.get_mut(identity) {
            libraries.retain(|l| !Arc::ptr_eq(l, &library));
            if libraries.is_empty() {
                table.remove(identity);
            }
        }
    }
    // Only holders of a handle can clone one, and the registry's is gone: this succeeds when
    // `library` is the last handle, and nothing can take another meanwhile. (A load comparing
    // its bytes with this library holds a clone for that moment: the unload is then refused,
    // as if another handle existed, and may be tried again.)
    let library = match Arc::try_unwrap(library) {
        Ok(library) => library,
        Err(library) => {
            if let Some(identity) = identity {
                table.entry(identity).or_default().push(library.clone());
            }
            return Err(library);
        }
    };
    drop(registry);
    let mapping = match library.opened.into_inner() {
        Some(Ok(opened)) => Arc::try_unwrap(opened.mapping).ok(),
        _ => None,
    };
    // The mapping is shared only by clones of `Opened` that loads in progress hold, and each
    // holds `library` too: there are none.
    Ok(match mapping {
        // SAFETY: the caller's promise.
        Some(mapping) => unsafe { mapping.unload() },
        // Not expected (a plugin's library is mapped, its mapping not shared): it stays.
        None => Unloaded::StillMapped,
    })
}

/// A step run at most once to success: the first caller runs it while later ones wait.
pub(crate) struct Step<T> {
    value: Mutex<Option<T>>,
}

/// Which thread runs which step, and which step each waiting thread waits for: enough to
/// see a wait that would never end.
#[derive(Default)]
struct Steps {
    /// Step (by address) -> the thread running it.
    running: HashMap<usize, ThreadId>,
    /// Thread -> the step (by address) it waits for.
    waiting: HashMap<ThreadId, usize>,
}

static STEPS: Mutex<Option<Steps>> = Mutex::new(None);
static STEP_DONE: Condvar = Condvar::new();

/// The outcome of waiting for a step: a would-be deadlock is refused.
#[derive(Debug)]
pub(crate) struct WouldDeadlock;

impl Steps {
    /// Whether the thread `me`, by waiting for a step that `owner` runs, would wait forever:
    /// `owner` is `me`, or waits (through a chain of others) for a step `me` runs.
    fn cycle(&self, mut owner: ThreadId, me: ThreadId) -> bool {
        // A chain visits each waiting thread at most once.
        for _ in 0..=self.waiting.len() {
            if owner == me {
                return true;
            }
            match self.waiting.get(&owner).and_then(|s| self.running.get(s)) {
                Some(next) => owner = *next,
                None => return false,
            }
        }
        true
    }
}

impl<T: Clone> Step<T> {
    const fn new() -> Self {
        Step {
            value: Mutex::new(None),
        }
    }

    /// The kept outcome, if any.
    fn into_inner(self) -> Option<T> {
        self.value
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an outcome is kept.
    fn is_kept(&self) -> bool {
        lock(&self.value).is_some()
    }

    /// The kept value, or `run`'s result when none is kept yet. `keep` says which results
    /// are kept; the others are returned to this caller only, and the next caller runs again.
    /// `run` is called with no lock held. Waiting for another thread's `run` that waits, in
    /// turn, for this thread is refused with [`WouldDeadlock`], as is calling `get_or_run` on
    /// a step from inside its own `run`.
    pub(crate) fn get_or_run(
        &self,
        keep: impl Fn(&T) -> bool,
        run: impl FnOnce() -> T,
    ) -> Result<T, WouldDeadlock> {
        let id = self as *const Self as usize;
        let me = thread::current().id();
        let mut steps = lock(&STEPS);
        loop {
            if let Some(value) = &*lock(&self.value) {
                return Ok(value.clone());
            }
            let table = steps.get_or_insert_with(Steps::default);
            match table.running.get(&id) {
                None => {
                    table.running.insert(id, me);
                    break;
                }
                Some(&owner) => {
                    if table.cycle(owner, me) {
                        return Err(WouldDeadlock);
                    }
                    table.waiting.insert(me, id);
                    steps = STEP_DONE
                        .wait(steps)
                        .unwrap_or_else(PoisonError::into_inner);
                    if let Some(table) = steps.as_mut() {
                        table.waiting.remove(&me);
                    }
                }
            }
        }
        drop(steps);
        // Whatever happens in `run`, the step is marked not running afterwards.
        let finish = Finish { id };
        let value = run();
        if keep(&value) {
            *lock(&self.value) = Some(value.clone());
        }
        drop(finish);
        Ok(value)
    }
}

/// Marks a step finished and wakes its waiters, also when its `run` unwinds.
struct Finish {
    id: usize,
}

impl Drop for Finish {
    fn drop(&mut self) {
        let mut steps = lock(&STEPS);
        if let Some(table) = steps.as_mut() {
            table.running.remove(&self.id);
        }
        STEP_DONE.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;
    use std::time::Duration;

    #[test]
    fn a_step_runs_once_and_keeps_only_what_it_is_told_to() {
        let step: Step<Result<u32, ()>> = Step::new();
        assert_eq!(step.get_or_run(Result::is_ok, || Err(())).unwrap(), Err(()));
        assert_eq!(step.get_or_run(Result::is_ok, || Ok(1)).unwrap(), Ok(1));
        assert_eq!(step.get_or_run(Result::is_ok, || Ok(2)).unwrap(), Ok(1));
    }

    #[test]
    fn a_step_entered_from_its_own_run_is_refused() {
        let step: Step<u32> = Step::new();
        let inner = step.get_or_run(
            |_| true,
            || match step.get_or_run(|_| true, || 2) {
                Err(WouldDeadlock) => 7,
                Ok(_) => 0,
            },
        );
        assert_eq!(inner.unwrap(), 7);
    }

    #[test]
    fn two_threads_waiting_for_each_other_are_refused_not_hung() {
        static A: Step<&'static str> = Step::new();
        static B: Step<&'static str> = Step::new();
        let barrier = Arc::new(Barrier::new(2));
        let run = |first: &'static Step<&'static str>, second: &'static Step<&'static str>| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                first.get_or_run(
                    |_| true,
                    || {
                        barrier.wait();
                        // Let the other thread start its own step first.
                        thread::sleep(Duration::from_millis(50));
                        match second.get_or_run(|_| true, || "inner") {
                            Ok(_) => "waited",
                            Err(WouldDeadlock) => "refused",
                        }
                    },
                )
            })
        };
        let one = run(&A, &B);
        let two = run(&B, &A);
        let outcomes = [one.join().unwrap().unwrap(), two.join().unwrap().unwrap()];
        // One of them sees the cycle and is refused; the other then gets the kept value.
        assert!(outcomes.contains(&"refused"), "{outcomes:?}");
    }
}
