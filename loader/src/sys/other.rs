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

/// The module mapped at `address`: its base (its handle) and its file's name
/// (`GetModuleHandleExW` without taking a reference, then `GetModuleFileNameW`).
#[cfg(windows)]
pub(super) fn image_at(address: usize) -> Option<super::Image> {
    use std::ffi::c_void;
    const FROM_ADDRESS: u32 = 0x4;
    const UNCHANGED_REFCOUNT: u32 = 0x2;
    #[link(name = "kernel32")]
    extern "system" {
        fn GetModuleHandleExW(flags: u32, name: *const u16, module: *mut *mut c_void) -> i32;
        fn GetModuleFileNameW(module: *mut c_void, name: *mut u16, size: u32) -> u32;
    }
    let mut module: *mut c_void = std::ptr::null_mut();
    // SAFETY: with `FROM_ADDRESS`, `name` is an address looked up in the list of loaded
    // modules, never read; `module` is written. No reference is taken (`UNCHANGED_REFCOUNT`).
    let found = unsafe {
        GetModuleHandleExW(
            FROM_ADDRESS | UNCHANGED_REFCOUNT,
            address as *const u16,
            &mut module,
        )
    };
    if found == 0 || module.is_null() {
        return None;
    }
    let mut name = vec![0u16; 1024];
    // SAFETY: `name` has room for `name.len()` UTF-16 units, which is the size passed.
    let len = unsafe { GetModuleFileNameW(module, name.as_mut_ptr(), name.len() as u32) };
    let name = name
        .get(..len as usize)
        .unwrap_or_default()
        .iter()
        .flat_map(|unit| unit.to_le_bytes())
        .collect();
    Some(super::Image {
        base: module as usize,
        name,
    })
}

#[cfg(not(windows))]
pub(super) fn image_at(_: usize) -> Option<super::Image> {
    None
}
