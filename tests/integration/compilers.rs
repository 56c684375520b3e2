//! The compatibility grid, plugin side: the demo plugins and the mismatched fixtures, built by each
//! compiler of `xtask::Compiler::ALL`, loaded by this host (built by the host's compiler).
//!
//! Every compatible plugin must load and every function must return the right value; every
//! mismatched fixture must be refused with the same error, with the same facts, as its twin
//! built by the host's compiler. A compiler missing from the machine skips its cell with a
//! printed reason, except in CI (`CI` set) for the cells CI must run.

use abi_stable::std_types::{RResult, RSlice};
use greeter_interface::{Callback, GreeterRef};
use std::sync::OnceLock;
use xplug_loader::{CallErrorKind, ErrorKind, LoadError, Plugin};

use xtask::{BuiltPlugins, Compiler, Fixture, Toolchain};

use crate::support::{in_ci, loader, notice, plugin, plugins};

/// Plugins that must load, and the language of their answers.
pub(crate) const COMPATIBLE: &[(Fixture, Lang)] = &[
    (Fixture::GreeterEn, Lang::En),
    (Fixture::GreeterFr, Lang::Fr),
    (Fixture::OlderMinor, Lang::En),
    (Fixture::NewerMinor, Lang::En),
];

/// Fixtures that must be refused.
pub(crate) const MISMATCHED: &[Fixture] = &[
    Fixture::WrongInterface,
    Fixture::Major,
    Fixture::ChangedType,
    Fixture::ChangedNested,
    Fixture::RemovedFn,
    Fixture::ChangedObject,
    Fixture::ChangedHost,
    Fixture::InitPanic,
    Fixture::InitError,
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    En,
    Fr,
}

extern "C" fn triple(x: i64) -> i64 {
    x * 3
}

/// Calls every function of the interface and checks each answer.
fn check_every_function(p: &Plugin<GreeterRef>, fixture: Fixture, lang: Lang) {
    let name = fixture.name();
    let ctx = |what: &str| format!("{name} ({}): {what}", p.info().rustc);
    let (hello, shouted, step) = match lang {
        Lang::En => ("Hello, Ada!", "HI!", 1),
        Lang::Fr => ("Bonjour, Ada !", "HI !", 10),
    };
    assert_eq!(p.greet("Ada".into()).unwrap(), hello, "{}", ctx("greet"));
    assert_eq!(p.add(40, 2).unwrap(), 42, "{}", ctx("add"));
    let words = p.words("b a b".into()).unwrap();
    assert_eq!(words.as_slice(), ["a", "b"], "{}", ctx("words"));
    let tripled = p
        .map(RSlice::from_slice(&[1, -2]), Callback(triple))
        .unwrap();
    assert_eq!(
        tripled.as_slice(),
        [3, -6],
        "{}",
        ctx("map with a callback")
    );
    let mut counter = p.counter(7).unwrap();
    assert_eq!(
        (counter.next().unwrap(), counter.next().unwrap()),
        (7 + step, 7 + 2 * step),
        "{}",
        ctx("object")
    );
    let skipped = counter.skip(0).unwrap_err();
    assert_eq!(
        skipped.function(),
        "Counter.skip",
        "{}",
        ctx("a panic in an object's method")
    );
    assert!(counter.close().is_ok(), "{}", ctx("an object's drop"));
    let mut mine = greeter_interface::CounterBox::new(crate::support::Upward(0));
    assert_eq!(
        p.drive(&mut mine, 3).unwrap(),
        3,
        "{}",
        ctx("an object made by the host")
    );
    let (known, english) = match lang {
        Lang::En => ("thanks", "thanks"),
        Lang::Fr => ("merci", "thanks"),
    };
    assert_eq!(
        p.translate(known.into()).unwrap().into_option().as_deref(),
        Some(english),
        "{}",
        ctx("translate (Some)")
    );
    assert!(
        p.translate("zzz".into()).unwrap().is_none(),
        "{}",
        ctx("translate (None)")
    );
    assert_eq!(
        p.parse_number(" 42 ".into()).unwrap(),
        RResult::ROk(42),
        "{}",
        ctx("parse_number (Ok)")
    );
    assert!(
        p.parse_number("x".into()).unwrap().is_err(),
        "{}",
        ctx("parse_number (Err)")
    );
    match (fixture, p.shout("hi".into())) {
        (Fixture::OlderMinor, Err(e))
            if e.function() == "shout" && matches!(e.kind(), CallErrorKind::Missing { .. }) => {}
        (Fixture::OlderMinor, other) => panic!("{}: {other:?}", ctx("shout must be missing")),
        (_, Ok(s)) => assert_eq!(s, shouted, "{}", ctx("shout (appended in 1.1)")),
        (_, Err(e)) => panic!("{}: {e}", ctx("shout")),
    }
    let mut counter = p.counter(3).unwrap();
    match (fixture, counter.reset()) {
        (Fixture::OlderMinor, Err(e))
            if e.function() == "Counter.reset"
                && matches!(e.kind(), CallErrorKind::Missing { .. }) => {}
        (Fixture::OlderMinor, other) => {
            panic!("{}: {other:?}", ctx("Counter.reset must be missing"))
        }
        (_, Ok(reached)) => assert_eq!(reached, 3, "{}", ctx("Counter.reset (appended in 1.1)")),
        (_, Err(e)) => panic!("{}: {e}", ctx("Counter.reset")),
    }
    match p.greet("".into()) {
        Err(e) if e.function() == "greet" && e.panic_message().is_some() => {
            let message = e.panic_message().unwrap_or_default();
            assert!(
                message.contains("greet") || message.contains("saluer"),
                "{message}"
            )
        }
        other => panic!("{}: {other:?}", ctx("a panic must come back as an error")),
    }
}

/// The facts of a rejection that must not depend on the compiler that built the plugin.
fn facts(e: &LoadError) -> String {
    let plugin = e
        .plugin()
        .map(|p| {
            format!(
                "{} {} for {} {}",
                p.name, p.version, p.interface_name, p.interface_version
            )
        })
        .unwrap_or_default();
    let specific = match e.kind() {
        ErrorKind::InterfaceMismatch { expected, .. } => format!("expected interface {expected}"),
        ErrorKind::VersionMismatch {
            required,
            host_version,
            ..
        } => {
            format!("required {required}, host {host_version:?}")
        }
        ErrorKind::LayoutMismatch {
            host_version,
            difference,
            ..
        } => {
            format!("host {host_version}: {difference}")
        }
        ErrorKind::InitPanicked { message, .. } | ErrorKind::InitFailed { message, .. } => {
            message.clone()
        }
        other => format!("unexpected rejection: {other}"),
    };
    format!("{:?} / {plugin} / {specific}", e.stage())
}

/// The toolchain of `compiler` and everything it builds (the plugins, the fixtures and, but
/// for the host's compiler, the demo host), built once per test run; or why this machine
/// cannot.
pub(crate) fn built(compiler: Compiler) -> Result<(Toolchain, BuiltPlugins), String> {
    static BUILT: [OnceLock<Result<(Toolchain, BuiltPlugins), String>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let index = Compiler::ALL
        .iter()
        .position(|&c| c == compiler)
        .expect("a compiler of the matrix");
    BUILT[index]
        .get_or_init(|| {
            let toolchain = compiler.toolchain()?;
            let built = if compiler == Compiler::Host {
                plugins().clone()
            } else {
                // A failed build fails the test: only a missing compiler may skip a cell.
                xtask::build(&toolchain).unwrap_or_else(|e| panic!("{e}"))
            };
            Ok((toolchain, built))
        })
        .clone()
}

/// [`built`], or `None` with a printed reason where this machine lacks the compiler (in CI,
/// for a compiler CI must have, a failure instead). `cell` names what is skipped.
pub(crate) fn built_or_skip(compiler: Compiler, cell: &str) -> Option<(Toolchain, BuiltPlugins)> {
    match built(compiler) {
        Ok(built) => Some(built),
        Err(why) => {
            assert!(
                !(in_ci() && compiler.required_in_ci()),
                "{cell} must run in CI, but: {why}"
            );
            notice(&format!("SKIPPED {cell}: {why}"));
            None
        }
    }
}

fn run_cell(compiler: Compiler) {
    let cell = format!("the matrix cell {}", compiler.name());
    let (toolchain, built) = match built_or_skip(compiler, &cell) {
        Some(built) => built,
        None => return,
    };
    for &(fixture, lang) in COMPATIBLE {
        let name = fixture.name();
        let p = loader().load(built.path(fixture)).unwrap_or_else(|e| {
            panic!(
                "{} built by {}:\n{}",
                name,
                toolchain.rustc_version,
                e.report()
            )
        });
        assert_eq!(
            p.info().rustc,
            toolchain.rustc_version,
            "{name}: header names its compiler"
        );
        check_every_function(&p, fixture, lang);
    }
    #[cfg(target_os = "linux")]
    newer_plugin_hears_missing(&built, &toolchain);
    for &fixture in MISMATCHED {
        let name = fixture.name();
        let refused = match loader().load(built.path(fixture)) {
            Ok(_) => panic!(
                "{name} built by {} loaded, but must be refused",
                toolchain.rustc_version
            ),
            Err(e) => e,
        };
        let twin = loader()
            .load(plugin(fixture))
            .expect_err("the host-built twin is refused too");
        assert_eq!(
            facts(&refused),
            facts(&twin),
            "{name} built by {}",
            toolchain.rustc_version
        );
    }
    notice(&format!(
        "matrix: {} ({}): {} plugins load and every function answers right; {} mismatched fixtures refused as when built by the host's compiler",
        compiler.name(),
        toolchain.rustc_version,
        COMPATIBLE.len(),
        MISMATCHED.len()
    ));
}

/// The plugin of greeter 1.2 in this 1.1 host that offers services: calling the host service
/// appended in 1.2 is `Missing` to it, and its objects (which have a method more than this
/// host knows) answer what the host calls.
#[cfg(target_os = "linux")]
fn newer_plugin_hears_missing(built: &BuiltPlugins, toolchain: &Toolchain) {
    let ctx = format!(
        "{} built by {}",
        Fixture::NewerMinor.name(),
        toolchain.rustc_version
    );
    let p = loader()
        .host_services(greeter_interface::GreeterHostBox::new(
            crate::objects::TestHost,
        ))
        .load(built.path(Fixture::NewerMinor))
        .unwrap_or_else(|e| panic!("{ctx}:\n{}", e.report()));
    // SAFETY: read at once, while `p` keeps the library loaded.
    let heard = unsafe { crate::loading::fixture_static(&p, "XPLUG_FIXTURE_HOST_SERVICE") }
        .load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        heard, 2,
        "{ctx}: the host service appended in 1.2 (0: no services, 1: answered, 2: missing, 3: another error)"
    );
    let mut counter = p.counter(4).unwrap();
    assert_eq!(counter.next().unwrap(), 5, "{ctx}: an object of 1.2");
    assert_eq!(counter.reset().unwrap(), 5, "{ctx}: an object of 1.2");
}

#[test]
fn plugins_built_by_the_host_compiler() {
    run_cell(Compiler::Host);
}

#[test]
fn plugins_built_by_nightly_with_randomized_layouts() {
    run_cell(Compiler::NightlyRandomized);
}

#[test]
fn plugins_built_by_debian_rustc_1_85() {
    run_cell(Compiler::Debian185);
}

#[test]
fn plugins_built_by_debian_rustc_1_63() {
    run_cell(Compiler::Debian163);
}
