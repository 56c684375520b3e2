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
//! Which types cross is decided where the generated code names them, by autoref
//! specialisation: [`Probe`] has the wire methods through [`ViaWire`] when the type implements
//! [`Wire`] and [`FromWire`], and through [`ViaNothing`] (which refuses) otherwise, so an
//! interface with a type that cannot cross still compiles, and only calls of that function on
//! an isolated plugin are refused.

use std::cell::Cell;
use std::marker::PhantomData;

use abi_stable::std_types::{RResult, RSlice, RString};

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

    /// The answer of process `process` broke the rules (`what` says how): the channel ends
    /// that process, if it still runs, and says what the call fails with.
    fn misbehaved(&self, process: u64, what: String) -> CallErrorKind;
}

/// What an isolated plugin's module context points to: its channel.
pub struct Proxy {
    channel: Box<dyn Channel>,
}

impl Proxy {
    /// A proxy over `channel`. Its address becomes the context of a module that must not
    /// outlive it: `xplug-loader` keeps every proxy for the life of the process.
    pub fn new(channel: Box<dyn Channel>) -> Proxy {
        Proxy { channel }
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

extern "C" fn proxy_live_objects(_: CallContext) -> u64 {
    // Objects do not cross yet: an isolated plugin has none in the host.
    0
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
    let (mut out, mut reply) = swap_slot(&BUFFERS, None).unwrap_or_default();
    out.clear();
    let result = match args(&mut out) {
        Err(WireError::CannotCross { type_name }) => fail(CallErrorKind::CannotCross { type_name }),
        Err(e) => fail(CallErrorKind::CannotCross {
            type_name: leak_reason(e),
        }),
        Ok(()) => match proxy.channel.call(function, &out, &mut reply) {
            Err(kind) => fail(kind),
            Ok(process) => match answer(&reply, since, ret) {
                Ok(result) => result,
                Err(e) => fail(proxy.channel.misbehaved(process, e.to_string())),
            },
        },
    };
    // Large buffers are not kept: one big call should not hold its memory for good.
    if out.capacity() <= 64 << 10 && reply.capacity() <= 64 << 10 {
        let _ = swap_slot(&BUFFERS, Some((out, reply)));
    }
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

/// Encodes, in the child, what the plugin's function returned.
pub fn serve_result<R>(
    result: Result<R, CallError>,
    out: &mut Vec<u8>,
    encode: impl FnOnce(&R, &mut Vec<u8>) -> Result<(), WireError>,
) -> Result<(), WireError> {
    match result {
        Ok(value) => {
            out.push(status::RETURNED);
            encode(&value, out)
        }
        Err(error) => {
            match error.kind() {
                CallErrorKind::Missing { .. } => out.push(status::MISSING),
                CallErrorKind::Panicked { message, location } => {
                    out.push(status::PANICKED);
                    RString::from(message.as_str()).encode(out);
                    RString::from(location.as_str()).encode(out);
                }
                other => {
                    out.push(status::PANICKED);
                    RString::from(other.to_string()).encode(out);
                    RString::new().encode(out);
                }
            }
            Ok(())
        }
    }
}

/// A type, named where the generated code can: whether and how values of it cross.
pub struct Probe<T>(PhantomData<fn() -> T>);

impl<T> Probe<T> {
    /// The probe of `T`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Probe(PhantomData)
    }
}

/// The wire methods of a type that crosses (chosen first: no autoref needed).
pub trait ViaWire<T> {
    /// `None`: the type crosses.
    fn gap(&self) -> Option<&'static str>;
    /// Encodes `value`.
    fn put(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError>;
}

impl<T: Wire> ViaWire<T> for Probe<T> {
    #[inline]
    fn gap(&self) -> Option<&'static str> {
        None
    }

    #[inline]
    fn put(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError> {
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

/// The wire methods of a type that does not cross: each refuses, naming it.
pub trait ViaNothing<T> {
    /// The type's name: it does not cross.
    fn gap(&self) -> Option<&'static str>;
    /// Refuses.
    fn put(&self, value: &T, out: &mut Vec<u8>) -> Result<(), WireError>;
}

impl<T> ViaNothing<T> for &Probe<T> {
    fn gap(&self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }

    fn put(&self, _: &T, _: &mut Vec<u8>) -> Result<(), WireError> {
        Err(WireError::CannotCross {
            type_name: std::any::type_name::<T>(),
        })
    }
}

/// The decoding side of [`ViaNothing`].
pub trait ViaNothingFrom<'de, T> {
    /// The type's name: it cannot be decoded.
    fn decode_gap(&self) -> Option<&'static str>;
    /// Refuses.
    fn get(&self, input: &mut Input<'de>) -> Result<T, WireError>;
}

impl<'de, T> ViaNothingFrom<'de, T> for &Probe<T> {
    fn decode_gap(&self) -> Option<&'static str> {
        Some(std::any::type_name::<T>())
    }

    fn get(&self, _: &mut Input<'de>) -> Result<T, WireError> {
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
