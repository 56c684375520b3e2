//! The commands that compare type layouts: `abi-diff`, and `check --against`.
//!
//! Layouts are in the libraries' data, behind relocations: reading one means loading the file,
//! which runs its static constructors. So the layouts are read in a child process (this
//! program again, with a hidden flag), after the parent read both headers without loading
//! anything; the parent never maps a plugin file.

use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, ExitCode};

use serde::Serialize;
use xplug_loader::tools::{
    check_against, compare_builds, inspect, Change, Comparison, VersionError,
};

use xplug_loader::tools::escape_control;

/// The hidden flag that makes this program the child that loads the files.
pub(crate) const IN_THIS_PROCESS: &str = "--in-this-process";

/// `xplug abi-diff OLD NEW`, in the parent: reads both headers, then runs the comparison in a
/// child process and exits with its code.
pub(crate) fn abi_diff(old: &Path, new: &Path, json: bool, color: bool) -> ExitCode {
    for file in [old, new] {
        if let Err(e) = inspect(file) {
            eprintln!("{}", e.report().color(color));
            return ExitCode::from(2);
        }
    }
    let mut args = vec![
        String::from("abi-diff"),
        String::from(IN_THIS_PROCESS),
        old.display().to_string(),
        new.display().to_string(),
    ];
    if json {
        args.push(String::from("--json"));
    }
    ExitCode::from(in_child(&args))
}

/// `xplug abi-diff OLD NEW`, in the child: loads both files and compares their layouts.
/// Exit code 0 when the versions say what changed, 1 when not, 2 when the files cannot be
/// compared.
pub(crate) fn abi_diff_here(old: &Path, new: &Path, json: bool, color: bool) -> ExitCode {
    // This process exists to load these two files (the parent read both headers); it calls
    // none of their functions and exits right after.
    let comparison = match compare_builds(old, new) {
        Ok(comparison) => comparison,
        Err(e) => {
            eprintln!("{}", e.report().color(color));
            return ExitCode::from(2);
        }
    };
    let versioning = comparison.versioning();
    let mut out = io::stdout().lock();
    let written = if json {
        write_json(&mut out, &comparison, &versioning)
    } else {
        write_text(&mut out, &comparison, &versioning)
    };
    if let Err(e) = written {
        eprintln!("xplug: cannot write the output: {e}");
        return ExitCode::from(2);
    }
    match versioning {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(1),
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
            Some(code) => u8::try_from(code).unwrap_or(2),
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
