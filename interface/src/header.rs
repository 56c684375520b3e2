//! The frozen plugin header.
//!
//! Every plugin exports one [`PluginHeader`] under the symbol [`HEADER_SYMBOL`]. It holds only
//! fixed-size byte fields, so it contains no pointer that the dynamic linker would have to
//! relocate: a host reads it straight from the file, before any code of the plugin runs.
//!
//! Format version 2 (424 bytes, alignment 1):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `XPLUGHDR` |
//! | 8 | 4 | format version, little-endian `u32` |
//! | 12 | 4 | header size in bytes, little-endian `u32` |
//! | 16 | 64 | interface name |
//! | 80 | 32 | interface version (semver) |
//! | 112 | 64 | plugin name |
//! | 176 | 32 | plugin version (semver) |
//! | 208 | 128 | `rustc --version` of the compiler that built the plugin |
//! | 336 | 64 | target triple |
//! | 400 | 16 | version of the `xplug` crate the plugin was built with |
//! | 416 | 1 | panic strategy: 1 unwind, 2 abort |
//! | 417 | 1 | build profile: 1 debug, 2 release |
//! | 418 | 2 | xplug ABI version, little-endian `u16` (see [`abi`](crate::abi)) |
//! | 420 | 4 | reserved, zero |
//!
//! Text fields are UTF-8, padded with NUL bytes. Later format versions may only append fields.
//! Format 1 had no ABI version (its bytes 418 and 419 were zero): its plugins were built before
//! xplug ABI 1.

/// The name under which a plugin exports its [`PluginHeader`].
pub const HEADER_SYMBOL: &str = "XPLUG_PLUGIN_HEADER";

/// The first eight bytes of every header.
pub const MAGIC: [u8; 8] = *b"XPLUGHDR";

/// The header format this crate writes.
pub const FORMAT_VERSION: u32 = 2;

/// `panic_strategy` value of a plugin built with `panic = "unwind"`.
pub const PANIC_UNWIND: u8 = 1;
/// `panic_strategy` value of a plugin built with `panic = "abort"`.
pub const PANIC_ABORT: u8 = 2;
/// `profile` value of a plugin built with debug assertions.
pub const PROFILE_DEBUG: u8 = 1;
/// `profile` value of a plugin built without debug assertions.
pub const PROFILE_RELEASE: u8 = 2;

/// The frozen, versioned header a plugin exports. See the [module docs](self) for the layout.
///
/// Plugins write it through [`export_plugin!`](crate::export_plugin); hosts read it from the
/// file with `xplug-loader`, before any code of the plugin runs.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PluginHeader {
    /// [`MAGIC`].
    pub magic: [u8; 8],
    /// [`FORMAT_VERSION`] as little-endian bytes.
    pub format_version: [u8; 4],
    /// The size of this struct as little-endian bytes.
    pub size: [u8; 4],
    /// The interface name, e.g. `greeter`.
    pub interface_name: [u8; 64],
    /// The interface crate's version, e.g. `1.1.0`.
    pub interface_version: [u8; 32],
    /// The plugin crate's name.
    pub plugin_name: [u8; 64],
    /// The plugin crate's version.
    pub plugin_version: [u8; 32],
    /// `rustc --version` of the compiler that built the plugin.
    pub rustc_version: [u8; 128],
    /// The target triple the plugin was built for.
    pub target: [u8; 64],
    /// The version of `xplug` the plugin was built with.
    pub xplug_version: [u8; 16],
    /// [`PANIC_UNWIND`] or [`PANIC_ABORT`].
    pub panic_strategy: u8,
    /// [`PROFILE_DEBUG`] or [`PROFILE_RELEASE`].
    pub profile: u8,
    /// The xplug ABI the plugin speaks ([`ABI_VERSION`](crate::abi::ABI_VERSION)) as
    /// little-endian bytes.
    pub abi_version: [u8; 2],
    /// Zero.
    pub reserved: [u8; 4],
}

/// The size of a header (formats 1 and 2) in bytes.
pub const HEADER_SIZE: usize = 424;

const _: () = assert!(core::mem::size_of::<PluginHeader>() == HEADER_SIZE);
const _: () = assert!(core::mem::align_of::<PluginHeader>() == 1);

impl PluginHeader {
    /// The header as the bytes a plugin file stores.
    pub fn as_bytes(&self) -> &[u8; HEADER_SIZE] {
        // SAFETY: `PluginHeader` is `repr(C)`, contains only `u8` and arrays of `u8` (alignment 1,
        // no padding, asserted above) and is exactly `HEADER_SIZE` bytes long.
        unsafe { &*(self as *const PluginHeader).cast::<[u8; HEADER_SIZE]>() }
    }

    /// Reads a header from the bytes a plugin file stores. Any byte pattern is a valid
    /// `PluginHeader`; whether its contents make sense is for the reader to check.
    pub fn from_bytes(bytes: &[u8; HEADER_SIZE]) -> PluginHeader {
        // SAFETY: as in `as_bytes`; every bit pattern is a valid `PluginHeader`, and
        // `read_unaligned` copes with the alignment of `bytes` (which is 1 anyway).
        unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<PluginHeader>()) }
    }
}

/// Returns the text of a NUL-padded header field, or `None` if it is not UTF-8.
pub fn field_str(field: &[u8]) -> Option<&str> {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    core::str::from_utf8(&field[..end]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::__private::{plugin_header, HeaderFields};

    #[test]
    fn round_trips_through_bytes() {
        let header = plugin_header(HeaderFields {
            interface_name: "greeter",
            interface_version: "1.2.3",
            plugin_name: "greeter-en",
            plugin_version: "0.4.1",
            panic_unwind: true,
            debug: false,
        });
        let back = PluginHeader::from_bytes(header.as_bytes());
        assert_eq!(back, header);
        assert_eq!(&header.as_bytes()[..8], b"XPLUGHDR");
        assert_eq!(field_str(&back.interface_name), Some("greeter"));
        assert_eq!(field_str(&back.plugin_version), Some("0.4.1"));
        assert_eq!(back.panic_strategy, PANIC_UNWIND);
        assert_eq!(back.profile, PROFILE_RELEASE);
        assert_eq!(&header.as_bytes()[418..420], &[1, 0]);
        assert!(field_str(&back.rustc_version)
            .unwrap()
            .starts_with("rustc "));
    }
}
