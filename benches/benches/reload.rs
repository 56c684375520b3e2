//! Hot reload: how long from a new file's arrival to the first call the new generation
//! answers, and what each retained generation costs.
//!
//! `reload_latency`, each iteration a new copy of the bench plugin (its own bytes):
//! - `load`: `Loader::load` of the copy: the baseline, one load;
//! - `live_reload`: the copy renamed over a live handle's path, then `Live::reload` and one
//!   call;
//! - `watcher`: the copy renamed over a watched file, then calls until one is answered by the
//!   new generation (the watcher's thread sees the rename and reloads).

use std::fs;
use std::time::{Duration, Instant};

use bench_interface::BenchRef;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use xplug_benches::{bench_plugins, few_iterations, Copies};
use xplug_loader::reload::Reload;
use xplug_loader::tools::library_file_name;
use xplug_loader::Loader;

fn reload(c: &mut Criterion) {
    let files = bench_plugins();
    let copies = Copies::of(&files.xplug);
    let loader = Loader::<BenchRef>::new();
    let mut g = c.benchmark_group("reload_latency");
    few_iterations(&mut g);
    g.bench_function("load", |b| {
        b.iter_batched(
            || copies.fresh(),
            |path| loader.load(&path).expect("load"),
            BatchSize::PerIteration,
        )
    });

    let live_dir = copies.fresh_dir(0);
    let live_path = live_dir.join(library_file_name("live"));
    fs::rename(copies.fresh(), &live_path).expect("install");
    let live = loader.live(&live_path).expect("live");
    g.bench_function("live_reload", |b| {
        b.iter_batched(
            || copies.fresh(),
            |next| {
                fs::rename(&next, &live_path).expect("install");
                let reloaded = live.reload().expect("reload");
                assert!(matches!(reloaded, Reload::Reloaded { .. }));
                live.add(1, 2).expect("call")
            },
            BatchSize::PerIteration,
        )
    });

    let watched = copies.fresh_dir(0);
    let watched_path = watched.join(library_file_name("watched"));
    fs::rename(copies.fresh(), &watched_path).expect("install");
    let watcher = loader.watch_dir(&watched).expect("watch");
    let live = watcher.get(library_file_name("watched")).expect("loaded");
    g.bench_function("watcher", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let next = copies.fresh();
                let before = live.generation();
                let start = Instant::now();
                fs::rename(&next, &watched_path).expect("install");
                let give_up = start + Duration::from_secs(10);
                // The first call the new generation answers.
                while live.generation() == before {
                    assert!(Instant::now() < give_up, "the watcher did not reload");
                    std::hint::spin_loop();
                }
                live.add(1, 2).expect("call");
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, reload);
criterion_main!(benches);
