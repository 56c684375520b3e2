//! Async plugins: the demo's `clock` plugin, awaited from a tokio runtime that the host lends
//! to its plugins (timers and spawned tasks), without a runtime of their own.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use abi_stable::std_types::RString;
use clock_interface::{ClockHost, ClockHostBox, ClockRef};
use xplug_loader::runtime::{set_executor, BoxFuture, Tokio};
use xplug_loader::Loader;

use crate::DemoError;

/// Loads the `clock` plugin `file` and awaits its `async fn`s on a tokio runtime lent to it:
/// a wait on the host's timer, a task it spawns that outlives the call, a panic in its future
/// (contained), a future dropped half-way (the plugin sees the cancel), and a stream.
pub fn clock(file: &Path, out: &mut dyn Write) -> Result<(), DemoError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?;
    set_executor(Tokio::new(runtime.handle().clone()));
    let clock = Loader::<ClockRef>::new()
        .host_services(ClockHostBox::new(DemoClockHost))
        .load(file)
        .map_err(DemoError::Load)?;
    writeln!(
        out,
        "async: plugin {} awaited on the host's tokio runtime",
        clock.info().label()
    )?;
    runtime.block_on(async {
        let text = clock.delayed("tick".into(), 20).await?;
        writeln!(
            out,
            "  delayed(\"tick\", 20 ms)  -> {text}  (waited on the host's timer)"
        )?;

        let spawned = clock.add_later(5, 300).await?;
        let before = clock.total()?;
        // The task adds its value 300 ms on; a loaded machine may take longer.
        for _ in 0..500 {
            tokio::time::sleep(Duration::from_millis(10)).await;
            if clock.total()? != before {
                break;
            }
        }
        writeln!(
            out,
            "  add_later(5, 300 ms)    -> {spawned}; total() {before} at once, {} later  (its task outlived the call)",
            clock.total()?
        )?;

        match clock.fail_after(10).await {
            Ok(n) => writeln!(out, "  fail_after(10 ms)       -> {n}")?,
            Err(e) => writeln!(out, "  fail_after(10 ms)       -> error: {e}")?,
        }

        let waited = tokio::time::timeout(Duration::from_millis(20), clock.wait(10_000)).await;
        writeln!(
            out,
            "  wait(10 s), dropped after 20 ms -> {}; cancelled() -> {}  (the plugin saw the drop)",
            if waited.is_err() { "timed out" } else { "done" },
            clock.cancelled()?
        )?;

        let mut ticks = clock.ticks(5, 10, u64::MAX)?;
        let mut items = Vec::new();
        while let Some(item) = ticks.next().await {
            items.push(item?.to_string());
        }
        writeln!(
            out,
            "  ticks(5, 10 ms)         -> {}  (a stream, an item per host timer)",
            items.join(" ")
        )?;

        let mut watch = clock.stopwatch(100)?;
        watch.lap(10).await?;
        writeln!(
            out,
            "  stopwatch(100 ms).lap(10 ms) -> {}  (an object's async method)",
            watch.lap(5).await?
        )?;
        writeln!(
            out,
            "  ask_host(\"time?\")       -> {}  (the plugin awaited the host's async service)",
            clock.ask_host("time?".into()).await?
        )?;
        Ok::<(), DemoError>(())
    })?;
    Ok(())
}

/// The demo's services for clock plugins. (In the form every compiler builds: the demo is
/// built by rustc 1.63 for Windows.)
struct DemoClockHost;

#[allow(unknown_lints, refining_impl_trait)]
impl ClockHost for DemoClockHost {
    fn answer(&self, question: RString) -> BoxFuture<'_, RString> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            format!("{question} it is time").into()
        })
    }
}
