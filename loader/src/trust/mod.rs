//! Every rule about who may supply the bytes a host runs: the file's permissions (checked at
//! stage 1), the host's [`TrustPolicy`] on the bytes (SHA-256 pins, allow-lists, minisign
//! signatures; cargo feature `trust`), and the [`Quarantine`] journal of plugins whose loading
//! killed the process.

use std::path::{Path, PathBuf};

pub(crate) mod permissions;
#[cfg(feature = "trust")]
mod policy;
mod quarantine;

pub use crate::digest::{ParseTrustError, Sha256};
#[cfg(feature = "trust")]
pub use policy::{signature_path, AllowList, PublicKey, TrustPolicy};
pub(crate) use quarantine::Entered;
pub use quarantine::{Quarantine, QuarantineEntry};

/// The extension a library's detached minisign signature adds to its path.
pub(crate) const SIGNATURE_EXTENSION: &str = "minisig";

/// The detached signature's path for the library file `path`: `plugin.so.minisig`.
#[cfg_attr(not(any(feature = "reload", feature = "trust")), allow(dead_code))]
pub(crate) fn signature_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".");
    name.push(SIGNATURE_EXTENSION);
    PathBuf::from(name)
}

/// Without the `trust` feature a loader has no policy: every file's bytes pass.
#[cfg(not(feature = "trust"))]
#[derive(Clone, Debug, Default)]
pub(crate) struct TrustPolicy;

#[cfg(not(feature = "trust"))]
impl TrustPolicy {
    pub(crate) fn is_empty(&self) -> bool {
        true
    }

    pub(crate) fn check(
        &self,
        _requested: &std::path::Path,
        _real: &std::path::Path,
        _bytes: &crate::digest::LazyDigest<'_>,
    ) -> Result<(), crate::error::LoadError> {
        Ok(())
    }
}
