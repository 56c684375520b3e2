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

#[test]
fn a_panic_in_drop_is_contained_and_close_reports_it() {
    let before = xplug::__private::live_objects();
    drop(decimal(true));
    let e = decimal(true).close().unwrap_err();
    assert_eq!(e.function(), "Parser.drop");
    assert_eq!(e.panic_message(), Some("dropped badly"));
    assert!(decimal(false).close().is_ok());
    assert!(xplug::__private::live_objects() <= before);
}

#[test]
fn objects_are_counted_while_alive() {
    struct One;
    impl Local for One {
        fn get(&self) -> u32 {
            1
        }
    }
    // Other tests run in parallel: count only this thread's objects by difference of many.
    let made: Vec<LocalBox> = (0..1000).map(|_| LocalBox::new(One)).collect();
    assert!(xplug::__private::live_objects() >= 1000);
    assert_eq!(made.iter().map(|o| o.get().unwrap()).sum::<u32>(), 1000);
}

#[test]
fn declared_thread_safety_is_part_of_the_layout() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<ParserBox>();
    let layout = |l: &'static abi_stable::type_layout::TypeLayout| format!("{:?}", l.full_type());
    assert_ne!(
        layout(<ParserVTable as StableAbi>::LAYOUT),
        layout(<LocalVTable as StableAbi>::LAYOUT)
    );
    let check = abi_stable::abi_stability::abi_checking::check_layout_compatibility(
        <xplug::__private::IsSend as StableAbi>::LAYOUT,
        <xplug::__private::NotSend as StableAbi>::LAYOUT,
    );
    assert!(check.is_err());
}
