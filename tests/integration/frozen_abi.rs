//! xplug ABI 1, frozen: a plugin built with the `xplug` crates as they were when ABI 1 was
//! released (`tests/fixtures/frozen/abi1/`) loads and answers in a host built from today's code,
//! for as long as this host speaks ABI 1: hooks, calls, panics, objects either side makes, host
//! services, logs and unloading. A host of a later ABI refuses it with a typed error.

use abi_stable::std_types::RSlice;
use greeter_interface::{Callback, CounterBox, GreeterHostBox};
use xplug_loader::{CallErrorKind, ErrorKind};
use xtask::Fixture;

use crate::objects::TestHost;
use crate::support::{loader, plugin};

extern "C" fn triple(v: i64) -> i64 {
    v * 3
}

#[test]
fn a_plugin_built_with_the_frozen_crates_of_abi_1_loads_and_answers() {
    let loaded = loader()
        .host_services(GreeterHostBox::new(TestHost))
        .load(plugin(Fixture::FrozenAbi1));
    if xplug::abi::ABI_VERSION != 1 {
        // A new ABI: ABI 1's plugins are refused before their code runs.
        match loaded.map(|_| ()).unwrap_err().kind() {
            ErrorKind::AbiMismatch { found, .. } => assert_eq!(*found, 1),
            other => panic!("{other:?}"),
        }
        return;
    }
    let frozen = loaded.expect("an ABI 1 plugin loads in every ABI 1 host");
    let info = frozen.info();
    assert_eq!(
        (info.xplug_abi, info.xplug_version.as_str()),
        (1, "0.1.0+abi1")
    );
    assert_eq!(info.interface_version.to_string(), "1.1.0+abi1");

    // Values the plugin returns carry its code (their vtables): each is dropped before unloading.
    assert_eq!(frozen.greet("Ada".into()).unwrap(), "Hello, Ada!");
    assert_eq!(frozen.add(2, 40).unwrap(), 42);
    let words = frozen.words("b a b".into()).unwrap();
    assert_eq!(
        words.iter().map(|w| w.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    drop(words);
    let tripled = frozen
        .map(RSlice::from_slice(&[1, 2]), Callback(triple))
        .unwrap();
    assert_eq!(tripled.as_slice(), [3, 6]);
    drop(tripled);
    assert_eq!(frozen.shout("hi".into()).unwrap(), "HI!");
    // The host's services, reached from the plugin.
    let merci = frozen.translate("merci".into()).unwrap().into_option();
    assert_eq!(merci.unwrap(), "thanks, says the host");
    // A panic, contained and described through the frozen entries.
    let e = frozen.greet("".into()).unwrap_err();
    assert_eq!(e.panic_message(), Some("cannot greet an empty name"));

    // Objects the plugin makes, with the method appended in 1.1 and a contained panic.
    let mut counter = frozen.counter(5).unwrap();
    assert_eq!(counter.next().unwrap(), 6);
    assert_eq!(counter.reset().unwrap(), 6);
    let e = counter.skip(0).unwrap_err();
    assert!(matches!(e.kind(), CallErrorKind::Panicked { .. }), "{e:?}");
    assert_eq!(frozen.live_objects(), 1);
    drop(counter);
    assert_eq!(frozen.live_objects(), 0);
    // An object the host makes, driven by the plugin.
    let mut mine = CounterBox::new(crate::objects::HostCounter {
        value: 10,
        limit: 100,
    });
    assert_eq!(frozen.drive(&mut mine, 2).unwrap(), 12);
    drop(mine);

    // Unloading runs its `on_unload` hook through the frozen entries.
    // SAFETY: nothing the plugin returned is alive any more.
    if unsafe { frozen.unload() }.is_err() {
        panic!("the only handle, no live objects: unloads");
    }
}

/// A later release of xplug that keeps ABI 1 but is another semver-major version of the crate
/// (0.2 to this host's 0.1): ABI 1's crates copied with that version, and the frozen plugin
/// built with them against interface 1.0 (without `shout`). abi_stable holds 0.1 and 0.2 of a
/// crate incompatible; the header's ABI number is what decides, so it loads and answers, its
/// missing function reported as such.
#[test]
#[cfg(target_os = "linux")]
fn a_plugin_built_by_a_semver_major_later_xplug_of_the_same_abi_loads() {
    use std::fs;
    use std::path::Path;

    if xplug::abi::ABI_VERSION != 1 {
        return; // Covered by the refusal above.
    }
    // The fixtures' build first: its compiled dependencies are reused.
    let target = crate::support::plugins().path(Fixture::FrozenAbi1);
    let target_dir = xtask::target_dir().join("xplug-plugins").join("host");
    assert!(target.starts_with(&target_dir), "{}", target.display());
    let fixtures = xtask::repo_root().join("tests/fixtures");
    let work = xtask::target_dir().join("xplug-next-release");
    let _ = fs::remove_dir_all(&work);
    fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let to = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                if entry.file_name() != "target" {
                    copy_dir(&entry.path(), &to);
                }
            } else {
                fs::copy(entry.path(), to).unwrap();
            }
        }
    }
    for krate in ["xplug", "xplug-macros", "greeter-interface"] {
        let to = work.join(krate);
        copy_dir(&fixtures.join("frozen/abi1").join(krate), &to);
        let manifest = to.join("Cargo.toml");
        let text = fs::read_to_string(&manifest).unwrap();
        let text = if krate == "greeter-interface" {
            let lib = to.join("src/lib.rs");
            let source = fs::read_to_string(&lib).unwrap();
            let shout = "    /// `text`, shouted.\n    #[xplug(since = \"1.1\")]\n    fn shout(text: RStr<'_>) -> RString;\n";
            assert!(source.contains(shout));
            fs::write(&lib, source.replace(shout, "")).unwrap();
            text.replace("version = \"1.1.0+abi1\"", "version = \"1.0.0+abi1\"")
        } else {
            text.replace("version = \"0.1.0+abi1\"", "version = \"0.2.0+abi1\"")
        };
        fs::write(&manifest, text).unwrap();
    }
    let plugin = work.join("plugin");
    copy_dir(&fixtures.join("plugins/fixture-frozen-abi1"), &plugin);
    let lib = plugin.join("src/lib.rs");
    let source = fs::read_to_string(&lib).unwrap();
    let shout = "    fn shout(text: RStr<'_>) -> RString {\n        format!(\"{}!\", text.as_str().to_uppercase()).into()\n    }\n";
    assert!(source.contains(shout));
    fs::write(&lib, source.replace(shout, "")).unwrap();
    let manifest = fs::read_to_string(plugin.join("Cargo.toml"))
        .unwrap()
        .replace("../../frozen/abi1/", "../")
        .replace(
            "name = \"fixture-frozen-abi1\"",
            "name = \"fixture-next-release\"",
        );
    // The fixtures' profile, so that their compiled dependencies serve.
    fs::write(
        plugin.join("Cargo.toml"),
        format!("{manifest}\n[workspace]\n\n[profile.dev]\ndebug = false\n"),
    )
    .unwrap();
    fs::copy(fixtures.join("Cargo.lock"), plugin.join("Cargo.lock")).unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["build", "--offline", "--manifest-path"])
        .arg(plugin.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = target_dir
        .join("debug")
        .join(xplug_loader::tools::library_file_name(
            "fixture_next_release",
        ));
    let next = loader()
        .host_services(GreeterHostBox::new(TestHost))
        .load(&file)
        .unwrap_or_else(|e| panic!("{}", e.report()));
    assert_eq!(next.info().xplug_version, "0.2.0+abi1");
    assert_eq!(next.info().interface_version.to_string(), "1.0.0+abi1");
    assert_eq!(next.greet("Ada".into()).unwrap(), "Hello, Ada!");
    match next.shout("hi".into()) {
        Err(e) => assert!(matches!(e.kind(), CallErrorKind::Missing { .. }), "{e:?}"),
        Ok(s) => panic!("`shout` is not in 1.0, yet it answered {s}"),
    }
    let mut counter = next.counter(5).unwrap();
    assert_eq!(counter.next().unwrap(), 6);
    let e = next.greet("".into()).unwrap_err();
    assert_eq!(e.panic_message(), Some("cannot greet an empty name"));
}
