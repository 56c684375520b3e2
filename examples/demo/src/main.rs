//! The demo host: `demo PLUGIN_DIR` loads every greeter plugin in the directory, shows each
//! plugin's header, calls every function, and prints a diagnostic for each refused file.
//! `cargo xtask demo` builds the plugins and runs it.

use std::process::ExitCode;

use abi_stable::std_types::{RResult, RSlice};
use greeter_interface::{Callback, GreeterRef};
use xplug_loader::{CallError, Loader, Plugin};

extern "C" fn double(x: i64) -> i64 {
    x * 2
}

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: demo PLUGIN_DIR");
        return ExitCode::from(2);
    };
    let loader = Loader::<GreeterRef>::new();
    println!(
        "host: interface `greeter` {}, accepting {}",
        env_version(),
        loader.requirement()
    );
    let report = match loader.load_dir(&dir) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("{}", e.report());
            return ExitCode::FAILURE;
        }
    };
    for plugin in &report.plugins {
        if let Err(e) = show(plugin) {
            eprintln!("  call failed: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!(
        "\n{} plugin(s) loaded, {} refused",
        report.plugins.len(),
        report.rejected.len()
    );
    for refused in &report.rejected {
        println!("\n{}", refused.report());
    }
    ExitCode::SUCCESS
}

fn env_version() -> &'static str {
    <GreeterRef as xplug_loader::Interface>::INTERFACE_VERSION
}

fn show(plugin: &Plugin<GreeterRef>) -> Result<(), CallError> {
    let info = plugin.info();
    println!("\nplugin {}  ({})", info.label(), plugin.path().display());
    println!(
        "  interface {} {}, built by {}",
        info.interface_name, info.interface_version, info.rustc
    );
    println!(
        "  target {}, panic = {}, {} build, xplug {}",
        info.target, info.panic_strategy, info.profile, info.xplug_version
    );
    println!("  greet(\"Ada\")        -> {}", plugin.greet("Ada".into())?);
    println!("  add(2, 40)          -> {}", plugin.add(2, 40)?);
    let words = plugin.words("the quick the lazy dog".into())?;
    println!(
        "  words(..)           -> {:?}",
        words.iter().map(|w| w.as_str()).collect::<Vec<_>>()
    );
    let doubled = plugin.map(RSlice::from_slice(&[1, 2, 3]), Callback(double))?;
    println!("  map([1,2,3], double) -> {:?}", doubled.as_slice());
    let mut counter = plugin.counter(5)?;
    let (a, b) = (counter.next(), counter.next());
    println!("  counter(5).next() x2 -> {a}, {b}");
    println!(
        "  translate(\"merci\") -> {:?}",
        plugin.translate("merci".into())?.into_option()
    );
    match plugin.parse_number("12x".into())? {
        RResult::ROk(n) => println!("  parse_number(\"12x\") -> {n}"),
        RResult::RErr(e) => println!("  parse_number(\"12x\") -> error: {e}"),
    }
    match plugin.shout("hi".into()) {
        Ok(s) => println!("  shout(\"hi\")         -> {s}"),
        Err(e) => println!("  shout(\"hi\")         -> {e}"),
    }
    match plugin.greet("".into()) {
        Ok(s) => println!("  greet(\"\")           -> {s}"),
        Err(e) => println!("  greet(\"\")           -> contained: {e}"),
    }
    Ok(())
}
