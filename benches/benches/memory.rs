//! Resident memory added per loaded plugin (Linux: `/proc/self/statm`), for a bare `dlopen`
//! of a fresh copy (the baseline) and for xplug's whole pipeline, from a snapshot (the
//! default) and in place; per generation retained by a live handle's reloads; and after 1,000
//! reloads whose old generations are unloaded.

use bench_interface::BenchRef;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use xplug_benches::{bench_plugins, dlopen_and_keep, few_iterations, Copies, ResidentMemory};
use xplug_loader::{LoadMode, Loader};

fn memory(c: &mut Criterion<ResidentMemory>) {
    let files = bench_plugins();
    let copies = Copies::of(&files.xplug);
    let loader = Loader::<BenchRef>::new();
    let mut g = c.benchmark_group("resident_memory_per_plugin");
    few_iterations(&mut g);
    g.bench_function("dlopen", |b| {
        b.iter_batched(
            || copies.fresh(),
            |path| dlopen_and_keep(&path),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("xplug", |b| {
        b.iter_batched(
            || copies.fresh(),
            |path| loader.load(&path).expect("xplug load"),
            BatchSize::PerIteration,
        )
    });
    let in_place = Loader::<BenchRef>::new().mode(LoadMode::InPlace);
    g.bench_function("xplug_in_place", |b| {
        b.iter_batched(
            || copies.fresh(),
            |path| in_place.load(&path).expect("xplug load"),
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // Each iteration: a new version renamed over a live handle's file and reloaded; the old
    // generation stays loaded (the default).
    let mut g = c.benchmark_group("resident_memory_per_generation");
    few_iterations(&mut g);
    g.bench_function("dlopen", |b| {
        b.iter_batched(
            || copies.fresh(),
            |path| dlopen_and_keep(&path),
            BatchSize::PerIteration,
        )
    });
    let dir = copies.fresh_dir(0);
    let path = dir.join(xplug_loader::tools::library_file_name("live"));
    std::fs::rename(copies.fresh(), &path).expect("install");
    let live = loader.live(&path).expect("live");
    g.bench_function("xplug_live_reload", |b| {
        b.iter_batched(
            || std::fs::rename(copies.fresh(), &path).expect("install"),
            |()| live.reload().expect("reload"),
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // One iteration: a live handle loaded, then 1,000 reloads, each followed by unloading
    // the retired generation; the handle is kept. Against one load kept: 1.0x when 1,000
    // reloads leave nothing behind but the one generation serving.
    let mut g = c.benchmark_group("resident_memory_after_1000_reloads");
    few_iterations(&mut g);
    let mut kept = Vec::new();
    g.bench_function("xplug_load", |b| {
        b.iter_batched(
            || copies.fresh(),
            |path| kept.push(loader.load(&path).expect("xplug load")),
            BatchSize::PerIteration,
        )
    });
    let mut lives = Vec::new();
    g.bench_function("xplug_live_1000_reloads_unloaded", |b| {
        b.iter_batched(
            || {
                let dir = copies.fresh_dir(0);
                let path = dir.join(xplug_loader::tools::library_file_name("live"));
                std::fs::rename(copies.fresh(), &path).expect("install");
                path
            },
            |path| {
                let live = loader.live(&path).expect("live");
                for _ in 0..1000 {
                    std::fs::rename(copies.fresh(), &path).expect("install");
                    live.reload().expect("reload");
                    live.get().add(1, 2).expect("call");
                    // SAFETY: this thread makes every call, and each returns a number.
                    let unloads = unsafe { live.unload_retired() };
                    assert_eq!(unloads.unmapped, 1, "{unloads:?}");
                }
                lives.push(live);
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ResidentMemory);
    targets = memory
}
criterion_main!(benches);
