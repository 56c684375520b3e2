//! The demo host.
//!
//! - `demo PLUGIN_DIR`: loads every plugin in the directory, calls each, reports each refused
//!   file (see the crate docs).
//! - `demo check FILE`: every load-time check, including the full type-layout check against
//!   this host's `greeter` interface, without running the plugin's `on_load` hook. Exit code
//!   0 if the plugin is compatible, 1 if not.
//! - `demo reload DIR NEXT`: hot reload. `DIR` holds the counter plugin; the host watches it,
//!   calls the plugin, installs the file `NEXT` (its next release) over it, then a
//!   half-written copy, and shows each generation and the count carried over.
//! - `demo isolated DIR CRASHING`: every greeter plugin in `DIR`, each in a process of
//!   its own, then the plugin `CRASHING`, which crashes; the others keep serving.
//! - `demo async CLOCK`: the async plugin `CLOCK`, awaited on a tokio runtime the host lends
//!   it (timers, a spawned task, a contained panic, a cancelled future).

use std::process::ExitCode;

use greeter_interface::GreeterRef;
use xplug_loader::Loader;

fn main() -> ExitCode {
    // In a process started to serve an isolated plugin, this serves it and never returns.
    #[cfg(any(unix, windows))]
    xplug_loader::isolation::serve_if_child(&[
        xplug_loader::isolation::serves::<GreeterRef>(),
        xplug_loader::isolation::serves::<counter_interface::CounterRef>(),
    ]);
    xplug_demo::log_to_stderr();
    let args: Vec<_> = std::env::args_os().skip(1).collect();
    match args.as_slice() {
        [cmd, file] if cmd == "check" => match Loader::<GreeterRef>::new().open_and_check(file) {
            Ok(info) => {
                println!(
                    "ok: {} is compatible with this host (interface `greeter` {}, layout checked)",
                    info.label(),
                    info.interface_version
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("{}", e.report());
                ExitCode::from(1)
            }
        },
        [cmd, dir, next] if cmd == "reload" => {
            match xplug_demo::reload(dir.as_ref(), next.as_ref(), &mut std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        #[cfg(any(unix, windows))]
        [cmd, dir, crashing] if cmd == "isolated" => {
            match xplug_demo::isolated(
                dir.as_ref(),
                crashing.as_ref(),
                xplug_loader::isolation::Isolation::new(),
                &mut std::io::stdout().lock(),
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        [cmd, file] if cmd == "async" => {
            match xplug_demo::clock(file.as_ref(), &mut std::io::stdout().lock()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        [dir] => match xplug_demo::run(dir.as_ref(), &mut std::io::stdout().lock()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!(
                "usage: demo PLUGIN_DIR | demo check FILE | demo reload DIR NEXT | demo isolated DIR CRASHING | demo async CLOCK"
            );
            ExitCode::from(2)
        }
    }
}
