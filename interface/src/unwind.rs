//! What both sides of a plugin boundary need to live through a panic: whether this copy of
//! xplug is a loaded plugin's (plugin mode), and how to drop a caught panic's payload without
//! unwinding.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether this copy of xplug is a loaded plugin's (its load shim ran, [`enter_plugin_mode`]):
/// its guards then touch no thread-local on the call path, and its panic hook defers printing
/// (see `call::install_hook`).
static PLUGIN_MODE: AtomicBool = AtomicBool::new(false);

/// Switches this copy of xplug to plugin mode; called by a plugin's load shim before any of
/// its functions runs. A host's copy never is: its panics print when they happen.
pub(crate) fn enter_plugin_mode() {
    PLUGIN_MODE.store(true, Ordering::Release);
}

/// Whether this copy of xplug is a loaded plugin's: objects made now get the method table
/// whose shims use `guard_in::<true, _, _>`, which reads no mode at each call.
#[inline]
pub fn plugin_mode() -> bool {
    PLUGIN_MODE.load(Ordering::Relaxed)
}

/// Drops a caught panic's payload without unwinding: its `Drop` may panic in turn, and the
/// second payload's drop too, so the second payload is leaked, never dropped.
pub(crate) fn drop_payload(payload: Box<dyn std::any::Any + Send>) {
    if let Err(second) = panic::catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(second);
    }
}

/// Runs `f`, the other side's code or the host's own behind an entry (its logger, its
/// executor, its subscriber): a panic in it stops here, never unwinding across the boundary,
/// and `otherwise` is returned.
pub(crate) fn contained<R>(f: impl FnOnce() -> R, otherwise: R) -> R {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            drop_payload(payload);
            otherwise
        }
    }
}
