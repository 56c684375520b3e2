//! Loads N fresh copies of the release bench plugin into one process, keeping each, and
//! prints how long the loads around the 1st, 10th, 100th and 1,000th took, for xplug and for
//! a bare `dlopen`: a run to look at under a profiler (`perf record -g`), where the `scaling`
//! benchmark gives the ratios.
//!
//! ```sh
//! cargo run --release -p xplug-benches --example nth_plugin -- 1000 [xplug|dlopen|in-place]
//! ```

use std::time::{Duration, Instant};

use bench_interface::BenchRef;
use xplug_benches::{bench_plugins, dlopen_and_keep, raise_descriptor_limit, Copies};
use xplug_loader::{LoadMode, Loader};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(1000);
    let what = args.next().unwrap_or_else(|| String::from("xplug"));
    raise_descriptor_limit();
    let copies = Copies::of(&bench_plugins().xplug);
    let loader = Loader::<BenchRef>::new();
    let in_place = Loader::<BenchRef>::new().mode(LoadMode::InPlace);
    let mut kept = Vec::new();
    let mut times = Vec::with_capacity(n);
    let before = memory();
    for _ in 0..n {
        let path = copies.fresh();
        let start = Instant::now();
        match what.as_str() {
            "dlopen" => dlopen_and_keep(&path),
            "in-place" => kept.push(in_place.load(&path).expect("load")),
            _ => kept.push(loader.load(&path).expect("load")),
        }
        times.push(start.elapsed());
    }
    // What each plugin kept resident, by kind (`/proc/self/status`): anonymous memory (the
    // heap, relocated data), file pages (code and read-only data mapped from a file) and
    // shared memory (from a memfd: a snapshot's pages).
    let after = memory();
    for (kind, (a, b)) in ["anonymous", "file", "shared memory"]
        .iter()
        .zip(before.iter().zip(after.iter()))
    {
        println!(
            "resident per plugin, {kind}: {:.1} KiB",
            b.saturating_sub(*a) as f64 / n.max(1) as f64
        );
    }
    for nth in [1usize, 10, 100, 1000, 10_000] {
        if nth > n {
            break;
        }
        // The median of up to nine loads ending at the nth.
        let mut around: Vec<Duration> = times[nth.saturating_sub(9)..nth].to_vec();
        around.sort();
        println!("{what} {nth:>5}th: {:?}", around[around.len() / 2]);
    }
    // Then loads that are unloaded again, as each iteration of the benchmarks is, with the
    // N plugins above still loaded.
    let cycles: usize = match what.as_str() {
        "dlopen" => 0,
        _ => args.next().and_then(|n| n.parse().ok()).unwrap_or(0),
    };
    let mut cycle_times = Vec::with_capacity(cycles);
    for _ in 0..cycles {
        let path = copies.fresh();
        let start = Instant::now();
        let plugin = match what.as_str() {
            "in-place" => in_place.load(&path).expect("load"),
            _ => loader.load(&path).expect("load"),
        };
        cycle_times.push(start.elapsed());
        // SAFETY: nothing of the plugin was called or kept.
        let _ = unsafe { plugin.unload() };
    }
    for chunk in cycle_times.chunks(cycles.div_ceil(5).max(1)) {
        let mut chunk = chunk.to_vec();
        chunk.sort();
        println!("loaded and unloaded: {:?}", chunk[chunk.len() / 2]);
    }
    std::mem::forget(kept);
}

/// `RssAnon`, `RssFile` and `RssShmem` of this process, in KiB (zeros where unknown).
fn memory() -> [u64; 3] {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    [field("RssAnon:"), field("RssFile:"), field("RssShmem:")]
}
