//! [`Plugin`]: the handle a host holds to a loaded plugin.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use crate::info::PluginInfo;
use crate::registry::Library;

/// A loaded plugin: its root module `M` (dereference to call its functions) and its header.
///
/// Cheap to clone. The library stays loaded for the life of the process, whatever happens
/// to its file afterwards.
pub struct Plugin<M> {
    module: M,
    library: Arc<Library>,
    path: Arc<Path>,
    _interface: PhantomData<fn() -> M>,
}

impl<M> Plugin<M> {
    pub(crate) fn new(module: M, library: Arc<Library>, path: Arc<Path>) -> Self {
        Plugin {
            module,
            library,
            path,
            _interface: PhantomData,
        }
    }

    /// What the plugin's header says.
    pub fn info(&self) -> &PluginInfo {
        &self.library.info
    }

    /// The real path (symlinks resolved) this handle was loaded from. The same bytes loaded
    /// from two paths are one plugin with two paths.
    pub fn path(&self) -> &Path {
        &self.path
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
        Plugin::new(
            self.module,
            Arc::clone(&self.library),
            Arc::clone(&self.path),
        )
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
