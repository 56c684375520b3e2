//! Which plugin a root module belongs to, for the errors of its calls: a host's loader names
//! each module it loads ([`name_module`]) and forgets it before the plugin's code is unmapped
//! ([`forget_module`]); the `CallError` of a contained panic in one of the module's functions
//! then says whose it was. A plugin's own copy of this crate never fills it.
//!
//! Host-side bookkeeping only: nothing of it crosses the boundary. A module is known by the
//! address of its entries table and its context (in-process: the plugin's static table and
//! null; isolated: the host's proxy table and the proxy's state).

use std::sync::{Arc, Mutex, PoisonError};

use crate::abi::{CallContext, PluginEntriesRef, PluginRuntime};

/// A named module.
struct Named {
    /// The addresses of its entries table and context.
    key: (usize, usize),
    /// Its plugin's `name version`.
    label: Arc<str>,
    /// How many loads named it: a library loaded in place again while its last load is being
    /// released is the same mapping, named twice and forgotten once.
    count: usize,
}

/// One per named module.
static NAMES: Mutex<Vec<Named>> = Mutex::new(Vec::new());

fn key(entries: PluginEntriesRef, context: CallContext) -> (usize, usize) {
    (entries.0.to_raw_ptr() as usize, context.as_ptr() as usize)
}

/// Names the module whose runtime is `runtime` after its plugin, `label` (`name version`).
pub fn name_module(runtime: PluginRuntime, label: &str) {
    let key = key(runtime.entries(), runtime.context());
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    match names.iter_mut().find(|named| named.key == key) {
        Some(named) => {
            named.label = Arc::from(label);
            named.count = named.count.saturating_add(1);
        }
        None => names.push(Named {
            key,
            label: Arc::from(label),
            count: 1,
        }),
    }
}

/// Forgets one naming of the module whose runtime is `runtime`: its code is about to be
/// unmapped, and another library may be mapped at its address later.
pub fn forget_module(runtime: PluginRuntime) {
    let key = key(runtime.entries(), runtime.context());
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(named) = names.iter_mut().find(|named| named.key == key) {
        named.count = named.count.saturating_sub(1);
    }
    names.retain(|named| named.count > 0);
}

/// The label of the plugin whose module has these entries and context, if it was named.
pub(crate) fn module_name(entries: PluginEntriesRef, context: CallContext) -> Option<Arc<str>> {
    let wanted = key(entries, context);
    NAMES
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|named| named.key == wanted)
        .map(|named| Arc::clone(&named.label))
}
