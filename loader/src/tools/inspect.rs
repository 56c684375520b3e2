//! Stages 1 to 3 without a host: read a plugin's header from its file without running any
//! of the file's code.

use std::path::{Path, PathBuf};

use crate::error::LoadError;
use crate::info::PluginInfo;
use crate::stages::file::{self, FileRules};
use crate::stages::{read_header, read_header_from_file};

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
/// even static constructors. An error names the file as `path` does
/// ([`LoadError::path`], [`LoadError::target`]). Runs stages 1 to 3 of the load pipeline, reading only the
/// parts of the file they need (for an ELF library: its headers, its dynamic symbol table and
/// the plugin header; a few kilobytes, whatever the file's size).
///
/// ```no_run
/// let inspected = xplug_loader::tools::inspect("plugins/libgreeter_en.so")?;
/// println!("{} implements {}", inspected.info.label(), inspected.info.interface_name);
/// # Ok::<(), xplug_loader::LoadError>(())
/// ```
pub fn inspect(path: impl AsRef<Path>) -> Result<Inspected, LoadError> {
    let plugin = file::open(path.as_ref(), FileRules::READING)?;
    let (info, _) = read_header_from_file(&plugin).map_err(|e| plugin.named.error(e))?;
    Ok(Inspected {
        path: plugin.path,
        info,
    })
}

/// Reads a plugin's header from a file's contents already in memory (a download, an archive
/// member), as [`inspect`] does from a file: stages 2 and 3, and nothing of `bytes` runs.
/// `name` only names the bytes in errors. Any bytes give a header or a typed error.
///
/// ```
/// use xplug_loader::tools::inspect_bytes;
/// use xplug_loader::ErrorKind;
///
/// let refused = inspect_bytes("notes.txt", b"not a library").unwrap_err();
/// assert!(matches!(refused.kind(), ErrorKind::NotALibrary { .. }));
/// ```
pub fn inspect_bytes(name: impl AsRef<Path>, bytes: &[u8]) -> Result<PluginInfo, LoadError> {
    read_header(name.as_ref(), bytes).map(|(info, _)| info)
}
