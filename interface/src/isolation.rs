//! Both ends of a call to an isolated plugin, for the generated code and `xplug-loader`.
//!
//! The host's handle of an isolated plugin is a root module whose functions are the
//! interface's *proxy*: each encodes its arguments ([`crate::wire`]), hands them to the
//! module's [`Channel`] (reached through the module's [`CallContext`], which points to a
//! [`Proxy`]), and decodes the answer. In the child, the interface's *server* decodes the
//! arguments, calls the plugin through its handle and encodes the result ([`serve_result`]).
//! What makes a call fail on the host's side (the child crashed, timed out, sent garbage) is a
//! [`CallErrorKind`] the proxy leaves in a thread-local slot of the host; the handle's method
//! takes it from there ([`crate::__private::panicked_in`]).
//!
//! Objects a plugin returns stay in its process: the child keeps each in a table
//! ([`keep_boxed`]) and sends its number; the host's handle of it ([`Remote::remote`]) is a
//! box of the object trait whose method table sends each call, and the drop, to the object
//! over the channel ([`object_call`]). Such a handle is only good while the process that made
//! the object serves: after a restart its calls fail with `Unavailable`.
//!
//! Which types cross is decided where the generated code names them, by autoref
//! specialisation: [`Probe`] has the wire methods through [`ViaWire`] when the type implements
//! [`Wire`] and [`FromWire`], through [`ViaObject`] when it is an object's box ([`Remote`]),
//! and through [`ViaNothing`] (which refuses) otherwise, so an interface with a type that
//! cannot cross still compiles, and only calls of that function on an isolated plugin are
//! refused.

use std::cell::{Cell, RefCell};
use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

use abi_stable::std_types::{RResult, RSlice, RStr, RString};

use crate::abi::{CallContext, HookResult, PluginEntries, PluginEntriesRef, SavedState};
use crate::call::{swap_slot, CallErrorKind, CallResult, Contained, PluginPanic};
use crate::wire::{FromWire, Input, Wire, WireError};
use crate::CallError;

/// The function numbers of the hooks, after every interface function's.
pub mod hook {
    /// `save_state`.
    pub const SAVE_STATE: u32 = u32::MAX - 2;
    /// `restore_state`.
    pub const RESTORE_STATE: u32 = u32::MAX - 1;
    /// `on_unload`.
    pub const ON_UNLOAD: u32 = u32::MAX;
}

/// The method number that drops an object, after every method's.
pub const DROP_OBJECT: u32 = u32::MAX;

/// How an answer begins: the call's outcome.
pub mod status {
    /// The function returned; its value follows.
    pub const RETURNED: u8 = 0;
    /// The function panicked (contained in the child); message and location follow.
    pub const PANICKED: u8 = 1;
    /// The plugin lacks the function (built against an older minor version).
    pub const MISSING: u8 = 2;
}

/// Where the calls of an isolated plugin go: implemented by `xplug-loader`.
pub trait Channel: Send + Sync + 'static {
    /// Sends a call of `function` with its encoded arguments and waits for the answer, which
    /// it writes to `reply` (cleared first); returns which process answered (a number the
    /// channel gives each process it starts). An error is why the call cannot be answered:
    /// the child crashed or hung, or the plugin is no longer served.
    fn call(&self, function: u32, args: &[u8], reply: &mut Vec<u8>) -> Result<u64, CallErrorKind>;

    /// Sends a call of method `method` ([`DROP_OBJECT`]: the drop) of the object numbered
    /// `object` in process `process`, and waits for the answer as [`call`](Channel::call)
    /// does. An object of a process that no longer serves is not reached: the error says so.
    fn call_object(
        &self,
        process: u64,
        object: u64,
        method: u32,
        args: &[u8],
        reply: &mut Vec<u8>,
    ) -> Result<u64, CallErrorKind>;

    /// The answer of process `process` broke the rules (`what` says how): the channel ends
    /// that process, if it still runs, and says what the call fails with.
    fn misbehaved(&self, process: u64, what: String) -> CallErrorKind;

    /// What tells this channel's plugin from others (not 0): objects lent in its calls are
    /// served to it alone ([`serve_lent`]). 0 for the channel of a plugin's process to its
    /// host, whose calls lend nothing and whose handles of the host's objects send no drop.
    fn key(&self) -> usize;
}

/// What an isolated plugin's module context points to: its channel.
pub struct Proxy {
    channel: Box<dyn Channel>,
    /// The host's handles of objects the plugin's process keeps, alive.
    remote_objects: AtomicU64,
}

impl Proxy {
    /// A proxy over `channel` (the host's calls of a plugin, or, in the plugin's process, its
    /// calls of the host's services). Its address becomes the context of a module that must
    /// not outlive it: `xplug-loader` keeps every proxy for the life of the process.
    pub fn new(channel: Box<dyn Channel>) -> Proxy {
        Proxy {
            channel,
            remote_objects: AtomicU64::new(0),
        }
    }

    /// The context of modules served by this proxy.
    pub fn context(&'static self) -> CallContext {
        CallContext::new(self as *const Proxy as *const core::ffi::c_void)
    }

    /// The proxy of a module's context.
    ///
    /// # Safety
    ///
    /// `context` must be one [`Proxy::context`] returned.
    unsafe fn of(context: CallContext) -> &'static Proxy {
        // SAFETY: the caller's promise; proxies live as long as the process.
        unsafe { &*(context.as_ptr() as *const Proxy) }
    }

    /// The entries of every proxied module: its hooks go over the channel.
    pub fn entries() -> PluginEntriesRef {
        PluginEntriesRef(Self::ENTRIES.as_prefix())
    }

    abi_stable::staticref! {
        const ENTRIES: abi_stable::prefix_type::WithMetadata<PluginEntries> =
            abi_stable::prefix_type::WithMetadata::new(PluginEntries {
                take_panic: proxy_take_panic,
                live_objects: proxy_live_objects,
                set_log_level: proxy_set_log_level,
                save_state: proxy_save_state,
                restore_state: proxy_restore_state,
                on_unload: proxy_on_unload,
            })
    }
}

extern "C" fn proxy_take_panic(_: CallContext) -> PluginPanic {
    match take_failure() {
        Some(CallErrorKind::Panicked { message, location }) => PluginPanic {
            message: message.into(),
            location: location.into(),
        },
        Some(kind) => PluginPanic {
            message: kind.to_string().into(),
            location: RString::new(),
        },
        None => PluginPanic {
            message: "(the call's failure was already taken)".into(),
            location: RString::new(),
        },
    }
}

extern "C" fn proxy_live_objects(context: CallContext) -> u64 {
    // SAFETY: the entries of proxied modules are only in modules `__isolated` made, whose
    // context is their proxy's.
    let proxy = unsafe { Proxy::of(context) };
    proxy
        .remote_objects
        .load(std::sync::atomic::Ordering::Acquire)
}

extern "C" fn proxy_set_log_level(_: CallContext, _: u8) {
    // The child's level is set when it starts.
}

/// A hook's call through a proxied module's channel: `state` its argument, if any.
fn hook_call<R: for<'de> FromWire<'de>>(
    context: CallContext,
    hook: u32,
    state: Option<&[u8]>,
) -> CallResult<R> {
    // SAFETY: the hook entries are only in modules `__isolated` made, whose context is their
    // proxy's.
    unsafe {
        call(
            context,
            hook,
            "",
            |out| {
                if let Some(state) = state {
                    RSlice::from_slice(state).encode(out);
                }
                Ok(())
            },
            |input| R::decode(input),
        )
    }
}

extern "C" fn proxy_save_state(context: CallContext) -> CallResult<SavedState> {
    hook_call(context, hook::SAVE_STATE, None)
}

extern "C" fn proxy_restore_state(
    context: CallContext,
    state: RSlice<'_, u8>,
) -> CallResult<HookResult> {
    hook_call(context, hook::RESTORE_STATE, Some(state.as_slice()))
}

extern "C" fn proxy_on_unload(context: CallContext) -> CallResult<HookResult> {
    hook_call(context, hook::ON_UNLOAD, None)
}

thread_local! {
    /// Why the last proxied call on this thread failed, until its handle takes it (a boxed
    /// `CallErrorKind`, or null). No destructor: see `call.rs`.
    static FAILURE: Cell<*mut CallErrorKind> = const { Cell::new(std::ptr::null_mut()) };
    /// The buffers of the calls on this thread, kept between calls (taken while in use, so a
    /// call made during another gets fresh ones).
    static BUFFERS: Cell<*mut (Vec<u8>, Vec<u8>)> = const { Cell::new(std::ptr::null_mut()) };
    /// The proxy and process whose answer this thread is reading: the objects in it are theirs.
    static ANSWERING: Cell<Option<(&'static Proxy, u64)>> = const { Cell::new(None) };
    /// The objects the host's calls on this thread lend to plugins' processes, while the
    /// calls run. (Touched only in a host; a plugin's copy of xplug never lends.)
    static LENT: RefCell<Vec<LentEntry>> = const { RefCell::new(Vec::new()) };
    /// The key of the channel whose call's arguments this thread is encoding (0: none, or one
    /// that lends nothing).
    static LENDING: Cell<usize> = const { Cell::new(0) };
}

/// The number the next object lent takes, on any thread: numbers are never reused, so a stale
/// handle names nothing.
static NEXT_LENT: AtomicU64 = AtomicU64::new(FIRST_LENT);

/// An object the host lent a plugin's process for one call.
#[derive(Clone, Copy)]
enum Lent {
    Shared(*const dyn ServedObject),
    Mut(*mut dyn ServedObject),
}

/// One lent object: its number, the key of the channel of the plugin it was lent to, and the
/// object (`None` while a call of it runs, or once the plugin dropped its handle).
struct LentEntry {
    number: u64,
    owner: usize,
    object: Option<Lent>,
}

/// The number of the first object the host lends (1 is its services).
const FIRST_LENT: u64 = 2;

/// Lends `object` to the plugin whose call is being encoded on this thread; writes its number.
fn lend_object(object: Lent, out: &mut Vec<u8>) -> Result<(), WireError> {
    let refused = WireError::CannotCross {
        type_name: "an object lent outside a call of an isolated plugin (a plugin lends none)",
    };
    let owner = LENDING.with(Cell::get);
    if owner == 0 {
        return Err(refused);
    }
    // 2^64 loans before a number comes again.
    let number = NEXT_LENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    LENT.try_with(|lent| {
        lent.borrow_mut().push(LentEntry {
            number,
            owner,
            object: Some(object),
        })
    })
    .map_err(|_| refused)?;
    number.encode(out);
    Ok(())
}

/// Serves, in the host, a call of method `method` ([`DROP_OBJECT`]: its handle was dropped)
/// of object `object`, which a call on this thread lent the plugin whose channel's key is
/// `owner`, writing the answer to `out`. A number lent to another plugin, to a call that has
/// returned, or whose object is busy (a call of it runs further up this thread) is answered
/// with an error.
pub fn serve_lent(
    owner: usize,
    object: u64,
    method: u32,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    if method == DROP_OBJECT {
        Input::new(args).finish()?;
    }
    let take = |lent: &RefCell<Vec<LentEntry>>| {
        let mut lent = lent.borrow_mut();
        let entry = lent
            .iter_mut()
            .find(|entry| entry.number == object && entry.owner == owner)?;
        entry.object.take()
    };
    let entry = match LENT.try_with(take).ok().flatten() {
        Some(entry) => entry,
        None => {
            put_panicked(
                "the object is not lent to this plugin: its call has returned, or a call of it \
                 runs already",
                "",
                out,
            );
            return Ok(());
        }
    };
    if method == DROP_OBJECT {
        // The plugin's handle is gone; the object stays the host's.
        out.push(status::RETURNED);
        return Ok(());
    }
    let served = match entry {
        // SAFETY: the object is borrowed by the call that lent it, further up this thread's
        // stack, which does not touch it until the call returns (and the entry with it); it is
        // out of its entry while this runs, so no other call reaches it meanwhile.
        Lent::Shared(object) => unsafe { &*object }.serve_shared(method, args, out),
        // SAFETY: as above, borrowed mutably.
        Lent::Mut(object) => unsafe { &mut *object }.serve(method, args, out),
    };
    let _ = LENT.try_with(|lent| {
        let mut lent = lent.borrow_mut();
        if let Some(slot) = lent.iter_mut().find(|slot| slot.number == object) {
            slot.object = Some(entry);
        }
    });
    served
}

/// Fails the current call with `kind`: the handle's method finds it in [`take_failure`].
#[cold]
pub fn fail<R>(kind: CallErrorKind) -> CallResult<R> {
    let _ = swap_slot(&FAILURE, Some(kind));
    RResult::RErr(Contained::ISOLATED)
}

/// Why the last proxied call on this thread failed, if it did.
pub fn take_failure() -> Option<CallErrorKind> {
    swap_slot(&FAILURE, None)
}

/// A call of `function` (appended in `since`, or `""`) through the channel of `context`: the
/// arguments written by `args`, the value read by `ret`.
///
/// # Safety
///
/// `context` must be one a [`Proxy::context`] returned: the context of a module
/// `Interface::__isolated` made.
#[inline(never)]
pub unsafe fn call<R>(
    context: CallContext,
    function: u32,
    since: &'static str,
    args: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>,
    ret: impl for<'de> FnOnce(&mut Input<'de>) -> Result<R, WireError>,
) -> CallResult<R> {
    // SAFETY: the caller's promise.
    let proxy = unsafe { Proxy::of(context) };
    exchange(
        proxy,
        |out, reply| proxy.channel.call(function, out, reply),
        since,
        args,
        ret,
    )
}

/// The largest buffer a thread keeps between calls.
pub const KEPT_BUFFER: usize = 1 << 20;

/// One call through `proxy`'s channel: the arguments written by `args`, sent by `send`, the
/// answer read by `ret` (objects in it made the handles of objects of the process that
/// answered).
fn exchange<R>(
    proxy: &'static Proxy,
    send: impl FnOnce(&[u8], &mut Vec<u8>) -> Result<u64, CallErrorKind>,
    since: &'static str,
    args: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>,
    ret: impl for<'de> FnOnce(&mut Input<'de>) -> Result<R, WireError>,
) -> CallResult<R> {
    let (mut out, mut reply) = swap_slot(&BUFFERS, None).unwrap_or_default();
    out.clear();
    // Objects the arguments lend are served to this plugin while this call runs, then no more.
    let lent = LENT.try_with(|lent| lent.borrow().len()).unwrap_or(0);
    let outer = LENDING.with(|lending| lending.replace(proxy.channel.key()));
    let encoded = args(&mut out);
    LENDING.with(|lending| lending.set(outer));
    let result = match encoded {
        Err(WireError::CannotCross { type_name }) => fail(CallErrorKind::CannotCross { type_name }),
        Err(e) => fail(CallErrorKind::CannotCross {
            type_name: leak_reason(e),
        }),
        Ok(()) => match send(&out, &mut reply) {
            Err(kind) => fail(kind),
            Ok(process) => {
                let outer = ANSWERING.with(|a| a.replace(Some((proxy, process))));
                let read = answer(&reply, since, ret);
                ANSWERING.with(|a| a.set(outer));
                match read {
                    Ok(result) => result,
                    Err(e) => fail(proxy.channel.misbehaved(process, e.to_string())),
                }
            }
        },
    };
    let _ = LENT.try_with(|l| l.borrow_mut().truncate(lent));
    // Buffers up to 1 MiB are kept (calls with large values reuse them); larger ones are not:
    // one very large call should not hold its memory for good.
    if out.capacity() <= KEPT_BUFFER && reply.capacity() <= KEPT_BUFFER {
        let _ = swap_slot(&BUFFERS, Some((out, reply)));
    }
    result
}

/// Runs `f` (in a plugin's process, serving a call of the host) with the objects its
/// arguments name made handles through `proxy`: the host's objects lent for the call.
pub fn answering_through<R>(proxy: &'static Proxy, f: impl FnOnce() -> R) -> R {
    let outer = ANSWERING.with(|a| a.replace(Some((proxy, 0))));
    let result = f();
    ANSWERING.with(|a| a.set(outer));
    result
}

/// Argument encoders only fail with `CannotCross`; anything else is named as it is.
#[cold]
fn leak_reason(e: WireError) -> &'static str {
    Box::leak(e.to_string().into_boxed_str())
}

/// Reads an answer: its status, then what follows it.
fn answer<R>(
    reply: &[u8],
    since: &'static str,
    ret: impl for<'de> FnOnce(&mut Input<'de>) -> Result<R, WireError>,
) -> Result<CallResult<R>, WireError> {
    let mut input = Input::new(reply);
    let result = match u8::decode(&mut input)? {
        status::RETURNED => RResult::ROk(ret(&mut input)?),
        status::PANICKED => {
            let message = RString::decode(&mut input)?.into_string();
            let location = RString::decode(&mut input)?.into_string();
            fail(CallErrorKind::Panicked { message, location })
        }
        status::MISSING if !since.is_empty() => fail(CallErrorKind::Missing { since }),
        _ => return Err(WireError::Invalid { what: "status" }),
    };
    input.finish()?;
    Ok(result)
}

/// Writes an answer that says the call panicked (or failed as a panic does), with `message`
/// and the panic's `location` (`""` if none).
pub fn put_panicked(message: &str, location: &str, out: &mut Vec<u8>) {
    out.push(status::PANICKED);
    RStr::from(message).encode(out);
    RStr::from(location).encode(out);
}

/// Encodes, in the child, what the plugin's function returned.
pub fn serve_result<R>(
    result: Result<R, CallError>,
    out: &mut Vec<u8>,
    encode: impl FnOnce(R, &mut Vec<u8>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    match result {
        Ok(value) => {
            out.push(status::RETURNED);
            encode(value, out)
        }
        Err(error) => {
            match error.kind() {
                CallErrorKind::Missing { .. } => out.push(status::MISSING),
                CallErrorKind::Panicked { message, location } => {
                    put_panicked(message, location, out)
                }
                other => put_panicked(&other.to_string(), "", out),
            }
            Ok(())
        }
    }
}

/// An object's box (what `#[xplug::object]` generates) as it crosses: it stays in the process
/// that made it; the other side gets a handle that calls it over the channel.
pub trait Remote: Sized {
    /// In the plugin's process: keeps the object ([`keep_boxed`]) and writes its number.
    fn keep(self, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// In the host, reading an answer: the handle of the object whose number `input` holds,
    /// made by the process that answered ([`remote_object`]).
    fn remote(input: &mut Input<'_>) -> Result<Self, WireError>;
}

/// An object served to the other side of the channel: one the plugin's process keeps for the
/// host ([`serve_object`]), or, called by the plugin, the host's services and the objects the
/// host lends for a call ([`serve_lent`]).
pub trait ServedObject {
    /// Serves one call of the method numbered `method` (in declaration order) with encoded
    /// `args`, writing the encoded answer to `out`.
    fn serve(&mut self, method: u32, args: &[u8], out: &mut Vec<u8>) -> Result<(), WireError>;
    /// [`serve`](ServedObject::serve) through a shared borrow (the host's services, which
    /// plugins hold as `&'static`): a `&mut self` method is refused.
    fn serve_shared(&self, method: u32, args: &[u8], out: &mut Vec<u8>) -> Result<(), WireError>;
    /// Drops the object, as its box's `close` does.
    fn close(self: Box<Self>) -> Result<(), CallError>;
}

thread_local! {
    /// Whether this thread keeps objects for the host ([`keep_objects_here`]).
    static KEEPS: Cell<bool> = const { Cell::new(false) };
    /// The objects this process keeps for the host, by number (the serving thread's: a
    /// plugin's process serves on one thread). Touched only there, never in a host or in a
    /// plugin's copy of xplug; the process exits with the table in place.
    static KEPT: RefCell<Kept> = const {
        RefCell::new(Kept {
            slots: Vec::new(),
            free: Vec::new(),
        })
    };
}

/// The kept objects: slot `n` holds object `n + 1` while it lives (0 is no object).
#[derive(Default)]
struct Kept {
    slots: Vec<Option<Box<dyn ServedObject>>>,
    free: Vec<usize>,
}

/// Makes this thread the one that keeps objects for the host: the thread of a plugin's process
/// that serves the host's calls. Elsewhere (the host) objects are not kept: an object a host
/// service returns does not cross.
pub fn keep_objects_here() {
    KEEPS.with(|keeps| keeps.set(true));
}

/// Keeps `object` in this process (a plugin's, serving the host) and writes its number.
fn keep_object(object: Box<dyn ServedObject>, out: &mut Vec<u8>) {
    let number = KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        let slot = match kept.free.pop() {
            Some(slot) => {
                kept.slots[slot] = Some(object);
                slot
            }
            None => {
                kept.slots.push(Some(object));
                kept.slots.len() - 1
            }
        };
        slot as u64 + 1
    });
    number.encode(out);
}

/// Keeps `object` (a plugin's, returned to the host) in this process and writes its number;
/// refuses where objects are not kept ([`keep_objects_here`]): in the host.
pub fn keep_boxed(object: Box<dyn ServedObject>, out: &mut Vec<u8>) -> Result<(), WireError> {
    if !KEEPS.with(Cell::get) {
        return Err(WireError::CannotCross {
            type_name: "an object returned to an isolated plugin (objects cross from a plugin \
                        to its host, or are lent for a call)",
        });
    }
    keep_object(object, out);
    Ok(())
}

/// Serves, in the plugin's process, one call of method `method` ([`DROP_OBJECT`]: the drop)
/// of the kept object numbered `object`, writing the answer to `out`.
pub fn serve_object(
    object: u64,
    method: u32,
    args: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), WireError> {
    let slot = usize::try_from(object)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .ok_or(WireError::Invalid {
            what: "object number",
        })?;
    if method == DROP_OBJECT {
        Input::new(args).finish()?;
    }
    // Out of its slot while it runs: a method that reaches the host, which calls the same
    // object again, finds it busy instead of aliasing it.
    let taken = KEPT.with(|kept| kept.borrow_mut().slots.get_mut(slot).and_then(Option::take));
    let mut taken = match taken {
        Some(taken) => taken,
        None => {
            return Err(WireError::Invalid {
                what: "object number (dropped, busy or never made)",
            })
        }
    };
    if method == DROP_OBJECT {
        KEPT.with(|kept| kept.borrow_mut().free.push(slot));
        return serve_result(taken.close(), out, |(), _| Ok(()));
    }
    let served = taken.serve(method, args, out);
    KEPT.with(|kept| {
        if let Some(entry) = kept.borrow_mut().slots.get_mut(slot) {
            *entry = Some(taken);
        }
    });
    served
}

/// The number of the host's services among the objects the host serves to a plugin's process.
pub const HOST_SERVICES: u64 = 1;

/// In a plugin's process: the handle of the host's services, whose calls go to the host
/// through `proxy`.
pub fn remote_host<T: Remote>(proxy: &'static Proxy) -> Option<T> {
    let mut number = Vec::new();
    HOST_SERVICES.encode(&mut number);
    let outer = ANSWERING.with(|a| a.replace(Some((proxy, 0))));
    let host = T::remote(&mut Input::new(&number)).ok();
    ANSWERING.with(|a| a.set(outer));
    host
}

/// One side's end of an object the other side keeps (a plugin's object in the host, the
/// host's services in the plugin's process): what a remote box points to.
struct RemoteObject {
    proxy: &'static Proxy,
    process: u64,
    object: u64,
}

/// The remote objects the host holds.
static REMOTE_LIVE: AtomicU64 = AtomicU64::new(0);

/// Reads an object's number from an answer and makes the host's end of it: a pointer for the
/// box the generated [`Remote::remote`] makes, whose method table is the object trait's
/// remote table.
pub fn remote_object(input: &mut Input<'_>) -> Result<NonNull<c_void>, WireError> {
    let object = u64::decode(input)?;
    let (proxy, process) = ANSWERING.with(Cell::get).ok_or(WireError::CannotCross {
        type_name: "an object, outside an answer of an isolated plugin",
    })?;
    if object == 0 {
        return Err(WireError::Invalid {
            what: "object number",
        });
    }
    REMOTE_LIVE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    proxy
        .remote_objects
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let remote = Box::into_raw(Box::new(RemoteObject {
        proxy,
        process,
        object,
    }));
    // SAFETY: `Box::into_raw` never returns null.
    Ok(unsafe { NonNull::new_unchecked(remote.cast()) })
}

/// A call of method `method` (appended in `since`, or `""`) of the remote object `this`: the
/// arguments written by `args`, the value read by `ret`.
///
/// # Safety
///
/// `this` must be a pointer [`remote_object`] returned that [`drop_remote`] has not freed.
#[inline(never)]
pub unsafe fn object_call<R>(
    this: *const c_void,
    method: u32,
    since: &'static str,
    args: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>,
    ret: impl for<'de> FnOnce(&mut Input<'de>) -> Result<R, WireError>,
) -> CallResult<R> {
    // SAFETY: the caller's promise.
    remote_call(
        unsafe { &*(this as *const RemoteObject) },
        method,
        since,
        args,
        ret,
    )
}

/// [`object_call`] of `remote`.
fn remote_call<R>(
    remote: &RemoteObject,
    method: u32,
    since: &'static str,
    args: impl FnOnce(&mut Vec<u8>) -> Result<(), WireError>,
    ret: impl for<'de> FnOnce(&mut Input<'de>) -> Result<R, WireError>,
) -> CallResult<R> {
    exchange(
        remote.proxy,
        |out, reply| {
            remote
                .proxy
                .channel
                .call_object(remote.process, remote.object, method, out, reply)
        },
        since,
        args,
        ret,
    )
}

/// The `drop` of a remote object's header: drops the object in its process (if that still
/// serves) and frees the host's end.
///
/// # Safety
///
/// `this` must be a pointer [`remote_object`] returned, dropped once.
pub unsafe extern "C" fn drop_remote(this: *mut c_void) -> CallResult<()> {
    // SAFETY: the caller's promise: made by `Box::into_raw` in `remote_object`.
    let remote = unsafe { Box::from_raw(this as *mut RemoteObject) };
    remote
        .proxy
        .remote_objects
        .fetch_sub(1, std::sync::atomic::Ordering::Release);
    if remote.proxy.channel.key() == 0 {
        // (The channel to the host.) A plugin's handle of an object of the host: its services, which live as long as
        // the process, or an object lent for a call, which the host takes back when the call
        // returns. No message is needed.
        return RResult::ROk(());
    }
    let result = remote_call(&remote, DROP_OBJECT, "", |_| Ok(()), |_| Ok(()));
    drop(remote);
    match result {
        // A process gone took its objects with it: nothing is left to drop.
        RResult::RErr(_) => match take_failure() {
            Some(CallErrorKind::Panicked { message, location }) => {
                fail(CallErrorKind::Panicked { message, location })
            }
            Some(_) | None => RResult::ROk(()),
        },
        ok => ok,
    }
}

/// The `take_panic` of a remote object's header: why its last call on this thread failed.
pub extern "C" fn remote_take_panic() -> PluginPanic {
    proxy_take_panic(CallContext::new(std::ptr::null()))
}

/// The `live` of a remote object's header.
pub extern "C" fn remote_live() -> &'static AtomicU64 {
    &REMOTE_LIVE
}

/// The error of a box's method whose call returned `contained`: the failure an isolated call
/// left ([`Contained::ISOLATED`]), or the panic the object's code contained.
#[cold]
pub fn object_failed(
    function: &'static str,
    contained: Contained,
    take_panic: extern "C" fn() -> PluginPanic,
) -> CallError {
    if contained == Contained::ISOLATED {
        if let Some(kind) = take_failure() {
            return CallError::new(function, kind);
        }
    }
    crate::call::panicked(function, take_panic())
}

/// A type whose values cross to an isolated plugin as parameters, by copy: the bound that
/// `#[xplug::interface(isolated)]` checks at compile time. Every type that implements
/// [`Wire`] and [`FromWire`] has it.
pub trait CrossesToIsolatedPlugin<'de> {}

impl<'de, T: Wire + FromWire<'de>> CrossesToIsolatedPlugin<'de> for T {}

/// A type whose values come back from an isolated plugin: what crosses by copy, and objects'
/// boxes (`#[xplug::object]` implements it), which cross as handles.
pub trait ReturnsFromIsolatedPlugin<'de> {}

impl<'de, T: Wire + FromWire<'de>> ReturnsFromIsolatedPlugin<'de> for T {}

/// A type an isolated plugin may borrow for a call (`&T`): what crosses by copy, and objects'
/// boxes.
pub trait LentToIsolatedPlugin<'de> {}

impl<'de, T: Wire + FromWire<'de>> LentToIsolatedPlugin<'de> for T {}

/// A type an isolated plugin may borrow mutably for a call (`&mut T`): objects' boxes only (the
/// changes to a copy would not come back).
pub trait LentMutToIsolatedPlugin {}

/// Compile-time check: `T` crosses as a parameter.
pub fn crosses<'de, T: CrossesToIsolatedPlugin<'de>>() {}

/// Compile-time check: `T` crosses as a result.
pub fn returns<'de, T: ReturnsFromIsolatedPlugin<'de>>() {}

/// Compile-time check: `&T` crosses as a parameter.
pub fn lent<'de, T: LentToIsolatedPlugin<'de>>() {}

/// Compile-time check: `&mut T` crosses as a parameter.
pub fn lent_mut<T: LentMutToIsolatedPlugin>() {}

/// A type, named where the generated code can: whether and how values of it cross.
pub struct Probe<T>(PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// The probe of `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

/// The wire methods of a type that crosses by copy (chosen first: no autoref needed).
pub trait ViaWire<T> {
    /// `None`: the type crosses as a result.
    fn gap(&self) -> Option<&'static str>;
    /// `None`: the type crosses as an argument.
    fn arg_gap(&self) -> Option<&'static str>;
    /// Encodes `value`.
    fn put(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// Encodes `value`, which it may take.
    fn put_owned(&self, value: T, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// `None`: a `&T` argument crosses (by copy).
    fn lend_gap(&self) -> Option<&'static str>;
    /// The type's name: a `&mut T` argument does not cross (a copy's changes would not come
    /// back).
    fn lend_mut_gap(&self) -> Option<&'static str>;
    /// Encodes `value` (a copy).
    fn lend(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// Refuses.
    fn lend_mut(&self, value: &mut T, out: &mut Vec<u8>) -> Result<(), WireError>;
}

impl<T: Wire> ViaWire<T> for Probe<T> {
    #[inline]
    fn lend_gap(&self) -> Option<&'static str> {
        None
    }

    fn lend_mut_gap(&self) -> Option<&'static str> {
        Some(std::any::type_name::<&mut T>())
    }

    #[inline]
    fn lend(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError> {
        value.encode(out);
        Ok(())
    }

    fn lend_mut(&self, _: &mut T, _: &mut Vec<u8>) -> Result<(), WireError> {
        Err(WireError::CannotCross {
            type_name: std::any::type_name::<&mut T>(),
        })
    }

    #[inline]
    fn gap(&self) -> Option<&'static str> {
        None
    }

    #[inline]
    fn arg_gap(&self) -> Option<&'static str> {
        None
    }

    #[inline]
    fn put(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError> {
        value.encode(out);
        Ok(())
    }

    #[inline]
    fn put_owned(&self, value: T, out: &mut Vec<u8>) -> Result<(), WireError> {
        value.encode(out);
        Ok(())
    }
}

/// The decoding side of [`ViaWire`].
pub trait ViaFromWire<'de, T> {
    /// `None`: the type can be decoded.
    fn decode_gap(&self) -> Option<&'static str>;
    /// Decodes a value.
    fn get(&self, input: &mut Input<'de>) -> Result<T, WireError>;
}

impl<'de, T: FromWire<'de>> ViaFromWire<'de, T> for Probe<T> {
    #[inline]
    fn decode_gap(&self) -> Option<&'static str> {
        None
    }

    #[inline]
    fn get(&self, input: &mut Input<'de>) -> Result<T, WireError> {
        T::decode(input)
    }
}

/// The wire methods of an object's box (chosen second: one autoref). An object crosses as a
/// result (from the plugin to the host), not as an argument.
pub trait ViaObject<T> {
    /// `None`: an object crosses as a result.
    fn gap(&self) -> Option<&'static str>;
    /// The box's name: an object does not cross as an argument.
    fn arg_gap(&self) -> Option<&'static str>;
    /// Refuses: a borrowed object does not cross.
    fn put(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// Keeps the object here and writes its number.
    fn put_owned(&self, value: T, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// `None`: a handle can be made.
    fn decode_gap(&self) -> Option<&'static str>;
    /// The handle of the object an answer names.
    fn get(&self, input: &mut Input<'_>) -> Result<T, WireError>;
    /// `None`: an object can be lent for a call.
    fn lend_gap(&self) -> Option<&'static str>;
    /// `None`: an object can be lent mutably for a call.
    fn lend_mut_gap(&self) -> Option<&'static str>;
    /// Lends `value` for the call; writes its number.
    fn lend(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// Lends `value` mutably for the call; writes its number.
    fn lend_mut(&self, value: &mut T, out: &mut Vec<u8>) -> Result<(), WireError>;
}

impl<T: Remote + ServedObject + 'static> ViaObject<T> for &Probe<T> {
    fn lend_gap(&self) -> Option<&'static str> {
        None
    }

    fn lend_mut_gap(&self) -> Option<&'static str> {
        None
    }

    fn lend(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError> {
        lend_object(Lent::Shared(value as &dyn ServedObject), out)
    }

    fn lend_mut(&self, value: &mut T, out: &mut Vec<u8>) -> Result<(), WireError> {
        lend_object(Lent::Mut(value as &mut dyn ServedObject), out)
    }

    fn gap(&self) -> Option<&'static str> {
        None
    }

    fn arg_gap(&self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }

    fn put(&self, _: &T, _: &mut Vec<u8>) -> Result<(), WireError> {
        Err(WireError::CannotCross {
            type_name: std::any::type_name::<T>(),
        })
    }

    fn put_owned(&self, value: T, out: &mut Vec<u8>) -> Result<(), WireError> {
        value.keep(out)
    }

    fn decode_gap(&self) -> Option<&'static str> {
        None
    }

    fn get(&self, input: &mut Input<'_>) -> Result<T, WireError> {
        T::remote(input)
    }
}

/// The wire methods of a type that does not cross (chosen last: a mutable autoref): each
/// refuses, naming it.
pub trait ViaNothing<T> {
    /// The type's name: it does not cross.
    fn gap(&mut self) -> Option<&'static str>;
    /// The type's name: it does not cross.
    fn arg_gap(&mut self) -> Option<&'static str>;
    /// Refuses.
    fn put(&mut self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// Refuses.
    fn put_owned(&mut self, value: T, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// The type's name: it does not cross.
    fn lend_gap(&mut self) -> Option<&'static str>;
    /// The type's name: it does not cross.
    fn lend_mut_gap(&mut self) -> Option<&'static str>;
    /// Refuses.
    fn lend(&mut self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError>;
    /// Refuses.
    fn lend_mut(&mut self, value: &mut T, out: &mut Vec<u8>) -> Result<(), WireError>;
}

impl<T> ViaNothing<T> for &Probe<T> {
    fn lend_gap(&mut self) -> Option<&'static str> {
        Some(std::any::type_name::<&T>())
    }

    fn lend_mut_gap(&mut self) -> Option<&'static str> {
        Some(std::any::type_name::<&mut T>())
    }

    fn lend(&mut self, _: &T, _: &mut Vec<u8>) -> Result<(), WireError> {
        Err(WireError::CannotCross {
            type_name: std::any::type_name::<&T>(),
        })
    }

    fn lend_mut(&mut self, _: &mut T, _: &mut Vec<u8>) -> Result<(), WireError> {
        Err(WireError::CannotCross {
            type_name: std::any::type_name::<&mut T>(),
        })
    }

    fn gap(&mut self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }

    fn arg_gap(&mut self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }

    fn put(&mut self, _: &T, _: &mut Vec<u8>) -> Result<(), WireError> {
        Err(WireError::CannotCross {
            type_name: std::any::type_name::<T>(),
        })
    }

    fn put_owned(&mut self, _: T, _: &mut Vec<u8>) -> Result<(), WireError> {
        Err(WireError::CannotCross {
            type_name: std::any::type_name::<T>(),
        })
    }
}

/// The decoding side of [`ViaNothing`].
pub trait ViaNothingFrom<'de, T> {
    /// The type's name: it cannot be decoded.
    fn decode_gap(&mut self) -> Option<&'static str>;
    /// Refuses.
    fn get(&mut self, input: &mut Input<'de>) -> Result<T, WireError>;
}

impl<'de, T> ViaNothingFrom<'de, T> for &Probe<T> {
    fn decode_gap(&mut self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }

    fn get(&mut self, _: &mut Input<'de>) -> Result<T, WireError> {
        Err(WireError::CannotCross {
            type_name: std::any::type_name::<T>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Opaque;

    #[test]
    // The borrow is what chooses: without it every type would take the refusing path.
    #[allow(clippy::needless_borrow)]
    fn probes_choose_by_type() {
        assert_eq!((&Probe::<u32>::new()).gap(), None);
        assert_eq!((&Probe::<RString>::new()).gap(), None);
        assert!((&Probe::<Opaque>::new()).gap().unwrap().ends_with("Opaque"));
        assert!((&Probe::<*const u8>::new()).gap().is_some());
        let mut out = Vec::new();
        assert_eq!((&Probe::<u32>::new()).put(&7, &mut out), Ok(()));
        let back: Result<u32, _> = (&Probe::<u32>::new()).get(&mut Input::new(&out));
        assert_eq!(back, Ok(7));
        let refused: Result<Opaque, _> = (&Probe::<Opaque>::new()).get(&mut Input::new(&out));
        assert!(matches!(refused, Err(WireError::CannotCross { .. })));
    }
}
