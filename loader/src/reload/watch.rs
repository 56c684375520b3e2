//! [`Watcher`]: a plugin directory under hot reload, one [`Live`] handle per library file.
//!
//! The operating system's file events (the `notify` crate: inotify, ReadDirectoryChangesW,
//! FSEvents; or polling) wake one worker thread, which takes every path named since its last
//! round and brings each library file up to date with its file: load, reload, or mark it
//! removed. A change to a library's signature file (`libx.so.minisig`) tries its library
//! again, unless the library's file is the one already serving and no refusal of it is
//! outstanding.
//!
//! A file is tried once its writer is done, so that a copy in progress is not refused as a
//! damaged file: at once after a rename into place, a removal, a new hard link, or (where the
//! events say so: inotify) its writer's close; otherwise once no write has come for
//! `SETTLE`. Polled, a file is tried once two consecutive looks find it the same. A file
//! refused while a writer still has it open (inotify), or that changed while it was tried, is
//! not reported: the writer's next event tries it again (a writer that keeps it open without
//! writing for `STALLED` is taken as done).
//!
//! Entries whose names are not library names are reported once per appearance
//! ([`Event::Skipped`]), once they have stayed for `SETTLE`: the temporary file of an install
//! renamed into place meanwhile is not. A name is forgotten when its entry goes, so that
//! what the watcher remembers of them is bounded by the directory's entries.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use xplug::Interface;

use crate::dir::{Entry, Listing};
use crate::error::{ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::loader::Loader;
use crate::sys::{self, FileId};
use crate::trust::signature_file;

use super::live::{Live, Reload, Unloads};

/// How long a file must go without a new write before the watcher tries it, when no event
/// says that its writer is done: a writer that keeps the file open, a system whose events do
/// not report closes (ReadDirectoryChangesW, FSEvents), a new file nothing was written to
/// yet. A quarter of a second is many times the pause between two writes of a copy in
/// progress (milliseconds, even from a slow disk or over a network), and short against a
/// person waiting for a new build to load. Renames, removals and (inotify) closes do not wait
/// for it; a writer that pauses longer than this in the middle of a file is tried half-way.
/// Where the system's events report closes (inotify), that refusal is not reported while the
/// writer has the file open; elsewhere it is, and the writer's next write tries it again.
const SETTLE: Duration = Duration::from_millis(250);

/// How long a writer may keep a file open without writing to it before the watcher takes it
/// as done and reports the file's refusal (a writer that never closes it, a `truncate`).
const STALLED: Duration = Duration::from_secs(5);

/// What a [`Watcher`] did about a change in its directory; for the host to log or act on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A library file loaded: generation 1 of a new live plugin, or a removed file back
    /// with the bytes its live plugin serves.
    Loaded {
        /// The file.
        path: PathBuf,
        /// Its header.
        info: PluginInfo,
    },
    /// A file's new version loaded and serves every new call.
    Reloaded {
        /// The file.
        path: PathBuf,
        /// The generation it replaced.
        from: u64,
        /// The new generation.
        to: u64,
        /// The new version's header.
        info: PluginInfo,
        /// How long new calls were held ([`Reload::Reloaded`]).
        paused: Duration,
    },
    /// A file (or its new version) was refused; the generation named keeps serving, if any.
    Refused {
        /// The file.
        path: PathBuf,
        /// Why.
        error: LoadError,
        /// The generation still serving, or `None` if the file never loaded.
        serving: Option<u64>,
    },
    /// A loaded file was removed. Its live handle keeps serving its last generation, and
    /// reloads if a file appears under the same name.
    Removed {
        /// The file.
        path: PathBuf,
        /// The generation still serving existing handles.
        serving: u64,
    },
    /// An entry of the directory that the watcher does not try: its name is not a library
    /// name (`README.md`, `random.bin`, `libz.so.1`; a subdirectory), as
    /// [`DirReport::skipped`](crate::DirReport::skipped) lists them. Reported once per
    /// appearance: by the first scan, or once a new entry has stayed for a quarter of a second
    /// (the temporary name of an install renamed into place meanwhile is not reported); an
    /// entry removed (or renamed away) and back later is reported again. A library's
    /// signature file (`libx.so.minisig`) is never reported: its changes try its library
    /// again.
    Skipped {
        /// The entry.
        path: PathBuf,
    },
}

impl fmt::Display for Event {
    /// One line, for a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Loaded { path, info } => {
                write!(f, "loaded {} from {}", info.label(), path.display())
            }
            Event::Reloaded {
                path,
                from,
                to,
                info,
                paused,
            } => write!(
                f,
                "reloaded {}: generation {from} -> {to}, {} (calls held {paused:?})",
                path.display(),
                info.label()
            ),
            Event::Refused {
                path,
                error,
                serving,
            } => {
                write!(f, "refused {}: {}", path.display(), error.kind())?;
                match serving {
                    Some(generation) => write!(f, " (generation {generation} keeps serving)"),
                    None => Ok(()),
                }
            }
            Event::Removed { path, serving } => write!(
                f,
                "removed {} (generation {serving} keeps serving existing handles)",
                path.display()
            ),
            Event::Skipped { path } => write!(
                f,
                "skipped {}: not named like a library (*{})",
                path.display(),
                std::env::consts::DLL_SUFFIX
            ),
        }
    }
}

/// A plugin directory under hot reload: every library file in it is loaded as a [`Live`]
/// plugin, reloaded when it changes, and reported as removed when it goes. Each change is an
/// [`Event`] on [`events`](Watcher::events).
///
/// Made by [`Loader::watch_dir`]. Dropping it stops watching; the live handles it gave out
/// keep serving their current generations.
///
/// ```no_run
/// use greeter_interface::GreeterRef;
/// use xplug_loader::Loader;
///
/// let watcher = Loader::<GreeterRef>::new().watch_dir("plugins")?;
/// for event in watcher.events().iter() {
///     eprintln!("plugins: {event}");
///     for greeter in watcher.plugins() {
///         println!("{}", greeter.get().greet("Ada".into())?);
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Watcher<M> {
    state: Arc<State<M>>,
    events: Receiver<Event>,
    /// Dropped first: that ends the worker's event stream.
    source: Option<Feed>,
    worker: Option<JoinHandle<()>>,
}

struct State<M> {
    loader: Loader<M>,
    dir: PathBuf,
    /// Every library file seen, present or removed, by path. Files are brought up to date one
    /// at a time, by the initial scan and then by the worker, which starts after it; no lock
    /// is held while plugin code runs, so that code may use the watcher.
    files: Mutex<BTreeMap<PathBuf, Tracked<M>>>,
    /// The outstanding refusal per file (the last one reported, and the file it was about;
    /// dropped once the file loads, is found unchanged or goes): one change can come as
    /// several file events, and each refusal is reported once per version of the file.
    refusals: Mutex<BTreeMap<PathBuf, (Option<FileState>, String)>>,
    /// In a mutex: a `Sender` is `Sync` only from Rust 1.72 on.
    events: Mutex<Sender<Event>>,
}

struct Tracked<M> {
    live: Live<M>,
    present: bool,
    /// The file as it was when the serving generation was loaded from it (or found
    /// unchanged): a new signature for these bytes changes nothing.
    serving: Option<FileState>,
}

impl<M: Interface> Loader<M> {
    /// Loads every library in `dir` as a [`Live`] plugin and keeps them up to date with their
    /// files: a changed file is reloaded ([`Live::reload`]), a new one loaded, a removed one
    /// reported. File events come from the operating system; where it cannot watch `dir`,
    /// the directory is polled every half second. The first events (one per entry of `dir`:
    /// each library loaded or refused, each other entry [skipped](Event::Skipped)) are
    /// waiting when this returns, and [`Watcher::plugins`] holds what loaded.
    ///
    /// A file is tried once its writer is done with it: at once when it is renamed into place
    /// (install a new version that way), otherwise when its writer closes it (where the
    /// system's events say so: Linux) or a quarter of a second after its last write. A change
    /// to a library's signature file (`libx.so.minisig`) tries the library again.
    ///
    /// Runs plugin code whenever a file changes: the trust contract of
    /// [`load`](Loader::load) applies to every file and version that appears in `dir`.
    pub fn watch_dir(&self, dir: impl AsRef<Path>) -> Result<Watcher<M>, LoadError> {
        self.watch_dir_with(dir.as_ref(), None)
    }

    /// Like [`watch_dir`](Loader::watch_dir), but polls the directory every `interval`
    /// instead of listening for events (for file systems that send none, like some network
    /// and container mounts). A changed file is tried once two consecutive polls find it
    /// the same: up to two intervals late.
    pub fn watch_dir_polling(
        &self,
        dir: impl AsRef<Path>,
        interval: Duration,
    ) -> Result<Watcher<M>, LoadError> {
        self.watch_dir_with(dir.as_ref(), Some(interval))
    }

    fn watch_dir_with(
        &self,
        dir: &Path,
        polling: Option<Duration>,
    ) -> Result<Watcher<M>, LoadError> {
        // Absolute: `notify` names files under the absolute path of the directory.
        let dir = &std::env::current_dir()
            .map_err(|e| io_error(dir, e))?
            .join(dir);
        let (events, receiver) = mpsc::channel();
        let state = Arc::new(State {
            loader: self.clone(),
            dir: dir.to_path_buf(),
            files: Mutex::new(BTreeMap::new()),
            refusals: Mutex::new(BTreeMap::new()),
            events: Mutex::new(events),
        });
        // Watch before the first scan: a change during the scan is then seen afterwards.
        let (changes, changed) = mpsc::channel();
        let source = watch(dir, changes, polling)?;
        let mut settling = Settling::new(matches!(source, Feed::Native { .. }));
        let listing = Listing::of(dir)?;
        for error in listing.unreadable {
            state.send(Event::Refused {
                path: dir.to_path_buf(),
                error,
                serving: None,
            });
        }
        // In name order, libraries and skipped entries alike.
        let mut entries: Vec<(PathBuf, bool)> = listing
            .libraries
            .into_iter()
            .map(|path| (path, true))
            .chain(listing.skipped.into_iter().map(|path| (path, false)))
            .collect();
        entries.sort();
        for (path, library) in entries {
            if library {
                // Nothing is known of a writer yet: a file that changes while it is tried is
                // tried again at its writer's next event, or once it stalled.
                if state.update(&path, Trigger::File, false) {
                    settling.hold(path, Instant::now());
                }
            } else {
                settling.skipped.insert(path.clone());
                state.send(Event::Skipped { path });
            }
        }
        let worker = {
            let state = Arc::clone(&state);
            thread::Builder::new()
                .name(String::from("xplug-watcher"))
                .spawn(move || state.follow(changed, settling))
                .map_err(|e| thread_error(dir, "xplug-watcher", e))?
        };
        Ok(Watcher {
            state,
            events: receiver,
            source: Some(source),
            worker: Some(worker),
        })
    }
}

/// Where file events come from. Dropping it ends the event stream (the worker then stops).
enum Feed {
    /// The operating system's events, through `notify` (held for its `Drop`).
    Native { _watcher: RecommendedWatcher },
    /// A thread that compares the directory's entries with the last looks at them; ends
    /// when this sender is dropped.
    Polling { _stop: Sender<()> },
}

type Changes = Sender<notify::Result<notify::Event>>;

/// A file-event source for `dir` that sends to `changes`: the operating system's, unless
/// `polling` is given or the system cannot watch `dir` (out of inotify watches, a file system
/// without events), then a poll every `polling` (or half second).
fn watch(dir: &Path, changes: Changes, polling: Option<Duration>) -> Result<Feed, LoadError> {
    let native = || -> notify::Result<RecommendedWatcher> {
        let mut watcher = RecommendedWatcher::new(changes.clone(), notify::Config::default())?;
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
        Ok(watcher)
    };
    if polling.is_none() {
        if let Ok(watcher) = native() {
            return Ok(Feed::Native { _watcher: watcher });
        }
    }
    poll(dir, changes, polling.unwrap_or(Duration::from_millis(500)))
}

/// What a poll compares of a file. Not `notify`'s poller: it compares modification times
/// in whole seconds (a file replaced twice within a second is missed) or hashes every file's
/// contents at every poll.
#[derive(Clone, Debug, PartialEq, Eq)]
struct FileState {
    file: FileId,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

/// The entries of `dir` and their states (symlinks followed; a dangling one is absent).
fn look(dir: &Path) -> BTreeMap<PathBuf, FileState> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(_) => return BTreeMap::new(),
    };
    entries
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let state = file_state(&path)?;
            Some((path, state))
        })
        .collect()
}

/// The state of the file at `path` (symlinks followed), if there is one.
fn file_state(path: &Path) -> Option<FileState> {
    let meta = std::fs::metadata(path).ok()?;
    Some(FileState {
        file: FileId::of(path, &meta),
        len: meta.len(),
        modified: meta.modified().ok(),
    })
}

fn poll(dir: &Path, changes: Changes, interval: Duration) -> Result<Feed, LoadError> {
    let (stop, stopped) = mpsc::channel::<()>();
    let dir_owned = dir.to_path_buf();
    let mut last = look(dir);
    // What the worker was last told of each entry (the first scan sees them all).
    let mut told = last.clone();
    thread::Builder::new()
        .name(String::from("xplug-poller"))
        .spawn(move || {
            // Runs until the source is dropped (the sender disconnects).
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let now = look(&dir_owned);
                let mut event = notify::Event::new(notify::EventKind::Any);
                for (path, state) in &now {
                    // The same in two consecutive looks: its writer, if any, has paused for
                    // a whole interval. A file still being written is not tried half-way.
                    if last.get(path) == Some(state) && told.get(path) != Some(state) {
                        told.insert(path.clone(), state.clone());
                        event = event.add_path(path.clone());
                    }
                }
                let gone: Vec<PathBuf> = told
                    .keys()
                    .filter(|p| !now.contains_key(*p))
                    .cloned()
                    .collect();
                for path in gone {
                    told.remove(&path);
                    event = event.add_path(path);
                }
                last = now;
                if !event.paths.is_empty() && changes.send(Ok(event)).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| thread_error(dir, "xplug-poller", e))?;
    Ok(Feed::Polling { _stop: stop })
}

fn thread_error(dir: &Path, thread: &'static str, e: std::io::Error) -> LoadError {
    LoadError::new(
        dir,
        ErrorKind::ThreadNotStarted {
            thread,
            source: Arc::new(e),
        },
    )
}

fn io_error(dir: &Path, e: std::io::Error) -> LoadError {
    LoadError::new(
        dir,
        ErrorKind::Unreadable {
            source: Arc::new(e),
        },
    )
}

/// Why a library file is tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Trigger {
    /// Its file changed, or may have (the first scan, a rescan, a poll).
    File,
    /// Only its signature file changed.
    Signature,
}

/// The worker's record of entries in the middle of a change: which wait for their writer,
/// and which names were reported skipped. Kept by the worker thread alone.
struct Settling {
    /// Whether the events say when a writer closes a file (inotify).
    closes: bool,
    /// The entries waiting to be tried, and when they are due: a quiet [`SETTLE`] after
    /// their last write, or [`STALLED`] after a refusal held for an open writer.
    due: BTreeMap<PathBuf, Instant>,
    /// The entries written to and not closed since (only where the events report closes).
    writing: BTreeSet<PathBuf>,
    /// The libraries whose refusal was held because a writer had them (or their signature)
    /// open, and their state then: found the same when due again, the writer stalled.
    held: BTreeMap<PathBuf, Option<FileState>>,
    /// The entries reported skipped and still there (forgotten when they go).
    skipped: BTreeSet<PathBuf>,
}

impl Settling {
    fn new(native: bool) -> Settling {
        Settling {
            closes: native && sys::FILE_EVENTS_REPORT_CLOSE,
            due: BTreeMap::new(),
            writing: BTreeSet::new(),
            held: BTreeMap::new(),
            skipped: BTreeSet::new(),
        }
    }

    /// The first time an entry is due, if any waits.
    fn next_due(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// Takes in one file event about `path` (an entry of the directory) at `now`: the path
    /// goes to `ready` (to be tried this round) or waits for its writer.
    fn note(&mut self, kind: &EventKind, path: &Path, now: Instant, ready: &mut BTreeSet<PathBuf>) {
        if let Entry::Other = Entry::of(path) {
            let gone = match kind {
                EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)) => {
                    true
                }
                // Renamed one way or the other (both names in one event), or a poll's look.
                EventKind::Modify(ModifyKind::Name(_)) | EventKind::Any | EventKind::Other => {
                    path.symlink_metadata().is_err()
                }
                _ => false,
            };
            if gone {
                // Forgotten: reported again if it comes back.
                self.skipped.remove(path);
                self.due.remove(path);
                return;
            }
            // Reported once per appearance, and only once it has stayed: not the temporary
            // name of an install renamed away meanwhile.
            if !self.skipped.contains(path) && !matches!(kind, EventKind::Access(_)) {
                self.due.insert(path.to_path_buf(), later(now, SETTLE));
            }
            return;
        }
        let at_once = match kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
            EventKind::Access(_) => return,
            // A new name for a whole file: renamed into place, removed, a hard link (as
            // cargo puts a build in its target directory).
            EventKind::Modify(ModifyKind::Name(_)) | EventKind::Remove(_) => true,
            EventKind::Create(_) => is_hard_link(path),
            EventKind::Modify(ModifyKind::Data(_)) => {
                if self.closes {
                    self.writing.insert(path.to_path_buf());
                }
                false
            }
            // Permissions or times changed: tried again, but not in the middle of a write (a
            // writer that has the file open waits for its close, or settles, as after a write).
            EventKind::Modify(ModifyKind::Metadata(_)) => {
                if self.writing.contains(path) {
                    false
                } else if self.due.contains_key(path) {
                    return;
                } else {
                    true
                }
            }
            EventKind::Modify(_) => false,
            // Polls (a file the same in two looks) and events of unknown kinds.
            EventKind::Any | EventKind::Other => true,
        };
        // A held refusal waits for this writer again.
        self.held.remove(path);
        if at_once {
            self.due.remove(path);
            self.writing.remove(path);
            ready.insert(path.to_path_buf());
        } else {
            ready.remove(path);
            self.due.insert(path.to_path_buf(), later(now, SETTLE));
        }
    }

    /// Records that `library`'s refusal was held for its writer: the writer's next event tries
    /// it again; if none comes for [`STALLED`], the writer is taken as done.
    fn hold(&mut self, library: PathBuf, now: Instant) {
        self.held.insert(library.clone(), file_state(&library));
        self.due.insert(library, later(now, STALLED));
    }

    /// Moves the entries due by `now` to `ready`. A library whose refusal was held for an
    /// open writer and that has not changed since is taken as written: its writer stalled.
    fn take_due(&mut self, now: Instant, ready: &mut BTreeSet<PathBuf>) {
        let due: Vec<PathBuf> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(path, _)| path.clone())
            .collect();
        for path in due {
            self.due.remove(&path);
            if let Some(held) = self.held.remove(&path) {
                if held == file_state(&path) {
                    self.writing.remove(&path);
                    self.writing.remove(&signature_file(&path));
                }
            }
            ready.insert(path);
        }
    }

    /// Whether `library` or its signature file waits for its writer: the end of that wait
    /// tries the library.
    fn waits(&self, library: &Path) -> bool {
        (self.due.contains_key(library) && !self.held.contains_key(library))
            || self.due.contains_key(&signature_file(library))
    }

    /// Whether a writer has `library` or its signature file open.
    fn open_for_writing(&self, library: &Path) -> bool {
        self.writing.contains(library) || self.writing.contains(&signature_file(library))
    }
}

/// `wait` after `now` (or `now`, past the clock's end).
fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait).unwrap_or(now)
}

/// Whether the file at `path` has other names too: a new one is a hard link to a whole file,
/// not a file being written.
fn is_hard_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .ok()
        .and_then(|meta| sys::link_count(&meta))
        .map_or(false, |links| links > 1)
}

impl<M> State<M> {
    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, Tracked<M>>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The path under which the watcher knows the entry `name`: a file name, or a path in
    /// the watched directory (as events name it, or as the host named the directory).
    fn path_of(&self, name: &Path) -> Option<PathBuf> {
        let file = name.file_name()?;
        let parent = name.parent().unwrap_or_else(|| Path::new(""));
        let ours = parent.as_os_str().is_empty()
            || parent == self.dir
            || std::env::current_dir().map_or(false, |cwd| cwd.join(parent) == self.dir)
            || match (sys::canonicalize(parent), sys::canonicalize(&self.dir)) {
                (Ok(parent), Ok(dir)) => parent == dir,
                _ => false,
            };
        if ours {
            Some(self.dir.join(file))
        } else {
            None
        }
    }
}

impl<M: Interface> State<M> {
    /// The worker: each round takes every change queued since the last (or waits until an
    /// entry is due), then brings each library named up to date, in path order, and reports
    /// the skipped entries that stayed. Ends when the event source is dropped.
    fn follow(&self, changed: Receiver<notify::Result<notify::Event>>, mut settling: Settling) {
        loop {
            let first = match settling.next_due() {
                None => match changed.recv() {
                    Ok(change) => Some(change),
                    Err(_) => return,
                },
                Some(due) => {
                    match changed.recv_timeout(due.saturating_duration_since(Instant::now())) {
                        Ok(change) => Some(change),
                        Err(RecvTimeoutError::Timeout) => None,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            };
            let now = Instant::now();
            let mut ready = BTreeSet::new();
            let mut rescan = false;
            for change in first.into_iter().chain(changed.try_iter()) {
                match change {
                    Ok(event) => {
                        rescan |= event.need_rescan();
                        for path in &event.paths {
                            if self.is_ours(path) {
                                settling.note(&event.kind, path, now, &mut ready);
                            }
                        }
                    }
                    // Events were lost (a queue overflowed): look at every file.
                    Err(_) => rescan = true,
                }
            }
            if rescan {
                // Closes may have been lost too: no writer is known any more.
                settling.writing.clear();
                settling.held.clear();
                // Removals may have been lost: forget the skipped entries that went.
                settling
                    .skipped
                    .retain(|path| path.symlink_metadata().is_ok());
                let mut paths: Vec<PathBuf> = self.files().keys().cloned().collect();
                if let Ok(listing) = Listing::of(&self.dir) {
                    paths.extend(listing.libraries);
                    paths.extend(listing.skipped);
                }
                for path in paths {
                    settling.note(&EventKind::Any, &path, now, &mut ready);
                }
            }
            settling.take_due(now, &mut ready);
            self.try_ready(ready, &mut settling);
        }
    }

    /// Tries each library named in `ready` (directly, or by its signature file) and reports
    /// each skipped entry that is still there.
    fn try_ready(&self, ready: BTreeSet<PathBuf>, settling: &mut Settling) {
        let mut libraries: BTreeMap<PathBuf, Trigger> = BTreeMap::new();
        for path in ready {
            match Entry::of(&path) {
                Entry::Library => {
                    libraries.insert(path, Trigger::File);
                }
                Entry::Signature(library) => {
                    libraries.entry(library).or_insert(Trigger::Signature);
                }
                Entry::Other => {
                    if path.symlink_metadata().is_err() {
                        // Gone: reported again if it comes back.
                        settling.skipped.remove(&path);
                    } else if settling.skipped.insert(path.clone()) {
                        self.send(Event::Skipped { path });
                    }
                }
            }
        }
        for (library, trigger) in libraries {
            if settling.waits(&library) {
                continue;
            }
            let writing = settling.open_for_writing(&library);
            if self.update(&library, trigger, writing) {
                settling.hold(library, Instant::now());
            } else {
                // Loaded, or refused as it is: a writer that goes on writes again. A retry
                // due for a refusal held earlier has nothing left to do.
                settling.held.remove(&library);
                settling.writing.remove(&library);
                settling.due.remove(&library);
            }
        }
    }

    /// An entry directly in the watched directory (events name its entries by a path that
    /// starts with the directory as given).
    fn is_ours(&self, path: &Path) -> bool {
        path.parent() == Some(self.dir.as_path())
    }

    /// Brings `path` up to date with its file, and says what changed. `trigger` says what
    /// changed; `writing`, that a writer has the file or its signature open. Returns whether
    /// a refusal was held back because the file was not finished: open for writing, or
    /// changed while it was tried (its next event tries it again).
    fn update(&self, path: &Path, trigger: Trigger, writing: bool) -> bool {
        let signature = signature_file(path);
        let exists = path.symlink_metadata().is_ok();
        let print = file_state(path);
        let signed = file_state(&signature);
        let known = self
            .files()
            .get(path)
            .map(|t| (t.live.clone(), t.present, t.serving.clone()));
        // A change of the file itself is always tried: its state alone does not prove its
        // bytes unchanged.
        if trigger == Trigger::Signature {
            if let Some((_, true, Some(serving))) = &known {
                // Where modification times are coarse, a rewrite of the same size looks
                // unchanged: a file refused since may be another version than the one serving.
                if print.as_ref() == Some(serving) && !self.refused(path) {
                    // A new signature for the bytes serving: nothing to load.
                    return false;
                }
            }
        }
        let event = match (known, exists) {
            (None, false) => None,
            (None, true) => Some(match self.loader.live(path) {
                Ok(live) => {
                    let info = live.info();
                    self.files().insert(
                        path.to_path_buf(),
                        Tracked {
                            live,
                            present: true,
                            serving: print.clone(),
                        },
                    );
                    Event::Loaded {
                        path: path.to_path_buf(),
                        info,
                    }
                }
                Err(error) => Event::Refused {
                    path: path.to_path_buf(),
                    error,
                    serving: None,
                },
            }),
            (Some((live, true, _)), false) => {
                self.set_present(path, false, None);
                Some(Event::Removed {
                    path: path.to_path_buf(),
                    serving: live.generation(),
                })
            }
            (Some((_, false, _)), false) => None,
            (Some((live, was_present, _)), true) => {
                let reload = live.reload();
                if reload.is_ok() {
                    self.set_present(path, true, print.clone());
                }
                match reload {
                    // Removed, then back with the bytes that serve: loaded again.
                    Ok(Reload::Unchanged { .. }) if !was_present => Some(Event::Loaded {
                        path: path.to_path_buf(),
                        info: live.info(),
                    }),
                    Ok(Reload::Unchanged { .. }) => None,
                    Ok(Reload::Reloaded {
                        from, to, paused, ..
                    }) => Some(Event::Reloaded {
                        path: path.to_path_buf(),
                        from,
                        to,
                        info: live.info(),
                        paused,
                    }),
                    Err(error) => Some(Event::Refused {
                        path: path.to_path_buf(),
                        error,
                        serving: Some(live.generation()),
                    }),
                }
            }
        };
        if let Some(Event::Refused { .. }) = event {
            // Not finished: a truncated copy is not a file to reinstall.
            if writing || file_state(path) != print || file_state(&signature) != signed {
                return true;
            }
        }
        let mut refusals = self.refusals.lock().unwrap_or_else(PoisonError::into_inner);
        let event = match event {
            Some(Event::Refused {
                path,
                error,
                serving,
            }) => {
                let refusal = (print, error.to_string());
                if refusals.get(&path) == Some(&refusal) {
                    None
                } else {
                    refusals.insert(path.clone(), refusal);
                    Some(Event::Refused {
                        path,
                        error,
                        serving,
                    })
                }
            }
            // Loaded, unchanged or gone: no refusal is outstanding.
            other => {
                refusals.remove(path);
                other
            }
        };
        drop(refusals);
        if let Some(event) = event {
            self.send(event);
        }
        false
    }

    /// Whether the last outcome for `path` was a refusal (the file not loaded as it is).
    fn refused(&self, path: &Path) -> bool {
        self.refusals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains_key(path)
    }

    fn send(&self, event: Event) {
        // The host may have stopped listening: the watcher's state is kept all the same.
        let _ = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(event);
    }

    fn set_present(&self, path: &Path, present: bool, serving: Option<FileState>) {
        if let Some(tracked) = self.files().get_mut(path) {
            tracked.present = present;
            if present {
                tracked.serving = serving;
            }
        }
    }
}

impl<M> Watcher<M> {
    /// What happened in the directory, in order: the first load (or refusal) of each file
    /// and the entries skipped, then every reload, refusal, removal and newly skipped entry.
    pub fn events(&self) -> &Receiver<Event> {
        &self.events
    }

    /// The live plugins of the files present in the directory, in path order.
    pub fn plugins(&self) -> Vec<Live<M>> {
        self.state
            .files()
            .values()
            .filter(|t| t.present)
            .map(|t| t.live.clone())
            .collect()
    }

    /// The live plugin of a file in the directory, if it loaded (while it is removed, the
    /// handle keeps serving its last generation). `file` is its file name
    /// (`"libcounter.so"`), or its path as an [`Event`] names it, or any path to it through
    /// the watched directory; a file elsewhere is `None`.
    ///
    /// ```no_run
    /// use greeter_interface::GreeterRef;
    /// use xplug_loader::reload::Event;
    /// use xplug_loader::Loader;
    ///
    /// let watcher = Loader::<GreeterRef>::new().watch_dir("plugins")?;
    /// for event in watcher.events().iter() {
    ///     if let Event::Loaded { path, .. } | Event::Reloaded { path, .. } = &event {
    ///         let greeter = watcher.get(path).expect("loaded");
    ///         println!("{}: {}", path.display(), greeter.get().greet("Ada".into())?);
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get(&self, file: impl AsRef<Path>) -> Option<Live<M>> {
        let path = self.state.path_of(file.as_ref())?;
        self.state.files().get(&path).map(|t| t.live.clone())
    }

    /// The directory watched, as an absolute path.
    pub fn dir(&self) -> &Path {
        &self.state.dir
    }

    /// Unloads the retired generations of every plugin of the directory, as by
    /// [`Live::unload_retired`], and adds up what became of them. A plugin being reloaded
    /// meanwhile is unloaded after its reload; called from plugin code the watcher runs (a
    /// reload's hooks), the plugin being reloaded is skipped.
    ///
    /// # Safety
    /// [`Live::unload_retired`]'s contract, for every plugin of the directory: calls through
    /// the live handles are checked, but the watcher reloads whenever a file changes, so the
    /// host must know that no value any plugin made (a returned string, an object's code, a
    /// root module copied out of a `Held`) is kept beyond the `Held` it came through.
    pub unsafe fn unload_retired(&self) -> Unloads
    where
        M: Interface,
    {
        // Each live handle's unload waits for its reload, if one runs (and is skipped from
        // inside it); a file loaded meanwhile has no retired generation.
        let lives: Vec<Live<M>> = self
            .state
            .files()
            .values()
            .map(|t| t.live.clone())
            .collect();
        let mut unloads = Unloads::default();
        for live in lives {
            // SAFETY: the caller's promise.
            unloads.add(unsafe { live.unload_retired() });
        }
        unloads
    }
}

impl<M> Drop for Watcher<M> {
    /// Stops watching: no file is loaded or reloaded after this returns (unless it is
    /// dropped by plugin code the watcher's own thread runs; that thread then stops after
    /// the file it is loading).
    fn drop(&mut self) {
        drop(self.source.take());
        if let Some(worker) = self.worker.take() {
            if worker.thread().id() != thread::current().id() {
                let _ = worker.join();
            }
        }
    }
}

impl<M> fmt::Debug for Watcher<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("dir", &self.state.dir)
            .finish_non_exhaustive()
    }
}
