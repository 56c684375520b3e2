//! [`Live`]: a handle that serves the newest good version of a plugin file (hot reload).
//!
//! Each version loaded under a live handle is a *generation*: an ordinary [`Plugin`], loaded
//! through the whole pipeline. The handle publishes the current one through one atomic
//! pointer, so a call costs one more load than through a [`Plugin`] and takes no lock.
//! Generations are kept while the handle lives: a call that read the pointer before a reload
//! finishes on the generation it read, and values a plugin returned (an `RString` keeps a
//! vtable in the library that made it) stay valid. Only the host knows when nothing of an old
//! generation is in use any more: it may then unload them ([`Live::unload_retired`], unsafe).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, ThreadId};

use xplug::__private::LoadHookError;
use xplug::Interface;

use crate::error::{ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::loader::Loader;
use crate::plugin::Plugin;
use crate::sys::Unloaded;

/// A plugin file under hot reload: dereferences to the root module `M` of the newest good
/// version of the file, like a [`Plugin`] does to its own.
///
/// Made by [`Loader::live`] (or by a [`Watcher`](super::Watcher) for each file of a
/// directory). [`reload`](Live::reload) loads the file again: a new version becomes the
/// current *generation* and answers every call made afterwards; calls already running on the
/// old one finish on it; a refused version (any [`LoadError`]) leaves the old one serving. No
/// call fails because of a reload, and the call path takes no lock.
///
/// Old generations stay loaded for the life of the handle (values a plugin returned may point
/// into its code). Each costs the memory of its library (see the performance notes), until
/// the host, knowing that nothing of them is in use, unloads them with
/// [`unload_retired`](Live::unload_retired).
///
/// ```no_run
/// use greeter_interface::GreeterRef;
/// use xplug_loader::reload::Reload;
/// use xplug_loader::Loader;
///
/// let greeter = Loader::<GreeterRef>::new().live("plugins/libgreeter_en.so")?;
/// println!("{}", greeter.greet("Ada".into())?);
/// // ... the file is replaced by a new build ...
/// if let Reload::Reloaded { from, to } = greeter.reload()? {
///     println!("generation {from} -> {to}: {}", greeter.greet("Ada".into())?);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Live<M> {
    shared: Arc<Shared<M>>,
}

struct Shared<M> {
    loader: Loader<M>,
    path: PathBuf,
    /// The current generation: one of `generations`, never null.
    current: AtomicPtr<Generation<M>>,
    /// The current generation and the retired ones still loaded, oldest first, boxed so that
    /// `current` stays valid; a generation leaves only by `unload_retired`.
    generations: Mutex<Vec<Box<Generation<M>>>>,
    /// One reload at a time (not taken by calls); the thread running one.
    reloading: Mutex<()>,
    reloader: Mutex<Option<ThreadId>>,
    /// Shared across threads exactly when the plugin handles it hands out may be (the atomic
    /// pointer alone would make it `Sync` for any `M`).
    _handles: PhantomData<Plugin<M>>,
}

struct Generation<M> {
    number: u64,
    plugin: Plugin<M>,
}

/// What [`Live::reload`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reload {
    /// The file holds the bytes already serving: nothing changed.
    Unchanged {
        /// The generation that keeps serving.
        generation: u64,
    },
    /// A new version loaded and now answers every new call.
    Reloaded {
        /// The generation it replaced.
        from: u64,
        /// The new generation (`from + 1`).
        to: u64,
    },
}

impl<M: Interface> Loader<M> {
    /// Loads `path` as by [`load`](Loader::load) and returns a live handle to it: generation
    /// 1, which [`Live::reload`] replaces when the file changes. The same trust contract
    /// applies to every version loaded.
    pub fn live(&self, path: impl AsRef<Path>) -> Result<Live<M>, LoadError> {
        let path = path.as_ref().to_path_buf();
        let plugin = self.load(&path)?;
        let first = Box::new(Generation { number: 1, plugin });
        let current = AtomicPtr::new(&*first as *const Generation<M> as *mut Generation<M>);
        Ok(Live {
            shared: Arc::new(Shared {
                loader: self.clone(),
                path,
                current,
                generations: Mutex::new(vec![first]),
                reloading: Mutex::new(()),
                reloader: Mutex::new(None),
                _handles: PhantomData,
            }),
        })
    }
}

impl<M: Interface> Live<M> {
    /// Loads the file again, through the whole pipeline. New bytes that pass every check
    /// become the next generation: first the old generation's `save_state` hook runs and the
    /// new one's `restore_state` receives what it returned (a failure there refuses the new
    /// version with [`ErrorKind::StateNotHandedOver`]), then the new generation is published
    /// and answers every call made afterwards. Bytes already serving change nothing.
    ///
    /// The handover is a snapshot: calls the old generation answers after its `save_state`
    /// returned (calls in flight, or racing with the switch) change only the old generation's
    /// state. Plugins whose state must not lose an update keep it in the host.
    ///
    /// An error leaves the current generation serving. A half-written file is refused like
    /// any other bad file: reload again once it is complete. Reloads of one handle run one at
    /// a time; calls never wait for them. Bytes that served an earlier generation (a
    /// roll-back) come back as a new generation of that same library, its statics as it left
    /// them.
    ///
    /// Runs plugin code (the new version's constructors and hooks, the old one's
    /// `save_state`): the trust contract of [`Loader::load`] applies.
    pub fn reload(&self) -> Result<Reload, LoadError> {
        self.exclusively(|| self.reload_now()).unwrap_or_else(|| {
            // Plugin code this reload runs (a hook) reloads the same handle.
            Err(LoadError::new(
                &self.shared.path,
                ErrorKind::Reentrant { step: "reload" },
            ))
        })
    }

    /// Runs `f` while no reload or unload of this handle runs on another thread; `None` when
    /// this thread is already running one (plugin code it runs calls back).
    fn exclusively<R>(&self, f: impl FnOnce() -> R) -> Option<R> {
        let shared = &*self.shared;
        let me = thread::current().id();
        let reloader = || {
            shared
                .reloader
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if *reloader() == Some(me) {
            return None;
        }
        let _one_at_a_time = shared
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *reloader() = Some(me);
        let outcome = f();
        *reloader() = None;
        Some(outcome)
    }

    fn reload_now(&self) -> Result<Reload, LoadError> {
        let shared = &*self.shared;
        let old = self.current();
        let new = shared.loader.load(&shared.path)?;
        if new.same_library(old) {
            return Ok(Reload::Unchanged {
                generation: self.generation(),
            });
        }
        hand_over(old, &new)?;
        let from = self.generation();
        let next = Box::new(Generation {
            number: from + 1,
            plugin: new,
        });
        let pointer = &*next as *const Generation<M> as *mut Generation<M>;
        shared
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(next);
        // Release: whoever reads the pointer sees the whole generation.
        shared.current.store(pointer, Ordering::Release);
        Ok(Reload::Reloaded { from, to: from + 1 })
    }
}

/// What [`Live::unload_retired`] did with the retired generations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unloads {
    /// Unloaded: their code and memory left the process ([`Unloaded::Unmapped`]).
    pub unmapped: usize,
    /// Closed, but kept mapped by the dynamic loader ([`Unloaded::StillMapped`]).
    pub still_mapped: usize,
    /// Closed where the system does not tell whether they were unmapped ([`Unloaded::Closed`]).
    pub closed: usize,
    /// Kept, because another handle still refers to their library (a clone of a plugin handle
    /// from [`Live::current`], a load of the same bytes elsewhere); tried again next time.
    pub in_use: usize,
}

impl Unloads {
    fn count(&mut self, unloaded: Unloaded) {
        match unloaded {
            Unloaded::Unmapped => self.unmapped += 1,
            Unloaded::StillMapped => self.still_mapped += 1,
            Unloaded::Closed => self.closed += 1,
        }
    }

    pub(crate) fn add(&mut self, other: Unloads) {
        self.unmapped += other.unmapped;
        self.still_mapped += other.still_mapped;
        self.closed += other.closed;
        self.in_use += other.in_use;
    }
}

impl<M: Interface> Live<M> {
    /// Unloads every retired generation (all but the current one) whose library no other
    /// handle refers to, as by [`Plugin::unload`]; the others stay and are tried again by the
    /// next call. A retired generation whose bytes are the current one's (a roll-back) is
    /// simply forgotten. Returns what became of them.
    ///
    /// Waits for a reload of this handle running on another thread, and reloads wait for it.
    /// Runs plugin code (the libraries' destructors); a reload of this handle from there is
    /// refused ([`ErrorKind::Reentrant`]), and from a reload's own hooks this unloads nothing.
    ///
    /// # Safety
    /// [`Plugin::unload`]'s contract, for every retired generation of this handle and its
    /// clones: no call that reached one is still running (a call that read the current
    /// generation before a reload finishes on the old one: wait until calls that started
    /// before the last reload have returned), references obtained from this handle before the
    /// last reload (by `Deref` or [`current`](Live::current)) are not used again, and no value
    /// a retired generation made is alive.
    pub unsafe fn unload_retired(&self) -> Unloads {
        // SAFETY: the caller's promise.
        self.exclusively(|| unsafe { self.unload_retired_now() })
            .unwrap_or_default()
    }

    /// `unload_retired`, while no reload runs: `current` cannot change meanwhile.
    ///
    /// # Safety
    /// As `unload_retired`.
    unsafe fn unload_retired_now(&self) -> Unloads {
        let shared = &*self.shared;
        let current = self.current_generation() as *const Generation<M>;
        let retired: Vec<Box<Generation<M>>> = {
            let mut generations = shared
                .generations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (kept, retired) = generations
                .drain(..)
                .partition(|g| std::ptr::eq(&**g, current));
            *generations = kept;
            retired
        };
        let mut unloads = Unloads::default();
        let mut in_use = Vec::new();
        let mut retired = retired.into_iter();
        while let Some(generation) = retired.next() {
            let Generation { number, plugin } = *generation;
            // Bytes that served twice (a roll-back) are one library: one handle is enough.
            let again = retired
                .as_slice()
                .iter()
                .any(|g| g.plugin.same_library(&plugin));
            if again || plugin.same_library(self.current()) {
                continue;
            }
            // SAFETY: the caller's promise, for this retired generation.
            match unsafe { plugin.unload() } {
                Ok(unloaded) => unloads.count(unloaded),
                Err(plugin) => {
                    unloads.in_use += 1;
                    in_use.push(Box::new(Generation { number, plugin }));
                }
            }
        }
        if !in_use.is_empty() {
            let mut generations = shared
                .generations
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            generations.extend(in_use);
            generations.sort_by_key(|g| g.number);
        }
        unloads
    }
}

/// Hands `old`'s state to `new` through the plugins' hooks.
fn hand_over<M: Interface>(old: &Plugin<M>, new: &Plugin<M>) -> Result<(), LoadError> {
    let failed = |hook: &'static str, plugin: &Plugin<M>, e: LoadHookError| {
        let message = match e {
            LoadHookError::Failed(message) => message,
            LoadHookError::Panicked { message, location } if location.is_empty() => {
                format!("panicked: {message}")
            }
            LoadHookError::Panicked { message, location } => {
                format!("panicked at {location}: {message}")
            }
        };
        LoadError::new(new.path(), ErrorKind::StateNotHandedOver { hook, message })
            .with_plugin(plugin.info())
    };
    // SAFETY: both modules come from libraries that passed every check against `M` and whose
    // `on_load` succeeded (`Loader::load` returned them).
    let state = unsafe { old.module().__save_state() }.map_err(|e| failed("save_state", old, e))?;
    if let Some(state) = state {
        // SAFETY: as above.
        unsafe { new.module().__restore_state(&state) }
            .map_err(|e| failed("restore_state", new, e))?;
    }
    Ok(())
}

impl<M> Live<M> {
    /// The current generation's plugin handle, for calls that must all reach one generation
    /// (clone it to keep it).
    pub fn current(&self) -> &Plugin<M> {
        &self.current_generation().plugin
    }

    /// The current generation's number: 1 for the first load, one more per reload.
    pub fn generation(&self) -> u64 {
        self.current_generation().number
    }

    /// What the current generation's header says.
    pub fn info(&self) -> &PluginInfo {
        self.current().info()
    }

    /// The path this handle loads, as given.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    fn current_generation(&self) -> &Generation<M> {
        // Acquire: pairs with the Release store in `reload`.
        let pointer = self.shared.current.load(Ordering::Acquire);
        // SAFETY: `current` always points to a generation boxed in `generations`, which lives
        // as long as `shared`, which `self` keeps alive; a generation leaves `generations`
        // only by `unload_retired`, never the current one (reloads, which change `current`,
        // and unloads run one at a time), and after its caller promised that no reference
        // to a retired one is used again.
        unsafe { &*pointer }
    }
}

impl<M> Deref for Live<M> {
    type Target = M;

    /// The current generation's root module.
    #[inline]
    fn deref(&self) -> &M {
        self.current()
    }
}

impl<M> Clone for Live<M> {
    /// Another handle to the same live plugin: a reload through either is seen by both.
    fn clone(&self) -> Self {
        Live {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<M> fmt::Debug for Live<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Live")
            .field("path", &self.shared.path)
            .field("generation", &self.generation())
            .field("info", self.info())
            .finish()
    }
}
