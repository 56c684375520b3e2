//! `xplug`: inspect, list, check and compare plugin files without running their code.
//!
//! Every command reads headers with `xplug-loader`'s stages 1 to 4 (file, object format,
//! header, compatibility); none opens a library in this process, so no plugin code runs here,
//! not even static constructors. Type layouts can only be read by loading a file: `abi-diff`
//! and `check --against` read them in a child process (`layouts.rs`).
//!
//! Results go to standard output; errors that stop a command go to standard error and name
//! the path they concern. Text from files (names, paths) is printed with control characters
//! escaped.

mod dump;
mod layouts;
mod new;
mod source;
mod terminal;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;
use xplug_loader::semver::VersionReq;
use xplug_loader::tools::{check_interface_independent, inspect, is_library_file_name, Inspected};
use xplug_loader::trust::{AllowList, PublicKey, Quarantine, Sha256, TrustPolicy};
use xplug_loader::{ErrorKind, LoadError, PluginInfo, Requirements};

use crate::terminal::{stderr_is_terminal, use_color};
use xplug_loader::tools::escape_control;

const AFTER_HELP: &str = "\
Exit codes:
  0  every file was read (inspect), the directory was read (ls), the plugin is compatible
     (check), or trusted (verify); the versions say what changed (abi-diff)
  1  a file was refused, is not compatible, or is not trusted; a versioning error (abi-diff)
  2  bad command line; files that cannot be compared (abi-diff)

Examples:
  xplug inspect target/release/libgreeter_en.so
  xplug inspect --json plugins/*.so
  xplug ls plugins/
  xplug check plugins/libgreeter_fr.so --interface greeter@^1.1
  xplug check plugins/libgreeter_fr.so --interface greeter@^1.1 --against ref/libgreeter_en.so
  xplug abi-diff old/libgreeter_en.so new/libgreeter_en.so
  xplug abi-dump examples/greeter-interface -o abi/greeter-1.1.0.json
  xplug abi-diff abi/greeter-1.1.0.json examples/greeter-interface
  xplug verify plugins/libgreeter_fr.so --key plugins.pub
  xplug quarantine list /var/lib/myapp/plugins.quarantine
  xplug new plugin --interface examples/greeter-interface ../my-greeter";

/// Inspect, list and check xplug plugin files without running any of their code.
#[derive(Parser)]
#[command(name = "xplug", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the header of each file: plugin, interface, compiler, target, panic strategy.
    #[command(after_help = "Exit code 0 if every file has a valid header, 1 otherwise.")]
    Inspect {
        /// Plugin files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// List every library in a directory with its header and whether a host with default
    /// settings would refuse it whatever its interface (xplug ABI, target, panic strategy).
    #[command(after_help = "Exit code 0 if the directory was read, 1 otherwise.")]
    Ls {
        /// A plugin directory.
        dir: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Check that a plugin file meets a trust policy: a minisign signature by a trusted key
    /// (FILE.minisig), a listed SHA-256, or both.
    #[command(
        after_help = "Exit code 0 if the file meets every requirement given, 1 if not.\n\n\
        Sign with `minisign -Sm FILE` (or rsign2); make a list with `sha256sum *.so > LIST`."
    )]
    Verify {
        /// A plugin file.
        file: PathBuf,
        /// A trusted minisign public key: a `minisign.pub` file, or the key itself (base64).
        /// Repeat to trust several.
        #[arg(long, value_name = "KEY")]
        key: Vec<String>,
        /// A `sha256sum`-format list of the digests to accept.
        #[arg(long, value_name = "LIST")]
        allow: Option<PathBuf>,
        /// A SHA-256 digest to accept. Repeat to accept several.
        #[arg(long, value_name = "DIGEST")]
        sha256: Vec<Sha256>,
    },
    /// List or clear a host's quarantine journal: plugins whose loading killed the host.
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Check a plugin's header against an interface: name, semver requirement, target, panic
    /// strategy; with --against, its whole type layout too.
    #[command(
        after_help = "Exit code 0 if compatible, 1 if not, 2 if REFERENCE cannot be read or is of another interface.\n\n\
        Without --against only the header is checked, and the output says the layout was not: \
        the full type-layout check needs the interface's layout, from a host (`Loader::open_and_check`, \
        e.g. `demo check FILE`) or from a reference build, a plugin built against the interface \
        version the hosts implement. Reading layouts loads both files, which runs their static \
        constructors: xplug does it in a child process."
    )]
    Check {
        /// A plugin file.
        file: PathBuf,
        /// The interface and the versions to accept, e.g. `greeter@^1.1`.
        #[arg(long, value_name = "NAME@REQ", value_parser = parse_interface)]
        interface: (String, VersionReq),
        /// Accept plugins built with panic = "abort".
        #[arg(long)]
        allow_panic_abort: bool,
        /// A reference build: check FILE's whole type layout against this plugin's, as a host
        /// built against its interface version would.
        #[arg(long, value_name = "REFERENCE")]
        against: Option<PathBuf>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Compare two builds of one interface: no change, compatible (functions, object methods
    /// or host services appended) or breaking (every difference), then whether NEW's interface
    /// version says so.
    #[command(after_help = "Exit codes:\n  \
        0  compatible as versioned: no change, or a change its version number announces\n  \
        1  a versioning error: a breaking change under the same major version, or functions \
        appended under the same minor version (the output says which version to publish)\n  \
        2  bad command line, or inputs that cannot be compared (neither plugins nor layout \
        descriptions, or of two interfaces)\n\n\
        OLD and NEW are each a layout description (`xplug abi-dump`), an interface crate (its \
        directory or Cargo.toml, described on the spot), or a plugin file built against that \
        interface version. Reading a plugin's layout loads the file, which runs its static \
        constructors: xplug does it in a child process, after reading its header without \
        loading it. Two plugin files get the verdict of the check hosts run at load.\n\n\
        Examples:\n  \
        xplug abi-diff abi/greeter-1.1.0.json examples/greeter-interface\n  \
        xplug abi-diff old/libgreeter_en.so target/debug/libgreeter_en.so")]
    AbiDiff {
        /// The old interface version: a description, an interface crate or a plugin.
        old: PathBuf,
        /// The new interface version: a description, an interface crate or a plugin.
        new: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Load the files in this process (the child's side).
        #[arg(long = "in-this-process", hide = true)]
        in_this_process: bool,
    },
    /// Write an interface crate's layout description (JSON), for committing one per released
    /// version and checking each new version against it with `abi-diff`.
    #[command(
        after_help = "Exit code 0 if the description was written, 1 otherwise.\n\n\
        The crate is built with its own Cargo.lock into a program that prints the layouts \
        `#[xplug::interface]` records (under TARGET/xplug-abi-dump); no plugin is built. \
        Sizes are the target's: describe on the pointer width your plugins are built for.\n\n\
        Example (in CI):\n  \
        xplug abi-dump examples/greeter-interface -o abi/greeter-1.1.0.json\n  \
        xplug abi-diff abi/greeter-1.1.0.json examples/greeter-interface"
    )]
    AbiDump {
        /// The interface crate: its directory or its Cargo.toml.
        #[arg(default_value = ".")]
        interface: PathBuf,
        /// The interface's handle as a path from the crate root (`GreeterRef`), if the
        /// sources declare several interfaces or declare it through a macro or `include!`.
        #[arg(long)]
        handle: Option<String>,
        /// Write the description to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Start a new crate: `xplug new plugin` writes a plugin for an interface crate.
    #[command(subcommand)]
    New(NewCommand),
    /// The child's side of `check --against`: the full layout check, in this process.
    #[command(hide = true)]
    CheckLayout {
        file: PathBuf,
        reference: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// Print each quarantined file: its SHA-256 and the path it was loaded from.
    #[command(after_help = "Exit code 0 if the journal was read (an absent journal is empty).")]
    List {
        /// The journal (the file a host passes to `Loader::quarantine`).
        journal: PathBuf,
    },
    /// Remove the entries of FILEs (by their current bytes), or every entry: the host loads
    /// them again at its next start.
    #[command(after_help = "Exit code 0 if the journal was rewritten (or had nothing to remove).")]
    Clear {
        /// The journal.
        journal: PathBuf,
        /// Plugin files whose entries to remove; none: remove all.
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum NewCommand {
    /// Write a plugin crate for an interface crate: every function and object method as
    /// `todo!()` with its documentation, the export line, and a test that loads the built
    /// plugin as a host does. `cargo test` passes in it as written.
    #[command(after_help = "Exit code 0 if the crate was written, 1 otherwise.\n\n\
        The interface crate is read, not built: its `#[xplug::interface]` trait, the \
        `#[xplug::object]` traits whose boxes the plugin returns, and the imports their \
        signatures need. The plugin depends on the interface crate by path, and on `xplug` and \
        `abi_stable` as the interface crate does.\n\n\
        Example:\n  \
        xplug new plugin --interface examples/greeter-interface ../my-greeter\n  \
        cd ../my-greeter && cargo test")]
    Plugin {
        /// The directory to create (it may exist if empty); its name is the package's.
        dir: PathBuf,
        /// The interface crate: its directory or its Cargo.toml.
        #[arg(long, value_name = "PATH")]
        interface: PathBuf,
        /// The package name, if not the directory's.
        #[arg(long)]
        name: Option<String>,
        /// The interface's handle (`GreeterRef`) or trait, if the crate declares several.
        #[arg(long)]
        handle: Option<String>,
        /// A checkout of xplug to take `xplug` and `xplug-loader` from, instead of where the
        /// interface crate takes `xplug` from.
        #[arg(long, value_name = "PATH")]
        xplug: Option<PathBuf>,
    },
}

fn parse_interface(s: &str) -> Result<(String, VersionReq), String> {
    let (name, req) = s
        .split_once('@')
        .ok_or_else(|| String::from("expected NAME@REQ, e.g. greeter@^1.1"))?;
    if name.is_empty() {
        return Err(String::from("the interface name is empty"));
    }
    let req = VersionReq::parse(req).map_err(|e| format!("`{req}`: {e}"))?;
    Ok((name.to_owned(), req))
}

/// Why a command stopped before its result.
enum Failure {
    /// The directory to list could not be read.
    Dir(PathBuf, io::Error),
    /// Writing the output failed.
    Output(io::Error),
    /// A file other than a plugin (a journal) could not be read or written.
    File(PathBuf, io::Error),
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = io::stdout().lock();
    // Results go to stdout; reports of refused files, like other errors, to stderr.
    let color = use_color(stderr_is_terminal());
    let result = match cli.command {
        Command::Inspect { files, json } => cmd_inspect(&files, json, color, &mut out),
        Command::Ls { dir, json } => cmd_ls(&dir, json, &mut out),
        Command::Verify {
            file,
            key,
            allow,
            sha256,
        } => match trust_policy(&key, allow.as_deref(), &sha256) {
            Ok(policy) => cmd_verify(&file, &policy, color, &mut out),
            Err(message) => {
                eprintln!("xplug: {}", escape_control(&message));
                return ExitCode::from(2);
            }
        },
        Command::Quarantine(command) => cmd_quarantine(command, color, &mut out),
        Command::Check {
            file,
            interface: (name, req),
            allow_panic_abort,
            against,
            json,
        } => {
            let requirements = Requirements::new(name, req).allow_panic_abort(allow_panic_abort);
            if let Some(reference) = &against {
                match inspect(reference) {
                    Err(e) => {
                        eprintln!("{}", e.report().color(color));
                        return ExitCode::from(2);
                    }
                    // Layouts of two interfaces say nothing of each other.
                    Ok(r) if r.info.interface_name != requirements.interface() => {
                        eprintln!(
                            "xplug: {} cannot be the reference: it implements interface `{}`, \
                             not `{}`",
                            escape_control(&reference.display().to_string()),
                            escape_control(&r.info.interface_name),
                            escape_control(requirements.interface()),
                        );
                        return ExitCode::from(2);
                    }
                    Ok(_) => {}
                }
            }
            cmd_check(
                &file,
                &requirements,
                against.as_deref(),
                json,
                color,
                &mut out,
            )
        }
        Command::AbiDiff {
            old,
            new,
            json,
            in_this_process,
        } => {
            return match in_this_process {
                false => layouts::abi_diff(&old, &new, json, color),
                true => layouts::abi_diff_here(&old, &new, json, color),
            }
        }
        Command::AbiDump {
            interface,
            handle,
            output,
        } => return layouts::abi_dump(&interface, handle.as_deref(), output.as_deref()),
        Command::CheckLayout {
            file,
            reference,
            json,
        } => return layouts::check_against_here(&file, &reference, json, color),
        Command::New(NewCommand::Plugin {
            dir,
            interface,
            name,
            handle,
            xplug,
        }) => {
            return cmd_new_plugin(&new::Request {
                interface: &interface,
                dir: &dir,
                name: name.as_deref(),
                handle: handle.as_deref(),
                xplug: xplug.as_deref(),
            })
        }
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Failure::Dir(dir, e)) => {
            let dir = dir.display().to_string();
            eprintln!(
                "xplug: cannot read the directory {}: {e}",
                escape_control(&dir)
            );
            ExitCode::from(1)
        }
        Err(Failure::File(path, e)) => {
            let path = path.display().to_string();
            eprintln!("xplug: {}: {e}", escape_control(&path));
            ExitCode::from(1)
        }
        Err(Failure::Output(e)) => {
            eprintln!("xplug: cannot write the output: {e}");
            ExitCode::from(1)
        }
    }
}

fn cmd_new_plugin(request: &new::Request<'_>) -> ExitCode {
    match new::new_plugin(request) {
        Ok(created) => {
            for warning in &created.warnings {
                eprintln!("xplug: warning: {}", escape_control(warning));
            }
            let objects = match created.objects.as_slice() {
                [] => String::new(),
                [one] => format!(" and the object {one}"),
                objects => format!(" and the objects {}", objects.join(", ")),
            };
            println!(
                "Created plugin `{}` for the `{}` interface ({}) in {}:\n  \
                 src/lib.rs ({} functions{objects}, each todo!()), tests/load.rs, Cargo.toml, \
                 README.md\nNext: cd {} && cargo test",
                created.package,
                escape_control(&created.interface),
                escape_control(&created.interface_crate),
                escape_control(&created.dir.display().to_string()),
                created.functions,
                escape_control(&created.dir.display().to_string()),
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("xplug: {}", escape_control(&e));
            ExitCode::from(1)
        }
    }
}

/// One file's outcome, for JSON.
#[derive(Serialize)]
struct FileResult<'a> {
    file: &'a Path,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<&'a PluginInfo>,
    /// The file's SHA-256 (what `sha256sum` prints), for a file whose header was read.
    #[serde(skip_serializing_if = "Option::is_none")]
    sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostic: Option<xplug_loader::Diagnostic<'a>>,
}

impl<'a> FileResult<'a> {
    fn new(file: &'a Path, result: &'a Result<Inspected, LoadError>) -> Self {
        FileResult {
            file,
            ok: result.is_ok(),
            header: result.as_ref().ok().map(|i| &i.info),
            sha256: result
                .as_ref()
                .ok()
                .and_then(|i| file_sha256(&i.path))
                .map(|d| d.to_string()),
            diagnostic: result.as_ref().err().map(LoadError::diagnostic),
        }
    }
}

/// The SHA-256 of a file's bytes, as `sha256sum` prints it (`None` if it cannot be read, or
/// is no longer a regular file within the loader's size cap).
fn file_sha256(path: &Path) -> Option<Sha256> {
    TrustPolicy::default().check_file(path).ok()
}

fn print_json(out: &mut dyn Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

fn print_header(
    out: &mut dyn Write,
    file: &Path,
    info: &PluginInfo,
    sha256: Option<Sha256>,
) -> io::Result<()> {
    writeln!(out, "{}", escape_control(&file.display().to_string()))?;
    writeln!(out, "  plugin     {}", info.label())?;
    writeln!(
        out,
        "  interface  {} {}",
        info.interface_name, info.interface_version
    )?;
    writeln!(out, "  built by   {}", info.rustc)?;
    writeln!(out, "  target     {}", info.target)?;
    writeln!(out, "  panic      {}", info.panic_strategy)?;
    writeln!(out, "  profile    {}", info.profile)?;
    writeln!(
        out,
        "  xplug      {} (ABI {}, header format {})",
        info.xplug_version, info.xplug_abi, info.header_format
    )?;
    match sha256 {
        Some(digest) => writeln!(out, "  sha256     {}", digest),
        None => writeln!(out, "  sha256     (the file could not be read again)"),
    }
}

/// The policy `xplug verify` checks: keys given as files or as base64, a list, digests.
fn trust_policy(
    keys: &[String],
    allow: Option<&Path>,
    digests: &[Sha256],
) -> Result<TrustPolicy, String> {
    if keys.is_empty() && allow.is_none() && digests.is_empty() {
        return Err(String::from(
            "nothing to verify against: give --key, --allow or --sha256",
        ));
    }
    let mut policy = TrustPolicy::new();
    for key in keys {
        let key = if Path::new(key).is_file() {
            PublicKey::read(key)
        } else {
            PublicKey::decode(key)
        };
        policy = policy.trust_key(key.map_err(|e| e.to_string())?);
    }
    if let Some(list) = allow {
        policy = policy.allow_list(AllowList::read(list).map_err(|e| e.to_string())?);
    }
    for digest in digests {
        policy = policy.require_sha256(*digest);
    }
    Ok(policy)
}

fn cmd_verify(
    file: &Path,
    policy: &TrustPolicy,
    color: bool,
    out: &mut dyn Write,
) -> Result<bool, Failure> {
    match policy.check_file(file) {
        Ok(digest) => {
            writeln!(
                out,
                "ok: {} is trusted\n  sha256 {digest}",
                escape_control(&file.display().to_string())
            )?;
            Ok(true)
        }
        Err(e) => {
            eprintln!("{}", e.report().color(color));
            Ok(false)
        }
    }
}

fn cmd_quarantine(
    command: QuarantineCommand,
    color: bool,
    out: &mut dyn Write,
) -> Result<bool, Failure> {
    match command {
        QuarantineCommand::List { journal } => {
            let quarantine = Quarantine::new(&journal);
            let entries = quarantine
                .entries()
                .map_err(|e| Failure::File(journal.clone(), e))?;
            if entries.is_empty() {
                writeln!(out, "no quarantined plugins")?;
            }
            for entry in entries {
                let path = entry.path.display().to_string();
                // A load still running in some process is not (yet) a crash.
                let why = match (entry.loading, entry.crashes) {
                    (true, _) => String::from("  (loading now)"),
                    (false, Some(crashes)) => format!("  (isolated, crashed {crashes} times)"),
                    (false, None) => String::new(),
                };
                writeln!(out, "{}  {}{}", entry.sha256, escape_control(&path), why)?;
            }
            Ok(true)
        }
        QuarantineCommand::Clear { journal, files } => {
            let quarantine = Quarantine::new(&journal);
            let clear = |digest: Option<&Sha256>| {
                quarantine
                    .clear(digest)
                    .map_err(|e| Failure::File(journal.clone(), e))
            };
            if files.is_empty() {
                writeln!(out, "cleared {} entries", clear(None)?)?;
                return Ok(true);
            }
            let mut all_read = true;
            for file in &files {
                // Only the bytes' digest is needed: no header or trust rule applies.
                match TrustPolicy::new().check_file(file) {
                    Ok(digest) => {
                        let removed = clear(Some(&digest))?;
                        let shown = file.display().to_string();
                        let shown = escape_control(&shown);
                        writeln!(out, "{shown}: cleared {removed} entries")?;
                    }
                    Err(e) => {
                        eprintln!("{}", e.report().color(color));
                        all_read = false;
                    }
                }
            }
            Ok(all_read)
        }
    }
}

fn cmd_inspect(
    files: &[PathBuf],
    json: bool,
    color: bool,
    out: &mut dyn Write,
) -> Result<bool, Failure> {
    let results: Vec<(PathBuf, Result<Inspected, LoadError>)> = files
        .iter()
        .map(|f| match inspect(f) {
            Ok(i) => (i.path.clone(), Ok(i)),
            Err(e) => (f.clone(), Err(e)),
        })
        .collect();
    if json {
        let list: Vec<FileResult<'_>> = results
            .iter()
            .map(|(file, r)| FileResult::new(file, r))
            .collect();
        print_json(out, &list)?;
    } else {
        for (i, (file, r)) in results.iter().enumerate() {
            if i > 0 {
                writeln!(out)?;
            }
            match r {
                Ok(inspected) => {
                    print_header(out, file, &inspected.info, file_sha256(&inspected.path))?
                }
                Err(e) => eprintln!("{}", e.report().color(color)),
            }
        }
    }
    Ok(results.iter().all(|(_, r)| r.is_ok()))
}

/// One row of `xplug ls`.
#[derive(Serialize)]
struct Row {
    file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    header: Option<PluginInfo>,
    /// `ok`, or why every host with default settings refuses it, whatever its interface.
    status: String,
}

fn cmd_ls(dir: &Path, json: bool, out: &mut dyn Write) -> Result<bool, Failure> {
    let entries = std::fs::read_dir(dir).map_err(|e| Failure::Dir(dir.to_owned(), e))?;
    // An entry that vanished or cannot be read is no library to list.
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| is_library_file_name(p))
        .collect();
    files.sort();
    let rows: Vec<Row> = files.iter().map(|f| row(f)).collect();
    if json {
        print_json(out, &rows)?;
    } else {
        print_table(out, &rows)?;
        if rows.is_empty() {
            writeln!(
                out,
                "(no libraries in {})",
                escape_control(&dir.display().to_string())
            )?;
        }
    }
    Ok(true)
}

/// Inspects one file of a directory listing.
fn row(file: &Path) -> Row {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match inspect(file) {
        Ok(i) => Row {
            file: name,
            // The verdict of every host with default settings, whatever its interface.
            status: match check_interface_independent(file, &i.info) {
                Ok(()) => String::from("ok"),
                Err(e) => short_reason(&e),
            },
            header: Some(i.info),
        },
        Err(e) => Row {
            file: name,
            header: None,
            status: short_reason(&e),
        },
    }
}

/// Prints rows as a table with aligned columns.
fn print_table(out: &mut dyn Write, rows: &[Row]) -> io::Result<()> {
    let heading = [
        "FILE",
        "PLUGIN",
        "VERSION",
        "INTERFACE",
        "BUILT BY",
        "TARGET",
        "STATUS",
    ]
    .map(String::from);
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            let file = escape_control(&r.file).into_owned();
            let status = escape_control(&r.status).into_owned();
            match &r.header {
                Some(h) => [
                    file,
                    h.name.clone(),
                    h.version.to_string(),
                    format!("{} {}", h.interface_name, h.interface_version),
                    format!("rustc {}", h.rustc_release()),
                    h.target.clone(),
                    status,
                ],
                None => [
                    file,
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    status,
                ],
            }
        })
        .collect();
    let mut widths = [0usize; 7];
    for row in std::iter::once(&heading).chain(&cells) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&heading).chain(&cells) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i == row.len() - 1 {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// A few words on why a file is not a loadable plugin.
fn short_reason(e: &LoadError) -> String {
    match e.kind() {
        ErrorKind::NotAPlugin { .. } => String::from("not an xplug plugin"),
        ErrorKind::NotAFile { kind, .. } => format!("a {kind}"),
        ErrorKind::TargetMismatch { found, .. } => format!("built for {found}"),
        other => other.to_string(),
    }
}

fn cmd_check(
    file: &Path,
    requirements: &Requirements,
    against: Option<&Path>,
    json: bool,
    color: bool,
    out: &mut dyn Write,
) -> Result<bool, Failure> {
    let result = inspect(file).and_then(|i| {
        requirements.check(&i.path, &i.info)?;
        Ok(i)
    });
    if let (Ok(_), Some(reference)) = (&result, against) {
        // The layouts are read in a child process, which reports a refusal itself.
        let mut args = vec![
            String::from("check-layout"),
            file.display().to_string(),
            reference.display().to_string(),
        ];
        if json {
            args.push(String::from("--json"));
        }
        if layouts::in_child(&args) != 0 {
            return Ok(false);
        }
    }
    let layout_checked = against.is_some();
    if json {
        let result = CheckResult {
            result: FileResult::new(file, &result),
            layout_checked: result.is_ok() && layout_checked,
        };
        print_json(out, &result)?;
    } else {
        match &result {
            Ok(i) => {
                writeln!(
                    out,
                    "ok: {} ({}) is compatible with `{}` {} on {}",
                    i.info.label(),
                    escape_control(&i.path.display().to_string()),
                    requirements.interface(),
                    requirements.versions(),
                    requirements.target()
                )?;
                match against {
                    Some(reference) => writeln!(
                        out,
                        "  header and type layout checked (layout against {})",
                        escape_control(&reference.display().to_string())
                    )?,
                    None => writeln!(
                        out,
                        "  header checked; the type layout was NOT checked (give a reference \
                         build with --against, or run Loader::open_and_check in a host)"
                    )?,
                }
            }
            Err(e) => eprintln!("{}", e.report().color(color)),
        }
    }
    Ok(result.is_ok())
}

/// `check`'s outcome, for JSON.
#[derive(Serialize)]
struct CheckResult<'a> {
    #[serde(flatten)]
    result: FileResult<'a>,
    /// Whether the whole type layout was checked (`--against`), not only the header.
    layout_checked: bool,
}
