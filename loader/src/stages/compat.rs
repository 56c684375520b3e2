//! Stage 4: does a plugin's header describe a plugin this host accepts? Header facts only:
//! no code of the plugin runs, and the interface's Rust types are not needed.

use std::path::Path;

use semver::{Comparator, Op, Prerelease, Version, VersionReq};

use crate::error::{ErrorKind, LoadError};
use crate::host::host_target;
use crate::info::{PanicStrategy, PluginInfo};

/// What a host accepts, checked against a plugin's header: interface name, versions, target
/// and panic strategy.
///
/// ```
/// use xplug_loader::{semver::VersionReq, Requirements};
///
/// let requirements = Requirements::new("greeter", VersionReq::parse("^1.1")?)
///     .allow_panic_abort(false);
/// assert_eq!(requirements.interface(), "greeter");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Requirements {
    interface: String,
    versions: VersionReq,
    host_version: Option<Version>,
    target: String,
    allow_panic_abort: bool,
}

impl Requirements {
    /// Requirements on interface `name` with versions `versions`, for this host's target,
    /// refusing `panic = "abort"` plugins.
    pub fn new(name: impl Into<String>, versions: VersionReq) -> Requirements {
        Requirements {
            interface: name.into(),
            versions,
            host_version: None,
            target: host_target().to_owned(),
            allow_panic_abort: false,
        }
    }

    /// Names the host's own interface version, for reports.
    pub fn host_version(mut self, version: Version) -> Requirements {
        self.host_version = Some(version);
        self
    }

    /// Whether plugins built with `panic = "abort"` are accepted.
    pub fn allow_panic_abort(mut self, allow: bool) -> Requirements {
        self.allow_panic_abort = allow;
        self
    }

    /// Whether plugins built with `panic = "abort"` are accepted.
    pub(crate) fn allows_panic_abort(&self) -> bool {
        self.allow_panic_abort
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// The accepted interface versions.
    pub fn versions(&self) -> &VersionReq {
        &self.versions
    }

    /// The target triple a plugin must be built for: this host's.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The same requirements on the interface versions `versions`.
    pub(crate) fn with_versions(mut self, versions: VersionReq) -> Requirements {
        self.versions = versions;
        self
    }

    /// Checks the header `info` of the plugin file at `path`: interface name, xplug ABI,
    /// interface version, target, panic strategy, in that order; the first mismatch is the error.
    /// ([`check_interface_independent`] makes the checks that do not depend on the interface.)
    ///
    /// The report of a refusal names the compiler that built this host only if the
    /// requirements are a host's ([`host_version`](Requirements::host_version) given, as a
    /// [`Loader`](crate::Loader)'s are): a tool's header check concerns no host.
    pub fn check(&self, path: &Path, info: &PluginInfo) -> Result<(), LoadError> {
        match self.mismatch(info) {
            Some(kind) => {
                let error = LoadError::new(path, kind).with_plugin(info);
                Err(match self.host_version {
                    Some(_) => error,
                    None => error.without_host(),
                })
            }
            None => Ok(()),
        }
    }

    /// The first requirement `info` does not meet. The interface's own requirements (name,
    /// versions) are interleaved with the others ([`abi_mismatch`], [`build_mismatch`]) in the
    /// order the docs of [`check`](Requirements::check) give.
    fn mismatch(&self, info: &PluginInfo) -> Option<ErrorKind> {
        if info.interface_name != self.interface {
            return Some(ErrorKind::InterfaceMismatch {
                expected: self.interface.clone(),
                found: info.interface_name.clone(),
            });
        }
        if let Some(kind) = abi_mismatch(info) {
            return Some(kind);
        }
        if !self.versions.matches(&info.interface_version) {
            return Some(ErrorKind::VersionMismatch {
                interface: info.interface_name.clone(),
                found: info.interface_version.clone(),
                required: self.versions.clone(),
                host_version: self.host_version.clone(),
            });
        }
        build_mismatch(info, &self.target, self.allow_panic_abort)
    }
}

/// Checks the header `info` of the plugin file at `path` as a host with the default settings
/// does, on everything that does not depend on the host's interface: the xplug ABI, the
/// target, and the panic strategy (`panic = "abort"` refused). These are the checks of
/// [`Requirements::check`] without the interface name and versions, in the same order, made by
/// the same code: a plugin refused here is refused by every default host, whatever its
/// interface (`xplug ls` shows this verdict).
///
/// ```no_run
/// use xplug_loader::tools::{check_interface_independent, inspect};
///
/// let path = std::path::Path::new("plugins/libgreeter_en.so");
/// let inspected = inspect(path)?;
/// // Reports name the file as given.
/// check_interface_independent(path, &inspected.info)?;
/// # Ok::<(), xplug_loader::LoadError>(())
/// ```
pub fn check_interface_independent(path: &Path, info: &PluginInfo) -> Result<(), LoadError> {
    match abi_mismatch(info).or_else(|| build_mismatch(info, host_target(), false)) {
        Some(kind) => Err(LoadError::new(path, kind).with_plugin(info).without_host()),
        None => Ok(()),
    }
}

/// Whether the plugin speaks another xplug ABI than this host.
fn abi_mismatch(info: &PluginInfo) -> Option<ErrorKind> {
    if info.xplug_abi != xplug::abi::ABI_VERSION {
        return Some(ErrorKind::AbiMismatch {
            found: info.xplug_abi,
            supported: xplug::abi::ABI_VERSION,
        });
    }
    None
}

/// Whether the plugin was built in a way a host of `target` cannot run: for another target,
/// or with `panic = "abort"` unless `allow_panic_abort`.
fn build_mismatch(info: &PluginInfo, target: &str, allow_panic_abort: bool) -> Option<ErrorKind> {
    if info.target != target {
        return Some(ErrorKind::TargetMismatch {
            expected: target.to_owned(),
            found: info.target.clone(),
        });
    }
    if info.panic_strategy == PanicStrategy::Abort && !allow_panic_abort {
        return Some(ErrorKind::PanicAbort {});
    }
    None
}

/// The default version rule for a host of interface version `host`: the same major version
/// (for 0.x, the same minor version; for 0.0.x, the same patch), any minor version in either
/// direction.
pub fn default_requirement(host: &Version) -> VersionReq {
    let comparator = Comparator {
        op: Op::Caret,
        major: host.major,
        minor: (host.major == 0).then_some(host.minor),
        patch: (host.major == 0 && host.minor == 0).then_some(host.patch),
        pre: Prerelease::EMPTY,
    };
    VersionReq {
        comparators: vec![comparator],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::Profile;

    fn plugin(interface: &str, version: &str, target: &str, panic: PanicStrategy) -> PluginInfo {
        PluginInfo {
            name: String::from("x"),
            version: Version::new(0, 1, 0),
            interface_name: interface.to_owned(),
            interface_version: version.parse().unwrap(),
            rustc: String::from("rustc 1.63.0"),
            target: target.to_owned(),
            xplug_version: String::from("0.1.0"),
            panic_strategy: panic,
            profile: Profile::Debug,
            header_format: 2,
            xplug_abi: 1,
        }
    }

    fn kind(r: &Requirements, p: &PluginInfo) -> Option<ErrorKind> {
        r.check(Path::new("/p/libx.so"), p).err().map(|e| {
            assert_eq!(e.plugin(), Some(p), "the error carries the header");
            e.kind().clone()
        })
    }

    #[test]
    fn checks_run_in_order_and_the_first_mismatch_is_the_error() {
        let r = Requirements::new("greeter", "^1.1".parse().unwrap())
            .host_version(Version::new(1, 1, 0));
        let here = host_target();
        let unwind = PanicStrategy::Unwind;
        assert!(kind(&r, &plugin("greeter", "1.4.0", here, unwind)).is_none());
        // Everything is wrong: the interface name is reported.
        match kind(&r, &plugin("farewell", "2.0.0", "x", PanicStrategy::Abort)) {
            Some(ErrorKind::InterfaceMismatch { expected, found }) => {
                assert_eq!((expected.as_str(), found.as_str()), ("greeter", "farewell"))
            }
            other => panic!("{other:?}"),
        }
        match kind(&r, &plugin("greeter", "1.0.9", "x", PanicStrategy::Abort)) {
            Some(ErrorKind::VersionMismatch {
                found,
                host_version,
                ..
            }) => {
                assert_eq!(found, Version::new(1, 0, 9));
                assert_eq!(host_version, Some(Version::new(1, 1, 0)));
            }
            other => panic!("{other:?}"),
        }
        match kind(&r, &plugin("greeter", "1.1.0", "x", PanicStrategy::Abort)) {
            Some(ErrorKind::TargetMismatch { found, .. }) => assert_eq!(found, "x"),
            other => panic!("{other:?}"),
        }
        let abort = plugin("greeter", "1.1.0", here, PanicStrategy::Abort);
        assert!(matches!(kind(&r, &abort), Some(ErrorKind::PanicAbort {})));
        assert!(kind(&r.clone().allow_panic_abort(true), &abort).is_none());
    }

    #[test]
    fn the_interface_independent_checks_are_those_of_every_default_host() {
        let here = host_target();
        let unwind = plugin("anything", "9.0.0", here, PanicStrategy::Unwind);
        let path = Path::new("/p/libx.so");
        assert!(check_interface_independent(path, &unwind).is_ok());
        let kind = |info: &PluginInfo| {
            let e = check_interface_independent(path, info).unwrap_err();
            assert_eq!(e.plugin(), Some(info), "the error carries the header");
            e.kind().clone()
        };
        let abort = plugin("anything", "9.0.0", here, PanicStrategy::Abort);
        assert!(matches!(kind(&abort), ErrorKind::PanicAbort {}));
        let elsewhere = plugin("anything", "9.0.0", "x", PanicStrategy::Abort);
        assert!(matches!(kind(&elsewhere), ErrorKind::TargetMismatch { .. }));
        let mut old_abi = unwind.clone();
        old_abi.xplug_abi = 0;
        assert!(matches!(kind(&old_abi), ErrorKind::AbiMismatch { .. }));
        // A default host of the plugin's interface refuses the same files for the same reason.
        let host = Requirements::new("anything", "*".parse().unwrap());
        for info in [&abort, &elsewhere, &old_abi] {
            let by_host = host.check(path, info).unwrap_err();
            assert_eq!(by_host.kind().to_string(), kind(info).to_string());
        }
    }

    #[test]
    fn default_rule_is_same_major_or_same_zero_minor() {
        let req = default_requirement(&Version::new(1, 3, 2));
        assert!(req.matches(&Version::new(1, 0, 0)));
        assert!(req.matches(&Version::new(1, 9, 0)));
        assert!(!req.matches(&Version::new(2, 0, 0)));
        assert!(!req.matches(&Version::new(0, 9, 0)));
        let req = default_requirement(&Version::new(0, 4, 1));
        assert!(req.matches(&Version::new(0, 4, 0)));
        assert!(req.matches(&Version::new(0, 4, 9)));
        assert!(!req.matches(&Version::new(0, 5, 0)));
        let req = default_requirement(&Version::new(0, 0, 3));
        assert!(req.matches(&Version::new(0, 0, 3)));
        assert!(!req.matches(&Version::new(0, 0, 4)));
    }
}
