//! The benchmarks' interfaces: the same four workloads declared once for xplug ([`Bench`]) and
//! once as a plain abi_stable prefix module ([`PlainModule`]), so that both can be timed
//! against a raw `extern "C"` function pointer.
#![allow(unknown_lints, non_local_definitions)]

use abi_stable::library::RootModule;
use abi_stable::sabi_trait;
use abi_stable::sabi_types::VersionStrings;
use abi_stable::std_types::{RBox, RSlice, RStr, RString};
use abi_stable::StableAbi;

/// The bodies of the workloads, shared by every way of exporting them, so that what the
/// benchmarks compare is the call alone.
pub mod bodies {
    use abi_stable::std_types::{RSlice, RStr, RString};

    /// Adds two numbers.
    #[inline(always)]
    pub fn add(a: u64, b: u64) -> u64 {
        a.wrapping_add(b)
    }

    /// Returns a copy of `s`.
    #[inline(always)]
    pub fn echo(s: RStr<'_>) -> RString {
        RString::from(s.as_str())
    }

    /// The sum of `values`.
    #[inline(always)]
    pub fn sum(values: RSlice<'_, u64>) -> u64 {
        values.iter().fold(0u64, |acc, v| acc.wrapping_add(*v))
    }
}

/// The benchmark workloads, as an xplug interface.
#[xplug::interface(name = "bench", host = BenchHost)]
pub trait Bench {
    /// Adds two numbers.
    fn add(a: u64, b: u64) -> u64;
    /// Returns a copy of `s`.
    fn echo(s: RStr<'_>) -> RString;
    /// The sum of `values`.
    fn sum(values: RSlice<'_, u64>) -> u64;
    /// A counter object (`#[xplug::object]`). (abi_stable's `#[sabi_trait]` objects are
    /// timed through the plain module: their calls are the same whoever hands them out, and
    /// their required traits are extra checks, which make the loader check the interface's
    /// layout in full at every load.)
    fn tally(start: u64) -> TallyBox;
    /// Calls the host's `ping` service `times` times; returns the sum of the answers.
    fn ping_host(times: u64) -> u64;
    /// The same loop through a raw function pointer the host passes.
    fn call_back(times: u64, f: Callback) -> u64;
    /// Runs `log::debug!("value {}", i)` `times` times.
    fn log_debug(times: u64);
    /// Runs `log::info!("value {}", i)` `times` times.
    fn log_info(times: u64);
}

/// The async workloads, as an xplug interface of their own (a plugin exports one interface).
#[xplug::interface(name = "bench-async")]
pub trait BenchAsync {
    /// `a + b`, ready at once.
    async fn add(a: u64, b: u64) -> u64;
    /// `n`, after waking its task once itself (pending, wake, ready: the waker's round trip).
    async fn yield_once(n: u64) -> u64;
    /// `n`, after the host's timer (`xplug::runtime::sleep(Duration::ZERO)`).
    async fn sleep_zero(n: u64) -> u64;
    /// The numbers `0..count` as a stream, each ready at once.
    fn numbers(count: u64) -> xplug::stream::FfiStream<u64>;
}

/// Pending once (it wakes its task first), then ready: the waker's round trip, wherever it
/// runs.
#[derive(Debug, Default)]
pub struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// A function the host passes.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy)]
pub struct Callback(pub extern "C" fn(u64) -> u64);

/// A stateful object: its method is the object workload.
#[xplug::object]
pub trait Tally: Send {
    /// The next value.
    fn next(&mut self) -> u64;
}

/// The services the bench host offers.
#[xplug::object]
pub trait BenchHost: Send + Sync {
    /// Returns `x + 1`.
    fn ping(&self, x: u64) -> u64;
}

/// A stateful object: its method is the `#[sabi_trait]` workload, in the plain module.
#[sabi_trait]
pub trait Counter {
    /// The next value.
    fn next(&mut self) -> u64;
}

/// An owned [`Counter`].
pub type CounterBox = Counter_TO<'static, RBox<()>>;

/// The same workloads as a plain abi_stable root module, without xplug.
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PlainModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PlainModule {
    /// Adds two numbers.
    pub add: extern "C" fn(u64, u64) -> u64,
    /// Returns a copy of the string.
    pub echo: extern "C" fn(RStr<'_>) -> RString,
    /// The sum of the values.
    pub sum: extern "C" fn(RSlice<'_, u64>) -> u64,
    /// A counter object.
    #[sabi(last_prefix_field)]
    pub counter: extern "C" fn(u64) -> CounterBox,
}

impl RootModule for PlainModuleRef {
    abi_stable::declare_root_module_statics! {PlainModuleRef}
    const BASE_NAME: &'static str = "bench_plain";
    const NAME: &'static str = "bench_plain";
    const VERSION_STRINGS: VersionStrings = abi_stable::package_version_strings!();
}

/// The same interface name and version as [`Bench`], with another type for `add`: a host
/// built against it refuses the bench plugin at the layout check.
pub mod changed {
    use abi_stable::std_types::{RSlice, RStr, RString};

    /// [`super::Bench`] with `add` on `u32`.
    #[xplug::interface(name = "bench", host = super::BenchHost)]
    pub trait Bench {
        /// Adds two numbers.
        fn add(a: u32, b: u32) -> u32;
        /// Returns a copy of `s`.
        fn echo(s: RStr<'_>) -> RString;
        /// The sum of `values`.
        fn sum(values: RSlice<'_, u64>) -> u64;
        /// A counter object.
        fn tally(start: u64) -> super::TallyBox;
        /// Host calls.
        fn ping_host(times: u64) -> u64;
        /// Raw calls.
        fn call_back(times: u64, f: super::Callback) -> u64;
        /// Disabled log statements.
        fn log_debug(times: u64);
        /// Enabled log statements.
        fn log_info(times: u64);
    }
}
