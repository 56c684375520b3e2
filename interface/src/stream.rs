//! Streams across the plugin boundary: a function of an interface may return an
//! [`FfiStream<T>`], an async iterator of `T` that the host polls item by item.
//!
//! A plugin makes one from anything that implements [`Stream`] (this crate's own trait, the
//! shape of `futures`' `Stream`: the standard library has none yet), for instance with
//! [`unfold`] from a state and an async step:
//!
//! ```
//! use xplug::stream::{unfold, FfiStream};
//!
//! /// The numbers below `count`.
//! fn below(count: u64) -> FfiStream<u64> {
//!     FfiStream::new(unfold(0, move |n| async move {
//!         if n < count { Some((n, n + 1)) } else { None }
//!     }))
//! }
//! ```
//!
//! The host polls it with [`FfiStream::next`] (or [`Stream::poll_next`]): each item is
//! `Ok(T)`, a panic in the plugin's stream is one `Err(CallError)` of kind
//! [`Panicked`](crate::CallErrorKind::Panicked), after which the stream is dropped (in the
//! plugin) and ends. Waking, cancellation by drop and the plugin's lifetime are as for
//! [futures](crate::future).

use std::ffi::c_void;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

use abi_stable::prefix_type::WithMetadata;
use abi_stable::std_types::RResult;
use abi_stable::StableAbi;

use crate::abi::{ObjectHeader, ObjectHeaderRef};
use crate::call::CallError;
use crate::call::{guard_in, install_hook, panicked, plugin_mode, CallResult};
use crate::future::{drop_through, lent_waker, FfiWaker, PollState};
use crate::object::{live_counter, object_made, take_panic_ffi};

/// An async iterator: the values it yields, one poll at a time (the shape of `futures`'
/// `Stream`).
pub trait Stream {
    /// What it yields.
    type Item;

    /// The next item, `Ready(None)` once it has ended, or `Pending` (it wakes the task when it
    /// may have more).
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>>;
}

impl<S: Stream + Unpin + ?Sized> Stream for &mut S {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        S::poll_next(Pin::new(&mut **self), cx)
    }
}

impl<S: Stream + ?Sized> Stream for Pin<Box<S>> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        self.get_mut().as_mut().poll_next(cx)
    }
}

/// A stream of the items `step` yields from a state, starting at `init`: each step takes the
/// state and resolves to the next item and state, or `None` to end.
pub fn unfold<S, F, Fut, T>(init: S, step: F) -> Unfold<S, F, Fut>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Option<(T, S)>>,
{
    Unfold {
        state: Some(init),
        step,
        pending: None,
    }
}

/// What [`unfold`] returns.
pub struct Unfold<S, F, Fut> {
    state: Option<S>,
    step: F,
    pending: Option<Pin<Box<Fut>>>,
}

impl<S, F, Fut, T> Stream for Unfold<S, F, Fut>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Option<(T, S)>>,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: nothing is moved out of the pinned struct but `state` (never pinned); the
        // step's future is boxed.
        let this = unsafe { self.get_unchecked_mut() };
        if this.pending.is_none() {
            match this.state.take() {
                Some(state) => this.pending = Some(Box::pin((this.step)(state))),
                None => return Poll::Ready(None),
            }
        }
        let step = match &mut this.pending {
            Some(step) => step,
            None => return Poll::Ready(None),
        };
        match step.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(next) => {
                this.pending = None;
                Poll::Ready(next.map(|(item, state)| {
                    this.state = Some(state);
                    item
                }))
            }
        }
    }
}

impl<S, F, Fut> fmt::Debug for Unfold<S, F, Fut> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unfold").finish_non_exhaustive()
    }
}

/// A stream of the items of `items`, each ready at once.
pub fn iter<I: IntoIterator>(items: I) -> Iter<I::IntoIter> {
    Iter {
        items: items.into_iter(),
    }
}

/// What [`iter`] returns.
#[derive(Debug)]
pub struct Iter<I> {
    items: I,
}

impl<I: Iterator + Unpin> Stream for Iter<I> {
    type Item = I::Item;

    fn poll_next(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<I::Item>> {
        Poll::Ready(self.get_mut().items.next())
    }
}

/// The table of a stream that crosses the boundary.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = StreamVTableRef, prefix_fields = StreamVTable_Prefix)))]
#[sabi(missing_field(option))]
pub struct StreamVTable {
    /// Drops the stream, the details of a panic, and the live count of the code that made it.
    pub header: ObjectHeaderRef,
    /// Polls the stream (`*mut Option<S>`) for its next item with the lent waker: on
    /// [`PollState::READY`] the item was written to the second pointer (a `*mut T`);
    /// [`PollState::DONE`] says it has ended. Entries a later release appends come after this
    /// one.
    #[sabi(last_prefix_field)]
    pub poll_next: unsafe extern "C" fn(*mut c_void, *mut c_void, &FfiWaker) -> PollState,
}

/// A stream of `T` as it crosses the boundary: owned, polled and dropped through its table, in
/// the code that made it. Part of the layout of every interface function that returns one (its
/// `T` too). See the [module docs](self).
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiStream<T> {
    stream: NonNull<c_void>,
    vtable: StreamVTableRef,
    _item: PhantomData<T>,
}

// SAFETY: an `FfiStream` is made only from a `Send` stream (`new`) whose items are `T`; it is
// polled and dropped through `&mut self` or by value, never shared.
unsafe impl<T: Send> Send for FfiStream<T> {}
// SAFETY: no method takes `&self`: a shared reference gives access to nothing.
unsafe impl<T> Sync for FfiStream<T> {}
// The plugin's stream is boxed: moving the handle never moves it.
impl<T> Unpin for FfiStream<T> {}

impl<T> FfiStream<T> {
    /// Boxes `stream` (one allocation) for the other side of the boundary. It counts as a live
    /// object of this code until the other side drops it.
    pub fn new<S>(stream: S) -> FfiStream<T>
    where
        S: Stream<Item = T> + Send + 'static,
    {
        install_hook();
        object_made();
        let stream = Box::into_raw(Box::new(Some(stream)));
        FfiStream {
            // SAFETY: `Box::into_raw` never returns null.
            stream: unsafe { NonNull::new_unchecked(stream.cast()) },
            vtable: if plugin_mode() {
                StreamShim::<S>::PLUGIN_VTABLE
            } else {
                StreamShim::<S>::VTABLE
            },
            _item: PhantomData,
        }
    }

    /// The next item: `Some(Ok(item))`, `None` once the stream has ended, or `Some(Err(..))`
    /// once if it panicked (it has ended then).
    // Named as `futures`' and tokio's `StreamExt::next`: a future of the next item.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Next<'_, T> {
        Next { stream: self }
    }

    fn poll_item(&mut self, waker: &Waker) -> Poll<Option<Result<T, CallError>>> {
        let lent = FfiWaker::borrowed(waker);
        let mut out = MaybeUninit::<T>::uninit();
        // SAFETY: `stream` is the live `Option<S>` the table was made for (see `new`), owned
        // by this handle; `out` has room for its item, `T`; `lent` lives through the call.
        let state = unsafe {
            (self.vtable.poll_next())(self.stream.as_ptr(), out.as_mut_ptr().cast(), &lent)
        };
        match state {
            // SAFETY: on `READY` the shim wrote the item.
            PollState::READY => Poll::Ready(Some(Ok(unsafe { out.assume_init() }))),
            PollState::PENDING => Poll::Pending,
            PollState::DONE => Poll::Ready(None),
            _ => {
                let panic = (self.vtable.header().take_panic())();
                Poll::Ready(Some(Err(panicked("stream", panic))))
            }
        }
    }
}

impl<T> Stream for FfiStream<T> {
    type Item = Result<T, CallError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_item(cx.waker())
    }
}

/// What [`FfiStream::next`] returns.
#[must_use = "a stream's next item does nothing unless awaited"]
pub struct Next<'a, T> {
    stream: &'a mut FfiStream<T>,
}

impl<T> Future for Next<'_, T> {
    type Output = Option<Result<T, CallError>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().stream.poll_item(cx.waker())
    }
}

impl<T> fmt::Debug for Next<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Next").finish_non_exhaustive()
    }
}

impl<T> Drop for FfiStream<T> {
    fn drop(&mut self) {
        // SAFETY: the stream is live and owned by this handle, dropped once here.
        unsafe { drop_through(self.vtable.header(), self.stream.as_ptr()) }
    }
}

impl<T> fmt::Debug for FfiStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FfiStream").finish_non_exhaustive()
    }
}

/// The `extern "C"` shims of streams of type `S`.
struct StreamShim<S>(PhantomData<fn() -> S>);

impl<S: Stream + Send + 'static> StreamShim<S> {
    abi_stable::staticref! {
        const HOST_HEADER: WithMetadata<ObjectHeader> = WithMetadata::new(Self::header::<false>())
    }
    abi_stable::staticref! {
        const PLUGIN_HEADER: WithMetadata<ObjectHeader> = WithMetadata::new(Self::header::<true>())
    }
    abi_stable::staticref! {
        const HOST_TABLE: WithMetadata<StreamVTable> = WithMetadata::new(StreamVTable {
            header: ObjectHeaderRef(Self::HOST_HEADER.as_prefix()),
            poll_next: Self::poll_next::<false>,
        })
    }
    abi_stable::staticref! {
        const PLUGIN_TABLE: WithMetadata<StreamVTable> = WithMetadata::new(StreamVTable {
            header: ObjectHeaderRef(Self::PLUGIN_HEADER.as_prefix()),
            poll_next: Self::poll_next::<true>,
        })
    }
    const VTABLE: StreamVTableRef = StreamVTableRef(Self::HOST_TABLE.as_prefix());
    const PLUGIN_VTABLE: StreamVTableRef = StreamVTableRef(Self::PLUGIN_TABLE.as_prefix());

    const fn header<const PLUGIN: bool>() -> ObjectHeader {
        ObjectHeader {
            drop: Self::drop::<PLUGIN>,
            take_panic: take_panic_ffi,
            live: live_counter,
        }
    }

    /// # Safety
    /// `stream` is the pointer `FfiStream::new` made from a `Box<Option<S>>`, not dropped yet
    /// and not polled elsewhere at once; `out` has room for an `S::Item`; `waker` lives
    /// through the call.
    unsafe extern "C" fn poll_next<const PLUGIN: bool>(
        stream: *mut c_void,
        out: *mut c_void,
        waker: &FfiWaker,
    ) -> PollState {
        // SAFETY: the caller's promise.
        let slot = unsafe { &mut *(stream as *mut Option<S>) };
        let inner = match slot.as_mut() {
            // SAFETY: the stream is boxed, so it never moves; it is dropped in place below.
            Some(inner) => unsafe { Pin::new_unchecked(inner) },
            None => return PollState::DONE,
        };
        let waker = lent_waker(waker);
        let mut cx = Context::from_waker(&waker);
        match guard_in::<PLUGIN, _, _>(move || inner.poll_next(&mut cx)) {
            RResult::ROk(Poll::Ready(Some(item))) => {
                // SAFETY: the caller's promise on `out`.
                unsafe { (out as *mut S::Item).write(item) };
                PollState::READY
            }
            RResult::ROk(Poll::Ready(None)) => {
                // Ended: dropped now (a stream polled after its end may panic), so that later
                // polls answer `DONE` without running it. A panic in its `Drop` is contained
                // and its details dropped.
                if guard_in::<PLUGIN, _, _>(|| *slot = None).is_err() {
                    let _ = crate::call::take_panic();
                }
                PollState::DONE
            }
            RResult::ROk(Poll::Pending) => PollState::PENDING,
            RResult::RErr(_) => {
                // Ended by its panic: dropped now, under the guard (a second panic's details
                // would replace the first's, so they are taken first and put back).
                let panic = crate::call::take_panic();
                let _ = guard_in::<PLUGIN, _, _>(|| *slot = None);
                let _ = crate::call::take_panic();
                crate::call::put_panic(panic);
                PollState::PANICKED
            }
        }
    }

    /// # Safety
    /// `stream` is the pointer `FfiStream::new` made from a `Box<Option<S>>`, dropped at most
    /// once.
    unsafe extern "C" fn drop<const PLUGIN: bool>(stream: *mut c_void) -> CallResult<()> {
        guard_in::<PLUGIN, _, _>(move || {
            // SAFETY: the caller's promise.
            drop(unsafe { Box::from_raw(stream as *mut Option<S>) })
        })
    }
}
