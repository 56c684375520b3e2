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
/// by. Asked of the dynamic loader's list of libraries with its lock held
/// (`dl_iterate_phdr`): a library another thread closes meanwhile cannot free the name while
/// it is copied.
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(super) fn image_at(address: usize) -> Option<super::Image> {
    struct Search {
        address: usize,
        found: Option<super::Image>,
    }
    /// `PT_LOAD`: a segment mapped from the file.
    const LOADED: u32 = 1;
    /// # Safety
    /// Called by `dl_iterate_phdr` with a valid `info` and the `data` passed to it.
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> std::os::raw::c_int {
        // SAFETY: `data` is the `Search` `image_at` passes, borrowed by nothing else during
        // the iteration; `info` is valid for this call.
        let (search, info) = unsafe { (&mut *(data as *mut Search), &*info) };
        let base = info.dlpi_addr as usize;
        let headers = if info.dlpi_phdr.is_null() {
            &[][..]
        } else {
            // SAFETY: the dynamic loader's program headers of this library, `dlpi_phnum` of
            // them, valid for this call.
            unsafe { std::slice::from_raw_parts(info.dlpi_phdr, usize::from(info.dlpi_phnum)) }
        };
        let inside = headers.iter().any(|header| {
            let start = base.wrapping_add(header.p_vaddr as usize);
            header.p_type == LOADED
                && search.address >= start
                && search.address - start < header.p_memsz as usize
        });
        if !inside {
            return 0;
        }
        let name = if info.dlpi_name.is_null() {
            Vec::new()
        } else {
            // SAFETY: a NUL-terminated name, valid for this call (the loader's lock is held).
            unsafe { std::ffi::CStr::from_ptr(info.dlpi_name) }
                .to_bytes()
                .to_vec()
        };
        search.found = Some(super::Image { base, name });
        1
    }
    let mut search = Search {
        address,
        found: None,
    };
    // SAFETY: `visit` upholds the callback's contract and never unwinds (it does not panic
    // but on allocation failure, which aborts); `search` outlives the call.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut search as *mut Search as *mut libc::c_void) };
    search.found
}

/// The library mapped at `address`: where it starts, and the name the dynamic loader knows it
/// by (`dladdr`). Its name is copied at once; after an unload the address may lie in another
/// library, which another thread could close while its name is copied (a window of a few
/// instructions that dyld's API gives no lock against).
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
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
