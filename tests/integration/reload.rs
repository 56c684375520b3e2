//! Hot reload: live handles, directory watchers, state handover, the quarantine journal.
//! Files are replaced by renaming pre-built variants over the path (no compile time); each
//! variant is a copy of a fixture whose header claims its own plugin version, and the counter
//! plugins answer `version()` from their header as loaded, so every answer names the
//! generation that gave it.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use counter_interface::CounterRef;
use greeter_interface::GreeterRef;
use xplug_loader::reload::{Event, Live, Reload};
use xplug_loader::tools::library_file_name;
use xplug_loader::trust::{signature_path, Quarantine, TrustPolicy};
use xplug_loader::{ErrorKind, Loader};
use xtask::{Compiler, Fixture};

use crate::snapshots::{install, variant, variant_of};
use crate::support::{in_ci, next_event, notice, plugin, relative_to_cwd, scratch, PATIENCE};
use crate::trust::{signature, Signer};

fn counter_loader() -> Loader<CounterRef> {
    Loader::<CounterRef>::new()
}

/// `counter-v1` under the version `1.0.0-{tag}{n}`: bytes (and statics) of its own.
fn counter_variant(tag: &str, n: usize) -> Vec<u8> {
    variant(Fixture::CounterV1, &format!("1.0.0-{tag}{n}"))
}

/// The round `n` of an answer `counter-v1 1.0.0-r{n}`.
fn round_of(answer: &str) -> usize {
    let (_, n) = answer
        .rsplit_once("-r")
        .unwrap_or_else(|| panic!("`{answer}` names no round"));
    n.parse().unwrap()
}

/// How a test replaces a plugin file: the ways new builds land in a watched directory.
#[derive(Clone, Copy, Debug)]
enum Tool {
    /// A new file renamed over the old one (`mv`, most installers).
    Rename,
    /// `cp`: the old file truncated and rewritten in place.
    Copy,
    /// `install`: the old file replaced by a new one.
    Install,
    /// What `cargo build` does to a target directory's top level: the old file removed, the
    /// new build hard-linked from `deps/`.
    HardLink,
}

impl Tool {
    const ALL: [Tool; 4] = [Tool::Rename, Tool::Copy, Tool::Install, Tool::HardLink];

    /// Puts the staged file `staged` at `path`.
    fn run(self, staged: &std::path::Path, path: &std::path::Path) {
        let tool = |program: &str, args: &[&std::ffi::OsStr]| {
            let status = Command::new(program).args(args).status().unwrap();
            assert!(status.success(), "{program} failed: {status}");
        };
        match self {
            Tool::Rename => fs::rename(staged, path).unwrap(),
            Tool::Copy => tool("cp", &[staged.as_os_str(), path.as_os_str()]),
            Tool::Install => tool(
                "install",
                &[
                    "-m".as_ref(),
                    "0755".as_ref(),
                    staged.as_os_str(),
                    path.as_os_str(),
                ],
            ),
            Tool::HardLink => {
                let _ = fs::remove_file(path);
                fs::hard_link(staged, path).unwrap();
            }
        }
    }
}

#[test]
fn a_plugin_replaced_100_times_under_four_calling_threads_loses_no_call_and_no_count() {
    const ROUNDS: usize = 100;
    let dir = scratch("reload-100");
    let staging = scratch("reload-100-staged");
    let path = dir.join(library_file_name("counter"));
    // Every variant staged before the first load: the loop below only installs.
    let staged: Vec<PathBuf> = (0..=ROUNDS)
        .map(|n| {
            let staged = staging.join(format!("round-{n}.so"));
            fs::write(&staged, counter_variant("r", n)).unwrap();
            staged
        })
        .collect();
    fs::copy(&staged[0], &path).unwrap();
    let watcher = counter_loader().watch_dir(&dir).unwrap();
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
    let live = watcher.get(library_file_name("counter")).unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(5));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (live, done, start) = (live.clone(), Arc::clone(&done), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                let (mut calls, mut last_round, mut last_count) = (0u64, 0, 0);
                while !done.load(Ordering::SeqCst) {
                    let held = live.get();
                    // One generation: its header and its code agree.
                    let answer = held.version().expect("no call fails").to_string();
                    assert_eq!(
                        answer,
                        format!("counter-v1 {}", held.plugin().info().version),
                        "an answer from another generation than the one held"
                    );
                    drop(held);
                    // Never an older generation than seen before.
                    let round = round_of(&live.get().version().expect("no call fails"));
                    assert!(round >= last_round, "round {round} after {last_round}");
                    last_round = round;
                    // The count never goes back: no update is lost in a handover.
                    let count = live.get().next().expect("no call fails");
                    assert!(
                        count > last_count,
                        "count {count} after {last_count} (round {round})"
                    );
                    last_count = count;
                    calls += 1;
                }
                // After the last replacement, every thread gets the newest answers.
                let round = round_of(&live.get().version().unwrap());
                (calls, round)
            })
        })
        .collect();
    start.wait();
    let mut pauses = Vec::new();
    for (n, staged) in staged.iter().enumerate().skip(1) {
        let how = Tool::ALL[n % Tool::ALL.len()];
        how.run(staged, &path);
        // A copy may be seen half-written (refused), a replacement as a removal first.
        loop {
            match next_event(&watcher) {
                Event::Reloaded {
                    from,
                    to,
                    info,
                    paused,
                    ..
                } => {
                    assert_eq!((from, to), (n as u64, n as u64 + 1), "{how:?}");
                    assert_eq!(info.version.to_string(), format!("1.0.0-r{n}"));
                    pauses.push(paused);
                    break;
                }
                Event::Refused { .. } | Event::Removed { .. } | Event::Loaded { .. } => {}
                other => panic!("round {n} ({how:?}): {other}"),
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    let mut total = 0;
    for caller in callers {
        let (calls, round) = caller.join().expect("a calling thread failed");
        assert_eq!(round, ROUNDS);
        total += calls;
    }
    assert_eq!(live.generation(), ROUNDS as u64 + 1);
    // Every counted call is in the count that the 101st generation holds.
    assert_eq!(live.get().next().unwrap(), total + 1, "counts were lost");
    pauses.sort();
    notice(&format!(
        "reload: {ROUNDS} replacements (rename, cp, install, hard link) under 4 threads, \
         {total} counted calls, none failed or lost; calls held per reload: median {:?}, max {:?}",
        pauses[pauses.len() / 2],
        pauses[pauses.len() - 1]
    ));
}

#[test]
fn a_reload_waits_for_held_calls_holds_new_ones_and_gives_up_after_its_wait() {
    let dir = scratch("reload-held");
    let path = dir.join(library_file_name("counter"));
    install(&counter_variant("held", 0), &path);
    let live = counter_loader()
        .reload_wait(Duration::from_millis(300))
        .live(&path)
        .unwrap();
    assert_eq!(live.get().next().unwrap(), 1);
    install(&counter_variant("held", 1), &path);

    // From inside a call through the handle: refused at once (it would wait for itself).
    let held = live.get();
    let e = live.reload().expect_err("a call through the handle runs");
    assert!(
        matches!(e.kind(), ErrorKind::CallsStillRunning { waited_ms: 0, .. }),
        "{e}"
    );
    drop(held);

    // A call held on another thread past the wait: refused, the old version serves on.
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = {
        let live = live.clone();
        thread::spawn(move || {
            let held = live.get();
            held_tx.send(held.generation()).unwrap();
            release_rx.recv().unwrap();
            // A call from inside the held one (a host service reaching the handle again)
            // does not wait for the reload that waits for the outer call.
            let nested = live.get().next().unwrap();
            drop(held);
            nested
        })
    };
    assert_eq!(held_rx.recv().unwrap(), 1);
    let e = live.reload().expect_err("a call outlived the wait");
    assert!(
        matches!(e.kind(), ErrorKind::CallsStillRunning { waited_ms, .. } if *waited_ms >= 300),
        "{e}"
    );
    assert_eq!(live.generation(), 1);

    // Released while a reload waits: the nested call runs on generation 1, the reload then
    // hands over a count that includes it, and every later call reaches generation 2.
    let reloader = {
        let live = live.clone();
        thread::spawn(move || live.reload())
    };
    thread::sleep(Duration::from_millis(50));
    release_tx.send(()).unwrap();
    assert_eq!(holder.join().unwrap(), 2);
    assert!(matches!(
        reloader.join().unwrap().unwrap(),
        Reload::Reloaded { from: 1, to: 2, .. }
    ));
    let held = live.get();
    assert_eq!(held.generation(), 2);
    assert_eq!(held.next().unwrap(), 3);
}

#[test]
#[cfg(target_os = "linux")]
fn a_failed_save_state_is_reported_with_the_refused_version() {
    let dir = scratch("reload-save-state");
    let path = dir.join(library_file_name("counting"));
    install(&variant(Fixture::Counting, "0.1.0-save-a"), &path);
    let live = crate::support::loader().live(&path).unwrap();
    // SAFETY: used at once, while the live handle keeps the library loaded.
    unsafe {
        crate::loading::fixture_static(live.get().plugin(), "XPLUG_FIXTURE_SAVE_STATE_PANICS")
    }
    .store(1, Ordering::SeqCst);
    install(&variant(Fixture::Counting, "0.1.0-save-b"), &path);
    let e = live
        .reload()
        .expect_err("the serving version's save_state panics");
    match e.kind() {
        ErrorKind::StateNotHandedOver { hook, message, .. } => {
            assert_eq!(*hook, "save_state");
            assert!(message.contains("cannot save its state"), "{message}");
        }
        other => panic!("{other}"),
    }
    // The error is about the file's new version, the one refused: its path and its header.
    assert_eq!(e.path(), path.as_path());
    assert_eq!(
        e.plugin().map(|info| info.version.to_string()),
        Some("0.1.0-save-b".to_owned())
    );
    assert_eq!(live.generation(), 1);
}

#[test]
fn the_count_goes_on_across_reloads_and_a_bad_version_leaves_the_old_one_serving() {
    let dir = scratch("reload-handover");
    let path = dir.join(library_file_name("counter"));
    install(&counter_variant("h", 0), &path);
    let watcher = counter_loader().watch_dir(&dir).unwrap();
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
    let counter = watcher.get(library_file_name("counter")).unwrap();
    let counted: Vec<u64> = (0..3).map(|_| counter.get().next().unwrap()).collect();
    assert_eq!(counted, [1, 2, 3]);

    // A half-written file renamed in: refused; the first generation keeps serving.
    let v2 = variant(Fixture::CounterV2, "2.0.0-h");
    install(&v2[..v2.len() / 3], &path);
    match next_event(&watcher) {
        Event::Refused { error, serving, .. } => {
            assert_eq!(serving, Some(1));
            assert!(
                matches!(error.kind(), ErrorKind::Malformed { .. }),
                "{error}"
            );
        }
        other => panic!("{other}"),
    }
    assert_eq!(counter.get().version().unwrap(), "counter-v1 1.0.0-h0");
    assert_eq!(counter.get().next().unwrap(), 4);

    // The whole file: the second release takes over the count.
    install(&v2, &path);
    match next_event(&watcher) {
        Event::Reloaded { from: 1, to: 2, .. } => {}
        other => panic!("{other}"),
    }
    assert_eq!(counter.get().version().unwrap(), "counter-v2 2.0.0-h");
    assert_eq!(counter.get().next().unwrap(), 5);

    // The same bytes again: no new generation.
    install(&v2, &path);
    assert_eq!(
        counter.reload().unwrap(),
        Reload::Unchanged { generation: 2 }
    );

    // Removed: reported; the handle keeps serving; a file under the name reloads it.
    fs::remove_file(&path).unwrap();
    loop {
        // Events of the same-bytes install may come first; they change nothing.
        match next_event(&watcher) {
            Event::Removed { serving: 2, .. } => break,
            Event::Reloaded { .. } => panic!("the same bytes made a new generation"),
            _ => {}
        }
    }
    assert!(watcher.plugins().is_empty());
    assert_eq!(counter.get().next().unwrap(), 6);
    // Back with the bytes that serve: loaded again, the same generation.
    install(&v2, &path);
    match next_event(&watcher) {
        Event::Loaded { info, .. } => assert_eq!(info.version.to_string(), "2.0.0-h"),
        other => panic!("{other}"),
    }
    assert_eq!((watcher.plugins().len(), counter.generation()), (1, 2));
    install(&counter_variant("h", 1), &path);
    match next_event(&watcher) {
        Event::Reloaded { from: 2, to: 3, .. } => {}
        other => panic!("{other}"),
    }
    assert_eq!(watcher.plugins().len(), 1);
    assert_eq!(counter.get().version().unwrap(), "counter-v1 1.0.0-h1");
    assert_eq!(counter.get().next().unwrap(), 7);
}

#[test]
fn a_version_whose_layout_changed_is_refused_and_the_old_one_keeps_serving() {
    let dir = scratch("reload-layout");
    let path = dir.join(library_file_name("greeter"));
    install(&fs::read(plugin(Fixture::GreeterEn)).unwrap(), &path);
    let watcher = Loader::<GreeterRef>::new().watch_dir(&dir).unwrap();
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
    let greeter = watcher.get(library_file_name("greeter")).unwrap();

    install(&fs::read(plugin(Fixture::ChangedType)).unwrap(), &path);
    match next_event(&watcher) {
        Event::Refused { error, serving, .. } => {
            assert_eq!(serving, Some(1));
            assert!(
                matches!(error.kind(), ErrorKind::LayoutMismatch { .. }),
                "{error}"
            );
            let line = Event::Refused {
                path: path.clone(),
                error,
                serving,
            }
            .to_string();
            assert!(line.contains("generation 1 keeps serving"), "{line}");
        }
        other => panic!("{other}"),
    }
    assert_eq!(greeter.get().greet("Ada".into()).unwrap(), "Hello, Ada!");

    install(&fs::read(plugin(Fixture::GreeterFr)).unwrap(), &path);
    match next_event(&watcher) {
        Event::Reloaded { from: 1, to: 2, .. } => {}
        other => panic!("{other}"),
    }
    assert_eq!(greeter.get().greet("Ada".into()).unwrap(), "Bonjour, Ada !");
}

#[test]
fn plugin_code_the_watcher_runs_may_call_the_watcher() {
    use std::sync::Mutex;
    let dir = scratch("watcher-reentrant");
    let watcher = crate::support::loader().watch_dir(&dir).unwrap();
    let shared = Arc::new(Mutex::new(Some(watcher)));
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    crate::loading::on_other_threads({
        let (shared, calls) = (Arc::clone(&shared), Arc::clone(&calls));
        Arc::new(move || {
            if thread::current().name() != Some("xplug-watcher") {
                return;
            }
            if let Some(watcher) = shared.lock().unwrap().as_ref() {
                // SAFETY: nothing of this watcher's plugins is in use: it has none retired.
                unsafe { watcher.unload_retired() };
                calls.fetch_add(1, Ordering::SeqCst);
            }
        })
    });
    // The worker loads it, and its on_load calls the watcher from the worker's thread.
    install(
        &variant(Fixture::Counting, "0.1.0-watcher"),
        &dir.join(library_file_name("counting")),
    );
    // The action holds the watcher's lock while it calls it: the test only watches the count.
    // (A hung worker keeps the watcher, which the action list keeps: nothing waits for it.)
    let deadline = std::time::Instant::now() + PATIENCE;
    while calls.load(Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher's worker hung in plugin code that called the watcher"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let watcher = shared.lock().unwrap().take().unwrap();
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
}

#[test]
fn a_watcher_of_a_relative_directory_sees_changes() {
    let dir = scratch("reload-relative");
    let path = dir.join(library_file_name("counter"));
    install(&counter_variant("rel", 0), &path);
    // The same directory, named relative to the current one.
    let relative = relative_to_cwd(&dir);
    assert!(relative.is_relative(), "{}", relative.display());
    let watcher = counter_loader().watch_dir(&relative).unwrap();
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
    install(&counter_variant("rel", 1), &path);
    match next_event(&watcher) {
        Event::Reloaded { from: 1, to: 2, .. } => {}
        other => panic!("{other}"),
    }
}

#[test]
fn a_polling_watcher_sees_a_replaced_file() {
    let dir = scratch("reload-polling");
    let path = dir.join(library_file_name("counter"));
    install(&counter_variant("p", 0), &path);
    let watcher = counter_loader()
        .watch_dir_polling(&dir, Duration::from_millis(20))
        .unwrap();
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
    install(&variant(Fixture::CounterV2, "2.0.0-p"), &path);
    match next_event(&watcher) {
        Event::Reloaded { from: 1, to: 2, .. } => {}
        other => panic!("{other}"),
    }
    let counter = watcher.get(library_file_name("counter")).unwrap();
    assert_eq!(counter.get().version().unwrap(), "counter-v2 2.0.0-p");
}

/// Writes the signature of `bytes` where a library at `path` looks for it, in place (as
/// `minisign -Sm` writes it: the file truncated and rewritten).
fn write_signature(signer: &Signer, bytes: &[u8], path: &std::path::Path) {
    fs::write(signature_path(path), signature(signer, bytes)).unwrap();
}

#[test]
fn a_signature_that_arrives_after_its_library_reloads_it() {
    let dir = scratch("reload-signed");
    let path = dir.join(library_file_name("counter"));
    let signer = Signer::new();
    let v1 = counter_variant("s", 1);
    write_signature(&signer, &v1, &path);
    install(&v1, &path);
    let watcher = counter_loader()
        .trust_policy(TrustPolicy::new().trust_key(signer.public_key()))
        .watch_dir(&dir)
        .unwrap();
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
    let counter = watcher.get(library_file_name("counter")).unwrap();
    assert_eq!(counter.get().next().unwrap(), 1);

    // The library first: refused, its signature is the old one's; then its signature.
    let v2 = counter_variant("s", 2);
    install(&v2, &path);
    match next_event(&watcher) {
        Event::Refused { error, serving, .. } => {
            assert_eq!(serving, Some(1));
            assert!(
                matches!(error.kind(), ErrorKind::BadSignature { .. }),
                "{error}"
            );
        }
        other => panic!("{other}"),
    }
    write_signature(&signer, &v2, &path);
    match next_event(&watcher) {
        Event::Reloaded { from: 1, to: 2, .. } => {}
        other => panic!("after the signature: {other}"),
    }
    assert_eq!(counter.get().version().unwrap(), "counter-v1 1.0.0-s2");
    assert_eq!(counter.get().next().unwrap(), 2, "the count carried over");

    // The signature first, then the library by rename: reloaded, never refused (the new
    // signature alone changes nothing for the bytes serving).
    let v3 = counter_variant("s", 3);
    write_signature(&signer, &v3, &path);
    install(&v3, &path);
    match next_event(&watcher) {
        Event::Reloaded { from: 2, to: 3, .. } => {}
        other => panic!("signature first: {other}"),
    }
    assert_eq!(counter.get().version().unwrap(), "counter-v1 1.0.0-s3");

    // A signature removed, then renamed into place, tries its library again each time.
    let v4 = counter_variant("s", 4);
    install(&v4, &path);
    assert!(matches!(
        next_event(&watcher),
        Event::Refused {
            serving: Some(3),
            ..
        }
    ));
    fs::remove_file(signature_path(&path)).unwrap();
    match next_event(&watcher) {
        Event::Refused { error, .. } => assert!(
            matches!(error.kind(), ErrorKind::SignatureMissing { .. }),
            "{error}"
        ),
        other => panic!("signature removed: {other}"),
    }
    let staged = dir.join("signature.partial");
    fs::write(&staged, signature(&signer, &v4)).unwrap();
    fs::rename(&staged, signature_path(&path)).unwrap();
    match next_event(&watcher) {
        Event::Reloaded { from: 3, to: 4, .. } => {}
        other => panic!("signature renamed into place: {other}"),
    }
    assert_eq!(counter.get().version().unwrap(), "counter-v1 1.0.0-s4");
}

/// What `cp new old` does to a watched plugin: the old file truncated and rewritten, here with
/// a pause of `pause` in the middle with the file open, as a copy from a slow disk or network
/// has. The next event must be the reload: events come in order, so a refusal reported while
/// the copy ran would come first.
fn copied_in_place_with_a_pause(variant: &str, pause: Duration) {
    use std::io::Write as _;
    let dir = scratch(&format!("reload-cp-{variant}"));
    let path = dir.join(library_file_name("counter"));
    install(&counter_variant(variant, 1), &path);
    let watcher = counter_loader().watch_dir(&dir).unwrap();
    assert!(matches!(next_event(&watcher), Event::Loaded { .. }));
    let counter = watcher.get(library_file_name("counter")).unwrap();

    let v2 = counter_variant(variant, 2);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let half = v2.len() / 2;
    file.write_all(&v2[..half]).unwrap();
    file.flush().unwrap();
    thread::sleep(pause);
    file.write_all(&v2[half..]).unwrap();
    drop(file);
    match next_event(&watcher) {
        Event::Reloaded { from: 1, to: 2, .. } => {}
        other => panic!("a copy in progress was reported: {other}"),
    }
    assert_eq!(
        counter.get().version().unwrap(),
        format!("counter-v1 1.0.0-{variant}2")
    );
}

#[test]
fn a_plugin_copied_over_in_place_is_reloaded_once_written_without_a_refusal() {
    copied_in_place_with_a_pause("cp", Duration::from_millis(150));
}

// Held while open: a writer's close is what says that it is done (inotify). The pause is well
// over the settle time: the half file is tried, refused and held back, not reported.
#[cfg(target_os = "linux")]
#[test]
fn a_copy_in_place_that_pauses_longer_than_the_settle_time_is_not_refused_while_open() {
    copied_in_place_with_a_pause("cpp", Duration::from_millis(600));
}

#[test]
fn a_watchers_plugin_is_found_by_its_file_name_or_by_an_events_path() {
    let dir = scratch("reload-get");
    let name = library_file_name("counter");
    let path = dir.join(&name);
    install(&counter_variant("get", 0), &path);
    let watcher = counter_loader().watch_dir(&dir).unwrap();
    let loaded = match next_event(&watcher) {
        Event::Loaded { path, .. } => path,
        other => panic!("{other}"),
    };
    let by_event = watcher.get(&loaded).expect("the event's path");
    assert_eq!(by_event.get().next().unwrap(), 1);
    assert_eq!(watcher.get(&name).unwrap().get().next().unwrap(), 2);
    assert_eq!(watcher.get(&path).unwrap().get().next().unwrap(), 3);
    // The directory named another way: through `..`, or relative to the current one.
    let parent = dir.parent().unwrap();
    let roundabout = parent
        .join(dir.file_name().unwrap())
        .join("..")
        .join(dir.file_name().unwrap())
        .join(&name);
    assert_eq!(watcher.get(roundabout).unwrap().get().next().unwrap(), 4);
    let relative = relative_to_cwd(&path);
    assert!(relative.is_relative(), "{}", relative.display());
    assert!(watcher.get(&relative).is_some(), "{}", relative.display());
    // The same file name in another directory, and names of no file.
    let elsewhere = scratch("reload-get-elsewhere").join(&name);
    install(&counter_variant("get", 1), &elsewhere);
    assert!(watcher.get(&elsewhere).is_none());
    assert!(watcher.get("libnone.so").is_none());
    assert!(watcher.get("").is_none());
    assert!(watcher.get("..").is_none());

    // A reloaded file's event names it too.
    install(&counter_variant("get", 2), &path);
    match next_event(&watcher) {
        Event::Reloaded { path, .. } => {
            let counter = watcher.get(&path).expect("the event's path");
            assert_eq!(counter.get().version().unwrap(), "counter-v1 1.0.0-get2");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn a_plugin_built_by_rustc_1_63_is_replaced_by_one_built_by_1_85_under_one_live_handle() {
    let toolchains: Result<Vec<_>, String> = [Compiler::Debian163, Compiler::Debian185]
        .iter()
        .map(|c| c.toolchain())
        .collect();
    let toolchains = match toolchains {
        Ok(t) => t,
        Err(why) => {
            assert!(
                !in_ci(),
                "the reload matrix cell must run in CI, but: {why}"
            );
            notice(&format!("reload across compilers: SKIPPED: {why}"));
            return;
        }
    };
    let built: Vec<_> = toolchains
        .iter()
        .map(|t| xtask::build(t).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let dir = scratch("reload-compilers");
    let path = dir.join(library_file_name("counter"));
    // Bytes of their own (a version stamped in the header): statics no other test touched.
    install(
        &variant_of(&built[0].path(Fixture::CounterV1), "1.0.0-c"),
        &path,
    );
    let counter: Live<CounterRef> = counter_loader().live(&path).unwrap();
    assert_eq!(counter.info().rustc, toolchains[0].rustc_version);
    assert_eq!(counter.get().next().unwrap(), 1);
    assert_eq!(counter.get().next().unwrap(), 2);

    install(
        &variant_of(&built[1].path(Fixture::CounterV2), "2.0.0-c"),
        &path,
    );
    assert!(matches!(
        counter.reload().unwrap(),
        Reload::Reloaded { from: 1, to: 2, .. }
    ));
    assert_eq!(counter.info().rustc, toolchains[1].rustc_version);
    assert_eq!(counter.get().version().unwrap(), "counter-v2 2.0.0-c");
    assert_eq!(counter.get().next().unwrap(), 3, "the count carried over");
    notice(&format!(
        "reload: a plugin built by {} replaced by one built by {} under one live handle",
        toolchains[0].rustc_version, toolchains[1].rustc_version
    ));
}

/// The environment that makes this test binary a child host for the quarantine test.
const CHILD_DIR: &str = "XPLUG_TEST_QUARANTINE_DIR";
const CHILD_JOURNAL: &str = "XPLUG_TEST_QUARANTINE_JOURNAL";

/// Not a test of its own: the host that `a_plugin_that_killed_the_host_is_quarantined_...`
/// runs in a child process. Loads the directory with a quarantine journal and prints, per
/// file, `loaded NAME` or `refused NAME: KIND`.
#[cfg(target_os = "linux")]
#[test]
#[ignore = "run as a child process by the quarantine test"]
fn quarantine_child_host() {
    let (Some(dir), Some(journal)) = (std::env::var_os(CHILD_DIR), std::env::var_os(CHILD_JOURNAL))
    else {
        panic!("run by the quarantine test, with {CHILD_DIR} and {CHILD_JOURNAL} set");
    };
    let report = Loader::<GreeterRef>::new()
        .quarantine(PathBuf::from(journal))
        .load_dir(PathBuf::from(dir))
        .unwrap();
    for plugin in &report.plugins {
        println!("loaded {}", plugin.info().name);
    }
    for error in &report.rejected {
        let name = error.path().file_name().unwrap().to_string_lossy();
        let kind = format!("{:?}", error.kind());
        println!("refused {name}: {}", kind.split([' ', '{']).next().unwrap());
    }
}

// The crashing constructor is an `.init_array` entry: Linux only.
#[cfg(target_os = "linux")]
#[test]
fn a_plugin_that_killed_the_host_is_quarantined_until_cleared() {
    let dir = scratch("quarantine");
    let plugins = dir.join("plugins");
    fs::create_dir(&plugins).unwrap();
    let crashing = plugins.join(library_file_name("a_crashing"));
    fs::copy(plugin(Fixture::Constructor), &crashing).unwrap();
    fs::copy(
        plugin(Fixture::GreeterFr),
        plugins.join(library_file_name("b_greeter")),
    )
    .unwrap();
    let journal = dir.join("plugins.quarantine");
    let run = |crash: bool| {
        let mut child = Command::new(std::env::current_exe().unwrap());
        child
            .args(["--exact", "reload::quarantine_child_host", "--ignored"])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, &plugins)
            .env(CHILD_JOURNAL, &journal)
            .env("RUST_BACKTRACE", "0");
        if crash {
            child.env("XPLUG_FIXTURE_CONSTRUCTOR_CRASH", "1");
        }
        let out = child.output().unwrap();
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };

    // The constructor kills the first host: nothing after it loads.
    let (status, out) = run(true);
    assert!(!status.success(), "the first host must die: {out}");
    assert!(!out.contains("loaded"), "{out}");
    let entries = Quarantine::new(&journal).entries().unwrap();
    assert_eq!(entries.len(), 1, "the crashing plugin is listed");
    assert_eq!(entries[0].path, crashing.canonicalize().unwrap());

    // The next host refuses it (whatever it would do now) and loads the others.
    let (status, out) = run(true);
    assert!(status.success(), "{out}");
    assert!(out.contains("loaded greeter-fr"), "{out}");
    assert!(
        out.contains("refused liba_crashing.so: Quarantined"),
        "{out}"
    );

    // Cleared (the plugin author fixed the crash): it loads again.
    assert_eq!(Quarantine::new(&journal).clear(None).unwrap(), 1);
    let (status, out) = run(false);
    assert!(status.success(), "{out}");
    assert!(out.contains("loaded fixture-constructor"), "{out}");
    assert!(Quarantine::new(&journal).entries().unwrap().is_empty());
}
