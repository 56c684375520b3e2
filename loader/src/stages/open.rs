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
//! - in place: the path again (so that `$ORIGIN` is the plugin's directory); where files have
//!   an identity (Unix), the path's file, before and after `dlopen`, must be the one stage 1
//!   opened.

// The functions below return the bare `ErrorKind`, which the caller wraps with the path into a
// (boxed, small) `LoadError`: a large `Err` is fine on these cold, private paths.
#![allow(clippy::result_large_err)]

use std::fs;
use std::io;
use std::path::Path;
use std::sync::Arc;

use abi_stable::library::{lib_header_from_raw_library, LibHeader, LibraryError, RawLibrary};
use xplug::header::{HEADER_SIZE, HEADER_SYMBOL};

use crate::error::{one_line, ErrorKind, LoadError};
use crate::process::{self, library::Library, library::Opened};
use crate::stages::file::PluginFile;
use crate::sys::{self, FileId, Mapping, SealedFile};
use crate::trust;

/// What to open for a library.
pub(crate) enum Image<'a> {
    /// Its snapshot in a sealed memfd.
    Sealed(&'a Arc<SealedFile>),
    /// Its snapshot's bytes, to copy into `dir` (or the default private directory).
    Copy {
        bytes: &'a [u8],
        dir: Option<&'a Path>,
        /// The file they were read from.
        original: &'a fs::File,
    },
    /// The file stage 1 opened, in place.
    InPlace(&'a PluginFile),
}

/// `bytes` in a new sealed memfd (Linux); `None` where memfds may not be executed or do not
/// exist (a copy in a private directory does instead).
pub(crate) fn seal(bytes: &[u8]) -> Result<Option<Arc<SealedFile>>, ErrorKind> {
    let flags = match process::memfd_exec_flags() {
        Some(flags) => flags,
        None => return Ok(None),
    };
    let sealed =
        sys::sealed_memfd(bytes, &process::library::label(bytes), flags).map_err(snapshot_error)?;
    Ok(sealed.map(Arc::new))
}

/// Opens `library` from `image` once per process and returns it; a failed `dlopen` is not
/// remembered, so the next load tries again.
pub(crate) fn open_once(
    library: &Library,
    path: &Path,
    image: Image<'_>,
) -> Result<Opened, LoadError> {
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

fn snapshot_error(e: io::Error) -> ErrorKind {
    ErrorKind::Snapshot {
        source: Arc::new(e),
    }
}

fn open_image(library: &Library, image: Image<'_>) -> Result<Opened, ErrorKind> {
    // Whether the library opened is the file checked: a path may name another file by now.
    let mut same_file = true;
    let mut in_place_name = None;
    let (raw, descriptor, copy) = match image {
        Image::Sealed(sealed) => (dlopen(&sealed.path)?, Some(Arc::clone(sealed)), None),
        Image::Copy {
            bytes,
            dir,
            original,
        } => {
            if let Some(dir) = dir {
                protected_snapshot_dir(dir)?;
            }
            process::remove_leftover_copies(dir);
            let copy = sys::private_dir::write(
                dir,
                bytes,
                &process::library::label(bytes),
                process::next_copy_number,
                Some(original),
            )
            .map_err(snapshot_error)?;
            let raw = dlopen(&copy);
            let kept = sys::private_dir::remove(&copy);
            (raw?, None, kept.then_some(copy))
        }
        Image::InPlace(plugin) => {
            let (raw, same, name) = in_place(plugin)?;
            same_file = same;
            in_place_name = Some((plugin.path.clone(), name));
            (raw, None, None)
        }
    };
    // A library that is not the file checked is not read at all.
    let result = match same_file.then(|| header_in_memory(&raw)) {
        Some(Ok(bytes)) if bytes == library.header => {
            // SAFETY: `lib_header_from_raw_library` returns `'static` references into the
            // library; they stay valid while it is loaded, which is until `Mapping::unload`,
            // whose contract is that nothing of the library is used any more.
            unsafe { lib_header_from_raw_library(&raw) }.map_err(root_module_error)
        }
        None | Some(Ok(_)) => Err(ErrorKind::HeaderChanged {}),
        Some(Err(e)) => Err(root_module_error(e)),
    };
    if let (Ok(header), Some(at)) = (&result, library.stays_mapped) {
        if *header as *const LibHeader as usize != at {
            // The library that stayed mapped left since: this is a new mapping, whose
            // `on_load` has not run.
            library.loaded.reset();
        }
    }
    // abi_stable's header, defined by the library: where to look for it after unloading.
    let inside = result
        .as_ref()
        .ok()
        .map(|header| *header as *const LibHeader as usize);
    let mapping = Mapping::new(raw, descriptor, copy, inside);
    // A refused library stays mapped (`mapping` is dropped without unloading it).
    result.map(|header| Opened {
        header,
        mapping: Arc::new(mapping),
        in_place_name,
    })
}

/// The bytes of the xplug header in the memory of `raw`, a library opened from the bytes
/// stage 3 read (the caller knows it is the file checked).
pub(crate) fn header_in_memory(raw: &RawLibrary) -> Result<[u8; HEADER_SIZE], LibraryError> {
    let symbol = format!("{}\0", HEADER_SYMBOL);
    // SAFETY: a data symbol's value is its address, as `*const T`. Stage 3 found this symbol
    // defined in the bytes `raw` was opened from, with the header's full size inside the file,
    // and any bytes are valid for a byte array: reading `HEADER_SIZE` bytes there is sound.
    let address = unsafe { raw.get::<*const [u8; HEADER_SIZE]>(symbol.as_bytes()) }?;
    let address: *const [u8; HEADER_SIZE] = *address;
    // SAFETY: as above: the header's bytes, defined by this library.
    Ok(unsafe { std::ptr::read_unaligned(address) })
}

/// Refuses a snapshot directory the host named if someone other than this user and root
/// could change it or a directory above it: they could then replace a copy before it is
/// opened. (It is made first, if missing: private, mode 0700.)
fn protected_snapshot_dir(dir: &Path) -> Result<(), ErrorKind> {
    sys::private_dir::ensure_private(dir).map_err(snapshot_error)?;
    let real = fs::canonicalize(dir).map_err(snapshot_error)?;
    let meta = fs::metadata(&real).map_err(snapshot_error)?;
    match trust::permissions::unprotected(&real, &meta) {
        None => Ok(()),
        Some((path, permissions)) => Err(snapshot_error(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} (mode {:04o}, user {}) can be changed by others than this user and root, \
                 so a snapshot copy in {} could be replaced before it is opened",
                path.display(),
                permissions.mode,
                permissions.owner,
                real.display()
            ),
        ))),
    }
}

fn dlopen(path: &Path) -> Result<RawLibrary, ErrorKind> {
    RawLibrary::load_at(path).map_err(|e| match e {
        LibraryError::OpenError { err, .. } => ErrorKind::Open {
            source: Arc::new(*err),
        },
        other => root_module_error(other),
    })
}

/// Opens the file by its path, so that its `$ORIGIN` is its own directory, under a name that
/// names no library still loaded ([`process::in_place_name`]); returns that name's number.
///
/// Also says whether the path named the file stage 1 opened both before and after the
/// `dlopen`, and so whether that file is what was opened, where files have an identity
/// (Unix); elsewhere it cannot be told and is taken to be (the header in memory is still
/// compared). (A file renamed away and back in between is not seen: in-place loading trusts
/// whoever can write the plugin's directory, see `LoadMode::InPlace`.)
fn in_place(plugin: &PluginFile) -> Result<(RawLibrary, bool, usize), ErrorKind> {
    let (name, number) = process::in_place_name(&plugin.path);
    let checked = FileId::of(&plugin.path, &plugin.meta);
    let named = || {
        fs::metadata(&name)
            .ok()
            .map(|meta| FileId::of(&plugin.path, &meta))
    };
    let before = named();
    let raw = match dlopen(&name) {
        Ok(raw) => raw,
        Err(e) => {
            // Nothing was opened by that name.
            process::release_in_place_name(&plugin.path, number);
            return Err(e);
        }
    };
    let same = match checked {
        FileId::Path(_) => true,
        FileId::Inode { .. } => {
            before.as_ref() == Some(&checked) && named().as_ref() == Some(&checked)
        }
    };
    Ok((raw, same, number))
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
