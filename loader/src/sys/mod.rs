//! Every difference between platforms that the loader meets, behind one portable front (as
//! libloading keeps its `os::unix` and `os::windows`): which file a path names, its
//! permissions, descriptors, sealed memfds, the private snapshot directory, which files are
//! mapped, and what the host itself is. No other module of the loader names a platform.
//!
//! Nothing here keeps state: what the process remembers of these answers (the memfd flag,
//! the snapshot counter) lives in [`process`](crate::process).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod machine;
mod mapping;
pub(crate) mod private_dir;

#[cfg(target_vendor = "apple")]
mod apple;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(not(unix))]
mod other;
#[cfg(unix)]
mod unix;

#[cfg(not(unix))]
use other as imp;
#[cfg(unix)]
use unix as imp;

pub(crate) use machine::Platform;
pub(crate) use mapping::Mapping;
pub use mapping::Unloaded;

/// Which file a path names: its device and inode on Unix (hard links and renames keep it);
/// elsewhere, where files have no portable identity, its real path.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) enum FileId {
    /// A Unix file.
    Inode { device: u64, inode: u64 },
    /// The real path of a file where files have no identity of their own.
    Path(PathBuf),
}

impl FileId {
    /// The identity of the file whose metadata is `meta`, found at `path` (the identity
    /// where files have none of their own: pass the real path).
    pub(crate) fn of(path: &Path, meta: &fs::Metadata) -> FileId {
        imp::file_id(meta).unwrap_or_else(|| FileId::Path(path.to_path_buf()))
    }
}

/// Opens `path` for reading without blocking: a FIFO put where a plugin should be does not
/// hang the host.
pub(crate) fn open_nonblocking(path: &Path) -> io::Result<fs::File> {
    imp::open_nonblocking(path)
}

/// Reads up to `buf.len()` bytes of `file` from `offset`, leaving the descriptor's position
/// alone where the system allows it (Unix): one system call.
pub(crate) fn read_at(file: &fs::File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        std::os::windows::fs::FileExt::seek_read(file, buf, offset)
    }
    #[cfg(not(any(unix, windows)))]
    {
        use std::io::{Read, Seek};
        let mut file = file;
        file.seek(io::SeekFrom::Start(offset))?;
        file.read(buf)
    }
}

/// The real path of `path`, symlinks and `..` resolved, in the form users write it (on
/// Windows without the `\\?\` prefix where that names the same file).
pub(crate) fn canonicalize(path: &Path) -> io::Result<PathBuf> {
    imp::canonicalize(path)
}

/// Opens `path` for reading without blocking, as [`open_nonblocking`] does, where the system can
/// tell at once that no component of it is a symlink (Linux: `openat2`): the file and the real
/// path, `path` made absolute. `Ok(None)` where it cannot tell, or a component is a symlink.
pub(crate) fn open_direct(path: &Path) -> io::Result<Option<(fs::File, PathBuf)>> {
    #[cfg(target_os = "linux")]
    {
        use std::path::Component;
        let absolute = if path.is_absolute() {
            path.to_path_buf()
        } else {
            // No working directory (removed meanwhile): the long way says what is wrong.
            match std::env::current_dir() {
                Ok(dir) => dir.join(path),
                Err(_) => return Ok(None),
            }
        };
        // `.`, `..`, repeated separators and a trailing one would be written differently in a
        // real path (and a trailing one asks for a directory).
        use std::os::unix::ffi::OsStrExt;
        if path.as_os_str().as_bytes().ends_with(b"/") {
            return Ok(None);
        }
        let plain = absolute
            .components()
            .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        if !plain {
            return Ok(None);
        }
        let real: PathBuf = absolute.components().collect();
        Ok(linux::open_direct(&real)?.map(|file| (file, real)))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        Ok(None)
    }
}

/// The real path of the file `file`, just opened from `path`: where the system says which file
/// a descriptor names (Linux: `/proc/self/fd`, one call), from the descriptor; elsewhere `path`
/// resolved again ([`canonicalize`]), which must name the same file (where files have an
/// identity): a path renamed over meanwhile is an error, not another file's name.
pub(crate) fn real_path(file: &fs::File, path: &Path) -> io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    if let Some(real) = linux::descriptor_path(file) {
        return Ok(real);
    }
    let real = canonicalize(path)?;
    let opened = FileId::of(path, &file.metadata()?);
    // Where files have no identity (Windows), there is nothing to compare.
    if matches!(opened, FileId::Inode { .. }) && opened != FileId::of(&real, &fs::metadata(&real)?)
    {
        return Err(io::Error::new(
            io::ErrorKind::Other,
            "the path was replaced while it was opened",
        ));
    }
    Ok(real)
}

/// Who owns a file and who may write it, where the platform says so in its metadata (Unix).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Permissions {
    /// The permission bits (`st_mode & 0o7777`).
    pub(crate) mode: u32,
    /// The owner's user id.
    pub(crate) owner: u32,
}

impl Permissions {
    /// Every user may write it.
    pub(crate) const WRITABLE_BY_ALL: u32 = 0o002;
    /// Only an entry's owner may remove or rename it (a directory's sticky bit, as `/tmp`).
    pub(crate) const STICKY: u32 = 0o1000;
}

/// `meta`'s owner and permission bits; `None` where files have none of these (Windows: its
/// ACLs are the administrator's).
pub(crate) fn permissions(meta: &fs::Metadata) -> Option<Permissions> {
    imp::permissions(meta)
}

/// How many directory entries name the file whose metadata is `meta` (Unix); `None` where
/// the system does not say.
#[cfg_attr(not(feature = "reload"), allow(dead_code))]
pub(crate) fn link_count(meta: &fs::Metadata) -> Option<u64> {
    imp::link_count(meta)
}

/// Whether the system's file events (through `notify`) say when a writer closes a file it
/// wrote: Linux and Android (inotify's `IN_CLOSE_WRITE`). ReadDirectoryChangesW, FSEvents and
/// kqueue say only that a file changed.
#[cfg_attr(not(feature = "reload"), allow(dead_code))]
pub(crate) const FILE_EVENTS_REPORT_CLOSE: bool =
    cfg!(any(target_os = "linux", target_os = "android"));

/// The user id this process acts as (Unix).
pub(crate) fn effective_user() -> Option<u32> {
    imp::effective_user()
}

/// Whether [`lock_file`] and [`try_lock_file`] lock files between processes here (Unix:
/// `flock`); elsewhere they lock nothing.
pub(crate) const FILE_LOCKS: bool = cfg!(unix);

/// Waits for an exclusive lock of `file`, held until it is closed (Unix: `flock`).
pub(crate) fn lock_file(file: &fs::File) -> io::Result<()> {
    imp::lock_file(file, true).map(|_| ())
}

/// Takes an exclusive lock of `file` if no one holds one, held until it is closed; says
/// whether it did (Unix: `flock`).
pub(crate) fn try_lock_file(file: &fs::File) -> io::Result<bool> {
    imp::lock_file(file, false)
}

/// Opens `path` read-only to lock it: without following a symlink or waiting on a FIFO put
/// there (Unix).
pub(crate) fn open_for_lock(path: &Path) -> io::Result<fs::File> {
    imp::open_for_lock(path)
}

/// Gives `copy`, a snapshot copy of `original`, the marks the system's policy for running code
/// reads from a file besides its bytes (macOS: a downloaded file's quarantine attribute, so
/// that Gatekeeper assesses the copy as it would the file); nothing elsewhere.
pub(crate) fn carry_marks(original: &fs::File, copy: &fs::File) -> io::Result<()> {
    #[cfg(target_vendor = "apple")]
    {
        apple::carry_marks(original, copy)
    }
    #[cfg(not(target_vendor = "apple"))]
    {
        let _ = (original, copy);
        Ok(())
    }
}

/// Puts the directory `dir`'s entries on disk (a rename in it), where the system allows.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    imp::sync_dir(dir)
}

/// Makes [`process_barrier`] available to this process, where the system has one (Linux:
/// `membarrier`, registered once); `false` where it does not: threads that rely on it must
/// then issue a full fence themselves.
#[cfg_attr(not(feature = "reload"), allow(dead_code))]
pub(crate) fn register_process_barrier() -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::register_process_barrier()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// A full memory barrier on every running thread of this process, after
/// [`register_process_barrier`] returned `true`: a thread that only stopped its compiler from
/// reordering (`compiler_fence`) is ordered as if it had issued a fence. `false` if the system
/// refused.
#[cfg_attr(not(feature = "reload"), allow(dead_code))]
pub(crate) fn process_barrier() -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::process_barrier()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// A library mapped into this process, as the dynamic loader knows it: where it starts and
/// its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Image {
    pub(crate) base: usize,
    pub(crate) name: Vec<u8>,
}

/// The library mapped at `address` (Linux, FreeBSD: `dl_iterate_phdr`; macOS: `dladdr`;
/// Windows: `GetModuleHandleExW`; none reads the address); `None` where none is, or the system
/// does not say.
pub(crate) fn image_at(address: usize) -> Option<Image> {
    imp::image_at(address)
}

/// A snapshot's bytes in a sealed memfd (Linux): the file, and the path through which the
/// dynamic loader opens it.
pub(crate) struct SealedFile {
    pub(crate) file: fs::File,
    pub(crate) path: PathBuf,
}

/// The flags that make an executable memfd on this system, or `None` where memfds may not be
/// executed or opened by path (asked afresh at each call; `process` remembers the answer).
pub(crate) fn memfd_exec_flags() -> Option<u32> {
    #[cfg(target_os = "linux")]
    {
        linux::memfd_exec_flags()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// `bytes` in a new memfd made with `exec_flags`, sealed against writes, shrinking, growing
/// and new seals, named after `label` in `/proc/PID/maps`. `None` where memfds do not exist
/// (the private directory does instead).
pub(crate) fn sealed_memfd(
    bytes: &[u8],
    label: &str,
    exec_flags: u32,
) -> io::Result<Option<SealedFile>> {
    #[cfg(target_os = "linux")]
    {
        linux::sealed_memfd(bytes, label, exec_flags)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (bytes, label, exec_flags);
        Ok(None)
    }
}

/// A snapshot the kernel copied from a file into a sealed memfd, and its bytes mapped
/// read-only: what the checks read is what runs, and no byte of it passed through this
/// process's memory on the way.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct SealedBytes {
    sealed: Arc<SealedFile>,
    map: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and its memfd sealed against writes and shrinking: its bytes
// never change, and they are unmapped only by the drop of the one owner.
unsafe impl Send for SealedBytes {}
// SAFETY: as above: shared access only reads bytes that never change.
unsafe impl Sync for SealedBytes {}

impl SealedBytes {
    /// The sealed memfd.
    pub(crate) fn sealed(&self) -> &Arc<SealedFile> {
        &self.sealed
    }

    /// Its bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `map` is a live read-only mapping of `len` bytes of a memfd sealed against
        // writes and shrinking (`sealed_copy`), unmapped only when `self` is dropped.
        unsafe { std::slice::from_raw_parts(self.map, self.len) }
    }
}

impl Drop for SealedBytes {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if self.len != 0 {
            // SAFETY: the mapping `sealed_copy` made, unmapped once, here; the slices
            // `bytes` handed out borrowed `self`, so none outlives it.
            unsafe { linux::unmap(self.map, self.len) }
        }
    }
}

/// What [`sealed_copy`] made.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) enum Copied {
    /// The file's bytes, sealed and mapped.
    Bytes(SealedBytes),
    /// The file holds more than `max_size` bytes (at least this many): nothing was mapped.
    TooLarge(u64),
    /// No memfd here, or the kernel cannot copy this file: read it instead.
    Unavailable,
}

/// What `file` holds from its start, at most `max_size` bytes, copied by the kernel into a new
/// memfd made with `exec_flags` and sealed (see [`sealed_memfd`]), mapped read-only.
pub(crate) fn sealed_copy(
    file: &fs::File,
    max_size: u64,
    label: &str,
    exec_flags: u32,
) -> io::Result<Copied> {
    #[cfg(target_os = "linux")]
    {
        let limit = max_size.saturating_add(1);
        let (sealed, copied) = match linux::sealed_copy(file, limit, label, exec_flags)? {
            Some(made) => made,
            None => return Ok(Copied::Unavailable),
        };
        let len = match usize::try_from(copied) {
            Ok(len) if copied <= max_size => len,
            _ => return Ok(Copied::TooLarge(copied)),
        };
        let map = if len == 0 {
            std::ptr::null()
        } else {
            linux::map_sealed(&sealed, len)?
        };
        Ok(Copied::Bytes(SealedBytes {
            sealed: Arc::new(sealed),
            map,
            len,
        }))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, max_size, label, exec_flags);
        Ok(Copied::Unavailable)
    }
}

/// Whether `file` is a memfd sealed against every change (writes, growing, shrinking, and
/// new seals): what was read from it stays what it holds.
pub(crate) fn is_sealed(file: &fs::File) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::is_sealed(file)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = file;
        false
    }
}

/// Whether `sealed` holds exactly `bytes`: a sealed memfd (its seals keep it so), or a copy on
/// disk read again.
pub(crate) fn sealed_holds(sealed: &SealedFile, bytes: &[u8]) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::memfd_holds(&sealed.file, bytes)
    }
    // A copy on disk (Windows): read again.
    #[cfg(not(target_os = "linux"))]
    {
        fs::read(&sealed.path).map_or(false, |held| held == bytes)
    }
}
