//! macOS: what the system's code-signing policy reads from a file besides its bytes.

use std::fs;
use std::io;
use std::os::unix::io::AsRawFd;

/// The attribute a downloading application sets (`LSFileQuarantineEnabled`), which makes
/// Gatekeeper assess a library before `dlopen` may map it.
const QUARANTINE: &[u8] = b"com.apple.quarantine\0";

/// Gives `copy` the quarantine attribute of `original`, if it has one: a snapshot of a
/// downloaded plugin is then assessed as the file itself would be (a copy made without it
/// would pass where the file is refused: "library load disallowed by system policy").
pub(super) fn carry_marks(original: &fs::File, copy: &fs::File) -> io::Result<()> {
    // Quarantine values are one short line (flags;time;agent;UUID): a longer one is refused
    // (`ERANGE`), not truncated.
    let mut value = [0u8; 1024];
    // SAFETY: `original` owns an open descriptor, `QUARANTINE` is NUL-terminated and `value`
    // has room for the `value.len()` bytes the call may write.
    let len = unsafe {
        libc::fgetxattr(
            original.as_raw_fd(),
            QUARANTINE.as_ptr().cast(),
            value.as_mut_ptr().cast(),
            value.len(),
            0,
            0,
        )
    };
    let len = match usize::try_from(len) {
        Ok(len) => len.min(value.len()),
        Err(_) => {
            let error = io::Error::last_os_error();
            return match error.raw_os_error() {
                // No attribute, or a file system without attributes (NFS, some FUSE): the
                // file carries none.
                Some(libc::ENOATTR | libc::ENOTSUP) => Ok(()),
                _ => Err(error),
            };
        }
    };
    // SAFETY: `copy` owns an open descriptor; the call reads `len` bytes of `value`, all of
    // which are initialised.
    let set = unsafe {
        libc::fsetxattr(
            copy.as_raw_fd(),
            QUARANTINE.as_ptr().cast(),
            value.as_ptr().cast(),
            len,
            0,
            0,
        )
    };
    if set == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
