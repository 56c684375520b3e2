//! [`Watcher`]: a plugin directory under hot reload, one [`Live`] handle per library file.
//!
//! The operating system's file events (the `notify` crate: inotify, ReadDirectoryChangesW,
//! FSEvents; or polling) wake one worker thread, which takes every path named since its last
//! round and brings each up to date with its file: load, reload, or mark it removed. Nothing
//! waits for events to settle: a file still being written is refused like any bad file, and
//! the next event for it (the writer's next write, or its rename into place) tries again.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use xplug::Interface;

use crate::dir::{is_library_file_name, library_files};
use crate::error::{ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::loader::Loader;
use crate::sys::FileId;

use super::live::{Live, Reload, Unloads};

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
    /// The last refusal reported per file, and the file it was about: one change can come
    /// as several file events, and each refusal is reported once per version of the file.
    refusals: Mutex<BTreeMap<PathBuf, (Option<FileState>, String)>>,
    /// In a mutex: a `Sender` is `Sync` only from Rust 1.72 on.
    events: Mutex<Sender<Event>>,
}

struct Tracked<M> {
    live: Live<M>,
    present: bool,
}

impl<M: Interface> Loader<M> {
    /// Loads every library in `dir` as a [`Live`] plugin and keeps them up to date with their
    /// files: a changed file is reloaded ([`Live::reload`]), a new one loaded, a removed one
    /// reported. File events come from the operating system; where it cannot watch `dir`,
    /// the directory is polled every half second. The first events (one per file in `dir`)
    /// are waiting when this returns, and [`Watcher::plugins`] holds what loaded.
    ///
    /// Runs plugin code whenever a file changes: the trust contract of
    /// [`load`](Loader::load) applies to every file and version that appears in `dir`.
    pub fn watch_dir(&self, dir: impl AsRef<Path>) -> Result<Watcher<M>, LoadError> {
        self.watch_dir_with(dir.as_ref(), None)
    }

    /// Like [`watch_dir`](Loader::watch_dir), but polls the directory every `interval`
    /// instead of listening for events (for file systems that send none, like some network
    /// and container mounts). A change is seen up to one interval late.
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
        let (files, unreadable) = library_files(dir)?;
        for error in unreadable {
            state.send(Event::Refused {
                path: dir.to_path_buf(),
                error,
                serving: None,
            });
        }
        for path in files {
            state.update(&path);
        }
        let worker = {
            let state = Arc::clone(&state);
            thread::Builder::new()
                .name(String::from("xplug-watcher"))
                .spawn(move || state.follow(changed))
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
    /// A thread that compares the directory's library files with the last look at them;
    /// ends when this sender is dropped.
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
#[derive(Clone, PartialEq, Eq)]
struct FileState {
    file: FileId,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

/// The library files in `dir` and their states (symlinks followed).
fn look(dir: &Path) -> BTreeMap<PathBuf, FileState> {
    let files = match library_files(dir) {
        Ok((files, _)) => files,
        Err(_) => return BTreeMap::new(),
    };
    files
        .into_iter()
        .filter_map(|path| Some((file_state(&path)?, path)))
        .map(|(print, path)| (path, print))
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
    thread::Builder::new()
        .name(String::from("xplug-poller"))
        .spawn(move || {
            // Runs until the source is dropped (the sender disconnects).
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                let now = look(&dir_owned);
                let mut event = notify::Event::new(notify::EventKind::Any);
                for (path, print) in &now {
                    if last.get(path) != Some(print) {
                        event = event.add_path(path.clone());
                    }
                }
                for path in last.keys().filter(|p| !now.contains_key(*p)) {
                    event = event.add_path(path.clone());
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

impl<M> State<M> {
    fn files(&self) -> std::sync::MutexGuard<'_, BTreeMap<PathBuf, Tracked<M>>> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<M: Interface> State<M> {
    /// The worker: each round takes every change queued since the last, then brings each
    /// named library file up to date, in path order. Ends when the event source is dropped.
    fn follow(&self, changed: Receiver<notify::Result<notify::Event>>) {
        while let Ok(first) = changed.recv() {
            let mut paths = Vec::new();
            let mut rescan = false;
            for change in std::iter::once(first).chain(changed.try_iter()) {
                match change {
                    Ok(event) => {
                        rescan |= event.need_rescan();
                        paths.extend(event.paths);
                    }
                    // Events were lost (a queue overflowed): look at every file.
                    Err(_) => rescan = true,
                }
            }
            if rescan {
                if let Ok((files, _)) = library_files(&self.dir) {
                    paths.extend(files);
                }
                let known: Vec<PathBuf> = self.files().keys().cloned().collect();
                paths.extend(known);
            }
            paths.retain(|p| self.is_ours(p));
            paths.sort();
            paths.dedup();
            for path in paths {
                self.update(&path);
            }
        }
    }

    /// A library file directly in the watched directory (events name its entries by a path
    /// that starts with the directory as given).
    fn is_ours(&self, path: &Path) -> bool {
        path.parent() == Some(self.dir.as_path()) && is_library_file_name(path)
    }

    /// Brings `path` up to date with its file, and says what changed.
    fn update(&self, path: &Path) {
        let exists = path.symlink_metadata().is_ok();
        let print = file_state(path);
        let known = self.files().get(path).map(|t| (t.live.clone(), t.present));
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
            (Some((live, true)), false) => {
                self.set_present(path, false);
                Some(Event::Removed {
                    path: path.to_path_buf(),
                    serving: live.generation(),
                })
            }
            (Some((_, false)), false) => None,
            (Some((live, was_present)), true) => {
                let reload = live.reload();
                if reload.is_ok() {
                    self.set_present(path, true);
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
            Some(event) => {
                refusals.remove(path);
                Some(event)
            }
            None => None,
        };
        drop(refusals);
        if let Some(event) = event {
            self.send(event);
        }
    }

    fn send(&self, event: Event) {
        // The host may have stopped listening: the watcher's state is kept all the same.
        let _ = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(event);
    }

    fn set_present(&self, path: &Path, present: bool) {
        if let Some(tracked) = self.files().get_mut(path) {
            tracked.present = present;
        }
    }
}

impl<M> Watcher<M> {
    /// What happened in the directory, in order: the first load of each file, then every
    /// reload, refusal and removal.
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

    /// The live plugin of the file `name` in the directory, if it loaded (while it is
    /// removed, the handle keeps serving its last generation).
    pub fn get(&self, name: impl AsRef<Path>) -> Option<Live<M>> {
        let path = self.state.dir.join(name);
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
