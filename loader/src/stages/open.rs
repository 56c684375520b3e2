//! Stage 5, first half: `dlopen`, and abi_stable's header of the root module.
//!
//! This is where a plugin's own code first runs: the dynamic loader runs the library's static
//! constructors (`.init_array`, `DllMain`) while opening it.

use std::mem;
use std::sync::Arc;

use abi_stable::library::{lib_header_from_raw_library, LibHeader, LibraryError, RawLibrary};

use crate::error::{ErrorKind, LoadError};
use crate::registry::Library;

/// Opens `library` once per process and returns its abi_stable header.
pub(crate) fn open(library: &Library) -> Result<&'static LibHeader, LoadError> {
    library.opened.get_or_try_init(|| {
        let raw = RawLibrary::load_at(&library.path).map_err(|e| error(library, e))?;
        // SAFETY: `lib_header_from_raw_library` returns `'static` references into the
        // library; they stay valid because the library is never unloaded (`raw` is leaked
        // right after, whatever the result).
        let header = unsafe { lib_header_from_raw_library(&raw) };
        mem::forget(raw);
        header.map_err(|e| error(library, e))
    })
}

fn error(library: &Library, e: LibraryError) -> LoadError {
    library.error(match e {
        LibraryError::OpenError { err, .. } => ErrorKind::Open {
            source: Arc::new(*err),
        },
        LibraryError::GetSymbolError { .. } => ErrorKind::RootModule {
            message: String::from(
                "the library has an xplug header but no root module (`export_plugin!` emits both)",
            ),
        },
        other => ErrorKind::RootModule {
            message: one_line(&other.to_string()),
        },
    })
}

/// abi_stable's messages span lines; a report line is one.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
