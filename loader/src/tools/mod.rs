//! For tools rather than hosts: reading a plugin's header without loading it, comparing two
//! builds of an interface, and the facts and names a tool prints. The `xplug` command is
//! built on these.

mod abi_diff;
mod change;
mod description;
mod inspect;

pub use crate::dir::{is_library_file_name, library_file_name};
pub use crate::error::escape_control;
pub use crate::host::host_target;
pub use crate::stages::compat::{check_interface_independent, default_requirement};
pub use abi_diff::{
    check_against, compare, compare_builds, Compared, Comparison, Input, VersionError,
};
pub use change::Change;
pub use description::{Description, DescriptionError, MAX_DESCRIPTION_BYTES};
pub use inspect::{inspect, inspect_bytes, Inspected};

/// The name a snapshot of `bytes` has in `/proc/PID/maps` on Linux (`/memfd:xplug:` and 16 hex
/// digits, the same in every process), and in the name of a snapshot copy in a private
/// directory (then followed by the process id and a counter): how an operator, or a test,
/// finds which snapshots a process holds. A name for people, not an identity: it hashes part
/// of the bytes (builds of one plugin may share it; compare the contents to be sure), and how
/// it is made may change between releases.
///
/// ```
/// let name = xplug_loader::tools::snapshot_name(b"\x7fELF");
/// assert!(name.starts_with("/memfd:xplug:") && name.len() == "/memfd:xplug:".len() + 16);
/// ```
pub fn snapshot_name(bytes: &[u8]) -> String {
    format!("/memfd:xplug:{}", crate::process::library::label(bytes))
}
