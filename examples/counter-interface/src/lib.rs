//! The `counter` plugin interface: the demo's hot-reload example.
//!
//! A counter plugin keeps its count in a static. When a live handle replaces it with a newer
//! version, the old version's `save_state` hands the count to the new one's `restore_state`,
//! so the count goes on across reloads.
#![warn(missing_docs)]

use abi_stable::std_types::RString;

/// Counts. Everything it passes crosses to an isolated plugin (`isolated`: checked when it
/// compiles).
#[xplug::interface(name = "counter", isolated)]
pub trait Counter {
    /// Counts one more; returns the new count.
    fn next() -> u64;
    /// Which plugin answers: its name and version, as its header says.
    fn version() -> RString;
}

/// The state a counter hands to its successor: the count, 8 bytes little-endian.
pub fn encode_count(count: u64) -> Vec<u8> {
    count.to_le_bytes().to_vec()
}

/// The count from a predecessor's state, or why the bytes are not one.
pub fn decode_count(state: &[u8]) -> Result<u64, String> {
    let bytes: [u8; 8] = state
        .try_into()
        .map_err(|_| format!("expected an 8-byte count, got {} bytes", state.len()))?;
    Ok(u64::from_le_bytes(bytes))
}

/// The plugin's name and version from its header `header` as loaded. Plugins pass their own
/// `XPLUG_PLUGIN_HEADER`, read with a volatile load so that the answer is the file's, not a
/// constant compiled in: a file whose header was stamped after the build answers truthfully.
pub fn label(header: &xplug::PluginHeader) -> RString {
    // SAFETY: `header` is a valid reference; a volatile read of it is a plain read.
    let header = unsafe { std::ptr::read_volatile(header) };
    let field = |bytes: &[u8]| xplug::header::field_str(bytes).unwrap_or("?").to_owned();
    format!(
        "{} {}",
        field(&header.plugin_name),
        field(&header.plugin_version)
    )
    .into()
}
