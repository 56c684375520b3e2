//! `async fn` and streams across the boundary, each against the same work in the host, in one
//! run: a call whose future is ready at once (against the host's own `async fn`, boxed and
//! not, boxed with the live count a plugin's future keeps, and async-ffi's `FfiFuture` of the
//! same body), the waker's round trip (pending, wake,
//! ready) with and without the host's timer, and a stream of 1,000 numbers.

use std::future::Future;
use std::hint::black_box;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bench_interface::{bodies, BenchAsyncRef, YieldOnce};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xplug::stream::{iter, Stream};
use xplug_benches::bench_plugins;
use xplug_loader::runtime::{set_executor, Tokio};
use xplug_loader::Loader;

/// Polls `future` once with a waker that does nothing: it must be ready.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("not ready at once"),
    }
}

/// The body as the host's own `async fn`.
#[inline(never)]
async fn add_in_host(a: u64, b: u64) -> u64 {
    bodies::add(a, b)
}

/// Sums a stream's items, polled with a waker that does nothing (every item is ready).
fn sum_ready<S: Stream<Item = T> + Unpin, T>(mut stream: S, value: impl Fn(T) -> u64) -> u64 {
    let mut cx = Context::from_waker(Waker::noop());
    let mut sum = 0u64;
    loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(item)) => sum = sum.wrapping_add(black_box(value(item))),
            Poll::Ready(None) => return sum,
            Poll::Pending => panic!("not ready at once"),
        }
    }
}

fn bench_async(c: &mut Criterion) {
    let plugin = Loader::<BenchAsyncRef>::new()
        .load(bench_plugins().async_plugin)
        .expect("the async bench plugin loads");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    set_executor(Tokio::new(runtime.handle().clone()));

    let mut group = c.benchmark_group("async_ready");
    group.bench_function("host_async_fn", |b| {
        b.iter(|| ready(add_in_host(black_box(2), black_box(3))))
    });
    group.bench_function("host_boxed", |b| {
        b.iter(|| {
            let future: Pin<Box<dyn Future<Output = u64> + Send>> =
                Box::pin(add_in_host(black_box(2), black_box(3)));
            ready(future)
        })
    });
    // The boxed future with what keeps a plugin's code loaded while its future lives: one
    // atomic add when it is made, one subtract when it is dropped.
    group.bench_function("host_boxed_counted", |b| {
        static LIVE: AtomicU64 = AtomicU64::new(0);
        b.iter(|| {
            LIVE.fetch_add(1, Ordering::Relaxed);
            let future: Pin<Box<dyn Future<Output = u64> + Send>> =
                Box::pin(add_in_host(black_box(2), black_box(3)));
            let value = ready(future);
            LIVE.fetch_sub(1, Ordering::Release);
            value
        })
    });
    group.bench_function("async_ffi", |b| {
        b.iter(|| {
            ready(async_ffi::FutureExt::into_ffi(add_in_host(
                black_box(2),
                black_box(3),
            )))
        })
    });
    group.bench_function("xplug", |b| {
        b.iter(|| ready(plugin.add(black_box(2), black_box(3))).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("async_wake");
    group.bench_function("yield_in_host", |b| {
        b.iter(|| {
            runtime.block_on(async {
                YieldOnce::default().await;
                black_box(7u64)
            })
        })
    });
    group.bench_function("yield_xplug", |b| {
        b.iter(|| runtime.block_on(plugin.yield_once(black_box(7))).unwrap())
    });
    group.bench_function("timer_in_host", |b| {
        b.iter(|| {
            runtime.block_on(async {
                tokio::time::sleep(Duration::ZERO).await;
                black_box(7u64)
            })
        })
    });
    group.bench_function("timer_xplug", |b| {
        b.iter(|| runtime.block_on(plugin.sleep_zero(black_box(7))).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("async_stream");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("in_host", |b| {
        b.iter(|| sum_ready(iter(0..black_box(1000u64)), |n| n))
    });
    group.bench_function("xplug", |b| {
        b.iter(|| {
            let stream = plugin.numbers(black_box(1000)).unwrap();
            sum_ready(stream, |n| n.unwrap())
        })
    });
    group.finish();
}

criterion_group!(benches, bench_async);
criterion_main!(benches);
