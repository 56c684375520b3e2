//! Isolated plugins: the same handles served from a process of the plugin's own. A crash, a
//! hang or an attack on the channel fails calls with a typed error, and this process (the
//! host) keeps running and serving the other plugins.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use abi_stable::std_types::{RNone, ROption, RSome, RStr, RString};
use counter_interface::CounterRef;
use greeter_interface::GreeterRef;
use xplug_loader::isolation::{Isolation, Restart, Transport};
use xplug_loader::trust::Quarantine;
use xplug_loader::{CallErrorKind, Crash, ErrorKind, KeptLoaded, Loader, Plugin, Stage, Unloaded};
use xtask::Fixture;

use crate::snapshots::{install, variant};
use crate::support::{assert_good_plugin_works, plugin, scratch, Upward};

/// Settings of their own: the same bytes loaded with other settings are another plugin, in a
/// process of its own, so that tests running side by side never share (and crash) each
/// other's.
pub(crate) fn own() -> Isolation {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    Isolation::new().max_message((64 << 20) + NEXT.fetch_add(1, Ordering::SeqCst))
}

/// The runner this suite's isolated plugins run in.
fn runner() -> &'static str {
    env!("CARGO_BIN_EXE_isolated-runner")
}

pub(crate) fn isolated(isolation: Isolation) -> Loader<GreeterRef> {
    Loader::<GreeterRef>::new().isolate(isolation.runner(runner()))
}

fn hostile(isolation: Isolation) -> Plugin<GreeterRef> {
    isolated(isolation)
        .load(plugin(Fixture::Hostile))
        .expect("fixture-hostile loads isolated")
}

#[test]
fn an_isolated_plugin_answers_as_it_does_in_process() {
    let path = plugin(Fixture::GreeterEn);
    let inside = Loader::<GreeterRef>::new().load(&path).unwrap();
    let outside = isolated(own()).load(&path).unwrap();
    assert!(outside.is_isolated() && !inside.is_isolated());
    assert_eq!(outside.info(), inside.info());
    for plugin in [&inside, &outside] {
        assert_eq!(plugin.greet("Ada".into()).unwrap(), "Hello, Ada!");
        assert_eq!(plugin.add(40, 2).unwrap(), 42);
        let words = plugin.words("b a b".into()).unwrap();
        assert_eq!(
            words.iter().map(|w| w.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(
            plugin
                .translate("thanks".into())
                .unwrap()
                .into_option()
                .unwrap(),
            "thanks"
        );
        assert!(plugin.parse_number("12x".into()).unwrap().is_err());
        assert_eq!(plugin.shout("hi".into()).unwrap(), "HI!");
        let panicked = plugin.greet("".into()).unwrap_err();
        assert_eq!(panicked.function(), "greet");
        assert_eq!(panicked.panic_message(), Some("cannot greet an empty name"));
        // Either way, the error says whose panic it was, and where, alike.
        assert_eq!(panicked.plugin(), Some("greeter-en 0.3.0"));
    }
    assert_eq!(
        inside.greet("".into()).unwrap_err().kind(),
        outside.greet("".into()).unwrap_err().kind()
    );
    // Objects the plugin makes live in its process, and answer alike.
    for plugin in [&inside, &outside] {
        let mut counter = plugin.counter(5).unwrap();
        assert_eq!((counter.next().unwrap(), counter.next().unwrap()), (6, 7));
        assert_eq!(counter.skip(3).unwrap(), 10);
        let panicked = counter.skip(0).unwrap_err();
        assert_eq!(panicked.function(), "Counter.skip");
        assert_eq!(panicked.panic_message(), Some("cannot skip zero steps"));
        assert_eq!(counter.reset().unwrap(), 10);
        assert_eq!(counter.next().unwrap(), 1);
        counter.close().unwrap();
    }
    // What cannot cross is refused by name, before anything is sent: a borrowed slice of
    // other than bytes (the first of `map`'s two).
    let error = outside
        .map(
            abi_stable::std_types::RSlice::from_slice(&[1]),
            greeter_interface::Callback(double),
        )
        .unwrap_err();
    match error.kind() {
        CallErrorKind::CannotCross { type_name } => {
            assert!(type_name.contains("RSlice<'_, i64>"), "{type_name}")
        }
        other => panic!("{other:?}"),
    }
    // An object the host lends for a call: the plugin's calls of it come back to the host.
    for plugin in [&inside, &outside] {
        let mut mine = greeter_interface::CounterBox::new(Upward(0));
        assert_eq!(plugin.drive(&mut mine, 3).unwrap(), 3);
        assert_eq!(plugin.drive(&mut mine, 2).unwrap(), 5);
        assert_eq!(mine.next().unwrap(), 6);
        // Its panic comes back to the plugin as an error, which the plugin turns into a
        // panic of its own.
        let mut faulty = greeter_interface::CounterBox::new(Upward(u64::MAX));
        let panicked = plugin.drive(&mut faulty, 1).unwrap_err();
        assert!(
            panicked
                .panic_message()
                .unwrap()
                .contains("the host's counter failed"),
            "{panicked}"
        );
    }
}

/// How many of fixture-hostile's counters live in its process.
fn live_counters(plugin: &Plugin<GreeterRef>) -> u32 {
    plugin
        .translate("live".into())
        .unwrap()
        .into_option()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn objects_live_in_the_plugins_process_until_the_host_drops_them() {
    let plugin = hostile(own().restart(Restart::on_next_call()));
    let pid = plugin.process_id().unwrap();
    let mut counters: Vec<_> = (0..3).map(|n| plugin.counter(n * 10).unwrap()).collect();
    assert_eq!(live_counters(&plugin), 3);
    assert_eq!(counters[2].next().unwrap(), 21);
    // Dropped, or closed, in the host: dropped in the plugin's process.
    drop(counters.remove(0));
    assert_eq!(live_counters(&plugin), 2);
    counters.remove(0).close().unwrap();
    assert_eq!(live_counters(&plugin), 1);
    // A handle moved to another thread calls the same object.
    let mut last = counters.pop().unwrap();
    let mut last = thread::spawn(move || {
        assert_eq!(last.next().unwrap(), 22);
        last
    })
    .join()
    .unwrap();
    assert_eq!(last.next().unwrap(), 23);
    // An object whose method crashes the process: the crash is the call's error, and later
    // calls of its objects fail too, without a hang, while the restarted plugin serves.
    let mut doomed = plugin.counter(0).unwrap();
    let crashed = doomed.skip(u64::MAX).unwrap_err();
    assert_eq!(crashed.function(), "Counter.skip");
    assert_eq!(signal_of(crashed.kind()), Some(libc::SIGSEGV), "{crashed}");
    assert_eq!(plugin.add(1, 2).unwrap(), 3);
    assert_ne!(plugin.process_id(), Some(pid));
    match last.next().unwrap_err().kind() {
        CallErrorKind::Unavailable { reason } => assert!(reason.contains("ended"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // Dropping handles of a process gone neither fails nor reaches the new one, whose first
    // object takes the number a stale handle names.
    let mut fresh = plugin.counter(1).unwrap();
    assert_eq!(plugin.live_objects(), 3);
    drop((last, doomed));
    assert_eq!(plugin.live_objects(), 1);
    assert_eq!(live_counters(&plugin), 1);
    assert_eq!(fresh.next().unwrap(), 2);
    // As in-process, a plugin whose objects live is not unloaded.
    // SAFETY: no value the plugin returned is kept but the object, whose code is not in this
    // process.
    let refused = unsafe { plugin.unload() }.unwrap_err();
    assert!(
        matches!(refused.reason, KeptLoaded::LiveObjects { count: 1 }),
        "{refused}"
    );
    // Its last handle dropped, its process ends: the object's calls fail cleanly, and its
    // drop does not hang.
    drop(refused.plugin);
    assert!(matches!(
        fresh.next().unwrap_err().kind(),
        CallErrorKind::Unavailable { .. }
    ));
}

#[test]
fn an_isolated_plugins_log_records_reach_the_host_logger_with_their_fields() {
    use crate::objects::{logger, seen_with};
    logger();
    let plugin = isolated(own()).load(plugin(Fixture::GreeterEn)).unwrap();
    plugin.greet("Isolde".into()).unwrap();
    eventually("the record reaches the logger", || {
        !seen_with("greeting Isolde").is_empty()
    });
    let seen = seen_with("greeting Isolde");
    assert_eq!(seen.len(), 1, "{seen:?}");
    let seen = &seen[0];
    assert_eq!(seen.level, log::Level::Info);
    assert_eq!(seen.target, "greeter_en");
    assert_eq!(seen.module_path.as_deref(), Some("greeter_en"));
    assert!(
        seen.file.as_deref().unwrap().ends_with("lib.rs"),
        "{seen:?}"
    );
    assert!(seen.line.unwrap() > 0);
}

/// greeter-en loaded by `loader` with [`Services`] that know their plugin.
fn with_services(loader: Loader<GreeterRef>) -> Plugin<GreeterRef> {
    let services: &'static Services = Box::leak(Box::new(Services {
        plugin: std::sync::OnceLock::new(),
    }));
    // The loader's copy of the box forwards to the leaked services, which learn their plugin
    // once it is loaded.
    struct Forward(&'static Services);
    impl greeter_interface::GreeterHost for Forward {
        fn setting(&self, key: RStr<'_>) -> ROption<RString> {
            self.0.setting(key)
        }
    }
    let plugin = loader
        .host_services(greeter_interface::GreeterHostBox::new(Forward(services)))
        .load(plugin(Fixture::GreeterEn))
        .unwrap();
    let _ = services.plugin.set(plugin.clone());
    plugin
}

/// Call `i` of thread `t`, one of four kinds: a host service that calls the plugin back, an
/// object the plugin makes, an object the host lends, a plain call. Its answer, if any, is
/// checked.
fn mixed_call(plugin: &Plugin<GreeterRef>, t: u32, i: u32) -> Result<(), xplug_loader::CallError> {
    match i % 4 {
        0 => {
            let word = plugin.translate("again".into())?.into_option().unwrap();
            assert_eq!(word, "AGAIN! hi there");
        }
        1 => {
            let mut counter = plugin.counter(u64::from(i))?;
            assert_eq!(counter.next()?, u64::from(i) + 1);
            counter.close()?;
        }
        2 => {
            let mut mine = greeter_interface::CounterBox::new(Upward(u64::from(t)));
            assert_eq!(plugin.drive(&mut mine, 2)?, u64::from(t) + 2);
        }
        _ => assert_eq!(plugin.add(t, i)?, t + i),
    }
    Ok(())
}

#[test]
fn objects_and_host_services_from_four_threads_stay_right_while_the_child_is_killed_at_random() {
    let restart = Restart::on_next_call().backoff(Duration::ZERO);
    let plugin = with_services(isolated(own().restart(restart)));
    // 4 threads x 10,000 calls: every answer right.
    let callers: Vec<_> = (0..4u32)
        .map(|t| {
            let plugin = plugin.clone();
            thread::spawn(move || {
                for i in 0..10_000u32 {
                    mixed_call(&plugin, t, i).unwrap();
                }
            })
        })
        .collect();
    for caller in callers {
        caller.join().unwrap();
    }
    // The same while a fifth thread kills the process at random moments: each call is
    // answered right or fails with the crash, never hangs, and service comes back.
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let plugin = plugin.clone();
        kill_at_random(Arc::clone(&done), move || match plugin.process_id() {
            // SAFETY: a signal to a process this test's plugin started.
            Some(pid) => (unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }) == 0,
            None => false,
        })
    };
    let callers: Vec<_> = (0..4u32)
        .map(|t| {
            let plugin = plugin.clone();
            thread::spawn(move || {
                let mut right = 0;
                for i in 0..2_500u32 {
                    match mixed_call(&plugin, t, i) {
                        Ok(()) => right += 1,
                        Err(e) => assert!(
                            matches!(
                                e.kind(),
                                CallErrorKind::Crashed { .. } | CallErrorKind::Unavailable { .. }
                            ),
                            "{e}"
                        ),
                    }
                }
                right
            })
        })
        .collect();
    let right: u32 = callers.into_iter().map(|c| c.join().unwrap()).sum();
    done.store(true, Ordering::SeqCst);
    let kills = killer.join().unwrap();
    assert!(kills > 0, "the process was never killed");
    assert!(right > 2_000, "only {right} of 10000 calls answered");
    // The last kill is found by the next call, which fails; then service is back.
    let _ = plugin.add(1, 1);
    for i in 0..4 {
        mixed_call(&plugin, 0, i).unwrap();
    }
}

/// The lines the demo printed for each greeter plugin, by its label.
fn demo_blocks(out: &[u8]) -> Vec<(String, Vec<String>)> {
    let out = String::from_utf8_lossy(out);
    out.split("\n\n")
        .filter(|block| block.starts_with("plugin greeter"))
        .map(|block| {
            let mut lines = block.lines();
            let header = lines.next().unwrap_or_default();
            let label = header.split("  (").next().unwrap_or_default().to_owned();
            (label, lines.map(str::to_owned).collect())
        })
        .collect()
}

/// Asserts that the demo's isolated run (`outside`) printed what its in-process run
/// (`inside`) printed for each of two plugins, but for the callback, which cannot cross;
/// returns the isolated run's blocks.
pub(crate) fn assert_printed_alike(inside: &[u8], outside: &[u8]) -> Vec<(String, Vec<String>)> {
    let (inside_blocks, outside_blocks) = (demo_blocks(inside), demo_blocks(outside));
    let outside = String::from_utf8_lossy(outside);
    assert_eq!(inside_blocks.len(), 2, "{inside_blocks:?}");
    assert_eq!(inside_blocks.len(), outside_blocks.len(), "{outside}");
    for ((label, lines), (isolated_label, isolated_lines)) in
        inside_blocks.iter().zip(&outside_blocks)
    {
        assert_eq!(label, isolated_label);
        assert_eq!(lines.len(), isolated_lines.len(), "{label}: {outside}");
        for (line, isolated) in lines.iter().zip(isolated_lines) {
            if line.starts_with("  map(") {
                assert!(isolated.contains("cannot cross"), "{isolated}");
            } else {
                assert_eq!(line, isolated, "{label}");
            }
        }
    }
    outside_blocks
}

#[test]
fn the_demo_prints_the_same_isolated_as_in_process_and_survives_a_crash() {
    let dir = scratch("isolated-demo");
    for fixture in [Fixture::GreeterEn, Fixture::GreeterFr] {
        let from = plugin(fixture);
        std::fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    let (mut inside, mut outside) = (Vec::new(), Vec::new());
    xplug_demo::run(&dir, &mut inside).unwrap();
    xplug_demo::isolated(
        &dir,
        &plugin(Fixture::Hostile),
        own().runner(runner()),
        &mut outside,
    )
    .unwrap();
    let outside_blocks = assert_printed_alike(&inside, &outside);
    // The objects, the lent counter and the host's word are among the lines compared.
    let en = &outside_blocks[0].1;
    assert!(
        en.iter()
            .any(|l| l.starts_with("  counter(5).next() x2 -> 6, 7")),
        "{en:?}"
    );
    assert!(
        en.iter()
            .any(|l| l.starts_with("  drive(host's, 3)     -> 103")),
        "{en:?}"
    );
    let outside = String::from_utf8(outside).unwrap();
    assert!(outside.contains("signal 11"), "{outside}");
    assert!(outside.contains("(restarted: process"), "{outside}");
}

extern "C" fn double(x: i64) -> i64 {
    x * 2
}

#[test]
fn isolated_code_is_not_mapped_in_the_host_and_inherits_none_of_its_descriptors() {
    // A descriptor a C library might open: without close-on-exec.
    let secret = scratch("isolated-descriptors").join("secret");
    std::fs::write(&secret, b"the host's").unwrap();
    let name = std::ffi::CString::new(secret.to_str().unwrap()).unwrap();
    // Above 9: the low numbers are the ones the child's channel and snapshot take over.
    // SAFETY: a NUL-terminated path; `F_DUPFD` takes an int; both descriptors are closed below.
    let (opened, fd) = unsafe {
        let opened = libc::open(name.as_ptr(), libc::O_RDONLY);
        (opened, libc::fcntl(opened, libc::F_DUPFD, 50))
    };
    assert!(opened >= 0 && fd >= 50);
    let path = plugin(Fixture::Hostile);
    let plugin = isolated(own()).load(&path).unwrap();
    assert_eq!(plugin.add(1, 2).unwrap(), 3);
    assert!(
        !crate::support::is_mapped(&path),
        "the plugin was mapped in the host"
    );
    let pid = plugin.process_id().expect("a process serves it");
    let inherited: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .collect();
    // SAFETY: opened above, closed once.
    unsafe {
        libc::close(fd);
        libc::close(opened);
    }
    assert!(!inherited.contains(&secret), "{inherited:?}");
    // The process runs the host's sealed snapshot as it is: the snapshot its memory maps is
    // one this process (the host) holds open, not a copy of its own.
    use std::os::unix::fs::MetadataExt;
    let host_files: Vec<u64> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| Some(std::fs::metadata(entry.ok()?.path()).ok()?.ino()))
        .collect();
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let snapshots: std::collections::BTreeSet<u64> = maps
        .lines()
        .filter(|line| line.contains("/memfd:") && !line.contains("/memfd:xplug:channel"))
        .filter_map(|line| line.split_whitespace().nth(4)?.parse().ok())
        .collect();
    assert_eq!(snapshots.len(), 1, "{maps}");
    // Its channel's ring is one the host holds open too.
    let rings: std::collections::BTreeSet<u64> = maps
        .lines()
        .filter(|line| line.contains("/memfd:xplug:channel"))
        .filter_map(|line| line.split_whitespace().nth(4)?.parse().ok())
        .collect();
    assert_eq!(rings.len(), 1, "{maps}");
    assert!(
        rings.iter().all(|inode| host_files.contains(inode)),
        "{rings:?} {maps}"
    );
    assert!(
        snapshots.iter().all(|inode| host_files.contains(inode)),
        "{snapshots:?} {maps}"
    );
}

/// `greet(what)` on a hostile plugin of its own, and how the call failed.
fn failure(what: &str, isolation: Isolation) -> CallErrorKind {
    let plugin = hostile(isolation);
    let started = Instant::now();
    let error = plugin.greet(what.into()).unwrap_err();
    assert_eq!(error.function(), "greet");
    assert_eq!(error.plugin(), Some("fixture-hostile 0.1.0"), "{what}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{what} took {:?}",
        started.elapsed()
    );
    // Every later call fails too (no restart), and says the same.
    let later = plugin.add(1, 2).unwrap_err();
    assert_eq!(later.kind(), error.kind(), "{what}");
    error.kind().clone()
}

fn signal_of(kind: &CallErrorKind) -> Option<i32> {
    match kind {
        CallErrorKind::Crashed {
            crash: Crash::Signal { number },
            ..
        } => Some(*number),
        _ => None,
    }
}

#[test]
fn a_crash_is_a_call_error_and_the_host_keeps_serving() {
    let segv = failure("segv", own());
    assert_eq!(signal_of(&segv), Some(libc::SIGSEGV), "{segv:?}");
    match &segv {
        CallErrorKind::Crashed { stderr, .. } => {
            assert!(
                stderr.contains("about to write through a null pointer"),
                "{stderr}"
            )
        }
        other => panic!("{other:?}"),
    }
    let abort = failure("abort", own());
    assert_eq!(signal_of(&abort), Some(libc::SIGABRT), "{abort:?}");
    // Rust's guard page handler reports the overflow and aborts.
    let overflow = failure("overflow", own());
    assert!(
        matches!(
            signal_of(&overflow),
            Some(libc::SIGABRT) | Some(libc::SIGSEGV)
        ),
        "{overflow:?}"
    );
    assert!(matches!(
        failure("exit", own()),
        CallErrorKind::Crashed {
            crash: Crash::Exited { code: 0 },
            ..
        }
    ));
    let oom = failure("alloc", own().memory_limit(512 << 20));
    assert_eq!(signal_of(&oom), Some(libc::SIGABRT), "{oom:?}");
    // The host serves as before.
    assert_good_plugin_works();
}

#[test]
fn a_crash_is_seen_though_a_process_it_forked_holds_its_channel() {
    // Without the deadline, a miss would hang the test: with it, a miss is `TimedOut`.
    let plugin = hostile(own().deadline(Duration::from_secs(15)));
    let started = Instant::now();
    let error = plugin.greet("fork-segv".into()).unwrap_err();
    assert_eq!(signal_of(error.kind()), Some(libc::SIGSEGV), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_hang_ends_at_the_deadline() {
    let deadline = Duration::from_millis(300);
    match failure("loop", own().deadline(deadline)) {
        CallErrorKind::TimedOut { deadline: d } => assert_eq!(d, deadline),
        other => panic!("{other:?}"),
    }
    // CPU time: the system ends it.
    let cpu = failure("loop", own().cpu_time_limit(Duration::from_secs(1)));
    assert_eq!(signal_of(&cpu), Some(libc::SIGXCPU), "{cpu:?}");
}

#[test]
fn a_child_that_attacks_its_channel_is_killed() {
    for transport in [Transport::SharedMemory, Transport::Socket] {
        let own = || own().transport(transport);
        for (what, says) in [
            ("garbage", "unknown kind"),
            ("huge", "over the bound"),
            ("stray", "never made"),
            ("back", "without its head"),
        ] {
            match failure(what, own()) {
                CallErrorKind::Crashed {
                    crash: Crash::Misbehaved { what: said },
                    ..
                } => assert!(said.contains(says), "{transport:?} {what}: {said}"),
                other => panic!("{transport:?} {what}: {other:?}"),
            }
        }
        // A call of an object never lent is answered with an error, and the process lives on
        // (here, until the deadline: it never answers the host's call).
        match failure("back-stale", own().deadline(Duration::from_secs(2))) {
            CallErrorKind::TimedOut { .. } => {}
            other => panic!("{transport:?} back-stale: {other:?}"),
        }
        assert!(matches!(
            failure("close", own()),
            CallErrorKind::Crashed {
                crash: Crash::Closed,
                ..
            }
        ));
    }
    // Words of the shared ring that cannot be are seen as such, whatever they claim.
    match failure("scribble", own().deadline(Duration::from_secs(10))) {
        CallErrorKind::Crashed {
            crash: Crash::Misbehaved { what },
            ..
        } => assert!(what.contains("shared ring"), "{what}"),
        other => panic!("scribble: {other:?}"),
    }
    assert_good_plugin_works();
}

#[test]
fn restarts_restore_service_within_their_bound() {
    let restart = Restart::on_next_call().backoff(Duration::ZERO).at_most(2);
    let plugin = hostile(own().restart(restart));
    assert_eq!(plugin.add(0, 0).unwrap(), 0);
    assert_eq!(plugin.add(0, 0).unwrap(), 1);
    for _ in 0..2 {
        assert!(signal_of(plugin.greet("abort".into()).unwrap_err().kind()).is_some());
        // A new process: its statics start over.
        assert_eq!(plugin.add(0, 0).unwrap(), 0);
    }
    assert!(plugin.greet("abort".into()).is_err());
    match plugin.add(1, 2).unwrap_err().kind() {
        CallErrorKind::Unavailable { reason } => {
            assert!(reason.contains("restarted 2 times"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_plugin_that_crashes_as_often_as_its_policy_allows_is_quarantined_for_later_runs() {
    let journal = scratch("isolation-quarantine").join("plugins.quarantine");
    let listed = || Quarantine::new(&journal).entries().unwrap();
    let restart = Restart::on_next_call()
        .backoff(Duration::ZERO)
        .at_most(1)
        .then_quarantine();
    let hostile = plugin(Fixture::Hostile);
    let crashing = isolated(own().restart(restart))
        .quarantine(&journal)
        .load(&hostile)
        .unwrap();
    // The first crash is restarted from; nothing is listed.
    assert!(signal_of(crashing.greet("abort".into()).unwrap_err().kind()).is_some());
    assert_eq!(crashing.add(0, 0).unwrap(), 0);
    assert!(listed().is_empty());
    // The second is the last the policy allows: the bytes are listed.
    assert!(signal_of(crashing.greet("abort".into()).unwrap_err().kind()).is_some());
    let entries = listed();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0].crashes, Some(2));
    assert!(!entries[0].loading);
    assert!(crashing.add(1, 2).is_err());
    // A later run refuses them, in-process and isolated alike, before any of their code runs.
    let refusals = [
        Loader::<GreeterRef>::new()
            .quarantine(&journal)
            .load(&hostile),
        isolated(own()).quarantine(&journal).load(&hostile),
    ];
    for refused in refusals {
        let e = refused.expect_err("quarantined");
        assert!(
            matches!(e.kind(), ErrorKind::CrashedTooOften { crashes: 2, .. }),
            "{}",
            e.report()
        );
        assert_eq!(e.stage(), Stage::Trust);
    }
    // Other plugins load; cleared, the bytes load again.
    isolated(own())
        .quarantine(&journal)
        .load(plugin(Fixture::GreeterEn))
        .unwrap();
    assert_eq!(Quarantine::new(&journal).clear(None).unwrap(), 1);
    let again = isolated(own()).quarantine(&journal).load(&hostile).unwrap();
    assert_eq!(again.add(2, 3).unwrap(), 5);
}

/// Waits up to 10 seconds for `done`.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(10), "never: {what}");
        thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn an_idle_plugin_whose_process_dies_is_found_by_the_liveness_check() {
    let plugin = hostile(own().liveness(Duration::from_millis(50)));
    assert_eq!(plugin.add(2, 3).unwrap(), 5);
    let pid = plugin.process_id().expect("a process");
    // SAFETY: `kill` on a process of this test's own.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) }, 0);
    // Found and reaped with no call made: no zombie is left behind.
    eventually("the dead process found", || plugin.process_id().is_none());
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert_eq!(
        signal_of(plugin.add(2, 3).unwrap_err().kind()),
        Some(libc::SIGKILL)
    );
}

#[test]
fn an_idle_plugin_whose_process_hangs_is_killed_and_restarted() {
    let restart = Restart::on_next_call().backoff(Duration::ZERO);
    let plugin = hostile(own().liveness(Duration::from_millis(50)).restart(restart));
    assert_eq!(plugin.add(0, 0).unwrap(), 0);
    let pid = plugin.process_id().expect("a process");
    // Stopped, it reads nothing: it no longer serves.
    // SAFETY: `kill` on a process of this test's own.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGSTOP) }, 0);
    eventually("the hung process killed", || plugin.process_id().is_none());
    // The next call is served by a new process, its statics fresh.
    assert_eq!(plugin.add(0, 0).unwrap(), 0);
    assert_ne!(plugin.process_id(), Some(pid));
}

#[test]
fn a_policy_that_quarantines_needs_a_journal() {
    let restart = Restart::never().then_quarantine();
    let e = isolated(own().restart(restart))
        .load(plugin(Fixture::Hostile))
        .expect_err("no journal");
    match e.kind() {
        ErrorKind::Isolation { reason, .. } => {
            assert!(reason.contains("Loader::quarantine"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

/// Calls `kill` at random moments, 0 to 20 ms apart, until `done`; returns how many landed.
fn kill_at_random(
    done: Arc<AtomicBool>,
    kill: impl Fn() -> bool + Send + 'static,
) -> thread::JoinHandle<u32> {
    thread::spawn(move || {
        let mut kills = 0;
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        while !done.load(Ordering::SeqCst) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            thread::sleep(Duration::from_micros(seed % 20_000));
            if !done.load(Ordering::SeqCst) && kill() {
                kills += 1;
            }
        }
        kills
    })
}

#[test]
fn calls_from_four_threads_are_answered_right_while_the_child_is_killed_at_random() {
    let restart = Restart::on_next_call().backoff(Duration::ZERO);
    let plugin = Arc::new(hostile(own().restart(restart)));
    let done = Arc::new(AtomicBool::new(false));
    let killer = {
        let plugin = Arc::clone(&plugin);
        kill_at_random(Arc::clone(&done), move || {
            plugin.greet("exit".into()).is_err()
        })
    };
    let callers: Vec<_> = (0..4u32)
        .map(|t| {
            let plugin = Arc::clone(&plugin);
            thread::spawn(move || {
                let (mut right, mut failed) = (0, 0);
                for i in 0..2_500u32 {
                    match plugin.add(t + 1, i) {
                        Ok(sum) => {
                            assert_eq!(sum, t + 1 + i);
                            right += 1;
                        }
                        Err(e) => {
                            assert!(
                                matches!(
                                    e.kind(),
                                    CallErrorKind::Crashed { .. }
                                        | CallErrorKind::Unavailable { .. }
                                ),
                                "{e}"
                            );
                            failed += 1;
                        }
                    }
                }
                (right, failed)
            })
        })
        .collect();
    let mut right = 0;
    for caller in callers {
        right += caller.join().unwrap().0;
    }
    done.store(true, Ordering::SeqCst);
    let kills = killer.join().unwrap();
    assert!(kills > 0, "the child was never killed");
    assert!(right > 5_000, "only {right} of 10000 calls answered");
    // Service is back after the last kill.
    assert_eq!(plugin.add(2, 3).unwrap(), 5);
}

#[test]
fn checks_run_as_in_process_and_the_childs_refusals_are_typed() {
    let loader = isolated(own());
    // Refused by the host, before anything starts.
    let wrong = loader.load(plugin(Fixture::WrongInterface)).unwrap_err();
    assert!(
        matches!(wrong.kind(), ErrorKind::InterfaceMismatch { .. }),
        "{wrong}"
    );
    // Refused by the plugin's process: the layout check runs where the code runs.
    let changed = loader.load(plugin(Fixture::ChangedType)).unwrap_err();
    match changed.kind() {
        ErrorKind::RefusedIsolated { kind, text, .. } => {
            assert_eq!(kind, "LayoutMismatch");
            assert!(text.contains("add"), "{text}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(changed.stage(), Stage::Layout);
    let init = loader.load(plugin(Fixture::InitPanic)).unwrap_err();
    match init.kind() {
        ErrorKind::InitPanicked { message, .. } => {
            assert_eq!(message, "the configuration file is missing")
        }
        other => panic!("{other:?}"),
    }
    assert!(init.report().to_string().contains("on_load hook panicked"));
}

#[test]
fn what_isolation_cannot_do_is_refused_clearly() {
    // This test binary's `main` does not serve isolated plugins.
    let error = Loader::<GreeterRef>::new()
        .isolate(own())
        .load(plugin(Fixture::GreeterEn))
        .unwrap_err();
    assert!(error.to_string().contains("serve_if_child"), "{error}");
    // A runner that is not one.
    let error = Loader::<GreeterRef>::new()
        .isolate(own().runner("/bin/true"))
        .load(plugin(Fixture::GreeterEn))
        .unwrap_err();
    assert!(
        matches!(error.kind(), ErrorKind::Isolation { .. }),
        "{error}"
    );
}

/// Host services that answer from the host, panic, or call the plugin back.
struct Services {
    plugin: std::sync::OnceLock<Plugin<GreeterRef>>,
}

impl greeter_interface::GreeterHost for Services {
    fn setting(&self, key: RStr<'_>) -> ROption<RString> {
        match key.as_str() {
            "hello" => RSome("hi there".into()),
            "boom" => panic!("no settings today"),
            // Back into the plugin, whose `translate` calls this service again.
            "again" => {
                let plugin = self.plugin.get().expect("the plugin is set");
                let shout = plugin.shout("again".into()).unwrap();
                let hello = plugin.translate("hello".into()).unwrap().unwrap();
                RSome(format!("{shout} {hello}").into())
            }
            _ => RNone,
        }
    }
}

#[test]
fn host_services_answer_an_isolated_plugin_and_may_call_it_back() {
    let inside = with_services(Loader::<GreeterRef>::new());
    let outside = with_services(isolated(own()));
    assert!(outside.is_isolated());
    for plugin in [&inside, &outside] {
        let translate = |word: &str| plugin.translate(word.into()).map(ROption::into_option);
        assert_eq!(translate("hello").unwrap().unwrap(), "hi there");
        assert_eq!(translate("thanks").unwrap().unwrap(), "thanks");
        assert_eq!(translate("again").unwrap().unwrap(), "AGAIN! hi there");
        let panicked = translate("boom").unwrap_err();
        assert!(
            panicked
                .panic_message()
                .unwrap()
                .contains("the host's setting service failed"),
            "{panicked}"
        );
        // Still serving, and from other threads too.
        let plugin = plugin.clone();
        let answers: Vec<_> = (0..4)
            .map(|_| {
                let plugin = plugin.clone();
                thread::spawn(move || {
                    (0..200)
                        .map(|_| plugin.translate("again".into()).unwrap().unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for answer in answers {
            assert!(answer
                .join()
                .unwrap()
                .iter()
                .all(|a| a == "AGAIN! hi there"));
        }
    }
}

#[test]
fn unloading_ends_the_process_and_stale_copies_fail_cleanly() {
    let plugin = hostile(own());
    assert_eq!(plugin.add(1, 1).unwrap(), 2);
    let module = plugin.module();
    // SAFETY: nothing of the plugin is used afterwards but `module`, whose calls go to a
    // proxy that outlives it.
    let unloaded = unsafe { plugin.unload() }.expect("the last handle unloads");
    assert_eq!(unloaded, Unloaded::Exited);
    assert!(matches!(
        module.add(1, 1).unwrap_err().kind(),
        CallErrorKind::Unavailable { .. }
    ));
}

#[test]
fn an_isolated_plugin_reloads_with_its_state_under_calling_threads() {
    let dir = scratch("isolated-reload");
    let path = dir.join(xplug_loader::tools::library_file_name("counter"));
    install(&variant(Fixture::CounterV1, "1.0.0-iso"), &path);
    let loader = Loader::<CounterRef>::new().isolate(own().runner(runner()));
    let live = loader.live(&path).unwrap();
    assert!(live.get().plugin().is_isolated());
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (live, stop) = (live.clone(), Arc::clone(&stop));
            thread::spawn(move || {
                let mut last = 0;
                let mut calls = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    let held = live.get();
                    let next = held.next().expect("no call fails across a reload");
                    assert!(next > last, "{next} after {last}");
                    last = next;
                    calls += 1;
                }
                calls
            })
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    install(&variant(Fixture::CounterV2, "2.0.0-iso"), &path);
    live.reload().expect("the second release takes over");
    thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    let calls: u64 = callers.into_iter().map(|c| c.join().unwrap()).sum();
    // Every call counted once, none lost in the handover.
    assert_eq!(live.get().next().unwrap(), calls + 1);
    assert_eq!(live.get().version().unwrap(), "counter-v2 2.0.0-iso");
}

#[test]
fn dropping_the_last_handle_ends_a_call_in_flight_without_a_deadline() {
    let plugin = hostile(own());
    let module = plugin.module();
    let (sender, hung) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(module.greet("loop".into()).map(|s| s.into_string()));
    });
    // Let the call reach the plugin, then drop the last handle: its process is stopped.
    thread::sleep(Duration::from_millis(200));
    let (done, dropped) = std::sync::mpsc::channel();
    thread::spawn(move || {
        drop(plugin);
        let _ = done.send(());
    });
    dropped
        .recv_timeout(Duration::from_secs(10))
        .expect("dropping the handle waited for the hung call");
    let result = hung
        .recv_timeout(Duration::from_secs(10))
        .expect("the call in flight ended");
    // Ended by the host, not crashed: nothing counts against the plugin.
    match result.unwrap_err().kind() {
        CallErrorKind::Unavailable { reason } => {
            assert!(reason.contains("last handle"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_plugin_down_for_good_is_loaded_anew() {
    let isolation = own();
    let crashed = hostile(isolation.clone());
    assert!(crashed.greet("abort".into()).is_err());
    assert!(crashed.add(1, 2).is_err());
    // The same bytes, the same settings: a new process, not the crashed one.
    let again = hostile(isolation);
    assert!(!again.same_library(&crashed));
    assert_eq!(again.add(1, 2).unwrap(), 3);
}
