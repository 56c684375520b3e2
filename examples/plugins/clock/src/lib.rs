//! The demo's async plugin. It is written in the form every compiler builds, Rust 1.63
//! included: each `async fn` of the interface is a function returning a boxed future. (From
//! Rust 1.75 it could write `async fn` instead.)

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use abi_stable::std_types::RString;
use clock_interface::{Clock, Stopwatch, StopwatchBox};
use tracing::Instrument;
use xplug::future::BoxFuture;
use xplug::runtime::{sleep, spawn};
use xplug::stream::{unfold, FfiStream};

struct Plugin;

static TOTAL: AtomicU64 = AtomicU64::new(0);
static CANCELLED: AtomicU64 = AtomicU64::new(0);

/// Counts a wait dropped before it ended.
struct Waiting {
    done: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.done {
            CANCELLED.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[allow(unknown_lints, refining_impl_trait)]
impl Clock for Plugin {
    fn delayed(text: RString, millis: u64) -> BoxFuture<'static, RString> {
        // A span around the wait, an event in it, a value recorded into the span when the
        // wait is over and a span that follows from it: all reach the host's subscriber.
        let span = tracing::info_span!("delayed", millis, woke = tracing::field::Empty);
        Box::pin(
            async move {
                tracing::info!(text = %text, "waiting");
                sleep(Duration::from_millis(millis)).await;
                let delayed = tracing::Span::current();
                delayed.record("woke", true);
                tracing::info_span!("answer").follows_from(&delayed);
                text
            }
            .instrument(span),
        )
    }

    fn add_later(value: u64, millis: u64) -> BoxFuture<'static, bool> {
        Box::pin(async move {
            spawn(async move {
                sleep(Duration::from_millis(millis)).await;
                TOTAL.fetch_add(value, Ordering::SeqCst);
            })
            .is_ok()
        })
    }

    fn total() -> u64 {
        TOTAL.load(Ordering::SeqCst)
    }

    fn fail_after(millis: u64) -> BoxFuture<'static, u64> {
        Box::pin(async move {
            sleep(Duration::from_millis(millis)).await;
            panic!("the clock broke after {} ms", millis)
        })
    }

    fn wait(millis: u64) -> BoxFuture<'static, u64> {
        Box::pin(async move {
            let mut waiting = Waiting { done: false };
            sleep(Duration::from_millis(millis)).await;
            waiting.done = true;
            CANCELLED.load(Ordering::SeqCst)
        })
    }

    fn cancelled() -> u64 {
        CANCELLED.load(Ordering::SeqCst)
    }

    fn ticks(count: u64, millis: u64, panic_at: u64) -> FfiStream<u64> {
        FfiStream::new(unfold(0, move |n| async move {
            if n == count {
                return None;
            }
            sleep(Duration::from_millis(millis)).await;
            if n == panic_at {
                panic!("tick {} broke", n);
            }
            Some((n, n + 1))
        }))
    }

    fn stopwatch(start: u64) -> StopwatchBox {
        StopwatchBox::new(Watch(start))
    }

    fn ask_host(question: RString) -> BoxFuture<'static, RString> {
        Box::pin(async move {
            match Self::host() {
                Some(host) => host
                    .answer(question)
                    .await
                    .unwrap_or_else(|e| e.to_string().into()),
                None => "no host".into(),
            }
        })
    }
}

/// A stopwatch: the milliseconds it has waited.
struct Watch(u64);

#[allow(unknown_lints, refining_impl_trait)]
impl Stopwatch for Watch {
    fn lap(&mut self, millis: u64) -> BoxFuture<'_, u64> {
        Box::pin(async move {
            sleep(Duration::from_millis(millis)).await;
            self.0 += millis;
            self.0
        })
    }

    fn total(&self) -> u64 {
        self.0
    }
}

xplug::export_plugin!(Plugin as Clock);
