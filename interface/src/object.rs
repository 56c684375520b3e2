//! What the code `#[xplug::object]` generates relies on: thread-safety markers checked in the
//! layout, the count of live objects that keeps a plugin's library loaded, and the runtime a
//! root module reaches.

use std::sync::atomic::{AtomicU64, Ordering};

use abi_stable::StableAbi;

use crate::call::{take_panic, PluginPanic};

/// In an object's method table: its trait requires `Send`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct IsSend;

/// In an object's method table: its trait does not require `Send`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct NotSend;

/// In an object's method table: its trait requires `Sync`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct IsSync;

/// In an object's method table: its trait does not require `Sync`.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct NotSync;

/// Objects made by this copy of xplug (this plugin, or the host) and not dropped yet.
static LIVE_OBJECTS: AtomicU64 = AtomicU64::new(0);

/// Counts an object made.
#[inline]
pub fn object_made() {
    LIVE_OBJECTS.fetch_add(1, Ordering::Relaxed);
}

/// Counts an object dropped when it goes out of scope: after the object's `Drop` has run, or
/// while a panic in it unwinds.
pub struct ObjectDropped;

impl Drop for ObjectDropped {
    #[inline]
    fn drop(&mut self) {
        LIVE_OBJECTS.fetch_sub(1, Ordering::Release);
    }
}

/// How many objects this copy of xplug made that are still alive: the root module's hidden
/// `live_objects` function returns it for the host.
pub extern "C" fn live_objects() -> u64 {
    LIVE_OBJECTS.load(Ordering::Acquire)
}

/// [`take_panic`] for a method table.
pub extern "C" fn take_panic_ffi() -> PluginPanic {
    take_panic()
}

/// What every root module reaches in its plugin's copy of xplug: the details of a contained
/// panic, and the count of live objects.
#[repr(C)]
#[derive(StableAbi)]
pub struct PluginRuntime {
    /// Takes the details of the last panic contained on this thread.
    pub take_panic: extern "C" fn() -> PluginPanic,
    /// How many objects this plugin made are alive.
    pub live_objects: extern "C" fn() -> u64,
    /// Sets the plugin's maximum log level (`log::LevelFilter` as a number), if its records go
    /// to the host.
    pub set_log_level: extern "C" fn(u8),
}

/// This copy of xplug's runtime, for the root module a plugin exports.
pub const RUNTIME: &PluginRuntime = &PluginRuntime {
    take_panic: take_panic_ffi,
    live_objects,
    set_log_level: crate::host_link::set_log_level,
};
