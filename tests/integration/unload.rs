//! Unloading, the opt-in: retired generations of a live handle, and plain plugin handles.
//! Each test's plugins are variants of their own (their own bytes, so their own snapshots),
//! found in `/proc/self/maps` and `/proc/self/fd` by the first digits of their SHA-256, so
//! that other tests running meanwhile do not disturb the counts.

use std::fs;
use std::time::{Duration, Instant};

use counter_interface::CounterRef;
use greeter_interface::GreeterRef;
use xplug_loader::reload::{Reload, Unloads};
use xplug_loader::tools::library_file_name;
use xplug_loader::{LoadMode, Loader, Unloaded};
use xtask::Fixture;

use std::mem::offset_of;
use xplug::header::PluginHeader;

use crate::bad_inputs::header_offset;
use crate::snapshots::install;
use crate::support::{maps, notice, plugin, scratch};

/// Variants of a fixture (`counter-v1` unless told), each under the version
/// `{version}-{tag}{n}`.
struct Variants {
    tag: &'static str,
    version: &'static str,
    bytes: Vec<u8>,
    /// Where the header's plugin version lies.
    at: usize,
}

impl Variants {
    fn new(tag: &'static str) -> Variants {
        Variants::of(Fixture::CounterV1, "1.0.0", tag)
    }

    fn of(fixture: Fixture, version: &'static str, tag: &'static str) -> Variants {
        let bytes = fs::read(plugin(fixture)).unwrap();
        let at = header_offset(&bytes) + offset_of!(PluginHeader, plugin_version);
        Variants {
            tag,
            version,
            bytes,
            at,
        }
    }

    /// The variant `n`, and the name of its snapshot in `/proc/self/maps` and
    /// `/proc/self/fd`.
    fn get(&self, n: usize) -> (Vec<u8>, String) {
        let mut bytes = self.bytes.clone();
        let version = format!("{}-{}{n}", self.version, self.tag);
        let field = &mut bytes[self.at..self.at + 32];
        field.fill(0);
        field[..version.len()].copy_from_slice(version.as_bytes());
        // After the end too, where a snapshot's name looks (see `snapshots::variant_of`).
        bytes.extend_from_slice(version.as_bytes());
        let name = snapshot_name(&bytes);
        (bytes, name)
    }
}

/// The name of the snapshot of `bytes` in `/proc/self/maps` and `/proc/self/fd`.
fn snapshot_name(bytes: &[u8]) -> String {
    xplug_loader::tools::snapshot_name(bytes)
}

/// How many of the snapshots `names` are mapped into this process.
fn mapped(names: &[String]) -> usize {
    let maps = maps();
    names
        .iter()
        .filter(|name| maps.lines().any(|l| l.contains(name.as_str())))
        .count()
}

/// How many descriptors this process holds open on the snapshots `names`.
fn descriptors(names: &[String]) -> usize {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|fd| fs::read_link(fd.path()).ok())
        .filter(|target| {
            let target = target.to_string_lossy();
            names.iter().any(|name| target.contains(name.as_str()))
        })
        .count()
}

/// Unmapped, still mapped, closed, in use.
fn counts(u: Unloads) -> (usize, usize, usize, usize) {
    (u.unmapped, u.still_mapped, u.closed, u.in_use)
}

#[test]
fn a_thousand_reloads_with_unloading_keep_one_generation_mapped() {
    const ROUNDS: usize = 1000;
    let dir = scratch("unload-1000");
    let path = dir.join(library_file_name("counter"));
    let variants = Variants::new("u");
    let (first, name) = variants.get(0);
    install(&first, &path);
    let live = Loader::<CounterRef>::new().live(&path).unwrap();
    let mut names = vec![name];
    assert_eq!(live.get().next().unwrap(), 1);
    for n in 1..=ROUNDS {
        let (bytes, name) = variants.get(n);
        names.push(name);
        install(&bytes, &path);
        assert!(matches!(
            live.reload().unwrap(),
            Reload::Reloaded { from, to, .. } if (from, to) == (n as u64, n as u64 + 1)
        ));
        // The count was handed over before the old generation went.
        assert_eq!(live.get().next().unwrap(), n as u64 + 1);
        // SAFETY: this thread made every call, and each returned a plain number.
        let unloads = unsafe { live.unload_retired() };
        assert_eq!(counts(unloads), (1, 0, 0, 0), "round {n}");
    }
    assert_eq!(
        live.get().version().unwrap(),
        format!("counter-v1 1.0.0-u{ROUNDS}")
    );
    // Of 1,001 generations, the current one alone is mapped and holds a descriptor.
    assert_eq!((mapped(&names), descriptors(&names)), (1, 1));
    notice(&format!(
        "unload: {ROUNDS} reloads, each old generation unloaded; 1 generation left mapped"
    ));
}

#[test]
fn a_thousand_generations_that_log_and_contain_panics_on_this_thread_are_unmapped() {
    // A plugin's records with arguments and its contained panics used thread-locals with
    // destructors in the plugin, which keep a library mapped until the thread exits.
    const ROUNDS: usize = 1000;
    crate::objects::logger();
    let dir = scratch("unload-tls-1000");
    let path = dir.join(library_file_name("greeter"));
    let variants = Variants::of(Fixture::GreeterEn, "0.3.0", "tls");
    let (first, name) = variants.get(0);
    install(&first, &path);
    let live = Loader::<GreeterRef>::new().live(&path).unwrap();
    let mut names = vec![name];
    for n in 1..=ROUNDS {
        let (bytes, name) = variants.get(n);
        names.push(name);
        install(&bytes, &path);
        assert!(matches!(live.reload().unwrap(), Reload::Reloaded { .. }));
        // A record with an argument, and a contained panic, on this (long-lived) thread.
        assert_eq!(
            live.get().greet("unload-tls".into()).unwrap(),
            "Hello, unload-tls!"
        );
        assert!(live.get().greet("".into()).is_err());
        // SAFETY: this thread made every call, and each value returned was dropped.
        let unloads = unsafe { live.unload_retired() };
        assert_eq!(counts(unloads), (1, 0, 0, 0), "round {n}");
    }
    // Of 1,001 generations, the current one alone is mapped and holds a descriptor.
    assert_eq!((mapped(&names), descriptors(&names)), (1, 1));
}

#[test]
fn a_generation_another_handle_holds_stays_until_that_handle_is_dropped() {
    let dir = scratch("unload-held");
    let path = dir.join(library_file_name("counter"));
    let variants = Variants::new("held");
    let (first, first_name) = variants.get(0);
    let (second, second_name) = variants.get(1);
    install(&first, &path);
    let live = Loader::<CounterRef>::new().live(&path).unwrap();
    let kept = live.get().plugin().clone();
    install(&second, &path);
    live.reload().unwrap();

    // SAFETY: no call is running, and the calls made returned plain numbers and strings
    // (`version()` returns an `RString` made by the plugin: dropped before each unload).
    let unloads = unsafe { live.unload_retired() };
    assert_eq!(counts(unloads), (0, 0, 0, 1));
    assert_eq!(kept.version().unwrap(), "counter-v1 1.0.0-held0");
    drop(kept);
    // SAFETY: as above.
    let unloads = unsafe { live.unload_retired() };
    assert_eq!(unloads.unmapped, 1, "{unloads:?}");
    assert_eq!(
        mapped(&[first_name, second_name]),
        1,
        "the first generation left, the second serves"
    );

    // A plain handle: unloaded when it is the last; the same bytes then load anew, their
    // statics fresh.
    let loader = Loader::<CounterRef>::new();
    let (third, third_name) = variants.get(2);
    let third_path = dir.join(library_file_name("third"));
    fs::write(&third_path, third).unwrap();
    let plugin = loader.load(&third_path).unwrap();
    let other = loader.load(&third_path).unwrap();
    assert_eq!((plugin.next().unwrap(), other.next().unwrap()), (1, 2));
    // SAFETY: as above.
    let kept = unsafe { plugin.unload() }.expect_err("another handle holds it");
    assert_eq!(kept.reason, xplug_loader::KeptLoaded::OtherHandles);
    let plugin = kept.plugin;
    drop(other);
    // SAFETY: as above.
    assert_eq!(unsafe { plugin.unload() }.unwrap(), Unloaded::Unmapped);
    let third_name = [third_name];
    assert_eq!((mapped(&third_name), descriptors(&third_name)), (0, 0));
    let again = loader.load(&third_path).unwrap();
    assert_eq!(again.next().unwrap(), 1, "the statics of a new mapping");
    assert_eq!(mapped(&third_name), 1);
}

#[test]
fn a_library_kept_by_its_thread_local_destructors_stays_mapped_and_its_bytes_load_again() {
    let dir = scratch("unload-tls");
    let path = dir.join(library_file_name("greeter"));
    let bytes = crate::snapshots::variant(Fixture::Counting, "0.1.0-tls");
    let name = snapshot_name(&bytes);
    fs::write(&path, &bytes).unwrap();
    let loader = crate::support::loader();
    // Its `on_load` keeps a thread-local with a destructor on this thread, which the C
    // library runs when the thread ends: until then, it keeps the library.
    let greeter = loader.load(&path).unwrap();
    // SAFETY: no call is running, and the values returned were dropped.
    assert_eq!(unsafe { greeter.unload() }.unwrap(), Unloaded::StillMapped);
    let names = [name];
    assert_eq!((mapped(&names), descriptors(&names)), (1, 1));
    // Its descriptor stays open with it, so the same bytes get a new one, and load anew.
    let again = loader.load(&path).unwrap();
    assert_eq!(again.greet("Ada".into()).unwrap(), "Hello, Ada!");
    assert_eq!(descriptors(&names), 2);
}

#[test]
fn unloading_while_another_thread_reloads_never_unloads_the_serving_generation() {
    const ROUNDS: usize = 200;
    let dir = scratch("unload-race");
    let path = dir.join(library_file_name("counter"));
    let variants = Variants::new("race");
    install(&variants.get(0).0, &path);
    let live = Loader::<CounterRef>::new().live(&path).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let unloader = {
        let (live, done) = (live.clone(), std::sync::Arc::clone(&done));
        std::thread::spawn(move || {
            let mut unmapped = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                // SAFETY: only the reloading thread calls the plugin, and only its current
                // generation, which this never unloads; the calls return plain numbers.
                unmapped += unsafe { live.unload_retired() }.unmapped;
            }
            unmapped
        })
    };
    for n in 1..=ROUNDS {
        install(&variants.get(n).0, &path);
        live.reload().unwrap();
        // The generation just published serves, whatever the other thread unloads.
        assert_eq!(live.get().next().unwrap(), n as u64, "round {n}");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let unmapped = unloader.join().expect("the unloading thread");
    // SAFETY: as above; no other thread is left.
    let last = unsafe { live.unload_retired() }.unmapped;
    assert_eq!(unmapped + last, ROUNDS);
}

#[test]
fn a_file_loaded_in_place_and_unloaded_two_thousand_times_still_loads() {
    // Each load of a file in place opens it under a name the dynamic loader has not seen
    // while an earlier library of that name is loaded; names of unloaded libraries are used
    // again, so they do not grow (past about 2,000 loads, `dir/././...` was too long a name).
    let dir = scratch("unload-in-place-names");
    let path = dir.join(library_file_name("greeter"));
    fs::write(
        &path,
        crate::snapshots::variant(Fixture::GreeterEn, "0.1.0-in-place-names"),
    )
    .unwrap();
    let loader = crate::support::loader().mode(LoadMode::InPlace);
    for round in 0..2_100 {
        let greeter = loader
            .load(&path)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert_eq!(greeter.add(round, 1).unwrap(), round + 1);
        // SAFETY: no call is running and nothing the plugin returned is alive.
        let unloaded = unsafe { greeter.unload() }.unwrap();
        assert_eq!(unloaded, Unloaded::Unmapped, "round {round}");
    }
}

#[test]
fn a_file_loaded_in_place_that_stayed_mapped_is_initialised_again_only_after_its_on_unload() {
    // A library kept mapped after its unload (its own thread-local on this thread) is the one
    // the dynamic loader returns for the same file. Its `on_unload` ran at the unload: loading
    // it again runs `on_load` again (once), so that the two pair up.
    let dir = scratch("unload-in-place-mapped");
    let path = dir.join(library_file_name("counting"));
    fs::write(
        &path,
        crate::snapshots::variant(Fixture::Counting, "0.1.0-in-place-mapped"),
    )
    .unwrap();
    let loader = crate::support::loader().mode(LoadMode::InPlace);
    let first = loader.load(&path).unwrap();
    assert_eq!(crate::loading::on_load_count(&first), 1);
    let second = loader.load(&path).unwrap();
    assert_eq!(
        crate::loading::on_load_count(&second),
        1,
        "one library, one on_load"
    );
    drop(second);
    // SAFETY: no call is running and nothing the plugin returned is alive.
    assert_eq!(unsafe { first.unload() }.unwrap(), Unloaded::StillMapped);
    let again = loader.load(&path).unwrap();
    let unloads = crate::loading::fixture_counter(&again, "XPLUG_FIXTURE_ON_UNLOAD_COUNT");
    assert_eq!(
        (crate::loading::on_load_count(&again), unloads),
        (2, 1),
        "on_load, on_unload, on_load"
    );
    assert_eq!(again.add(1, 2).unwrap(), 3);
}

#[test]
fn on_unload_runs_before_the_library_closes_and_may_refuse_panic_or_outlast_the_wait() {
    use std::sync::atomic::Ordering::SeqCst;
    use xplug_loader::KeptLoaded;
    let dir = scratch("unload-hook");
    let path = dir.join(library_file_name("counting"));
    fs::write(
        &path,
        crate::snapshots::variant(Fixture::Counting, "0.1.0-unload-hook"),
    )
    .unwrap();
    let wait = Duration::from_millis(300);
    let plugin = crate::support::loader()
        .unload_wait(wait)
        .load(&path)
        .unwrap();
    // SAFETY: the fixture keeps itself mapped (a thread-local on this thread), so its statics
    // stay readable after the unload, which the test asserts before it reads `count` then.
    let (mode, count) = unsafe {
        (
            crate::loading::fixture_static(&plugin, "XPLUG_FIXTURE_ON_UNLOAD_MODE"),
            crate::loading::fixture_static(&plugin, "XPLUG_FIXTURE_ON_UNLOAD_COUNT"),
        )
    };

    mode.store(1, SeqCst);
    // SAFETY: no call is running and nothing the plugin returned is alive.
    let kept = unsafe { plugin.unload() }.expect_err("the hook refuses");
    assert_eq!(
        kept.reason,
        KeptLoaded::HookRefused {
            message: "fixture-counting is busy".into()
        }
    );
    let plugin = kept.plugin;
    assert_eq!(
        plugin.add(2, 3).unwrap(),
        5,
        "a refused unload leaves it serving"
    );

    mode.store(2, SeqCst);
    // SAFETY: as above.
    let kept = unsafe { plugin.unload() }.expect_err("the hook panics");
    match &kept.reason {
        KeptLoaded::HookPanicked { message, .. } => {
            assert_eq!(message, "fixture-counting cannot stop")
        }
        other => panic!("{other}"),
    }
    let plugin = kept.plugin;
    assert_eq!(plugin.add(2, 3).unwrap(), 5);

    mode.store(3, SeqCst);
    let started = Instant::now();
    // SAFETY: as above.
    let kept = unsafe { plugin.unload() }.expect_err("the hook outlasts the wait");
    assert_eq!(kept.reason, KeptLoaded::HookTimedOut { waited: wait });
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the unload waited for the hook"
    );
    mode.store(0, SeqCst);
    // SAFETY: as above.
    let kept = unsafe { kept.plugin.unload() }.expect_err("the first hook still runs");
    assert_eq!(kept.reason, KeptLoaded::HookStillRunning);
    let mut plugin = kept.plugin;
    // Once the slow hook has returned, the unload goes through (its hook runs once more).
    let deadline = Instant::now() + Duration::from_secs(30);
    let unloaded = loop {
        // SAFETY: as above.
        match unsafe { plugin.unload() } {
            Ok(unloaded) => break unloaded,
            Err(kept) if kept.reason == KeptLoaded::HookStillRunning => {
                assert!(Instant::now() < deadline, "the slow hook never returned");
                plugin = kept.plugin;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(kept) => panic!("{kept}"),
        }
    };
    assert_eq!(unloaded, Unloaded::StillMapped);
    assert_eq!(count.load(SeqCst), 4, "refused, panicked, slow, done");
}
