//! Stage 5, first half: `dlopen` of exactly the bytes stages 2 to 4 checked, then a
//! comparison of the header found in memory with the one checked, and abi_stable's header of
//! the root module.
//!
//! This is where a plugin's own code first runs: the dynamic loader runs the library's static
//! constructors (`.init_array`, `DllMain`) while opening it.
//!
//! What is opened:
//! - a snapshot (the default): the bytes read once at stage 1, in a private, sealed image. On
//!   Linux, a `memfd` sealed against writes, shrinking and growing, opened as
//!   `/proc/self/fd/N`; where memfds may not be executed (`vm.memfd_noexec = 2`), elsewhere,
//!   or when the host names a directory, a copy in a private directory (mode 0700 on Unix),
//!   removed once opened where the platform allows (Unix).
//! - in place: on Linux the very descriptor stage 1 opened (`/proc/self/fd/N`); elsewhere
//!   the path again.

// The functions below return the bare `ErrorKind`, which the caller wraps with the path into a
// (boxed, small) `LoadError`: a large `Err` is fine on these cold, private paths.
#![allow(clippy::result_large_err)]

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use abi_stable::library::{lib_header_from_raw_library, LibHeader, LibraryError, RawLibrary};
use xplug::header::{HEADER_SIZE, HEADER_SYMBOL};

use crate::error::{ErrorKind, LoadError};
use crate::registry::Library;
use crate::stages::file::OpenFile;
use crate::trust::Sha256;

/// An opened library: its abi_stable header, and the descriptor it was opened through.
#[derive(Clone)]
pub(crate) struct Opened {
    pub(crate) header: &'static LibHeader,
    /// Kept open while the library is loaded, which is for the life of the process: the
    /// dynamic loader knows the library by its path `/proc/self/fd/N`, and would return it
    /// for a later `dlopen` of that path were `N` reused for another file.
    _descriptor: Option<Arc<fs::File>>,
}

/// What to open.
pub(crate) enum Image<'a> {
    /// A private copy of these bytes, in `dir` if given.
    Snapshot {
        bytes: &'a [u8],
        sha256: &'a Sha256,
        dir: Option<&'a Path>,
    },
    /// The file stage 1 opened.
    InPlace(&'a OpenFile),
}

/// Opens `library` from `image` once per process and returns it; a failed `dlopen` is not
/// remembered, so the next load tries again.
pub(crate) fn open(library: &Library, path: &Path, image: Image<'_>) -> Result<Opened, LoadError> {
    let error = |kind| LoadError::new(path, kind).with_plugin(&library.info);
    let opened = library
        .opened
        .get_or_run(Result::is_ok, || open_image(library, image))
        .map_err(|_| {
            error(ErrorKind::Reentrant {
                step: "static constructors",
            })
        })?;
    opened.map_err(error)
}

fn open_image(library: &Library, image: Image<'_>) -> Result<Opened, ErrorKind> {
    let snapshot_error = |e: io::Error| ErrorKind::Snapshot {
        source: Arc::new(e),
    };
    let (raw, descriptor) = match image {
        Image::Snapshot { bytes, sha256, dir } => {
            let sealed = match dir {
                Some(_) => None,
                None => memfd::sealed(bytes, sha256).map_err(snapshot_error)?,
            };
            match sealed {
                Some((file, path)) => (dlopen(&path)?, Some(file)),
                None => {
                    let copy = private_dir::write(dir, bytes, sha256).map_err(snapshot_error)?;
                    let raw = dlopen(&copy);
                    private_dir::remove(&copy);
                    (raw?, None)
                }
            }
        }
        Image::InPlace(open) => in_place(open)?,
    };
    let symbol = nul_terminated(HEADER_SYMBOL);
    // SAFETY: a data symbol's value is its address, as `*const T`. Stage 3 found this symbol
    // defined in these bytes with the header's full size inside the file, and any bytes are
    // valid for a byte array: reading `HEADER_SIZE` bytes there is sound.
    let in_memory = unsafe { raw.get::<*const [u8; HEADER_SIZE]>(symbol.as_bytes()) }
        .map(|address| unsafe { std::ptr::read_unaligned(*address) });
    let result = match in_memory {
        Ok(bytes) if bytes == library.header => {
            // SAFETY: `lib_header_from_raw_library` returns `'static` references into the
            // library; they stay valid because the library is never unloaded (`raw` is
            // leaked right after, whatever the result).
            unsafe { lib_header_from_raw_library(&raw) }.map_err(root_module_error)
        }
        Ok(_) => Err(ErrorKind::HeaderChanged {}),
        Err(e) => Err(root_module_error(e)),
    };
    std::mem::forget(raw);
    match result {
        Ok(header) => Ok(Opened {
            header,
            _descriptor: descriptor.map(Arc::new),
        }),
        Err(e) => {
            // The library stays mapped although it is refused: its descriptor must stay open
            // too, or a later `dlopen` of `/proc/self/fd/N` would get this library back.
            std::mem::forget(descriptor);
            Err(e)
        }
    }
}

fn nul_terminated(name: &str) -> String {
    format!("{}\0", name)
}

fn dlopen(path: &Path) -> Result<RawLibrary, ErrorKind> {
    RawLibrary::load_at(path).map_err(|e| match e {
        LibraryError::OpenError { err, .. } => ErrorKind::Open {
            source: Arc::new(*err),
        },
        other => root_module_error(other),
    })
}

#[cfg(target_os = "linux")]
fn in_place(open: &OpenFile) -> Result<(RawLibrary, Option<fs::File>), ErrorKind> {
    let descriptor = open.file.try_clone().map_err(|e| ErrorKind::Unreadable {
        source: Arc::new(e),
    })?;
    Ok((dlopen(&memfd::path(&descriptor))?, Some(descriptor)))
}

#[cfg(not(target_os = "linux"))]
fn in_place(open: &OpenFile) -> Result<(RawLibrary, Option<fs::File>), ErrorKind> {
    Ok((dlopen(&open.path)?, None))
}

fn root_module_error(e: LibraryError) -> ErrorKind {
    match e {
        LibraryError::GetSymbolError { .. } => ErrorKind::RootModule {
            message: String::from(
                "the library has an xplug header but no root module (`export_plugin!` emits both)",
            ),
        },
        other => ErrorKind::RootModule {
            message: one_line(&other.to_string()),
        },
    }
}

/// abi_stable's messages span lines; a report line is one.
pub(crate) fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Sealed memfds (Linux).
#[cfg(target_os = "linux")]
mod memfd {
    use std::fs;
    use std::io::{self, Write};
    use std::os::unix::io::{AsRawFd, FromRawFd};
    use std::path::PathBuf;

    use crate::trust::Sha256;

    /// `MFD_EXEC` (Linux 6.3): an executable memfd where `vm.memfd_noexec = 1` makes them
    /// non-executable by default.
    const MFD_EXEC: u32 = 0x0010;

    /// The flags for an executable memfd on this kernel, or `None` where memfds may not be
    /// executed at all.
    fn exec_flag() -> Option<u32> {
        match std::fs::read_to_string("/proc/sys/vm/memfd_noexec") {
            // Kernels before 6.3: every memfd may be executed, and `MFD_EXEC` is unknown.
            Err(_) => Some(0),
            Ok(value) if value.trim() == "2" => None,
            Ok(_) => Some(MFD_EXEC),
        }
    }

    /// `bytes` in a new memfd, sealed: no one can write, shrink or grow it any more, or
    /// remove the seals. `None` where memfds may not be executed or do not exist.
    pub(super) fn sealed(bytes: &[u8], sha256: &Sha256) -> io::Result<Option<(fs::File, PathBuf)>> {
        let exec = match exec_flag() {
            Some(flag) => flag,
            None => return Ok(None),
        };
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | exec;
        // `/proc/PID/maps` shows it as `/memfd:xplug:<the first 16 digits of its SHA-256>`.
        let name = format!("xplug:{}\0", &sha256.to_string()[..16]);
        // SAFETY: the name is a NUL-terminated string; the call has no other inputs.
        let fd = unsafe { libc::memfd_create(name.as_ptr().cast(), flags) };
        if fd < 0 {
            let error = io::Error::last_os_error();
            // No memfds here (old kernel, seccomp): the private directory does instead.
            return match error.raw_os_error() {
                Some(libc::ENOSYS) | Some(libc::EPERM) | Some(libc::EINVAL) => Ok(None),
                _ => Err(error),
            };
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let mut file = unsafe { fs::File::from_raw_fd(fd) };
        file.write_all(bytes)?;
        let seals =
            libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
        // SAFETY: `fd` is open (owned by `file`); `F_ADD_SEALS` takes an int argument.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return Err(io::Error::last_os_error());
        }
        let path = path(&file);
        Ok(Some((file, path)))
    }

    /// The path through which the dynamic loader opens `file` itself.
    pub(super) fn path(file: &fs::File) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()))
    }
}

#[cfg(not(target_os = "linux"))]
mod memfd {
    use std::fs;
    use std::io;
    use std::path::PathBuf;

    use crate::trust::Sha256;

    pub(super) fn sealed(_: &[u8], _: &Sha256) -> io::Result<Option<(fs::File, PathBuf)>> {
        Ok(None)
    }
}

/// Snapshot copies in a private directory: the host's, or a per-user one.
pub(crate) mod private_dir {
    use std::fs;
    use std::io::{self, Write};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    use crate::trust::Sha256;

    /// Writes `bytes` to a new file in `dir` (or the default private directory), named after
    /// their digest, this process and a counter: no two loads share a name.
    pub(crate) fn write(dir: Option<&Path>, bytes: &[u8], sha256: &Sha256) -> io::Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => default_dir(),
        };
        ensure_private(&dir)?;
        remove_leftovers(&dir);
        let digest = sha256.to_string();
        loop {
            // Process ids repeat (quickly under wine): a name taken is skipped, not reused.
            let name = format!(
                "{}-{}-{}{}",
                &digest[..16],
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                std::env::consts::DLL_SUFFIX
            );
            let path = dir.join(name);
            let mut file = match create_new(&path) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                other => other?,
            };
            file.write_all(bytes)?;
            file.sync_data()?;
            return Ok(path);
        }
    }

    /// Windows keeps a loaded DLL's file, so copies outlive the processes that loaded them:
    /// once per process, remove those no process has loaded any more (the others cannot be
    /// removed). Unix removes each copy once opened.
    fn remove_leftovers(dir: &Path) {
        static ONCE: std::sync::Once = std::sync::Once::new();
        if cfg!(windows) {
            ONCE.call_once(|| {
                if let Ok(entries) = fs::read_dir(dir) {
                    for entry in entries.flatten() {
                        if crate::dir::is_library_file_name(&entry.path()) {
                            // In use by a running process: it stays.
                            let _ = fs::remove_file(entry.path());
                        }
                    }
                }
            });
        }
    }

    /// Removes a copy once opened, where the platform allows (Unix: the mapping stays; Windows
    /// keeps a loaded DLL's file).
    pub(crate) fn remove(path: &Path) {
        if cfg!(unix) {
            // A copy left behind costs disk space only; nothing else depends on it.
            let _ = fs::remove_file(path);
        }
    }

    /// `$XDG_RUNTIME_DIR/xplug`, else `xplug-<uid>` in the temporary directory (Unix); the
    /// user's temporary directory's `xplug` on Windows.
    fn default_dir() -> PathBuf {
        #[cfg(unix)]
        {
            if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
                if Path::new(&runtime).is_absolute() {
                    return Path::new(&runtime).join("xplug");
                }
            }
            // SAFETY: `geteuid` has no preconditions.
            let uid = unsafe { libc::geteuid() };
            std::env::temp_dir().join(format!("xplug-{}", uid))
        }
        #[cfg(not(unix))]
        {
            std::env::temp_dir().join("xplug")
        }
    }

    /// Creates `dir` if needed (mode 0700 on Unix) and checks that it is a real directory
    /// that only this user can enter.
    #[cfg(unix)]
    fn ensure_private(dir: &Path) -> io::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        match fs::DirBuilder::new().mode(0o700).create(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let meta = fs::symlink_metadata(dir)?;
        // SAFETY: `geteuid` has no preconditions.
        let me = unsafe { libc::geteuid() };
        if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o077 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} is not a private directory (a directory of this user with mode 0700)",
                    dir.display()
                ),
            ));
        }
        Ok(())
    }

    #[cfg(not(unix))]
    fn ensure_private(dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)
    }

    #[cfg(unix)]
    fn create_new(path: &Path) -> io::Result<fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o500)
            .open(path)
    }

    /// No one else may open the copy for writing while it is written.
    #[cfg(windows)]
    fn create_new(path: &Path) -> io::Result<fs::File> {
        use std::os::windows::fs::OpenOptionsExt;
        const FILE_SHARE_READ: u32 = 1;
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .share_mode(FILE_SHARE_READ)
            .open(path)
    }
}
