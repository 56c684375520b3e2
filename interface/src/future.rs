//! Futures across the plugin boundary: what an `async fn` of an interface returns.
//!
//! A plugin's `async fn` (or a function returning a future, for compilers without `async fn`
//! in traits) crosses as an [`FfiFuture`]: the plugin's future, boxed once in the plugin, with
//! a layout-checked table through which the host polls and drops it. The host's handle wraps
//! it in a [`CallFuture`], a `Future` of `Result<T, CallError>`:
//!
//! - **Polling** runs the plugin's `poll` under the plugin's panic guard: a panic comes back as
//!   a [`CallError`] of kind [`Panicked`](crate::CallErrorKind::Panicked), and the future is
//!   dropped (in the plugin). A poll that is ready drops the future before it returns, in the
//!   plugin: nothing calls back to drop it.
//! - **Waking**: each poll lends the plugin the caller's waker, borrowed: a future that is
//!   ready at once allocates nothing for it. A plugin that keeps the waker (it returns
//!   `Pending`) clones it through an [`FfiWaker`]'s table; the waker's clone, wake,
//!   wake-by-ref and drop run in the code that made it, and a panic in one is contained there
//!   (the call then does nothing, a clone gives a waker that wakes nothing).
//! - **Cancelling**: dropping the [`CallFuture`] drops the plugin's future, in the plugin.
//! - **Lifetime**: a plugin's future (and a waker one side made and the other keeps) counts as
//!   one of the live objects of the code that made it, so the plugin's library stays loaded
//!   while it lives, as for objects.
//! - **Not `Send`**: an `async fn` marked `#[xplug(local)]` crosses as a [`LocalFfiFuture`] and
//!   the host gets a [`LocalCallFuture`]; neither is `Send`.

use std::ffi::c_void;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use abi_stable::prefix_type::WithMetadata;
use abi_stable::std_types::RResult;

pub use crate::abi::{
    FfiFuture, FfiWaker, FfiWakerVTable, FfiWakerVTableRef, FutureVTable, FutureVTableRef,
    LocalFfiFuture, PollState,
};

use crate::abi::{ObjectHeader, ObjectHeaderRef, PluginRuntime};
use crate::call::CallError;
use crate::call::{guard_in, install_hook, panicked, plugin_mode, CallResult};
use crate::object::{live_counter, object_gone, object_made, take_panic_ffi};
use crate::unwind::drop_payload;

/// What a plugin's function returns where the interface declares an `async fn` and the
/// plugin's compiler has no `async fn` in traits (before Rust 1.75): the future, boxed
/// (`'static` for an interface function, borrowing the object for an object's method).
/// `Box::pin(async move { .. })` makes one.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`BoxFuture`] without `Send`: what a plugin returns for an `async fn` marked
/// `#[xplug(local)]` where its compiler has no `async fn` in traits.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

// SAFETY: an `FfiFuture` is made from a `Send` future (`new`, `borrowing`) whose output is `T`,
// or from a `LocalFfiFuture` for a holder that is not `Send` and never lets it out
// (`LocalFfiFuture::into_unchecked`); it is polled and dropped through `&mut self` or by value,
// never shared.
unsafe impl<T: Send> Send for FfiFuture<T> {}
// SAFETY: no method takes `&self`: a shared reference gives access to nothing.
unsafe impl<T> Sync for FfiFuture<T> {}
// The plugin's future is boxed: moving the handle never moves it.
impl<T> Unpin for FfiFuture<T> {}

impl<T> FfiFuture<T> {
    /// Boxes `future` (one allocation) for the other side of the boundary. It counts as a live
    /// object of this code until the other side drops it.
    pub fn new<F>(future: F) -> FfiFuture<T>
    where
        F: Future<Output = T> + Send + 'static,
    {
        // SAFETY: `'static`: nothing it borrows ends.
        unsafe { Self::borrowing(future) }
    }

    /// [`new`](Self::new) for a future that borrows for `'a` (an object's method's future
    /// borrows the object). For generated code.
    ///
    /// # Safety
    ///
    /// The `FfiFuture` must be dropped before `'a` ends: it keeps no borrow the compiler sees.
    #[doc(hidden)]
    pub unsafe fn borrowing<'a, F>(future: F) -> FfiFuture<T>
    where
        F: Future<Output = T> + Send + 'a,
    {
        let (future, vtable) = boxed(future);
        FfiFuture {
            future,
            vtable,
            _output: PhantomData,
        }
    }

    /// Polls the future once with `waker`, lent for the poll: its output, `Pending`, or
    /// `Err(())` if it panicked (the details wait in its maker: [`take_panic`](Self::take_panic)).
    ///
    /// # Safety
    ///
    /// On `Ready(Ok(_))` the future is gone (the poll dropped it, and it is counted gone): the
    /// caller forgets this handle, never dropping or polling it again.
    unsafe fn poll_once(&mut self, waker: &Waker) -> Poll<Result<T, ()>> {
        let lent = FfiWaker::borrowed(waker);
        let mut out = MaybeUninit::<T>::uninit();
        // SAFETY: `future` is the live `F` the table was made for (see `new`), owned by this
        // handle; `out` has room for its output, `T`; `lent` lives through the call.
        let state =
            unsafe { (self.vtable.poll())(self.future.as_ptr(), out.as_mut_ptr().cast(), &lent) };
        match state {
            PollState::READY => {
                // The poll dropped the future, in its maker, whose code has returned now.
                object_gone((self.vtable.header().live())());
                // SAFETY: on `READY` the shim wrote the output.
                Poll::Ready(Ok(unsafe { out.assume_init() }))
            }
            PollState::PENDING => Poll::Pending,
            _ => Poll::Ready(Err(())),
        }
    }

    /// The details of the panic this future's last poll contained, taken from its maker.
    fn take_panic(&self) -> crate::call::PluginPanic {
        (self.vtable.header().take_panic())()
    }
}

impl<T> Drop for FfiFuture<T> {
    fn drop(&mut self) {
        // SAFETY: the future is live and owned by this handle, dropped once here.
        unsafe { drop_through(self.vtable.header(), self.future.as_ptr()) }
    }
}

/// Boxes `future` and counts it a live object of this code: its pointer and its table.
fn boxed<F: Future>(future: F) -> (NonNull<c_void>, FutureVTableRef) {
    install_hook();
    object_made();
    let future = Box::into_raw(Box::new(future));
    (
        // SAFETY: `Box::into_raw` never returns null.
        unsafe { NonNull::new_unchecked(future.cast()) },
        // A plugin's futures get shims that read no mode at each poll.
        if plugin_mode() {
            FutureShim::<F>::PLUGIN_VTABLE
        } else {
            FutureShim::<F>::VTABLE
        },
    )
}

impl<T> LocalFfiFuture<T> {
    /// [`FfiFuture::new`] for a future that is not `Send`: it is polled and dropped on the
    /// thread of whoever holds it, never moved to another.
    pub fn new<F>(future: F) -> LocalFfiFuture<T>
    where
        F: Future<Output = T> + 'static,
    {
        // SAFETY: `'static`: nothing it borrows ends.
        unsafe { Self::borrowing(future) }
    }

    /// [`new`](Self::new) for a future that borrows for `'a`. For generated code.
    ///
    /// # Safety
    ///
    /// The `LocalFfiFuture` must be dropped before `'a` ends: it keeps no borrow the compiler
    /// sees.
    #[doc(hidden)]
    pub unsafe fn borrowing<'a, F>(future: F) -> LocalFfiFuture<T>
    where
        F: Future<Output = T> + 'a,
    {
        let (future, vtable) = boxed(future);
        LocalFfiFuture {
            future,
            vtable,
            _output: PhantomData,
        }
    }

    /// The same future as an [`FfiFuture`], whose type claims it `Send`: for a holder that is
    /// not `Send` itself ([`LocalCallFuture`]).
    ///
    /// # Safety
    ///
    /// The result never leaves a holder that is not `Send`: it is polled and dropped on the
    /// thread that holds it.
    unsafe fn into_unchecked(self) -> FfiFuture<T> {
        let this = ManuallyDrop::new(self);
        FfiFuture {
            future: this.future,
            vtable: this.vtable,
            _output: PhantomData,
        }
    }
}

impl<T> Drop for LocalFfiFuture<T> {
    fn drop(&mut self) {
        // SAFETY: the future is live and owned by this handle, dropped once here.
        unsafe { drop_through(self.vtable.header(), self.future.as_ptr()) }
    }
}

// The plugin's future is boxed: moving the handle never moves it.
impl<T> Unpin for LocalFfiFuture<T> {}

impl<T> fmt::Debug for LocalFfiFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalFfiFuture").finish_non_exhaustive()
    }
}

/// Drops `value`, a future or stream made by the code of `header`, through its drop shim; then
/// counts it gone from that code's live objects (no code of it runs any more). A panic in its
/// `Drop` was contained there; its details are dropped.
///
/// # Safety
///
/// `value` is live, owned by the caller and made for `header`'s table; it is dropped once, here.
pub(crate) unsafe fn drop_through(header: ObjectHeaderRef, value: *mut c_void) {
    let live = (header.live())();
    // SAFETY: the caller's promise.
    let result = unsafe { (header.drop())(value) };
    if result.is_err() {
        let _ = (header.take_panic())();
    }
    object_gone(live);
}

/// The `std` waker of `lent`, the other side's waker lent for one poll: never dropped (it is
/// the lender's), only cloned or woken by reference.
pub(crate) fn lent_waker(lent: &FfiWaker) -> ManuallyDrop<Waker> {
    // SAFETY: `LENT_WAKER` is the table for a `*const FfiWaker`, and `lent` outlives the
    // waker's use (the poll it was lent for; clones are the lender's own).
    ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(
            lent as *const FfiWaker as *const (),
            &LENT_WAKER,
        ))
    })
}

impl<T> fmt::Debug for FfiFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FfiFuture").finish_non_exhaustive()
    }
}

/// The `extern "C"` shims of futures of type `F`.
struct FutureShim<F>(PhantomData<fn() -> F>);

impl<F: Future> FutureShim<F> {
    abi_stable::staticref! {
        const HOST_HEADER: WithMetadata<ObjectHeader> = WithMetadata::new(Self::header::<false>())
    }
    abi_stable::staticref! {
        const PLUGIN_HEADER: WithMetadata<ObjectHeader> = WithMetadata::new(Self::header::<true>())
    }
    abi_stable::staticref! {
        const HOST_TABLE: WithMetadata<FutureVTable> = WithMetadata::new(FutureVTable {
            header: ObjectHeaderRef(Self::HOST_HEADER.as_prefix()),
            poll: Self::poll::<false>,
        })
    }
    abi_stable::staticref! {
        const PLUGIN_TABLE: WithMetadata<FutureVTable> = WithMetadata::new(FutureVTable {
            header: ObjectHeaderRef(Self::PLUGIN_HEADER.as_prefix()),
            poll: Self::poll::<true>,
        })
    }
    const VTABLE: FutureVTableRef = FutureVTableRef(Self::HOST_TABLE.as_prefix());
    const PLUGIN_VTABLE: FutureVTableRef = FutureVTableRef(Self::PLUGIN_TABLE.as_prefix());

    const fn header<const PLUGIN: bool>() -> ObjectHeader {
        ObjectHeader {
            drop: Self::drop::<PLUGIN>,
            take_panic: take_panic_ffi,
            live: live_counter,
        }
    }

    /// # Safety
    /// `future` is the pointer `boxed` made from a `Box<F>` (for an `FfiFuture` or a
    /// `LocalFfiFuture`), not dropped yet, not polled elsewhere at once and not ready before;
    /// `out` has room for an `F::Output`; `waker` lives through the call.
    /// On `READY` the future was dropped.
    unsafe extern "C" fn poll<const PLUGIN: bool>(
        future: *mut c_void,
        out: *mut c_void,
        waker: &FfiWaker,
    ) -> PollState {
        // SAFETY: the caller's promise: the future is boxed, so it never moves.
        let pinned = unsafe { Pin::new_unchecked(&mut *(future as *mut F)) };
        let waker = lent_waker(waker);
        let mut cx = Context::from_waker(&waker);
        match guard_in::<PLUGIN, _, _>(move || pinned.poll(&mut cx)) {
            RResult::ROk(Poll::Ready(value)) => {
                // SAFETY: the caller's promise on `out`.
                unsafe { (out as *mut F::Output).write(value) };
                // Done: dropped now, which saves the holder a call back for it (the holder
                // counts it gone once this has returned). A panic in its `Drop` is forgotten,
                // as the holder's drop would.
                // SAFETY: the caller's promise; `READY` tells the holder it is gone.
                if unsafe { Self::drop::<PLUGIN>(future) }.is_err() {
                    let _ = crate::call::take_panic();
                }
                PollState::READY
            }
            RResult::ROk(Poll::Pending) => PollState::PENDING,
            RResult::RErr(_) => PollState::PANICKED,
        }
    }

    /// # Safety
    /// `future` is the pointer `boxed` made from a `Box<F>`, dropped at most once (a ready
    /// poll dropped it already).
    unsafe extern "C" fn drop<const PLUGIN: bool>(future: *mut c_void) -> CallResult<()> {
        // Counted gone by the handle, once this has returned.
        guard_in::<PLUGIN, _, _>(move || {
            // SAFETY: the caller's promise.
            drop(unsafe { Box::from_raw(future as *mut F) })
        })
    }
}

/// A future of the result of an `async fn` of a plugin (or of an object's method, borrowing
/// the object for `'a`): what the host's handle returns. It polls the plugin's future where it
/// was made (see the [module docs](self)); a panic there is `Err(CallError)` of kind
/// [`Panicked`](crate::CallErrorKind::Panicked). Dropping it before it is done drops the
/// plugin's future (cancels it). It is `Send` when `T` is.
#[must_use = "a plugin's future does nothing unless awaited"]
pub struct CallFuture<'a, T> {
    state: State<T>,
    _borrow: PhantomData<&'a ()>,
}

enum State<T> {
    Running {
        future: FfiFuture<T>,
        function: &'static str,
        runtime: Option<PluginRuntime>,
    },
    Failed(CallError),
    Done,
}

impl<T> CallFuture<'static, T> {
    /// The future of a call of `function` that returned `call`: the plugin's future, or why
    /// the call made none. `runtime` names the plugin in a panic's error. For generated code.
    #[doc(hidden)]
    pub fn new(
        call: Result<FfiFuture<T>, CallError>,
        function: &'static str,
        runtime: Option<PluginRuntime>,
    ) -> CallFuture<'static, T> {
        // SAFETY: `'static`: the future outlives nothing.
        unsafe { CallFuture::borrowing(call, function, runtime) }
    }
}

impl<'a, T> CallFuture<'a, T> {
    /// [`new`](CallFuture::new) for the future of an object's method, which borrows the object
    /// for `'a`. For generated code.
    ///
    /// # Safety
    ///
    /// The plugin's future (`call`) may borrow only what lives for `'a`.
    #[doc(hidden)]
    pub unsafe fn borrowing(
        call: Result<FfiFuture<T>, CallError>,
        function: &'static str,
        runtime: Option<PluginRuntime>,
    ) -> CallFuture<'a, T> {
        CallFuture {
            _borrow: PhantomData,
            state: match call {
                Ok(future) => State::Running {
                    future,
                    function,
                    runtime,
                },
                Err(e) => State::Failed(e),
            },
        }
    }
}

impl<T> Future for CallFuture<'_, T> {
    type Output = Result<T, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (result, function, runtime) = match &mut this.state {
            State::Running {
                future,
                function,
                runtime,
            } => {
                // SAFETY: a future that is ready is forgotten at once, below.
                match unsafe { future.poll_once(cx.waker()) } {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(value)) => {
                        // Gone already: forgotten, never dropped.
                        if let State::Running { future, .. } =
                            std::mem::replace(&mut this.state, State::Done)
                        {
                            std::mem::forget(future);
                        }
                        return Poll::Ready(Ok(value));
                    }
                    Poll::Ready(Err(())) => (Err(future.take_panic()), *function, *runtime),
                }
            }
            State::Failed(_) => match std::mem::replace(&mut this.state, State::Done) {
                State::Failed(e) => return Poll::Ready(Err(e)),
                _ => unreachable!("matched as failed above"),
            },
            State::Done => panic!("`CallFuture` polled after it completed"),
        };
        // Done: the plugin's future is dropped now, in the plugin (after a panic too).
        this.state = State::Done;
        Poll::Ready(result.map_err(|panic| {
            let e = panicked(function, panic);
            match runtime {
                Some(runtime) => e.in_plugin(crate::plugin_names::module_name(
                    runtime.entries(),
                    runtime.context(),
                )),
                None => e,
            }
        }))
    }
}

impl<T> fmt::Debug for CallFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { function, .. } => *function,
            State::Failed(_) => "failed",
            State::Done => "done",
        };
        f.debug_tuple("CallFuture").field(&state).finish()
    }
}

/// [`CallFuture`] of an `async fn` marked `#[xplug(local)]`: the plugin's future is not
/// `Send`, and neither is this one (run it on a local executor, e.g. tokio's `LocalSet`).
#[must_use = "a plugin's future does nothing unless awaited"]
pub struct LocalCallFuture<'a, T> {
    inner: CallFuture<'a, T>,
    _local: PhantomData<*const ()>,
}

impl<T> LocalCallFuture<'static, T> {
    /// [`CallFuture::new`] of a future that is not `Send`. For generated code.
    #[doc(hidden)]
    pub fn new(
        call: Result<LocalFfiFuture<T>, CallError>,
        function: &'static str,
        runtime: Option<PluginRuntime>,
    ) -> LocalCallFuture<'static, T> {
        // SAFETY: `'static`: the future outlives nothing.
        unsafe { LocalCallFuture::borrowing(call, function, runtime) }
    }
}

impl<'a, T> LocalCallFuture<'a, T> {
    /// [`CallFuture::borrowing`] of a future that is not `Send`. For generated code.
    ///
    /// # Safety
    ///
    /// The plugin's future (`call`) may borrow only what lives for `'a`.
    #[doc(hidden)]
    pub unsafe fn borrowing(
        call: Result<LocalFfiFuture<T>, CallError>,
        function: &'static str,
        runtime: Option<PluginRuntime>,
    ) -> LocalCallFuture<'a, T> {
        LocalCallFuture {
            // SAFETY: the caller's promise; the `FfiFuture` never leaves this handle, which
            // is not `Send`.
            inner: unsafe {
                CallFuture::borrowing(
                    call.map(|future| LocalFfiFuture::into_unchecked(future)),
                    function,
                    runtime,
                )
            },
            _local: PhantomData,
        }
    }
}

impl<T> Future for LocalCallFuture<'_, T> {
    type Output = Result<T, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.get_mut().inner).poll(cx)
    }
}

impl<T> fmt::Debug for LocalCallFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LocalCallFuture").field(&self.inner).finish()
    }
}

impl FfiWaker {
    /// `waker`, lent for one poll: the other side may clone it or wake it by reference.
    pub(crate) fn borrowed(waker: &Waker) -> FfiWaker {
        FfiWaker {
            data: waker as *const Waker as *const c_void,
            vtable: WakerTables::BORROWED,
        }
    }
}

/// The tables of the wakers this code makes from its own `std` wakers.
struct WakerTables;

impl WakerTables {
    abi_stable::staticref! {
        const BORROWED_TABLE: WithMetadata<FfiWakerVTable> = WithMetadata::new(FfiWakerVTable {
            clone_waker,
            // A lent waker is never the other side's to consume: it wakes by reference.
            wake: wake_by_ref,
            wake_by_ref,
            drop: forget_waker,
            live: live_counter,
        })
    }
    abi_stable::staticref! {
        const OWNED_TABLE: WithMetadata<FfiWakerVTable> = WithMetadata::new(FfiWakerVTable {
            clone_waker,
            wake: wake_owned,
            wake_by_ref,
            drop: drop_owned,
            live: live_counter,
        })
    }
    const BORROWED: FfiWakerVTableRef = FfiWakerVTableRef(Self::BORROWED_TABLE.as_prefix());
    const OWNED: FfiWakerVTableRef = FfiWakerVTableRef(Self::OWNED_TABLE.as_prefix());
}

/// Runs `f`, a waker's own code, and contains a panic in it (printed by the panic hook, then
/// dropped: the waker call does nothing more).
fn waker_guard<R>(f: impl FnOnce() -> R) -> Option<R> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(payload) => {
            drop_payload(payload);
            None
        }
    }
}

/// # Safety
/// `data` is a live `&Waker` (lent) or `Box<Waker>` (owned) of this code.
unsafe extern "C" fn clone_waker(data: *const c_void) -> FfiWaker {
    // SAFETY: the caller's promise.
    let waker = unsafe { &*(data as *const Waker) };
    let owned = waker_guard(|| Box::new(waker.clone())).unwrap_or_else(|| Box::new(noop_waker()));
    object_made();
    FfiWaker {
        data: Box::into_raw(owned) as *const c_void,
        vtable: WakerTables::OWNED,
    }
}

/// # Safety
/// As [`clone_waker`].
unsafe extern "C" fn wake_by_ref(data: *const c_void) {
    // SAFETY: the caller's promise.
    let waker = unsafe { &*(data as *const Waker) };
    waker_guard(|| waker.wake_by_ref());
}

/// # Safety
/// `data` is an owned waker of this code ([`clone_waker`]'s), not used afterwards.
unsafe extern "C" fn wake_owned(data: *const c_void) {
    // SAFETY: the caller's promise.
    let waker = unsafe { Box::from_raw(data as *mut Waker) };
    waker_guard(move || waker.wake());
}

/// # Safety
/// As [`wake_owned`].
unsafe extern "C" fn drop_owned(data: *const c_void) {
    // SAFETY: the caller's promise.
    let waker = unsafe { Box::from_raw(data as *mut Waker) };
    waker_guard(move || drop(waker));
}

/// A lent waker is not the other side's to drop.
unsafe extern "C" fn forget_waker(_: *const c_void) {}

/// A waker that wakes nothing: what a clone whose `Waker::clone` panicked gives.
fn noop_waker() -> Waker {
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &NOOP)
    }
    fn nothing(_: *const ()) {}
    static NOOP: RawWakerVTable = RawWakerVTable::new(clone, nothing, nothing, nothing);
    // SAFETY: the table's functions do nothing with their (null) data.
    unsafe { Waker::from_raw(clone(std::ptr::null())) }
}

// The other side's wakers, as `std` wakers in this code. A lent one is the `*const FfiWaker`
// of the poll (never dropped or consumed here); an owned one a `Box<FfiWaker>`.

/// The table of a waker the other side lent for one poll.
static LENT_WAKER: RawWakerVTable =
    RawWakerVTable::new(clone_ffi, wake_by_ref_ffi, wake_by_ref_ffi, lent_drop);

/// The table of a waker the other side made for this code to keep.
static KEPT_WAKER: RawWakerVTable =
    RawWakerVTable::new(clone_ffi, kept_wake, wake_by_ref_ffi, kept_drop);

/// A `std` waker that owns `waker`, a clone the other side made.
fn keep(waker: FfiWaker) -> RawWaker {
    RawWaker::new(Box::into_raw(Box::new(waker)) as *const (), &KEPT_WAKER)
}

/// A kept waker that wakes the same task (both tables).
///
/// # Safety
/// `data` is a live `*const FfiWaker`: lent for the poll, or the `Box` [`keep`] made.
unsafe fn clone_ffi(data: *const ()) -> RawWaker {
    // SAFETY: the caller's promise.
    let waker = unsafe { &*(data as *const FfiWaker) };
    // SAFETY: the table is the waker's own, and its maker keeps `data` live while the waker
    // is (the poll it was lent for, or until an owned one is dropped or woken).
    keep(unsafe { (waker.vtable.clone_waker())(waker.data) })
}

/// # Safety
/// As [`clone_ffi`].
unsafe fn wake_by_ref_ffi(data: *const ()) {
    // SAFETY: the caller's promise.
    let waker = unsafe { &*(data as *const FfiWaker) };
    // SAFETY: as in `clone_ffi`.
    unsafe { (waker.vtable.wake_by_ref())(waker.data) }
}

/// A lent waker is its maker's to drop.
unsafe fn lent_drop(_: *const ()) {}

/// # Safety
/// `data` is a live `Box<FfiWaker>` that [`keep`] made, not used afterwards.
unsafe fn kept_wake(data: *const ()) {
    // SAFETY: the caller's promise.
    unsafe { release(data, |vtable| vtable.wake()) }
}

/// # Safety
/// As [`kept_wake`].
unsafe fn kept_drop(data: *const ()) {
    // SAFETY: the caller's promise.
    unsafe { release(data, |vtable| vtable.drop()) }
}

/// Hands a kept waker back to its maker through the entry `consume` picks (wake or drop), then
/// counts it gone from the maker's live objects, once the maker's code has returned.
///
/// # Safety
/// As [`kept_wake`].
unsafe fn release(
    data: *const (),
    consume: impl FnOnce(FfiWakerVTableRef) -> unsafe extern "C" fn(*const c_void),
) {
    // SAFETY: the caller's promise.
    let kept = unsafe { Box::from_raw(data as *mut FfiWaker) };
    let live = (kept.vtable.live())();
    // SAFETY: an owned waker, consumed once here.
    unsafe { consume(kept.vtable)(kept.data) };
    object_gone(live);
}
