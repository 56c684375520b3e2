//! How this copy of `xplug` was built. In a plugin, that is how the plugin was built: cargo
//! compiles a crate and its dependencies with the same compiler for the same target.

/// `rustc --version` of the compiler that built this crate.
pub const RUSTC_VERSION: &str = env!("XPLUG_BUILD_RUSTC");

/// The target triple this crate was built for.
pub const TARGET: &str = env!("XPLUG_BUILD_TARGET");

/// This crate's version.
pub const XPLUG_VERSION: &str = env!("CARGO_PKG_VERSION");
