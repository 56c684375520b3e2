//! Windows (and any system without Unix file metadata): files are known by their real path,
//! and permissions are ACLs, which are the administrator's.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{FileId, Permissions};

pub(super) fn file_id(_: &fs::Metadata) -> Option<FileId> {
    None
}

/// Windows' link count needs an open handle (`GetFileInformationByHandle`): not asked.
pub(super) fn link_count(_: &fs::Metadata) -> Option<u64> {
    None
}

pub(super) fn open_nonblocking(path: &Path) -> io::Result<fs::File> {
    fs::File::open(path)
}

pub(super) fn canonicalize(path: &Path) -> io::Result<PathBuf> {
    let real = fs::canonicalize(path)?;
    #[cfg(windows)]
    let real = dunce::simplified(&real).to_path_buf();
    Ok(real)
}

pub(super) fn permissions(_: &fs::Metadata) -> Option<Permissions> {
    None
}

/// No lock between processes here (`FILE_LOCKS` is false): taken at once.
pub(super) fn lock_file(_: &fs::File, _wait: bool) -> io::Result<bool> {
    Ok(true)
}

pub(super) fn open_for_lock(path: &Path) -> io::Result<fs::File> {
    fs::File::open(path)
}

/// Directory entries are not synced separately here.
pub(super) fn sync_dir(_: &Path) -> io::Result<()> {
    Ok(())
}

pub(super) fn effective_user() -> Option<u32> {
    None
}
