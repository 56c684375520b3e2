//! What the code `#[xplug::object]` generates relies on: thread-safety markers checked in the
//! layout, and the count of live objects that keeps a plugin's library loaded.

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

/// The count of live objects of the copy of xplug that made an object: an object's handle
/// counts it gone through this, after the object's drop shim has returned (so that a count of
/// 0 means no object's code is running any more).
pub extern "C" fn live_counter() -> &'static AtomicU64 {
    &LIVE_OBJECTS
}

/// Counts an object gone: its drop shim, in the code that made it, has returned.
#[inline]
pub fn object_gone(counter: &AtomicU64) {
    counter.fetch_sub(1, Ordering::Release);
}

/// How many objects this copy of xplug made that are still alive: the root module's
/// `live_objects` entry returns it for the host.
pub fn live_objects() -> u64 {
    LIVE_OBJECTS.load(Ordering::Acquire)
}

/// [`take_panic`] for a method table.
pub extern "C" fn take_panic_ffi() -> PluginPanic {
    take_panic()
}
