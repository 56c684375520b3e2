//! How long one load takes in this host, for a `greeter` plugin of any size: each mode loads
//! fresh bytes (a copy with one byte of padding changed), so the dynamic loader really loads it.
//!
//! ```sh
//! cargo build -p greeter-en                      # a debug plugin of real size (~13 MB)
//! cargo run -p xplug-loader --example load_time -- target/debug/libgreeter_en.so
//! cargo run -p xplug-loader --example load_time --release -- target/debug/libgreeter_en.so
//! ```
//!
//! The first runs in a debug host (`cargo run`, where hot reload is used), the second in a
//! release host. Timings for comparison, not assertions: the criterion benches measure ratios.

use std::error::Error;
use std::time::{Duration, Instant};

use greeter_interface::GreeterRef;
use xplug_loader::{LoadMode, Loader};

fn main() -> Result<(), Box<dyn Error>> {
    let source = std::env::args_os()
        .nth(1)
        .ok_or("usage: load_time PLUGIN_FILE (a greeter plugin)")?;
    let bytes = std::fs::read(&source)?;
    let dir = tempdir()?;
    println!(
        "{} ({} bytes), a {} host",
        std::path::Path::new(&source).display(),
        bytes.len(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    for (round, mode) in [LoadMode::Snapshot, LoadMode::InPlace]
        .into_iter()
        .cycle()
        .take(6)
        .enumerate()
    {
        let path = dir.join(format!(
            "libgreeter_{round}{}",
            std::env::consts::DLL_SUFFIX
        ));
        let mut copy = bytes.clone();
        // The last byte of an ELF or PE file is section or table padding: changing it makes
        // other bytes, the same plugin.
        if let Some(last) = copy.last_mut() {
            *last ^= round as u8 + 1;
        }
        std::fs::write(&path, &copy)?;
        let started = Instant::now();
        let loaded = Loader::<GreeterRef>::new().mode(mode).load(&path);
        let took = started.elapsed();
        match loaded {
            Ok(_) => println!("{:<9} {}", format!("{mode:?}"), millis(took)),
            Err(e) => println!("{mode:?}: refused: {e}"),
        }
        std::fs::remove_file(&path)?;
    }
    std::fs::remove_dir(&dir)?;
    Ok(())
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// A new private directory for the copies.
fn tempdir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("xplug-load-time-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
