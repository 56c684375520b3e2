//! [`ErrorKind`]: every way a load can fail, declared once in the table below with its
//! [`Stage`], its one-line text and its `help:` line. Adding a rejection means adding one
//! entry there (and a test that produces it).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use semver::{Version, VersionReq};

use crate::digest::Sha256;
use crate::host::host_target;

/// The stage of the load pipeline at which a file was refused.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Stage {
    /// 1. The path names a regular, readable file that not every user can write.
    File,
    /// 1b. The file's bytes meet the host's trust policy (pins, signatures).
    Trust,
    /// 2. The file is a shared library for this OS and architecture.
    Object,
    /// 3. The library carries a valid xplug header.
    Header,
    /// 4. The header matches the host's interface name, version, target and panic strategy.
    Compatibility,
    /// 5a. The dynamic loader opens the library (a private snapshot of it by default),
    /// and its root module is there, with the header that was checked.
    Open,
    /// 5b. The root module's type layout matches the host's.
    Layout,
    /// 6. The plugin's `on_load` hook succeeds.
    Init,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::File => "file",
            Stage::Trust => "trust",
            Stage::Object => "object format",
            Stage::Header => "header",
            Stage::Compatibility => "compatibility",
            Stage::Open => "open",
            Stage::Layout => "layout",
            Stage::Init => "init",
        })
    }
}

/// The first difference between the host's and the plugin's root-module layout.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct LayoutDifference {
    /// Where the layouts differ, e.g. `GreeterModule.add`.
    pub at: String,
    /// What differs, e.g. `type differs`.
    pub what: String,
    /// The host's side.
    pub expected: String,
    /// The plugin's side.
    pub found: String,
}

impl fmt::Display for LayoutDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at `{}`: expected {}, found {}",
            self.what, self.at, self.expected, self.found
        )
    }
}

/// Serializes an error source as its message.
#[cfg(feature = "serde")]
fn display<T: fmt::Display + ?Sized, S: serde::Serializer>(
    value: &Arc<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Declares [`ErrorKind`] from one table: per kind its docs, facts, stage, one-line text (a
/// `thiserror` format over the facts), `help:` line and optional extra report lines. The
/// `help` and `notes` expressions see the facts by reference.
macro_rules! error_kinds {
    ($(
        $(#[doc = $doc:literal])*
        $kind:ident { $( $(#[$fattr:meta])* $field:ident : $ty:ty ),* $(,)? }
            stage: $stage:ident,
            text: ($($text:tt)+),
            help: $help:expr
            $(, notes: $notes:expr)?;
    )+) => {
        /// What failed, with the facts of that check. Each kind belongs to one [`Stage`].
        #[derive(Clone, Debug, thiserror::Error)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        #[cfg_attr(feature = "serde", serde(tag = "variant", rename_all = "snake_case"))]
        #[non_exhaustive]
        pub enum ErrorKind {
            $(
                $(#[doc = $doc])*
                #[error($($text)+)]
                #[non_exhaustive]
                $kind { $( $(#[$fattr])* $field: $ty ),* },
            )+
        }

        impl ErrorKind {
            /// The pipeline stage this kind of failure belongs to.
            pub fn stage(&self) -> Stage {
                match self {
                    $( ErrorKind::$kind { .. } => Stage::$stage, )+
                }
            }

            /// The `help:` line: who must do what.
            #[allow(unused_variables)]
            pub(crate) fn help(&self) -> String {
                match self {
                    $( ErrorKind::$kind { $($field),* } => String::from($help), )+
                }
            }

            /// Report lines beyond the one-line text; those starting `note: ` go last.
            #[allow(unused_variables)]
            pub(crate) fn notes(&self) -> Vec<String> {
                match self {
                    $( ErrorKind::$kind { $($field),* } => {
                        $( return $notes; )?
                        #[allow(unreachable_code)]
                        Vec::new()
                    } )+
                }
            }

            /// The name of every kind, in declaration order.
            #[doc(hidden)]
            pub const NAMES: &'static [&'static str] = &[$(stringify!($kind)),+];
        }
    };
}

error_kinds! {
    // ---- Stage 1: the file ------------------------------------------------------------------
    /// Nothing exists at the path.
    NotFound {}
        stage: File,
        text: ("no such file"),
        help: "check the path, or install the plugin there";

    /// The path exists but is not a regular file.
    NotAFile {
        /// What it is instead, e.g. `directory`.
        kind: &'static str,
    }
        stage: File,
        text: ("not a regular file but a {kind}"),
        help: "point the host at a plugin file; `Loader::load_dir` loads a directory";

    /// A file loaded in place ([`LoadMode::InPlace`](crate::LoadMode)) was rewritten in place
    /// since (the error's plugin is the one loaded from it). Its mapped code changed under the
    /// process; the new bytes cannot take its place.
    Replaced {}
        stage: File,
        text: ("the file was rewritten in place after a plugin was loaded from it in place"),
        help: "install new versions by renaming a new file over the old one, or load \
               snapshots (`LoadMode::Snapshot`, the default)";

    /// Every user can write the file, or a directory on its path (one without the sticky bit
    /// protecting this user's entry) (Unix).
    WritableByOthers {
        /// `file` or `directory`.
        kind: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    }
        stage: File,
        text: ("the {kind} {} is writable by every user (mode {mode:04o})", .path.display()),
        help: format!(
            "whoever installs plugins: `chmod o-w {}`; host author: \
             `Loader::allow_writable_by_others(true)` accepts it",
            path.display()
        );

    /// The file, or a symlink on the way to it, belongs to another user than this host's user
    /// and root (Unix): that user can change what runs in the host.
    ForeignOwner {
        /// The file or symlink.
        path: PathBuf,
        /// Its owner's user id.
        owner: u32,
    }
        stage: File,
        text: ("{} belongs to user {owner}, not to this host's user or root", .path.display()),
        help: format!(
            "whoever installs plugins: `chown -h root {}` (or the host's user); host \
             author: `Loader::allow_writable_by_others(true)` accepts it",
            path.display()
        );

    /// The path could not be read.
    Unreadable {
        /// The I/O error.
        #[cfg_attr(feature = "serde", serde(serialize_with = "display"))]
        source: Arc<io::Error>,
    }
        stage: File,
        text: ("cannot read it: {source}"),
        help: "check that the path exists, is of the right kind, and is readable by the \
                        host's user";

    /// A thread the loader needs could not be started (a directory watcher's): the system
    /// refused it, out of threads or memory.
    ThreadNotStarted {
        /// The thread's name.
        thread: &'static str,
        /// The system's error.
        #[cfg_attr(feature = "serde", serde(serialize_with = "display"))]
        source: Arc<io::Error>,
    }
        stage: File,
        text: ("cannot start the {thread} thread: {source}"),
        help: "host author: the system refused a thread (its limits on threads, memory or \
               address space): raise them, or use fewer threads";

    /// The file is larger than the host reads (`Loader::max_file_size`).
    TooLarge {
        /// The file's size in bytes.
        size: u64,
        /// The largest size the host reads.
        limit: u64,
    }
        stage: File,
        text: ("{size} bytes, more than the {limit} this host reads"),
        help: "a plugin this large is unusual: check the file; host author: \
               `Loader::max_file_size` raises the limit";

    // ---- Trust: the host's policy on the file's bytes --------------------------------------
    /// The file's SHA-256 is not one the host's trust policy allows
    /// (`TrustPolicy::require_sha256`, `TrustPolicy::allow_list`).
    NotAllowed {
        /// The file's digest.
        sha256: Sha256,
    }
        stage: Trust,
        text: ("its SHA-256 {sha256} is not on this host's allow-list"),
        help: "host operator: add the digest to the allow-list if this file is trusted \
               (`sha256sum FILE >> LIST`); otherwise remove it";

    /// The host requires signed plugins and the file has no signature beside it.
    SignatureMissing {
        /// Where the signature was looked for.
        signature: PathBuf,
    }
        stage: Trust,
        text: ("no signature: {} does not exist", .signature.display()),
        help: "plugin publisher: sign it with `minisign -Sm FILE` and install the `.minisig` \
               beside it";

    /// The file's signature is not a valid signature of its bytes by a trusted key.
    BadSignature {
        /// The signature file.
        signature: PathBuf,
        /// What is wrong.
        reason: String,
    }
        stage: Trust,
        text: ("bad signature {}: {reason}", .signature.display()),
        help: "install the file and signature as published; plugin publisher: sign with a \
               key this host trusts";

    /// A file to load in place under a trust policy that others than this host's user and
    /// root could change between the check of its bytes and the `dlopen` of its path (Unix).
    InPlaceUnprotected {
        /// The file, or the directory above it, that others could change.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
        /// Its owner's user id.
        owner: u32,
    }
        stage: Trust,
        text: ("loaded in place under a trust policy, but {} (mode {mode:04o}, user {owner}) can be changed by others than this host's user and root: the bytes checked might not be the bytes run", .path.display()),
        help: "host author: load snapshots (`LoadMode::Snapshot`, the default); or whoever \
               installs plugins: make the file and its directories writable by root or the \
               host's user alone (`chmod go-w`)";

    /// Under a trust policy: the plugin lists a library search path (`RUNPATH`, `RPATH`) that
    /// lets others choose the libraries it loads, which the policy does not check (Unix).
    UnsafeSearchPath {
        /// The search path as the plugin lists it.
        entry: String,
        /// Why others could choose what it loads.
        reason: String,
    }
        stage: Trust,
        text: ("its library search path `{entry}` {reason}"),
        help: "plugin author: link without that search path (`-Wl,-rpath`); or whoever \
               installs plugins: make its directory writable by root or the host's user alone";

    // ---- Stage 2: the object format ----------------------------------------------------------
    /// The file is not an object file of any kind this loader knows.
    NotALibrary {
        /// What the file looks like instead.
        reason: String,
    }
        stage: Object,
        text: ("not a shared library: {reason}"),
        help: "remove it from the plugin directory; plugins are shared libraries";

    /// An object file of another platform's format (e.g. a PE DLL on Linux).
    WrongFormat {
        /// The host's format.
        expected: &'static str,
        /// The file's format.
        found: String,
    }
        stage: Object,
        text: ("a {found} file, but this platform loads {expected} libraries"),
        help: format!("plugin author: build the plugin for {}", host_target());

    /// A library for another processor architecture.
    WrongArchitecture {
        /// The host's architecture.
        expected: String,
        /// The file's architecture.
        found: String,
    }
        stage: Object,
        text: ("built for {found}, but this host runs on {expected}"),
        help: format!("plugin author: rebuild with `--target {}`", host_target());

    /// An object file that is not a shared library (an executable, an object file).
    NotASharedLibrary {
        /// What kind of object file it is.
        kind: String,
    }
        stage: Object,
        text: ("{kind}, not a shared library"),
        help: "plugin author: build it with `crate-type = [\"cdylib\"]`";

    /// The file starts like a library but cannot be parsed (e.g. truncated).
    Malformed {
        /// The format its first bytes claim.
        format: String,
        /// What the parser found wrong.
        reason: String,
    }
        stage: Object,
        text: ("damaged {format} file: {reason}"),
        help: "the file is incomplete or corrupt (a truncated copy?): reinstall it";

    // ---- Stage 3: the header -----------------------------------------------------------------
    /// A shared library without an xplug header.
    NotAPlugin {}
        stage: Header,
        text: ("not an xplug plugin: a shared library without the `{}` symbol", xplug::header::HEADER_SYMBOL),
        help: "remove it from the plugin directory; plugins export themselves with \
                        `xplug::export_plugin!`";

    /// The header is there but unreadable or inconsistent.
    BadHeader {
        /// What is wrong with it.
        reason: String,
    }
        stage: Header,
        text: ("invalid xplug header: {reason}"),
        help: "plugin author: rebuild the plugin with a released `xplug`";

    /// A header format newer than this loader understands.
    UnsupportedHeader {
        /// The file's header format.
        found: u32,
        /// The newest format this loader reads.
        supported: u32,
    }
        stage: Header,
        text: ("xplug header format {found}, but this host reads format {supported} and older"),
        help: "host author: upgrade `xplug-loader`";

    // ---- Stage 4: compatibility --------------------------------------------------------------
    /// The plugin speaks another xplug ABI (the contract below every interface: hooks,
    /// runtime, object headers) than this host.
    AbiMismatch {
        /// The plugin's xplug ABI; 0 if it was built before ABI 1.
        found: u16,
        /// The ABI this host speaks.
        supported: u16,
    }
        stage: Compatibility,
        text: ("the plugin speaks {}, but this host speaks xplug ABI {supported}", abi_name(*found)),
        help: if found < supported {
            format!("plugin author: rebuild the plugin with an `xplug` of ABI {supported} (this host's, {})", xplug::__private::build_info::XPLUG_VERSION)
        } else {
            format!("host author: upgrade `xplug-loader` to a release that speaks xplug ABI {found}")
        };

    /// The plugin implements another interface.
    InterfaceMismatch {
        /// The host's interface name.
        expected: String,
        /// The plugin's interface name.
        found: String,
    }
        stage: Compatibility,
        text: ("the plugin implements interface `{found}`, but this host loads `{expected}`"),
        help: format!(
            "install it in a host for `{found}`, or rebuild it against `{expected}`"
        );

    /// The plugin's interface version does not satisfy the host's requirement.
    VersionMismatch {
        /// The interface's name.
        interface: String,
        /// The interface version the plugin was built against.
        found: Version,
        /// The host's requirement on the interface version.
        required: VersionReq,
        /// The host's interface version, if the check was made for a host.
        host_version: Option<Version>,
    }
        stage: Compatibility,
        text: ("interface `{interface}`: the plugin was built against {found}, {}", accepted(.required, .host_version.as_ref())),
        help: version_help(interface, found, required, host_version.as_ref()),
        notes: host_version.iter().map(|v| format!("note: the host implements `{interface}` {v}")).collect();

    /// The plugin was built for another target triple.
    TargetMismatch {
        /// The host's target triple.
        expected: String,
        /// The plugin's target triple.
        found: String,
    }
        stage: Compatibility,
        text: ("built for {found}, but this host is {expected}"),
        help: format!("plugin author: rebuild with `--target {expected}`");

    /// The plugin aborts on panic, so a panic in it would kill the host.
    PanicAbort {}
        stage: Compatibility,
        text: ("built with panic = \"abort\": a panic in it would abort the host"),
        help: "plugin author: build with panic = \"unwind\" (the default); host author: \
                        `Loader::allow_panic_abort(true)` accepts it at your own risk";

    // ---- Stage 5: open and layout ------------------------------------------------------------
    /// The dynamic loader refused the library.
    Open {
        /// The dynamic loader's error.
        #[cfg_attr(feature = "serde", serde(serialize_with = "display"))]
        source: Arc<dyn std::error::Error + Send + Sync>,
    }
        stage: Open,
        text: ("the dynamic loader refused it: {source}"),
        help: "install the libraries it depends on, or rebuild it for this system";

    /// The library's root module is missing or its abi_stable runtime is incompatible.
    RootModule {
        /// What is wrong with it.
        message: String,
    }
        stage: Open,
        text: ("unusable root module: {message}"),
        help: "plugin author: export the plugin with `xplug::export_plugin!`, built with \
                        the `xplug` version the host uses";

    /// The plugin's root-module type layout differs from the host's.
    LayoutMismatch {
        /// The interface's name.
        interface: String,
        /// The interface version the plugin was built against.
        found: Version,
        /// The host's interface version.
        host_version: Version,
        /// The first difference found.
        difference: Box<LayoutDifference>,
        /// abi_stable's full report, for when the first difference is not enough (hundreds of
        /// lines; not serialized).
        #[cfg_attr(feature = "serde", serde(skip))]
        details: String,
    }
        stage: Layout,
        text: ("interface `{interface}` {found}: {} at `{}`", .difference.what, .difference.at),
        help: if same_release(found, host_version) {
            String::from(
                "interface author: a layout change is a breaking change: bump the interface \
                 crate's major version",
            )
        } else {
            format!("plugin author: rebuild the plugin against the `{interface}` interface {host_version}")
        },
        notes: {
            let mut lines = vec![
                format!("  expected: {}", difference.expected),
                format!("     found: {}", difference.found),
            ];
            if same_release(found, host_version) {
                lines.push(format!(
                    "note: both sides claim {host_version}, so the interface changed without a version bump"
                ));
            }
            lines
        };

    /// The plugin could not be run in a process of its own ([`Loader::isolate`](crate::Loader::isolate)):
    /// the runner could not be started, did not serve the interface, crashed or hung while
    /// loading, or the load asks for what isolation does not offer.
    Isolation {
        /// Why.
        reason: String,
        /// The last lines its process wrote to standard error, if it ran.
        stderr: String,
    }
        stage: Open,
        text: ("cannot run it isolated: {reason}"),
        help: "host author: see the reason; the runner is this executable unless \
               `Isolation::runner` names another, and its `main` must call \
               `xplug_loader::isolation::serve_if_child` first",
        notes: stderr.lines().map(|line| format!("  stderr: {line}")).collect();

    /// The plugin's own process refused it: a check that runs where the plugin's code runs
    /// (opening it, the layout check) failed there. The facts are the report's lines.
    RefusedIsolated {
        /// The kind of the refusal in the plugin's process, e.g. `LayoutMismatch`.
        kind: String,
        /// Its text.
        text: String,
        /// Its `help:` line.
        help: String,
        /// Its other report lines.
        notes: Vec<String>,
    }
        stage: Layout,
        text: ("{text}"),
        help: help.clone(),
        notes: notes.clone();

    /// The private snapshot could not be made (memfd or private directory).
    Snapshot {
        /// The I/O error.
        #[cfg_attr(feature = "serde", serde(serialize_with = "display"))]
        source: Arc<io::Error>,
    }
        stage: Open,
        text: ("cannot make a private snapshot to load: {source}"),
        help: "host author: check the snapshot directory (`Loader::snapshot_dir`), or load \
               in place (`LoadMode::InPlace`)";

    /// What was opened is not what was checked: the header in memory after opening differs
    /// from the one checked in the file (the library rewrote it while loading: relocations,
    /// constructors), or, in place, the path named another file by the time it was opened.
    HeaderChanged {}
        stage: Open,
        text: ("what was opened is not what was checked: its header in memory, or its file, differs"),
        help: "do not load this file: what was checked is not what runs";

    /// A load that must wait for this plugin's own load to finish: a plugin that loads itself
    /// from its `on_load` hook or a static constructor, or two plugins whose loads wait for
    /// each other.
    Reentrant {
        /// What is still running: `static constructors`, `on_load hook` or `reload`.
        step: &'static str,
    }
        stage: Init,
        text: ("a load from inside the plugin's own load ({step} still running) would wait forever"),
        help: "plugin author: do not load plugins from a plugin's on_load hook or \
               constructors; load them later, from a function the host calls";

    // ---- Stage 6: init -----------------------------------------------------------------------
    /// The plugin's `on_load` hook returned an error.
    InitFailed {
        /// The hook's message.
        message: String,
    }
        stage: Init,
        text: ("its on_load hook refused to load: {message}"),
        help: "fix what the plugin's message names, then load it again";

    /// The plugin's `on_load` hook panicked (the panic was contained).
    InitPanicked {
        /// The panic message.
        message: String,
        /// Where it panicked (`file:line:column`), or empty.
        location: String,
    }
        stage: Init,
        text: ("its on_load hook panicked: {message}"),
        help: "plugin author: this is a bug in the plugin's on_load hook",
        notes: if location.is_empty() { Vec::new() } else { vec![format!("at {location}")] };

    /// The file, loaded in place, was loaded in this process before by a loader with other
    /// host services (or none): the plugin keeps the services it was handed at its first
    /// load, so this loader's would never reach it. (Snapshots get an instance per set of
    /// services instead.)
    ServicesDiffer {}
        stage: Init,
        text: ("already loaded in place in this process with other host services, which it keeps"),
        help: "host author: load a file in place through one loader (or its clones), or load \
               snapshots (`LoadMode::Snapshot`, the default): each set of services then gets \
               its own instance";

    /// A live handle's reload could not hand the serving version's state to the new one: the
    /// old version's `save_state` panicked, or the new one's `restore_state` refused the state
    /// or panicked. The old version keeps serving.
    StateNotHandedOver {
        /// The hook that failed: `save_state` (old version) or `restore_state` (new version).
        hook: &'static str,
        /// Its error or panic message.
        message: String,
    }
        stage: Init,
        text: ("the state handover failed in {hook}: {message}; the serving version keeps serving"),
        help: "plugin author: make the new version's restore_state accept what the old \
               version's save_state returns";

    /// A live handle's reload waited [`Loader::reload_wait`](crate::Loader::reload_wait) for
    /// the calls running on the serving version (each `reload::Held` of it) and some still
    /// ran, or it was asked for from inside such a call. Nothing was handed over; the serving
    /// version keeps serving.
    CallsStillRunning {
        /// How long it waited, in milliseconds (0: asked for from inside a call).
        waited_ms: u64,
    }
        stage: Init,
        text: ("{}; the serving version keeps serving", still_running(.waited_ms)),
        help: "host author: drop each `Held` once its calls are done, and reload from outside \
               calls through the live handle (or wait longer: `Loader::reload_wait`)";

    /// The host's quarantine journal could not be read or written, so the plugin's code was
    /// not run (a crash could not have been recorded).
    Journal {
        /// The journal.
        journal: PathBuf,
        /// The I/O error.
        #[cfg_attr(feature = "serde", serde(serialize_with = "display"))]
        source: Arc<io::Error>,
    }
        stage: Trust,
        text: ("cannot use the quarantine journal {}: {source}", .journal.display()),
        help: "host author: check the journal's directory and permissions \
               (`Loader::quarantine`)";

    /// The file's bytes are in the host's quarantine journal: the last time this process (or
    /// an earlier run) opened them, the process died before the plugin finished loading (a
    /// crash in a static constructor or in `on_load`).
    Quarantined {
        /// The journal that lists the file.
        journal: PathBuf,
    }
        stage: Trust,
        text: ("quarantined: the process died while this plugin was loading, in an earlier run (journal {})", journal.display()),
        help: "plugin author: fix the crash; host: replace the file, or clear it with `xplug quarantine clear JOURNAL FILE`";

    /// The file's bytes are in the host's quarantine journal: run isolated, the plugin's
    /// process crashed (or hung past its deadline) as often as its restart policy allows
    /// (`Restart::then_quarantine`), in this run or an earlier one.
    CrashedTooOften {
        /// The journal that lists the file.
        journal: PathBuf,
        /// How many times its process crashed.
        crashes: u32,
    }
        stage: Trust,
        text: ("quarantined: its isolated process crashed {crashes} times, as often as its restart policy allows (journal {})", journal.display()),
        help: "plugin author: fix the crash; host: replace the file, or clear it with `xplug quarantine clear JOURNAL FILE`";
}

/// `this host accepts ^1` for a host's requirement, `required: ^1` for a header-only check.
fn accepted(required: &VersionReq, host: Option<&Version>) -> String {
    match host {
        Some(_) => format!("this host accepts {required}"),
        None => format!("required: {required}"),
    }
}

/// The text of [`ErrorKind::CallsStillRunning`] before `; the serving version keeps serving`.
fn still_running(waited_ms: &u64) -> String {
    match waited_ms {
        0 => "a reload from inside a call through the same live handle would wait for that call \
              forever"
            .to_owned(),
        ms => format!("calls on the serving version still ran after {ms} ms"),
    }
}

/// An xplug ABI as a report names it.
fn abi_name(abi: u16) -> String {
    if abi == 0 {
        String::from("no xplug ABI (it was built with an `xplug` from before ABI 1)")
    } else {
        format!("xplug ABI {abi}")
    }
}

/// Whether two versions are the same release (build metadata aside).
fn same_release(a: &Version, b: &Version) -> bool {
    (a.major, a.minor, a.patch, &a.pre) == (b.major, b.minor, b.patch, &b.pre)
}

/// Who must act when a plugin's interface version is not accepted.
fn version_help(
    interface: &str,
    found: &Version,
    required: &VersionReq,
    host: Option<&Version>,
) -> String {
    match host {
        Some(host) if found > host => format!(
            "rebuild the plugin against the `{interface}` interface {}.x, or upgrade the host to {}.x",
            host.major, found.major
        ),
        Some(host) => format!(
            "plugin author: rebuild the plugin against the `{interface}` interface {}.x",
            host.major
        ),
        None => format!(
            "rebuild the plugin against a `{interface}` version matching {required}, or use a \
             host that accepts {found}"
        ),
    }
}
