//! Stage 4: does a plugin's header describe a plugin this host accepts? Header facts only:
//! no code of the plugin runs, and the interface's Rust types are not needed.

use std::path::Path;

use semver::{Version, VersionReq};

use crate::error::LoadError;
use crate::info::{PanicStrategy, PluginInfo};

/// The target triple this host was built for.
pub fn host_target() -> &'static str {
    xplug::build_info::TARGET
}

/// What a host accepts, checked against a plugin's header.
#[derive(Clone, Debug)]
pub struct Requirements {
    /// The interface name.
    pub interface: String,
    /// The accepted interface versions.
    pub versions: VersionReq,
    /// The host's own interface version, when there is a host (for diagnostics).
    pub host_version: Option<Version>,
    /// The target triple the plugin must be built for.
    pub target: String,
    /// Whether plugins built with `panic = "abort"` are accepted.
    pub allow_panic_abort: bool,
}

impl Requirements {
    /// Requirements on interface `name` with versions `versions`, for this host's target,
    /// refusing `panic = "abort"` plugins.
    pub fn new(name: impl Into<String>, versions: VersionReq) -> Requirements {
        Requirements {
            interface: name.into(),
            versions,
            host_version: None,
            target: xplug::build_info::TARGET.to_owned(),
            allow_panic_abort: false,
        }
    }

    /// Checks a plugin's header: interface name, version, target, panic strategy, in that
    /// order; the first mismatch is the error.
    pub fn check(&self, path: &Path, info: &PluginInfo) -> Result<(), LoadError> {
        let plugin = || Box::new(info.clone());
        if info.interface_name != self.interface {
            return Err(LoadError::InterfaceMismatch {
                path: path.to_owned(),
                expected: self.interface.clone(),
                plugin: plugin(),
            });
        }
        if !self.versions.matches(&info.interface_version) {
            return Err(LoadError::VersionMismatch {
                path: path.to_owned(),
                required: self.versions.clone(),
                host_version: self.host_version.clone(),
                plugin: plugin(),
            });
        }
        if info.target != self.target {
            return Err(LoadError::TargetMismatch {
                path: path.to_owned(),
                expected: self.target.clone(),
                plugin: plugin(),
            });
        }
        if info.panic_strategy == PanicStrategy::Abort && !self.allow_panic_abort {
            return Err(LoadError::PanicAbort {
                path: path.to_owned(),
                plugin: plugin(),
            });
        }
        Ok(())
    }
}
