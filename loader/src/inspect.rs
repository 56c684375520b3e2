//! Stages 1 to 3 without a host: read a plugin's header from its file without running any
//! of the file's code.

use std::fs;
use std::path::{Path, PathBuf};

use ::object::read::ReadCache;

use crate::error::LoadError;
use crate::info::PluginInfo;
use crate::stages::{file, header, object};

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
/// even static constructors. Runs stages 1 to 3 of the load pipeline.
///
/// ```no_run
/// let inspected = xplug_loader::inspect("plugins/libgreeter_en.so")?;
/// println!("{} implements {}", inspected.info.label(), inspected.info.interface_name);
/// # Ok::<(), xplug_loader::LoadError>(())
/// ```
pub fn inspect(path: impl AsRef<Path>) -> Result<Inspected, LoadError> {
    inspect_resolved(file::resolve(path.as_ref())?, file::DEFAULT_MAX_SIZE)
}

/// The rest of stage 1 (the size of the opened file), then stages 2 and 3, on a path stage 1
/// resolved.
pub(crate) fn inspect_resolved(path: PathBuf, max_size: u64) -> Result<Inspected, LoadError> {
    let opened = fs::File::open(&path).map_err(|e| file::io_error(&path, e))?;
    file::check_size(&path, &opened, max_size)?;
    let data = ReadCache::new(opened);
    let library = object::parse(&path, &data)?;
    let info = header::read(&path, &data, &library)?;
    Ok(Inspected { path, info })
}
