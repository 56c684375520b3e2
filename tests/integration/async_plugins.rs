//! Plugins with `async fn` (the demo's `clock`), awaited by a tokio host that lends its runtime
//! to its plugins: host timers and spawned tasks, a panic in `poll`, cancellation, the plugin
//! kept loaded by its pending futures, a stream, the compiler grid, and changed async signatures.

use std::sync::OnceLock;
use std::time::Duration;

use abi_stable::std_types::RString;
use clock_interface::{ClockHost, ClockHostBox, ClockRef};
use xplug_loader::runtime::{set_executor, Tokio};
use xplug_loader::{CallErrorKind, ErrorKind, KeptLoaded, Loader};
use xtask::{Compiler, Fixture};

use crate::compilers::built_or_skip;
use crate::support::plugin;

/// What the demo's async run prints, whatever built it.
pub(crate) const DEMO_ASYNC_LINES: [&str; 8] = [
    "async: plugin clock 1.0.0 awaited on the host's tokio runtime",
    "delayed(\"tick\", 20 ms)  -> tick  (waited on the host's timer)",
    "add_later(5, 300 ms)    -> true; total() 0 at once, 5 later  (its task outlived the call)",
    "-> error: plugin clock 1.0.0 panicked in `fail_after`: the clock broke after 10 ms",
    "wait(10 s), dropped after 20 ms -> timed out; cancelled() -> 1  (the plugin saw the drop)",
    "ticks(5, 10 ms)         -> 0 1 2 3 4  (a stream, an item per host timer)",
    "stopwatch(100 ms).lap(10 ms) -> 115  (an object's async method)",
    "ask_host(\"time?\")       -> time? it is time  (the plugin awaited the host's async service)",
];

/// Checks the output of the demo's async run.
pub(crate) fn assert_demo_async_run(out: &str, cell: &str) {
    for line in DEMO_ASYNC_LINES {
        assert!(out.contains(line), "{cell}: `{line}` missing:\n{out}");
    }
}

/// The tokio runtime of these tests, lent to the plugins of this process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_time()
            .build()
            .unwrap();
        set_executor(Tokio::new(runtime.handle().clone()));
        runtime
    })
}

/// The host's services: an async answer, after the host's own timer.
struct Answers;

impl ClockHost for Answers {
    async fn answer(&self, question: RString) -> RString {
        tokio::time::sleep(Duration::from_millis(1)).await;
        format!("the host heard {question}").into()
    }
}

#[test]
fn an_async_plugin_waits_spawns_contains_panics_and_is_cancelled() {
    let runtime = runtime();
    let clock = Loader::<ClockRef>::new()
        .host_services(ClockHostBox::new(Answers))
        .load(plugin(Fixture::Clock))
        .unwrap();
    runtime.block_on(async {
        assert_eq!(
            clock.delayed("tick".into(), 5).await.unwrap(),
            "tick",
            "awaits the host's timer"
        );

        assert!(
            clock.add_later(7, 300).await.unwrap(),
            "an executor is lent"
        );
        assert_eq!(clock.total().unwrap(), 0, "the task outlives the call");
        for _ in 0..1000 {
            if clock.total().unwrap() == 7 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(clock.total().unwrap(), 7, "the spawned task ran");

        let e = clock.fail_after(1).await.unwrap_err();
        assert_eq!(e.function(), "fail_after");
        assert_eq!(e.plugin(), Some("clock 1.0.0"));
        assert!(
            matches!(e.kind(), CallErrorKind::Panicked { message, .. }
                if message == "the clock broke after 1 ms"),
            "{e:?}"
        );

        let cancelled = clock.cancelled().unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(10), clock.wait(60_000));
        assert!(waiting.await.is_err(), "the wait outlasts the timeout");
        assert_eq!(
            clock.cancelled().unwrap(),
            cancelled + 1,
            "dropping the host's future dropped the plugin's"
        );
        assert_eq!(clock.wait(1).await.unwrap(), cancelled + 1);

        // A stream: its items, each on the host's timer, then its end.
        let mut ticks = clock.ticks(4, 1, u64::MAX).unwrap();
        let mut seen = Vec::new();
        while let Some(item) = ticks.next().await {
            seen.push(item.unwrap());
        }
        assert_eq!(seen, [0, 1, 2, 3]);
        assert!(ticks.next().await.is_none(), "an ended stream stays ended");
        // A panic in it is one error, after which it has ended.
        let mut ticks = clock.ticks(4, 1, 2).unwrap();
        assert_eq!(ticks.next().await.unwrap().unwrap(), 0);
        assert_eq!(ticks.next().await.unwrap().unwrap(), 1);
        let e = ticks.next().await.unwrap().unwrap_err();
        assert_eq!(e.panic_message(), Some("tick 2 broke"));
        assert!(ticks.next().await.is_none(), "ended by its panic");

        // An object's async method: its future borrows the object.
        let mut watch = clock.stopwatch(5).unwrap();
        assert_eq!(watch.lap(3).await.unwrap(), 8);
        assert_eq!(watch.lap(2).await.unwrap(), 10);
        assert_eq!(watch.total().unwrap(), 10);
        // A host service's async method, awaited by the plugin (the host's future, polled
        // from the plugin's).
        assert_eq!(
            clock.ask_host("tick".into()).await.unwrap(),
            "the host heard tick"
        );
    });

    // A pending future keeps the plugin loaded; once it is dropped, the plugin unloads.
    let mut pending = Box::pin(clock.wait(60_000));
    runtime.block_on(async {
        let polled = tokio::time::timeout(Duration::from_millis(5), &mut pending).await;
        assert!(polled.is_err(), "still waiting");
    });
    assert!(clock.live_objects() >= 1, "the pending future is live");
    // SAFETY: nothing of the plugin is used after a successful unload.
    let kept = unsafe { clock.unload() }.expect_err("a future of it is pending");
    assert!(
        matches!(kept.reason, KeptLoaded::LiveObjects { count } if count >= 1),
        "{:?}",
        kept.reason
    );
    drop(pending);
    assert_eq!(kept.plugin.live_objects(), 0, "its wakers went with it");
    // SAFETY: as above: no future, no other handle, no call left.
    unsafe { kept.plugin.unload() }.expect("unloads once its future is gone");
}

#[test]
fn async_plugins_of_every_compiler_answer() {
    let runtime = runtime();
    for compiler in Compiler::ALL {
        if compiler == Compiler::Host {
            continue;
        }
        let cell = format!("the async plugin built by {}", compiler.name());
        let Some((toolchain, built)) = built_or_skip(compiler, &cell) else {
            continue;
        };
        let clock = Loader::<ClockRef>::new()
            .load(built.path(Fixture::Clock))
            .unwrap_or_else(|e| panic!("{cell}:\n{}", e.report()));
        assert_eq!(clock.info().rustc, toolchain.rustc_version);
        let text = runtime.block_on(clock.delayed(RString::from("tock"), 1));
        assert_eq!(text.unwrap(), "tock", "{cell}");
        let e = runtime.block_on(clock.fail_after(0)).unwrap_err();
        assert_eq!(
            e.panic_message(),
            Some("the clock broke after 0 ms"),
            "{cell}"
        );
    }
}

#[test]
fn a_changed_async_signature_is_refused_at_the_function() {
    let e = Loader::<ClockRef>::new()
        .load(plugin(Fixture::ChangedAsync))
        .expect_err("the future's output changed");
    let report = e.report().to_string();
    assert!(
        matches!(e.kind(), ErrorKind::LayoutMismatch { .. }),
        "{report}"
    );
    assert!(report.contains("at `ClockModule.delayed`"), "{report}");
    assert!(report.contains("-> FfiFuture<RString>"), "{report}");
    assert!(report.contains("-> FfiFuture<u64>"), "{report}");
    assert!(report.lines().count() <= 8, "a short report:\n{report}");
}

#[test]
fn an_isolated_plugin_refuses_its_async_functions_and_serves_the_others() {
    let clock = Loader::<ClockRef>::new()
        .isolate(crate::isolation::own().runner(env!("CARGO_BIN_EXE_isolated-runner")))
        .load(plugin(Fixture::Clock))
        .unwrap();
    assert!(clock.is_isolated());
    let e = runtime()
        .block_on(clock.delayed("tick".into(), 1))
        .unwrap_err();
    assert!(
        matches!(e.kind(), CallErrorKind::CannotCross { type_name } if type_name.contains("async fn")),
        "{e:?}"
    );
    let e = clock.ticks(3, 1, u64::MAX).unwrap_err();
    assert!(
        matches!(e.kind(), CallErrorKind::CannotCross { type_name } if type_name.contains("FfiStream")),
        "{e:?}"
    );
    assert_eq!(clock.cancelled().unwrap(), 0, "a plain function crosses");
}

#[test]
fn a_reload_under_pending_futures_keeps_their_generation_until_they_end() {
    let runtime = runtime();
    let dir = crate::support::scratch("async-reload");
    let path = dir.join(xplug_loader::tools::library_file_name("clock"));
    crate::snapshots::install(
        &crate::snapshots::variant(Fixture::Clock, "1.0.0-reload0"),
        &path,
    );
    let live = Loader::<ClockRef>::new().live(&path).unwrap();
    // A call of the first generation, pending across the reload.
    let mut pending = Box::pin(live.get().wait(60_000));
    runtime.block_on(async {
        let polled = tokio::time::timeout(Duration::from_millis(5), &mut pending).await;
        assert!(polled.is_err(), "still waiting");
    });
    crate::snapshots::install(
        &crate::snapshots::variant(Fixture::Clock, "1.0.0-reload1"),
        &path,
    );
    assert!(matches!(
        live.reload().unwrap(),
        xplug_loader::reload::Reload::Reloaded { .. }
    ));
    assert_eq!(
        live.get().plugin().info().version.to_string(),
        "1.0.0-reload1"
    );
    assert_eq!(
        runtime
            .block_on(live.get().delayed("new".into(), 1))
            .unwrap(),
        "new",
        "the new generation serves"
    );

    // SAFETY: no value of the first generation is alive but its future, which the loader
    // sees (a live object); nothing else it started runs.
    let unloads = unsafe { live.unload_retired() };
    assert_eq!(
        unloads.in_use, 1,
        "the pending future keeps it: {unloads:?}"
    );
    assert_eq!(unloads.unmapped + unloads.still_mapped + unloads.closed, 0);
    // The old generation's future still runs, and ends.
    drop(pending);
    // SAFETY: as above, and its future is gone.
    let unloads = unsafe { live.unload_retired() };
    assert_eq!(unloads.in_use, 0, "{unloads:?}");
    assert_eq!(
        unloads.unmapped + unloads.still_mapped + unloads.closed,
        1,
        "{unloads:?}"
    );
}

/// What the host's subscriber saw of the plugins' events and spans: `span NAME {fields}` and
/// `event TARGET {fields} in SPAN`.
mod recorder {
    use std::collections::HashMap;
    use std::fmt::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Mutex, OnceLock};

    use tracing_core::field::{Field, Visit};
    use tracing_core::span::{Attributes, Current, Id, Record};
    use tracing_core::{Event, Metadata, Subscriber};

    #[derive(Default)]
    pub(crate) struct Recorder {
        next: AtomicU64,
        names: Mutex<HashMap<u64, &'static Metadata<'static>>>,
        current: Mutex<HashMap<std::thread::ThreadId, Vec<u64>>>,
        pub(crate) seen: Mutex<Vec<String>>,
    }

    struct Fields(String);

    impl Recorder {
        fn name(&self, span: &Id) -> &'static str {
            let names = self.names.lock().unwrap();
            names.get(&span.into_u64()).map_or("", |m| m.name())
        }
    }

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, " {}={:?}", field.name(), value);
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
            let mut fields = Fields(String::new());
            span.record(&mut fields);
            let name = span.metadata().name();
            self.seen
                .lock()
                .unwrap()
                .push(format!("span {name} {{{} }}", fields.0));
            self.names.lock().unwrap().insert(id, span.metadata());
            Id::from_u64(id)
        }
        fn record(&self, span: &Id, values: &Record<'_>) {
            let mut fields = Fields(String::new());
            values.record(&mut fields);
            let name = self.name(span);
            self.seen
                .lock()
                .unwrap()
                .push(format!("record {name} {{{} }}", fields.0));
        }
        fn record_follows_from(&self, span: &Id, follows: &Id) {
            let (name, follows) = (self.name(span), self.name(follows));
            self.seen
                .lock()
                .unwrap()
                .push(format!("{name} follows from {follows}"));
        }
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(String::new());
            event.record(&mut fields);
            let thread = std::thread::current().id();
            let span = self
                .current
                .lock()
                .unwrap()
                .get(&thread)
                .and_then(|stack| stack.last().copied())
                .and_then(|id| self.names.lock().unwrap().get(&id).map(|m| m.name()))
                .unwrap_or_default();
            self.seen.lock().unwrap().push(format!(
                "event {} {{{} }} in {span}",
                event.metadata().target(),
                fields.0
            ));
        }
        fn enter(&self, span: &Id) {
            let thread = std::thread::current().id();
            let mut current = self.current.lock().unwrap();
            current.entry(thread).or_default().push(span.into_u64());
        }
        fn exit(&self, _: &Id) {
            let thread = std::thread::current().id();
            if let Some(stack) = self.current.lock().unwrap().get_mut(&thread) {
                stack.pop();
            }
        }
        fn current_span(&self) -> Current {
            let thread = std::thread::current().id();
            let current = self.current.lock().unwrap();
            match current.get(&thread).and_then(|stack| stack.last()) {
                Some(&id) => match self.names.lock().unwrap().get(&id) {
                    Some(meta) => Current::new(Id::from_u64(id), meta),
                    None => Current::none(),
                },
                None => Current::none(),
            }
        }
    }

    /// The subscriber of this process (set once, before the plugins that use it load).
    pub(crate) fn recorder() -> &'static Recorder {
        static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
        RECORDER.get_or_init(|| {
            let recorder: &'static Recorder = Box::leak(Box::default());
            struct Shared(&'static Recorder);
            impl Subscriber for Shared {
                fn enabled(&self, m: &Metadata<'_>) -> bool {
                    self.0.enabled(m)
                }
                fn new_span(&self, s: &Attributes<'_>) -> Id {
                    self.0.new_span(s)
                }
                fn record(&self, i: &Id, r: &Record<'_>) {
                    self.0.record(i, r)
                }
                fn record_follows_from(&self, a: &Id, b: &Id) {
                    self.0.record_follows_from(a, b)
                }
                fn event(&self, e: &Event<'_>) {
                    self.0.event(e)
                }
                fn enter(&self, s: &Id) {
                    self.0.enter(s)
                }
                fn exit(&self, s: &Id) {
                    self.0.exit(s)
                }
                fn current_span(&self) -> Current {
                    self.0.current_span()
                }
            }
            tracing_core::dispatcher::set_global_default(tracing_core::Dispatch::new(Shared(
                recorder,
            )))
            .expect("no other subscriber in this process");
            recorder
        })
    }
}

#[test]
fn a_plugin_s_events_and_spans_reach_the_host_s_subscriber_with_their_fields() {
    let recorder = recorder::recorder();
    let runtime = runtime();
    let dir = crate::support::scratch("async-tracing");
    let path = dir.join(xplug_loader::tools::library_file_name("clock"));
    std::fs::write(
        &path,
        crate::snapshots::variant(Fixture::Clock, "1.0.0-tracing"),
    )
    .unwrap();
    let clock = Loader::<ClockRef>::new().load(&path).unwrap();
    // Values no other test passes (the subscriber is the process's).
    let text = runtime.block_on(clock.delayed("traced".into(), 3)).unwrap();
    assert_eq!(text, "traced");
    let seen = recorder.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|s| s == "span delayed { millis=3 }"),
        "{seen:#?}"
    );
    assert!(
        seen.iter()
            .any(|s| s == "event clock { message=waiting text=traced } in delayed"),
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|s| s == "record delayed { woke=true }"),
        "{seen:#?}"
    );
    assert!(
        seen.iter().any(|s| s == "answer follows from delayed"),
        "{seen:#?}"
    );
}
