//! The entries this copy of xplug offers the other side: the runtime entries of the tables a
//! plugin's code makes, and the link a host hands the plugins it loads (its logger, its
//! executor, its `tracing` subscriber).

use abi_stable::prefix_type::{PrefixRef, WithMetadata};

use crate::abi::CallContext;
use crate::call::{take_panic, PluginPanic};
use crate::host_link::{self, HostLink, HostLinkRef};

/// [`take_panic`] for a root module.
pub extern "C" fn take_panic_entry(_: CallContext) -> PluginPanic {
    take_panic()
}

/// How many objects this copy of xplug made are alive.
pub extern "C" fn live_objects_entry(_: CallContext) -> u64 {
    crate::object::live_objects()
}

/// Sets this plugin's maximum log level.
pub extern "C" fn set_log_level_entry(_: CallContext, level: u8) {
    crate::host_link::set_log_level(level)
}

/// This process's link, as a host hands it to the plugins it loads: its `log` logger, its
/// executor and its `tracing` subscriber.
pub fn host_link() -> HostLinkRef {
    static LINK: WithMetadata<HostLink> = WithMetadata::new(HostLink {
        max_log_level: host_link::host_max_level,
        log_enabled: host_link::host_enabled,
        log: host_link::host_log,
        log_flush: host_link::host_flush,
        defer_panic: host_link::host_defer_panic,
        forget_panic: host_link::host_forget_panic,
        spawn: crate::runtime::host_spawn,
        sleep: crate::runtime::host_sleep,
        trace_max_level: crate::trace_link::host::max_level,
        trace_enabled: crate::trace_link::host::enabled,
        trace_event: crate::trace_link::host::event,
        trace_new_span: crate::trace_link::host::new_span,
        trace_enter: crate::trace_link::host::enter,
        trace_exit: crate::trace_link::host::exit,
        trace_clone_span: crate::trace_link::host::clone_span,
        trace_close: crate::trace_link::host::try_close,
        trace_record: crate::trace_link::host::record,
        trace_follows_from: crate::trace_link::host::follows_from,
        trace_current: crate::trace_link::host::current,
    });
    HostLinkRef(PrefixRef::from_ref(&LINK))
}

/// Connects this plugin to its host: called by the plugin's load shim, in the plugin, before
/// its `on_load` hook. Its `log` records (and, with the feature, its `tracing` events) go to
/// the host from now on, filtered by the host's maximum level now.
pub fn connect(link: HostLinkRef) {
    host_link::connect(link);
    #[cfg(feature = "tracing")]
    crate::trace_link::plugin::connect(link);
}
