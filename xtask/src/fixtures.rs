//! The test fixtures: real crates under `tests/fixtures/`, one name each.

use std::path::PathBuf;

/// A plugin of `tests/fixtures/plugins/`: the two demo plugins, and fixtures that each
/// differ from the demo plugin `greeter-en` in one way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fixture {
    /// The demo plugin, English.
    GreeterEn,
    /// The demo plugin, French, with an `on_load` hook.
    GreeterFr,
    /// Implements an interface named `farewell`.
    WrongInterface,
    /// Built against `greeter` 2.0.0.
    Major,
    /// Built against `greeter` 1.0.0, before `shout` was appended.
    OlderMinor,
    /// Built against `greeter` 1.2.0, which appends `whisper`.
    NewerMinor,
    /// Claims `greeter` 1.1.0, but `add` takes `u64`.
    ChangedType,
    /// Claims `greeter` 1.1.0, but the callback inside `map`'s parameter changed.
    ChangedNested,
    /// Claims `greeter` 1.1.0, but `words` was removed.
    RemovedFn,
    /// Claims `greeter` 1.1.0, but the object method `Counter::skip` takes a `u32`.
    ChangedObject,
    /// Claims `greeter` 1.1.0, but the host service `GreeterHost::setting` takes a second parameter.
    ChangedHost,
    /// Panics in its `on_load` hook.
    InitPanic,
    /// Refuses to load from its `on_load` hook.
    InitError,
    /// Has a static constructor that writes the file named by `XPLUG_FIXTURE_MARKER`, and
    /// that rewrites the header in memory of a copy whose plugin version reads
    /// `0.1.0-rewrite`; aborts the process if `XPLUG_FIXTURE_CONSTRUCTOR_CRASH` is set.
    Constructor,
    /// Exports a header but no root module.
    NoRootModule,
    /// Counts how often its `on_load` hook runs (`XPLUG_FIXTURE_ON_LOAD_COUNT`), and calls the
    /// host function whose address `XPLUG_FIXTURE_ON_LOAD_CALLBACK` holds (`PID:HEX`) from it.
    /// Its `restore_state` refuses every state handed to it.
    Counting,
    /// The demo's counter plugin (hot reload), first release.
    CounterV1,
    /// The demo's counter plugin, second release: takes over the first one's count.
    CounterV2,
    /// The demo's English plugin built with the frozen crates of xplug ABI 1
    /// (`tests/fixtures/frozen/abi1/`).
    FrozenAbi1,
    /// Crashes, hangs or attacks its channel when `greet` is asked to (isolated plugins).
    Hostile,
    /// The demo's async plugin (`async fn`, the host's timers and executor).
    Clock,
    /// Claims `clock` 1.0.0, but the future of `delayed` yields a `u64`.
    ChangedAsync,
}

impl Fixture {
    /// Every fixture, in the order of `tests/fixtures/README.md`.
    pub const ALL: [Fixture; 22] = [
        Fixture::GreeterEn,
        Fixture::GreeterFr,
        Fixture::WrongInterface,
        Fixture::Major,
        Fixture::OlderMinor,
        Fixture::NewerMinor,
        Fixture::ChangedType,
        Fixture::ChangedNested,
        Fixture::RemovedFn,
        Fixture::ChangedObject,
        Fixture::ChangedHost,
        Fixture::InitPanic,
        Fixture::InitError,
        Fixture::Constructor,
        Fixture::NoRootModule,
        Fixture::Counting,
        Fixture::CounterV1,
        Fixture::CounterV2,
        Fixture::FrozenAbi1,
        Fixture::Hostile,
        Fixture::Clock,
        Fixture::ChangedAsync,
    ];

    /// The package name, also the directory's: `tests/fixtures/plugins/<name>`.
    pub fn name(self) -> &'static str {
        match self {
            Fixture::GreeterEn => "greeter-en",
            Fixture::GreeterFr => "greeter-fr",
            Fixture::WrongInterface => "fixture-wrong-interface",
            Fixture::Major => "fixture-major",
            Fixture::OlderMinor => "fixture-older-minor",
            Fixture::NewerMinor => "fixture-newer-minor",
            Fixture::ChangedType => "fixture-changed-type",
            Fixture::ChangedNested => "fixture-changed-nested",
            Fixture::RemovedFn => "fixture-removed-fn",
            Fixture::ChangedObject => "fixture-changed-object",
            Fixture::ChangedHost => "fixture-changed-host",
            Fixture::InitPanic => "fixture-init-panic",
            Fixture::InitError => "fixture-init-error",
            Fixture::Constructor => "fixture-constructor",
            Fixture::NoRootModule => "fixture-no-root-module",
            Fixture::Counting => "fixture-counting",
            Fixture::CounterV1 => "counter-v1",
            Fixture::CounterV2 => "counter-v2",
            Fixture::FrozenAbi1 => "fixture-frozen-abi1",
            Fixture::Hostile => "fixture-hostile",
            Fixture::Clock => "clock",
            Fixture::ChangedAsync => "fixture-changed-async",
        }
    }
}

/// The fixtures' cargo workspace: `tests/fixtures/`.
pub fn workspace() -> PathBuf {
    crate::repo_root().join("tests").join("fixtures")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_directory_has_a_name_and_every_name_a_directory() {
        let mut on_disk: Vec<String> = std::fs::read_dir(workspace().join("plugins"))
            .expect("tests/fixtures/plugins")
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut named: Vec<String> = Fixture::ALL.iter().map(|f| f.name().to_owned()).collect();
        named.sort();
        assert_eq!(on_disk, named);
    }
}
