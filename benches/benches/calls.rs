//! Per-call overhead: the same workload called four ways.
//!
//! - `direct`: a non-inlined Rust function in this binary (no boundary at all);
//! - `raw_fn_ptr`: a raw `extern "C"` function pointer from libloading — the floor for a call
//!   into a shared library;
//! - `abi_stable`: a plain abi_stable prefix-module call, without xplug;
//! - `xplug`: the xplug plugin's handle, with panic containment;
//! - `xplug_live` (in `add_u64`): the same plugin through a live handle (hot reload), whose
//!   current generation is one atomic load away.

use std::hint::black_box;

use abi_stable::library::lib_header_from_path;
use abi_stable::std_types::{RSlice, RStr, RString};
use bench_interface::{BenchHost, BenchHostBox, BenchRef, Callback, CounterBox, PlainModuleRef};
use criterion::{criterion_group, criterion_main, Criterion};
use xplug_benches::bench_plugins;
use xplug_loader::Loader;

#[inline(never)]
fn direct_add(a: u64, b: u64) -> u64 {
    a.wrapping_add(b)
}

#[inline(never)]
fn direct_echo(s: &str) -> String {
    String::from(s)
}

#[inline(never)]
fn direct_sum(values: &[u64]) -> u64 {
    values.iter().fold(0u64, |acc, v| acc.wrapping_add(*v))
}

trait LocalCounter {
    fn next(&mut self) -> u64;
}

struct Count(u64);

impl LocalCounter for Count {
    #[inline(never)]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// The host's `ping` service.
struct Pinger;

impl BenchHost for Pinger {
    fn ping(&self, x: u64) -> u64 {
        x.wrapping_add(1)
    }
}

/// The same work, as a raw function pointer the host passes.
extern "C" fn raw_ping(x: u64) -> u64 {
    x.wrapping_add(1)
}

/// A logger that takes every record and does nothing with it but look at its message: the
/// cost of a record is its trip, not the logger's output.
struct NullLogger;

impl log::Log for NullLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        black_box(record.args());
    }
    fn flush(&self) {}
}

static LOGGER: NullLogger = NullLogger;

#[inline(never)]
fn host_log_debug(times: u64) {
    for i in 0..times {
        log::debug!("value {}", black_box(i));
    }
}

#[inline(never)]
fn host_log_info(times: u64) {
    for i in 0..times {
        log::info!("value {}", black_box(i));
    }
}

fn calls(c: &mut Criterion) {
    // Before the plugin loads: it takes the host's level then.
    log::set_logger(&LOGGER).expect("the only logger");
    log::set_max_level(log::LevelFilter::Info);
    let files = bench_plugins();
    // One loader for both handles below: a plugin keeps the services of its first load.
    let loader = Loader::<BenchRef>::new().host_services(BenchHostBox::new(Pinger));
    let xplug = loader
        .load(&files.xplug)
        .unwrap_or_else(|e| panic!("{}", e.report()));
    let plain: PlainModuleRef = lib_header_from_path(&files.plain)
        .and_then(|h| h.init_root_module::<PlainModuleRef>())
        .expect("plain abi_stable plugin");
    // SAFETY: the xplug plugin (already loaded, never unloaded) exports these functions
    // with exactly these signatures; the library is leaked so the pointers stay valid.
    let (raw_add, raw_echo, raw_sum, raw_counter, raw_tally_next) = unsafe {
        let lib = Box::leak(Box::new(
            libloading::Library::new(&files.xplug).expect("open bench plugin"),
        ));
        (
            *lib.get::<extern "C" fn(u64, u64) -> u64>(b"raw_add\0")
                .unwrap(),
            *lib.get::<extern "C" fn(RStr<'_>) -> RString>(b"raw_echo\0")
                .unwrap(),
            *lib.get::<extern "C" fn(RSlice<'_, u64>) -> u64>(b"raw_sum\0")
                .unwrap(),
            *lib.get::<extern "C" fn(u64) -> CounterBox>(b"raw_counter\0")
                .unwrap(),
            *lib.get::<unsafe extern "C" fn(*mut u64) -> u64>(b"raw_tally_next\0")
                .unwrap(),
        )
    };

    // Each xplug call returns `Result<T, CallError>`; the benchmarks unwrap it, as a host
    // would use `?` or `match`.
    let mut g = c.benchmark_group("add_u64");
    g.bench_function("direct", |b| {
        b.iter(|| direct_add(black_box(1), black_box(2)))
    });
    g.bench_function("raw_fn_ptr", |b| {
        b.iter(|| raw_add(black_box(1), black_box(2)))
    });
    g.bench_function("abi_stable", |b| {
        b.iter(|| (plain.add())(black_box(1), black_box(2)))
    });
    g.bench_function("xplug", |b| {
        b.iter(|| xplug.add(black_box(1), black_box(2)).unwrap())
    });
    let live = loader
        .live(&files.xplug)
        .unwrap_or_else(|e| panic!("{}", e.report()));
    g.bench_function("xplug_live", |b| {
        b.iter(|| live.get().add(black_box(1), black_box(2)).unwrap())
    });
    g.finish();

    let text = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_eq!(text.len(), 64);
    let mut g = c.benchmark_group("echo_64_byte_string");
    g.bench_function("direct", |b| b.iter(|| direct_echo(black_box(text))));
    g.bench_function("raw_fn_ptr", |b| {
        b.iter(|| raw_echo(black_box(text).into()))
    });
    g.bench_function("abi_stable", |b| {
        b.iter(|| (plain.echo())(black_box(text).into()))
    });
    g.bench_function("xplug", |b| {
        b.iter(|| xplug.echo(black_box(text).into()).unwrap())
    });
    g.finish();

    let values: Vec<u64> = (0..512).collect(); // 4 KiB
    let mut g = c.benchmark_group("sum_4_kib_slice");
    g.bench_function("direct", |b| b.iter(|| direct_sum(black_box(&values))));
    g.bench_function("raw_fn_ptr", |b| {
        b.iter(|| raw_sum(RSlice::from_slice(black_box(&values))))
    });
    g.bench_function("abi_stable", |b| {
        b.iter(|| (plain.sum())(RSlice::from_slice(black_box(&values))))
    });
    g.bench_function("xplug", |b| {
        b.iter(|| xplug.sum(RSlice::from_slice(black_box(&values))).unwrap())
    });
    g.finish();

    // An abi_stable `#[sabi_trait]` method: the same vtable call whoever created the object
    // (xplug interfaces may return such objects; their own are `#[xplug::object]`s, below).
    let mut g = c.benchmark_group("trait_object_method");
    let mut local: Box<dyn LocalCounter> = Box::new(Count(0));
    g.bench_function("direct", |b| b.iter(|| black_box(&mut local).next()));
    let mut from_raw = raw_counter(0);
    g.bench_function("raw_fn_ptr", |b| b.iter(|| black_box(&mut from_raw).next()));
    let mut from_plain = (plain.counter())(0);
    g.bench_function("abi_stable", |b| {
        b.iter(|| black_box(&mut from_plain).next())
    });
    g.finish();

    // An `#[xplug::object]` method (panic guard, `Result`) against the same work through a
    // raw function pointer into the plugin, with the object held two ways: behind a pointer
    // read anew at each call (`black_box`: the handle's two fields, then the method's pointer,
    // one after the other), and in a local called in a loop (the handle stays in registers;
    // the method's pointer is read from the table at each call).
    let mut g = c.benchmark_group("object_method");
    let mut state = 0u64;
    g.bench_function("raw_fn_ptr", |b| {
        // SAFETY: `state` is a `u64` only this loop uses.
        b.iter(|| unsafe { raw_tally_next(black_box(&mut state)) })
    });
    let mut tally = xplug.tally(0).expect("tally");
    g.bench_function("xplug", |b| {
        b.iter(|| black_box(&mut tally).next().unwrap())
    });
    g.bench_function("xplug_local", |b| b.iter(|| tally.next().unwrap()));
    g.finish();

    // 1,000 calls from the plugin into the host: its `ping` service against a raw function
    // pointer the host passes.
    let mut g = c.benchmark_group("host_service_x1000");
    g.bench_function("raw_fn_ptr", |b| {
        b.iter(|| {
            xplug
                .call_back(black_box(1000), Callback(raw_ping))
                .unwrap()
        })
    });
    g.bench_function("xplug", |b| {
        b.iter(|| xplug.ping_host(black_box(1000)).unwrap())
    });
    g.finish();

    // 1,000 `debug!` statements below the host's level (info), in the host and in a plugin.
    let mut g = c.benchmark_group("log_disabled_x1000");
    g.bench_function("host", |b| b.iter(|| host_log_debug(black_box(1000))));
    g.bench_function("xplug", |b| {
        b.iter(|| xplug.log_debug(black_box(1000)).unwrap())
    });
    g.finish();

    // 1,000 `info!` records to a logger that drops them: the cost of a record's trip.
    let mut g = c.benchmark_group("log_enabled_x1000");
    g.bench_function("host", |b| b.iter(|| host_log_info(black_box(1000))));
    g.bench_function("xplug", |b| {
        b.iter(|| xplug.log_info(black_box(1000)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);
