//! Plugin directories: [`Loader::load_dir`] and what it found.

use std::fmt;
use std::fs;
use std::path::Path;
use std::sync::Arc;

use xplug::Interface;

use crate::error::{ErrorKind, LoadError};
use crate::loader::Loader;
use crate::plugin::Plugin;
use crate::stages::file;

/// What [`Loader::load_dir`] found: the plugins it loaded and one error per refused file.
#[non_exhaustive]
pub struct DirReport<M> {
    /// The loaded plugins, in file-name order.
    pub plugins: Vec<Plugin<M>>,
    /// One error per refused file.
    pub rejected: Vec<LoadError>,
}

impl<M> fmt::Debug for DirReport<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirReport")
            .field("plugins", &self.plugins)
            .field("rejected", &self.rejected)
            .finish()
    }
}

impl<M: Interface> Loader<M> {
    /// Loads every library in `dir` (files named `*.so`, `*.dll` or `*.dylib`, as this
    /// platform names them), in file-name order. A file that fails any check is reported in
    /// [`DirReport::rejected`] and never stops the others. Only an unreadable `dir` is an
    /// error. Each file is loaded as by [`load`](Loader::load), under the same trust contract.
    pub fn load_dir(&self, dir: impl AsRef<Path>) -> Result<DirReport<M>, LoadError> {
        let (files, mut rejected) = library_files(dir.as_ref())?;
        let mut plugins: Vec<Plugin<M>> = Vec::new();
        for path in files {
            match self.load(&path) {
                Ok(plugin) if plugins.iter().any(|p| p.same_library(&plugin)) => {}
                Ok(plugin) => plugins.push(plugin),
                Err(e) => rejected.push(e),
            }
        }
        Ok(DirReport { plugins, rejected })
    }
}

/// The files in `dir` named like libraries, sorted, and an error per unreadable entry.
pub(crate) fn library_files(
    dir: &Path,
) -> Result<(Vec<std::path::PathBuf>, Vec<LoadError>), LoadError> {
    let entries = fs::read_dir(dir).map_err(|e| file::io_error(dir, e))?;
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) if is_library_file_name(&entry.path()) => files.push(entry.path()),
            Ok(_) => {}
            Err(e) => unreadable.push(LoadError::new(
                dir,
                ErrorKind::Unreadable {
                    source: Arc::new(e),
                },
            )),
        }
    }
    files.sort();
    Ok((files, unreadable))
}

/// Whether `path` is named like a shared library of this platform.
pub fn is_library_file_name(path: &Path) -> bool {
    path.extension()
        .map_or(false, |ext| ext == std::env::consts::DLL_EXTENSION)
}

/// This platform's file name for the library `name`: `libname.so`, `name.dll`,
/// `libname.dylib`.
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name,
        std::env::consts::DLL_SUFFIX
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names_follow_the_platform() {
        let name = library_file_name("greeter_en");
        assert!(is_library_file_name(Path::new(&name)));
        assert!(!is_library_file_name(Path::new("README.md")));
    }
}
