//! Loading one plugin, each iteration from a fresh copy of the file (so the dynamic loader
//! really loads it):
//!
//! - `dlopen`: a bare `dlopen` (libloading) — the baseline;
//! - `abi_stable`: abi_stable's `lib_header_from_path` + `init_root_module`;
//! - `xplug`: xplug's whole pipeline (file, object format, header, compatibility, `dlopen`,
//!   layout check, `on_load`);
//! - `xplug_rejection`: xplug refusing a plugin at the layout check;
//! - `read_header_only/xplug_inspect`: stages 1 to 3 alone (no `dlopen`).

use abi_stable::library::lib_header_from_path;
use bench_interface::{changed, BenchRef, PlainModuleRef};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use xplug_benches::{bench_plugins, dlopen_and_keep, few_iterations, Copies};
use xplug_loader::{ErrorKind, Loader};

fn loading(c: &mut Criterion) {
    let files = bench_plugins();
    let xplug_copies = Copies::of(&files.xplug);
    let plain_copies = Copies::of(&files.plain);
    let mut g = c.benchmark_group("load_one_plugin");
    few_iterations(&mut g);
    g.bench_function("dlopen", |b| {
        b.iter_batched(
            || xplug_copies.fresh(),
            |path| dlopen_and_keep(&path),
            BatchSize::PerIteration,
        )
    });
    g.bench_function("abi_stable", |b| {
        b.iter_batched(
            || plain_copies.fresh(),
            |path| {
                lib_header_from_path(&path)
                    .and_then(|h| h.init_root_module::<PlainModuleRef>())
                    .expect("abi_stable load")
            },
            BatchSize::PerIteration,
        )
    });
    let loader = Loader::<BenchRef>::new();
    g.bench_function("xplug", |b| {
        b.iter_batched(
            || xplug_copies.fresh(),
            |path| loader.load(&path).expect("xplug load"),
            BatchSize::PerIteration,
        )
    });
    let changed = Loader::<changed::BenchRef>::new();
    g.bench_function("xplug_rejection", |b| {
        b.iter_batched(
            || xplug_copies.fresh(),
            |path| match changed.load(&path) {
                Err(e) if matches!(e.kind(), ErrorKind::LayoutMismatch { .. }) => e,
                other => panic!("expected a layout mismatch, got {other:?}"),
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();

    // The part of the pipeline before `dlopen` (stages 1 to 3): the same file every time,
    // since nothing is loaded.
    let mut g = c.benchmark_group("read_header_only");
    g.bench_function("xplug_inspect", |b| {
        b.iter(|| xplug_loader::inspect(&files.xplug).expect("inspect"))
    });
    g.finish();
}

criterion_group!(benches, loading);
criterion_main!(benches);
