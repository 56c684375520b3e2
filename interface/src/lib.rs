//! Native Rust plugins that survive compiler upgrades: the interface side.
//!
//! An application declares its plugin API once, in a *shared interface crate* that depends on
//! this crate and on [`abi_stable`]. Host and plugins both import that interface crate; the
//! host loads plugins with `xplug-loader`.
//!
//! # Core concepts
//!
//! - **Interface**: a trait marked [`#[xplug::interface]`](macro@interface). Its functions use
//!   FFI-safe types (`u32`, [`RStr`](abi_stable::std_types::RStr),
//!   [`RString`](abi_stable::std_types::RString), [`RVec`](abi_stable::std_types::RVec),
//!   [`#[xplug::object]`](macro@object) objects, `extern "C"` callbacks, ...). The attribute generates the
//!   `repr(C)` root module, its layout description and the host-side handle. The interface's
//!   version is the interface crate's Cargo version.
//! - **Plugin**: a `cdylib` that implements the trait for a type and exports it with
//!   [`export_plugin!`], which also writes the frozen [`PluginHeader`].
//! - **Calls**: each root-module function runs in the plugin under `catch_unwind`: a panic
//!   inside it reaches the host as a [`CallError`] ([`CallErrorKind::Panicked`]), never as an unwind or an abort
//!   (also when the panic payload's own `Drop` panics, or the call comes from a thread-local
//!   destructor during thread exit). So does every method and `Drop` of an
//!   [`#[xplug::object]`](macro@object), and every [`Callback`] one side lends the other (a
//!   panic in it comes back from [`Callback::call`] as a `CallError`). Not contained, and
//!   aborting the process: a panic in a bare `extern "C"` function pointer passed either way
//!   (`extern "C"` functions may not unwind: lend a [`Callback`] instead), in the methods and
//!   `Drop` of abi_stable `#[sabi_trait]` objects (abi_stable's own guard), and in the `Drop`
//!   of a plugin's type freed through an abi_stable container (`RBox`, `RVec` of it: its drop
//!   runs through abi_stable's `extern "C"` vtable); and plugins built with `panic = "abort"`
//!   (refused by default). Fields abi_stable marks as opaque (`UnsafeOpaqueField`) are not
//!   size-checked in an xplug interface either (abi_stable pairs them with the `()` it meets
//!   first, in a hidden hook): do not use them.
//! - **Objects**: a trait marked [`#[xplug::object]`](macro@object) (methods taking `&self` or
//!   `&mut self`) gives `<Trait>Box`, an owned, FFI-safe object made on either side of the
//!   boundary and usable on both. Its methods return `Result<_, CallError>`.
//! - **Host services**: `#[xplug::interface(host = Services)]` names an object trait the host
//!   implements and hands to every plugin at load; plugins reach it through the interface
//!   trait's `host()`.
//! - **Logs**: a plugin's `log` records go to the host's `log` logger, at the host's level
//!   (set up when the plugin loads); with the feature `tracing`, its `tracing` events and spans
//!   go to the host's subscriber.
//! - **Async**: an interface function may be an `async fn` (the host's handle returns a
//!   [`future::CallFuture`]) or return a [`stream::FfiStream`]; their polls run under the
//!   plugin's panic guard, dropping them cancels, and they keep the plugin loaded while they
//!   live; one marked `#[xplug(local)]` need not be `Send`. A host lends its executor to its plugins ([`runtime`]): they spawn tasks and wait on
//!   timers without a runtime of their own.
//! - **Isolated plugins**: a host may run a plugin in a process of its own
//!   (`xplug-loader`'s `Loader::isolate`), through the same handle. The attribute also
//!   generates the code that sends each call there; values cross by copy ([`wire`]), objects
//!   as handles. A function whose types cannot cross is refused when it is called isolated;
//!   `#[xplug::interface(isolated)]` (and `#[xplug::object(isolated)]`) refuses it when the
//!   interface compiles instead, at the type.
//!
//! # Declaring an interface
//!
//! ```
//! use abi_stable::std_types::{RStr, RString};
//!
//! /// Greets people.
//! #[xplug::interface(name = "greeter")]
//! pub trait Greeter {
//!     /// Returns a greeting for `name`.
//!     fn greet(name: RStr<'_>) -> RString;
//!     /// Adds two numbers.
//!     fn add(a: u32, b: u32) -> u32;
//!     /// Added in a later minor version: plugins built before it do not have it.
//!     #[xplug(since = "0.1")]
//!     fn shout(text: RStr<'_>) -> RString;
//! }
//!
//! // A plugin implements the trait ...
//! struct English;
//! impl Greeter for English {
//!     fn greet(name: RStr<'_>) -> RString {
//!         format!("Hello, {}!", name).into()
//!     }
//!     fn add(a: u32, b: u32) -> u32 {
//!         a + b
//!     }
//!     fn shout(text: RStr<'_>) -> RString {
//!         text.as_str().to_uppercase().into()
//!     }
//! }
//! // ... and exports it from its cdylib with `xplug::export_plugin!(English as Greeter);`.
//!
//! // A host calls it through the generated handle (here built in-process for the example).
//! let greeter: GreeterRef = GreeterRef::implemented_by::<English>();
//! assert_eq!(greeter.greet("Ada".into())?, "Hello, Ada!");
//! assert_eq!(greeter.add(2, 3)?, 5);
//! # Ok::<(), xplug::CallError>(())
//! ```
//!
//! # What the attribute generates
//!
//! For `trait Greeter` it keeps the trait (plugins implement it) and gives it three provided
//! hooks, none of them a method of the host's handle: `on_load`, which the loader runs once,
//! after all load-time checks pass, and `save_state` / `restore_state`, through which a
//! version replaced under a live handle (hot reload) hands its state to its successor. It adds
//! `GreeterModule`, the `repr(C)` prefix-type root module with one `extern "C"` function per
//! trait function, and `GreeterRef`, the handle a host receives, with one method per function
//! that returns `Result<_, CallError>`. Functions marked `#[xplug(since = "X.Y")]` are
//! appended in a minor version: they must come after all others, and calling one on a plugin
//! built against an older minor version returns a [`CallError`] of kind
//! [`CallErrorKind::Missing`].
//!
//! # Objects
//!
//! ```
//! use abi_stable::std_types::RStr;
//!
//! /// A parser session.
//! #[xplug::object]
//! pub trait Session: Send {
//!     /// Feeds text; returns the words seen so far. Panics on empty input.
//!     fn feed(&mut self, text: RStr<'_>) -> u64;
//! }
//!
//! struct Words(u64);
//! impl Session for Words {
//!     fn feed(&mut self, text: RStr<'_>) -> u64 {
//!         assert!(!text.is_empty(), "nothing to feed");
//!         self.0 += text.split_whitespace().count() as u64;
//!         self.0
//!     }
//! }
//!
//! let mut session = SessionBox::new(Words(0));
//! assert_eq!(session.feed("a b".into())?, 2);
//! let e = session.feed("".into()).unwrap_err(); // contained, the session still works
//! assert_eq!(e.function(), "Session.feed");
//! assert_eq!(session.feed("c".into())?, 3);
//! # Ok::<(), xplug::CallError>(())
//! ```
//!
//! The attribute keeps the trait (its implementations add `'static`) and generates
//! `SessionBox` (the owned handle: `new`, `close`, one method per trait method) and
//! `SessionVTable` (its `repr(C)` method table, part of every layout that holds the box: a
//! changed method, or a dropped `Send`/`Sync` bound, is a layout difference named like
//! `Session.feed`). Methods may be appended in a minor version, marked
//! `#[xplug(since = "X.Y")]` after all the others: the table is a prefix type, and a method an
//! older build's object lacks returns [`CallErrorKind::Missing`].
#![warn(missing_docs)]

pub mod abi;
mod call;
mod callback;
mod entries;
pub mod future;
pub mod header;
mod host_link;
mod isolation;
mod object;
mod plugin_names;
pub mod runtime;
pub mod stream;
mod trace_link;
mod unwind;
pub mod wire;

pub use __private::NoHost;
pub use abi_stable;
pub use call::{CallError, CallErrorKind, Crash};
pub use callback::Callback;
pub use header::PluginHeader;
/// Declares a plugin interface; see the [crate docs](crate#declaring-an-interface).
///
/// `#[xplug::interface]` names the interface after the interface crate's package;
/// `#[xplug::interface(name = "greeter")]` names it explicitly. The interface version is
/// always the interface crate's Cargo version. `host = Services` names the object trait of the
/// host's services. `isolated` says every function crosses to an isolated plugin: a type that
/// cannot (a raw or function pointer, a borrow that names a lifetime, a borrowed result, a
/// type without [`wire::Wire`] and [`wire::FromWire`] that is not an object's box) is a
/// compile error at that type.
pub use xplug_macros::interface;
/// Declares an object trait: FFI-safe objects, made on either side of a plugin boundary, whose
/// methods and drop run under the panic guard of the code that made them; see the
/// [crate docs](crate#objects). `#[xplug::object(isolated)]` checks its methods as
/// `#[xplug::interface(isolated)]` checks functions.
pub use xplug_macros::object;

use abi_stable::library::RootModule;

/// A root module declared with [`#[xplug::interface]`](macro@interface), as a host sees it.
///
/// # Safety
///
/// Implemented only by the code that `#[xplug::interface]` generates: `INTERFACE_NAME` and
/// `INTERFACE_VERSION` must describe the module's layout, and `__on_load` must run the
/// plugin's `on_load` hook.
pub unsafe trait Interface: RootModule + Copy + Send + Sync + 'static {
    /// The interface name plugins are checked against.
    const INTERFACE_NAME: &'static str;
    /// The interface version, the interface crate's Cargo version.
    const INTERFACE_VERSION: &'static str;

    /// The handle to the services a host offers this interface's plugins: the `Box` of the
    /// object trait named by `#[xplug::interface(host = ..)]`, or [`NoHost`] when it offers none.
    type Host: Send + Sync + 'static;

    /// Connects the plugin to this host (its log bridge, and the host's services if given),
    /// then runs the plugin's `on_load` hook. Not for host code: `xplug-loader` calls it.
    ///
    /// # Safety
    ///
    /// The module must come from a library whose header, version and type layout were
    /// checked against this interface, and the hook must run at most once per loaded library,
    /// before any other function of the module is called.
    #[doc(hidden)]
    unsafe fn __on_load(
        self,
        host: Option<&'static Self::Host>,
    ) -> Result<(), __private::LoadHookError>;

    /// The runtime of the plugin's copy of xplug (its live objects, its log level) and the
    /// module's context. Not for host code.
    #[doc(hidden)]
    fn __runtime(self) -> __private::PluginRuntime;

    /// Asks the plugin for the state it hands to its successor (`save_state`). Not for host
    /// code: `xplug-loader`'s live handles call it.
    ///
    /// # Safety
    ///
    /// The module must come from a checked library whose `on_load` hook succeeded.
    #[doc(hidden)]
    unsafe fn __save_state(self) -> Result<Option<Vec<u8>>, __private::LoadHookError>;

    /// Gives the plugin its predecessor's state (`restore_state`). Not for host code.
    ///
    /// # Safety
    ///
    /// The module must come from a checked library whose `on_load` hook succeeded.
    #[doc(hidden)]
    unsafe fn __restore_state(self, state: &[u8]) -> Result<(), __private::LoadHookError>;

    /// Tells the plugin it is about to be unloaded (`on_unload`): `Err` if it refused or
    /// panicked. Not for host code: `xplug-loader` calls it before closing the library.
    ///
    /// # Safety
    ///
    /// The module must come from a checked library whose `on_load` hook succeeded; no other
    /// handle to the library may call it afterwards unless `on_load` runs again first.
    #[doc(hidden)]
    unsafe fn __on_unload(self) -> Result<(), __private::LoadHookError>;

    /// The module of an isolated plugin: every function forwards its call through `proxy`.
    /// Not for host code: `xplug-loader` makes it.
    #[doc(hidden)]
    fn __isolated(proxy: &'static __private::isolation::Proxy) -> Self;

    /// In an isolated plugin's process: the handle of the host's services, whose calls go to
    /// the host through `proxy` (`None` for an interface without them). Not for host code.
    #[doc(hidden)]
    fn __remote_host(proxy: &'static __private::isolation::Proxy) -> Option<Self::Host>;

    /// Serves, in the host, one call an isolated plugin made of the host's services `host`:
    /// the method numbered `method`, with encoded `args`. Not for host code.
    #[doc(hidden)]
    fn __serve_host(
        host: &Self::Host,
        method: u32,
        args: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), wire::WireError>;

    /// Serves, in an isolated plugin's process, one call of the interface function numbered
    /// `function` (in declaration order) with encoded `args`: calls it through this module and
    /// writes the encoded answer to `out`. Not for host code.
    #[doc(hidden)]
    fn __serve(self, function: u32, args: &[u8], out: &mut Vec<u8>) -> Result<(), wire::WireError>;
}

/// Exports a plugin: `export_plugin!(English as Greeter)` exports the implementation of the
/// interface trait `Greeter` by the type `English`.
///
/// Use it once, in the plugin's `cdylib` crate. It emits two statics:
///
/// - the frozen [`PluginHeader`] (symbol [`header::HEADER_SYMBOL`]) with the interface's name
///   and version, the plugin crate's name and version (from Cargo), the compiler, target,
///   panic strategy and build profile;
/// - the `abi_stable` root-module header through which the host checks the full type layout
///   and gets the module.
///
/// Neither runs code: they are data the host reads. The plugin's `on_load` hook runs when the
/// host has accepted the plugin. (Static constructors a plugin defines itself, e.g. through
/// `.init_array`, run when the library is opened, as for any shared library.)
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty as $interface:path) => {
        #[no_mangle]
        #[doc(hidden)]
        pub static XPLUG_PLUGIN_HEADER: $crate::PluginHeader =
            $crate::__private::plugin_header($crate::__private::HeaderFields {
                interface_name: <$plugin as $interface>::__XPLUG_INTERFACE_NAME,
                interface_version: <$plugin as $interface>::__XPLUG_INTERFACE_VERSION,
                plugin_name: ::core::env!("CARGO_PKG_NAME"),
                plugin_version: ::core::env!("CARGO_PKG_VERSION"),
                panic_unwind: ::core::cfg!(panic = "unwind"),
                debug: ::core::cfg!(debug_assertions),
            });

        #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
        #[doc(hidden)]
        pub static __XPLUG_ROOT_MODULE_LOADER: $crate::abi_stable::library::LibHeader =
            <$plugin as $interface>::__XPLUG_LIB_HEADER;
    };
}

/// Implementation details of the generated code and of `xplug-loader`. Not public API: any
/// of it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use self::plugin_header::{plugin_header, HeaderFields};
    pub use crate::abi::{
        CallContext, HookResult, ObjectHeader, ObjectHeaderRef, PluginEntries, PluginEntriesRef,
        PluginRuntime, SavedState, ABI_VERSION,
    };
    pub use crate::abi::{TraceField, TraceMeta, TraceParent};
    pub use crate::call::{
        guard, guard_in, install_hook, panicked, plugin_mode, take_panic, CallResult, Contained,
        PluginPanic,
    };
    pub use crate::entries::{
        connect, host_link, live_objects_entry, set_log_level_entry, take_panic_entry,
    };
    pub use crate::host_link::{filter_of, level_of, HostLink, HostLinkRef, LogRecord};
    pub use crate::object::{
        live_counter, live_objects, object_gone, object_made, take_panic_ffi, IsSend, IsSync,
        NotSend, NotSync,
    };
    pub use crate::plugin_names::{forget_module, name_module};
    pub use abi_stable;

    pub mod build_info;
    pub mod describe;
    /// Both ends of a call to an isolated plugin.
    pub mod isolation {
        pub use crate::isolation::*;
    }
    mod plugin_header;

    use abi_stable::std_types::{RResult, RVec};

    /// The host services of an interface that declares none: a handle no host can make
    /// (`#[xplug::interface]` without `host = ..`).
    #[repr(C)]
    #[derive(abi_stable::StableAbi, Debug)]
    pub struct NoHost;

    /// Why a plugin's `on_load` hook refused to load.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum LoadHookError {
        /// The hook returned an error message.
        Failed(String),
        /// The hook panicked; the panic was contained in the plugin.
        Panicked {
            /// The panic message.
            message: String,
            /// Where it panicked (`file:line:column`), or empty.
            location: String,
        },
    }

    /// Converts the result of a plugin's `on_load` or `restore_state` for the boundary.
    pub fn hook_result(r: Result<(), String>) -> HookResult {
        match r {
            Ok(()) => RResult::ROk(()),
            Err(e) => RResult::RErr(e.into()),
        }
    }

    /// Converts a plugin's `save_state` result for the boundary.
    pub fn save_state_result(state: Option<Vec<u8>>) -> SavedState {
        state.map(RVec::from).into()
    }

    /// Converts what the `save_state` shim returned for the host (a copy in the host's
    /// allocator; the plugin's vector is freed by the plugin).
    pub fn save_state_outcome(
        r: CallResult<SavedState>,
        runtime: PluginRuntime,
    ) -> Result<Option<Vec<u8>>, LoadHookError> {
        match r {
            RResult::ROk(state) => Ok(state.into_option().map(|bytes| bytes.as_slice().to_vec())),
            RResult::RErr(_) => Err(hook_panicked(runtime)),
        }
    }

    /// The panic a hook contained, taken from the plugin.
    fn hook_panicked(runtime: PluginRuntime) -> LoadHookError {
        let panic = runtime.take_panic();
        LoadHookError::Panicked {
            message: panic.message.into(),
            location: crate::call::tidy_location(panic.location.into()),
        }
    }

    /// Converts what the `on_load` (or `restore_state`, `on_unload`) shim returned for the host;
    /// `runtime` is the module's.
    pub fn hook_outcome(
        r: CallResult<HookResult>,
        runtime: PluginRuntime,
    ) -> Result<(), LoadHookError> {
        match r {
            RResult::ROk(RResult::ROk(())) => Ok(()),
            RResult::ROk(RResult::RErr(message)) => Err(LoadHookError::Failed(message.into())),
            RResult::RErr(_) => Err(hook_panicked(runtime)),
        }
    }

    /// The error of a call of `function` that panicked in the plugin: the details come from
    /// the module's `take_panic` entry, the plugin's name from the host's loader (if it named
    /// the module). Out of line and cold, as [`panicked`].
    #[cold]
    #[inline(never)]
    pub fn panicked_in(
        function: &'static str,
        entries: PluginEntriesRef,
        context: CallContext,
    ) -> crate::CallError {
        let plugin = crate::plugin_names::module_name(entries, context);
        if !context.as_ptr().is_null() {
            // A module served from another process: the proxy left the reason in the host.
            if let Some(kind) = crate::isolation::take_failure() {
                return crate::CallError::new(function, kind).in_plugin(plugin);
            }
        }
        panicked(function, (entries.take_panic())(context)).in_plugin(plugin)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            abi_stable::library::ROOT_MODULE_LOADER_NAME,
            "_1as_0lib_1header_0root_bmodule_bloader"
        );
    }
}
