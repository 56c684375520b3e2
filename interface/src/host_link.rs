//! What a host hands every plugin it loads, before the plugin's `on_load` hook runs: the
//! bridge that sends the plugin's `log` records to the host's logger.
//!
//! A plugin is a separate library with its own copy of the `log` crate, whose logger is
//! unset: its records would vanish. At load, xplug installs in the plugin's copy a logger
//! that forwards each record (level, target, module path, file, line and the formatted
//! message) to the host's logger, and sets the plugin's maximum level to the host's, so a
//! disabled statement in a plugin costs what it costs in the host: one comparison, nothing
//! formatted.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

use abi_stable::std_types::RStr;
use abi_stable::StableAbi;

/// The host's side of the boundary, as a plugin sees it.
#[repr(C)]
#[derive(StableAbi)]
pub struct HostLink {
    /// The host's maximum log level (`log::LevelFilter` as a number: 0 = off .. 5 = trace).
    max_log_level_: extern "C" fn() -> u8,
    /// Whether the host's logger takes records of this level (1 = error .. 5 = trace) and
    /// target.
    log_enabled_: extern "C" fn(level: u8, target: RStr<'_>) -> bool,
    /// Hands one record to the host's logger.
    log_: extern "C" fn(record: &LogRecord<'_>),
    /// Flushes the host's logger.
    log_flush_: extern "C" fn(),
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

/// This process's link, as a host hands it to the plugins it loads: its own `log` logger.
pub fn host_link() -> &'static HostLink {
    static LINK: HostLink = HostLink {
        max_log_level_: host_max_level,
        log_enabled_: host_enabled,
        log_: host_log,
        log_flush_: host_flush,
    };
    &LINK
}

extern "C" fn host_max_level() -> u8 {
    log::max_level() as usize as u8
}

fn level_of(number: u8) -> Option<log::Level> {
    match number {
        1 => Some(log::Level::Error),
        2 => Some(log::Level::Warn),
        3 => Some(log::Level::Info),
        4 => Some(log::Level::Debug),
        5 => Some(log::Level::Trace),
        _ => None,
    }
}

fn filter_of(number: u8) -> log::LevelFilter {
    match level_of(number) {
        Some(level) => level.to_level_filter(),
        None => log::LevelFilter::Off,
    }
}

/// Runs the host's logger: a panic in it stops here, never unwinding into the plugin.
fn contained<R>(f: impl FnOnce() -> R, otherwise: R) -> R {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(value) => value,
        Err(payload) => {
            crate::call::drop_payload(payload);
            otherwise
        }
    }
}

extern "C" fn host_enabled(level: u8, target: RStr<'_>) -> bool {
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

extern "C" fn host_log(record: &LogRecord<'_>) {
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

extern "C" fn host_flush() {
    contained(|| log::logger().flush(), ())
}

/// The link this plugin was given; null before its load.
static LINK: AtomicPtr<HostLink> = AtomicPtr::new(std::ptr::null_mut());

/// The logger xplug installs in a plugin's copy of `log`.
struct Bridge;

static BRIDGE: Bridge = Bridge;

fn link() -> Option<&'static HostLink> {
    // SAFETY: only `connect` stores here, a `&'static HostLink`.
    unsafe { LINK.load(Ordering::Acquire).as_ref() }
}

impl log::Log for Bridge {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        match link() {
            Some(link) => {
                (link.log_enabled_)(metadata.level() as usize as u8, metadata.target().into())
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
            (link.log_)(&LogRecord {
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
        thread_local! {
            /// Reused for each record's message: formatting allocates once per thread.
            static MESSAGE: RefCell<String> = const { RefCell::new(String::new()) };
        }
        let reused = MESSAGE.try_with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut buffer) => {
                buffer.clear();
                let _ = write!(buffer, "{}", record.args());
                send(&buffer);
                true
            }
            // A record logged while formatting another one's message.
            Err(_) => false,
        });
        if reused != Ok(true) {
            send(&record.args().to_string());
        }
    }

    fn flush(&self) {
        if let Some(link) = link() {
            (link.log_flush_)()
        }
    }
}

/// Connects this plugin to its host: called by the plugin's load shim, in the plugin, before
/// its `on_load` hook. The plugin's `log` records go to the host's logger from now on (unless
/// the plugin installed a logger of its own), filtered by the host's maximum level now.
pub fn connect(link: &'static HostLink) {
    crate::call::enter_plugin_mode();
    LINK.store(link as *const HostLink as *mut HostLink, Ordering::Release);
    if log::set_logger(&BRIDGE).is_ok() {
        BRIDGED.store(true, Ordering::Release);
        // The host may change its level meanwhile (`set_max_log_level` reaches this plugin
        // only once `BRIDGED` is set): take its level until it holds still.
        loop {
            let level = (link.max_log_level_)();
            log::set_max_level(filter_of(level));
            if (link.max_log_level_)() == level {
                break;
            }
        }
    }
}

/// Whether this plugin's records go to its host (no logger of its own came first).
static BRIDGED: AtomicBool = AtomicBool::new(false);

/// Sets this plugin's maximum log level, when its records go to the host: the host calls it
/// (through the root module's runtime) when its own level changes.
pub(crate) extern "C" fn set_log_level(level: u8) {
    if BRIDGED.load(Ordering::Acquire) {
        log::set_max_level(filter_of(level));
    }
}
