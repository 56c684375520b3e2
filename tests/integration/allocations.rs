//! The call path allocates nothing beyond what the plugin function itself allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use abi_stable::std_types::{RSlice, RStr, RString, RVec};
use greeter_interface::{Callback, CounterBox, Greeter, GreeterRef};

use xtask::Fixture;

use crate::support::{loader, plugin};

/// Counts this thread's allocations, so that tests running in parallel do not disturb it.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; counting touches only a
// const-initialised thread-local `Cell`, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

/// An implementation linked into this binary, so that its side of the call is counted too.
struct InProcess;

impl Greeter for InProcess {
    fn greet(name: RStr<'_>) -> RString {
        RString::from(name.as_str())
    }
    fn add(a: u32, b: u32) -> u32 {
        a.wrapping_add(b)
    }
    fn words(_: RStr<'_>) -> RVec<RString> {
        RVec::new()
    }
    fn map(values: RSlice<'_, i64>, _: Callback) -> RVec<i64> {
        values.to_rvec()
    }
    fn counter(_: u64) -> CounterBox {
        unreachable!("not called")
    }
    fn drive(_: &mut CounterBox, _: u32) -> u64 {
        unreachable!("not called")
    }
    fn translate(_: RStr<'_>) -> abi_stable::std_types::ROption<RString> {
        abi_stable::std_types::RNone
    }
    fn parse_number(_: RStr<'_>) -> abi_stable::std_types::RResult<i64, RString> {
        abi_stable::std_types::RResult::ROk(0)
    }
    fn shout(text: RStr<'_>) -> RString {
        RString::from(text.as_str())
    }
}

#[test]
fn a_call_allocates_nothing_of_its_own() {
    // Both sides of the boundary, shims and panic containment included.
    let module = GreeterRef::implemented_by::<InProcess>();
    let _ = module.add(1, 2); // The first call installs the panic hook, once.
    assert_eq!(
        allocations_during(|| assert_eq!(module.add(1, 2).unwrap(), 3)),
        0
    );
    // A function that allocates allocates just what it makes: one string.
    assert_eq!(
        allocations_during(|| drop(module.greet("Ada".into()).unwrap())),
        1
    );

    // The host side of a call into a loaded plugin (the plugin allocates with its own
    // allocator, not counted here).
    let en = loader().load(plugin(Fixture::GreeterEn)).expect("loads");
    let _ = en.add(1, 2);
    assert_eq!(
        allocations_during(|| assert_eq!(en.add(40, 2).unwrap(), 42)),
        0
    );
}

/// The demo's async interface, implemented with `async fn` in this binary (both sides
/// counted).
struct Clock;

impl clock_interface::Clock for Clock {
    async fn delayed(text: RString, _: u64) -> RString {
        text
    }
    async fn add_later(_: u64, _: u64) -> bool {
        false
    }
    fn total() -> u64 {
        0
    }
    async fn fail_after(millis: u64) -> u64 {
        millis
    }
    async fn wait(millis: u64) -> u64 {
        // Pending once, keeping the waker: the waker's clone across the boundary.
        yield_keeping_the_waker().await;
        millis
    }
    fn cancelled() -> u64 {
        0
    }
    fn ticks(count: u64, _: u64, _: u64) -> xplug::stream::FfiStream<u64> {
        xplug::stream::FfiStream::new(xplug::stream::iter(0..count))
    }
    fn stopwatch(_: u64) -> clock_interface::StopwatchBox {
        unreachable!("not called")
    }
    async fn ask_host(question: RString) -> RString {
        question
    }
}

/// Pending once, with a clone of the waker kept until it is ready.
async fn yield_keeping_the_waker() {
    struct Once(Option<std::task::Waker>);
    impl std::future::Future for Once {
        type Output = ();
        fn poll(
            mut self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            match self.0.take() {
                Some(_) => std::task::Poll::Ready(()),
                None => {
                    self.0 = Some(cx.waker().clone());
                    std::task::Poll::Pending
                }
            }
        }
    }
    Once(None).await
}

#[test]
fn an_async_call_ready_at_once_allocates_its_future_alone() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let module = clock_interface::ClockRef::implemented_by::<Clock>();
    let mut cx = Context::from_waker(Waker::noop());
    let _ = std::pin::pin!(module.fail_after(1)).poll(&mut cx); // Installs the panic hook.
                                                                // One allocation: the plugin's future, boxed. None for the waker, lent to the plugin.
    let ready = allocations_during(|| {
        let call = std::pin::pin!(module.fail_after(7));
        assert_eq!(call.poll(&mut cx), Poll::Ready(Ok(7)));
    });
    assert_eq!(ready, 1, "allocations of an async call ready at once");
    // Pending once: the plugin keeps a clone of the waker, the host's waker boxed on its
    // side and the handle of it boxed on the plugin's.
    let pending = allocations_during(|| {
        let mut call = std::pin::pin!(module.wait(7));
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(call.poll(&mut cx), Poll::Ready(Ok(7)));
    });
    assert_eq!(pending, 3, "allocations of an async call pending once");
    // A stream: its box, then nothing per item.
    let stream = allocations_during(|| {
        let mut ticks = module.ticks(100, 0, 0).unwrap();
        let mut sum = 0;
        while let Poll::Ready(Some(n)) = std::pin::Pin::new(&mut ticks.next()).poll(&mut cx) {
            sum += n.unwrap();
        }
        assert_eq!(sum, 4950);
    });
    assert_eq!(stream, 1, "allocations of a stream of 100 items");
}
