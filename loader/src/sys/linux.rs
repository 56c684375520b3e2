//! Linux: sealed memfds, and a barrier on every thread of the process (`membarrier`).

use std::fs;
use std::io::{self, Write};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};

use super::SealedFile;

/// `MFD_EXEC` (Linux 6.3): an executable memfd where `vm.memfd_noexec = 1` makes them
/// non-executable by default.
const MFD_EXEC: u32 = 0x0010;

/// The flags for an executable memfd on this system, or `None` where memfds may not be
/// executed or opened by path.
pub(super) fn memfd_exec_flags() -> Option<u32> {
    // Without `/proc` (a chroot, some containers) no memfd can be opened by path.
    if !std::path::Path::new("/proc/self/fd").is_dir() {
        return None;
    }
    match fs::read_to_string("/proc/sys/vm/memfd_noexec") {
        // Before Linux 6.3 every memfd may be executed; `MFD_EXEC` is unknown.
        Err(_) => Some(0),
        Ok(value) if value.trim() == "2" => None,
        Ok(_) => Some(MFD_EXEC),
    }
}

/// A new empty memfd that may be sealed, made with `exec_flags`, closed on `exec`, shown in
/// `/proc/PID/maps` as `/memfd:xplug:<label>`; `None` where memfds do not exist here (old
/// kernel, seccomp).
fn new_memfd(label: &str, exec_flags: u32) -> io::Result<Option<fs::File>> {
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | exec_flags;
    let name = format!("xplug:{}\0", label);
    // SAFETY: the name is a NUL-terminated string; the call has no other inputs.
    let fd = unsafe { libc::memfd_create(name.as_ptr().cast(), flags) };
    if fd < 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::EINVAL) => Ok(None),
            _ => Err(error),
        };
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(Some(unsafe { fs::File::from_raw_fd(fd) }))
}

/// `bytes` in a new memfd, sealed: no one can write, shrink or grow it any more, or remove
/// the seals. `None` where memfds do not exist here (old kernel, seccomp).
pub(super) fn sealed_memfd(
    bytes: &[u8],
    label: &str,
    exec_flags: u32,
) -> io::Result<Option<SealedFile>> {
    let mut file = match new_memfd(label, exec_flags)? {
        Some(file) => file,
        None => return Ok(None),
    };
    file.write_all(bytes)?;
    add_seals(&file)?;
    // The dynamic loader opens the memfd itself through this path.
    let path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    Ok(Some(SealedFile { file, path }))
}

/// What `file` holds from its start, at most `limit` bytes, in a new memfd copied by the
/// kernel (`sendfile`: no pass through this process's memory, whatever its build), sealed as
/// [`sealed_memfd`]'s, and the number of bytes it holds. `None` where memfds do not exist here.
pub(super) fn sealed_copy(
    file: &fs::File,
    limit: u64,
    label: &str,
    exec_flags: u32,
) -> io::Result<Option<(SealedFile, u64)>> {
    let memfd = match new_memfd(label, exec_flags)? {
        Some(memfd) => memfd,
        None => return Ok(None),
    };
    // Where `off_t` is 32 bits, `sendfile` stops at 2 GiB: the caller reads such files itself.
    if limit > libc::off_t::MAX as u64 {
        return Ok(None);
    }
    let mut offset: libc::off_t = 0;
    let mut copied: u64 = 0;
    while copied < limit {
        // At most 1 GiB a call (`sendfile` moves at most 2 GiB less a page).
        let count = (limit - copied).min(1 << 30) as usize;
        // SAFETY: both descriptors are open for the call; `offset` is a live `off_t` the
        // kernel advances (the file's own position is left alone).
        let sent =
            unsafe { libc::sendfile(memfd.as_raw_fd(), file.as_raw_fd(), &mut offset, count) };
        match sent {
            0 => break,
            n if n > 0 => copied = copied.saturating_add(n as u64),
            _ => {
                let error = io::Error::last_os_error();
                match error.raw_os_error() {
                    Some(libc::EINTR) | Some(libc::EAGAIN) => {}
                    // A file system without `splice_read` (before Linux 6.5), or a policy
                    // that forbids the call: the caller reads the file itself.
                    Some(libc::EINVAL)
                    | Some(libc::ENOSYS)
                    | Some(libc::EOPNOTSUPP)
                    | Some(libc::EPERM)
                        if copied == 0 =>
                    {
                        return Ok(None)
                    }
                    _ => return Err(error),
                }
            }
        }
    }
    add_seals(&memfd)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", memfd.as_raw_fd()));
    Ok(Some((SealedFile { file: memfd, path }, copied)))
}

/// The first `len` bytes of `sealed`, mapped read-only. Its seals forbid writes and shrinking,
/// so what the mapping shows never changes and never faults.
pub(super) fn map_sealed(sealed: &SealedFile, len: usize) -> io::Result<*const u8> {
    // SAFETY: a new private read-only mapping of an open descriptor; no memory of this
    // process is touched.
    let map = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            sealed.file.as_raw_fd(),
            0,
        )
    };
    if map == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(map as *const u8)
}

/// Unmaps what [`map_sealed`] mapped.
///
/// # Safety
///
/// `map` and `len` are a mapping `map_sealed` returned, not unmapped yet and not used after.
pub(super) unsafe fn unmap(map: *const u8, len: usize) {
    // SAFETY: the caller's promise.
    unsafe { libc::munmap(map as *mut libc::c_void, len) };
}

/// Seals `file` against writes, shrinking, growing and new seals. `F_SEAL_WRITE` fails with
/// `EBUSY` while the kernel still holds an extra reference to one of the pages just written
/// (a per-CPU batch not drained yet, a migration under memory pressure); it waits about 75 ms
/// for them itself, and on a loaded machine that is sometimes too short: retried, with pauses
/// that double, for about half a second more.
fn add_seals(file: &fs::File) -> io::Result<()> {
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    let mut pause = std::time::Duration::from_millis(8);
    for _ in 0..6 {
        // SAFETY: `fd` is open (owned by `file`); `F_ADD_SEALS` takes an int argument.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EBUSY) {
            return Err(error);
        }
        std::thread::sleep(pause);
        pause *= 2;
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } == 0 {
        return Ok(());
    }
    Err(io::Error::last_os_error())
}

/// Whether the sealed memfd `file` holds exactly `bytes` (its seals keep it so).
pub(super) fn is_sealed(file: &fs::File) -> bool {
    let all = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: `F_GET_SEALS` on a descriptor `file` keeps open; it fails on other files.
    let seals = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & all == all
}

pub(super) fn memfd_holds(file: &fs::File, bytes: &[u8]) -> bool {
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 64 << 10;
    match file.metadata() {
        Ok(meta) if meta.len() == bytes.len() as u64 => {}
        _ => return false,
    }
    let mut buffer = vec![0u8; CHUNK.min(bytes.len())];
    let mut offset = 0u64;
    for expected in bytes.chunks(CHUNK) {
        let read = &mut buffer[..expected.len()];
        if file.read_exact_at(read, offset).is_err() || read != expected {
            return false;
        }
        offset += expected.len() as u64;
    }
    true
}

/// Opens `path`, an absolute path without `.` or `..` components, for reading without
/// blocking, if none of its components is a symlink (`openat2` with `RESOLVE_NO_SYMLINKS`,
/// Linux 5.6): the file opened is then the one `path` names as written, its real path.
/// `Ok(None)` where a component is a symlink, or the kernel (or a sandbox) refuses `openat2`.
pub(super) fn open_direct(path: &Path) -> io::Result<Option<fs::File>> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let name = match CString::new(path.as_os_str().as_bytes()) {
        Ok(name) => name,
        Err(_) => return Ok(None),
    };
    // SAFETY: `open_how` is plain integers: all zeros is a valid value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_NO_SYMLINKS;
    // SAFETY: `name` is NUL-terminated, `how` is a valid `open_how` whose size is passed; the
    // call reads both and returns a new descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            libc::AT_FDCWD,
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let error = io::Error::last_os_error();
        return match error.raw_os_error() {
            // A symlink on the way; no `openat2` here (old kernel, seccomp filter).
            Some(libc::ELOOP | libc::ENOSYS | libc::EPERM | libc::E2BIG | libc::EINVAL) => Ok(None),
            _ => Err(error),
        };
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(Some(unsafe { fs::File::from_raw_fd(fd as i32) }))
}

/// The path of the file `file` names, from `/proc/self/fd`; `None` where it cannot be read or
/// names no path (a deleted file, a pipe, a memfd).
pub(super) fn descriptor_path(file: &fs::File) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let link = fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    let bytes = link.as_os_str().as_bytes();
    if !link.is_absolute() || bytes.ends_with(b" (deleted)") {
        return None;
    }
    Some(link)
}

/// `membarrier(2)` commands.
use std::os::raw::{c_int, c_long};

const MEMBARRIER_CMD_QUERY: c_int = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: c_int = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: c_int = 1 << 4;

fn membarrier(command: c_int) -> c_long {
    // SAFETY: `membarrier` takes two integers and touches no memory of ours.
    unsafe { libc::syscall(libc::SYS_membarrier, command, 0 as c_int) }
}

/// Registers this process for private expedited `membarrier` (Linux 4.14); `false` where the
/// kernel (or a sandbox) does not offer it.
pub(super) fn register_process_barrier() -> bool {
    let offered = membarrier(MEMBARRIER_CMD_QUERY);
    let needed =
        (MEMBARRIER_CMD_PRIVATE_EXPEDITED | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) as c_long;
    offered >= 0
        && offered & needed == needed
        && membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0
}

/// A full memory barrier on every thread of this process that is running; `false` if the
/// kernel refused (the caller then cannot rely on it).
pub(super) fn process_barrier() -> bool {
    membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0
}
