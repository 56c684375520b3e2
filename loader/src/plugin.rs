//! [`Plugin`]: the handle a host holds to a loaded plugin.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::Path;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use xplug::__private::{LoadHookError, PluginRuntime};
use xplug::Interface;

use crate::info::PluginInfo;
#[cfg(any(unix, windows))]
use crate::isolation::Isolated;
use crate::process::library::Library;
use crate::process::{lock, registry};
use crate::sys::Unloaded;

/// A loaded plugin: its root module `M` (dereference to call its functions) and its header.
///
/// Cheap to clone. The library stays loaded for the life of the process, whatever happens
/// to its file afterwards, unless the host unloads it ([`Plugin::unload`], an opt-in).
pub struct Plugin<M> {
    module: M,
    home: Home,
    path: Arc<Path>,
    /// The plugin's runtime: how many objects it made are alive.
    runtime: PluginRuntime,
    /// How long an unload waits for the plugin's `on_unload` hook.
    unload_wait: Duration,
    _interface: PhantomData<fn() -> M>,
}

/// Where a plugin's code runs.
#[derive(Clone)]
enum Home {
    /// In this process: its library.
    Library(Arc<Library>),
    /// In a process of its own.
    #[cfg(any(unix, windows))]
    Isolated(Arc<Isolated>),
}

impl<M: Interface> Plugin<M> {
    pub(crate) fn new(
        module: M,
        library: Arc<Library>,
        path: Arc<Path>,
        unload_wait: Duration,
    ) -> Self {
        Plugin {
            module,
            home: Home::Library(library),
            path,
            runtime: module.__runtime(),
            unload_wait,
            _interface: PhantomData,
        }
    }
}

#[cfg(any(unix, windows))]
impl<M: Interface> Plugin<M> {
    pub(crate) fn isolated(
        module: M,
        isolated: Arc<Isolated>,
        path: Arc<Path>,
        unload_wait: Duration,
    ) -> Self {
        Plugin {
            module,
            home: Home::Isolated(isolated),
            path,
            runtime: module.__runtime(),
            unload_wait,
            _interface: PhantomData,
        }
    }
}

impl<M> Plugin<M> {
    /// What the plugin's header says.
    pub fn info(&self) -> &PluginInfo {
        match &self.home {
            Home::Library(library) => &library.info,
            #[cfg(any(unix, windows))]
            Home::Isolated(isolated) => &isolated.info,
        }
    }

    /// The id of the process serving an isolated plugin now (`None` in-process, or while no
    /// process runs: after a crash, before a restart).
    pub fn process_id(&self) -> Option<u32> {
        match &self.home {
            Home::Library(_) => None,
            #[cfg(any(unix, windows))]
            Home::Isolated(isolated) => isolated.process_id(),
        }
    }

    /// Whether the plugin runs in a process of its own
    /// ([`Loader::isolate`](crate::Loader::isolate)).
    pub fn is_isolated(&self) -> bool {
        !matches!(self.home, Home::Library(_))
    }

    /// The real path (symlinks resolved) this handle was loaded from. The same bytes loaded
    /// from two paths are one plugin with two paths.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unloads the plugin's library if this is its last handle: it leaves the registry, the
    /// plugin's `on_unload` hook runs (on a thread of its own, for at most
    /// [`Loader::unload_wait`](crate::Loader::unload_wait)), the dynamic loader closes the
    /// library (`dlclose`, `FreeLibrary`; its destructors run), and its snapshot is released
    /// once it is known to be unmapped. A later load of the same bytes loads them anew.
    ///
    /// The plugin stays loaded, and the handle comes back in [`NotUnloaded`] with the reason,
    /// when another handle to the library exists (a clone of this one, a load of the same
    /// bytes from any path, a generation of a [`Live`](crate::reload::Live) handle), when an
    /// object the plugin made is alive ([`live_objects`](Plugin::live_objects)), and when its
    /// `on_unload` hook refuses, panics (contained), or has not returned within the wait: its
    /// code is still running then, and the library stays loaded until the hook returns (a
    /// later `unload` may then succeed; until then it says
    /// [`HookStillRunning`](KeptLoaded::HookStillRunning)).
    ///
    /// By default libraries are never unloaded, because only the host can know when nothing
    /// of one is in use any more. What xplug checks is the handles, the objects, the calls
    /// through live handles and the plugin's own word (`on_unload`); the rest is the host's
    /// promise below.
    ///
    /// # Safety
    /// Nothing of the library may be used after this call:
    /// - no call into it is running on any thread, and none starts: references to its module
    ///   obtained through this handle (by `Deref` or [`module`](Plugin::module)) are not used
    ///   again;
    /// - no value it made is alive: abi_stable's `RString`, `RVec`, `RBox` and trait objects
    ///   it returned free themselves through its code, and `&'static` data, function pointers
    ///   and vtables point into it;
    /// - no thread it started is running once its `on_unload` hook returned, and nothing it
    ///   registered outlives it (callbacks it handed to the host, or layouts it gave
    ///   abi_stable's process-wide checking globals by calling
    ///   `abi_stable::abi_stability::check_layout_compatibility` itself; xplug's own check
    ///   keeps none). The hook is where a plugin stops what it started; xplug cannot see
    ///   whether it did.
    pub unsafe fn unload(self) -> Result<Unloaded, NotUnloaded<M>>
    where
        M: Interface,
    {
        let library = match &self.home {
            Home::Library(library) => Arc::clone(library),
            #[cfg(any(unix, windows))]
            Home::Isolated(_) => return self.unload_isolated(),
        };
        let objects = self.live_objects();
        if objects > 0 {
            return Err(self.kept(KeptLoaded::LiveObjects { count: objects }));
        }
        // The thread of an earlier `on_unload` that outlasted its wait must have ended.
        if let Err(reason) = earlier_hook_ended(&library.unload_hook) {
            return Err(self.kept(reason));
        }
        let Plugin {
            module,
            home,
            path,
            runtime,
            unload_wait,
            _interface,
        } = self;
        drop(home);
        // SAFETY: the caller's promise; `release` checks that no other handle exists, and
        // runs the hook only then.
        let released = unsafe {
            registry::release(library, |library| {
                on_unload(module, &library.unload_hook, unload_wait)
            })
        };
        match released {
            Ok(unloaded) => Ok(unloaded),
            Err((library, reason)) => Err(NotUnloaded {
                plugin: Plugin {
                    module,
                    home: Home::Library(library),
                    path,
                    runtime,
                    unload_wait,
                    _interface,
                },
                reason: reason.unwrap_or(KeptLoaded::OtherHandles),
            }),
        }
    }

    /// [`unload`](Plugin::unload) of an isolated plugin: its `on_unload` hook runs in its
    /// process, which then ends.
    #[cfg(any(unix, windows))]
    fn unload_isolated(self) -> Result<Unloaded, NotUnloaded<M>>
    where
        M: Interface,
    {
        let isolated = match &self.home {
            Home::Isolated(isolated) => Arc::clone(isolated),
            Home::Library(_) => return Err(self.kept(KeptLoaded::OtherHandles)),
        };
        // This handle's and the one just taken: any more is another handle.
        if Arc::strong_count(&isolated) > 2 {
            return Err(self.kept(KeptLoaded::OtherHandles));
        }
        // As in-process: the host's handles of the plugin's objects would fail from now on.
        let objects = self.live_objects();
        if objects > 0 {
            return Err(self.kept(KeptLoaded::LiveObjects { count: objects }));
        }
        if let Err(reason) = earlier_hook_ended(&isolated.unload_hook) {
            return Err(self.kept(reason));
        }
        if let Err(reason) = on_unload(self.module, &isolated.unload_hook, self.unload_wait) {
            return Err(self.kept(reason));
        }
        // A load of the same bytes may have taken a handle meanwhile.
        if !crate::isolation::retire(&isolated, 2) {
            return Err(self.kept(KeptLoaded::OtherHandles));
        }
        Ok(Unloaded::Exited)
    }

    fn kept(self, reason: KeptLoaded) -> NotUnloaded<M> {
        NotUnloaded {
            plugin: self,
            reason,
        }
    }

    /// How many objects the plugin made (`#[xplug::object]` handles it returned) are still
    /// alive, anywhere in the process (for an isolated plugin: the host's handles of objects
    /// its process keeps). While any is, [`unload`](Plugin::unload) refuses.
    pub fn live_objects(&self) -> u64 {
        self.runtime.live_objects()
    }

    /// Whether two handles refer to the same loaded library: the same bytes (or, in place,
    /// the same file).
    pub fn same_library(&self, other: &Plugin<M>) -> bool {
        match (&self.home, &other.home) {
            (Home::Library(a), Home::Library(b)) => Arc::ptr_eq(a, b),
            #[cfg(any(unix, windows))]
            (Home::Isolated(a), Home::Isolated(b)) => Arc::ptr_eq(a, b),
            #[cfg(any(unix, windows))]
            _ => false,
        }
    }
}

impl<M: Copy> Plugin<M> {
    /// The root module, the handle through which its functions are called.
    pub fn module(&self) -> M {
        self.module
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
            home: self.home.clone(),
            path: Arc::clone(&self.path),
            runtime: self.runtime,
            unload_wait: self.unload_wait,
            _interface: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Plugin<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("info", self.info())
            .finish()
    }
}

/// Whether the thread of an earlier `on_unload` hook that outlasted its wait, if any, has
/// ended (and is joined).
fn earlier_hook_ended(kept: &Mutex<Option<JoinHandle<()>>>) -> Result<(), KeptLoaded> {
    let mut hook = lock(kept);
    match hook.take() {
        Some(thread) if !thread.is_finished() => {
            *hook = Some(thread);
            Err(KeptLoaded::HookStillRunning)
        }
        Some(thread) => {
            let _ = thread.join();
            Ok(())
        }
        None => Ok(()),
    }
}

/// Runs `module`'s `on_unload` hook on a thread of its own and waits for it at most `wait`;
/// a thread still running then goes to `kept`, for the next unload to wait for.
fn on_unload<M: Interface>(
    module: M,
    kept: &Mutex<Option<JoinHandle<()>>>,
    wait: Duration,
) -> Result<(), KeptLoaded> {
    let (sender, outcome) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name("xplug-unload".to_owned())
        .spawn(move || {
            // SAFETY: `module` comes from a checked library whose `on_load` succeeded (a
            // handle to it existed), and no handle is left to call it afterwards: a later
            // load of the library runs `on_load` first.
            let result = unsafe { module.__on_unload() };
            let _ = sender.send(result);
        });
    let thread = spawned.map_err(|e| KeptLoaded::NoThread {
        error: e.to_string(),
    })?;
    match outcome.recv_timeout(wait) {
        Ok(result) => {
            // The thread has only to end (its thread-locals' destructors run then), before
            // the library may be closed.
            let _ = thread.join();
            result.map_err(|e| match e {
                LoadHookError::Failed(message) => KeptLoaded::HookRefused { message },
                LoadHookError::Panicked { message, location } => {
                    KeptLoaded::HookPanicked { message, location }
                }
            })
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            *lock(kept) = Some(thread);
            Err(KeptLoaded::HookTimedOut { waited: wait })
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            let _ = thread.join();
            Err(KeptLoaded::HookPanicked {
                message: "the unload thread ended without the hook's answer".to_owned(),
                location: String::new(),
            })
        }
    }
}

/// A plugin that [`Plugin::unload`] left loaded: its handle, and why.
pub struct NotUnloaded<M> {
    /// The handle, as valid as before.
    pub plugin: Plugin<M>,
    /// Why the plugin stays loaded.
    pub reason: KeptLoaded,
}

impl<M> fmt::Debug for NotUnloaded<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NotUnloaded")
            .field("plugin", &self.plugin)
            .field("reason", &self.reason)
            .finish()
    }
}

impl<M> fmt::Display for NotUnloaded<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} stays loaded: {}",
            self.plugin.path.display(),
            self.reason
        )
    }
}

impl<M> std::error::Error for NotUnloaded<M> {}

/// Why [`Plugin::unload`] left a plugin loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeptLoaded {
    /// Another handle refers to its library (a clone, a load of the same bytes, a generation
    /// of a live handle, or a load comparing its bytes at that moment): try again once it is
    /// gone.
    OtherHandles,
    /// Objects it made are alive.
    LiveObjects {
        /// How many.
        count: u64,
    },
    /// Its `on_unload` hook refused.
    HookRefused {
        /// The hook's message.
        message: String,
    },
    /// Its `on_unload` hook panicked (the panic was contained): it may not have stopped what
    /// it started.
    HookPanicked {
        /// The panic message.
        message: String,
        /// Where it panicked (`file:line:column`), or empty.
        location: String,
    },
    /// Its `on_unload` hook had not returned after the wait, and still runs: the library stays
    /// loaded at least until it returns.
    HookTimedOut {
        /// How long the unload waited.
        waited: Duration,
    },
    /// An earlier unload's `on_unload` hook is still running.
    HookStillRunning,
    /// No thread could be started to run the `on_unload` hook.
    NoThread {
        /// The system's error.
        error: String,
    },
}

impl fmt::Display for KeptLoaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeptLoaded::OtherHandles => f.write_str("another handle refers to it"),
            KeptLoaded::LiveObjects { count } => write!(f, "{count} objects it made are alive"),
            KeptLoaded::HookRefused { message } => {
                write!(f, "its on_unload hook refused: {message}")
            }
            KeptLoaded::HookPanicked { message, location } if location.is_empty() => {
                write!(f, "its on_unload hook panicked: {message}")
            }
            KeptLoaded::HookPanicked { message, location } => {
                write!(f, "its on_unload hook panicked at {location}: {message}")
            }
            KeptLoaded::HookTimedOut { waited } => {
                write!(f, "its on_unload hook still runs after {waited:?}")
            }
            KeptLoaded::HookStillRunning => f.write_str("its on_unload hook still runs"),
            KeptLoaded::NoThread { error } => {
                write!(f, "no thread could run its on_unload hook: {error}")
            }
        }
    }
}
