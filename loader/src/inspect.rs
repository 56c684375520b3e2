//! Stages 1 to 3 without a host: read a plugin's header from its file without running any
//! of the file's code.

use std::path::{Path, PathBuf};

use xplug::header::HEADER_SIZE;

use ::object::read::ReadRef;

use crate::error::LoadError;
use crate::info::PluginInfo;
use crate::stages::file::{self, FileRules, OpenFile};
use crate::stages::{header, object};

/// A plugin file whose header was read (stages 1 to 3 passed).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspected {
    /// The file's real path, symlinks resolved.
    pub path: PathBuf,
    /// What its header says.
    pub info: PluginInfo,
}

/// Reads a plugin's header from its file without loading it: none of its code runs, not
/// even static constructors. Runs stages 1 to 3 of the load pipeline, reading only the
/// parts of the file they need (for an ELF library: its headers, its dynamic symbol table and
/// the plugin header; a few kilobytes, whatever the file's size).
///
/// ```no_run
/// let inspected = xplug_loader::inspect("plugins/libgreeter_en.so")?;
/// println!("{} implements {}", inspected.info.label(), inspected.info.interface_name);
/// # Ok::<(), xplug_loader::LoadError>(())
/// ```
pub fn inspect(path: impl AsRef<Path>) -> Result<Inspected, LoadError> {
    let open = file::open(path.as_ref(), FileRules::READING)?;
    let (info, _) = read_header_from_file(&open)?;
    Ok(Inspected {
        path: open.path,
        info,
    })
}

/// Reads a plugin's header from a file's contents already in memory (a download, an archive
/// member), as [`inspect`] does from a file: stages 2 and 3, and nothing of `bytes` runs.
/// `name` only names the bytes in errors. Any bytes give a header or a typed error.
///
/// ```
/// use xplug_loader::{inspect_bytes, ErrorKind};
///
/// let refused = inspect_bytes("notes.txt", b"not a library").unwrap_err();
/// assert!(matches!(refused.kind(), ErrorKind::NotALibrary { .. }));
/// ```
pub fn inspect_bytes(name: impl AsRef<Path>, bytes: &[u8]) -> Result<PluginInfo, LoadError> {
    read_header(name.as_ref(), bytes).map(|(info, _)| info)
}

/// Stages 2 and 3 on `data`, the contents of the file at `path`: its header, parsed and as
/// bytes.
pub(crate) fn read_header<'data, R: ReadRef<'data>>(
    path: &Path,
    data: R,
) -> Result<(PluginInfo, [u8; HEADER_SIZE]), LoadError> {
    let library = object::parse(path, data)?;
    header::read(path, data, &library)
}

/// Stages 2 and 3 on the file stage 1 opened, read through its descriptor in the pieces they
/// need, each within the size stage 1 saw (and capped): a file growing meanwhile does not
/// widen the bounds.
pub(crate) fn read_header_from_file(
    open: &OpenFile,
) -> Result<(PluginInfo, [u8; HEADER_SIZE]), LoadError> {
    let cache = ::object::ReadCache::new(&open.file);
    read_header(&open.path, cache.range(0, open.meta.len()))
}
