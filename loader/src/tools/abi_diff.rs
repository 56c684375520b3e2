//! Two builds of one interface compared, for interface authors: which functions a new build
//! appended, what it changed, and which version it must be published under
//! (`xplug abi-diff`, `xplug check --against`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use abi_stable::library::{lib_header_from_raw_library, LibraryError, RawLibrary};
use abi_stable::type_layout::TypeLayout;
use semver::Version;
use xplug::header::HEADER_SIZE;

use crate::error::{one_line, ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::process;
use crate::stages::file::{self, FileRules, Named};
use crate::stages::layout::{check, Versions};
use crate::stages::{open, read_header};
use crate::sys::private_dir;

use super::change::Change;
use super::description::{compare_descriptions, Description};

/// Two builds of one interface, compared by [`compare_builds`] or [`compare`].
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Comparison {
    /// The old build.
    pub old: Compared,
    /// The new build.
    pub new: Compared,
    /// How the new one relates to the old one.
    pub change: Change,
    /// Entries a later xplug release appended to xplug's own tables (`PluginEntries.x`), in
    /// the new build or the old one: not the interface's change, and no version bump of it.
    pub xplug_appended: Vec<String>,
}

/// One side of a [`Comparison`]: a plugin file or a layout description.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Compared {
    /// The interface name.
    pub interface_name: String,
    /// The interface version.
    pub interface_version: Version,
    /// The release of xplug it was built with.
    pub xplug_version: String,
    /// The xplug ABI it speaks.
    pub xplug_abi: u16,
    /// The plugin's header, if this side is a plugin file (not a layout description).
    pub plugin: Option<PluginInfo>,
}

impl Compared {
    /// `greeter-en 0.3.0` for a plugin, `layout description` for a description.
    pub fn label(&self) -> String {
        match &self.plugin {
            Some(plugin) => plugin.label(),
            None => String::from("layout description"),
        }
    }

    fn of_plugin(info: PluginInfo) -> Compared {
        Compared {
            interface_name: info.interface_name.clone(),
            interface_version: info.interface_version.clone(),
            xplug_version: info.xplug_version.clone(),
            xplug_abi: info.xplug_abi,
            plugin: Some(info),
        }
    }

    fn of_description(description: &Description) -> Compared {
        Compared {
            interface_name: description.interface.clone(),
            interface_version: description.version.clone(),
            xplug_version: description.xplug.clone(),
            xplug_abi: description.xplug_abi,
            plugin: None,
        }
    }
}

/// What [`compare`] compares: a plugin file, or a layout description read from a file.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Input {
    /// A plugin file: its layout is read by loading it.
    Plugin(PathBuf),
    /// A layout description (`xplug abi-dump`) and the file it was read from.
    Description(PathBuf, Description),
}

impl Input {
    /// The file it is, or was read from.
    pub fn path(&self) -> &Path {
        match self {
            Input::Plugin(path) | Input::Description(path, _) => path,
        }
    }
}

/// A version number that does not say what changed.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionError {
    /// Why the new build's interface version is wrong.
    pub reason: String,
    /// The version to publish it under instead.
    pub publish: Version,
}

impl Comparison {
    /// Whether the new build's interface version says what changed: a breaking change needs
    /// a version no host of the old one accepts (`^old` does not match it), appended
    /// functions a new minor version (a new patch version under 0.x). No change needs
    /// nothing.
    pub fn versioning(&self) -> Result<(), VersionError> {
        let (old, new) = (&self.old.interface_version, &self.new.interface_version);
        match &self.change {
            Change::NoChange => Ok(()),
            Change::Breaking { .. } if same_major(old, new) => Err(VersionError {
                reason: format!(
                    "a breaking change, but hosts of {old} accept {new} (the same major version)"
                ),
                publish: next_major(old),
            }),
            Change::Minor { .. } if same_major(old, new) && !newer_minor(old, new) => {
                Err(VersionError {
                    reason: format!(
                        "functions appended, but {new} is not a newer minor version than {old}"
                    ),
                    publish: next_minor(old),
                })
            }
            _ => Ok(()),
        }
    }
}

/// Whether `^old` accepts `new`'s major version (Cargo's rule: the first non-zero
/// component).
fn same_major(old: &Version, new: &Version) -> bool {
    match (old.major, old.minor) {
        (0, 0) => new.major == 0 && new.minor == 0 && new.patch == old.patch,
        (0, minor) => new.major == 0 && new.minor == minor,
        (major, _) => new.major == major,
    }
}

/// Within one major version: whether `new` is a newer minor version (under 0.x, a newer
/// patch version: the minor version is the major one there).
fn newer_minor(old: &Version, new: &Version) -> bool {
    if old.major > 0 {
        new.minor > old.minor
    } else {
        new.patch > old.patch
    }
}

fn next_major(v: &Version) -> Version {
    match (v.major, v.minor) {
        (0, 0) => Version::new(0, 0, v.patch + 1),
        (0, minor) => Version::new(0, minor + 1, 0),
        (major, _) => Version::new(major + 1, 0, 0),
    }
}

fn next_minor(v: &Version) -> Version {
    if v.major > 0 {
        Version::new(v.major, v.minor + 1, 0)
    } else {
        Version::new(0, v.minor, v.patch + 1)
    }
}

/// Compares the root-module layouts of two plugin files built against two versions of one
/// interface: `old`, then `new`. Each file is read once and its header checked first (stages
/// 1 to 3, as [`inspect`](super::inspect())), so a file that is no plugin is refused before
/// anything is opened, as are two files of different interfaces; then a private snapshot of
/// those bytes is opened, as a loader does. The verdict is the load-time check's, both ways;
/// what was appended (functions, object methods, host services, xplug's own entries) is read
/// from both layouts' descriptions.
///
/// # Runs plugin code
/// Opens both files with the dynamic loader in this process, which runs their static
/// constructors and abi_stable's checks of the C ABI (their code), as loading does (see the
/// crate docs on what runs); no plugin function and no `on_load` hook is called. Compare only
/// builds you would run. The libraries stay loaded for the life of the process: run this in a
/// process made for it (`xplug abi-diff` runs it in a child process).
pub fn compare_builds(old: &Path, new: &Path) -> Result<Comparison, LoadError> {
    compare(Input::Plugin(old.to_owned()), Input::Plugin(new.to_owned()))
}

/// Compares two builds of one interface, each a plugin file or a layout description: `old`,
/// then `new`. Two plugin files are compared as [`compare_builds`] says; where a description
/// is involved, the plugin's layout (if any) is described and the two descriptions compared:
/// appended functions, object methods and host services are a minor change, anything else
/// breaking; entries of xplug's own tables are listed apart. Inputs of two interfaces or two
/// xplug ABIs cannot be compared (`InterfaceMismatch`, `AbiMismatch`).
///
/// # Runs plugin code
/// As [`compare_builds`], for each side that is a plugin file.
pub fn compare(old: Input, new: Input) -> Result<Comparison, LoadError> {
    // Headers and descriptions first: nothing is loaded for inputs that cannot be compared.
    let old_side = Side::read(&old)?;
    let new_side = Side::read(&new)?;
    // A refusal names the old side's build, when it is one, where a host's names the host.
    let against_old = |error: LoadError| match &old_side.compared.plugin {
        Some(old) => error.against_build(old),
        None => error,
    };
    if old_side.compared.interface_name != new_side.compared.interface_name {
        return Err(against_old(new_side.error(ErrorKind::InterfaceMismatch {
            expected: old_side.compared.interface_name.clone(),
            found: new_side.compared.interface_name.clone(),
        })));
    }
    let comparison = |change, xplug_appended| Comparison {
        old: old_side.compared.clone(),
        new: new_side.compared.clone(),
        change,
        xplug_appended,
    };
    let (old_abi, new_abi) = (old_side.compared.xplug_abi, new_side.compared.xplug_abi);
    if old_abi != new_abi {
        // Hosts refuse a plugin of another ABI before they open it: nothing to compare.
        return Err(against_old(new_side.error(ErrorKind::AbiMismatch {
            found: new_abi,
            supported: old_abi,
        })));
    }
    let old_layout = old_side.layout()?;
    let new_layout = new_side.layout()?;
    let described = old_side
        .description(old_layout)
        .and_then(|old| new_side.description(new_layout).map(|new| (old, new)))
        .map(|(old, new)| compare_descriptions(&old, &new));
    Ok(match (old_layout, new_layout) {
        (Some(old_layout), Some(new_layout)) => {
            // Checked as a host of the old version checks a plugin of the new one: both ways.
            let versions = Versions {
                interface: std::cmp::Ordering::Greater,
                same_xplug: old_side.compared.xplug_version == new_side.compared.xplug_version,
            };
            match (check(old_layout, new_layout, versions), described) {
                (Err(refusal), _) => comparison(
                    Change::Breaking {
                        differences: refusal.differences(),
                    },
                    Vec::new(),
                ),
                // The check passed: the descriptions say what was appended (or, stricter,
                // what else differs).
                (Ok(()), Ok((change, xplug_appended))) => comparison(change, xplug_appended),
                // Layouts too large to describe: what was appended cannot be said.
                (Ok(()), Err(e)) => return Err(e),
            }
        }
        _ => {
            let (change, xplug_appended) = described?;
            comparison(change, xplug_appended)
        }
    })
}

/// One side of a comparison: a plugin file read (its header checked), or a description.
struct Side {
    compared: Compared,
    path: PathBuf,
    plugin: Option<PluginFile>,
    description: Option<Description>,
}

impl Side {
    fn read(input: &Input) -> Result<Side, LoadError> {
        match input {
            Input::Plugin(path) => {
                let plugin = PluginFile::read(path)?;
                Ok(Side {
                    compared: Compared::of_plugin(plugin.info.clone()),
                    path: plugin.path.clone(),
                    plugin: Some(plugin),
                    description: None,
                })
            }
            Input::Description(path, description) => Ok(Side {
                compared: Compared::of_description(description),
                path: path.clone(),
                plugin: None,
                description: Some(description.clone()),
            }),
        }
    }

    /// An error about this side alone: no host is involved.
    fn error(&self, kind: ErrorKind) -> LoadError {
        match &self.plugin {
            Some(plugin) => plugin.error(kind),
            None => LoadError::new(&self.path, kind).without_host(),
        }
    }

    /// A plugin's root-module layout, opening its snapshot (none for a description).
    fn layout(&self) -> Result<Option<&'static TypeLayout>, LoadError> {
        self.plugin
            .as_ref()
            .map(PluginFile::root_layout)
            .transpose()
    }

    /// This side's description: a description's own, or one made from a plugin's `layout`
    /// with the plugin's own xplug release and ABI.
    fn description(&self, layout: Option<&'static TypeLayout>) -> Result<Description, LoadError> {
        if let Some(description) = &self.description {
            return Ok(description.clone());
        }
        let info = &self.compared;
        let layout = layout.ok_or_else(|| {
            self.error(ErrorKind::RootModule {
                message: String::from("no layout to describe"),
            })
        })?;
        let mut description =
            Description::of_layout(layout, &info.interface_name, &info.interface_version)
                .map_err(|message| self.error(ErrorKind::RootModule { message }))?;
        description.xplug = info.xplug_version.clone();
        description.xplug_abi = info.xplug_abi;
        Ok(description)
    }
}

/// Checks the root-module layout of `file` against `reference`'s, as a host built against
/// `reference`'s interface would at load (an older minor version of `file` is accepted, its
/// appended functions reported missing), after reading both headers.
///
/// # Runs plugin code
/// As [`compare_builds`]: opens both files in this process, and they stay loaded.
pub fn check_against(file: &Path, reference: &Path) -> Result<PluginInfo, LoadError> {
    let (reference, file, expected, found) = open_both(reference, file)?;
    let (reference_info, info) = (&reference.info, &file.info);
    let versions = Versions {
        interface: Versions::of(info, &reference_info.interface_version).interface,
        same_xplug: info.xplug_version == reference_info.xplug_version,
    };
    match check(expected, found, versions) {
        Ok(()) => Ok(file.info),
        Err(refusal) => Err(file
            .error(ErrorKind::LayoutMismatch {
                interface: info.interface_name.clone(),
                found: info.interface_version.clone(),
                host_version: reference_info.interface_version.clone(),
                difference: Box::new(refusal.first_difference()),
                details: refusal.errors.to_string(),
            })
            .against_build(reference_info)),
    }
}

type Both = (
    PluginFile,
    PluginFile,
    &'static TypeLayout,
    &'static TypeLayout,
);

/// Both headers, then both root-module layouts.
fn open_both(first: &Path, second: &Path) -> Result<Both, LoadError> {
    let first = PluginFile::read(first)?;
    let second = PluginFile::read(second)?;
    if first.info.interface_name != second.info.interface_name {
        return Err(second
            .error(ErrorKind::InterfaceMismatch {
                expected: first.info.interface_name.clone(),
                found: second.info.interface_name.clone(),
            })
            .against_build(&first.info));
    }
    if first.info.xplug_abi != second.info.xplug_abi {
        // As hosts do: another ABI is refused before the file is opened.
        return Err(second
            .error(ErrorKind::AbiMismatch {
                found: second.info.xplug_abi,
                supported: first.info.xplug_abi,
            })
            .against_build(&first.info));
    }
    let first_layout = first.root_layout()?;
    let second_layout = second.root_layout()?;
    Ok((first, second, first_layout, second_layout))
}

/// A plugin file read once, with its header (stages 1 to 3).
struct PluginFile {
    path: PathBuf,
    named: Named,
    /// The file the bytes were read from: a snapshot copy carries its marks.
    file: std::fs::File,
    bytes: Vec<u8>,
    info: PluginInfo,
    header: [u8; HEADER_SIZE],
}

impl PluginFile {
    fn read(path: &Path) -> Result<PluginFile, LoadError> {
        let plugin = file::open(path, FileRules::READING)?;
        let named = |e| plugin.named.error(e);
        let bytes = file::read(&plugin, FileRules::READING.max_size).map_err(named)?;
        let (info, header) = read_header(&plugin.path, bytes.as_slice()).map_err(named)?;
        Ok(PluginFile {
            path: plugin.path,
            named: plugin.named,
            file: plugin.file,
            bytes,
            info,
            header,
        })
    }

    /// An error about this file alone, named as it was given: no host is involved.
    fn error(&self, kind: ErrorKind) -> LoadError {
        let error = LoadError::new(&self.path, kind)
            .with_plugin(&self.info)
            .without_host();
        self.named.error(error)
    }

    /// Opens a private snapshot of the bytes read (a sealed memfd, or a copy in the private
    /// directory) and returns its root module's layout; the library stays loaded.
    fn root_layout(&self) -> Result<&'static TypeLayout, LoadError> {
        // About this file alone: no host is involved.
        let error = |kind| self.error(kind);
        let root_module = |e: LibraryError| {
            error(ErrorKind::RootModule {
                message: one_line(&e.to_string()),
            })
        };
        let snapshot_error = |e: std::io::Error| {
            error(ErrorKind::Snapshot {
                source: Arc::new(e),
            })
        };
        let opened = match open::seal(&self.bytes).map_err(error)? {
            Some(sealed) => {
                let raw = RawLibrary::load_at(&sealed.path);
                // The descriptor names the library for as long as it is loaded: for good.
                std::mem::forget(sealed);
                raw
            }
            None => {
                let copy = private_dir::write(
                    None,
                    &self.bytes,
                    &crate::process::library::label(&self.bytes),
                    process::next_copy_number,
                    Some(&self.file),
                )
                .map_err(snapshot_error)?;
                let raw = RawLibrary::load_at(&copy);
                private_dir::remove(&copy);
                raw
            }
        };
        let raw = opened.map_err(root_module)?;
        if open::header_in_memory(&raw).map_err(root_module)? != self.header {
            std::mem::forget(raw);
            return Err(error(ErrorKind::HeaderChanged {}));
        }
        // SAFETY: `raw` holds exactly the bytes whose xplug header stage 3 read, and that
        // header is in its memory unchanged: an `export_plugin!` plugin, which exports
        // abi_stable's root-module symbol with it (trusting the file's code is this function's
        // documented contract, as it is `Loader::load`'s). The references returned point into
        // the library, which is leaked right after: it is never unloaded, so `'static` holds.
        let header = unsafe { lib_header_from_raw_library(&raw) };
        std::mem::forget(raw);
        header.map_err(root_module)?.layout().ok_or_else(|| {
            error(ErrorKind::RootModule {
                message: String::from("the library exports no type-layout information"),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn versioning(old: &str, new: &str, change: Change) -> Result<(), Version> {
        let info = |version: &str| PluginInfo {
            name: String::from("x"),
            version: Version::new(0, 1, 0),
            interface_name: String::from("greeter"),
            interface_version: v(version),
            rustc: String::from("rustc 1.63.0"),
            target: String::from("x86_64-unknown-linux-gnu"),
            xplug_version: String::from("0.1.0"),
            panic_strategy: crate::info::PanicStrategy::Unwind,
            profile: crate::info::Profile::Debug,
            header_format: 2,
            xplug_abi: 1,
        };
        Comparison {
            old: Compared::of_plugin(info(old)),
            new: Compared::of_plugin(info(new)),
            change,
            xplug_appended: Vec::new(),
        }
        .versioning()
        .map_err(|e| e.publish)
    }

    #[test]
    fn versions_must_say_what_changed() {
        let breaking = || Change::Breaking {
            differences: Vec::new(),
        };
        let minor = || Change::Minor {
            appended: vec![String::from("shout")],
        };
        assert_eq!(versioning("1.1.0", "1.1.0", breaking()), Err(v("2.0.0")));
        assert_eq!(versioning("1.1.0", "1.4.2", breaking()), Err(v("2.0.0")));
        assert_eq!(versioning("1.1.0", "2.0.0", breaking()), Ok(()));
        assert_eq!(versioning("0.3.1", "0.3.9", breaking()), Err(v("0.4.0")));
        assert_eq!(versioning("0.3.1", "0.4.0", breaking()), Ok(()));
        assert_eq!(versioning("1.1.0", "1.1.5", minor()), Err(v("1.2.0")));
        assert_eq!(versioning("1.1.0", "1.2.0", minor()), Ok(()));
        assert_eq!(versioning("1.1.0", "2.0.0", minor()), Ok(()));
        assert_eq!(versioning("0.3.1", "0.3.1", minor()), Err(v("0.3.2")));
        assert_eq!(versioning("0.3.1", "0.3.2", minor()), Ok(()));
        assert_eq!(versioning("1.1.0", "1.1.0", Change::NoChange), Ok(()));
    }
}
