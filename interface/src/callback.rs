//! [`Callback`]: a function one side lends the other for a call, whose panic comes back to the
//! caller as a [`CallError`] instead of aborting the process.

use std::marker::PhantomData;
use std::os::raw::c_void;

use abi_stable::std_types::RResult;
use abi_stable::StableAbi;

use crate::call::{guard, install_hook, panicked, CallResult, PluginPanic};
use crate::object::take_panic_ffi;
use crate::CallError;

/// A function from `A` to `R` that one side of the boundary lends the other for the duration
/// of a call: a host passes one to a plugin's function (or a plugin to a host service), and
/// the receiver calls it with [`call`](Callback::call).
///
/// A panic in the function is caught on the side that made the callback, in its own code, and
/// comes back from `call` as a [`CallError`] of kind
/// [`Panicked`](crate::CallErrorKind::Panicked) (function name `callback`). A bare
/// `extern "C" fn` passed the same way aborts the process when it panics (`extern "C"`
/// functions may not unwind).
///
/// It borrows the function (`'a`): the receiver cannot keep it beyond the call. `A` and `R`
/// cross the boundary by value, so they are FFI-safe types (`StableAbi`), and the layout check
/// of the interface that takes a `Callback` covers them.
///
/// ```
/// use xplug::Callback;
///
/// let triple = |x: i64| x * 3;
/// let callback: Callback<'_, i64, i64> = Callback::new(&triple);
/// assert_eq!(callback.call(2).unwrap(), 6);
///
/// let broken = |x: i64| -> i64 { panic!("cannot handle {}", x) };
/// let e = Callback::new(&broken).call(7).unwrap_err();
/// assert_eq!(e.panic_message(), Some("cannot handle 7"));
/// ```
#[repr(C)]
#[derive(StableAbi)]
pub struct Callback<'a, A, R> {
    /// The lent function, `&'a F` with its type erased.
    function: *const c_void,
    /// Calls `function` (the `F` it was made for) under the maker's panic guard.
    call: unsafe extern "C" fn(*const c_void, A) -> CallResult<R>,
    /// The maker's details of the panic `call` contained last on this thread.
    take_panic: extern "C" fn() -> PluginPanic,
    _borrow: PhantomData<&'a ()>,
}

impl<'a, A, R> Callback<'a, A, R> {
    /// Lends `function` for as long as the callback lives. It must be `Sync`: the receiver may
    /// call it from several threads at once.
    pub fn new<F: Fn(A) -> R + Sync>(function: &'a F) -> Self {
        install_hook();
        Callback {
            function: function as *const F as *const c_void,
            call: call_function::<A, R, F>,
            take_panic: take_panic_ffi,
            _borrow: PhantomData,
        }
    }

    /// Calls the lent function with `arg`: its return value, or its contained panic.
    pub fn call(&self, arg: A) -> Result<R, CallError> {
        // SAFETY: `call` was instantiated for the type of the function `function` points to,
        // which `self` borrows: it lives as long as `self`.
        match unsafe { (self.call)(self.function, arg) } {
            RResult::ROk(value) => Ok(value),
            RResult::RErr(_) => Err(panicked("callback", (self.take_panic)())),
        }
    }
}

/// Calls the `F` that `function` points to with `arg`, under the panic guard.
///
/// # Safety
/// `function` is a `&F` that lives for the duration of the call.
unsafe extern "C" fn call_function<A, R, F: Fn(A) -> R>(
    function: *const c_void,
    arg: A,
) -> CallResult<R> {
    // SAFETY: the caller's promise.
    let function = unsafe { &*(function as *const F) };
    guard(move || function(arg))
}

impl<A, R> Clone for Callback<'_, A, R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A, R> Copy for Callback<'_, A, R> {}

// SAFETY: a callback is a shared borrow of a `Sync` function (`new` requires it), usable from
// any thread as `&F` is; `A` and `R` are made and consumed on the calling thread.
unsafe impl<A, R> Send for Callback<'_, A, R> {}
// SAFETY: as above.
unsafe impl<A, R> Sync for Callback<'_, A, R> {}

impl<A, R> std::fmt::Debug for Callback<'_, A, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("function", &self.function)
            .finish()
    }
}
