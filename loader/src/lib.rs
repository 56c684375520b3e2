//! Load xplug plugins into a host, checking each file before its code runs.
//!
//! # Core concepts
//!
//! - [`Loader<M>`](Loader): a host's entry point for one interface `M` (the `...Ref` type
//!   that `#[xplug::interface]` generates). It holds the version rule and runs the load
//!   pipeline below for each file: [`load`](Loader::load) one file,
//!   [`load_dir`](Loader::load_dir) a directory, [`verify`](Loader::verify) without
//!   initialising.
//! - [`Plugin<M>`](Plugin): a loaded plugin. It dereferences to `M`, whose methods call the
//!   plugin and return `Result<_, CallError>`; [`Plugin::info`] is its header.
//! - [`LoadError`]: why a file was refused: its path, the plugin's header when it was read,
//!   and an [`ErrorKind`] with the facts of the check that failed. [`LoadError::report`]
//!   renders it in a few lines that say who must act.
//! - [`PluginInfo`]: what a plugin's frozen header says: names, versions, the compiler that
//!   built it, target, panic strategy.
//! - [`inspect`](inspect()): reads a file's header without loading it, for tools.
//! - [`Live<M>`](Live): hot reload. A handle that dereferences to the newest good version
//!   (generation) of a plugin file; [`Live::reload`] loads a new version, hands the old one's
//!   state to it (the plugin's `save_state` / `restore_state` hooks) and switches calls to it
//!   without a lock on the call path; a refused version leaves the old one serving. Old
//!   generations stay loaded unless the host, knowing nothing of them is in use, unloads
//!   them ([`Live::unload_retired`], [`Plugin::unload`], both `unsafe`).
//! - [`Watcher<M>`](Watcher): a plugin directory under hot reload ([`Loader::watch_dir`]):
//!   one live plugin per file, reloaded when the file changes, and an [`Event`] per change.
//! - [`Quarantine`]: the journal of plugins whose loading killed the process
//!   ([`Loader::quarantine`]); they are refused at the next start until the file changes.
//!
//! # The load pipeline
//!
//! [`Loader::load`] takes a file through six stages and reports the first that fails
//! ([`LoadError::stage`] says which):
//!
//! | stage | what is checked | module |
//! |---|---|---|
//! | 1. file | the path names a regular file not every user can write, within the size limit; opened once, read once for a snapshot or a trust policy (in place, only its headers) | `stages/file.rs` |
//! | trust | the host's policy on those bytes: SHA-256 pins, minisign signatures | `trust.rs` ([`TrustPolicy`]) |
//! | 2. object format | a shared library for this OS and architecture, parsed with `object` | `stages/object.rs` |
//! | 3. header | xplug's frozen header, read from the file | `stages/header.rs` |
//! | 4. compatibility | interface name, version rule, target triple, panic strategy | `stages/compat.rs` ([`Requirements`]) |
//! | 5. open + layout | `dlopen` of a private snapshot of the bytes (or the file, [`LoadMode::InPlace`]), the header in memory compared with the one checked, then abi_stable's recursive type-layout check | `stages/open.rs`, `stages/layout.rs` |
//! | 6. init | the plugin's `on_load` hook | `stages/init.rs` |
//!
//! Stages 1 to 4 only read the file. Stage 5 opens it, which runs the library's static
//! constructors, if it has any (an `export_plugin!` plugin has none of its own); stage 6 runs
//! the plugin's `on_load`. [`Loader::load`] states the whole trust contract. Around the
//! stages: `registry.rs` keeps one entry per plugin, by the SHA-256 of its bytes (the same
//! bytes are opened and initialised once per process, with no lock held while plugin code
//! runs; libraries leave only when the host unloads them), `loader.rs`, `plugin.rs` and `dir.rs`
//! hold the host-facing types, `live.rs` and `watch.rs` hot reload, `quarantine.rs` the crash
//! journal, `host.rs` the facts of the host's own build, `error.rs` and `report.rs` the
//! errors and their rendering.
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

mod abi_diff;
mod dir;
mod error;
mod host;
mod info;
mod inspect;
mod live;
mod loader;
mod plugin;
mod quarantine;
mod registry;
mod report;
mod stages;
mod trust;
mod watch;

pub use abi_diff::{check_against, compare_builds, Change, Comparison, VersionError};
pub use dir::{is_library_file_name, library_file_name, DirReport};
pub use error::{ErrorKind, LayoutDifference, LoadError, Stage};
pub use host::host_target;
pub use info::{PanicStrategy, PluginInfo, Profile};
pub use inspect::{inspect, inspect_bytes, Inspected};
pub use live::{Live, Reload, Unloads};
pub use loader::{LoadMode, Loader};
pub use plugin::{Plugin, Unloaded};
pub use quarantine::{Quarantine, QuarantineEntry};
pub use registry::set_max_log_level;
#[cfg(feature = "serde")]
pub use report::Diagnostic;
pub use report::Report;
pub use semver;
pub use stages::compat::{default_requirement, Requirements};
pub use trust::{signature_path, AllowList, ParseTrustError, PublicKey, Sha256, TrustPolicy};
pub use watch::{Event, Watcher};
pub use xplug::{CallError, CallErrorKind, Interface};

/// Counts for tests and benchmarks; not part of the stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::stages::layout::full_checks_on_this_thread;
}
