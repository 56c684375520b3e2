//! Stage 1: the path names a regular, readable file.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ErrorKind, LoadError};

/// Resolves `path` (symlinks, `..`) and checks that it is a regular file; returns its real
/// path.
pub(crate) fn resolve(path: &Path) -> Result<PathBuf, LoadError> {
    let real = match fs::canonicalize(path) {
        #[cfg(windows)]
        Ok(real) => dunce::simplified(&real).to_path_buf(),
        #[cfg(not(windows))]
        Ok(real) => real,
        Err(e) => return Err(io_error(path, e)),
    };
    let meta = fs::metadata(&real).map_err(|e| io_error(&real, e))?;
    if meta.is_dir() {
        return Err(LoadError::new(
            real,
            ErrorKind::NotAFile { kind: "directory" },
        ));
    }
    if !meta.is_file() {
        return Err(LoadError::new(
            real,
            ErrorKind::NotAFile {
                kind: "special file",
            },
        ));
    }
    Ok(real)
}

/// The largest plugin file read unless a host allows more (`Loader::max_file_size`): far above
/// any real plugin, far below what would strain a host's memory.
pub(crate) const DEFAULT_MAX_SIZE: u64 = 512 << 20;

/// Refuses a file larger than `max_size` before any of it is read (a sparse file can claim
/// gigabytes that cost nothing on disk).
pub(crate) fn check_size(path: &Path, file: &fs::File, max_size: u64) -> Result<(), LoadError> {
    let size = file.metadata().map_err(|e| io_error(path, e))?.len();
    if size > max_size {
        return Err(LoadError::new(
            path,
            ErrorKind::TooLarge {
                size,
                limit: max_size,
            },
        ));
    }
    Ok(())
}

/// An I/O error on `path`: `NotFound` when nothing is there, `Unreadable` otherwise.
pub(crate) fn io_error(path: &Path, e: io::Error) -> LoadError {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound {},
        _ => ErrorKind::Unreadable {
            source: Arc::new(e),
        },
    };
    LoadError::new(path, kind)
}
