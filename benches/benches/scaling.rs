//! Scaling:
//! - `load_nth_plugin`: the load of the 1st, 10th, 100th and 1,000th plugin in one process
//!   (0, 9, 99 and 999 loaded before it, kept), xplug against a bare `dlopen` with the same
//!   libraries loaded;
//! - `load_dir`: loading a directory of 1, 10 and 100 distinct plugin files, against
//!   `dlopen`ing each of them;
//! - the layout check of an interface of 10 and 59 functions (the root module and its first
//!   page) and of plain structs of 100 and 500 function pointers.

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::StableAbi;
use bench_interface::BenchRef;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use xplug_benches::{
    bench_plugins, dlopen, few_iterations, raise_descriptor_limit, wide, Copies, Unloading,
};
use xplug_loader::Loader;

fn load_nth_plugin(c: &mut Criterion) {
    raise_descriptor_limit();
    let files = bench_plugins();
    let copies = Copies::of(&files.xplug);
    let loader = Loader::<BenchRef>::new();
    let mut kept = Vec::new();
    let mut g = c.benchmark_group("load_nth_plugin");
    few_iterations(&mut g);
    for nth in [1usize, 10, 100, 1000] {
        while kept.len() < nth - 1 {
            kept.push(loader.load(copies.fresh()).expect("xplug load"));
        }
        g.bench_with_input(BenchmarkId::new("dlopen", nth), &nth, |b, _| {
            b.iter_batched(
                || copies.fresh(),
                |path| dlopen(&path),
                BatchSize::PerIteration,
            )
        });
        g.bench_with_input(BenchmarkId::new("xplug", nth), &nth, |b, _| {
            b.iter_batched(
                || copies.fresh(),
                |path| Unloading::new(loader.load(&path).expect("xplug load")),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
    // The thousand kept plugins stay loaded until the process ends: `load_dir` comes first.
    std::mem::forget(kept);
}

fn load_dir(c: &mut Criterion) {
    let files = bench_plugins();
    let copies = Copies::of(&files.xplug);
    let loader = Loader::<BenchRef>::new();
    let mut g = c.benchmark_group("load_dir");
    few_iterations(&mut g);
    for n in [1usize, 10, 100] {
        g.bench_with_input(BenchmarkId::new("dlopen", n), &n, |b, _| {
            b.iter_batched(
                || copies.fresh_dir(n),
                |dir| {
                    let entries = std::fs::read_dir(&dir).expect("directory");
                    let libraries: Vec<_> =
                        entries.map(|e| dlopen(&e.expect("entry").path())).collect();
                    assert_eq!(libraries.len(), n);
                    libraries
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_with_input(BenchmarkId::new("xplug", n), &n, |b, _| {
            b.iter_batched(
                || copies.fresh_dir(n),
                |dir| {
                    let report = loader.load_dir(&dir).expect("directory");
                    assert_eq!(report.plugins.len(), n, "{:?}", report.rejected);
                    report
                        .plugins
                        .into_iter()
                        .map(Unloading::new)
                        .collect::<Vec<_>>()
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn layout_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("layout_check_functions");
    // 59 functions fill the root module (48) and part of its first page; 100 and 500 are plain
    // structs of function pointers, which the checker walks the same way.
    let pairs = [
        (
            10,
            <wide::wide_10::a::WideRef as StableAbi>::LAYOUT,
            <wide::wide_10::b::WideRef as StableAbi>::LAYOUT,
        ),
        (
            59,
            <wide::wide_59::a::WideRef as StableAbi>::LAYOUT,
            <wide::wide_59::b::WideRef as StableAbi>::LAYOUT,
        ),
        (
            100,
            <wide::wide_100::a::Wide as StableAbi>::LAYOUT,
            <wide::wide_100::b::Wide as StableAbi>::LAYOUT,
        ),
        (
            500,
            <wide::wide_500::a::Wide as StableAbi>::LAYOUT,
            <wide::wide_500::b::Wide as StableAbi>::LAYOUT,
        ),
    ];
    for (n, a, b_layout) in pairs {
        check_layout_compatibility(a, b_layout).expect("identical interfaces are compatible");
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| check_layout_compatibility(a, b_layout))
        });
    }
    g.finish();
}

criterion_group!(benches, load_dir, layout_check, load_nth_plugin);
criterion_main!(benches);
