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
