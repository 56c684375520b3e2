//! The demo's hot-reload run: a counter plugin replaced on disk while calls keep coming.
//!
//! A thread calls the live plugin in a loop while the host installs the plugin's next release
//! over its file (a new file renamed over the path, as installers do), then a half-written
//! copy. The watcher reloads the first (generation 1 -> 2, the count carried over) and
//! refuses the second (generation 2 keeps serving); no call fails. Once the calls have
//! stopped, generation 1 is unloaded.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use counter_interface::CounterRef;
use xplug_loader::reload::{Event, Live};
use xplug_loader::tools::library_file_name;
use xplug_loader::Loader;

use crate::DemoError;

/// How long the demo waits for the watcher's next event.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs the reload demo in `dir`, which holds one counter plugin; `next` is the file of its
/// next release.
pub fn reload(dir: &Path, next: &Path, out: &mut impl Write) -> Result<(), DemoError> {
    let name = library_file_name("counter");
    let path = dir.join(&name);
    let watcher = Loader::<CounterRef>::new()
        .watch_dir(dir)
        .map_err(DemoError::Load)?;
    writeln!(out, "hot reload: watching {} ({name})", dir.display())?;
    report(out, next_event(&watcher)?)?;
    let counter: Live<CounterRef> = watcher
        .get(&name)
        .ok_or_else(|| DemoError::Other(format!("{name} did not load")))?;
    let mut counts = Vec::new();
    for _ in 0..3 {
        counts.push(counter.get().next()?.to_string());
    }
    writeln!(
        out,
        "  {}: next() -> {}",
        counter.get().version()?,
        counts.join(", ")
    )?;

    // Calls keep coming from another thread while the file is replaced.
    let stop = Arc::new(AtomicBool::new(false));
    let (calls, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let caller = {
        let (counter, stop) = (counter.clone(), Arc::clone(&stop));
        let (calls, failed) = (Arc::clone(&calls), Arc::clone(&failed));
        thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let counted = counter.get().version().is_ok();
                calls.fetch_add(1, Ordering::SeqCst);
                if !counted {
                    failed.fetch_add(1, Ordering::SeqCst);
                }
                thread::sleep(Duration::from_micros(200));
            }
        })
    };

    writeln!(
        out,
        "  installing {} over {name} (a new file renamed over it) ...",
        next.file_name().unwrap_or_default().to_string_lossy()
    )?;
    let bytes = fs::read(next)?;
    install(&bytes, &path)?;
    report(out, next_event(&watcher)?)?;
    let count = counter.get().next()?;
    writeln!(
        out,
        "  {}: next() -> {count} (the count carried over)",
        counter.get().version()?
    )?;

    writeln!(out, "  installing a half-written copy ...")?;
    install(&bytes[..bytes.len() / 2], &path)?;
    report(out, next_event(&watcher)?)?;
    writeln!(
        out,
        "  {}: next() -> {} (generation {} still serving)",
        counter.get().version()?,
        counter.get().next()?,
        counter.generation()
    )?;

    stop.store(true, Ordering::SeqCst);
    let _ = caller.join();
    writeln!(
        out,
        "  {} calls from another thread meanwhile, {} failed",
        calls.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst)
    )?;

    // Nothing of generation 1 is in use any more: the host may unload it (an opt-in).
    // SAFETY: the other calling thread has ended, every call has returned, and the values
    // the plugins returned (strings from `version()`) were dropped. (A reload by the
    // watcher meanwhile would wait, and its new generation would not be unloaded.)
    let unloads = unsafe { counter.unload_retired() };
    let how = if unloads.unmapped > 0 {
        "its code and memory left the process"
    } else if unloads.closed > 0 {
        "closed"
    } else if unloads.still_mapped > 0 {
        "closed, but kept mapped by the system"
    } else {
        "still in use"
    };
    writeln!(out, "  generation 1 unloaded: {how}")?;
    writeln!(
        out,
        "  {}: next() -> {}",
        counter.get().version()?,
        counter.get().next()?
    )?;
    Ok(())
}

/// Writes `bytes` at `path` as installers do: a new file, renamed over the old one.
fn install(bytes: &[u8], path: &Path) -> Result<(), DemoError> {
    let staged = path.with_extension("partial");
    fs::write(&staged, bytes)?;
    fs::rename(&staged, path)?;
    Ok(())
}

fn next_event(watcher: &xplug_loader::reload::Watcher<CounterRef>) -> Result<Event, DemoError> {
    watcher
        .events()
        .recv_timeout(PATIENCE)
        .map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => DemoError::Other(format!(
                "no event from the watcher within {} s",
                PATIENCE.as_secs()
            )),
            mpsc::RecvTimeoutError::Disconnected => {
                DemoError::Other(String::from("the watcher stopped"))
            }
        })
}

fn report(out: &mut impl Write, event: Event) -> Result<(), DemoError> {
    match event {
        Event::Refused { error, serving, .. } => {
            writeln!(out, "  refused: {}", error.kind())?;
            if let Some(generation) = serving {
                writeln!(out, "  generation {generation} keeps serving")?;
            }
        }
        event => writeln!(out, "  {event}")?,
    }
    Ok(())
}
