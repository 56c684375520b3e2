//! Stage 5, second half: abi_stable's recursive check of the root module's type layout
//! against the host's, and the module itself. [`difference`] turns a failed check into the
//! first difference, in Rust syntax.

mod difference;

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::LibHeader;
use abi_stable::StableAbi;
use std::path::Path;
use xplug::Interface;

use crate::error::{ErrorKind, LoadError};
use crate::host::host_version;
use crate::registry::Library;

pub(crate) use difference::first_difference;

/// Checks the root module's whole type layout against `M`'s and returns the module.
///
/// abi_stable lets a library's prefix types have more fields than the host's (a newer minor
/// version), not fewer. xplug also loads older minor versions, whose root module is a prefix
/// of the host's: for those, the plugin's layout is checked as the interface and the host's
/// as its implementation, and the host's accessors report the appended functions absent.
pub(crate) fn module<M: Interface>(
    library: &Library,
    path: &Path,
    header: &'static LibHeader,
) -> Result<M, LoadError> {
    let error = |kind| LoadError::new(path, kind).with_plugin(&library.info);
    let found = header.layout().ok_or_else(|| {
        error(ErrorKind::RootModule {
            message: String::from("the library exports no type-layout information"),
        })
    })?;
    let host = host_version::<M>();
    let expected = <M as StableAbi>::LAYOUT;
    let checked = if library.info.interface_version < host {
        check_layout_compatibility(found, expected)
    } else {
        check_layout_compatibility(expected, found)
    };
    if let Err(errors) = checked {
        return Err(error(ErrorKind::LayoutMismatch {
            interface: library.info.interface_name.clone(),
            found: library.info.interface_version.clone(),
            host_version: host,
            difference: Box::new(first_difference(&errors)),
            details: errors.to_string(),
        }));
    }
    // SAFETY: the root module's whole type layout was checked against `M`'s just above.
    unsafe { header.unchecked_layout::<M>() }.map_err(|e| {
        error(ErrorKind::RootModule {
            message: crate::stages::open::one_line(&e.to_string()),
        })
    })
}
