//! The host's async runtime, lent to its plugins: spawn tasks, sleep and time out on the host's
//! executor, without linking a runtime of their own.
//!
//! A plugin is a library with its own copy of every crate it links, tokio included, and its
//! copy's thread-local context is empty: `tokio::spawn` or `tokio::time::sleep` in a plugin
//! panics ("there is no reactor running"). Through this module a plugin uses the host's
//! executor instead:
//!
//! - the host sets it once, with [`set_executor`] (an adapter for tokio is in
//!   `xplug-loader`'s `runtime` module; any executor implements [`Executor`] in a few lines);
//! - a plugin calls [`spawn`], [`sleep`] and [`timeout`]. In a host's own code they use the
//!   executor directly, so a plugin's code runs unchanged in-process (`implemented_by`).
//!
//! A task a plugin spawns is polled by the host's executor under the plugin's panic guard (a
//! panic ends the task and is logged as an error through `log`), and keeps the plugin loaded
//! until it ends, as its futures do. What works: spawning, sleeping and timeouts, and any
//! future built from them and from the plugin's own code (channels of `std`, of
//! `futures`-style crates that need no runtime). What does not: a runtime's I/O types
//! (`tokio::net`, `tokio::fs`, tokio's own timers), which need the runtime's thread-local
//! context in the plugin's copy.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use abi_stable::std_types::ROption;

use crate::future::{BoxFuture, CallFuture, FfiFuture};

/// An async executor a host lends its plugins ([`set_executor`]).
pub trait Executor: Send + Sync + 'static {
    /// Runs `task` to completion in the background.
    fn spawn(&self, task: BoxFuture<'static, ()>);
    /// A future that completes after `duration`. It may be made outside the executor's own
    /// threads (a plugin's future may be polled anywhere).
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The executor this process lends: set by a host, read by the host's link.
static EXECUTOR: Mutex<Option<Arc<dyn Executor>>> = Mutex::new(None);

/// Lends `executor` to the plugins of this process (and to [`spawn`], [`sleep`] and
/// [`timeout`] in the host's own code), in place of the one lent before.
pub fn set_executor(executor: impl Executor) {
    let old = EXECUTOR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .replace(Arc::new(executor));
    // Dropped unlocked: its `Drop` may drop tasks whose code spawns or sleeps.
    drop(old);
}

fn executor() -> Option<Arc<dyn Executor>> {
    EXECUTOR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// No executor to run on: the host set none ([`set_executor`]), or this plugin was built
/// against a newer xplug than its host and the host's link has no runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoRuntime;

impl fmt::Display for NoRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "no async runtime: the host lent none to its plugins (xplug::runtime::set_executor)",
        )
    }
}

impl std::error::Error for NoRuntime {}

/// Runs `task` in the background on the host's executor. The task keeps this plugin loaded
/// until it ends; a panic in it ends it and is logged by the host.
pub fn spawn<F>(task: F) -> Result<(), NoRuntime>
where
    F: Future<Output = ()> + Send + 'static,
{
    match crate::host_link::link() {
        Some(link) => match link.spawn() {
            Some(spawn) if spawn(FfiFuture::new(task)) => Ok(()),
            _ => Err(NoRuntime),
        },
        None => match executor() {
            Some(executor) => {
                executor.spawn(Box::pin(task));
                Ok(())
            }
            None => Err(NoRuntime),
        },
    }
}

/// A future that completes after `duration`, on the host's timer. Without a runtime it panics
/// when polled (see [`NoRuntime`]; in a plugin's future the panic is contained and reaches the
/// host as the call's error).
pub fn sleep(duration: Duration) -> Sleep {
    let timer = match crate::host_link::link() {
        Some(link) => match link.sleep() {
            Some(sleep) => match sleep(duration_nanos(duration)) {
                ROption::RSome(timer) => Timer::Host(CallFuture::new(Ok(timer), "sleep", None)),
                ROption::RNone => Timer::None,
            },
            None => Timer::None,
        },
        None => match executor() {
            Some(executor) => Timer::Local(executor.sleep(duration)),
            None => Timer::None,
        },
    };
    Sleep { timer }
}

/// Nanoseconds, saturated.
fn duration_nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// What [`sleep`] returns.
#[must_use = "a timer does nothing unless awaited"]
pub struct Sleep {
    timer: Timer,
}

enum Timer {
    /// The host's, through its link (this is a plugin).
    Host(CallFuture<'static, ()>),
    /// This process's own executor's (this is the host).
    Local(BoxFuture<'static, ()>),
    None,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.get_mut().timer {
            Timer::Host(timer) => match Pin::new(timer).poll(cx) {
                Poll::Ready(Ok(())) => Poll::Ready(()),
                Poll::Ready(Err(e)) => panic!("the host's timer failed: {}", e),
                Poll::Pending => Poll::Pending,
            },
            Timer::Local(timer) => timer.as_mut().poll(cx),
            Timer::None => panic!("{}", NoRuntime),
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep").finish_non_exhaustive()
    }
}

/// `future` did not complete within its time ([`timeout`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline elapsed")
    }
}

impl std::error::Error for Elapsed {}

/// `future`'s output, or [`Elapsed`] if `duration` passes first (then `future` is dropped
/// with the [`Timeout`]).
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Box::pin(future),
        timer: sleep(duration),
    }
}

/// What [`timeout`] returns.
#[must_use = "a timeout does nothing unless awaited"]
pub struct Timeout<F> {
    future: Pin<Box<F>>,
    timer: Sleep,
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(value) = this.future.as_mut().poll(cx) {
            return Poll::Ready(Ok(value));
        }
        match Pin::new(&mut this.timer).poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F> fmt::Debug for Timeout<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout").finish_non_exhaustive()
    }
}

/// The host's link entry: spawns a plugin's task on this process's executor; `false` without
/// one (the task is dropped). A panic in the executor's `spawn` is contained (`false`).
pub(crate) extern "C" fn host_spawn(task: FfiFuture<()>) -> bool {
    let executor = match executor() {
        Some(executor) => executor,
        None => return false,
    };
    let task = CallFuture::new(Ok(task), "a task a plugin spawned", None);
    crate::unwind::contained(
        move || {
            executor.spawn(Box::pin(async move {
                if let Err(e) = task.await {
                    log::error!(target: "xplug", "{}", e);
                }
            }));
            true
        },
        false,
    )
}

/// The host's link entry: a timer of this process's executor, for a plugin; none without an
/// executor, or when the executor's `sleep` panicked (contained).
pub(crate) extern "C" fn host_sleep(nanos: u64) -> ROption<FfiFuture<()>> {
    let executor = match executor() {
        Some(executor) => executor,
        None => return ROption::RNone,
    };
    crate::unwind::contained(
        move || ROption::RSome(FfiFuture::new(executor.sleep(Duration::from_nanos(nanos)))),
        ROption::RNone,
    )
}
