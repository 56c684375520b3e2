//! [`Live`]: a handle that serves the newest good version of a plugin file (hot reload).
//!
//! Each version loaded under a live handle is a *generation*: an ordinary [`Plugin`], loaded
//! through the whole pipeline. The handle publishes the current one through one atomic
//! pointer. A call goes through [`Live::get`], which records the generation it uses in its
//! thread's slot ([`process::calls`](crate::process::calls): plain stores, no lock), so that a
//! reload holds new calls only while it waits for the running ones, hands the state over, and
//! switches: no update is lost. Generations are kept while the handle lives: values a plugin
//! returned (an `RString` keeps a vtable in the library that made it) stay valid. Only the host
//! knows when nothing an old generation made is in use any more: it may then unload them
//! ([`Live::unload_retired`], unsafe).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use xplug::__private::LoadHookError;
use xplug::Interface;

use crate::error::{ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::loader::Loader;
use crate::plugin::{KeptLoaded, NotUnloaded, Plugin};
use crate::process::calls::{self, Record};
use crate::sys::Unloaded;

/// A plugin file under hot reload: [`get`](Live::get) gives the root module `M` of the newest
/// good version of the file, for calls.
///
/// Made by [`Loader::live`] (or by a [`Watcher`](super::Watcher) for each file of a
/// directory). [`reload`](Live::reload) loads the file again: a new version becomes the
/// current *generation* and answers every call made afterwards; a refused version (any
/// [`LoadError`]) leaves the old one serving. No call fails because of a reload, and no update
/// is lost: the switch waits for the calls running on the old version, holding new ones
/// meanwhile (typically microseconds), and hands the old version's state to the new one
/// between the two. Calls take no lock.
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
/// println!("{}", greeter.get().greet("Ada".into())?);
/// // ... the file is replaced by a new build ...
/// if let Reload::Reloaded { from, to, paused, .. } = greeter.reload()? {
///     println!("generation {from} -> {to} (calls held {paused:?}): {}", greeter.get().greet("Ada".into())?);
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
    /// The current generation's number, readable without the `generations` lock.
    number: AtomicU64,
    /// The current generation and the retired ones still loaded, oldest first, boxed so that
    /// `current` stays valid; a generation leaves only by `unload_retired`.
    generations: Mutex<Vec<Box<Generation<M>>>>,
    /// One reload at a time (not taken by calls); the thread running one.
    reloading: Mutex<()>,
    reloader: Mutex<Option<ThreadId>>,
    /// Raised while a reload waits for the calls on the current generation and hands its
    /// state over: new calls wait for `released` (the mutex holds the same flag).
    holding: AtomicBool,
    held: Mutex<bool>,
    released: Condvar,
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
    #[non_exhaustive]
    Reloaded {
        /// The generation it replaced.
        from: u64,
        /// The new generation (`from + 1`).
        to: u64,
        /// How long new calls were held: while the reload waited for the calls running on
        /// the old generation and handed its state over (loading the new version is not part
        /// of it).
        paused: Duration,
    },
}

/// A generation of a live handle, held for calls: dereferences to its root module `M`. Made
/// by [`Live::get`]; while it lives, a reload of the handle waits for it (up to
/// [`Loader::reload_wait`]) before it hands the state over, and
/// [`unload_retired`](Live::unload_retired) keeps its generation.
///
/// Hold one for a call or a few calls that must reach one generation, then drop it: a `Held`
/// kept longer than the reload wait makes reloads fail with
/// [`ErrorKind::CallsStillRunning`]. It stays on the thread that made it.
pub struct Held<'a, M> {
    generation: &'a Generation<M>,
    _record: Record,
}

impl<M> Held<'_, M> {
    /// The held generation's plugin handle (clone it to keep the generation loaded beyond
    /// this call; calls through the clone are not waited for by reloads).
    pub fn plugin(&self) -> &Plugin<M> {
        &self.generation.plugin
    }

    /// The held generation's number.
    pub fn generation(&self) -> u64 {
        self.generation.number
    }
}

impl<M> Deref for Held<'_, M> {
    type Target = M;

    /// The held generation's root module.
    #[inline]
    fn deref(&self) -> &M {
        &self.generation.plugin
    }
}

impl<M> fmt::Debug for Held<'_, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Held")
            .field("generation", &self.generation.number)
            .field("info", self.generation.plugin.info())
            .finish()
    }
}

impl<M: Interface> Loader<M> {
    /// Loads `path` as by [`load`](Loader::load) and returns a live handle to it: generation
    /// 1, which [`Live::reload`] replaces when the file changes. The same trust contract
    /// applies to every version loaded.
    pub fn live(&self, path: impl AsRef<Path>) -> Result<Live<M>, LoadError> {
        let path = path.as_ref().to_path_buf();
        calls::prepare();
        let plugin = self.load(&path)?;
        let first = Box::new(Generation { number: 1, plugin });
        let current = AtomicPtr::new(&*first as *const Generation<M> as *mut Generation<M>);
        Ok(Live {
            shared: Arc::new(Shared {
                loader: self.clone(),
                path,
                current,
                number: AtomicU64::new(1),
                generations: Mutex::new(vec![first]),
                reloading: Mutex::new(()),
                reloader: Mutex::new(None),
                holding: AtomicBool::new(false),
                held: Mutex::new(false),
                released: Condvar::new(),
                _handles: PhantomData,
            }),
        })
    }
}

impl<M: Interface> Live<M> {
    /// Loads the file again, through the whole pipeline. New bytes that pass every check
    /// become the next generation: new calls are held while the reload waits for the calls
    /// running on the old generation ([`Held`]s of it, up to [`Loader::reload_wait`]), then
    /// the old generation's `save_state` hook runs and the new one's `restore_state` receives
    /// what it returned (a failure there refuses the new version with
    /// [`ErrorKind::StateNotHandedOver`]), then the new generation is published and the held
    /// calls go to it. Nothing the old generation did is lost. Bytes already serving change
    /// nothing.
    ///
    /// An error leaves the current generation serving. A half-written file is refused like
    /// any other bad file: reload again once it is complete. Reloads of one handle run one at
    /// a time. A reload from inside a call through this handle (a host service its plugin
    /// called) is refused with [`ErrorKind::CallsStillRunning`]: that call would never finish
    /// first. Bytes that served an earlier generation (a roll-back) come back as a new
    /// generation of that same library, its statics as it left them.
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
        /// Clears the reloading thread, also if `f` panics.
        struct Done<'a>(&'a Mutex<Option<ThreadId>>);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
            }
        }
        let _done = Done(&shared.reloader);
        Some(f())
    }

    fn reload_now(&self) -> Result<Reload, LoadError> {
        let shared = &*self.shared;
        let old = self.current_generation();
        let new = shared.loader.load(&shared.path)?;
        if new.same_library(&old.plugin) {
            return Ok(Reload::Unchanged {
                generation: old.number,
            });
        }
        if calls::this_thread_in(shared.id()) {
            return Err(self.calls_still_running(Duration::ZERO, &new));
        }
        let started = Instant::now();
        let hold = match Hold::raise(shared) {
            Some(hold) => hold,
            None => return Err(self.calls_still_running(Duration::ZERO, &new)),
        };
        if !calls::wait_until_idle(old.id(), shared.loader.options.reload_wait) {
            return Err(self.calls_still_running(started.elapsed(), &new));
        }
        hand_over(&old.plugin, &new, &shared.path)?;
        let from = old.number;
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
        shared.number.store(from + 1, Ordering::Release);
        drop(hold);
        Ok(Reload::Reloaded {
            from,
            to: from + 1,
            paused: started.elapsed(),
        })
    }

    fn calls_still_running(&self, waited: Duration, new: &Plugin<M>) -> LoadError {
        LoadError::new(
            &self.shared.path,
            ErrorKind::CallsStillRunning {
                waited_ms: waited.as_millis().try_into().unwrap_or(u64::MAX),
            },
        )
        .with_plugin(new.info())
    }

    /// The current generation, held for calls: dereference it to call the plugin's
    /// functions (`live.get().greet(..)`); all calls through one `Held` reach the same
    /// generation. Waits while a reload holds new calls (see [`reload`](Live::reload)), so
    /// that the call reaches the new generation, with the state handed over; a call from
    /// inside a call through this handle does not wait.
    ///
    /// Costs three plain stores to the thread's own slot and, where the system has no
    /// process-wide barrier (not Linux), a fence. Drop the `Held` when the calls are done.
    #[inline]
    pub fn get(&self) -> Held<'_, M> {
        let shared = &*self.shared;
        loop {
            // Acquire: pairs with the Release store in `reload`.
            let pointer = shared.current.load(Ordering::Acquire);
            let record = calls::record(shared.id(), pointer as usize);
            // A reload sees this record if it raised its flag after it was made; otherwise
            // the flag is seen here (the record is ordered before these reads). Held calls
            // that do not wait: from inside a call through this handle, and from a reload's
            // own hooks (`save_state`, `restore_state`), which reach the serving generation.
            let go = !shared.holding.load(Ordering::Acquire)
                || record.nested_in(shared.id())
                || shared.is_reloading_thread();
            if go && shared.current.load(Ordering::Acquire) == pointer {
                // SAFETY: `current` always points to a generation boxed in `generations`,
                // which `self` keeps alive; the record made before checking that it is still
                // current keeps `unload_retired` from unloading it while `Held` lives.
                let generation = unsafe { &*pointer };
                return Held {
                    generation,
                    _record: record,
                };
            }
            drop(record);
            shared.wait_for_release();
        }
    }
}

impl<M> Shared<M> {
    /// Whether this thread runs a reload or unload of this handle.
    fn is_reloading_thread(&self) -> bool {
        *self.reloader.lock().unwrap_or_else(PoisonError::into_inner)
            == Some(thread::current().id())
    }

    /// This handle's identity in the threads' records.
    fn id(&self) -> usize {
        self as *const Shared<M> as usize
    }

    fn wait_for_release(&self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        while *held {
            held = self
                .released
                .wait(held)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl<M> Generation<M> {
    /// This generation's identity in the threads' records.
    fn id(&self) -> usize {
        self as *const Generation<M> as usize
    }
}

/// New calls through a live handle held; released when dropped.
struct Hold<'a, M> {
    shared: &'a Shared<M>,
}

impl<'a, M> Hold<'a, M> {
    /// Raises the hold; `None` (and lowered again) if the calls' records cannot be relied on
    /// this time ([`calls::barrier`]).
    fn raise(shared: &'a Shared<M>) -> Option<Self> {
        *shared.held.lock().unwrap_or_else(PoisonError::into_inner) = true;
        shared.holding.store(true, Ordering::SeqCst);
        let hold = Hold { shared };
        // Calls recorded before this are seen by the wait; later ones see the flag.
        calls::barrier().then_some(hold)
    }
}

impl<M> Drop for Hold<'_, M> {
    fn drop(&mut self) {
        let shared = self.shared;
        let mut held = shared.held.lock().unwrap_or_else(PoisonError::into_inner);
        // Release: a call that sees the flag down sees the new generation published.
        shared.holding.store(false, Ordering::Release);
        *held = false;
        shared.released.notify_all();
    }
}

/// What [`Live::unload_retired`] did with the retired generations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Unloads {
    /// Unloaded: their code and memory left the process ([`Unloaded::Unmapped`]), or, isolated,
    /// their process ended ([`Unloaded::Exited`]).
    pub unmapped: usize,
    /// Closed, but kept mapped by the dynamic loader ([`Unloaded::StillMapped`]).
    pub still_mapped: usize,
    /// Closed where the system does not tell whether they were unmapped ([`Unloaded::Closed`]).
    pub closed: usize,
    /// Kept, because a [`Held`] or another handle still refers to their library (a clone of
    /// [`Held::plugin`], a load of the same bytes elsewhere), or objects they made are alive;
    /// tried again next time.
    pub in_use: usize,
    /// Kept, because their `on_unload` hook refused, panicked or had not returned within
    /// [`Loader::unload_wait`] ([`KeptLoaded`]); tried again next time.
    pub refused: usize,
}

impl Unloads {
    fn count(&mut self, unloaded: Unloaded) {
        match unloaded {
            Unloaded::Unmapped | Unloaded::Exited => self.unmapped += 1,
            Unloaded::StillMapped => self.still_mapped += 1,
            Unloaded::Closed => self.closed += 1,
        }
    }

    pub(crate) fn add(&mut self, other: Unloads) {
        self.unmapped += other.unmapped;
        self.still_mapped += other.still_mapped;
        self.closed += other.closed;
        self.in_use += other.in_use;
        self.refused += other.refused;
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
    /// A generation that a [`Held`] still holds, or that made objects still alive, is kept
    /// (counted in [`Unloads::in_use`]): calls through this handle are checked, not promised.
    ///
    /// # Safety
    /// The rest of [`Plugin::unload`]'s contract, for every retired generation of this handle
    /// and its clones: no value a retired generation made is alive (a returned `RString` or
    /// `RVec`, a function pointer), a root module copied out of a [`Held`] is not used after
    /// the `Held` is gone, and nothing a retired generation started (a thread) runs.
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
        // Calls recorded before this are seen below; a call recorded after it finds another
        // generation current and does not use the one it read. If the records cannot be
        // relied on this time, every one counts as in use (tried again next time).
        let reliable = calls::barrier();
        let mut unloads = Unloads::default();
        let mut in_use = Vec::new();
        let mut retired = retired.into_iter();
        while let Some(generation) = retired.next() {
            // Bytes that served twice (a roll-back) are one library: one handle is enough.
            let again = retired
                .as_slice()
                .iter()
                .any(|g| g.plugin.same_library(&generation.plugin));
            if again
                || generation
                    .plugin
                    .same_library(&self.current_generation().plugin)
            {
                continue;
            }
            if !reliable || calls::running_on(generation.id()) {
                unloads.in_use += 1;
                in_use.push(generation);
                continue;
            }
            let Generation { number, plugin } = *generation;
            // SAFETY: the caller's promise, for this retired generation; no call through this
            // handle runs on it (above).
            match unsafe { plugin.unload() } {
                Ok(unloaded) => unloads.count(unloaded),
                Err(NotUnloaded { plugin, reason }) => {
                    match reason {
                        KeptLoaded::OtherHandles | KeptLoaded::LiveObjects { .. } => {
                            unloads.in_use += 1
                        }
                        _ => unloads.refused += 1,
                    }
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

/// Hands `old`'s state to `new` through the plugins' hooks. A failure refuses `new`: it is
/// reported with `new`'s header and `path`, the handle's (as the loads' errors name it), the
/// hook's name telling whose it was.
fn hand_over<M: Interface>(old: &Plugin<M>, new: &Plugin<M>, path: &Path) -> Result<(), LoadError> {
    let failed = |hook: &'static str, e: LoadHookError| {
        let message = match e {
            LoadHookError::Failed(message) => message,
            LoadHookError::Panicked { message, location } if location.is_empty() => {
                format!("panicked: {message}")
            }
            LoadHookError::Panicked { message, location } => {
                format!("panicked at {location}: {message}")
            }
        };
        LoadError::new(path, ErrorKind::StateNotHandedOver { hook, message })
            .with_plugin(new.info())
    };
    // SAFETY: both modules come from libraries that passed every check against `M` and whose
    // `on_load` succeeded (`Loader::load` returned them).
    let state = unsafe { old.module().__save_state() }.map_err(|e| failed("save_state", e))?;
    if let Some(state) = state {
        // SAFETY: as above.
        unsafe { new.module().__restore_state(&state) }.map_err(|e| failed("restore_state", e))?;
    }
    Ok(())
}

impl<M> Live<M> {
    /// The current generation's number: 1 for the first load, one more per reload.
    pub fn generation(&self) -> u64 {
        self.shared.number.load(Ordering::Acquire)
    }

    /// What the current generation's header says.
    pub fn info(&self) -> PluginInfo {
        self.with_current(|g| g.plugin.info().clone())
    }

    /// Runs `f` on the current generation, which cannot be unloaded meanwhile (for what is
    /// not a call: calls go through [`get`](Live::get)).
    fn with_current<R>(&self, f: impl FnOnce(&Generation<M>) -> R) -> R {
        // `unload_retired` takes generations out under this lock: while it is held, the
        // generation `current` names is in the list.
        let _generations = self
            .shared
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(self.current_generation())
    }

    /// The path this handle loads, as given.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The current generation. Only where it cannot be unloaded meanwhile: in a reload or an
    /// unload of this handle (they run one at a time), or under the `generations` lock
    /// ([`with_current`](Live::with_current)).
    fn current_generation(&self) -> &Generation<M> {
        // Acquire: pairs with the Release store in `reload`.
        let pointer = self.shared.current.load(Ordering::Acquire);
        // SAFETY: `current` always points to a generation boxed in `generations`, which lives
        // as long as `shared`, which `self` keeps alive; a generation leaves `generations`
        // only by `unload_retired`, under the `generations` lock and in a section that no
        // reload runs beside, and never the current one. The callers are in such a section
        // or hold that lock.
        unsafe { &*pointer }
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
            .field("info", &self.info())
            .finish()
    }
}
