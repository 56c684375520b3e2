//! What plugin APIs are made of beyond root-module functions: objects made by either side
//! (`#[xplug::object]`), the services a host hands its plugins, and plugins' `log` records
//! reaching the host's logger. Each test loads its own variant of a fixture, so that what it
//! hands the plugin at load (services, the log level) is not a handle another test loaded
//! first.

use std::fs;
use std::sync::{Mutex, Once};

use abi_stable::std_types::{RNone, ROption, RSome, RStr, RString};
use greeter_interface::{Counter, CounterBox, GreeterHost, GreeterHostBox};
use xplug_loader::CallErrorKind;
use xtask::Fixture;

use crate::snapshots::variant;
use crate::support::{loader, scratch};

/// A fixture's variant, written to its own file.
fn variant_file(fixture: Fixture, version: &str) -> std::path::PathBuf {
    let path =
        scratch(&format!("objects-{version}")).join(xplug_loader::tools::library_file_name("v"));
    fs::write(&path, variant(fixture, version)).unwrap();
    path
}

#[test]
fn an_object_made_by_a_plugin_contains_its_panics_and_keeps_the_plugin_loaded() {
    let path = variant_file(Fixture::GreeterEn, "0.3.0-objects");
    let plugin = loader().load(&path).unwrap();
    let mut counter = plugin.counter(5).unwrap();
    assert_eq!(counter.next().unwrap(), 6);
    let e = counter.skip(0).unwrap_err();
    assert_eq!(e.function(), "Counter.skip");
    assert_eq!(e.panic_message(), Some("cannot skip zero steps"));
    assert_eq!(
        counter.skip(4).unwrap(),
        10,
        "usable after a contained panic"
    );
    assert_eq!(plugin.live_objects(), 1);
    // SAFETY: nothing of the plugin is used after a successful unload.
    let kept = unsafe { plugin.unload() }.expect_err("an object of it is alive");
    assert_eq!(
        kept.reason,
        xplug_loader::KeptLoaded::LiveObjects { count: 1 }
    );
    let plugin = kept.plugin;
    drop(counter);
    assert_eq!(plugin.live_objects(), 0);
    // SAFETY: as above: no object, no other handle, no call left.
    assert!(unsafe { plugin.unload() }.is_ok());
}

/// A counter the host makes; panics past `limit`.
pub(crate) struct HostCounter {
    pub(crate) value: u64,
    pub(crate) limit: u64,
}

impl Counter for HostCounter {
    fn next(&mut self) -> u64 {
        assert!(self.value < self.limit, "the host's counter ran out");
        self.value += 1;
        self.value
    }
    fn skip(&mut self, steps: u64) -> u64 {
        self.value += steps;
        self.value
    }
    fn reset(&mut self) -> u64 {
        std::mem::take(&mut self.value)
    }
}

#[test]
fn an_object_made_by_the_host_runs_in_the_host_when_a_plugin_calls_it() {
    let plugin = loader()
        .load(crate::support::plugin(Fixture::GreeterFr))
        .unwrap();
    let mut mine = CounterBox::new(HostCounter {
        value: 0,
        limit: 10,
    });
    assert_eq!(plugin.drive(&mut mine, 3).unwrap(), 3);
    assert_eq!(mine.next().unwrap(), 4, "the host's object kept its state");
    // The host's panic is contained in the host, comes back to the plugin as an error, on
    // which the plugin panics in turn: contained in the plugin.
    let e = plugin.drive(&mut mine, 100).unwrap_err();
    assert_eq!(e.function(), "drive");
    assert!(
        e.panic_message()
            .unwrap()
            .contains("the host's counter failed"),
        "{e}"
    );
    assert!(matches!(e.kind(), CallErrorKind::Panicked { .. }));
}

/// Services whose `setting` knows one word, and panics on `boom`.
pub(crate) struct TestHost;

/// Another tenant's services.
struct OtherHost;

impl GreeterHost for OtherHost {
    fn setting(&self, key: RStr<'_>) -> ROption<RString> {
        match key.as_str() {
            "merci" => RSome(RString::from("thanks, says the other host")),
            _ => RNone,
        }
    }
}

impl GreeterHost for TestHost {
    fn setting(&self, key: RStr<'_>) -> ROption<RString> {
        match key.as_str() {
            "merci" => RSome("thanks, says the host".into()),
            "boom" => panic!("the host's service failed on purpose"),
            _ => RNone,
        }
    }
}

#[test]
fn host_services_reach_the_plugin_and_their_panics_come_back_as_errors() {
    let path = variant_file(Fixture::GreeterEn, "0.3.0-host-services");
    let with_host = loader().host_services(GreeterHostBox::new(TestHost));
    let plugin = with_host.load(&path).unwrap();
    assert_eq!(
        plugin
            .translate("merci".into())
            .unwrap()
            .into_option()
            .unwrap(),
        "thanks, says the host"
    );
    assert_eq!(
        plugin
            .translate("hello".into())
            .unwrap()
            .into_option()
            .unwrap(),
        "hello",
        "the plugin's own word where the host has none"
    );
    let e = plugin.translate("boom".into()).unwrap_err();
    assert!(
        e.panic_message()
            .unwrap()
            .contains("the host's setting service failed"),
        "{e}"
    );

    // A clone of the loader shares its services, and so the plugin. A loader with other
    // services (or none) gets an instance of its own, answering with its own services: one
    // tenant's services never answer another's plugin.
    assert!(with_host.clone().load(&path).unwrap().same_library(&plugin));
    let other = loader()
        .host_services(GreeterHostBox::new(OtherHost))
        .load(&path)
        .unwrap();
    assert!(!other.same_library(&plugin));
    let merci = |p: &xplug_loader::Plugin<greeter_interface::GreeterRef>| {
        p.translate("merci".into()).unwrap().into_option()
    };
    assert_eq!(merci(&other).unwrap(), "thanks, says the other host");
    assert_eq!(merci(&plugin).unwrap(), "thanks, says the host");
    assert!(merci(&loader().load(&path).unwrap()).is_none());
    // In place, the file is one instance: a loader with other services is refused.
    let in_place = variant_file(Fixture::GreeterEn, "0.3.0-host-services-in-place");
    let mode = xplug_loader::LoadMode::InPlace;
    with_host.clone().mode(mode).load(&in_place).unwrap();
    match loader()
        .mode(mode)
        .load(&in_place)
        .map(|_| ())
        .unwrap_err()
        .kind()
    {
        xplug_loader::ErrorKind::ServicesDiffer { .. } => {}
        kind => panic!("{kind:?}"),
    }

    // A plugin loaded without services sees none.
    let without = variant_file(Fixture::GreeterEn, "0.3.0-no-host-services");
    let plugin = loader().load(&without).unwrap();
    assert!(plugin.translate("merci".into()).unwrap().is_none());
}

/// One record as the host's logger saw it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub(crate) level: log::Level,
    pub(crate) target: String,
    pub(crate) module_path: Option<String>,
    pub(crate) file: Option<String>,
    pub(crate) line: Option<u32>,
    pub(crate) message: String,
}

pub(crate) struct TestLogger {
    seen: Mutex<Vec<Seen>>,
}

impl log::Log for TestLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        self.seen.lock().unwrap().push(Seen {
            level: record.level(),
            target: record.target().to_owned(),
            module_path: record.module_path().map(str::to_owned),
            file: record.file().map(str::to_owned),
            line: record.line(),
            message: record.args().to_string(),
        });
    }

    fn flush(&self) {}
}

static LOGGER: TestLogger = TestLogger {
    seen: Mutex::new(Vec::new()),
};

/// This process's logger, at level info: set once, for every test here.
pub(crate) fn logger() -> &'static TestLogger {
    static SET: Once = Once::new();
    SET.call_once(|| {
        log::set_logger(&LOGGER).expect("no other logger in the tests");
        log::set_max_level(log::LevelFilter::Info);
    });
    &LOGGER
}

pub(crate) fn seen_with(message: &str) -> Vec<Seen> {
    let seen = logger().seen.lock().unwrap();
    seen.iter()
        .filter(|s| s.message == message)
        .cloned()
        .collect()
}

#[test]
fn log_records_of_two_plugins_reach_the_host_logger_with_their_fields() {
    logger();
    let en = loader()
        .load(variant_file(Fixture::GreeterEn, "0.3.0-log"))
        .unwrap();
    let fr = loader()
        .load(variant_file(Fixture::GreeterFr, "0.2.0-log"))
        .unwrap();
    en.greet("Logan".into()).unwrap();
    fr.greet("Logan".into()).unwrap();
    let english = seen_with("greeting Logan");
    assert_eq!(english.len(), 1, "{english:?}");
    let english = &english[0];
    assert_eq!(english.level, log::Level::Info);
    assert_eq!(english.target, "greeter_en");
    assert_eq!(english.module_path.as_deref(), Some("greeter_en"));
    assert!(
        english.file.as_deref().unwrap().ends_with("lib.rs"),
        "{english:?}"
    );
    assert!(english.line.unwrap() > 0);
    let french = seen_with("salutation de Logan");
    assert_eq!(french.len(), 1, "{french:?}");
    assert_eq!(french[0].target, "greeter_fr");
}

#[test]
#[cfg(target_os = "linux")]
fn a_log_statement_below_the_host_level_formats_nothing_and_follows_the_host_level() {
    use crate::loading::fixture_counter;
    logger();
    let plugin = loader()
        .load(variant_file(Fixture::Counting, "0.1.0-log-level"))
        .unwrap();
    plugin.greet("Quiet".into()).unwrap();
    // `debug!("about to greet {}", ..)` is below the host's level: its argument is never
    // formatted; `info!("greeting {}", ..)` is formatted once.
    assert_eq!(fixture_counter(&plugin, "XPLUG_FIXTURE_FORMATTED"), 1);
    assert_eq!(seen_with("greeting Quiet").len(), 1);
    assert!(seen_with("about to greet Quiet").is_empty());

    // The host lowers its threshold after the plugin loaded: the plugin follows.
    xplug_loader::set_max_log_level(log::LevelFilter::Debug);
    plugin.greet("Loud".into()).unwrap();
    xplug_loader::set_max_log_level(log::LevelFilter::Info);
    assert_eq!(fixture_counter(&plugin, "XPLUG_FIXTURE_FORMATTED"), 3);
    let debug = seen_with("about to greet Loud");
    assert_eq!(debug.len(), 1, "{debug:?}");
    assert_eq!(debug[0].level, log::Level::Debug);
    plugin.greet("Quiet again".into()).unwrap();
    assert!(seen_with("about to greet Quiet again").is_empty());

    // An isolated plugin's process follows too, from its next call.
    let outside = crate::isolation::isolated(crate::isolation::own())
        .load(crate::support::plugin(Fixture::Counting))
        .unwrap();
    outside.greet("Far".into()).unwrap();
    xplug_loader::set_max_log_level(log::LevelFilter::Debug);
    outside.greet("Far and loud".into()).unwrap();
    xplug_loader::set_max_log_level(log::LevelFilter::Info);
    outside.greet("Far again".into()).unwrap();
    // One pipe, in order: once the last record is here, the others are.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while seen_with("greeting Far again").is_empty() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(seen_with("greeting Far again").len(), 1);
    assert!(seen_with("about to greet Far").is_empty());
    assert_eq!(seen_with("about to greet Far and loud").len(), 1);
    assert!(seen_with("about to greet Far again").is_empty());
}
