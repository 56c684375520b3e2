//! What a host hands every plugin it loads, before the plugin's `on_load` hook runs: the
//! bridge that sends the plugin's `log` records to the host's logger, and a place for what a
//! plugin's thread would otherwise keep in a thread-local with a destructor (which would keep
//! the plugin mapped after it is unloaded).
//!
//! A plugin is a separate library with its own copy of the `log` crate, whose logger is
//! unset: its records would vanish. At load, xplug installs in the plugin's copy a logger
//! that forwards each record (level, target, module path, file, line and the formatted
//! message) to the host's logger, and sets the plugin's maximum level to the host's, so a
//! disabled statement in a plugin costs what it costs in the host: one comparison, nothing
//! formatted.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use abi_stable::prefix_type::{PrefixRef, WithMetadata_};
use abi_stable::std_types::{ROption, RSlice, RStr};

use crate::abi::{FfiFuture, TraceField, TraceMeta, TraceParent};
use crate::unwind::contained;
use abi_stable::StableAbi;

/// The host's side of the boundary, as a plugin sees it: a prefix type, to which a later
/// release of xplug may append entries (see [`abi`](crate::abi)).
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = HostLinkRef, prefix_fields = HostLink_Prefix)))]
#[sabi(missing_field(option))]
pub struct HostLink {
    /// The host's maximum log level (`log::LevelFilter` as a number: 0 = off .. 5 = trace).
    pub(crate) max_log_level: extern "C" fn() -> u8,
    /// Whether the host's logger takes records of this level (1 = error .. 5 = trace) and
    /// target.
    pub(crate) log_enabled: extern "C" fn(level: u8, target: RStr<'_>) -> bool,
    /// Hands one record to the host's logger.
    pub(crate) log: extern "C" fn(record: &LogRecord<'_>),
    /// Flushes the host's logger.
    pub(crate) log_flush: extern "C" fn(),
    /// Keeps the text of a panic no guard took yet, for this thread: printed when the thread
    /// defers another one, or when it exits (a plugin's own thread that died of it).
    pub(crate) defer_panic: extern "C" fn(text: RStr<'_>) -> bool,
    /// Forgets this thread's deferred panic: a guard took it. Entries a later release appends
    /// come after this one.
    #[sabi(last_prefix_field)]
    pub(crate) forget_panic: extern "C" fn(),
    /// Appended to ABI 1 (absent from the link of a host built before): runs a plugin's task
    /// on the host's executor; `false` without one.
    pub(crate) spawn: extern "C" fn(task: FfiFuture<()>) -> bool,
    /// Appended to ABI 1: a timer of the host's executor; none without one.
    pub(crate) sleep: extern "C" fn(nanos: u64) -> ROption<FfiFuture<()>>,
    /// Appended to ABI 1: the `tracing` bridge (see `trace_link`). The host's maximum
    /// `tracing` level (0 = off .. 5 = trace), or 255 if it has no bridge.
    pub trace_max_level: extern "C" fn() -> u8,
    /// Whether the host's subscriber takes this event or span.
    pub trace_enabled: extern "C" fn(meta: &TraceMeta<'_>) -> bool,
    /// Hands the host's subscriber an event.
    pub trace_event: extern "C" fn(
        meta: &TraceMeta<'_>,
        fields: RSlice<'_, TraceField<'_>>,
        parent: TraceParent,
    ),
    /// Opens a span in the host's subscriber; its id (0 if none).
    pub trace_new_span: extern "C" fn(
        meta: &TraceMeta<'_>,
        fields: RSlice<'_, TraceField<'_>>,
        parent: TraceParent,
    ) -> u64,
    /// Enters a span.
    pub trace_enter: extern "C" fn(span: u64),
    /// Leaves a span.
    pub trace_exit: extern "C" fn(span: u64),
    /// Another handle of a span.
    pub trace_clone_span: extern "C" fn(span: u64) -> u64,
    /// Drops a handle of a span; whether it closed.
    pub trace_close: extern "C" fn(span: u64) -> bool,
    /// Records values into a span after its creation (`Span::record`): the span's metadata
    /// (as its `trace_new_span` passed it) and the values.
    pub trace_record:
        extern "C" fn(span: u64, meta: &TraceMeta<'_>, fields: RSlice<'_, TraceField<'_>>),
    /// Notes that a span follows from another (`Span::follows_from`).
    pub trace_follows_from: extern "C" fn(span: u64, follows: u64),
    /// The host's current span on this thread (0 if none): what `Span::current()` names.
    pub trace_current: extern "C" fn() -> u64,
}

/// One `log` record crossing the boundary.
#[repr(C)]
#[derive(StableAbi)]
pub struct LogRecord<'a> {
    /// `log::Level` as a number: 1 = error .. 5 = trace.
    level: u8,
    /// The source line, or 0 if unknown.
    line: u32,
    target: RStr<'a>,
    /// Empty if unknown.
    module_path: RStr<'a>,
    /// Empty if unknown.
    file: RStr<'a>,
    /// The formatted message.
    message: RStr<'a>,
}

pub(crate) extern "C" fn host_max_level() -> u8 {
    log::max_level() as usize as u8
}

/// The `log::Level` a host numbered `number` (`level as usize`), if it is one.
pub fn level_of(number: u8) -> Option<log::Level> {
    match number {
        1 => Some(log::Level::Error),
        2 => Some(log::Level::Warn),
        3 => Some(log::Level::Info),
        4 => Some(log::Level::Debug),
        5 => Some(log::Level::Trace),
        _ => None,
    }
}

/// The `log::LevelFilter` a host numbered `number` (`filter as usize`; `Off` for any other).
pub fn filter_of(number: u8) -> log::LevelFilter {
    match level_of(number) {
        Some(level) => level.to_level_filter(),
        None => log::LevelFilter::Off,
    }
}

pub(crate) extern "C" fn host_enabled(level: u8, target: RStr<'_>) -> bool {
    contained(
        || match level_of(level) {
            Some(level) => log::logger().enabled(
                &log::Metadata::builder()
                    .level(level)
                    .target(target.as_str())
                    .build(),
            ),
            None => false,
        },
        false,
    )
}

pub(crate) extern "C" fn host_log(record: &LogRecord<'_>) {
    let level = match level_of(record.level) {
        Some(level) => level,
        None => return,
    };
    fn text<'a>(s: &RStr<'a>) -> Option<&'a str> {
        if s.is_empty() {
            None
        } else {
            Some(s.as_str())
        }
    }
    contained(
        || {
            log::logger().log(
                &log::Record::builder()
                    .level(level)
                    .target(record.target.as_str())
                    .module_path(text(&record.module_path))
                    .file(text(&record.file))
                    .line(if record.line == 0 {
                        None
                    } else {
                        Some(record.line)
                    })
                    .args(format_args!("{}", record.message.as_str()))
                    .build(),
            )
        },
        (),
    )
}

pub(crate) extern "C" fn host_flush() {
    contained(|| log::logger().flush(), ())
}

/// A panic a plugin's hook saw and no guard took yet, kept in the host's thread-local: printed
/// when the next one comes, or when the thread exits, as std's hook would have printed it
/// when it happened.
struct Deferred(RefCell<Option<String>>);

impl Deferred {
    fn print(text: &str) {
        let _ = writeln!(std::io::stderr(), "{}", text);
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        if let Some(text) = self.0.get_mut().take() {
            Self::print(&text);
        }
    }
}

thread_local! {
    /// In the host's copy of xplug (a host executable is never unloaded).
    static DEFERRED: Deferred = const { Deferred(RefCell::new(None)) };
}

/// Keeps `text` for this thread; `false` where it cannot (thread teardown, or while its slot
/// is in use): the plugin prints it then.
pub(crate) extern "C" fn host_defer_panic(text: RStr<'_>) -> bool {
    let text = text.as_str().to_owned();
    DEFERRED
        .try_with(|deferred| match deferred.0.try_borrow_mut() {
            Ok(mut slot) => {
                if let Some(old) = slot.replace(text) {
                    Deferred::print(&old);
                }
                true
            }
            Err(_) => false,
        })
        .unwrap_or(false)
}

pub(crate) extern "C" fn host_forget_panic() {
    let _ = DEFERRED.try_with(|deferred| deferred.0.try_borrow_mut().map(|mut slot| slot.take()));
}

/// Hands the host the text of a panic no guard took yet (see `call::install_hook`); `false`
/// where this plugin has no host yet, and the text is to be printed now.
pub(crate) fn defer_panic(text: &str) -> bool {
    match link() {
        Some(link) => (link.defer_panic())(text.into()),
        None => false,
    }
}

/// Tells the host that a guard took this thread's last panic: nothing to print later.
pub(crate) fn forget_deferred_panic() {
    if let Some(link) = link() {
        (link.forget_panic())();
    }
}

/// The link this plugin was given; null before its load.
static LINK: AtomicPtr<WithMetadata_<HostLink_Prefix, HostLink_Prefix>> =
    AtomicPtr::new(std::ptr::null_mut());

/// The logger xplug installs in a plugin's copy of `log`.
struct Bridge;

static BRIDGE: Bridge = Bridge;

/// The link this plugin was given, if it was loaded by a host.
pub(crate) fn link() -> Option<HostLinkRef> {
    let link = LINK.load(Ordering::Acquire);
    if link.is_null() {
        return None;
    }
    // SAFETY: only `connect` stores here, the address of a `HostLinkRef`: a `'static` table
    // with its metadata.
    Some(HostLinkRef(unsafe { PrefixRef::from_raw(link) }))
}

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        match link() {
            Some(link) => {
                (link.log_enabled())(metadata.level() as usize as u8, metadata.target().into())
            }
            None => false,
        }
    }

    fn log(&self, record: &log::Record<'_>) {
        let link = match link() {
            Some(link) => link,
            None => return,
        };
        let send = |message: &str| {
            (link.log())(&LogRecord {
                level: record.level() as usize as u8,
                line: record.line().unwrap_or(0),
                target: record.target().into(),
                module_path: record.module_path().unwrap_or("").into(),
                file: record.file().unwrap_or("").into(),
                message: message.into(),
            })
        };
        if let Some(message) = record.args().as_str() {
            return send(message);
        }
        // Formatted on the stack, where it fits: no allocation, and no thread-local (whose
        // destructor would keep the plugin mapped).
        let mut text = StackText::new();
        // A `Display` that fails sends what it wrote; only a message too long is formatted
        // again, on the heap.
        let _ = write!(text, "{}", record.args());
        if text.overflowed {
            let mut long = String::new();
            let _ = write!(long, "{}", record.args());
            send(&long);
        } else {
            send(text.as_str());
        }
    }

    fn flush(&self) {
        if let Some(link) = link() {
            (link.log_flush())()
        }
    }
}

/// A message formatted into a fixed buffer; writing more than it holds fails.
struct StackText {
    bytes: [u8; 512],
    len: usize,
    /// Whether a write did not fit.
    overflowed: bool,
}

impl StackText {
    fn new() -> Self {
        StackText {
            bytes: [0; 512],
            len: 0,
            overflowed: false,
        }
    }

    fn as_str(&self) -> &str {
        // Only whole `&str`s are copied in (`write_str`), so the bytes are UTF-8.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let target = self
            .len
            .checked_add(s.len())
            .and_then(|end| self.bytes.get_mut(self.len..end));
        match target {
            Some(target) => {
                target.copy_from_slice(s.as_bytes());
                self.len += s.len();
                Ok(())
            }
            None => {
                self.overflowed = true;
                Err(std::fmt::Error)
            }
        }
    }
}

/// Connects this plugin's `log` to its host (see [`crate::entries::connect`]). The plugin's `log` records go to the host's logger from now on (unless
/// the plugin installed a logger of its own), filtered by the host's maximum level now.
pub(crate) fn connect(link: HostLinkRef) {
    crate::unwind::enter_plugin_mode();
    LINK.store(link.0.to_raw_ptr() as *mut _, Ordering::Release);
    if log::set_logger(&BRIDGE).is_ok() {
        BRIDGED.store(true, Ordering::Release);
        // The host may change its level meanwhile (`set_max_log_level` reaches this plugin
        // only once `BRIDGED` is set): take its level until it holds still.
        loop {
            let level = (link.max_log_level())();
            log::set_max_level(filter_of(level));
            if (link.max_log_level())() == level {
                break;
            }
        }
    }
}

/// Whether this plugin's records go to its host (no logger of its own came first).
static BRIDGED: AtomicBool = AtomicBool::new(false);

/// Sets this plugin's maximum log level, when its records go to the host: the host calls it
/// (through the root module's entries) when its own level changes.
pub(crate) fn set_log_level(level: u8) {
    if BRIDGED.load(Ordering::Acquire) {
        log::set_max_level(filter_of(level));
    }
}
