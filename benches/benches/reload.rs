//! Hot reload: how long from a new file's arrival to the first call the new generation
//! answers, and what each retained generation costs.
//!
//! `reload_latency` (the release bench plugin) and `reload_debug_plugin` (its ~10 MB debug
//! build, what `cargo build` makes while developers work; run it in a debug host too:
//! `cargo bench -p xplug-benches --bench reload --profile dev -- reload_debug_plugin`), each
//! iteration a new copy of the plugin (its own bytes), the generation it replaces unloaded
//! outside the timed part:
//! - `load`: `Loader::load` of the copy: the baseline, one load;
//! - `live_reload`: the copy renamed over a live handle's path, then `Live::reload` and one
//!   call;
//! - `watcher`: the copy renamed over a watched file, then calls until one is answered by the
//!   new generation (the watcher's thread sees the rename and reloads);
//! - `watcher_4_callers`: the same while four threads call the live handle without pause (on
//!   a machine with fewer cores than that, the watcher's thread shares them: the row then
//!   measures the scheduler as much as the reload).
//!
//! `reload_pause`, the time a lossless reload holds new calls (`Reload::Reloaded::paused`:
//! waiting for the running calls, then the state hooks), summed over reloads:
//! - `idle`: no other thread calls: the baseline, the pause's floor (the process-wide barrier,
//!   the look at every thread's slot, the hooks);
//! - `callers_1`: one other thread calls the live handle without pause;
//! - `callers_4`: four do, on this 2-core machine more threads than cores (a call preempted
//!   while it runs holds the reload until the thread runs again).

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bench_interface::BenchRef;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use xplug_benches::{
    bench_plugins, debug_bench_plugin, few_iterations, host_group, Copies, Unloading,
};
use xplug_loader::reload::{Live, Reload};
use xplug_loader::tools::library_file_name;
use xplug_loader::Loader;

fn reload(c: &mut Criterion) {
    let files = bench_plugins();
    latency(c, "reload_latency", &files.xplug);
    latency(c, "reload_debug_plugin", &debug_bench_plugin());
}

/// The `reload_latency` rows for the plugin file `plugin`, in the group `group`.
fn latency(c: &mut Criterion, group: &str, plugin: &Path) {
    let copies = Copies::of(plugin);
    let loader = Loader::<BenchRef>::new();
    let mut g = c.benchmark_group(host_group(group));
    few_iterations(&mut g);
    g.bench_function("load", |b| {
        b.iter_batched(
            || copies.fresh(),
            |path| Unloading::new(loader.load(&path).expect("load")),
            BatchSize::PerIteration,
        )
    });

    let live_dir = copies.fresh_dir(0);
    let live_path = live_dir.join(library_file_name("live"));
    fs::rename(copies.fresh(), &live_path).expect("install");
    let live = loader.live(&live_path).expect("live");
    g.bench_function("live_reload", |b| {
        b.iter_batched(
            || {
                // SAFETY: every call of this live handle returns a number; nothing else of
                // a retired generation is kept.
                unsafe { live.unload_retired() };
                copies.fresh()
            },
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
    for callers in [0, 4] {
        let running = Callers::start(&live, callers);
        let name = match callers {
            0 => String::from("watcher"),
            n => format!("watcher_{n}_callers"),
        };
        g.bench_function(name, |b| {
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
                        // Leaves the cores to the watcher's thread (and the callers).
                        thread::yield_now();
                    }
                    live.get().add(1, 2).expect("call");
                    total += start.elapsed();
                    // SAFETY: the callers' calls go through `get` and return numbers; nothing
                    // else of a retired generation is kept.
                    unsafe { live.unload_retired() };
                }
                total
            })
        });
        running.stop();
    }
    g.finish();
}

/// Threads calling a live handle without pause, until stopped.
struct Callers {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Callers {
    fn start(live: &Live<BenchRef>, n: usize) -> Callers {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let (live, stop) = (live.clone(), Arc::clone(&stop));
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        live.get().add(1, 2).expect("call");
                    }
                })
            })
            .collect();
        Callers { stop, threads }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            thread.join().expect("caller");
        }
    }
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
        let running = Callers::start(&live, callers);
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
        running.stop();
    }
    g.finish();
}

criterion_group!(benches, reload, pause);
criterion_main!(benches);
