//! For tools rather than hosts: reading a plugin's header without loading it, comparing two
//! builds of an interface, and the facts and names a tool prints. The `xplug` command is
//! built on these.

mod abi_diff;
mod inspect;

pub use crate::error::escape_control;
pub use crate::host::host_target;
pub use crate::stages::compat::default_requirement;
pub use abi_diff::{check_against, compare_builds, Change, Comparison, VersionError};
pub use inspect::{inspect, inspect_bytes, Inspected};

/// Whether `path` is named like a shared library of this platform.
pub fn is_library_file_name(path: &std::path::Path) -> bool {
    path.extension()
        .map_or(false, |ext| ext == std::env::consts::DLL_EXTENSION)
}

/// This platform's file name for the library `name`: `libname.so`, `name.dll`,
/// `libname.dylib`.
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name,
        std::env::consts::DLL_SUFFIX
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn library_names_follow_the_platform() {
        let name = library_file_name("greeter_en");
        assert!(is_library_file_name(Path::new(&name)));
        assert!(!is_library_file_name(Path::new("README.md")));
    }
}
