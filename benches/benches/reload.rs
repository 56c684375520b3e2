//! Hot reload: how long from a new file's arrival to the first call the new generation
//! answers, and what each retained generation costs.
//!
//! `reload_latency`, each iteration a new copy of the bench plugin (its own bytes):
//! - `load`: `Loader::load` of the copy: the baseline, one load;
//! - `live_reload`: the copy renamed over a live handle's path, then `Live::reload` and one
//!   call;
//! - `watcher`: the copy renamed over a watched file, then calls until one is answered by the
//!   new generation (the watcher's thread sees the rename and reloads).
//!
//! `reload_pause`, the time a lossless reload holds new calls (`Reload::Reloaded::paused`:
//! waiting for the running calls, then the state hooks), summed over reloads:
//! - `idle`: no other thread calls: the baseline, the pause's floor (the process-wide barrier,
//!   the look at every thread's slot, the hooks);
//! - `callers_1`: one other thread calls the live handle without pause;
//! - `callers_4`: four do, on this 2-core machine more threads than cores (a call preempted
//!   while it runs holds the reload until the thread runs again).

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
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
                live.get().add(1, 2).expect("call")
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
                live.get().add(1, 2).expect("call");
                total += start.elapsed();
            }
            total
        })
    });
    g.finish();
}

fn pause(c: &mut Criterion) {
    let files = bench_plugins();
    let copies = Copies::of(&files.xplug);
    let loader = Loader::<BenchRef>::new();
    let mut g = c.benchmark_group("reload_pause");
    few_iterations(&mut g);
    for callers in [0, 1, 4] {
        let dir = copies.fresh_dir(0);
        let path = dir.join(library_file_name("paused"));
        fs::rename(copies.fresh(), &path).expect("install");
        let live = loader.live(&path).expect("live");
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..callers)
            .map(|_| {
                let (live, stop) = (live.clone(), Arc::clone(&stop));
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        live.get().add(1, 2).expect("call");
                    }
                })
            })
            .collect();
        let name = match callers {
            0 => "idle".to_owned(),
            n => format!("callers_{n}"),
        };
        g.bench_function(name, |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    fs::rename(copies.fresh(), &path).expect("install");
                    match live.reload().expect("reload") {
                        Reload::Reloaded { paused, .. } => total += paused,
                        other => panic!("{other:?}"),
                    }
                    // SAFETY: the callers' calls go through `get` (checked) and return
                    // numbers; nothing else of a retired generation is used.
                    unsafe { live.unload_retired() };
                }
                total
            })
        });
        stop.store(true, Ordering::Relaxed);
        for thread in threads {
            thread.join().expect("caller");
        }
    }
    g.finish();
}

criterion_group!(benches, reload, pause);
criterion_main!(benches);
