//! The demo host: loads every greeter plugin in a directory, shows each plugin's header,
//! calls every function, and prints a diagnostic for each refused file. The `demo` binary
//! runs [`run`] on the directory it is given; `cargo xtask demo` builds plugins for it.

mod clock;
#[cfg(any(unix, windows))]
mod isolated;
mod reload;

pub use clock::clock;
#[cfg(any(unix, windows))]
pub use isolated::isolated;
pub use reload::reload;

use std::io::{self, Write};
use std::path::Path;

use abi_stable::std_types::{RNone, ROption, RResult, RSlice, RSome, RStr, RString};
use greeter_interface::{Callback, Counter, CounterBox, GreeterHost, GreeterHostBox, GreeterRef};
use xplug_loader::{CallError, DirReport, Interface, LoadError, Loader, Plugin};

extern "C" fn double(x: i64) -> i64 {
    x * 2
}

/// Why the demo stopped.
#[derive(Debug)]
pub enum DemoError {
    /// The plugin directory could not be read.
    Load(LoadError),
    /// A plugin call failed unexpectedly.
    Call(CallError),
    /// Writing the output, or a plugin file, failed.
    Io(io::Error),
    /// Something else went wrong.
    Other(String),
}

impl std::fmt::Display for DemoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DemoError::Load(e) => write!(f, "{}", e.report()),
            DemoError::Call(e) => write!(f, "call failed: {e}"),
            DemoError::Io(e) => write!(f, "cannot write: {e}"),
            DemoError::Other(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for DemoError {}

impl From<io::Error> for DemoError {
    fn from(e: io::Error) -> Self {
        DemoError::Io(e)
    }
}

impl From<CallError> for DemoError {
    fn from(e: CallError) -> Self {
        DemoError::Call(e)
    }
}

/// A counter the host makes and hands to a plugin (`drive`).
struct HostCounter(u64);

impl Counter for HostCounter {
    fn next(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }

    fn skip(&mut self, steps: u64) -> u64 {
        self.0 += steps;
        self.0
    }

    fn reset(&mut self) -> u64 {
        std::mem::take(&mut self.0)
    }
}

/// The services the demo host offers plugins: one word of its own.
pub(crate) struct DemoHost;

impl GreeterHost for DemoHost {
    fn setting(&self, key: RStr<'_>) -> ROption<RString> {
        match key.as_str() {
            "merci" => RSome("thanks (the host's word)".into()),
            _ => RNone,
        }
    }
}

/// Prints plugins' `log` records (and the host's) to standard error.
struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!(
                "log: {} {}: {}",
                record.level(),
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Sends `log` records at level info and above to standard error, unless a logger is set.
pub fn log_to_stderr() {
    static LOGGER: StderrLogger = StderrLogger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Loads the plugins in `dir`, calls each, reports each refused file; returns what loaded.
pub fn run(dir: &Path, out: &mut dyn Write) -> Result<DirReport<GreeterRef>, DemoError> {
    let loader = Loader::<GreeterRef>::new().host_services(GreeterHostBox::new(DemoHost));
    writeln!(
        out,
        "host: interface `greeter` {}, accepting {}",
        GreeterRef::INTERFACE_VERSION,
        loader.requirements().versions()
    )?;
    let report = loader.load_dir(dir).map_err(DemoError::Load)?;
    for plugin in &report.plugins {
        show(plugin, out)?;
    }
    writeln!(
        out,
        "\n{} plugin(s) loaded, {} refused",
        report.plugins.len(),
        report.rejected.len()
    )?;
    for refused in &report.rejected {
        writeln!(out, "\n{}", refused.report())?;
    }
    if !report.skipped.is_empty() {
        let names: Vec<String> = report
            .skipped
            .iter()
            .map(|path| {
                let name = path.file_name().unwrap_or_default().to_string_lossy();
                xplug_loader::tools::escape_control(&name).into_owned()
            })
            .collect();
        writeln!(
            out,
            "\nskipped (not named like a library): {}",
            names.join(", ")
        )?;
    }
    Ok(report)
}

pub(crate) fn show(plugin: &Plugin<GreeterRef>, out: &mut dyn Write) -> Result<(), DemoError> {
    let info = plugin.info();
    match plugin.process_id() {
        Some(pid) => writeln!(out, "\nplugin {}  (isolated, process {pid})", info.label())?,
        None => writeln!(
            out,
            "\nplugin {}  ({})",
            info.label(),
            plugin.path().display()
        )?,
    }
    writeln!(
        out,
        "  interface {} {}, built by {}",
        info.interface_name, info.interface_version, info.rustc
    )?;
    writeln!(
        out,
        "  target {}, panic = {}, {} build, xplug {}",
        info.target, info.panic_strategy, info.profile, info.xplug_version
    )?;
    writeln!(
        out,
        "  greet(\"Ada\")         -> {}",
        plugin.greet("Ada".into())?
    )?;
    writeln!(out, "  add(2, 40)           -> {}", plugin.add(2, 40)?)?;
    let words = plugin.words("the quick the lazy dog".into())?;
    let words: Vec<&str> = words.iter().map(|w| w.as_str()).collect();
    writeln!(out, "  words(..)            -> {words:?}")?;
    // A callback (a raw function pointer) does not cross to an isolated plugin: that line
    // says so there.
    match plugin.map(RSlice::from_slice(&[1, 2, 3]), Callback(double)) {
        Ok(doubled) => writeln!(out, "  map([1,2,3], double) -> {:?}", doubled.as_slice())?,
        Err(e) => writeln!(out, "  map([1,2,3], double) -> {e}")?,
    }
    match plugin.counter(5) {
        Ok(mut counter) => {
            let (a, b) = (counter.next()?, counter.next()?);
            writeln!(out, "  counter(5).next() x2 -> {a}, {b}")?;
            match counter.skip(0) {
                Ok(n) => writeln!(out, "  counter.skip(0)      -> {n}")?,
                Err(e) => writeln!(out, "  counter.skip(0)      -> contained: {e}")?,
            }
            match counter.reset() {
                Ok(n) => writeln!(out, "  counter.reset()      -> {n}")?,
                Err(e) => writeln!(out, "  counter.reset()      -> {e}")?,
            }
        }
        Err(e) => writeln!(out, "  counter(5)           -> {e}")?,
    }
    let mut mine = CounterBox::new(HostCounter(100));
    match plugin.drive(&mut mine, 3) {
        Ok(n) => writeln!(out, "  drive(host's, 3)     -> {n}")?,
        Err(e) => writeln!(out, "  drive(host's, 3)     -> {e}")?,
    }
    let merci = plugin.translate("merci".into())?.into_option();
    writeln!(out, "  translate(\"merci\")   -> {merci:?}")?;
    match plugin.parse_number("12x".into())? {
        RResult::ROk(n) => writeln!(out, "  parse_number(\"12x\") -> {n}")?,
        RResult::RErr(e) => writeln!(out, "  parse_number(\"12x\") -> error: {e}")?,
    }
    match plugin.shout("hi".into()) {
        Ok(s) => writeln!(out, "  shout(\"hi\")          -> {s}")?,
        Err(e) => writeln!(out, "  shout(\"hi\")          -> {e}")?,
    }
    match plugin.greet("".into()) {
        Ok(s) => writeln!(out, "  greet(\"\")            -> {s}")?,
        Err(e) => writeln!(out, "  greet(\"\")            -> contained: {e}")?,
    }
    Ok(())
}
