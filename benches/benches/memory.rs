//! Resident memory added per loaded plugin (Linux: `/proc/self/statm`), for a bare `dlopen`
//! of a fresh copy (the baseline) and for xplug's whole pipeline, from a snapshot (the
//! default) and in place.

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
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(ResidentMemory);
    targets = memory
}
criterion_main!(benches);
