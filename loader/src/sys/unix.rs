//! Unix: files are known by device and inode, and carry an owner and permission bits.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::{FileId, Permissions};

pub(super) fn file_id(meta: &fs::Metadata) -> Option<FileId> {
    Some(FileId::Inode {
        device: meta.dev(),
        inode: meta.ino(),
    })
}

pub(super) fn open_nonblocking(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

pub(super) fn canonicalize(path: &Path) -> io::Result<PathBuf> {
    fs::canonicalize(path)
}

pub(super) fn permissions(meta: &fs::Metadata) -> Option<Permissions> {
    Some(Permissions {
        mode: meta.mode() & 0o7777,
        owner: meta.uid(),
    })
}

pub(super) fn effective_user() -> Option<u32> {
    // SAFETY: `geteuid` has no preconditions.
    Some(unsafe { libc::geteuid() })
}
