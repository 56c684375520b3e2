//! Stage 1: the path names a regular file that not every user can write, opened once. For a
//! snapshot or a trust policy its bytes are read once, with a size cap, and every later stage
//! works on them; an in-place load without a policy reads only what stages 2 and 3 need.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ErrorKind, LoadError};

/// The largest plugin file read unless a host allows more (`Loader::max_file_size`): far above
/// any real plugin, far below what would strain a host's memory.
pub(crate) const DEFAULT_MAX_SIZE: u64 = 512 << 20;

/// A plugin file, opened once: every later read is through this descriptor, so a file renamed
/// over the path afterwards is not what gets read.
pub(crate) struct OpenFile {
    /// The real path (symlinks resolved), for reports.
    pub(crate) path: PathBuf,
    pub(crate) file: fs::File,
    pub(crate) meta: fs::Metadata,
}

/// What stage 1 enforces besides "a regular file".
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileRules {
    /// Files larger than this are refused before any read.
    pub(crate) max_size: u64,
    /// Accept a world-writable file or directory on its path (Unix).
    pub(crate) allow_writable_by_others: bool,
}

impl FileRules {
    /// For tools that only read a file (nothing of it runs): the default size limit, and any
    /// permissions.
    pub(crate) const READING: FileRules = FileRules {
        max_size: DEFAULT_MAX_SIZE,
        allow_writable_by_others: true,
    };
}

/// Stage 1 whole: [`open`], then [`read`]: the file and the bytes every later stage reads.
pub(crate) fn open_and_read(
    path: &Path,
    rules: FileRules,
) -> Result<(OpenFile, Vec<u8>), LoadError> {
    let open = open(path, rules)?;
    let bytes = read(&open, rules.max_size)?;
    Ok((open, bytes))
}

/// Resolves `path` (symlinks, `..`), opens it once without blocking (a FIFO put there does not
/// hang the host) and checks, on the open descriptor, that it is a regular file within the size
/// cap and, unless allowed, not world-writable.
pub(crate) fn open(path: &Path, rules: FileRules) -> Result<OpenFile, LoadError> {
    let real = match fs::canonicalize(path) {
        #[cfg(windows)]
        Ok(real) => dunce::simplified(&real).to_path_buf(),
        #[cfg(not(windows))]
        Ok(real) => real,
        Err(e) => return Err(io_error(path, e)),
    };
    let file = match open_nonblocking(&real) {
        Ok(file) => file,
        // Windows opens no directories this way: say what it is rather than "access denied".
        Err(e) => {
            return Err(match fs::metadata(&real) {
                Ok(meta) if meta.is_dir() => not_a_file(&real, "directory"),
                _ => io_error(&real, e),
            })
        }
    };
    let meta = file.metadata().map_err(|e| io_error(&real, e))?;
    if meta.is_dir() {
        return Err(not_a_file(&real, "directory"));
    }
    if !meta.is_file() {
        return Err(not_a_file(&real, "special file"));
    }
    if meta.len() > rules.max_size {
        return Err(LoadError::new(
            real,
            ErrorKind::TooLarge {
                size: meta.len(),
                limit: rules.max_size,
            },
        ));
    }
    if !rules.allow_writable_by_others {
        permissions::check(&real, &meta)?;
    }
    Ok(OpenFile {
        path: real,
        file,
        meta,
    })
}

fn not_a_file(path: &Path, kind: &'static str) -> LoadError {
    LoadError::new(path, ErrorKind::NotAFile { kind })
}

#[cfg(unix)]
pub(crate) fn open_nonblocking(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
pub(crate) fn open_nonblocking(path: &Path) -> io::Result<fs::File> {
    fs::File::open(path)
}

/// Reads the whole file once, through the descriptor stage 1 opened: the snapshot's bytes. A
/// file that grew past the cap since it was opened is refused without reading the rest.
pub(crate) fn read(open: &OpenFile, max_size: u64) -> Result<Vec<u8>, LoadError> {
    // The size is only a hint: the file may change while it is read.
    let hint = usize::try_from(open.meta.len().min(max_size)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(hint);
    (&open.file)
        .take(max_size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&open.path, e))?;
    let size = bytes.len() as u64;
    if size > max_size {
        return Err(LoadError::new(
            &open.path,
            ErrorKind::TooLarge {
                size,
                limit: max_size,
            },
        ));
    }
    Ok(bytes)
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

/// World-writable files and directories: whoever can write a plugin, or rename another file
/// over it, runs code in the host, so such a file is refused unless the host allows it (as
/// OpenSSH refuses such keys).
#[cfg(unix)]
mod permissions {
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use crate::error::{ErrorKind, LoadError};

    const WRITABLE_BY_ALL: u32 = 0o002;
    const STICKY: u32 = 0o1000;

    /// Refuses `path` if every user can write it, or can rename another file over it or over
    /// one of its directories: a world-writable directory on the way, unless it has the sticky
    /// bit (as `/tmp`) and the entry in it belongs to this user or to root.
    pub(super) fn check(path: &Path, file: &fs::Metadata) -> Result<(), LoadError> {
        if file.mode() & WRITABLE_BY_ALL != 0 {
            return Err(refused(path, path, "file", file.mode()));
        }
        // SAFETY: `geteuid` has no preconditions.
        let me = unsafe { libc::geteuid() };
        let mut entry_owner = file.uid();
        for dir in path.ancestors().skip(1) {
            let meta = match fs::metadata(dir) {
                Ok(meta) => meta,
                // An unreadable directory on the way: nothing to say about who writes it.
                Err(_) => break,
            };
            let mode = meta.mode();
            let protected = mode & STICKY != 0 && (entry_owner == me || entry_owner == 0);
            if mode & WRITABLE_BY_ALL != 0 && !protected {
                return Err(refused(path, dir, "directory", mode));
            }
            entry_owner = meta.uid();
        }
        Ok(())
    }

    fn refused(path: &Path, what: &Path, kind: &'static str, mode: u32) -> LoadError {
        LoadError::new(
            path,
            ErrorKind::WritableByOthers {
                kind,
                path: what.to_path_buf(),
                mode: mode & 0o7777,
            },
        )
    }
}

#[cfg(not(unix))]
mod permissions {
    use std::fs;
    use std::path::Path;

    use crate::error::LoadError;

    /// Windows ACLs are the administrator's: nothing is checked here.
    pub(super) fn check(_: &Path, _: &fs::Metadata) -> Result<(), LoadError> {
        Ok(())
    }
}
