//! Objects made and used in one process: methods, contained panics in methods and in `Drop`,
//! the live-object count, and thread-safety markers in the layout.

use abi_stable::std_types::{RStr, RString};
use abi_stable::StableAbi;
use xplug::CallErrorKind;

/// A stateful parser.
#[xplug::object]
pub trait Parser: Send + Sync {
    /// Parses `text`; panics on empty input.
    fn parse(&mut self, text: RStr<'_>) -> i64;
    /// How many inputs it parsed.
    fn count(&self) -> u64;
    /// Its name.
    fn name(&self) -> RString;
}

/// Not thread-safe.
#[xplug::object]
pub trait Local {
    fn get(&self) -> u32;
}

/// A size the generated code must not shadow.
pub const PLUGIN: usize = 2;

/// Method names and argument types the generated shims must leave to the trait.
#[xplug::object]
pub trait Shelf {
    fn table(&self) -> u32;
    fn first(&self, pair: &[u8; PLUGIN]) -> u8;
}

struct Oak;

impl Shelf for Oak {
    fn table(&self) -> u32 {
        4
    }
    fn first(&self, pair: &[u8; PLUGIN]) -> u8 {
        pair[0]
    }
}

#[test]
fn an_object_trait_may_use_the_names_of_generated_items() {
    let _counting = counting();
    let shelf = ShelfBox::new(Oak);
    assert_eq!(shelf.table().unwrap(), 4);
    assert_eq!(shelf.first(&[7, 8]).unwrap(), 7);
}

struct Decimal {
    parsed: u64,
    panic_on_drop: bool,
}

impl Parser for Decimal {
    fn parse(&mut self, text: RStr<'_>) -> i64 {
        assert!(!text.is_empty(), "nothing to parse");
        self.parsed += 1;
        text.as_str().parse().unwrap_or(-1)
    }
    fn count(&self) -> u64 {
        self.parsed
    }
    fn name(&self) -> RString {
        "decimal".into()
    }
}

impl Drop for Decimal {
    fn drop(&mut self) {
        if self.panic_on_drop {
            panic!("dropped badly");
        }
    }
}

fn decimal(panic_on_drop: bool) -> ParserBox {
    ParserBox::new(Decimal {
        parsed: 0,
        panic_on_drop,
    })
}

#[test]
fn methods_run_and_panics_in_them_come_back_as_errors() {
    let _counting = counting();
    let mut parser = decimal(false);
    assert_eq!(parser.parse("42".into()).unwrap(), 42);
    assert_eq!(parser.count().unwrap(), 1);
    assert_eq!(parser.name().unwrap(), "decimal");
    let e = parser.parse("".into()).unwrap_err();
    assert_eq!(e.function(), "Parser.parse");
    assert_eq!(e.panic_message(), Some("nothing to parse"));
    assert!(matches!(e.kind(), CallErrorKind::Panicked { .. }));
    // The object is still usable after a contained panic.
    assert_eq!(parser.parse("7".into()).unwrap(), 7);
    assert_eq!(parser.count().unwrap(), 2);
}

/// Tests that make objects run one at a time, so that those counting live objects see only
/// their own.
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn counting() -> std::sync::MutexGuard<'static, ()> {
    COUNTING.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_panic_in_drop_is_contained_and_close_reports_it() {
    let _counting = counting();
    let before = xplug::__private::live_objects();
    drop(decimal(true));
    let e = decimal(true).close().unwrap_err();
    assert_eq!(e.function(), "Parser.drop");
    assert_eq!(e.panic_message(), Some("dropped badly"));
    assert!(decimal(false).close().is_ok());
    // Counted as gone although their `Drop` panicked.
    assert_eq!(xplug::__private::live_objects(), before);
}

#[test]
fn objects_are_counted_while_alive() {
    struct One;
    impl Local for One {
        fn get(&self) -> u32 {
            1
        }
    }
    let _counting = counting();
    let before = xplug::__private::live_objects();
    let made: Vec<LocalBox> = (0..1000).map(|_| LocalBox::new(One)).collect();
    assert_eq!(xplug::__private::live_objects(), before + 1000);
    assert_eq!(made.iter().map(|o| o.get().unwrap()).sum::<u32>(), 1000);
    drop(made);
    assert_eq!(xplug::__private::live_objects(), before);
}

#[test]
fn an_object_counts_as_alive_until_its_drop_has_returned() {
    use std::sync::atomic::{AtomicU64, Ordering};
    /// What the count was while the object's code was still running: in the `Drop` of the
    /// payload its own `Drop` panics with, which the guard drops before returning.
    static SEEN: AtomicU64 = AtomicU64::new(u64::MAX);
    struct Payload;
    impl Drop for Payload {
        fn drop(&mut self) {
            SEEN.store(xplug::__private::live_objects(), Ordering::SeqCst);
        }
    }
    struct Late;
    impl Local for Late {
        fn get(&self) -> u32 {
            0
        }
    }
    impl Drop for Late {
        fn drop(&mut self) {
            std::panic::panic_any(Payload);
        }
    }
    let _counting = counting();
    let before = xplug::__private::live_objects();
    drop(LocalBox::new(Late));
    // Counted gone only once its drop shim had returned, not while code of it still ran.
    assert_eq!(SEEN.load(Ordering::SeqCst), before + 1);
    assert_eq!(xplug::__private::live_objects(), before);
}

// Only their layouts are compared.
#[allow(dead_code, unreachable_pub)]
mod sendable {
    /// Declared `Send`.
    #[xplug::object]
    pub trait Probe: Send {
        fn get(&self) -> u32;
    }
}

#[allow(dead_code, unreachable_pub)]
mod not_sendable {
    /// The same trait without `Send`.
    #[xplug::object]
    pub trait Probe {
        fn get(&self) -> u32;
    }
}

#[test]
fn declared_thread_safety_is_part_of_the_layout() {
    use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<ParserBox>();
    let with = <sendable::ProbeBox as StableAbi>::LAYOUT;
    let without = <not_sendable::ProbeBox as StableAbi>::LAYOUT;
    assert!(check_layout_compatibility(with, with).is_ok());
    assert!(check_layout_compatibility(with, without).is_err());
    assert!(check_layout_compatibility(without, with).is_err());
}
