//! Load xplug plugins into a host, checking everything before any plugin code runs.
//!
//! # The load pipeline
//!
//! [`Loader::load`] takes a file through six stages and reports the first that fails as its
//! own [`LoadError`] variant ([`LoadError::stage`] says which):
//!
//! 1. **File**: the path names a regular, readable file (symlinks are resolved).
//! 2. **Object format**: the file is a shared library for this OS and architecture, parsed
//!    with the `object` crate (an aarch64 `.so` on x86_64, a text file or a truncated ELF
//!    stop here).
//! 3. **Header**: the library carries xplug's frozen header, read from the file.
//! 4. **Compatibility**: interface name, interface version (semver), target triple and
//!    panic strategy match the host.
//! 5. **Open + layout**: `dlopen` (static constructors run here, not before), then
//!    abi_stable's recursive check of the root module's type layout against the host's.
//! 6. **Init**: the plugin's `on_load` hook; an error or a panic there is a [`LoadError`].
//!
//! Stages 1 to 3 are available alone as [`inspect`]. Libraries are never unloaded; loading
//! the same file again returns the same plugin.
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

mod compat;
mod diagnostic;
mod error;
mod info;
mod inspect;
mod layout;
mod loader;

pub use compat::{host_target, Requirements};
#[cfg(feature = "serde")]
pub use diagnostic::Diagnostic;
pub use diagnostic::{stdout_is_terminal, use_color, Report};
pub use error::{LayoutDifference, LoadError, Stage};
pub use info::{PanicStrategy, PluginInfo, Profile};
pub use inspect::{inspect, Inspected};
pub use loader::{
    default_requirement, is_library_file_name, library_file_name, DirReport, Loader, Plugin,
};
pub use semver;
pub use xplug::{CallError, Interface};
