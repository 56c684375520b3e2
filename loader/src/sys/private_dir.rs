//! Snapshot copies in a private directory (the host's, or a per-user one): where memfds may
//! not be executed, on Windows and macOS, and when the host names a directory.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Writes `bytes` to a new file in `dir` (or the default private directory), named after
/// their `label`, this process and `counter()`: a name taken is skipped, never reused (process
/// ids repeat, quickly under wine). The copy carries the marks the system's policy for
/// running code reads from `original`, the file the bytes were read from
/// ([`carry_marks`](super::carry_marks)).
pub(crate) fn write(
    dir: Option<&Path>,
    bytes: &[u8],
    label: &str,
    counter: impl FnMut() -> u64,
    original: Option<&fs::File>,
) -> io::Result<PathBuf> {
    write_held(dir, bytes, label, counter, original).map(|(path, _)| path)
}

/// [`write`], and the handle it wrote through, still open: on Windows no one else may write,
/// rename or delete the copy while it is held (another process's sweep of leftovers
/// included).
pub(crate) fn write_held(
    dir: Option<&Path>,
    bytes: &[u8],
    label: &str,
    mut counter: impl FnMut() -> u64,
    original: Option<&fs::File>,
) -> io::Result<(PathBuf, fs::File)> {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => default_dir(),
    };
    ensure_private(&dir)?;
    loop {
        let name = format!(
            "{}-{}-{}{}",
            label,
            std::process::id(),
            counter(),
            std::env::consts::DLL_SUFFIX
        );
        let path = dir.join(name);
        let mut file = match create_new(&path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            other => other?,
        };
        let written = file.write_all(bytes).and_then(|()| {
            if let Some(original) = original {
                super::carry_marks(original, &file)?;
            }
            seal_mode(&file)
        });
        if let Err(e) = written {
            // A copy half written or unmarked is never opened: it goes.
            drop(file);
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        return Ok((path, file));
    }
}

/// Whether copies outlive the processes that loaded them (Windows keeps a loaded DLL's file),
/// so that a process should remove the leftovers of earlier ones ([`remove_leftovers`]).
pub(crate) const COPIES_OUTLIVE_PROCESSES: bool = cfg!(windows);

/// Removes the copies in `dir` (or the default directory) that no process has loaded any more
/// (the others cannot be removed while loaded).
pub(crate) fn remove_leftovers(dir: Option<&Path>) {
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => default_dir(),
    };
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if is_snapshot_name(&entry.file_name().to_string_lossy()) {
                // In use by a running process: it stays.
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Removes a copy once opened, where the platform allows (Unix: the mapping stays), and says
/// whether it is kept (Windows keeps a loaded DLL's file).
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

/// `$XDG_RUNTIME_DIR/xplug`, else `xplug-<uid>` in the temporary directory (Unix); the user's
/// temporary directory's `xplug` on Windows.
fn default_dir() -> PathBuf {
    #[cfg(unix)]
    {
        if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
            if Path::new(&runtime).is_absolute() {
                return Path::new(&runtime).join("xplug");
            }
        }
        let uid = super::effective_user().unwrap_or(0);
        std::env::temp_dir().join(format!("xplug-{}", uid))
    }
    #[cfg(not(unix))]
    {
        std::env::temp_dir().join("xplug")
    }
}

/// Creates `dir` if needed (mode 0700 on Unix) and checks that it is a real directory that
/// only this user can enter.
#[cfg(unix)]
pub(crate) fn ensure_private(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = fs::symlink_metadata(dir)?;
    let me = super::effective_user();
    if !meta.is_dir() || Some(meta.uid()) != me || meta.mode() & 0o077 != 0 {
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
pub(crate) fn ensure_private(dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)
}

/// Writable by its owner while it is written and marked (macOS checks a file's mode, not the
/// descriptor's access, before it sets an attribute); read-only afterwards ([`seal_mode`]).
#[cfg(unix)]
fn create_new(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(path)
}

/// Read and run by its owner only, once written (Unix).
#[cfg(unix)]
fn seal_mode(file: &fs::File) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(fs::Permissions::from_mode(0o500))
}

#[cfg(not(unix))]
fn seal_mode(_: &fs::File) -> io::Result<()> {
    Ok(())
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

#[cfg(not(any(unix, windows)))]
fn create_new(path: &Path) -> io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_copy_holds_the_bytes_and_only_its_owner_may_read_and_run_it() {
        let dir = std::env::temp_dir().join(format!("xplug-private-{}", std::process::id()));
        let original = std::fs::File::open("/proc/self/exe")
            .or_else(|_| std::fs::File::open(std::env::current_exe().unwrap()))
            .unwrap();
        let mut n = 0;
        let copy = super::write(
            Some(&dir),
            b"\x7fELF bytes",
            "0123456789abcdef",
            || {
                n += 1;
                n
            },
            Some(&original),
        )
        .unwrap();
        assert_eq!(std::fs::read(&copy).unwrap(), b"\x7fELF bytes");
        let meta = std::fs::metadata(&copy).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o500);
        let dir_mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        assert!(super::is_snapshot_name(
            &copy.file_name().unwrap().to_string_lossy()
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
