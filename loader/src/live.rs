//! [`Live`]: a handle that serves the newest good version of a plugin file (hot reload).
//!
//! Each version loaded under a live handle is a *generation*: an ordinary [`Plugin`], loaded
//! through the whole pipeline. The handle publishes the current one through one atomic
//! pointer, so a call costs one more load than through a [`Plugin`] and takes no lock.
//! Generations are never freed while the handle lives: a call that read the pointer before a
//! reload finishes on the generation it read, and values a plugin returned (an `RString`
//! keeps a vtable in the library that made it) stay valid, as libraries are never unloaded.

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

/// A plugin file under hot reload: dereferences to the root module `M` of the newest good
/// version of the file, like a [`Plugin`] does to its own.
///
/// Made by [`Loader::live`] (or by a [`Watcher`](crate::Watcher) for each file of a
/// directory). [`reload`](Live::reload) loads the file again: a new version becomes the
/// current *generation* and answers every call made afterwards; calls already running on the
/// old one finish on it; a refused version (any [`LoadError`]) leaves the old one serving. No
/// call fails because of a reload, and the call path takes no lock.
///
/// Old generations stay loaded for the life of the process (values a plugin returned may
/// point into its code). Each costs the memory of its library: see the performance notes.
///
/// ```no_run
/// use greeter_interface::GreeterRef;
/// use xplug_loader::{Loader, Reload};
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
    /// Every generation, oldest first, boxed so that `current` stays valid; only ever pushed.
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
        let shared = &*self.shared;
        let me = thread::current().id();
        let reloader = || {
            shared
                .reloader
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        };
        if *reloader() == Some(me) {
            // Plugin code this reload runs (a hook) reloads the same handle.
            return Err(LoadError::new(
                &shared.path,
                ErrorKind::Reentrant { step: "reload" },
            ));
        }
        let _one_at_a_time = shared
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *reloader() = Some(me);
        let outcome = self.reload_now();
        *reloader() = None;
        outcome
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
        // SAFETY: `current` always points to a generation boxed in `generations`, which only
        // grows and lives as long as `shared`, which `self` keeps alive.
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
