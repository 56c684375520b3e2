//! Load xplug plugins into a host, checking each file before its code runs.
//!
//! # Core concepts
//!
//! - [`Loader<M>`](Loader): a host's entry point for one interface `M` (the `...Ref` type
//!   that `#[xplug::interface]` generates), configured once: the version rule, the trust
//!   policy, how files are opened. [`load`](Loader::load) takes one file through the pipeline
//!   below, [`load_dir`](Loader::load_dir) a directory.
//! - [`Plugin<M>`](Plugin): a loaded plugin. It dereferences to `M`, whose methods call the
//!   plugin and return `Result<_, CallError>`; [`Plugin::info`] is its header.
//! - [`LoadError`]: why a file was refused: its path, the plugin's header when it was read,
//!   and an [`ErrorKind`] with the facts of the check that failed, at one [`Stage`].
//!   [`LoadError::report`] renders it in a few lines that say who must act.
//! - [`trust`]: who may supply the bytes a host runs (pins, signatures, the quarantine
//!   journal of plugins whose loading killed the process).
//! - [`reload`]: hot reload. A [`Live`](reload::Live) handle serves the newest good version
//!   of a file; a [`Watcher`](reload::Watcher) does that for each file of a directory.
//! - [`isolation`] (Linux, Windows): the same handles served from a process of the plugin's own
//!   ([`Loader::isolate`]): a crash or a hang is a [`CallError`], not the host's end.
//! - [`runtime`]: the host's async executor, lent to plugins (their `async fn`s and streams
//!   are awaited as any future; see `xplug`'s `future` and `stream`).
//! - [`tools`]: for tools rather than hosts: a file's header without loading it
//!   ([`inspect`](tools::inspect())), two builds of an interface compared.
//!
//! # The load pipeline
//!
//! [`Loader::load`] takes a file through these stages in order and reports the first that
//! refuses it ([`LoadError::stage`]):
//!
//! | stage | what is checked | runs plugin code |
//! |---|---|---|
//! | 1. [file](Stage::File) | the path names a regular file within the size limit that not every user can write (nor rename another file over); opened once, and read once when a snapshot, a trust policy or a journal needs its bytes (in place, only its headers are read) | no |
//! | [trust](Stage::Trust) | the host's [`TrustPolicy`](trust::TrustPolicy) on those bytes, before any is parsed: SHA-256 pins, minisign signatures; the quarantine journal | no |
//! | 2. [object format](Stage::Object) | a shared library for this OS and architecture, parsed with the `object` crate | no |
//! | 3. [header](Stage::Header) | xplug's frozen header, read from the file: names, versions, compiler, target, panic strategy | no |
//! | 4. [compatibility](Stage::Compatibility) | interface name, version rule, target triple, panic strategy ([`Requirements`]) | no |
//! | 5. [open](Stage::Open) | `dlopen` of a private, sealed snapshot of the bytes checked (or of the file, [`LoadMode::InPlace`]); the header in memory must equal the one checked | the library's static constructors |
//! | 5. [layout](Stage::Layout) | abi_stable's recursive type-layout check of the root module against the host's (once per distinct layout and process) | no |
//! | 6. [init](Stage::Init) | the plugin's `on_load` hook, once per library, panics contained | `on_load` |
//!
//! The same bytes are one plugin: stages 2, 3, 5's `dlopen` and 6 run once per process for
//! them, and later loads return the plugin (stage 4 is checked again against each loader's
//! rule, and the layout check is answered by the layouts that passed before).
//!
//! # What runs, and what is guaranteed
//!
//! Loading a plugin runs its code inside this process, with this process's rights. A file
//! refused at stages 1 to 4 never ran any code. At stage 5 the dynamic loader runs the
//! library's static constructors (`.init_array`, `DllMain`) and those of the libraries it
//! depends on, before the layout check: a plugin built with `export_plugin!` adds none, but a
//! crafted file can, and the header cannot stop that. No lock of xplug's is held while plugin
//! code runs: a plugin that loads itself from its hook (or two that load each other from
//! their hooks, on two threads) gets [`ErrorKind::Reentrant`], not a deadlock; waits xplug
//! cannot see still can (a hook joining a thread that loads the same plugin, or the dynamic
//! loader's own lock).
//!
//! The checks guarantee that the plugin was built against a compatible version of the
//! interface, for this target, with unwinding panics, and that the type layout of every
//! function matches the host's: calls pass and return values of the types both sides agreed
//! on, and a panic comes back as a [`CallError`]. They cannot make the plugin's code correct
//! or benign: it may crash (a segfault or an abort ends the process), loop, corrupt memory,
//! or do anything the process may do. Load only files you would run; isolate untrusted
//! plugins in another process ([`Loader::isolate`]).
//!
//! # Which functions are `unsafe`
//!
//! Every function that runs a plugin's code ([`Loader::load`], [`Loader::open_and_check`],
//! [`reload::Live::reload`], [`tools::compare_builds`], ...) is safe to call, as
//! `std::process::Command::spawn` is: the checks make every call through a handle
//! type-correct, and what the plugin's own code then does is the trust the host grants by
//! loading it, which the host states with its trust policy, not with `unsafe`. `unsafe` marks
//! only what the host must promise about its own use of a plugin and no check can see:
//! unloading ([`Plugin::unload`], [`reload::Live::unload_retired`],
//! [`reload::Watcher::unload_retired`]), after which nothing of the library may be used.
//!
//! # Cargo features
//!
//! - `reload` (default): [`reload`], with the `notify` crate and a watcher thread.
//! - `trust` (default): [`TrustPolicy`](trust::TrustPolicy), allow-lists and minisign
//!   signatures, with `minisign-verify`. Without it, [`trust`] keeps [`Sha256`](trust::Sha256)
//!   and the quarantine journal.
//! - `serde`: `Serialize` for [`LoadError`], [`PluginInfo`] and `Diagnostic` (JSON for
//!   tools).
//! - `tokio`: `runtime::Tokio`, a tokio runtime lent to plugins ([`runtime`]).
//! - `tracing`: plugins' `tracing` events and spans reach this host's subscriber (plugins
//!   enable `xplug`'s `tracing` feature).
//!
//! # Example
//!
//! ```no_run
//! use greeter_interface::GreeterRef;
//! use xplug_loader::Loader;
//!
//! let greeter = Loader::<GreeterRef>::new().load("plugins/libgreeter_en.so")?;
//! println!("{} says {}", greeter.info().label(), greeter.greet("Ada".into())?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

mod digest;
mod dir;
mod error;
mod host;
mod info;
#[cfg(any(unix, windows))]
pub mod isolation;
mod loader;
mod plugin;
mod process;
#[cfg(feature = "reload")]
pub mod reload;
pub mod runtime;
mod stages;
mod sys;
pub mod tools;
pub mod trust;

pub use dir::DirReport;
#[cfg(feature = "serde")]
pub use error::Diagnostic;
pub use error::{ErrorKind, LayoutDifference, LoadError, Report, Stage};
pub use info::{PanicStrategy, PluginInfo, Profile};
pub use loader::Loader;
pub use plugin::{KeptLoaded, NotUnloaded, Plugin};
pub use semver;
pub use stages::compat::Requirements;
pub use stages::LoadMode;
pub use sys::Unloaded;
pub use xplug::{CallError, CallErrorKind, Crash, Interface};

/// Counts for tests and benchmarks; not part of the stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::stages::layout::full_checks_on_this_thread;
}

/// Sets the maximum log level of the host (`log::set_max_level`) and of every plugin loaded in
/// this process whose records go to the host.
///
/// A plugin takes the host's level when it loads; `log::set_max_level` alone reaches only the
/// host's copy of `log`. Call this instead when the level changes after plugins loaded. (An
/// isolated plugin's process follows the host's `log::max_level()` by itself, from its next
/// call.)
pub fn set_max_log_level(level: log::LevelFilter) {
    log::set_max_level(level);
    crate::process::registry::set_log_level(level);
}
