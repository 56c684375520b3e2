//! Calls across the plugin boundary: panic containment on the plugin side, typed errors on the
//! host side.
//!
//! Every function of a root module declared with `#[xplug::interface]` is exported by the
//! plugin as an `extern "C"` shim that runs the plugin's code under `catch_unwind` and returns
//! a [`CallResult`]. A panic never unwinds into the host: the host's wrapper method turns it
//! into a [`CallError`] of kind [`CallErrorKind::Panicked`].
//!
//! Only [`CallError`] and [`CallErrorKind`] are public API; the rest is reached by generated code through
//! `xplug::__private`.
//!
//! The error side of a [`CallResult`] is a one-byte marker, so that a call returning a small
//! value returns it in registers, as a plain `extern "C"` function would. The panic's message
//! and location wait in a thread-local slot of the plugin, which the host's wrapper empties
//! through the root module's hidden `take_panic` function right after the call.

use std::cell::Cell;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Component, Path};
use std::sync::{Arc, Once};

use abi_stable::std_types::{RResult, RString};

pub(crate) use crate::unwind::drop_payload;
pub use crate::unwind::plugin_mode;

pub use crate::abi::{CallResult, Contained, PluginPanic};

/// Why a call into a plugin returned no value: which function, and what went wrong
/// ([`kind`](CallError::kind)); for a call of a loaded plugin's function, which plugin
/// ([`plugin`](CallError::plugin)).
///
/// One pointer wide, so that a call's `Result<T, CallError>` is no larger than it must be: a
/// `Result<u64, CallError>` comes back in registers. The details live on the heap, allocated
/// only when a call fails.
#[derive(Clone, PartialEq, Eq)]
pub struct CallError(Box<Failure>);

#[derive(Clone, PartialEq, Eq)]
struct Failure {
    function: &'static str,
    kind: CallErrorKind,
    /// The plugin's `name version`, if the host's loader named its module.
    plugin: Option<Arc<str>>,
}

/// What went wrong in a call: the [`kind`](CallError::kind) of a [`CallError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallErrorKind {
    /// The plugin function panicked; the panic was contained in the plugin.
    Panicked {
        /// The panic message.
        message: String,
        /// Where in the plugin's source it panicked (`file:line:column`), or empty. The file
        /// is as the plugin's compiler named it, relative to the directory it was built in
        /// (the plugin's workspace root), with `dir/..` resolved: `src/lib.rs:32:13`.
        location: String,
    },
    /// The other side was built against an older minor version of the interface, which did
    /// not have this function or method yet: an older plugin's function or object method, or
    /// a host service an older host does not offer.
    Missing {
        /// The interface version that added the function, as the interface declares it.
        since: &'static str,
    },
    /// The isolated plugin's process ended, or was ended, before it answered: this call, the
    /// calls in flight, and (unless the host's restart policy starts it again) every later
    /// call fail so.
    Crashed {
        /// How it ended.
        crash: Crash,
        /// The last lines it wrote to its standard error.
        stderr: String,
    },
    /// The isolated plugin did not answer within the call's deadline; its process was killed.
    TimedOut {
        /// The deadline.
        deadline: std::time::Duration,
    },
    /// A parameter or the return type of the function cannot cross to an isolated plugin
    /// (objects, callbacks, pointers, borrowed values: see `xplug::wire`); the call was not
    /// sent.
    CannotCross {
        /// The type, as Rust names it.
        type_name: &'static str,
    },
    /// The isolated plugin is not served any more: it was unloaded, its restarts are used up,
    /// or its process could not be started again.
    Unavailable {
        /// Why.
        reason: String,
    },
}

/// How an isolated plugin's process ended ([`CallErrorKind::Crashed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Crash {
    /// Killed by a signal (Unix): a segfault, an abort, a stack overflow, a kill.
    Signal {
        /// The signal's number.
        number: i32,
    },
    /// It exited, with this status.
    Exited {
        /// The exit status.
        code: i32,
    },
    /// Its channel closed, and how it ended is not known.
    Closed,
    /// It broke the channel's rules (garbage, an answer to a call never made, a length past
    /// the bounds); it was killed.
    Misbehaved {
        /// What it did.
        what: String,
    },
}

impl fmt::Display for Crash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Crash::Signal { number } => match signal_name(*number) {
                Some(name) => write!(f, "was killed by signal {} ({})", number, name),
                None => write!(f, "was killed by signal {}", number),
            },
            // An `NTSTATUS` (Windows ends a crashed process with one as its exit code).
            // (Errors and exceptions: 0xC..., and 0xE... as C++ exceptions; not `exit(-1)`.)
            Crash::Exited { code } if (0xC000_0000..0xF000_0000).contains(&(*code as u32)) => {
                match ntstatus_name(*code as u32) {
                    Some(name) => write!(f, "crashed with status {:#X} ({})", *code as u32, name),
                    None => write!(f, "crashed with status {:#X}", *code as u32),
                }
            }
            Crash::Exited { code } => write!(f, "exited with status {}", code),
            Crash::Closed => f.write_str("closed its channel"),
            Crash::Misbehaved { what } => {
                write!(f, "broke the channel's rules ({}) and was killed", what)
            }
        }
    }
}

/// The name of a common Windows status a crashed process exits with.
fn ntstatus_name(status: u32) -> Option<&'static str> {
    Some(match status {
        0xC000_0005 => "STATUS_ACCESS_VIOLATION",
        0xC000_001D => "STATUS_ILLEGAL_INSTRUCTION",
        0xC000_0094 => "STATUS_INTEGER_DIVIDE_BY_ZERO",
        0xC000_00FD => "STATUS_STACK_OVERFLOW",
        0xC000_0409 => "STATUS_STACK_BUFFER_OVERRUN",
        _ => return None,
    })
}

/// The name of a common signal.
fn signal_name(number: i32) -> Option<&'static str> {
    Some(match number {
        1 => "SIGHUP",
        2 => "SIGINT",
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        24 => "SIGXCPU",
        25 => "SIGXFSZ",
        _ => return None,
    })
}

impl CallError {
    /// The interface function (`greet`) or object method (`Counter.reset`) that was called.
    pub fn function(&self) -> &'static str {
        self.0.function
    }

    /// What went wrong.
    pub fn kind(&self) -> &CallErrorKind {
        &self.0.kind
    }

    /// The plugin whose function failed, as `name version` (`greeter-en 0.3.0`): known for
    /// the functions of a plugin's root module that `xplug-loader` loaded (in-process or
    /// isolated), `None` otherwise (objects' methods, callbacks, host services, modules made
    /// in-process).
    pub fn plugin(&self) -> Option<&str> {
        self.0.plugin.as_deref()
    }

    /// The same error, about the plugin `plugin` (its label).
    pub(crate) fn in_plugin(mut self, plugin: Option<Arc<str>>) -> CallError {
        self.0.plugin = plugin;
        self
    }

    /// The panic message, if the function panicked.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.0.kind {
            CallErrorKind::Panicked { message, .. } => Some(message),
            _ => None,
        }
    }

    /// A call of `function`, appended to the interface in version `since`, on a plugin built
    /// before it. For generated code.
    #[doc(hidden)]
    #[cold]
    #[inline(never)]
    pub fn missing(function: &'static str, since: &'static str) -> CallError {
        CallError(Box::new(Failure {
            function,
            kind: CallErrorKind::Missing { since },
            plugin: None,
        }))
    }
}

impl fmt::Debug for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallError")
            .field("function", &self.0.function)
            .field("kind", &self.0.kind)
            .field("plugin", &self.0.plugin)
            .finish()
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let function = self.0.function;
        match (&self.0.kind, &self.0.plugin) {
            (CallErrorKind::Panicked { message, location }, plugin) => {
                match plugin {
                    Some(plugin) => write!(
                        f,
                        "plugin {} panicked in `{}`: {}",
                        plugin, function, message
                    )?,
                    None => write!(f, "plugin function `{}` panicked: {}", function, message)?,
                }
                if !location.is_empty() {
                    write!(f, " (at {})", location)?;
                }
                Ok(())
            }
            (CallErrorKind::Missing { since }, _) => write!(
                f,
                "plugin does not provide `{}`: it was built against an interface older than {}",
                function, since
            ),
            (kind, Some(plugin)) => {
                write!(
                    f,
                    "call of `{}` (plugin {}) failed: {}",
                    function, plugin, kind
                )
            }
            (kind, None) => write!(f, "call of `{}` failed: {}", function, kind),
        }
    }
}

impl std::error::Error for CallError {}

impl fmt::Display for CallErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallErrorKind::Panicked { message, location } if location.is_empty() => {
                write!(f, "panicked: {}", message)
            }
            CallErrorKind::Panicked { message, location } => {
                write!(f, "panicked: {} (at {})", message, location)
            }
            CallErrorKind::Missing { since } => write!(
                f,
                "the plugin was built against an interface older than {}",
                since
            ),
            CallErrorKind::Crashed { crash, stderr } => {
                write!(f, "the isolated plugin {}", crash)?;
                match stderr.trim_end().lines().last() {
                    Some(line) => write!(f, "; its last words: {}", line),
                    None => Ok(()),
                }
            }
            CallErrorKind::TimedOut { deadline } => write!(
                f,
                "no answer within {:?}: the isolated plugin was killed",
                deadline
            ),
            CallErrorKind::CannotCross { type_name } => {
                write!(f, "`{}` cannot cross to an isolated plugin", type_name)
            }
            CallErrorKind::Unavailable { reason } => {
                write!(f, "the isolated plugin is not served: {}", reason)
            }
        }
    }
}

impl CallError {
    /// A call of `function` that failed with `kind`.
    #[doc(hidden)]
    #[cold]
    pub fn new(function: &'static str, kind: CallErrorKind) -> CallError {
        CallError(Box::new(Failure {
            function,
            kind,
            plugin: None,
        }))
    }
}

/// Converts a contained panic into a host-side error. Out of line and cold: the happy path of
/// a call stays the plugin's return value plus one branch.
#[cold]
#[inline(never)]
pub fn panicked(function: &'static str, panic: PluginPanic) -> CallError {
    CallError(Box::new(Failure {
        function,
        kind: CallErrorKind::Panicked {
            message: panic.message.into_string(),
            location: tidy_location(panic.location.into_string()),
        },
        plugin: None,
    }))
}

/// A panic's `location` as a plugin's hook recorded it (`file:line:column`), with `dir/..` in
/// its file resolved lexically: `plugins/en/../../shared/src/lib.rs:3:5` reads
/// `shared/src/lib.rs:3:5`. Cargo names the sources of a crate whose `[lib] path` leaves its
/// package so; the tidy path names the same file from the same directory (the plugin's
/// workspace root), as long as no directory on the way was a symlink. Anything else is left as
/// it is.
pub(crate) fn tidy_location(location: String) -> String {
    let mut parts = location.rsplitn(3, ':');
    let (column, line, file) = match (parts.next(), parts.next(), parts.next()) {
        (Some(column), Some(line), Some(file)) => (column, line, file),
        _ => return location,
    };
    if column.parse::<u32>().is_err() || line.parse::<u32>().is_err() {
        return location;
    }
    match tidy_path(file) {
        Some(tidy) => format!("{}:{}:{}", tidy, line, column),
        None => location,
    }
}

/// `file` with `.` and `dir/..` resolved lexically, if it has any, its separators as they were
/// (`/` if it had one: a Windows plugin built elsewhere may use either); `None` if it has
/// none, or nothing would be left.
fn tidy_path(file: &str) -> Option<String> {
    let path = Path::new(file);
    if !path
        .components()
        .any(|c| matches!(c, Component::CurDir | Component::ParentDir))
    {
        return None;
    }
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                // `/..` is `/`.
                Some(Component::RootDir) => {}
                _ => parts.push(component),
            },
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return None;
    }
    let separator = if file.contains('/') {
        '/'
    } else {
        std::path::MAIN_SEPARATOR
    };
    let mut tidy = String::with_capacity(file.len());
    // Whether the next name needs a separator before it: not at the start, nor right after a
    // root or a drive prefix.
    let mut separate = false;
    for part in parts {
        match part {
            Component::Prefix(prefix) => {
                tidy.push_str(&prefix.as_os_str().to_string_lossy());
                separate = false;
            }
            Component::RootDir => {
                tidy.push(separator);
                separate = false;
            }
            name => {
                if separate {
                    tidy.push(separator);
                }
                tidy.push_str(&name.as_os_str().to_string_lossy());
                separate = true;
            }
        }
    }
    Some(tidy)
}

thread_local! {
    // None of these has a destructor: a thread-local with one, in a loaded plugin, would keep
    // the plugin's library mapped after it is unloaded, until the thread exits (the C library
    // registers the destructor against the library). What a plugin defers until the thread
    // exits lives in the host instead (`host_link::defer_panic`).

    /// Whether this thread is inside [`guard`] or [`guard_in`]: panics here are reported, not
    /// printed.
    static IN_GUARD: Cell<bool> = const { Cell::new(false) };
    /// The location of the last contained panic on this thread (a boxed `String`, or null).
    static LAST_LOCATION: Cell<*mut String> = const { Cell::new(std::ptr::null_mut()) };
    /// The last contained panic on this thread, until the host takes it (a boxed
    /// `PluginPanic`, or null).
    static LAST_PANIC: Cell<*mut PluginPanic> = const { Cell::new(std::ptr::null_mut()) };
}

/// Puts `value` in the thread-local `slot` (`None` empties it) and returns what it held.
pub(crate) fn swap_slot<T>(
    slot: &'static std::thread::LocalKey<Cell<*mut T>>,
    value: Option<T>,
) -> Option<T> {
    let new = value.map_or(std::ptr::null_mut(), |value| Box::into_raw(Box::new(value)));
    match slot.try_with(|cell| cell.replace(new)) {
        // SAFETY: a non-null pointer in a slot is one `Box::into_raw` made above and no one
        // else holds (each is taken out of the slot exactly once, here).
        Ok(old) if !old.is_null() => Some(*unsafe { Box::from_raw(old) }),
        Ok(_) => None,
        Err(_) => {
            // Thread teardown: the slot is gone; the new value is freed, not kept.
            if !new.is_null() {
                // SAFETY: made by `Box::into_raw` just above, and never stored.
                drop(unsafe { Box::from_raw(new) });
            }
            None
        }
    }
}

/// Runs `f`, the body of an exported function of a root module, and contains any panic
/// (objects' shims use [`guard_in`], their mode fixed when the object was made).
///
/// `catch_unwind` costs nothing unless a panic happens. In a loaded plugin that is the whole
/// cost: its hook records every panic and defers printing it until it is known that no guard
/// took it (see [`install_hook`]). Elsewhere (a host: objects it made, modules built
/// in-process), a thread-local flag tells the hook to stay silent while `f` runs, so that the
/// host's own panics print as they happen: one thread-local access per call, cheap in an
/// executable (unlike in a `cdylib`, which reaches its thread-locals through
/// `__tls_get_addr`).
#[inline]
pub fn guard<R>(f: impl FnOnce() -> R) -> CallResult<R> {
    contain(plugin_mode(), f)
}

/// [`guard`] with the mode fixed when the shim was chosen (objects' tables): `PLUGIN` only
/// where [`plugin_mode`] was already on (it never goes off), otherwise a panic would print
/// although contained, and without its location.
#[inline]
pub fn guard_in<const PLUGIN: bool, R, F: FnOnce() -> R>(f: F) -> CallResult<R> {
    contain(PLUGIN, f)
}

/// The body of both guards; inlined, so that a constant `plugin` leaves one branch.
#[inline(always)]
fn contain<R>(plugin: bool, f: impl FnOnce() -> R) -> CallResult<R> {
    let result = if plugin {
        panic::catch_unwind(AssertUnwindSafe(f))
    } else {
        // During thread teardown the flag may be gone (where thread-locals are OS keys): the
        // panic is then contained all the same, only reported by the previous hook too.
        let outer = IN_GUARD.try_with(|g| g.replace(true)).unwrap_or(false);
        let result = panic::catch_unwind(AssertUnwindSafe(f));
        let _ = IN_GUARD.try_with(|g| g.set(outer));
        result
    };
    match result {
        Ok(value) => RResult::ROk(value),
        Err(payload) => {
            let panic = contained(payload);
            // During thread teardown the slot may be gone already (a call from a thread-local
            // destructor): the details are lost, the panic is still contained.
            let _ = swap_slot(&LAST_PANIC, Some(panic));
            RResult::RErr(Contained::PANICKED)
        }
    }
}

/// Takes the details of the last panic a guard contained on this thread. The root module's
/// hidden `take_panic` function calls it, in the plugin, for the host.
pub fn take_panic() -> PluginPanic {
    swap_slot(&LAST_PANIC, None).unwrap_or_else(|| PluginPanic {
        message: RString::from(
            "(the panic's details are gone: already taken, or the thread is exiting)",
        ),
        location: RString::new(),
    })
}

/// Puts `panic` back as this thread's last contained panic (a guard that ran after it, e.g. a
/// drop, must not replace its details).
pub(crate) fn put_panic(panic: PluginPanic) {
    let _ = swap_slot(&LAST_PANIC, Some(panic));
}

/// Turns a caught panic payload into what the host receives.
#[cold]
fn contained(payload: Box<dyn std::any::Any + Send>) -> PluginPanic {
    let message = payload_text(&*payload)
        .unwrap_or("(panic payload is not a string)")
        .to_owned();
    // Taken by a guard, before anything else can panic: the host reports it, nothing is
    // printed here.
    let location = swap_slot(&LAST_LOCATION, None).unwrap_or_default();
    // A guard took it: the host need not print it later.
    crate::host_link::forget_deferred_panic();
    drop_payload(payload);
    PluginPanic {
        message: message.into(),
        location: location.into(),
    }
}

/// A panic payload's text, if it is a string (what `panic!` with a message makes).
fn payload_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Installs, once per copy of `std` (each `cdylib` has its own), the panic hook that stays
/// silent for panics inside [`guard`] or [`guard_in`] and records their location; every
/// other panic goes to the hook installed before. Runs before a plugin's `on_load` and when a
/// module or an object is made in-process; without it, contained panics are still contained,
/// only printed and without a location.
///
/// In a loaded plugin (plugin mode), whether a panic is inside a guard is not tracked on the
/// call path: the hook records every panic's location and text, and prints the text, as
/// std's hook would have, only once it is known that no guard took it: at the thread's next
/// panic, or when the thread exits (a plugin's own thread that died of it). A plugin built
/// with `panic = "abort"` prints at once. What this costs: such a panic prints late (a worker
/// thread that catches panics itself and lives on prints each at its next panic), without a
/// backtrace, and not at all if the process aborts first (a panic while panicking, abi_stable's
/// abort guards); a hook the plugin set before its load is not called.
pub fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let location = || {
                info.location()
                    .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
            };
            if plugin_mode() && cfg!(panic = "unwind") {
                let location = location();
                let message = payload_text(info.payload()).unwrap_or("Box<dyn Any>");
                // No `thread::current()`: it may be gone during thread teardown, and a panic
                // inside the hook aborts.
                let text = format!(
                    "a plugin thread panicked at {}:\n{}",
                    location.as_deref().unwrap_or("<unknown>"),
                    message
                );
                let _ = swap_slot(&LAST_LOCATION, location);
                if !crate::host_link::defer_panic(&text) {
                    // Not connected to a host yet, or thread teardown: nothing can be
                    // deferred.
                    previous(info);
                }
            } else if IN_GUARD.try_with(Cell::get).unwrap_or(false) {
                let location = location();
                // Gone during thread teardown: the location is lost, nothing else.
                let _ = swap_slot(&LAST_LOCATION, location);
            } else {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn crashes_say_how_the_process_ended() {
        let said = |crash: Crash| crash.to_string();
        assert_eq!(
            said(Crash::Signal { number: 11 }),
            "was killed by signal 11 (SIGSEGV)"
        );
        assert_eq!(said(Crash::Exited { code: 3 }), "exited with status 3");
        assert_eq!(
            said(Crash::Exited {
                code: 0xC000_0005_u32 as i32
            }),
            "crashed with status 0xC0000005 (STATUS_ACCESS_VIOLATION)"
        );
        assert_eq!(
            said(Crash::Exited {
                code: 0xC000_0135_u32 as i32
            }),
            "crashed with status 0xC0000135"
        );
        // `exit(-1)` is an exit.
        assert_eq!(said(Crash::Exited { code: -1 }), "exited with status -1");
    }

    #[test]
    fn guard_contains_panics_and_keeps_values() {
        install_hook();
        assert_eq!(guard(|| 2 + 2), RResult::ROk(4));
        let err = match guard(|| -> u32 { panic!("boom {}", 7) }) {
            RResult::RErr(_) => take_panic(),
            RResult::ROk(_) => panic!("the panic was not contained"),
        };
        assert_eq!(err.message.as_str(), "boom 7");
        assert!(err.location.as_str().contains("call.rs"), "{:?}", err);
        let host = panicked("f", err);
        assert!(host
            .to_string()
            .starts_with("plugin function `f` panicked: boom 7 (at "));
        assert_eq!(host.plugin(), None);
        let named = host.in_plugin(Some(Arc::from("greeter-en 0.3.0")));
        assert_eq!(named.plugin(), Some("greeter-en 0.3.0"));
        assert!(
            named
                .to_string()
                .starts_with("plugin greeter-en 0.3.0 panicked in `f`: boom 7 (at "),
            "{}",
            named
        );
    }

    #[test]
    #[cfg(unix)]
    fn panic_locations_read_without_dir_and_parent_pairs() {
        let tidy = |l: &str| tidy_location(l.to_owned());
        assert_eq!(
            tidy("plugins/greeter-en/../../../../examples/plugins/greeter-en/src/lib.rs:10:9"),
            "../../examples/plugins/greeter-en/src/lib.rs:10:9"
        );
        assert_eq!(
            tidy("tests/fixtures/plugins/en/../../../../examples/en/src/lib.rs:10:9"),
            "examples/en/src/lib.rs:10:9"
        );
        assert_eq!(tidy("/a/./b/../c.rs:1:2"), "/a/c.rs:1:2");
        assert_eq!(tidy("./a/b/../c.rs:1:2"), "a/c.rs:1:2");
        assert_eq!(tidy("/../c.rs:1:2"), "/c.rs:1:2");
        // Left as they are: nothing to resolve, nothing left, or no `line:column`.
        for same in [
            "src/lib.rs:32:13",
            "a/..:1:1",
            "src/../lib.rs",
            "src/../lib.rs:x:1",
            "",
        ] {
            assert_eq!(tidy(same), same);
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn a_result_with_a_call_error_is_two_words() {
        use std::mem::size_of;
        // A pointer, and a niche for `Ok`: a `Result<u64, CallError>` comes back in registers.
        assert_eq!(size_of::<CallError>(), size_of::<usize>());
        assert_eq!(size_of::<Result<u64, CallError>>(), 2 * size_of::<usize>());
        assert_eq!(size_of::<Result<(), CallError>>(), size_of::<usize>());
    }

    /// A panic payload whose `Drop` panics, with a payload whose `Drop` panics too.
    struct Nasty(u8);

    impl Drop for Nasty {
        fn drop(&mut self) {
            if self.0 > 0 {
                std::panic::panic_any(Nasty(self.0 - 1));
            }
        }
    }

    #[test]
    fn a_payload_whose_drop_panics_twice_is_contained() {
        install_hook();
        match guard(|| -> u32 { std::panic::panic_any(Nasty(2)) }) {
            RResult::RErr(_) => {
                assert_eq!(
                    take_panic().message.as_str(),
                    "(panic payload is not a string)"
                )
            }
            RResult::ROk(_) => panic!("the panic was not contained"),
        }
    }

    /// Calls a panicking function when the thread's thread-locals are torn down.
    struct CallsOnExit;

    impl Drop for CallsOnExit {
        fn drop(&mut self) {
            let contained = matches!(guard(|| -> u32 { panic!("late") }), RResult::RErr(_));
            // Whatever `take_panic` finds, it must not panic either.
            let _ = take_panic();
            LATE.store(
                if contained { 1 } else { 2 },
                std::sync::atomic::Ordering::SeqCst,
            );
        }
    }

    static LATE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

    thread_local! {
        static ON_EXIT: RefCell<Option<CallsOnExit>> = const { RefCell::new(None) };
    }

    #[test]
    fn a_panicking_call_from_a_thread_local_destructor_is_contained() {
        install_hook();
        std::thread::spawn(|| {
            // Registered first, so destroyed after the slots `guard` uses.
            ON_EXIT.with(|slot| *slot.borrow_mut() = Some(CallsOnExit));
            let _ = guard(|| -> u32 { panic!("early") });
            let _ = take_panic();
        })
        .join()
        .expect("the thread exits cleanly");
        assert_eq!(LATE.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
