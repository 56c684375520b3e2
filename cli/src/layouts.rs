//! The commands that compare type layouts: `abi-diff`, `abi-dump` and `check --against`.
//!
//! Layouts are in the libraries' data, behind relocations: reading one means loading the file,
//! which runs its static constructors. So the layouts are read in a child process (this
//! program again, with a hidden flag), after the parent read both headers without loading
//! anything; the parent never maps a plugin file. Layout descriptions (`abi-dump`) are text:
//! two of them are compared in the parent.

use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, ExitCode};

use serde::Serialize;
use xplug_loader::tools::{
    check_against, compare, inspect, Change, Comparison, Description, Input, VersionError,
};

use xplug_loader::tools::escape_control;

/// The hidden flag that makes this program the child that loads the files.
pub(crate) const IN_THIS_PROCESS: &str = "--in-this-process";

/// Whether `path` holds a layout description (JSON) rather than a library: its first
/// non-blank byte is `{`, which no library format starts with.
fn is_description(path: &Path) -> bool {
    use std::io::Read;
    let mut start = [0u8; 64];
    let read = std::fs::File::open(path).and_then(|mut f| f.read(&mut start));
    match read {
        Ok(n) => start[..n]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .map_or(false, |&b| b == b'{'),
        Err(_) => false,
    }
}

/// A description file, read, or a plugin file (read later, by whoever compares).
fn read_input(path: &Path) -> Result<Input, String> {
    if is_description(path) {
        Description::read(path)
            .map(|d| Input::Description(path.to_owned(), d))
            .map_err(|e| e.to_string())
    } else {
        Ok(Input::Plugin(path.to_owned()))
    }
}

/// Reads one side of `abi-diff` in the parent, with the interface it is of: a description is
/// parsed, an interface crate described (into its target directory, where the child reads
/// it), a plugin's header checked. `Err` is printed.
fn given(path: &Path, color: bool) -> Result<(Input, String), String> {
    if path.is_dir() || path.file_name().map_or(false, |n| n == "Cargo.toml") {
        let (file, text) = crate::dump::dump_to_file(path)?;
        let description =
            Description::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let interface = description.interface.clone();
        return Ok((Input::Description(file, description), interface));
    }
    match read_input(path)? {
        Input::Description(path, description) => {
            let interface = description.interface.clone();
            Ok((Input::Description(path, description), interface))
        }
        plugin => inspect(path)
            .map(|inspected| (plugin, inspected.info.interface_name))
            .map_err(|e| e.report().color(color).to_string()),
    }
}

/// `xplug abi-diff OLD NEW`, in the parent: reads both sides (descriptions, interface crates
/// dumped, plugin headers), compares two descriptions here, and otherwise runs the comparison
/// in a child process and exits with its code.
pub(crate) fn abi_diff(old: &Path, new: &Path, json: bool, color: bool) -> ExitCode {
    let sides = given(old, color).and_then(|old| given(new, color).map(|new| (old, new)));
    let code = match sides {
        Err(e) => {
            eprintln!("{e}");
            2
        }
        Ok(((old, old_interface), (new, new_interface))) if old_interface != new_interface => {
            eprintln!(
                "xplug: cannot compare two interfaces: {} is of interface `{}`, {} of `{}`",
                escape_control(&old.path().display().to_string()),
                escape_control(&old_interface),
                escape_control(&new.path().display().to_string()),
                escape_control(&new_interface),
            );
            2
        }
        // Two descriptions: nothing to load.
        Ok(((old @ Input::Description(..), _), (new @ Input::Description(..), _))) => {
            match compare(old, new) {
                Ok(comparison) => print_comparison(&comparison, json),
                Err(e) => {
                    eprintln!("{}", e.report().color(color));
                    2
                }
            }
        }
        Ok(((old, _), (new, _))) => {
            let path = |side: &Input| side.path().display().to_string();
            let mut args = vec![
                String::from("abi-diff"),
                String::from(IN_THIS_PROCESS),
                path(&old),
                path(&new),
            ];
            if json {
                args.push(String::from("--json"));
            }
            in_child(&args)
        }
    };
    ExitCode::from(code)
}

/// `xplug abi-diff OLD NEW`, in the child: loads the plugin files among them and compares
/// the layouts. Exit code 0 when the versions say what changed, 1 when not, 2 when the files
/// cannot be compared.
pub(crate) fn abi_diff_here(old: &Path, new: &Path, json: bool, color: bool) -> ExitCode {
    let inputs = read_input(old).and_then(|old| read_input(new).map(|new| (old, new)));
    let (old, new) = match inputs {
        Ok(inputs) => inputs,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // This process exists to load these files (the parent read their headers); it calls none
    // of their functions and exits right after.
    match compare(old, new) {
        Ok(comparison) => ExitCode::from(print_comparison(&comparison, json)),
        Err(e) => {
            eprintln!("{}", e.report().color(color));
            ExitCode::from(2)
        }
    }
}

/// Prints a comparison; returns the exit code: 0 when the versions say what changed, 1 when
/// not, 2 when the output cannot be written.
fn print_comparison(comparison: &Comparison, json: bool) -> u8 {
    let versioning = comparison.versioning();
    let mut out = io::stdout().lock();
    let written = if json {
        write_json(&mut out, comparison, &versioning)
    } else {
        write_text(&mut out, comparison, &versioning)
    };
    if let Err(e) = written {
        eprintln!("xplug: cannot write the output: {e}");
        return 2;
    }
    match versioning {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// `xplug abi-dump [CRATE] [--handle PATH] [-o FILE]`: the interface crate's layout
/// description, to FILE or standard output.
pub(crate) fn abi_dump(krate: &Path, handle: Option<&str>, output: Option<&Path>) -> ExitCode {
    let text = match crate::dump::dump(krate, handle) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("xplug: {e}");
            return ExitCode::from(1);
        }
    };
    let written = match output {
        Some(file) => std::fs::write(file, &text).map_err(|e| format!("{}: {e}", file.display())),
        None => io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xplug: cannot write the description: {e}");
            ExitCode::from(1)
        }
    }
}

fn write_text(
    out: &mut dyn Write,
    c: &Comparison,
    versioning: &Result<(), VersionError>,
) -> io::Result<()> {
    writeln!(
        out,
        "interface `{}` {} ({}) -> {} ({})",
        escape_control(&c.old.interface_name),
        c.old.interface_version,
        escape_control(&c.old.label()),
        c.new.interface_version,
        escape_control(&c.new.label())
    )?;
    match &c.change {
        Change::NoChange => writeln!(out, "no change")?,
        Change::Minor { appended } => {
            writeln!(out, "compatible: minor")?;
            for f in appended {
                writeln!(out, "  appended: {}", escape_control(f))?;
            }
        }
        Change::Breaking { differences } => {
            writeln!(out, "breaking")?;
            for d in differences {
                writeln!(out, "  {}", escape_control(&d.to_string()))?;
            }
        }
        _ => writeln!(out, "changed")?,
    }
    for entry in &c.xplug_appended {
        writeln!(
            out,
            "  xplug appended: {} (xplug's own table: no version bump of the interface)",
            escape_control(entry)
        )?;
    }
    match versioning {
        Ok(()) => writeln!(
            out,
            "ok: {} -> {} says so",
            c.old.interface_version, c.new.interface_version
        ),
        Err(e) => writeln!(
            out,
            "error: {}\n  help: publish the new interface as {}",
            e.reason, e.publish
        ),
    }
}

#[derive(Serialize)]
struct Diff<'a> {
    #[serde(flatten)]
    comparison: &'a Comparison,
    versioning: Versioning<'a>,
}

#[derive(Serialize)]
struct Versioning<'a> {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a VersionError>,
}

fn write_json(
    out: &mut dyn Write,
    comparison: &Comparison,
    versioning: &Result<(), VersionError>,
) -> io::Result<()> {
    let diff = Diff {
        comparison,
        versioning: Versioning {
            ok: versioning.is_ok(),
            error: versioning.as_ref().err(),
        },
    };
    serde_json::to_writer_pretty(&mut *out, &diff)?;
    writeln!(out)
}

/// A refusal by `check --against`, for JSON.
#[derive(Serialize)]
struct Refused<'a> {
    file: &'a Path,
    ok: bool,
    layout_checked: bool,
    diagnostic: xplug_loader::Diagnostic<'a>,
}

/// `xplug check FILE --against REFERENCE`, in the child: the full layout check of `file`
/// against `reference`'s. Exit code 0 if it passes, 1 with the report (or JSON) if not.
pub(crate) fn check_against_here(
    file: &Path,
    reference: &Path,
    json: bool,
    color: bool,
) -> ExitCode {
    // This process exists to load these two files (the parent checked both headers); it
    // calls none of their functions and exits right after.
    match check_against(file, reference) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) if json => {
            let refused = Refused {
                file,
                ok: false,
                layout_checked: true,
                diagnostic: e.diagnostic(),
            };
            let mut out = io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut out, &refused);
            let _ = writeln!(out);
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{}", e.report().color(color));
            ExitCode::from(1)
        }
    }
}

/// Runs this program with `args` in a child process, its output going where ours goes, and
/// returns its exit code; a child killed by a signal (a crashing static constructor) is
/// reported, exit code 2.
pub(crate) fn in_child(args: &[String]) -> u8 {
    let status = std::env::current_exe().and_then(|me| Command::new(me).args(args).status());
    match status {
        Ok(status) => match status.code() {
            Some(code @ 0..=2) => code as u8,
            // A panic (101) or any other failure: the files could not be compared.
            Some(code) => {
                eprintln!("xplug: the process that reads the layouts failed (exit code {code})");
                2
            }
            None => {
                eprintln!(
                    "xplug: the process that loads the files to read their layouts crashed ({status})"
                );
                2
            }
        },
        Err(e) => {
            eprintln!("xplug: cannot start the process that reads the layouts: {e}");
            2
        }
    }
}
