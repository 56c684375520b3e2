//! `demo PLUGIN_DIR`: the demo host. See the crate docs.

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: demo PLUGIN_DIR");
        return ExitCode::from(2);
    };
    match xplug_demo::run(dir.as_ref(), &mut std::io::stdout().lock()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
