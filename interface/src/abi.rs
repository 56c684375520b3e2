//! xplug ABI 1: what a plugin and a host exchange besides an interface's own functions.
//!
//! A plugin's header names the ABI it speaks ([`ABI_VERSION`]); a host refuses another before
//! it opens the file. Within ABI 1, every table below is an abi_stable prefix type: a later
//! release of xplug may append entries to any of them without a new ABI version, and a host
//! or plugin built before then sees those entries as absent (`None` from their accessors).
//! The type-layout check at load compares everything both sides know.
//!
//! | table | made by | entries (ABI 1) |
//! |---|---|---|
//! | root module (per interface) | plugin | `on_load_`, `xplug_` ([`PluginEntries`]), `context_` ([`CallContext`]), the interface's first 48 functions, then up to 13 pages of 64 functions each |
//! | [`PluginEntries`] | plugin | `take_panic`, `live_objects`, `set_log_level`, `save_state`, `restore_state`, `on_unload` |
//! | [`HostLink`](crate::__private::HostLink) | host | `max_log_level`, `log_enabled`, `log`, `log_flush`, `defer_panic`, `forget_panic`; appended: `spawn`, `sleep` (the host's executor), `trace_max_level`, `trace_enabled`, `trace_event`, `trace_new_span`, `trace_enter`, `trace_exit`, `trace_clone_span`, `trace_close`, `trace_record`, `trace_follows_from`, `trace_current` (the `tracing` bridge) |
//! | object method table (per object trait) | either side | `header_` ([`ObjectHeader`]), `send_`, `sync_`, the methods |
//! | [`ObjectHeader`] | either side | `drop`, `take_panic`, `live` |
//! | [`FutureVTable`] (an `async fn`'s [`FfiFuture`] or [`LocalFfiFuture`]) | either side | `header` ([`ObjectHeader`]), `poll` |
//! | [`StreamVTable`](crate::stream::StreamVTable) ([`FfiStream`](crate::stream::FfiStream)) | either side | `header` ([`ObjectHeader`]), `poll_next` |
//! | [`FfiWakerVTable`] (a waker lent for a poll, or kept) | either side | `clone_waker`, `wake`, `wake_by_ref`, `drop`, `live` |
//!
//! Every function of a root module and of [`PluginEntries`] takes the module's
//! [`CallContext`] first: null in the module a plugin exports, and the state of whatever
//! serves the module otherwise (a module made by the host that forwards its calls elsewhere,
//! e.g. to another process). An object's methods find their state through the object.
//!
//! A plugin built against an older minor version of an interface may lack the functions,
//! pages and object methods appended since; the host's accessors report them absent. Values
//! cross as abi_stable's `StableAbi` types; a call's result is a [`CallResult`], whose error
//! side is a one-byte mark, the details of a contained panic coming from `take_panic`.

use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};
use abi_stable::StableAbi;

/// The version of the xplug ABI this crate speaks, written in every plugin's header.
pub const ABI_VERSION: u16 = 1;

/// What every function of a root module receives first: null in the module a plugin exports
/// (its functions ignore it), the state of a module's server otherwise.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallContext(*const c_void);

// SAFETY: a context is an address handed back, unread, to the functions of the module that
// holds it; whatever serves those functions makes the state it points to shareable.
unsafe impl Send for CallContext {}
// SAFETY: as above.
unsafe impl Sync for CallContext {}

impl CallContext {
    /// The context of a module a plugin exports.
    pub const NONE: CallContext = CallContext(core::ptr::null());

    /// A context pointing to a module server's state.
    pub const fn new(state: *const c_void) -> CallContext {
        CallContext(state)
    }

    /// The address this context holds.
    pub const fn as_ptr(self) -> *const c_void {
        self.0
    }
}

/// What a hook that may refuse (`on_load`, `restore_state`, `on_unload`) returns across the
/// boundary.
pub type HookResult = RResult<(), RString>;

/// What `save_state` returns across the boundary.
pub type SavedState = ROption<RVec<u8>>;

/// The entries every root module has besides its interface's functions: the hooks, and the
/// runtime of the plugin's copy of xplug.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginEntriesRef, prefix_fields = PluginEntries_Prefix)))]
#[sabi(missing_field(option))]
pub struct PluginEntries {
    /// Takes the details of the last panic contained on this thread.
    pub take_panic: extern "C" fn(CallContext) -> PluginPanic,
    /// How many objects the plugin made are alive.
    pub live_objects: extern "C" fn(CallContext) -> u64,
    /// Sets the plugin's maximum log level (`log::LevelFilter` as a number), if its records go
    /// to the host.
    pub set_log_level: extern "C" fn(CallContext, u8),
    /// The plugin's `save_state` hook.
    pub save_state: extern "C" fn(CallContext) -> CallResult<SavedState>,
    /// The plugin's `restore_state` hook.
    pub restore_state: extern "C" fn(CallContext, RSlice<'_, u8>) -> CallResult<HookResult>,
    /// The plugin's `on_unload` hook. Entries a later release appends come after this one.
    #[sabi(last_prefix_field)]
    pub on_unload: extern "C" fn(CallContext) -> CallResult<HookResult>,
}

/// The entries of an object's method table that every object trait has: how to drop the
/// object, the details of a panic in its code, and the count of live objects of the code
/// that made it.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = ObjectHeaderRef, prefix_fields = ObjectHeader_Prefix)))]
#[sabi(missing_field(option))]
pub struct ObjectHeader {
    /// Drops the object, in the code that made it.
    pub drop: unsafe extern "C" fn(*mut c_void) -> CallResult<()>,
    /// Takes the details of the last panic contained on this thread, in that code.
    pub take_panic: extern "C" fn() -> PluginPanic,
    /// The live-object count of that code. Entries a later release appends come after this
    /// one.
    #[sabi(last_prefix_field)]
    pub live: extern "C" fn() -> &'static AtomicU64,
}

/// A root module's entries and context, as the host keeps them: the plugin's runtime.
#[derive(Clone, Copy, Debug)]
pub struct PluginRuntime {
    entries: PluginEntriesRef,
    context: CallContext,
}

impl PluginRuntime {
    /// The runtime behind a module's `xplug_` and `context_` fields.
    pub fn new(entries: PluginEntriesRef, context: CallContext) -> PluginRuntime {
        PluginRuntime { entries, context }
    }

    /// The module's entries.
    pub fn entries(self) -> PluginEntriesRef {
        self.entries
    }

    /// The module's context.
    pub fn context(self) -> CallContext {
        self.context
    }

    /// Takes the details of the last panic the plugin contained on this thread.
    pub fn take_panic(self) -> PluginPanic {
        (self.entries.take_panic())(self.context)
    }

    /// How many objects the plugin made are alive.
    pub fn live_objects(self) -> u64 {
        (self.entries.live_objects())(self.context)
    }

    /// Sets the plugin's maximum log level.
    pub fn set_log_level(self, level: u8) {
        (self.entries.set_log_level())(self.context, level)
    }
}

impl core::fmt::Debug for PluginEntriesRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PluginEntriesRef").finish_non_exhaustive()
    }
}

/// What a plugin function returns across the boundary: its value, or the mark of a panic it
/// contained (whose details the module's `take_panic` entry returns).
pub type CallResult<T> = RResult<T, Contained>;

/// The error side of a [`CallResult`]: the function panicked, and the plugin contained it.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contained(u8);

impl Contained {
    /// A plugin contained a panic (what a plugin's guard returns).
    pub const PANICKED: Contained = Contained(1);
    /// A call to an isolated plugin failed on the host's side (the proxy's mark; the reason
    /// waits in the host, see `isolation::take_failure`).
    pub const ISOLATED: Contained = Contained(2);
}

/// A panic caught inside a plugin function, as the plugin reports it to the host.
#[repr(C)]
#[derive(StableAbi, Debug, Clone, PartialEq, Eq)]
pub struct PluginPanic {
    /// The panic message (the payload, if it was a string).
    pub message: RString,
    /// `file:line:column` of the panic in the plugin's source, if known.
    pub location: RString,
}

/// How a poll across the boundary ended.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollState(u8);

impl PollState {
    /// The future is done: its output was written, and the future dropped by the poll, in the
    /// code that made it (a stream's item was written; the stream lives on). The holder of a
    /// future drops it no more, and counts it gone from its maker's live objects.
    pub const READY: PollState = PollState(0);
    /// The future is not done; it will wake the waker it was lent (or a clone of it).
    pub const PENDING: PollState = PollState(1);
    /// The future panicked; the panic was contained, and its details wait in the code that
    /// made the future (the table's `take_panic`).
    pub const PANICKED: PollState = PollState(2);
    /// The stream has ended (streams only: a future is `READY` instead).
    pub const DONE: PollState = PollState(3);
}

/// The table of a future that crosses the boundary.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FutureVTableRef, prefix_fields = FutureVTable_Prefix)))]
#[sabi(missing_field(option))]
pub struct FutureVTable {
    /// Drops the future, the details of a panic, and the live count of the code that made it.
    pub header: ObjectHeaderRef,
    /// Polls the future (`*mut F`) with the lent waker; on [`PollState::READY`] its output was
    /// written to the second pointer (a `*mut T`) and the future dropped (a panic in its `Drop`
    /// contained and forgotten). Entries a later release appends come after this one.
    #[sabi(last_prefix_field)]
    pub poll: unsafe extern "C" fn(*mut c_void, *mut c_void, &FfiWaker) -> PollState,
}

/// A plugin's future of `T`, as it crosses the boundary: owned, polled and dropped through its
/// table, in the code that made it. Part of the layout of every interface with an `async fn`
/// (its `T` too). Hosts use the [`CallFuture`](crate::future::CallFuture) their handle returns.
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiFuture<T> {
    pub(crate) future: NonNull<c_void>,
    pub(crate) vtable: FutureVTableRef,
    pub(crate) _output: PhantomData<T>,
}

/// [`FfiFuture`] of a future that is not `Send`: an `async fn` marked `#[xplug(local)]`. The
/// same fields and table; a distinct type, so that a plugin and a host that disagree on
/// whether the future may move between threads are told apart at load. Hosts use the
/// [`LocalCallFuture`](crate::future::LocalCallFuture) their handle returns.
#[repr(C)]
#[derive(StableAbi)]
pub struct LocalFfiFuture<T> {
    pub(crate) future: NonNull<c_void>,
    pub(crate) vtable: FutureVTableRef,
    pub(crate) _output: PhantomData<T>,
}

/// A waker as it crosses the boundary: its data and the table of the code that made it.
#[repr(C)]
#[derive(StableAbi)]
pub struct FfiWaker {
    pub(crate) data: *const c_void,
    pub(crate) vtable: FfiWakerVTableRef,
}

/// The table of an [`FfiWaker`]: each function runs in the code that made the waker, and
/// contains a panic there.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = FfiWakerVTableRef, prefix_fields = FfiWakerVTable_Prefix)))]
#[sabi(missing_field(option))]
pub struct FfiWakerVTable {
    /// An owned waker that wakes the same task (counted live in its maker until dropped).
    pub clone_waker: unsafe extern "C" fn(*const c_void) -> FfiWaker,
    /// Wakes the task and drops an owned waker.
    pub wake: unsafe extern "C" fn(*const c_void),
    /// Wakes the task.
    pub wake_by_ref: unsafe extern "C" fn(*const c_void),
    /// Drops an owned waker.
    pub drop: unsafe extern "C" fn(*const c_void),
    /// The live-object count of the code that made the waker. Entries a later release appends
    /// come after this one.
    #[sabi(last_prefix_field)]
    pub live: extern "C" fn() -> &'static AtomicU64,
}

/// A callsite's metadata as it crosses.
#[repr(C)]
#[derive(StableAbi)]
pub struct TraceMeta<'a> {
    pub(crate) name: RStr<'a>,
    pub(crate) target: RStr<'a>,
    /// 1 = error .. 5 = trace.
    pub(crate) level: u8,
    /// 0: an event, 1: a span.
    pub(crate) kind: u8,
    /// The source line, or 0 if unknown.
    pub(crate) line: u32,
    /// Empty if unknown.
    pub(crate) module_path: RStr<'a>,
    /// Empty if unknown.
    pub(crate) file: RStr<'a>,
    /// The names of the callsite's fields.
    pub(crate) fields: RSlice<'a, RStr<'a>>,
}

/// The parent of an event or span, as it crosses.
#[repr(C)]
#[derive(StableAbi, Clone, Copy)]
pub struct TraceParent {
    /// 0: the host's current span (contextual), 1: none (a root), 2: the span `id`.
    pub(crate) mode: u8,
    pub(crate) id: u64,
}

#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
impl TraceParent {
    pub(crate) const CONTEXTUAL: u8 = 0;
    pub(crate) const ROOT: u8 = 1;
    pub(crate) const EXPLICIT: u8 = 2;
}

/// One field's value, as text.
#[repr(C)]
#[derive(StableAbi)]
pub struct TraceField<'a> {
    pub(crate) name: RStr<'a>,
    pub(crate) value: RStr<'a>,
}
