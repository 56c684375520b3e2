//! Who else may write a plugin file: whoever can write it, or rename another file over it,
//! runs code in the host, so a file every user can write is refused unless the host allows it
//! (as OpenSSH refuses such keys). Where files carry no Unix permissions (Windows: ACLs are the
//! administrator's), nothing is checked.

use std::fs;
use std::path::Path;

use crate::error::{ErrorKind, LoadError};
use crate::sys::{self, Permissions};

/// Refuses `path` (a real path, whose metadata is `file`) if every user can write it, or can
/// rename another file over it or over one of its directories: a world-writable directory on
/// the way, unless it has the sticky bit (as `/tmp`) and the entry in it belongs to this user
/// or to root.
pub(crate) fn check(path: &Path, file: &fs::Metadata) -> Result<(), LoadError> {
    let (file, me) = match (sys::permissions(file), sys::effective_user()) {
        (Some(file), Some(me)) => (file, me),
        _ => return Ok(()),
    };
    if file.mode & Permissions::WRITABLE_BY_ALL != 0 {
        return Err(refused(path, path, "file", file.mode));
    }
    let mut entry_owner = file.owner;
    for dir in path.ancestors().skip(1) {
        let meta = match fs::metadata(dir).ok().as_ref().and_then(sys::permissions) {
            Some(meta) => meta,
            // An unreadable directory on the way: nothing to say about who writes it.
            None => break,
        };
        let protected =
            meta.mode & Permissions::STICKY != 0 && (entry_owner == me || entry_owner == 0);
        if meta.mode & Permissions::WRITABLE_BY_ALL != 0 && !protected {
            return Err(refused(path, dir, "directory", meta.mode));
        }
        entry_owner = meta.owner;
    }
    Ok(())
}

fn refused(path: &Path, what: &Path, kind: &'static str, mode: u32) -> LoadError {
    LoadError::new(
        path,
        ErrorKind::WritableByOthers {
            kind,
            path: what.to_path_buf(),
            mode,
        },
    )
}
