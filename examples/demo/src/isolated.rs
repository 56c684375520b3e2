//! Isolated plugins: the demo's greeter plugins, each served by a process of its own through
//! the same handles, and a plugin that crashes without taking the host down.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use greeter_interface::{GreeterHostBox, GreeterRef};
use xplug_loader::isolation::{Isolation, Restart};
use xplug_loader::{CallError, Loader, Plugin};

use crate::DemoError;

/// Loads every greeter plugin in `dir` isolated and calls it as [`run`](crate::run) does,
/// then loads `crashing` isolated and makes it crash: the crash is an error, the other plugins
/// answer, and the restart policy starts the crashed one again. `isolation` says where the
/// plugins' processes start from (the demo: its own executable).
pub fn isolated(
    dir: &Path,
    crashing: &Path,
    isolation: Isolation,
    out: &mut dyn Write,
) -> Result<(), DemoError> {
    let isolation = isolation
        .deadline(Duration::from_secs(2))
        .restart(Restart::on_next_call().at_most(3));
    // The same host services as in-process: the plugins' calls of them come back here.
    let loader = Loader::<GreeterRef>::new()
        .host_services(GreeterHostBox::new(crate::DemoHost))
        .isolate(isolation);
    writeln!(out, "isolated: each plugin in a process of its own")?;
    let report = loader.load_dir(dir).map_err(DemoError::Load)?;
    for plugin in &report.plugins {
        // What the in-process run printed, but for the callback, a raw function pointer,
        // which cannot cross.
        crate::show(plugin, out)?;
    }
    writeln!(
        out,
        "\n{} plugin(s) loaded isolated, {} refused (the same checks, the same reports)",
        report.plugins.len(),
        report.rejected.len()
    )?;

    let crashing = loader.load(crashing).map_err(DemoError::Load)?;
    writeln!(
        out,
        "\nplugin {}  (isolated, process {})",
        crashing.info().label(),
        pid(&crashing)
    )?;
    writeln!(
        out,
        "  greet(\"Ada\")         -> {}",
        crashing.greet("Ada".into())?
    )?;
    match crashing.greet("segv".into()) {
        Ok(s) => writeln!(out, "  greet(\"segv\")        -> {s}")?,
        Err(e) => writeln!(out, "  greet(\"segv\")        -> {}", first_line(&e))?,
    }
    for plugin in &report.plugins {
        writeln!(
            out,
            "  meanwhile {}: add(2, 40) -> {}",
            plugin.info().label(),
            plugin.add(2, 40)?
        )?;
    }
    writeln!(
        out,
        "  add(2, 40)           -> {}  (restarted: process {})",
        crashing.add(2, 40)?,
        pid(&crashing)
    )?;
    Ok(())
}

fn pid(plugin: &Plugin<GreeterRef>) -> String {
    plugin
        .process_id()
        .map_or_else(|| "none".to_owned(), |pid| pid.to_string())
}

/// An error's first line (a crash's carries the plugin's last words after it).
fn first_line(e: &CallError) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}
