//! `async fn` in an interface, in-process (`implemented_by`): the host's future of the plugin's
//! future, its waker lent and cloned across, a panic in `poll` contained, cancellation by drop,
//! and the live count that keeps a plugin loaded while its futures live.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use abi_stable::std_types::RString;
use xplug::CallErrorKind;

/// Answers later.
#[xplug::interface(name = "later")]
pub trait Later {
    /// `a + b`, at once.
    async fn add(a: u64, b: u64) -> u64;
    /// `text` after the gate opens (see [`Gate`]).
    async fn echo(text: RString) -> RString;
    /// Panics on its first poll.
    async fn broken(n: u32) -> u32;
    /// A plain function beside them.
    fn plain(n: u32) -> u32;
    /// `n` doubled, by a future that is not `Send` (it holds an `Rc` across an await).
    #[xplug(local)]
    async fn double_here(n: u32) -> u32;
    /// `n`, at once, by a future whose `Drop` panics.
    async fn drop_panics(n: u32) -> u32;
}

/// Ready at once with its number; panics when dropped.
struct PanicOnDrop(u32);

impl Future for PanicOnDrop {
    type Output = u32;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        Poll::Ready(self.0)
    }
}

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("dropped {}", self.0);
    }
}

/// The `Rc` a `double_here` future holds across its await, where a `Send` future could not.
async fn double_with_rc(n: u32) -> u32 {
    let shared = std::rc::Rc::new(n);
    std::future::ready(()).await;
    *shared * 2
}

/// A future that is pending until `OPEN` is set, keeping (a clone of) the waker it was given.
struct Gate;

static OPEN: AtomicBool = AtomicBool::new(false);
static KEPT: Mutex<Option<Waker>> = Mutex::new(None);
static DROPPED: AtomicUsize = AtomicUsize::new(0);
/// Held by each test: the live count is the process's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

impl Future for Gate {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if OPEN.load(Ordering::SeqCst) {
            Poll::Ready(())
        } else {
            *KEPT.lock().unwrap() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

struct Plugin;

// The form every compiler builds: a function returning a future. (From Rust 1.75 a plugin
// may write `async fn` instead.)
#[allow(unknown_lints, refining_impl_trait)]
impl Later for Plugin {
    fn add(a: u64, b: u64) -> xplug::future::BoxFuture<'static, u64> {
        Box::pin(async move { a + b })
    }
    fn echo(text: RString) -> xplug::future::BoxFuture<'static, RString> {
        Box::pin(async move {
            Gate.await;
            text
        })
    }
    fn broken(n: u32) -> xplug::future::BoxFuture<'static, u32> {
        Box::pin(async move {
            if n > 0 {
                panic!("cannot wait for {}", n);
            }
            n
        })
    }
    fn plain(n: u32) -> u32 {
        n + 1
    }
    fn double_here(n: u32) -> xplug::future::LocalBoxFuture<'static, u32> {
        Box::pin(double_with_rc(n))
    }
    fn drop_panics(n: u32) -> xplug::future::BoxFuture<'static, u32> {
        Box::pin(PanicOnDrop(n))
    }
}

/// The same interface with `async fn` (Rust 1.75 and later).
struct Modern;

impl Later for Modern {
    async fn add(a: u64, b: u64) -> u64 {
        a * b
    }
    async fn echo(text: RString) -> RString {
        text
    }
    async fn broken(n: u32) -> u32 {
        n
    }
    fn plain(n: u32) -> u32 {
        n
    }
    async fn double_here(n: u32) -> u32 {
        double_with_rc(n).await
    }
    async fn drop_panics(n: u32) -> u32 {
        n
    }
}

#[test]
fn a_plugin_may_write_async_fn() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let module = LaterRef::implemented_by::<Modern>();
    let waker = Waker::from(Arc::new(Counter(AtomicUsize::new(0))));
    assert_eq!(poll(&mut module.add(2, 3), &waker), Poll::Ready(Ok(6)));
}

/// Counts its wakes.
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll<F: Future + Unpin>(future: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(future).poll(&mut Context::from_waker(waker))
}

#[test]
fn async_functions_answer_wake_contain_panics_and_cancel() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let module = LaterRef::implemented_by::<Plugin>();
    let counter = Arc::new(Counter(AtomicUsize::new(0)));
    let waker = Waker::from(Arc::clone(&counter));
    let live = || xplug::Interface::__runtime(module).live_objects();

    // Ready at once.
    let base = live();
    let mut sum = module.add(2, 3);
    assert_eq!(live(), base + 1, "a pending call's future is a live object");
    assert_eq!(poll(&mut sum, &waker), Poll::Ready(Ok(5)));
    assert_eq!(live(), base, "a finished future is dropped at once");
    assert_eq!(module.plain(1), Ok(2));

    // Pending: the plugin keeps a clone of the lent waker, and wakes the host's task with it.
    let mut echo = module.echo("hi".into());
    assert!(poll(&mut echo, &waker).is_pending());
    assert_eq!(live(), base + 2, "the future and the waker it keeps");
    OPEN.store(true, Ordering::SeqCst);
    KEPT.lock().unwrap().take().unwrap().wake();
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        1,
        "the host's waker was woken"
    );
    assert_eq!(live(), base + 1, "a woken waker is gone");
    assert_eq!(
        poll(&mut echo, &waker),
        Poll::Ready(Ok(RString::from("hi")))
    );
    assert_eq!(live(), base);

    // A panic in `poll` is an error of the call; the future is dropped.
    let mut broken = module.broken(7);
    let e = match poll(&mut broken, &waker) {
        Poll::Ready(Err(e)) => e,
        other => panic!("expected a contained panic, got {:?}", other),
    };
    assert_eq!(e.function(), "broken");
    assert!(
        matches!(e.kind(), CallErrorKind::Panicked { message, .. } if message == "cannot wait for 7"),
        "{:?}",
        e
    );
    assert_eq!(live(), base);
    assert_eq!(poll(&mut module.broken(0), &waker), Poll::Ready(Ok(0)));

    // Dropped half-way: the plugin's future is dropped, in the plugin, with the waker it kept.
    OPEN.store(false, Ordering::SeqCst);
    let dropped = DROPPED.load(Ordering::SeqCst);
    let mut echo = module.echo("bye".into());
    assert!(poll(&mut echo, &waker).is_pending());
    drop(echo);
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        dropped + 1,
        "the plugin saw the cancel"
    );
    drop(KEPT.lock().unwrap().take());
    assert_eq!(live(), base);
}

#[test]
fn a_local_async_fn_may_hold_what_is_not_send() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let waker = Waker::from(Arc::new(Counter(AtomicUsize::new(0))));
    for module in [
        LaterRef::implemented_by::<Plugin>(),
        LaterRef::implemented_by::<Modern>(),
    ] {
        let live = || xplug::Interface::__runtime(module).live_objects();
        let base = live();
        let mut doubled = module.double_here(21);
        assert_eq!(live(), base + 1);
        assert_eq!(poll(&mut doubled, &waker), Poll::Ready(Ok(42)));
        assert_eq!(live(), base, "a finished local future is dropped at once");
        drop(module.double_here(1));
        assert_eq!(live(), base, "and a cancelled one");
    }
}

#[test]
fn a_panic_dropping_a_ready_future_is_contained_and_its_output_delivered() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let waker = Waker::from(Arc::new(Counter(AtomicUsize::new(0))));
    let module = LaterRef::implemented_by::<Plugin>();
    let live = || xplug::Interface::__runtime(module).live_objects();
    let base = live();
    assert_eq!(poll(&mut module.drop_panics(5), &waker), Poll::Ready(Ok(5)));
    assert_eq!(
        live(),
        base,
        "dropped (its panic contained) and counted gone"
    );
    // Its details were forgotten: the next panic reports its own.
    let e = match poll(&mut module.broken(3), &waker) {
        Poll::Ready(Err(e)) => e,
        other => panic!("expected a contained panic, got {:?}", other),
    };
    assert_eq!(e.panic_message(), Some("cannot wait for 3"));
}

/// A host's future of a plugin's `async fn` is `Send` (checked at compile time; that of a
/// `#[xplug(local)]` one is not: `tests/ui/async_local_not_send.rs`).
#[allow(dead_code)]
fn a_call_future_is_send(module: LaterRef) {
    fn send<T: Send>(_: &T) {}
    send(&module.add(1, 1));
}

/// An object with async methods: their futures borrow the object.
#[xplug::object]
pub trait Timer: Send + Sync {
    /// Adds `by`, after waiting for the gate when `by` is 0.
    async fn tick(&mut self, by: u64) -> u64;
    /// The count.
    async fn peek(&self) -> u64;
    /// The count, at once.
    fn now(&self) -> u64;
}

struct Ticks(u64);

impl Timer for Ticks {
    async fn tick(&mut self, by: u64) -> u64 {
        if by == 0 {
            panic!("no tick");
        }
        self.0 += by;
        self.0
    }
    async fn peek(&self) -> u64 {
        self.0
    }
    fn now(&self) -> u64 {
        self.0
    }
}

/// The same in the form every compiler builds.
struct OldTicks(u64);

#[allow(unknown_lints, refining_impl_trait)]
impl Timer for OldTicks {
    fn tick(&mut self, by: u64) -> xplug::future::BoxFuture<'_, u64> {
        Box::pin(async move {
            self.0 += by * 10;
            self.0
        })
    }
    fn peek(&self) -> xplug::future::BoxFuture<'_, u64> {
        Box::pin(async move { self.0 })
    }
    fn now(&self) -> u64 {
        self.0
    }
}

#[test]
fn an_object_s_async_methods_borrow_it_and_contain_panics() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let waker = Waker::from(Arc::new(Counter(AtomicUsize::new(0))));
    let mut timer = TimerBox::new(Ticks(1));
    assert_eq!(poll(&mut timer.tick(2), &waker), Poll::Ready(Ok(3)));
    assert_eq!(poll(&mut timer.peek(), &waker), Poll::Ready(Ok(3)));
    let e = match poll(&mut timer.tick(0), &waker) {
        Poll::Ready(Err(e)) => e,
        other => panic!("expected a contained panic, got {:?}", other),
    };
    assert_eq!(e.function(), "Timer.tick");
    assert_eq!(e.panic_message(), Some("no tick"));
    assert_eq!(timer.now(), Ok(3), "usable after a contained panic");

    let mut old = TimerBox::new(OldTicks(1));
    assert_eq!(poll(&mut old.tick(2), &waker), Poll::Ready(Ok(21)));
    assert_eq!(poll(&mut old.peek(), &waker), Poll::Ready(Ok(21)));
}

/// Yields one item, then ends; panics if polled after its end (as many streams do).
struct OneThenEnd(u8);

impl xplug::stream::Stream for OneThenEnd {
    type Item = u64;
    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<u64>> {
        self.0 += 1;
        match self.0 {
            1 => Poll::Ready(Some(7)),
            2 => Poll::Ready(None),
            _ => panic!("polled after its end"),
        }
    }
}

#[test]
fn an_ended_stream_is_not_polled_again() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let waker = Waker::from(Arc::new(Counter(AtomicUsize::new(0))));
    let mut stream = xplug::stream::FfiStream::new(OneThenEnd(0));
    assert_eq!(poll(&mut stream.next(), &waker), Poll::Ready(Some(Ok(7))));
    assert_eq!(poll(&mut stream.next(), &waker), Poll::Ready(None));
    assert_eq!(
        poll(&mut stream.next(), &waker),
        Poll::Ready(None),
        "ended, not polled again"
    );
}
