//! The `clock` plugin interface: the demo's async example. Its `async fn`s return futures the
//! host awaits; the plugin waits on the host's timers and spawns tasks on the host's executor
//! (`xplug::runtime`), without a runtime of its own.
#![warn(missing_docs)]

use abi_stable::std_types::RString;
use xplug::stream::FfiStream;

/// Tells time, asynchronously.
#[xplug::interface(name = "clock", host = ClockHost)]
pub trait Clock {
    /// `text`, after waiting `millis` milliseconds on the host's timer.
    async fn delayed(text: RString, millis: u64) -> RString;
    /// Spawns a task on the host's executor that outlives the call: after `millis`
    /// milliseconds it adds `value` to the plugin's total ([`Clock::total`]). Whether the host
    /// lent an executor.
    async fn add_later(value: u64, millis: u64) -> bool;
    /// The total of what the tasks `add_later` spawned have added.
    fn total() -> u64;
    /// Waits `millis` milliseconds, then panics.
    async fn fail_after(millis: u64) -> u64;
    /// Waits `millis` milliseconds, then returns the number of waits that were dropped before
    /// they ended ([`Clock::cancelled`] at that time).
    async fn wait(millis: u64) -> u64;
    /// How many of `wait`'s futures were dropped before they ended (cancelled).
    fn cancelled() -> u64;
    /// A stream of `0..count`, one number every `millis` milliseconds (on the host's timer);
    /// it panics instead of yielding `panic_at`.
    fn ticks(count: u64, millis: u64, panic_at: u64) -> FfiStream<u64>;
    /// A stopwatch object, started at `start` milliseconds.
    fn stopwatch(start: u64) -> StopwatchBox;
    /// The host's answer to `question` ([`ClockHost::answer`], awaited by the plugin), or
    /// `"no host"`.
    async fn ask_host(question: RString) -> RString;
}

/// A stopwatch a plugin makes; its async methods borrow it.
#[xplug::object]
pub trait Stopwatch: Send + Sync {
    /// Waits `millis` milliseconds on the host's timer, adds them; returns the total.
    async fn lap(&mut self, millis: u64) -> u64;
    /// The total.
    fn total(&self) -> u64;
}

/// What the host offers its clock plugins.
#[xplug::object]
pub trait ClockHost: Send + Sync {
    /// Answers `question`, asynchronously.
    async fn answer(&self, question: RString) -> RString;
}
