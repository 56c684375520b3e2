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

pub(super) fn link_count(meta: &fs::Metadata) -> Option<u64> {
    Some(meta.nlink())
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

/// `flock(LOCK_EX)`, waiting or not; `Ok(false)` when it would have to wait.
pub(super) fn lock_file(file: &fs::File, wait: bool) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let operation = if wait {
        libc::LOCK_EX
    } else {
        libc::LOCK_EX | libc::LOCK_NB
    };
    loop {
        // SAFETY: `file` owns an open descriptor; `flock` has no other inputs.
        if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EWOULDBLOCK) => return Ok(false),
            _ => return Err(error),
        }
    }
}

pub(super) fn open_for_lock(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

pub(super) fn effective_user() -> Option<u32> {
    // SAFETY: `geteuid` has no preconditions.
    Some(unsafe { libc::geteuid() })
}

/// The library mapped at `address`: where it starts, and the name the dynamic loader knows it
/// by (`dladdr`).
pub(super) fn image_at(address: usize) -> Option<super::Image> {
    use std::ffi::CStr;
    // SAFETY: `Dl_info` is plain data (pointers and integers): all zeros is a valid value.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `dladdr` looks `address` up in the dynamic loader's list of libraries and writes
    // `info`; it never reads memory at `address`, which may be unmapped.
    if unsafe { libc::dladdr(address as *const libc::c_void, &mut info) } == 0 {
        return None;
    }
    let name = if info.dli_fname.is_null() {
        Vec::new()
    } else {
        // SAFETY: a non-null `dli_fname` is the NUL-terminated name of the library found,
        // valid while it stays loaded: copied at once.
        unsafe { CStr::from_ptr(info.dli_fname) }
            .to_bytes()
            .to_vec()
    };
    Some(super::Image {
        base: info.dli_fbase as usize,
        name,
    })
}
