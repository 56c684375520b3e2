//! Loading files and directories: one plugin per file, side by side, from many threads.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use greeter_interface::GreeterRef;
use xplug_loader::{ErrorKind, LoadError, Plugin};
use xtask::Fixture;

use crate::support::{loader, plugin, scratch};

/// How often the counting fixture's `on_load` ran, read from the loaded library itself (found
/// through an address inside it; opening it again by that name adds a reference and runs
/// nothing).
#[cfg(target_os = "linux")]
pub(crate) fn on_load_count(plugin: &Plugin<GreeterRef>) -> u32 {
    fixture_counter(plugin, "XPLUG_FIXTURE_ON_LOAD_COUNT")
}

/// The value of a fixture's `#[no_mangle] static AtomicU32` named `symbol`, read from the
/// loaded library itself.
#[cfg(target_os = "linux")]
pub(crate) fn fixture_counter(plugin: &Plugin<GreeterRef>, symbol: &str) -> u32 {
    // SAFETY: read at once, while `plugin` keeps the library loaded.
    unsafe { fixture_static(plugin, symbol) }.load(Ordering::SeqCst)
}

/// A fixture's `#[no_mangle] static AtomicU32` named `symbol`, in the loaded library itself.
///
/// # Safety
/// The reference is used only while the library stays mapped.
#[cfg(target_os = "linux")]
pub(crate) unsafe fn fixture_static(
    plugin: &Plugin<GreeterRef>,
    symbol: &str,
) -> &'static AtomicU32 {
    use std::ffi::{CStr, OsStr};
    use std::os::unix::ffi::OsStrExt;
    let inside = plugin.module().0.to_raw_ptr() as *const libc::c_void;
    // SAFETY: `dladdr` only reads the address and fills `info`, which outlives the call.
    let name = unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        assert!(
            libc::dladdr(inside, &mut info) != 0,
            "the module lies in a library"
        );
        CStr::from_ptr(info.dli_fname).to_bytes().to_vec()
    };
    // SAFETY: RTLD_NOLOAD only finds the library already loaded: nothing runs. The symbol is
    // the fixture's `#[no_mangle] static AtomicU32`.
    unsafe {
        let lib = libloading::os::unix::Library::open(
            Some(OsStr::from_bytes(&name)),
            libc::RTLD_NOLOAD | libc::RTLD_LAZY,
        )
        .expect("the loaded library, by its name");
        let count: libloading::os::unix::Symbol<*const AtomicU32> = lib
            .get(format!("{symbol}\0").as_bytes())
            .expect("fixture exports its counter");
        // The library stays loaded for as long as the caller uses this (the caller's
        // promise); `lib` only dropped the reference this lookup took.
        &**count
    }
}

#[test]
#[cfg(target_os = "linux")]
fn the_same_file_through_other_paths_is_one_plugin_loaded_once() {
    let dir = scratch("same-file");
    let real = plugin(Fixture::Counting);
    let link = dir.join("libcounting-link.so");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&real, &link).unwrap();
    #[cfg(not(unix))]
    fs::copy(&real, &link).unwrap();
    let parent = real.parent().unwrap();
    let dotted: PathBuf = parent
        .join("..")
        .join(parent.file_name().unwrap())
        .join(real.file_name().unwrap());

    let a = loader().load(&real).unwrap();
    let b = loader().load(&dotted).unwrap();
    assert!(a.same_library(&b));
    #[cfg(unix)]
    {
        let c = loader().load(&link).unwrap();
        assert!(a.same_library(&c));
        assert_eq!(c.path(), fs::canonicalize(&real).unwrap());
    }
    assert_eq!(on_load_count(&a), 1);
}

#[test]
#[cfg(target_os = "linux")]
fn eight_threads_get_consistent_results_and_one_load_per_file() {
    let files = [
        plugin(Fixture::Counting),
        plugin(Fixture::GreeterFr),
        plugin(Fixture::GreeterEn),
    ];
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let barrier = Arc::clone(&barrier);
            let files = files.clone();
            thread::spawn(move || {
                barrier.wait();
                // Every thread loads the counting fixture, plus one other file by turns.
                let counting = loader().load(&files[0]).expect("counting fixture loads");
                let other = loader().load(&files[1 + i % 2]).expect("demo plugin loads");
                assert_eq!(counting.add(i as u32, 1).unwrap(), i as u32 + 1);
                (counting, other, i % 2)
            })
        })
        .collect();
    let results: Vec<(Plugin<_>, Plugin<_>, usize)> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    for (counting, other, which) in &results {
        assert!(counting.same_library(&results[0].0));
        let twin = results.iter().find(|r| r.2 == *which).unwrap();
        assert!(other.same_library(&twin.1));
    }
    assert_eq!(on_load_count(&results[0].0), 1);
}

#[test]
fn a_directory_loads_its_plugins_and_reports_each_refused_file() {
    let dir = scratch("plugin-dir");
    for fixture in [Fixture::GreeterEn, Fixture::GreeterFr, Fixture::Major] {
        let from = plugin(fixture);
        fs::copy(&from, dir.join(from.file_name().unwrap())).unwrap();
    }
    let garbage = dir.join(xplug_loader::tools::library_file_name("garbage"));
    fs::write(&garbage, b"not a library").unwrap();
    fs::create_dir(dir.join(xplug_loader::tools::library_file_name("subdir"))).unwrap();
    fs::write(dir.join("README.md"), "ignored: not named like a library").unwrap();

    let report = loader().load_dir(&dir).expect("directory readable");
    let mut names: Vec<&str> = report
        .plugins
        .iter()
        .map(|p| p.info().name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["greeter-en", "greeter-fr"]);
    // Two plugins of one interface side by side, each with its own code.
    let greetings: Vec<String> = report
        .plugins
        .iter()
        .map(|p| p.greet("Zoe".into()).unwrap().into())
        .collect();
    assert!(greetings.contains(&String::from("Hello, Zoe!")));
    assert!(greetings.contains(&String::from("Bonjour, Zoe !")));

    assert_eq!(report.rejected.len(), 3, "{:#?}", report.rejected);
    let kinds: Vec<&'static str> = report
        .rejected
        .iter()
        .map(|e| match e.kind() {
            ErrorKind::VersionMismatch { .. } => "version",
            ErrorKind::NotALibrary { .. } => "garbage",
            ErrorKind::NotAFile { .. } => "directory",
            other => panic!("unexpected rejection {other:?}"),
        })
        .collect();
    for kind in ["version", "garbage", "directory"] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    // Not tried, and said so.
    assert_eq!(report.skipped, [dir.join("README.md")]);
}

/// `load_dir` reads its files on several threads where the host has several cores: what it
/// reports stays in file-name order, and each plugin's `on_load` runs on the calling thread.
/// The counting fixture's `on_load` shows where it ran: it finds this thread's plan (a
/// thread-local) and makes the plan's load.
#[test]
fn a_directory_reports_in_file_name_order_and_runs_on_load_on_the_calling_thread() {
    let dir = scratch("plugin-dir-order");
    let name = |n: &str| xplug_loader::tools::library_file_name(n);
    let files = [
        ("a", Fixture::NewerMinor),
        ("b", Fixture::Major),
        ("d", Fixture::GreeterFr),
        ("e", Fixture::ChangedType),
        ("f", Fixture::GreeterEn),
    ];
    for (file, fixture) in files {
        fs::copy(plugin(fixture), dir.join(name(file))).unwrap();
    }
    // Bytes of its own: a plugin other tests loaded into this process would not run `on_load`
    // again.
    let counting = crate::snapshots::variant(Fixture::Counting, "0.1.0-dir-order");
    fs::write(dir.join(name("c")), counting).unwrap();
    let nested = scratch("plugin-dir-order-nested").join(name("nested"));
    fs::copy(plugin(Fixture::GreeterEn), &nested).unwrap();
    install_callback();
    PLAN.with(|p| {
        *p.borrow_mut() = Some(Plan {
            barrier: None,
            load: nested.clone(),
        })
    });

    let report = loader().load_dir(&dir).expect("directory readable");
    let file_names = |paths: Vec<&Path>| -> Vec<String> {
        paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    let loaded = file_names(report.plugins.iter().map(|p| p.path()).collect());
    assert_eq!(loaded, ["a", "c", "d", "f"].map(name));
    let refused = file_names(report.rejected.iter().map(|e| e.path()).collect());
    assert_eq!(refused, ["b", "e"].map(name));
    assert_eq!(on_load_count(&report.plugins[1]), 1);
    // The counting plugin's `on_load` found the plan on this thread and loaded the file.
    assert!(
        PLAN.with(|p| p.borrow().is_none()),
        "on_load did not run on the thread that called load_dir"
    );
    let outcomes = nested_outcome(&nested);
    assert!(
        matches!(outcomes.as_slice(), [None]),
        "the nested load: {outcomes:?}"
    );
}

#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn a_symlink_in_a_directory_is_reported_by_its_entry_with_its_target() {
    let dir = scratch("symlink-dir");
    let link = dir.join(xplug_loader::tools::library_file_name("z"));
    std::os::unix::fs::symlink(crate::bad_inputs::LIBZ, &link).unwrap();
    let target = fs::canonicalize(crate::bad_inputs::LIBZ).unwrap();
    assert_ne!(target, link, "a symlink to another file");

    let report = loader().load_dir(&dir).expect("directory readable");
    assert!(report.plugins.is_empty());
    let [refused] = report.rejected.as_slice() else {
        panic!("{:#?}", report.rejected)
    };
    assert!(
        matches!(refused.kind(), ErrorKind::NotAPlugin { .. }),
        "{refused}"
    );
    // The entry to remove, and where it leads.
    assert_eq!(refused.path(), link);
    assert_eq!(refused.target(), Some(target.as_path()));
    let text = refused.report().to_string();
    assert_eq!(
        text.lines().next().unwrap(),
        format!(
            "error: plugin rejected: {} -> {}",
            link.display(),
            target.display()
        ),
        "{text}"
    );
    assert!(
        text.contains("help: remove it from the plugin directory"),
        "{text}"
    );
    let json = serde_json::to_value(refused.diagnostic()).unwrap();
    assert_eq!(json["file"], link.display().to_string());
    assert_eq!(json["target"], target.display().to_string());

    // A plugin reached through a symlink loads; a refused one names the link too.
    let fr = dir.join(xplug_loader::tools::library_file_name("fr"));
    std::os::unix::fs::symlink(plugin(Fixture::GreeterFr), &fr).unwrap();
    let major = dir.join(xplug_loader::tools::library_file_name("major"));
    std::os::unix::fs::symlink(plugin(Fixture::Major), &major).unwrap();
    assert!(loader().load(&fr).is_ok());
    let e = loader().load(&major).map(|_| ()).unwrap_err();
    assert_eq!(
        (e.path(), e.target()),
        (
            major.as_path(),
            Some(fs::canonicalize(plugin(Fixture::Major)).unwrap().as_path())
        )
    );
}

/// What the counting fixture's `on_load` does on this thread when it calls back into the host:
/// wait at the barrier, if any, then load the path, recording the outcome.
struct Plan {
    barrier: Option<Arc<Barrier>>,
    load: PathBuf,
}

thread_local! {
    static PLAN: std::cell::RefCell<Option<Plan>> = const { std::cell::RefCell::new(None) };
}

/// Loads from inside a plugin's `on_load`: (the path loaded, the error kind if refused).
static NESTED: Mutex<Vec<(PathBuf, Option<LoadError>)>> = Mutex::new(Vec::new());

/// What the counting fixture's `on_load` does on threads that have no [`Plan`]
/// ([`on_other_threads`]).
type Action = Arc<dyn Fn() + Send + Sync>;
static ON_OTHER_THREADS: Mutex<Vec<Action>> = Mutex::new(Vec::new());

/// Has the counting fixture's `on_load` run `action` on every thread without a [`Plan`] (e.g.
/// a watcher's worker), from now on.
pub(crate) fn on_other_threads(action: Action) {
    install_callback();
    ON_OTHER_THREADS.lock().unwrap().push(action);
}

extern "C" fn load_from_on_load() {
    if PLAN.with(|p| p.borrow().is_none()) {
        let actions = ON_OTHER_THREADS.lock().unwrap().clone();
        for action in actions {
            action();
        }
    }
    if let Some(plan) = PLAN.with(|p| p.borrow_mut().take()) {
        if let Some(barrier) = plan.barrier {
            barrier.wait();
        }
        let outcome = loader().load(&plan.load).err();
        NESTED.lock().unwrap().push((plan.load, outcome));
    }
}

/// Points the counting fixture's `on_load` at `load_from_on_load`.
fn install_callback() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let address = load_from_on_load as extern "C" fn() as usize;
        let value = format!("{}:{address:x}", std::process::id());
        std::env::set_var("XPLUG_FIXTURE_ON_LOAD_CALLBACK", value);
    });
}

fn nested_outcome(path: &Path) -> Vec<Option<ErrorKind>> {
    NESTED
        .lock()
        .unwrap()
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, outcome)| outcome.as_ref().map(|e| e.kind().clone()))
        .collect()
}

/// Loads a fresh copy of the counting fixture at `path` whose `on_load` loads `path` again;
/// returns the outer load's outcome and the nested load's error, if any.
pub(crate) fn load_own_file(
    path: &Path,
) -> (Result<Plugin<GreeterRef>, LoadError>, Option<LoadError>) {
    install_callback();
    PLAN.with(|p| {
        *p.borrow_mut() = Some(Plan {
            barrier: None,
            load: path.to_path_buf(),
        })
    });
    let outer = loader().load(path);
    let nested = NESTED
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find(|(p, _)| p == path)
        .and_then(|(_, e)| e.clone());
    (outer, nested)
}

/// Runs `f` on a thread and returns its result, failing the test (not hanging it) if it takes
/// more than 30 seconds: a deadlock.
fn within_30_seconds<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (send, receive) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = send.send(f());
    });
    receive
        .recv_timeout(Duration::from_secs(30))
        .expect("finished within 30 seconds: no deadlock")
}

#[test]
fn an_on_load_that_loads_its_own_file_gets_an_error_at_once() {
    let dir = scratch("reentrant-own");
    let path = dir.join(xplug_loader::tools::library_file_name("own"));
    fs::write(
        &path,
        crate::snapshots::variant(Fixture::Counting, "0.1.0-own"),
    )
    .unwrap();
    let plugin = within_30_seconds({
        let path = path.clone();
        move || load_own_file(&path).0.map_err(|e| e.to_string())
    })
    .expect("the outer load succeeds");
    let outcomes = nested_outcome(&path);
    assert!(
        matches!(
            outcomes.as_slice(),
            [Some(ErrorKind::Reentrant {
                step: "on_load hook",
                ..
            })]
        ),
        "{outcomes:?}"
    );
    assert_eq!(plugin.add(1, 1).unwrap(), 2);
}

#[test]
fn two_plugins_that_load_each_other_on_two_threads_do_not_hang() {
    install_callback();
    let dir = scratch("reentrant-pair");
    let a = dir.join(xplug_loader::tools::library_file_name("a"));
    let b = dir.join(xplug_loader::tools::library_file_name("b"));
    fs::write(&a, crate::snapshots::variant(Fixture::Counting, "0.1.0-a")).unwrap();
    fs::write(&b, crate::snapshots::variant(Fixture::Counting, "0.1.0-b")).unwrap();
    // Both on_load hooks are running before either loads the other.
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = [(a.clone(), b.clone()), (b.clone(), a.clone())]
        .into_iter()
        .map(|(first, then)| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                PLAN.with(|p| {
                    *p.borrow_mut() = Some(Plan {
                        barrier: Some(barrier),
                        load: then,
                    })
                });
                loader().load(&first).map(|_| ()).map_err(|e| e.to_string())
            })
        })
        .collect();
    within_30_seconds(move || {
        for t in threads {
            t.join().unwrap().expect("both outer loads succeed");
        }
    });
    let mut outcomes = nested_outcome(&a);
    outcomes.extend(nested_outcome(&b));
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Some(ErrorKind::Reentrant { .. })))
        .count();
    assert_eq!((outcomes.len(), refused), (2, 1), "{outcomes:?}");
}
