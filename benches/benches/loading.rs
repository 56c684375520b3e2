//! Loading one plugin, each iteration from a fresh copy of the file (so the dynamic loader
//! really loads it), unloaded after the timed part: every iteration finds the same process,
//! with none of the libraries earlier iterations loaded (`scaling` measures what many
//! loaded libraries cost).
//!
//! - `dlopen`: a bare `dlopen` (libloading) — the baseline;
//! - `dlopen_after_read`: the file read once, then a bare `dlopen`;
//! - `memfd_dlopen` (Linux): the kernel copying the file into a memfd, then a bare `dlopen`
//!   of it — the floor of a load from a snapshot;
//! - `xplug`: xplug's whole pipeline from a private snapshot (file, one read, SHA-256, object
//!   format, header, compatibility, sealed memfd, `dlopen`, layout check, `on_load`);
//! - `xplug_in_place`: the same with `LoadMode::InPlace` (no snapshot);
//! - `xplug_pinned`: with the file's SHA-256 required;
//! - `xplug_signed`: with a minisign signature required and checked;
//! - `abi_stable`: abi_stable's `lib_header_from_path` + `init_root_module` (which cannot
//!   unload: run after the others, as it leaves its libraries loaded);
//! - `xplug_rejection`: xplug refusing a plugin at the layout check (a refused library stays
//!   mapped: also run last);
//! - `read_header/xplug_inspect`: stages 1 to 3 alone (no `dlopen`), against
//!   `read_first_page`: opening the file and reading its first 4 KiB.
//!
//! `load_debug_plugin` loads a plugin of the size developers load while they work (the bench
//! plugin built by `cargo build`: unoptimised, with debug info, about 10 MB), from a snapshot
//! and in place, against their floors: `memfd_dlopen` (Linux: the kernel copying the file into
//! a memfd, then a bare `dlopen` of it) and `dlopen`.
//!
//! Run the whole benchmark in a debug host too, as hot reload runs (its groups are then named
//! `..._debug_host`): `cargo bench -p xplug-benches --bench loading --profile dev`.

use abi_stable::library::lib_header_from_path;
use bench_interface::{changed, BenchRef, PlainModuleRef};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion};
use xplug_benches::{
    bench_plugins, debug_bench_plugin, dlopen, few_iterations, host_group, Copies, Unloading,
};
use xplug_loader::trust::{signature_path, PublicKey, Sha256, TrustPolicy};
use xplug_loader::{ErrorKind, LoadMode, Loader};

fn loading(c: &mut Criterion) {
    let files = bench_plugins();
    let xplug_copies = Copies::of(&files.xplug);
    let plain_copies = Copies::of(&files.plain);
    let mut g = c.benchmark_group(host_group("load_one_plugin"));
    few_iterations(&mut g);
    loads_and_floors(&mut g, &xplug_copies);
    g.bench_function("dlopen_after_read", |b| {
        b.iter_batched(
            || xplug_copies.fresh(),
            |path| {
                let bytes = std::fs::read(&path).expect("read");
                (dlopen(&path), bytes)
            },
            BatchSize::PerIteration,
        )
    });
    let loader = Loader::<BenchRef>::new();
    g.bench_function("xplug_pinned", |b| {
        b.iter_batched(
            || {
                let path = xplug_copies.fresh();
                let digest = Sha256::of(&std::fs::read(&path).expect("read"));
                (
                    path,
                    loader
                        .clone()
                        .trust_policy(TrustPolicy::new().require_sha256(digest)),
                )
            },
            |(path, pinned)| Unloading::new(pinned.load(&path).expect("xplug load")),
            BatchSize::PerIteration,
        )
    });
    let keys = minisign::KeyPair::generate_unencrypted_keypair().expect("keys");
    let public = PublicKey::from_base64(&keys.pk.to_base64()).expect("public key");
    let signed = loader
        .clone()
        .trust_policy(TrustPolicy::new().trust_key(public));
    g.bench_function("xplug_signed", |b| {
        b.iter_batched(
            || {
                let path = xplug_copies.fresh();
                let bytes = std::fs::read(&path).expect("read");
                let signature =
                    minisign::sign(Some(&keys.pk), &keys.sk, &bytes[..], None, None).expect("sign");
                std::fs::write(signature_path(&path), signature.into_string()).expect("write");
                path
            },
            |path| Unloading::new(signed.load(&path).expect("xplug load")),
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
    let mut g = c.benchmark_group(host_group("read_header"));
    g.bench_function("read_first_page", |b| {
        b.iter(|| {
            let mut page = [0u8; 4096];
            let mut file = std::fs::File::open(&files.xplug).expect("open");
            std::io::Read::read_exact(&mut file, &mut page).expect("read");
            page
        })
    });
    g.bench_function("xplug_inspect", |b| {
        b.iter(|| xplug_loader::tools::inspect(&files.xplug).expect("inspect"))
    });
    // A library that is not an xplug plugin (the abi_stable one), refused by `load`: at stage 3,
    // which needs no more of the file than `inspect` reads.
    let loader = Loader::<BenchRef>::new();
    g.bench_function("load_refuses_a_non_plugin", |b| {
        b.iter(|| match loader.load(&files.plain) {
            Err(e) => e,
            Ok(_) => panic!("the abi_stable library loaded as an xplug plugin"),
        })
    });
    // The same for the ~10 MB debug build: what they read does not grow with the file. A
    // plugin this host refuses at stage 4 (its version requirement).
    let debug = debug_bench_plugin();
    g.bench_function("read_first_page_debug_plugin", |b| {
        b.iter(|| {
            let mut page = [0u8; 4096];
            let mut file = std::fs::File::open(&debug).expect("open");
            std::io::Read::read_exact(&mut file, &mut page).expect("read");
            page
        })
    });
    g.bench_function("xplug_inspect_debug_plugin", |b| {
        b.iter(|| xplug_loader::tools::inspect(&debug).expect("inspect"))
    });
    let requiring = Loader::<BenchRef>::new()
        .version_requirement(semver::VersionReq::parse(">=99").expect("requirement"));
    g.bench_function("load_refuses_at_stage_4_debug_plugin", |b| {
        b.iter(|| match requiring.load(&debug) {
            Err(e) if matches!(e.kind(), ErrorKind::VersionMismatch { .. }) => e,
            other => panic!("expected a version refusal, got {other:?}"),
        })
    });
    g.finish();
}

/// A debug build of the bench plugin (~10 MB), from a snapshot and in place, against the
/// floors of each.
fn loading_debug_plugin(c: &mut Criterion) {
    let copies = Copies::of(&debug_bench_plugin());
    let mut g = c.benchmark_group(host_group("load_debug_plugin"));
    few_iterations(&mut g);
    loads_and_floors(&mut g, &copies);
    g.finish();
}

/// The rows every plugin file's group has: `dlopen` and (Linux) `memfd_dlopen`, the floors, and
/// xplug's loads from a snapshot (`xplug`) and in place (`xplug_in_place`), each of a fresh
/// copy from `copies`, unloaded outside the timed part.
fn loads_and_floors(g: &mut BenchmarkGroup<'_, WallTime>, copies: &Copies) {
    g.bench_function("dlopen", |b| {
        b.iter_batched(
            || copies.fresh(),
            |path| dlopen(&path),
            BatchSize::PerIteration,
        )
    });
    #[cfg(target_os = "linux")]
    g.bench_function("memfd_dlopen", |b| {
        b.iter_batched(
            || copies.fresh(),
            |path| xplug_benches::memfd_dlopen(&path),
            BatchSize::PerIteration,
        )
    });
    for (name, mode) in [
        ("xplug", LoadMode::Snapshot),
        ("xplug_in_place", LoadMode::InPlace),
    ] {
        let loader = Loader::<BenchRef>::new().mode(mode);
        g.bench_function(name, |b| {
            b.iter_batched(
                || copies.fresh(),
                |path| Unloading::new(loader.load(&path).expect("xplug load")),
                BatchSize::PerIteration,
            )
        });
    }
}

criterion_group!(benches, loading, loading_debug_plugin);
criterion_main!(benches);
