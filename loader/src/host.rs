//! What this host is: the facts of its own build that plugins are checked against.

use semver::Version;
use xplug::Interface;

/// The target triple this host was built for.
pub fn host_target() -> &'static str {
    xplug::__private::build_info::TARGET
}

/// `rustc --version` of the compiler that built this host (and its copy of `xplug`).
pub(crate) fn host_rustc() -> &'static str {
    xplug::__private::build_info::RUSTC_VERSION
}

/// The interface version of the host, `M::INTERFACE_VERSION`.
pub(crate) fn host_version<M: Interface>() -> Version {
    // Cargo only accepts semver package versions, so this parses.
    Version::parse(M::INTERFACE_VERSION).unwrap_or_else(|_| Version::new(0, 0, 0))
}
