//! The registry of loaded plugins, keyed by [`Identity`]: a snapshot's bytes (the same bytes
//! under any path, link or copy are one plugin), or the file loaded in place. Each library
//! opens and initialises its plugin once, and lives as long as the process unless it is
//! unloaded ([`release`], an opt-in).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::sys::Unloaded;

use super::library::{Identity, Library, Probe};
use super::lock;
use super::step::Step;

/// Each identity's plugins: several for snapshots that share a bucket (bytes that differ only
/// where their identity does not look), at most one for a file loaded in place.
type Registry = HashMap<Identity, Vec<Arc<Library>>>;

/// Every plugin this process has read far enough to register.
static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

/// What the registry holds for a load.
pub(crate) enum Entry {
    /// The plugin of these bytes.
    Plugin(Arc<Library>),
    /// A file loaded in place whose bytes changed since its plugin (this one) was mapped.
    Replaced(Arc<Library>),
}

/// What [`find`] saw: an entry, or the libraries it compared (so that [`register`] does not
/// compare them again).
pub(crate) enum Lookup {
    Found(Entry),
    Missing(Vec<Arc<Library>>),
}

/// The library registered under `identity` whose bytes are those of `probe`. For a file
/// loaded in place, a library of other bytes that was mapped makes the load
/// [`Entry::Replaced`]. Comparing runs without the registry's lock (comparing a snapshot reads
/// its bytes).
pub(crate) fn find(identity: &Identity, probe: &Probe<'_>) -> Lookup {
    let seen = bucket(&lock(&REGISTRY), identity);
    match known(identity, &seen, probe) {
        Some(entry) => Lookup::Found(entry),
        None => Lookup::Missing(seen),
    }
}

/// Registers `library`, which a load of `probe` read after [`find`] saw `seen`, unless another
/// load registered the same bytes meanwhile (the first to register wins). For a file loaded
/// in place, a library registered for other bytes that were never mapped (a file refused,
/// then rewritten) is replaced; snapshots of other bytes that share an identity live side by
/// side.
pub(crate) fn register(
    identity: Identity,
    library: Library,
    seen: &[Arc<Library>],
    probe: &Probe<'_>,
) -> Entry {
    let mut registry = lock(&REGISTRY);
    let mut registered = bucket(&registry, &identity);
    if identity.is_content() {
        // Those seen before were compared already.
        registered.retain(|library| !seen.iter().any(|old| Arc::ptr_eq(old, library)));
    }
    if let Some(entry) = known(&identity, &registered, probe) {
        return entry;
    }
    let content = identity.is_content();
    let libraries = registry
        .get_or_insert_with(HashMap::new)
        .entry(identity)
        .or_default();
    if !content {
        // Only libraries never mapped are here (`known` returned the others).
        libraries.clear();
    }
    let library = Arc::new(library);
    libraries.push(library.clone());
    Entry::Plugin(library)
}

fn bucket(registry: &Option<Registry>, identity: &Identity) -> Vec<Arc<Library>> {
    registry
        .as_ref()
        .and_then(|registry| registry.get(identity))
        .cloned()
        .unwrap_or_default()
}

fn known(identity: &Identity, libraries: &[Arc<Library>], probe: &Probe<'_>) -> Option<Entry> {
    if let Some(library) = libraries.iter().find(|library| library.matches(probe)) {
        return Some(Entry::Plugin(library.clone()));
    }
    if identity.is_content() {
        return None;
    }
    let mapped = libraries.iter().find(|library| library.was_mapped())?;
    Some(Entry::Replaced(mapped.clone()))
}

/// Sets the maximum log level of every plugin loaded in this process (see
/// [`set_max_log_level`](crate::set_max_log_level)).
pub(crate) fn set_log_level(level: log::LevelFilter) {
    let registry = lock(&REGISTRY);
    for library in registry.iter().flat_map(|r| r.values()).flatten() {
        if let Some(runtime) = *lock(&library.runtime) {
            // Runs xplug's own code in the plugin, which sets a number: it cannot reenter. A
            // library leaves the registry (under this lock) before it is unloaded.
            runtime.set_log_level(level as usize as u8);
        }
    }
}

/// Unloads `library` if the caller holds its last handle: it leaves the registry,
/// `before_close` runs (with no lock held: it runs plugin code), and if that succeeds the
/// library is closed ([`Mapping::unload`](crate::sys::Mapping::unload)). The handle comes back
/// otherwise: with `None` when another handle (or a load in progress) holds the library, with
/// `before_close`'s error when it failed, the library registered again.
///
/// # Safety
/// As [`Mapping::unload`](crate::sys::Mapping::unload): nothing of the library is used
/// afterwards.
pub(crate) unsafe fn release<E>(
    library: Arc<Library>,
    before_close: impl FnOnce(&Library) -> Result<(), E>,
) -> Result<Unloaded, (Arc<Library>, Option<E>)> {
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
            return Err((library, None));
        }
    };
    drop(registry);
    if let Err(e) = before_close(&library) {
        let library = Arc::new(library);
        if let Some(identity) = identity {
            lock(&REGISTRY)
                .get_or_insert_with(HashMap::new)
                .entry(identity)
                .or_default()
                .push(Arc::clone(&library));
        }
        return Err((library, Some(e)));
    }
    let Library {
        info,
        header: bytes,
        source,
        opened,
        unload_hook,
        runtime,
        ..
    } = library;
    // Its calls' errors no longer name it: another library may be mapped at its address.
    if let Some(runtime) = runtime.into_inner().unwrap_or_else(PoisonError::into_inner) {
        xplug::__private::forget_module(runtime);
    }
    let (mapping, name, header) = match opened.into_inner() {
        Some(Ok(opened)) => (
            Arc::try_unwrap(opened.mapping).ok(),
            opened.in_place_name,
            Some(opened.header as *const _ as usize),
        ),
        _ => (None, None, None),
    };
    // The mapping is shared only by clones of `Opened` that loads in progress hold, and each
    // holds `library` too: there are none.
    let unloaded = match mapping {
        // SAFETY: the caller's promise.
        Some(mapping) => unsafe { mapping.unload() },
        // Not expected (a plugin's library is mapped, its mapping not shared): it stays.
        None => Unloaded::StillMapped,
    };
    if let (Unloaded::Unmapped, Some((path, number))) = (unloaded, name) {
        super::release_in_place_name(&path, number);
    }
    // A file loaded in place that stays mapped is what the dynamic loader returns for that
    // file from now on: its library comes back, initialised, its mapping to be opened again
    // by the next load (which then runs none of its code a second time).
    if let (Unloaded::StillMapped, Some(Identity::File(file)), Some(at)) =
        (unloaded, identity, header)
    {
        let kept = Library {
            info,
            header: bytes,
            source,
            opened: Step::new(),
            // Its `on_unload` ran: a load that finds it again runs its `on_load` again.
            loaded: Step::new(),
            unload_hook,
            // Not reached (by `set_max_log_level`) until it is opened again: by then the
            // dynamic loader may have unmapped it.
            runtime: std::sync::Mutex::new(None),
            stays_mapped: Some(at),
        };
        let mut registry = lock(&REGISTRY);
        let libraries = registry
            .get_or_insert_with(HashMap::new)
            .entry(Identity::File(file))
            .or_default();
        // A load of the file between the unload and here registered its own library of the
        // same mapping, which it opened and initialised (after `on_unload`): that one is the
        // file's library now; this one goes, closing nothing (it holds no mapping).
        if libraries.is_empty() {
            libraries.push(Arc::new(kept));
        }
    }
    Ok(unloaded)
}
