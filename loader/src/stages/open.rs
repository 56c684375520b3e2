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
//! - in place: the path again (so that `$ORIGIN` is the plugin's directory); on Linux the
//!   path's device and inode, before and after `dlopen`, must be those of the file stage 1
//!   opened.

// The functions below return the bare `ErrorKind`, which the caller wraps with the path into a
// (boxed, small) `LoadError`: a large `Err` is fine on these cold, private paths.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::fs;
use std::io;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use abi_stable::library::{lib_header_from_raw_library, LibHeader, LibraryError, RawLibrary};
use xplug::header::{HEADER_SIZE, HEADER_SYMBOL};

use crate::error::{ErrorKind, LoadError};
use crate::plugin::Unloaded;
use crate::registry::{Library, Source};
use crate::stages::file::OpenFile;

/// An opened library: its abi_stable header, and its mapping.
#[derive(Clone)]
pub(crate) struct Opened {
    pub(crate) header: &'static LibHeader,
    pub(crate) mapping: Arc<Mapping>,
}

/// A library this process mapped: its handle, and the descriptor it was opened through.
///
/// Dropping it does nothing: a library stays loaded, and its descriptor open, unless
/// [`Mapping::unload`] is called. The descriptor must stay open while the library is mapped:
/// the dynamic loader knows the library by its path `/proc/self/fd/N`, and would return it for
/// a later `dlopen` of that path were `N` reused for another file.
pub(crate) struct Mapping {
    raw: ManuallyDrop<RawLibrary>,
    descriptor: ManuallyDrop<Option<Arc<fs::File>>>,
    /// The file mapped, where the system tells which files are mapped (Linux).
    file: Option<FileId>,
    /// A snapshot copy that outlives the `dlopen` (Windows keeps a loaded DLL's file).
    copy: Option<PathBuf>,
}

impl Mapping {
    /// Closes the library (`dlclose`, `FreeLibrary`: its destructors run), then closes its
    /// descriptor and removes its snapshot copy once it is known to be unmapped.
    ///
    /// # Safety
    /// Nothing of the library may be used afterwards: no call into it is running or will
    /// start, no value it made (pointers into its code or data) is alive, no thread it
    /// started runs, and nothing of it is registered anywhere (see `Plugin::unload`).
    pub(crate) unsafe fn unload(self) -> Unloaded {
        let Mapping {
            raw,
            descriptor,
            file,
            copy,
        } = self;
        // `dlclose`.
        drop(ManuallyDrop::into_inner(raw));
        let still_mapped = file.and_then(is_mapped);
        let remove_copy = || {
            if let Some(copy) = &copy {
                // Windows: a copy whose DLL is still loaded cannot be removed; the next
                // process removes it (`private_dir::remove_leftovers`).
                let _ = fs::remove_file(copy);
            }
        };
        match still_mapped {
            Some(false) => {
                drop(ManuallyDrop::into_inner(descriptor));
                remove_copy();
                Unloaded::Unmapped
            }
            // The descriptor stays open with the library it names (see `Mapping`).
            Some(true) => Unloaded::StillMapped,
            None => {
                // Not known to be unmapped: a descriptor stays open, for the same reason.
                remove_copy();
                Unloaded::Closed
            }
        }
    }
}

/// A file's identity: its device and inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(unix), allow(dead_code))]
pub(crate) struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    /// Where files have an identity (Unix).
    #[cfg(unix)]
    pub(crate) fn of(meta: &fs::Metadata) -> Option<FileId> {
        use std::os::unix::fs::MetadataExt;
        Some(FileId {
            device: meta.dev(),
            inode: meta.ino(),
        })
    }

    #[cfg(not(unix))]
    pub(crate) fn of(_: &fs::Metadata) -> Option<FileId> {
        None
    }
}

/// A snapshot's bytes in a sealed memfd, and the path through which it is opened.
pub(crate) struct Sealed {
    pub(crate) file: Arc<fs::File>,
    path: PathBuf,
}

/// `bytes` in a new sealed memfd (Linux); `None` where memfds may not be executed or do not
/// exist (a copy in a private directory does instead).
pub(crate) fn seal(bytes: &[u8]) -> Result<Option<Sealed>, ErrorKind> {
    let sealed = memfd::sealed(bytes, &label(bytes)).map_err(|e| ErrorKind::Snapshot {
        source: Arc::new(e),
    })?;
    Ok(sealed.map(|(file, path)| Sealed {
        file: Arc::new(file),
        path,
    }))
}

/// Whether the sealed memfd holds exactly `bytes`.
pub(crate) fn holds(sealed: &Sealed, bytes: &[u8]) -> bool {
    memfd::holds(&sealed.file, bytes)
}

/// Names a snapshot in `/proc/PID/maps` and in a private directory: 16 hex digits of the
/// XXH3-128 of its bytes.
pub(crate) fn label(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))[..16].to_owned()
}

/// What to open: the library's own [`Source`], with what this load has of it.
pub(crate) enum Image<'a> {
    /// A snapshot of these bytes (already in the library's sealed memfd, if it has one), to
    /// copy into `dir` (or the default private directory) otherwise.
    Snapshot {
        bytes: &'a [u8],
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
        .get_or_run(mapped, || open_image(library, image))
        .map_err(|_| {
            error(ErrorKind::Reentrant {
                step: "static constructors",
            })
        })?;
    opened.map_err(error)
}

/// Whether an outcome of opening is kept: everything but a failure that mapped nothing (the
/// dynamic loader's refusal, no snapshot), which the next load tries again. A library that
/// was mapped stays mapped: opening it again would run its constructors again.
fn mapped(outcome: &Result<Opened, ErrorKind>) -> bool {
    !matches!(
        outcome,
        Err(ErrorKind::Open { .. }) | Err(ErrorKind::Snapshot { .. })
    )
}

fn open_image(library: &Library, image: Image<'_>) -> Result<Opened, ErrorKind> {
    let snapshot_error = |e: io::Error| ErrorKind::Snapshot {
        source: Arc::new(e),
    };
    // Whether the library opened is the file checked: a path may name another file by now.
    let mut same_file = true;
    let (raw, descriptor, file, copy) = match (&library.source, image) {
        (Source::Sealed(sealed), _) => {
            let file = sealed.file.metadata().ok().and_then(|m| FileId::of(&m));
            (dlopen(&sealed.path)?, Some(sealed.file.clone()), file, None)
        }
        (Source::Copy(_), Image::Snapshot { bytes, dir }) => {
            let copy = private_dir::write(dir, bytes, &label(bytes)).map_err(snapshot_error)?;
            let file = fs::metadata(&copy).ok().and_then(|m| FileId::of(&m));
            let raw = dlopen(&copy);
            let kept = private_dir::remove(&copy);
            (raw?, None, file, kept.then_some(copy))
        }
        (Source::InPlace(_), Image::InPlace(open)) => {
            let (raw, same) = in_place(open)?;
            same_file = same;
            (raw, None, FileId::of(&open.meta), None)
        }
        // A load of another mode found this library: its source is another kind of file.
        (Source::Copy(_), Image::InPlace(_)) | (Source::InPlace(_), Image::Snapshot { .. }) => {
            return Err(ErrorKind::Snapshot {
                source: Arc::new(io::Error::new(
                    io::ErrorKind::Other,
                    "the plugin was registered by a load of another mode and not opened yet",
                )),
            })
        }
    };
    let symbol = nul_terminated(HEADER_SYMBOL);
    // SAFETY: a data symbol's value is its address, as `*const T`. Stage 3 found this symbol
    // defined in these bytes with the header's full size inside the file, and any bytes are
    // valid for a byte array: reading `HEADER_SIZE` bytes there is sound.
    let in_memory =
        unsafe { raw.get::<*const [u8; HEADER_SIZE]>(symbol.as_bytes()) }.map(|address| {
            let address: *const [u8; HEADER_SIZE] = *address;
            // SAFETY: as above: the header's bytes, defined by this library.
            let bytes = unsafe { std::ptr::read_unaligned(address) };
            (bytes, same_file)
        });
    let result = match in_memory {
        Ok((bytes, true)) if bytes == library.header => {
            // SAFETY: `lib_header_from_raw_library` returns `'static` references into the
            // library; they stay valid while it is loaded, which is until `Mapping::unload`,
            // whose contract is that nothing of the library is used any more.
            unsafe { lib_header_from_raw_library(&raw) }.map_err(root_module_error)
        }
        Ok(_) => Err(ErrorKind::HeaderChanged {}),
        Err(e) => Err(root_module_error(e)),
    };
    let mapping = Mapping {
        raw: ManuallyDrop::new(raw),
        descriptor: ManuallyDrop::new(descriptor),
        file,
        copy,
    };
    // A refused library stays mapped (`mapping` is dropped without unloading it).
    result.map(|header| Opened {
        header,
        mapping: Arc::new(mapping),
    })
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

/// Opens the file by its path, so that its `$ORIGIN` is its own directory. The dynamic
/// loader knows a library by the name it was opened with and returns the loaded one for the
/// same name, so a path opened before (whose file was since replaced) gets a fresh name for
/// the same directory: `dir/./file`, `dir/././file`, ...
///
/// Also says whether the path named the file stage 1 opened both before and after the
/// `dlopen` (where files have an identity: Unix), and so whether that file is what was
/// opened. (A file renamed away and back in between is not seen: in-place loading trusts
/// whoever can write the plugin's directory, see `LoadMode::InPlace`.)
fn in_place(open: &OpenFile) -> Result<(RawLibrary, bool), ErrorKind> {
    static OPENED: Mutex<Option<HashMap<PathBuf, usize>>> = Mutex::new(None);
    let name = {
        let mut opened = OPENED.lock().unwrap_or_else(PoisonError::into_inner);
        let count = opened
            .get_or_insert_with(HashMap::new)
            .entry(open.path.clone())
            .or_insert(0);
        let mut name = open
            .path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        for _ in 0..*count {
            name.push(".");
        }
        *count += 1;
        match open.path.file_name() {
            Some(file) => name.join(file),
            None => open.path.clone(),
        }
    };
    let checked = FileId::of(&open.meta);
    let named = || fs::metadata(&name).ok().and_then(|m| FileId::of(&m));
    let before = named();
    let raw = dlopen(&name)?;
    let same = checked.is_none() || (before == checked && named() == checked);
    Ok((raw, same))
}

/// Whether `file` is mapped into this process, from `/proc/self/maps` (as long as the
/// process has mappings: only unloading asks); `None` where it cannot be read.
#[cfg(target_os = "linux")]
fn is_mapped(file: FileId) -> Option<bool> {
    let maps = fs::read_to_string("/proc/self/maps").ok()?;
    let dev = file.device;
    // glibc's encoding of device numbers (`gnu_dev_major`, `gnu_dev_minor`).
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let device_field = format!("{:02x}:{:02x}", major, minor);
    Some(maps.lines().any(|line| {
        let mut fields = line.split_whitespace();
        let device = fields.nth(3).unwrap_or("");
        let inode = fields.next().and_then(|i| i.parse::<u64>().ok());
        device == device_field && inode == Some(file.inode)
    }))
}

#[cfg(not(target_os = "linux"))]
fn is_mapped(_: FileId) -> Option<bool> {
    None
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
    use std::sync::atomic::{AtomicU32, Ordering};

    /// `MFD_EXEC` (Linux 6.3): an executable memfd where `vm.memfd_noexec = 1` makes them
    /// non-executable by default.
    const MFD_EXEC: u32 = 0x0010;

    /// The flags for an executable memfd on this system, or `None` where memfds may not be
    /// executed or opened by path; asked once per process.
    fn exec_flag() -> Option<u32> {
        const UNKNOWN: u32 = u32::MAX;
        const NO_MEMFD: u32 = u32::MAX - 1;
        static FLAG: AtomicU32 = AtomicU32::new(UNKNOWN);
        let flag = match FLAG.load(Ordering::Relaxed) {
            UNKNOWN => {
                // Without `/proc` (a chroot, some containers) no memfd can be opened by path.
                let flag = if !std::path::Path::new("/proc/self/fd").is_dir() {
                    NO_MEMFD
                } else {
                    match std::fs::read_to_string("/proc/sys/vm/memfd_noexec") {
                        // Before Linux 6.3 every memfd may be executed; `MFD_EXEC` is unknown.
                        Err(_) => 0,
                        Ok(value) if value.trim() == "2" => NO_MEMFD,
                        Ok(_) => MFD_EXEC,
                    }
                };
                FLAG.store(flag, Ordering::Relaxed);
                flag
            }
            known => known,
        };
        if flag == NO_MEMFD {
            None
        } else {
            Some(flag)
        }
    }

    /// `bytes` in a new memfd, sealed: no one can write, shrink or grow it any more, or
    /// remove the seals. `None` where memfds may not be executed or do not exist.
    pub(super) fn sealed(bytes: &[u8], label: &str) -> io::Result<Option<(fs::File, PathBuf)>> {
        let exec = match exec_flag() {
            Some(flag) => flag,
            None => return Ok(None),
        };
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | exec;
        // `/proc/PID/maps` shows it as `/memfd:xplug:<label>`.
        let name = format!("xplug:{}\0", label);
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

    /// Whether the sealed memfd `file` holds exactly `bytes` (its seals keep it so).
    pub(super) fn holds(file: &fs::File, bytes: &[u8]) -> bool {
        use std::os::unix::fs::FileExt;
        const CHUNK: usize = 64 << 10;
        match file.metadata() {
            Ok(meta) if meta.len() == bytes.len() as u64 => {}
            _ => return false,
        }
        let mut buffer = vec![0u8; CHUNK.min(bytes.len())];
        let mut offset = 0usize;
        for expected in bytes.chunks(CHUNK) {
            let read = &mut buffer[..expected.len()];
            if file.read_exact_at(read, offset as u64).is_err() || read != expected {
                return false;
            }
            offset += expected.len();
        }
        true
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

    pub(super) fn sealed(_: &[u8], _: &str) -> io::Result<Option<(fs::File, PathBuf)>> {
        Ok(None)
    }

    pub(super) fn holds(_: &fs::File, _: &[u8]) -> bool {
        false
    }
}

/// Snapshot copies in a private directory: the host's, or a per-user one.
pub(crate) mod private_dir {
    use std::fs;
    use std::io::{self, Write};
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Writes `bytes` to a new file in `dir` (or the default private directory), named after
    /// their `label`, this process and a counter: no two loads share a name.
    pub(crate) fn write(dir: Option<&Path>, bytes: &[u8], label: &str) -> io::Result<PathBuf> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => default_dir(),
        };
        ensure_private(&dir)?;
        remove_leftovers(&dir);
        loop {
            // Process ids repeat (quickly under wine): a name taken is skipped, not reused.
            let name = format!(
                "{}-{}-{}{}",
                label,
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
                        if is_snapshot_name(&entry.file_name().to_string_lossy()) {
                            // In use by a running process: it stays.
                            let _ = fs::remove_file(entry.path());
                        }
                    }
                }
            });
        }
    }

    /// Removes a copy once opened, where the platform allows (Unix: the mapping stays), and
    /// says whether it is kept (Windows keeps a loaded DLL's file).
    pub(crate) fn remove(path: &Path) -> bool {
        if cfg!(unix) {
            // A copy left behind costs disk space only; nothing else depends on it.
            let _ = fs::remove_file(path);
        }
        !cfg!(unix)
    }

    /// Whether `name` is one `write` makes: `<16 hex digits>-<pid>-<n><DLL suffix>`.
    fn is_snapshot_name(name: &str) -> bool {
        let stem = match name.strip_suffix(std::env::consts::DLL_SUFFIX) {
            Some(stem) => stem,
            None => return false,
        };
        let mut parts = stem.split('-');
        let digits = |s: Option<&str>, hex: bool| {
            s.map_or(false, |s| {
                !s.is_empty()
                    && s.chars().all(|c| {
                        if hex {
                            c.is_ascii_hexdigit()
                        } else {
                            c.is_ascii_digit()
                        }
                    })
            })
        };
        let digest = parts.next();
        digest.map_or(false, |d| d.len() == 16)
            && digits(digest, true)
            && digits(parts.next(), false)
            && digits(parts.next(), false)
            && parts.next().is_none()
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
