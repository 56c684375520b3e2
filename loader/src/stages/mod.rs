//! The load pipeline, one module per stage, and [`run`], which takes a file through them in
//! order. The stages and what each checks are described once, in the crate docs.
//!
//! | stage | module | runs plugin code |
//! |---|---|---|
//! | 1. file | [`file`] (permissions: `trust::permissions`) | no |
//! | trust | `trust` | no |
//! | 2. object format | [`object`] | no |
//! | 3. header | [`header`] | no |
//! | 4. compatibility | [`compat`] | no |
//! | 5. open + layout | [`open`], [`layout`] | static constructors |
//! | 6. init | [`init`] | the plugin's `on_load` |

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ::object::read::ReadRef;
use xplug::header::HEADER_SIZE;
use xplug::Interface;

use crate::digest::LazyDigest;
use crate::error::{ErrorKind, LoadError};
use crate::info::PluginInfo;
use crate::process::library::{Identity, Library, Probe, Source, Stamp};
use crate::process::lock;
use crate::process::registry::{self, Entry, Lookup};
use crate::sys::{FileId, SealedFile};
use crate::trust::{self, Entered, Quarantine, TrustPolicy};

pub(crate) mod compat;
pub(crate) mod file;
pub(crate) mod header;
pub(crate) mod init;
pub(crate) mod layout;
pub(crate) mod object;
pub(crate) mod open;

use compat::Requirements;
use file::{FileRules, Named, PluginFile};
use open::Image;

/// How a [`Loader`](crate::Loader) opens plugin files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadMode {
    /// The default: the file's bytes are read once and every check, and the code that runs,
    /// work on that private, sealed snapshot (see [`Loader::load`](crate::Loader::load)). The
    /// file may then be rewritten, renamed or deleted: loaded plugins are not affected, and
    /// loading the path again gives the new bytes as a new plugin. Identity is by content:
    /// the same bytes under any path are one plugin.
    #[default]
    Snapshot,
    /// The file itself is opened, for plugins that need their directory (libraries beside
    /// them found through `$ORIGIN`). The path is opened again; where files have an identity
    /// (Unix) the file it names before and after `dlopen` must be the file checked, elsewhere
    /// a file renamed over it in between is what loads (the header in memory is still
    /// compared with the one checked). Identity is the file (device and inode on Unix, the
    /// path elsewhere).
    ///
    /// The checks read the file's headers (and, for a trust policy or a quarantine journal,
    /// all its bytes once); the dynamic loader then maps the file as it is at that moment.
    /// Under a trust policy, only a file that no one but this user and root can change (it
    /// and every directory above it) loads in place
    /// ([`ErrorKind::InPlaceUnprotected`] otherwise, Unix): the policy checked the bytes read,
    /// and only such a file still holds them when it is mapped. A
    /// file whose size or modification time changed since its plugin was mapped (or, where
    /// both that load and this one read its bytes, their contents) is taken for rewritten.
    /// Whoever can write the file in between can change what runs: use in-place loading only
    /// for files no one else can write (the default refusal of world-writable files is part
    /// of that). A file rewritten in place while it is loaded changes the code under the
    /// running process: calls may then crash it. Install new versions by renaming a new file
    /// over the old one (a new file: the loaded one stays intact), or use snapshots. Loading a
    /// file rewritten in place is refused with [`ErrorKind::Replaced`].
    InPlace,
}

/// Everything a loader decides about the files it loads, set once by its builder methods.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) requirements: Requirements,
    pub(crate) file: FileRules,
    pub(crate) mode: LoadMode,
    pub(crate) snapshot_dir: Option<PathBuf>,
    pub(crate) trust: TrustPolicy,
    pub(crate) quarantine: Option<Quarantine>,
    /// How long a live handle's reload waits for calls on the version it replaces.
    #[cfg_attr(not(feature = "reload"), allow(dead_code))]
    pub(crate) reload_wait: Duration,
    /// How long an unload waits for the plugin's `on_unload` hook.
    pub(crate) unload_wait: Duration,
}

impl Options {
    /// A new loader's: interface `M`'s name, the default version rule, snapshots, no trust
    /// policy or journal, waits of a second.
    pub(crate) fn for_interface<M: Interface>() -> Options {
        let version = crate::host::host_version::<M>();
        Options {
            requirements: Requirements::new(
                M::INTERFACE_NAME,
                compat::default_requirement(&version),
            )
            .host_version(version),
            file: FileRules {
                max_size: file::DEFAULT_MAX_SIZE,
                allow_writable_by_others: false,
            },
            mode: LoadMode::Snapshot,
            snapshot_dir: None,
            trust: Default::default(),
            quarantine: None,
            reload_wait: Duration::from_secs(1),
            unload_wait: Duration::from_secs(1),
        }
    }

    /// Whether a load reads the file whole: a snapshot, or bytes a trust policy or a journal
    /// needs. Otherwise (in place) only its headers and dynamic symbols are read.
    fn reads_whole_file(&self) -> bool {
        self.mode == LoadMode::Snapshot || !self.trust.is_empty() || self.quarantine.is_some()
    }
}

/// A file that passed the stages [`run_checks`] (1 to 5) or [`run`] (1 to 6) ran: its library,
/// its real path, its checked root module, and its quarantine journal entry while its code has
/// not finished loading.
pub(crate) struct Checked<M> {
    pub(crate) library: Arc<Library>,
    pub(crate) path: PathBuf,
    /// How errors name the file.
    pub(crate) named: Named,
    pub(crate) module: M,
    /// Dropped (the entry cleared) once the load has finished, either way.
    pub(crate) journaled: Option<Entered>,
}

/// Takes the file at `requested` through every stage, `on_load` last, with `host` handed to
/// the plugin before it runs.
pub(crate) fn run<M: Interface>(
    options: &Options,
    requested: &Path,
    host: Option<&'static M::Host>,
) -> Result<Checked<M>, LoadError> {
    run_read(options, requested, open_and_read(options, requested)?, host)
}

/// Stage 6 on a file [`run_checks`] checked: its `on_load`, with `host` handed to the plugin
/// before it runs.
fn initialise<M: Interface>(
    checked: Checked<M>,
    host: Option<&'static M::Host>,
) -> Result<Checked<M>, LoadError> {
    init::on_load(&checked.library, &checked.path, checked.module, host)
        .map_err(|e| checked.named.error(e))?;
    Ok(checked)
}

/// The address of the host services a load hands its plugin (0 for none): what tells two sets
/// of services apart.
pub(crate) fn services_address<M: Interface>(host: Option<&'static M::Host>) -> usize {
    host.map_or(0, |host| host as *const M::Host as *const () as usize)
}

/// Stages 1 to 5: every check, and the `dlopen` between them, without `on_load`, for a load
/// that will hand the plugin the host services at `services` (0 for none).
///
/// Only what the checks need is read: a file loaded in place without a trust policy or a
/// journal is never read whole, and the file's SHA-256 is computed only for a policy with
/// digests, a journal, or a snapshot copied to a directory.
pub(crate) fn run_checks<M: Interface>(
    options: &Options,
    requested: &Path,
    services: usize,
) -> Result<Checked<M>, LoadError> {
    checks_after_read(
        options,
        requested,
        open_and_read(options, requested)?,
        services,
    )
}

/// [`run`] on a file stage 1 opened that is a snapshot already, sealed (an isolated plugin's
/// process gets its snapshot so): it is loaded as it is, not copied again.
pub(crate) fn run_sealed<M: Interface>(
    options: &Options,
    requested: &Path,
    plugin: PluginFile,
    sealed: Arc<SealedFile>,
    host: Option<&'static M::Host>,
) -> Result<Checked<M>, LoadError> {
    run_given(options, requested, plugin, Given::Sealed(sealed), host)
}

/// [`run`] on the snapshot copy a host made for an isolated plugin's process where it cannot
/// hand over a sealed one (Windows): the bytes read must be the ones the host checked (their
/// SHA-256 in hex, `expected`), and this process loads a copy of its own of them.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) fn run_copy<M: Interface>(
    options: &Options,
    requested: &Path,
    expected: &str,
    host: Option<&'static M::Host>,
) -> Result<Checked<M>, LoadError> {
    let plugin = file::open(requested, options.file)?;
    let mut options = options.clone();
    options.mode = LoadMode::Snapshot;
    run_given(&options, requested, plugin, Given::Expected(expected), host)
}

/// Stages 1 (after opening) to 6 on `plugin`, with what an isolated plugin's process was handed
/// (`given`).
fn run_given<M: Interface>(
    options: &Options,
    requested: &Path,
    plugin: PluginFile,
    given: Given<'_>,
    host: Option<&'static M::Host>,
) -> Result<Checked<M>, LoadError> {
    let named = plugin.named.clone();
    let services = services_address::<M>(host);
    let checked = check_opened::<M>(options, requested, plugin, services, given)
        .map_err(|e| named.error(e))?;
    init::on_load(&checked.library, &checked.path, checked.module, host)
        .map_err(|e| named.error(e))?;
    Ok(checked)
}

/// What an isolated plugin's process was handed with its file.
enum Given<'a> {
    Nothing,
    /// The same bytes, sealed, to load instead of a new snapshot.
    Sealed(Arc<SealedFile>),
    /// The SHA-256 (hex) the bytes must have.
    Expected(&'a str),
}

/// Stages 1 (after opening) to 5 on the file `plugin`, with what an isolated plugin's process
/// was handed (`given`).
fn check_opened<M: Interface>(
    options: &Options,
    requested: &Path,
    plugin: PluginFile,
    services: usize,
    given: Given<'_>,
) -> Result<Checked<M>, LoadError> {
    let bytes = read_checked(options, requested, &plugin, &given)?;
    check_read(options, requested, plugin, services, given, bytes)
}

/// A file stage 1 opened, refused if stages 2 to 4 or the permission rule refuse it, and its
/// bytes if the load reads it whole: the part of a load that depends on nothing but the file
/// (no process-wide state), which [`Loader::load_dir`](crate::Loader::load_dir) runs for
/// several files at once.
pub(crate) struct Read {
    plugin: PluginFile,
    bytes: Option<file::Bytes>,
}

/// Stage 1 and [`read_checked`] on the file at `requested`.
pub(crate) fn open_and_read(options: &Options, requested: &Path) -> Result<Read, LoadError> {
    // 1. The file, opened once.
    let plugin = file::open(requested, options.file)?;
    let named = plugin.named.clone();
    match read_checked(options, requested, &plugin, &Given::Nothing) {
        Ok(bytes) => Ok(Read { plugin, bytes }),
        Err(e) => Err(named.error(e)),
    }
}

/// Stages 2 to 6 on a file [`open_and_read`] read, for a load that hands the plugin `host`.
pub(crate) fn run_read<M: Interface>(
    options: &Options,
    requested: &Path,
    read: Read,
    host: Option<&'static M::Host>,
) -> Result<Checked<M>, LoadError> {
    let services = services_address::<M>(host);
    initialise(checks_after_read(options, requested, read, services)?, host)
}

/// Stages 2 to 5 on a file [`open_and_read`] read, for a load that will hand the plugin the
/// host services at `services`.
fn checks_after_read<M: Interface>(
    options: &Options,
    requested: &Path,
    read: Read,
    services: usize,
) -> Result<Checked<M>, LoadError> {
    let named = read.plugin.named.clone();
    check_read(
        options,
        requested,
        read.plugin,
        services,
        Given::Nothing,
        read.bytes,
    )
    .map_err(|e| named.error(e))
}

/// The first part of [`check_opened`]: refuses what stages 2 to 4 refuse from the file's
/// first blocks, then checks who may change it, then reads it whole if the load needs its
/// bytes.
fn read_checked(
    options: &Options,
    requested: &Path,
    plugin: &PluginFile,
    given: &Given<'_>,
) -> Result<Option<file::Bytes>, LoadError> {
    // A file this host would refuse at stages 2 to 4 is refused from what they read of it,
    // as `inspect` reads it, before the whole file is read (its header is read again from
    // those bytes, which are what runs). With a trust policy, nothing of a file is parsed
    // before the policy has seen all of it.
    if options.reads_whole_file() && options.trust.is_empty() {
        let (info, _) = read_header_from_file(plugin)?;
        options.requirements.check(&plugin.path, &info)?;
    }
    // Who may change the file: checked on the file this process opened (an isolated plugin's
    // process is handed a snapshot its host checked).
    if !matches!(given, Given::Sealed(_)) {
        file::check_permissions(plugin, requested, options.file)?;
    }
    // Its bytes read once when a check or the snapshot needs them. A new snapshot in a memfd is
    // made now, by the kernel, and its sealed bytes are what every check reads.
    let snapshot_now = options.mode == LoadMode::Snapshot
        && options.snapshot_dir.is_none()
        && matches!(given, Given::Nothing);
    Ok(match (options.reads_whole_file(), snapshot_now) {
        (false, _) => None,
        (true, true) => Some(file::read_snapshot(plugin, options.file.max_size)?),
        (true, false) => Some(file::Bytes::Read(file::read(
            plugin,
            options.file.max_size,
        )?)),
    })
}

/// The rest of [`check_opened`], on the bytes [`read_checked`] read.
fn check_read<M: Interface>(
    options: &Options,
    requested: &Path,
    plugin: PluginFile,
    services: usize,
    given: Given<'_>,
    bytes: Option<file::Bytes>,
) -> Result<Checked<M>, LoadError> {
    let digest = bytes.as_deref().map(LazyDigest::new);
    let (sealed, expected) = match given {
        Given::Nothing => (bytes.as_ref().and_then(file::Bytes::sealed), None),
        Given::Sealed(sealed) => (Some(sealed), None),
        Given::Expected(expected) => (None, Some(expected)),
    };
    if let Some(expected) = expected {
        let held = digest.as_ref().map(|digest| digest.get().to_string());
        if held.as_deref() != Some(expected) {
            return Err(LoadError::new(
                &plugin.path,
                ErrorKind::Isolation {
                    reason: "the snapshot copy does not hold the bytes its host checked (it \
                             changed on disk)"
                        .to_owned(),
                    stderr: String::new(),
                },
            ));
        }
    }
    // Trust: the host's policy on those bytes, before any of them is parsed. In place, the
    // file is opened again by its path: only a file no one else can change still holds them.
    if let Some(digest) = &digest {
        options.trust.check(requested, &plugin.path, digest)?;
        if options.mode == LoadMode::InPlace && !options.trust.is_empty() {
            trust::permissions::check_protected(&plugin.path, &plugin.meta)?;
        }
    }
    // The plugin of these bytes (for a snapshot: with these services), if the process has it.
    // (A snapshot load always has its bytes: `reads_whole_file`.)
    let (identity, probe) = match (options.mode, &bytes, &digest) {
        (LoadMode::Snapshot, Some(bytes), Some(digest)) => (
            Identity::of_content(
                bytes.len(),
                bytes.content_hash(crate::process::seed()),
                services,
            ),
            Probe::Snapshot(digest),
        ),
        _ => (
            Identity::File(FileId::of(&plugin.path, &plugin.meta)),
            Probe::InPlace(Stamp::of(&plugin.meta, bytes.as_deref())),
        ),
    };
    let entry = match registry::find(&identity, &probe) {
        Lookup::Found(entry) => entry,
        Lookup::Missing(seen) => {
            // 2. Object format and 3. header, from the bytes read or through the descriptor.
            let (info, header) = match &bytes {
                Some(bytes) => read_header(&plugin.path, bytes.as_slice())?,
                None => read_header_from_file(&plugin)?,
            };
            // 4. Compatibility. A plugin refused so far is not registered: nothing is kept.
            options.requirements.check(&plugin.path, &info)?;
            let source = match &probe {
                // Sealed only once every check that reads the file passed.
                Probe::Snapshot(digest) => match sealed {
                    // The bytes were read from this very file, sealed (the snapshot made
                    // above, or the one an isolated plugin's process was handed): they are
                    // what it holds.
                    Some(sealed) if crate::sys::is_sealed(&sealed.file) => Source::Sealed(sealed),
                    _ => snapshot_source(options, &plugin.path, &info, digest)?,
                },
                Probe::InPlace(stamp) => Source::InPlace(*stamp),
            };
            registry::register(identity, Library::new(info, header, source), &seen, &probe)
        }
    };
    let library = match entry {
        Entry::Plugin(library) => library,
        Entry::Replaced(loaded) => {
            return Err(
                LoadError::new(&plugin.path, ErrorKind::Replaced {}).with_plugin(&loaded.info)
            )
        }
    };
    // 4 again, for a plugin registered by a loader with other requirements.
    options.requirements.check(&plugin.path, &library.info)?;
    // Trust, for what the plugin loads in turn: its library search paths (at every load:
    // the plugin may have been registered by a loader with another policy).
    if let (false, Some(bytes)) = (options.trust.is_empty(), &bytes) {
        let origin = match options.mode {
            LoadMode::InPlace => plugin.path.parent(),
            _ => None,
        };
        let paths = search_paths(&plugin.path, bytes.as_slice())?;
        trust::permissions::check_search_paths(&plugin.path, &paths, origin)
            .map_err(|e| e.with_plugin(&library.info))?;
    }
    // The quarantine journal lists the plugin before its code first runs.
    let journaled = match (&options.quarantine, &digest) {
        (Some(journal), Some(digest)) if !library.is_settled() => Some(
            journal
                .enter(digest.get(), &plugin.path)
                .map_err(|e| e.with_plugin(&library.info))?,
        ),
        _ => None,
    };
    // 5. Open (static constructors run here), then the layout check.
    let image = match (&probe, &library.source) {
        (Probe::Snapshot(_), Source::Sealed(sealed)) => Image::Sealed(sealed),
        (Probe::Snapshot(digest), _) => Image::Copy {
            bytes: digest.bytes(),
            dir: options.snapshot_dir.as_deref(),
            original: &plugin.file,
        },
        (Probe::InPlace(_), _) => Image::InPlace(&plugin),
    };
    let opened = open::open_once(&library, &plugin.path, image)?;
    let module = layout::module::<M>(&library, &plugin.path, opened.header)?;
    let runtime = module.__runtime();
    let mut known = lock(&library.runtime);
    if known.is_none() {
        // The errors of its calls name it.
        xplug::__private::name_module(runtime, &library.info.label());
    }
    *known = Some(runtime);
    drop(known);
    Ok(Checked {
        library,
        path: plugin.path,
        named: plugin.named,
        module,
        journaled,
    })
}

/// Where a new snapshot's code will come from: a sealed memfd, or a copy in a private
/// directory where memfds cannot be executed or the host named a directory.
fn snapshot_source(
    options: &Options,
    path: &Path,
    info: &PluginInfo,
    digest: &LazyDigest<'_>,
) -> Result<Source, LoadError> {
    let sealed = match options.snapshot_dir {
        Some(_) => None,
        None => open::seal(digest.bytes())
            .map_err(|kind| LoadError::new(path, kind).with_plugin(info))?,
    };
    Ok(match sealed {
        Some(sealed) => Source::Sealed(sealed),
        None => Source::Copy(digest.get()),
    })
}

/// Stages 2 and 3 on `data`, the contents of the file at `path`: its header, parsed and as
/// bytes.
pub(crate) fn read_header<'data, R: ReadRef<'data>>(
    path: &Path,
    data: R,
) -> Result<(PluginInfo, [u8; HEADER_SIZE]), LoadError> {
    let parsed = object::parse(path, data, crate::sys::Platform::host())?;
    header::read(path, data, &parsed)
}

/// The library search paths the file at `path`, whose contents are `data`, lists (see
/// `object::search_paths`): checked against the trust policy, which covers what they load.
pub(crate) fn search_paths<'data, R: ReadRef<'data>>(
    path: &Path,
    data: R,
) -> Result<Vec<String>, LoadError> {
    let parsed = object::parse(path, data, crate::sys::Platform::host())?;
    object::search_paths(&parsed, data).map_err(|reason| {
        LoadError::new(
            path,
            ErrorKind::Malformed {
                format: String::from("ELF"),
                reason,
            },
        )
    })
}

/// Stages 2 and 3 on the file stage 1 opened, read through its descriptor in the pieces they
/// need, each within the size stage 1 saw (and capped): a file growing meanwhile does not
/// widen the bounds.
pub(crate) fn read_header_from_file(
    plugin: &PluginFile,
) -> Result<(PluginInfo, [u8; HEADER_SIZE]), LoadError> {
    let reads = file::Reads::of(plugin);
    read_header(&plugin.path, &reads)
}

#[cfg(feature = "trust")]
impl TrustPolicy {
    /// Reads the file at `path` once (stage 1: a regular file of at most 512 MiB, any
    /// permissions) and checks its bytes against this policy; returns their SHA-256. Nothing
    /// of the file is parsed or run.
    pub fn check_file(&self, path: impl AsRef<Path>) -> Result<crate::trust::Sha256, LoadError> {
        let path = path.as_ref();
        let plugin = file::open(path, FileRules::READING)?;
        let bytes =
            file::read(&plugin, FileRules::READING.max_size).map_err(|e| plugin.named.error(e))?;
        let digest = LazyDigest::new(&bytes);
        self.check(path, &plugin.path, &digest)
            .map_err(|e| plugin.named.error(e))?;
        Ok(digest.get())
    }
}
