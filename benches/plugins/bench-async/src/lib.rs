//! The async benchmark workloads as an xplug plugin, written with `async fn`.

use std::time::Duration;

use bench_interface::{bodies, BenchAsync, YieldOnce};
use xplug::stream::{iter, FfiStream};

struct Plugin;

impl BenchAsync for Plugin {
    async fn add(a: u64, b: u64) -> u64 {
        bodies::add(a, b)
    }
    async fn yield_once(n: u64) -> u64 {
        YieldOnce::default().await;
        n
    }
    async fn sleep_zero(n: u64) -> u64 {
        xplug::runtime::sleep(Duration::ZERO).await;
        n
    }
    fn numbers(count: u64) -> FfiStream<u64> {
        FfiStream::new(iter(0..count))
    }
}

xplug::export_plugin!(Plugin as BenchAsync);
