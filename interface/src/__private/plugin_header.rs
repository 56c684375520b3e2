//! Writing a plugin's header: what `export_plugin!` expands to.

use crate::header::{
    PluginHeader, FORMAT_VERSION, HEADER_SIZE, MAGIC, PANIC_ABORT, PANIC_UNWIND, PROFILE_DEBUG,
    PROFILE_RELEASE,
};

/// What a plugin says about itself in its header; the parts that depend on the build come
/// from this crate's build script and from `cfg!` in the plugin crate. Written by
/// [`export_plugin!`](crate::export_plugin).
#[derive(Clone, Copy, Debug)]
pub struct HeaderFields<'a> {
    /// The interface name.
    pub interface_name: &'a str,
    /// The interface version.
    pub interface_version: &'a str,
    /// The plugin name.
    pub plugin_name: &'a str,
    /// The plugin version.
    pub plugin_version: &'a str,
    /// Whether the plugin unwinds on panic.
    pub panic_unwind: bool,
    /// Whether the plugin was built with debug assertions.
    pub debug: bool,
}

/// Builds the header of a plugin compiled by the current compiler for the current target.
///
/// Evaluated at compile time by [`export_plugin!`](crate::export_plugin): a field that does not
/// fit its fixed size is a compile error, not a truncated header.
pub const fn plugin_header(fields: HeaderFields<'_>) -> PluginHeader {
    PluginHeader {
        magic: MAGIC,
        format_version: FORMAT_VERSION.to_le_bytes(),
        size: (HEADER_SIZE as u32).to_le_bytes(),
        interface_name: fixed(fields.interface_name),
        interface_version: fixed(fields.interface_version),
        plugin_name: fixed(fields.plugin_name),
        plugin_version: fixed(fields.plugin_version),
        rustc_version: fixed(crate::__private::build_info::RUSTC_VERSION),
        target: fixed(crate::__private::build_info::TARGET),
        xplug_version: fixed(crate::__private::build_info::XPLUG_VERSION),
        panic_strategy: if fields.panic_unwind {
            PANIC_UNWIND
        } else {
            PANIC_ABORT
        },
        profile: if fields.debug {
            PROFILE_DEBUG
        } else {
            PROFILE_RELEASE
        },
        abi_version: crate::abi::ABI_VERSION.to_le_bytes(),
        reserved: [0; 4],
    }
}

/// Copies `s` into a NUL-padded array; panics (a compile error in const context) if it does
/// not fit.
const fn fixed<const N: usize>(s: &str) -> [u8; N] {
    let bytes = s.as_bytes();
    assert!(
        bytes.len() <= N,
        "xplug: a plugin header field is longer than its fixed size"
    );
    let mut out = [0u8; N];
    let mut i = 0;
    while i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
}
