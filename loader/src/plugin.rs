//! [`Plugin`]: the handle a host holds to a loaded plugin.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use xplug::__private::PluginRuntime;
use xplug::Interface;

use crate::info::PluginInfo;
use crate::process::library::Library;
use crate::process::registry;
use crate::sys::Unloaded;

/// A loaded plugin: its root module `M` (dereference to call its functions) and its header.
///
/// Cheap to clone. The library stays loaded for the life of the process, whatever happens
/// to its file afterwards, unless the host unloads it ([`Plugin::unload`], an opt-in).
pub struct Plugin<M> {
    module: M,
    library: Arc<Library>,
    path: Arc<Path>,
    /// The plugin's runtime: how many objects it made are alive.
    runtime: &'static PluginRuntime,
    _interface: PhantomData<fn() -> M>,
}

impl<M: Interface> Plugin<M> {
    pub(crate) fn new(module: M, library: Arc<Library>, path: Arc<Path>) -> Self {
        Plugin {
            module,
            library,
            path,
            runtime: module.__runtime(),
            _interface: PhantomData,
        }
    }
}

impl<M> Plugin<M> {
    /// What the plugin's header says.
    pub fn info(&self) -> &PluginInfo {
        &self.library.info
    }

    /// The real path (symlinks resolved) this handle was loaded from. The same bytes loaded
    /// from two paths are one plugin with two paths.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unloads the plugin's library if this is its last handle: it leaves the registry, the
    /// dynamic loader closes it (`dlclose`, `FreeLibrary`; its destructors run), and its
    /// snapshot is released once it is known to be unmapped. A later load of the same bytes
    /// loads them anew. Another handle to the library (a clone of this one, a load of the same
    /// bytes from any path, a generation of a [`Live`](crate::reload::Live) handle) keeps it loaded,
    /// and so does any object the plugin made that is still alive
    /// ([`live_objects`](Plugin::live_objects)): the handle comes back as `Err`.
    ///
    /// By default libraries are never unloaded, because only the host can know when nothing
    /// of one is in use any more. What xplug checks is the handles; the rest is the host's
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
    /// - no thread it started is running, and nothing it registered outlives it (callbacks it
    ///   handed to the host, or layouts it gave abi_stable's process-wide checking globals by
    ///   calling `abi_stable::abi_stability::check_layout_compatibility` itself; xplug's own
    ///   check keeps none).
    pub unsafe fn unload(self) -> Result<Unloaded, Plugin<M>>
    where
        M: Copy,
    {
        if self.live_objects() > 0 {
            return Err(self);
        }
        let Plugin {
            module,
            library,
            path,
            runtime,
            _interface,
        } = self;
        // SAFETY: the caller's promise; `release` checks that no other handle exists.
        match unsafe { registry::release(library) } {
            Ok(unloaded) => Ok(unloaded),
            Err(library) => Err(Plugin {
                module,
                library,
                path,
                runtime,
                _interface,
            }),
        }
    }

    /// How many objects the plugin made (`#[xplug::object]` handles it returned) are still
    /// alive, anywhere in the process. While any is, [`unload`](Plugin::unload) refuses.
    pub fn live_objects(&self) -> u64 {
        (self.runtime.live_objects)()
    }

    /// Whether two handles refer to the same loaded library: the same bytes (or, in place,
    /// the same file).
    pub fn same_library(&self, other: &Plugin<M>) -> bool {
        Arc::ptr_eq(&self.library, &other.library)
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
            library: Arc::clone(&self.library),
            path: Arc::clone(&self.path),
            runtime: self.runtime,
            _interface: PhantomData,
        }
    }
}

impl<M> fmt::Debug for Plugin<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plugin")
            .field("path", &self.path)
            .field("info", &self.library.info)
            .finish()
    }
}
