//! Stage 5, second half: abi_stable's recursive check of the root module's type layout
//! against the host's, and the module itself. [`difference`] turns a failed check into the
//! first difference, in Rust syntax. A layout that passed is remembered by its
//! [`fingerprint`], so that each distinct layout is checked once per process.

mod difference;
mod fingerprint;
#[cfg(test)]
mod large_tests;

use abi_stable::abi_stability::abi_checking::{
    check_layout_compatibility_with_globals, AbiInstability, AbiInstabilityError,
    AbiInstabilityErrors, CheckingGlobals,
};
use abi_stable::library::LibHeader;
use abi_stable::std_types::RResult;
use abi_stable::type_layout::{TLData, TLFieldOrFunction, TypeLayout};
use abi_stable::StableAbi;
use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;

use xplug::Interface;

use crate::error::{ErrorKind, LayoutDifference, LoadError};
use crate::host::host_version;
use crate::info::PluginInfo;
use crate::process::layout_cache::{self, HostIds};
use crate::process::library::Library;

pub(crate) use difference::{differences, first_difference};

/// Checks the root module's whole type layout against `M`'s and returns the module.
pub(crate) fn module<M: Interface>(
    library: &Library,
    path: &Path,
    header: &'static LibHeader,
) -> Result<M, LoadError> {
    let error = |kind| LoadError::new(path, kind).with_plugin(&library.info);
    let found = header.layout().ok_or_else(|| {
        error(ErrorKind::RootModule {
            message: String::from("the library exports no type-layout information"),
        })
    })?;
    let host = host_version::<M>();
    let expected = <M as StableAbi>::LAYOUT;
    let versions = Versions::of(&library.info, &host);
    // abi_stable's checker walks the plugin's tree, which a hostile plugin may make
    // malformed: a panic in it (or in describing what it found) is a refusal.
    let refused = contained(|| {
        check(expected, found, versions)
            .err()
            .map(|refusal| (refusal.first_difference(), refusal.errors.to_string()))
    })
    .unwrap_or_else(|message| {
        Some((
            LayoutDifference {
                at: String::from("(the plugin's layout)"),
                what: format!("the layout checker failed on it: {message}"),
                expected: String::new(),
                found: String::new(),
            },
            message,
        ))
    });
    if let Some((difference, details)) = refused {
        return Err(error(ErrorKind::LayoutMismatch {
            interface: library.info.interface_name.clone(),
            found: library.info.interface_version.clone(),
            host_version: host,
            difference: Box::new(difference),
            details,
        }));
    }
    // SAFETY: the root module's whole type layout was checked against `M`'s just above.
    unsafe { header.unchecked_layout::<M>() }.map_err(|e| {
        error(ErrorKind::RootModule {
            message: crate::error::one_line(&e.to_string()),
        })
    })
}

/// Runs `f`, code that reads a plugin's layout tree; a panic in it comes back as its message.
fn contained<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    match xplug::__private::guard_in::<false, _, _>(f) {
        RResult::ROk(value) => Ok(value),
        RResult::RErr(_) => Err(xplug::__private::take_panic().message.into_string()),
    }
}

/// Checks `found`, a plugin's root-module layout, against `expected`, the host's, as
/// [`check_in_full`] does; a layout whose fingerprint passed before in this process is not
/// walked twice by the checker.
///
/// The fingerprint is everything the checker reads of the plugin's tree, so a tree with the
/// same fingerprint gets the same verdict; a tree the checker would compare by running plugin
/// code (extra checks, const generics) has none and is checked in full every time. Only passes
/// are remembered: a refusal is checked again, so that its report is made afresh.
pub(crate) fn check(
    expected: &'static TypeLayout,
    found: &'static TypeLayout,
    versions: Versions,
) -> Result<(), Refusal> {
    let key = host_ids(expected).and_then(|host| {
        let mut key = fingerprint::fingerprint(found, &host).ok()?;
        key.extend_from_slice(&(expected as *const TypeLayout as usize).to_le_bytes());
        key.extend_from_slice(&versions.key());
        Some(key)
    });
    if let Some(key) = &key {
        if layout_cache::passed(key) {
            return Ok(());
        }
    }
    FULL_CHECKS.with(|n| n.set(n.get() + 1));
    check_in_full(expected, found, versions)?;
    if let Some(key) = key {
        layout_cache::remember_pass(key);
    }
    Ok(())
}

thread_local! {
    /// Full checks run on this thread: see [`full_checks_on_this_thread`].
    static FULL_CHECKS: Cell<u64> = const { Cell::new(0) };
}

/// How many layout checks ran in full on this thread (the others were answered by the
/// fingerprints of layouts that passed before).
pub fn full_checks_on_this_thread() -> u64 {
    FULL_CHECKS.with(Cell::get)
}

/// The `UTypeId`s of the host's tree, walked once per process and host layout.
fn host_ids(expected: &'static TypeLayout) -> HostIds {
    let address = expected as *const TypeLayout as usize;
    layout_cache::host_ids(address, || {
        fingerprint::host_ids(expected).ok().map(Arc::new)
    })
}

/// How a plugin's versions compare with the host's: what the layout check forgives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Versions {
    /// The plugin's interface version against the host's (build metadata aside).
    pub(crate) interface: std::cmp::Ordering,
    /// Whether both were built with the same release of xplug.
    pub(crate) same_xplug: bool,
}

impl Versions {
    /// The same interface version and the same xplug: nothing to forgive.
    pub(crate) const SAME: Versions = Versions {
        interface: std::cmp::Ordering::Equal,
        same_xplug: true,
    };

    /// A plugin's versions against this host's.
    pub(crate) fn of(plugin: &PluginInfo, host: &semver::Version) -> Versions {
        let release = |v: &semver::Version| (v.major, v.minor, v.patch, v.pre.clone());
        Versions {
            interface: release(&plugin.interface_version).cmp(&release(host)),
            same_xplug: plugin.xplug_version == xplug::__private::build_info::XPLUG_VERSION,
        }
    }

    fn key(self) -> [u8; 2] {
        [self.interface as i8 as u8, u8::from(self.same_xplug)]
    }
}

/// Checks `found`, a plugin's root-module layout, against `expected`, the host's, with the
/// host's layout as the interface and, whenever the versions differ, again with the roles
/// swapped: abi_stable's checks are one-directional (trait bounds of trait objects, enum
/// variants, nested prefix types), so a difference it accepts one way, e.g. a trait object
/// gaining `Clone`, is refused the other way.
///
/// Two differences abi_stable reports are forgiven. A prefix type with fewer fields than the
/// interface's: its later fields are read through accessors that check their count at run
/// time, so xplug forgives fewer for these types only: the root module, its pages and objects'
/// method tables of an older minor version (the host's accessors then report the appended
/// functions and methods absent), and xplug's own tables ([`xplug::abi`]) of another xplug
/// release, whatever the interface version; only fewer on the side that is older, and only
/// the field count (abi_stable checks the fields both sides have whatever the counts, and that
/// the first versions have the same length). And the crate version recorded in xplug's own
/// types: abi_stable holds xplug 0.1 and 0.2 incompatible, but the header's ABI number
/// (checked before the file was opened) is what decides, and every field of those types is
/// still compared.
///
/// A check with forgiven errors skips abi_stable's final checks: they reconcile one type met
/// at several places of the trees, across every check made with the same checking globals
/// (prefix types' fields, non-exhaustive enums' variants, combined extra checks). Each plugin
/// is checked against the host alone, with globals of its own, and every pair of types met
/// was compared in full by the main pass in each direction, so the host reads nothing it did
/// not check; a check forgiven both ways passes.
///
/// (Globals of their own because abi_stable's process-wide globals would keep references
/// into every plugin checked: layouts, boxed extra checks whose vtables are in the plugin,
/// which an unloaded plugin must not leave behind.)
fn check_in_full(
    expected: &'static TypeLayout,
    found: &'static TypeLayout,
    versions: Versions,
) -> Result<(), Refusal> {
    use std::cmp::Ordering::{Greater, Less};
    let check_layout_compatibility = |interface, implementation| {
        check_layout_compatibility_with_globals(interface, implementation, &CheckingGlobals::new())
    };
    let forgiven = match check_layout_compatibility(expected, found) {
        Ok(()) => false,
        Err(errors) => match unforgiven(errors, versions.interface == Less) {
            Ok(()) => true,
            Err(errors) => return Err(Refusal::forward(errors)),
        },
    };
    if !forgiven && versions == Versions::SAME {
        return Ok(());
    }
    match check_layout_compatibility(found, expected) {
        Ok(()) => Ok(()),
        Err(errors) => match unforgiven(errors, versions.interface == Greater) {
            Ok(()) => Ok(()),
            Err(errors) => Err(Refusal {
                errors,
                swapped: true,
            }),
        },
    }
}

/// A failed layout check: abi_stable's errors, and whether they come from the check with the
/// roles swapped (the plugin's layout as the interface).
#[derive(Debug)]
pub(crate) struct Refusal {
    pub(crate) errors: AbiInstabilityErrors,
    pub(crate) swapped: bool,
}

impl Refusal {
    fn forward(errors: AbiInstabilityErrors) -> Refusal {
        Refusal {
            errors,
            swapped: false,
        }
    }

    /// The first difference, with the host's layout as "expected".
    pub(crate) fn first_difference(&self) -> LayoutDifference {
        let mut difference = first_difference(&self.errors);
        if self.swapped {
            std::mem::swap(&mut difference.expected, &mut difference.found);
        }
        difference
    }

    /// Every difference, with the host's layout as "expected".
    pub(crate) fn differences(&self) -> Vec<LayoutDifference> {
        let mut all = differences(&self.errors);
        if self.swapped {
            for difference in &mut all {
                std::mem::swap(&mut difference.expected, &mut difference.found);
            }
        }
        all
    }
}

/// `Ok` if each of `errors` is one a check forgives, `Err` with only those it does not
/// forgive otherwise: the implementation's prefix type has fewer fields than the
/// interface's, where the type is xplug's own, or any prefix type if `implementation_older`;
/// or the two sides of one of xplug's own types were built by different releases of xplug.
fn unforgiven(
    mut errors: AbiInstabilityErrors,
    implementation_older: bool,
) -> Result<(), AbiInstabilityErrors> {
    let forgiven = |e: &AbiInstabilityError| {
        let counts = prefix_field_counts(e);
        // (abi_stable's list may hold entries without errors.)
        e.errs.iter().all(|err| match err {
            AbiInstability::FieldCountMismatch(c) => {
                counts.map_or(false, |(expected, found, xplug_table)| {
                    (c.expected, c.found) == (expected, found)
                        && expected > found
                        && (implementation_older || xplug_table)
                })
            }
            AbiInstability::PackageVersion(_) => of_xplug(e),
            _ => false,
        })
    };
    if errors.errors.iter().all(forgiven) {
        return Ok(());
    }
    errors.errors.retain(|e| !forgiven(e));
    Err(errors)
}

/// Whether both sides of the types where `error` was found are xplug's own.
fn of_xplug(error: &AbiInstabilityError) -> bool {
    let xplug = |side: &TLFieldOrFunction| match side {
        TLFieldOrFunction::Field(field) => field.layout().package().as_str() == "xplug",
        TLFieldOrFunction::Function(_) => false,
    };
    error
        .stack_trace
        .last()
        .map_or(false, |step| xplug(&step.expected) && xplug(&step.found))
}

/// The field counts of the interface's and the implementation's type where `error` was
/// found, if both are prefix types (the root module and its pages, an object's method table,
/// xplug's own tables: the types whose later fields an older build may lack), and whether the
/// type is one of xplug's own. A shortfall is forgiven only if it is these counts that differ:
/// not a count of phantom fields, which abi_stable reports the same way.
fn prefix_field_counts(error: &AbiInstabilityError) -> Option<(usize, usize, bool)> {
    let step = error.stack_trace.last()?;
    let fields = |side: &TLFieldOrFunction| match side {
        TLFieldOrFunction::Field(field) => match field.layout().data() {
            TLData::PrefixType(prefix) => Some((
                prefix.fields.len(),
                field.layout().package().as_str() == "xplug",
            )),
            _ => None,
        },
        TLFieldOrFunction::Function(_) => None,
    };
    let (expected, xplug_expected) = fields(&step.expected)?;
    let (found, xplug_found) = fields(&step.found)?;
    Some((expected, found, xplug_expected && xplug_found))
}

#[cfg(test)]
mod tests {
    //! Versions of one interface declared in-process, checked as the loader checks a plugin.

    // Interfaces declared only for their layouts; abi_stable's `#[sabi_trait]` expands to
    // impls inside a const block.
    #![allow(dead_code, unreachable_pub, non_local_definitions)]
    use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
    use abi_stable::StableAbi;

    #[test]
    fn a_panic_while_reading_a_layout_is_a_refusal() {
        let caught = super::contained(|| -> u32 { panic!("index out of bounds in a tree") });
        assert_eq!(caught, Err(String::from("index out of bounds in a tree")));
        assert_eq!(super::contained(|| 7), Ok(7));
    }

    use super::*;

    /// The host's version: `Shape` objects are `Clone`, and `area` was appended.
    mod host {
        use abi_stable::sabi_trait;
        use abi_stable::std_types::RBox;

        #[sabi_trait]
        pub trait Shape: Clone {
            fn sides(&self) -> u32;
        }

        #[xplug::interface(name = "t")]
        pub trait Shapes {
            fn square() -> Shape_TO<'static, RBox<()>>;
            #[xplug(since = "0.1")]
            fn area(side: u32) -> u32;
        }
    }

    /// An older version, before `area`, with the same `Shape`.
    mod older {
        use abi_stable::std_types::RBox;

        pub use super::host::Shape_TO;

        #[xplug::interface(name = "t")]
        pub trait Shapes {
            fn square() -> Shape_TO<'static, RBox<()>>;
        }
    }

    /// An older version whose `Shape` objects were not `Clone` yet.
    mod older_not_clone {
        use abi_stable::sabi_trait;
        use abi_stable::std_types::RBox;

        #[sabi_trait]
        pub trait Shape {
            fn sides(&self) -> u32;
        }

        #[xplug::interface(name = "t")]
        pub trait Shapes {
            fn square() -> Shape_TO<'static, RBox<()>>;
        }
    }

    /// A newer version: `area`, and one more function.
    mod newer {
        use abi_stable::std_types::RBox;

        pub use super::host::Shape_TO;

        #[xplug::interface(name = "t")]
        pub trait Shapes {
            fn square() -> Shape_TO<'static, RBox<()>>;
            #[xplug(since = "0.1")]
            fn area(side: u32) -> u32;
            #[xplug(since = "0.2")]
            fn perimeter(side: u32) -> u32;
        }
    }

    fn host() -> &'static TypeLayout {
        host::ShapesRef::LAYOUT
    }

    /// One declaration three times, as different crates would hold it: other types, other
    /// `UTypeId`s, the same layout; and once with a changed type.
    mod plain {
        use abi_stable::std_types::{RString, RVec};

        pub mod a {
            #[xplug::interface(name = "p")]
            pub trait Plain {
                fn words(text: super::RString) -> super::RVec<super::RString>;
                fn area(side: u32) -> [u64; 2];
            }
        }
        pub mod b {
            #[xplug::interface(name = "p")]
            pub trait Plain {
                fn words(text: super::RString) -> super::RVec<super::RString>;
                fn area(side: u32) -> [u64; 2];
            }
        }
        pub mod changed {
            #[xplug::interface(name = "p")]
            pub trait Plain {
                fn words(text: super::RString) -> super::RVec<super::RString>;
                fn area(side: u32) -> [u32; 4];
            }
        }
    }

    #[test]
    fn a_fingerprint_is_the_layout_not_the_types() {
        let print = |layout| fingerprint::fingerprint(layout, &Default::default()).expect("plain");
        let a = print(plain::a::PlainRef::LAYOUT);
        assert_eq!(a, print(plain::b::PlainRef::LAYOUT));
        assert_ne!(a, print(plain::changed::PlainRef::LAYOUT));
        // A tree sharing types with the host's (here: `RString`, `u32`) is not fingerprinted.
        let ids = fingerprint::host_ids(plain::a::PlainRef::LAYOUT).expect("plain");
        assert!(fingerprint::fingerprint(plain::b::PlainRef::LAYOUT, &ids).is_err());
        // Nor is one with `#[sabi_trait]` objects, whose required traits are extra checks.
        assert!(fingerprint::host_ids(host()).is_err());
    }

    /// Twins that differ in one thing the fingerprint writes without their names: a `repr`, a
    /// function pointer's `unsafe`.
    mod twins {
        pub mod c {
            #[repr(C)]
            #[derive(abi_stable::StableAbi)]
            pub struct S {
                pub x: u32,
            }
            #[repr(C)]
            #[derive(abi_stable::StableAbi)]
            pub struct F {
                pub f: extern "C" fn(u32) -> u32,
            }
        }
        pub mod other {
            #[repr(transparent)]
            #[derive(abi_stable::StableAbi)]
            pub struct S {
                pub x: u32,
            }
            #[repr(C)]
            #[derive(abi_stable::StableAbi)]
            pub struct F {
                pub f: unsafe extern "C" fn(u32) -> u32,
            }
        }
    }

    #[test]
    fn a_fingerprint_tells_apart_what_the_checker_tells_apart_besides_names() {
        use abi_stable::StableAbi;
        let print = |layout| fingerprint::fingerprint(layout, &Default::default()).expect("plain");
        let (c, transparent) = (twins::c::S::LAYOUT, twins::other::S::LAYOUT);
        assert!(check_layout_compatibility(c, transparent).is_err());
        assert_ne!(print(c), print(transparent));
        let (safe, not_safe) = (twins::c::F::LAYOUT, twins::other::F::LAYOUT);
        assert!(check_layout_compatibility(safe, not_safe).is_err());
        assert_ne!(print(safe), print(not_safe));
        assert_eq!(print(c), print(c));
    }

    /// Versions of an interface whose object trait grew: `Book.title` appended in 0.1.
    mod books {
        pub mod host {
            use abi_stable::std_types::RString;

            #[xplug::object]
            pub trait Book {
                fn pages(&self) -> u32;
                #[xplug(since = "0.1")]
                fn title(&self) -> RString;
            }

            #[xplug::interface(name = "b")]
            pub trait Library {
                fn open() -> BookBox;
            }
        }
        pub mod older {
            #[xplug::object]
            pub trait Book {
                fn pages(&self) -> u32;
            }

            #[xplug::interface(name = "b")]
            pub trait Library {
                fn open() -> BookBox;
            }
        }
        pub mod newer {
            use abi_stable::std_types::RString;

            #[xplug::object]
            pub trait Book {
                fn pages(&self) -> u32;
                #[xplug(since = "0.1")]
                fn title(&self) -> RString;
                #[xplug(since = "0.2")]
                fn author(&self) -> RString;
            }

            #[xplug::interface(name = "b")]
            pub trait Library {
                fn open() -> BookBox;
            }
        }
        /// A first-version method changed: never compatible.
        pub mod changed {
            #[xplug::object]
            pub trait Book {
                fn pages(&self) -> u64;
            }

            #[xplug::interface(name = "b")]
            pub trait Library {
                fn open() -> BookBox;
            }
        }
    }

    /// The host's object trait with `title` in its first version (no `since`).
    mod books_unmarked {
        use abi_stable::std_types::RString;

        #[xplug::object]
        pub trait Book {
            fn pages(&self) -> u32;
            fn title(&self) -> RString;
        }

        #[xplug::interface(name = "b")]
        pub trait Library {
            fn open() -> BookBox;
        }
    }

    #[test]
    fn an_object_trait_grows_like_the_root_module() {
        // A method of the first version missing from an older build is no appended one.
        let unmarked = books_unmarked::LibraryRef::LAYOUT;
        check(unmarked, books::older::LibraryRef::LAYOUT, OLDER)
            .expect_err("a first-version method missing");
        let host = books::host::LibraryRef::LAYOUT;
        check(host, books::older::LibraryRef::LAYOUT, OLDER).expect("an older minor's objects");
        check(host, books::older::LibraryRef::LAYOUT, SAME)
            .expect_err("the same version, a method fewer");
        check(host, books::newer::LibraryRef::LAYOUT, NEWER).expect("a newer minor's objects");
        check(host, books::changed::LibraryRef::LAYOUT, OLDER).expect_err("a changed method");
    }

    #[test]
    fn an_older_minor_plugin_lacking_only_appended_functions_passes() {
        check(host(), older::ShapesRef::LAYOUT, OLDER).expect("older minor loads");
        // The same layout claiming the host's own version is refused: functions are missing.
        check(host(), older::ShapesRef::LAYOUT, SAME).expect_err("same version, fewer fns");
    }

    #[test]
    fn an_older_plugin_is_still_checked_below_the_root_with_the_host_as_interface() {
        // The host's `Shape` requires `Clone`; this plugin's objects cannot be cloned. With
        // the roles swapped for the whole tree this passed, and `clone()` panicked later.
        check_layout_compatibility(older_not_clone::ShapesRef::LAYOUT, host())
            .expect("the whole tree with the roles swapped passes: the old check's defect");
        let refusal = check(host(), older_not_clone::ShapesRef::LAYOUT, OLDER)
            .expect_err("a nested trait bound the plugin lacks");
        assert!(!refusal.errors.errors.is_empty());
        assert!(!refusal.swapped);
    }

    #[test]
    fn a_newer_minor_plugin_passes_and_its_differences_name_the_host_side_first() {
        check(host(), newer::ShapesRef::LAYOUT, NEWER).expect("newer minor loads");
        let refusal = check(host(), older_not_clone::ShapesRef::LAYOUT, OLDER).unwrap_err();
        assert_eq!(
            refusal.errors.interface.name(),
            host().name(),
            "the host's layout is the interface"
        );
    }

    #[test]
    fn a_newer_minor_plugin_whose_object_gained_a_trait_bound_is_refused() {
        // abi_stable accepts an implementation whose trait object has more bounds: the forward
        // check alone let a newer minor's `Clone` through. The host cannot clone what it does
        // not know is `Clone`, but the plugin's interface claims 0.1 is 0.0 with one appended
        // function: a layout change within a major version.
        let older_host = older_not_clone::ShapesRef::LAYOUT;
        check_layout_compatibility(older_host, host()).expect("the forward check passes");
        let refusal = check(older_host, host(), NEWER).expect_err("the swapped check refuses");
        assert!(refusal.swapped);
        let difference = refusal.first_difference();
        assert_eq!(difference.at, "ShapesModule.square -> Shape_TO.obj");
        assert_eq!(
            (
                difference.what.as_str(),
                difference.expected.as_str(),
                difference.found.as_str()
            ),
            ("trait bounds differ", "no trait bounds", "Clone"),
        );
        // The same layouts, from the same version and xplug, are not checked twice.
        check(older_host, older_not_clone::ShapesRef::LAYOUT, SAME).expect("the same layout");
    }

    /// An `async fn` and a stream, and versions that changed one of them, as crates would
    /// declare them.
    mod waits {
        pub mod host {
            use xplug::stream::FfiStream;

            #[xplug::interface(name = "w")]
            pub trait Waits {
                async fn wait(millis: u64) -> u64;
                fn ticks(count: u64) -> FfiStream<u64>;
            }
        }
        /// `wait`'s future is not `Send`.
        pub mod local {
            use xplug::stream::FfiStream;

            #[xplug::interface(name = "w")]
            pub trait Waits {
                #[xplug(local)]
                async fn wait(millis: u64) -> u64;
                fn ticks(count: u64) -> FfiStream<u64>;
            }
        }
        /// `ticks` yields `u32`.
        pub mod other_item {
            use xplug::stream::FfiStream;

            #[xplug::interface(name = "w")]
            pub trait Waits {
                async fn wait(millis: u64) -> u64;
                fn ticks(count: u64) -> FfiStream<u32>;
            }
        }
    }

    #[test]
    fn a_future_that_is_not_send_or_a_stream_of_other_items_is_refused_at_the_function() {
        let host = waits::host::WaitsRef::LAYOUT;
        check(host, waits::host::WaitsRef::LAYOUT, SAME).expect("the same layout");
        let line = |plugin| {
            let refusal = check(host, plugin, SAME).expect_err("a changed function");
            let d = refusal.first_difference();
            format!("{}: {}: {} / {}", d.at, d.what, d.expected, d.found)
        };
        assert_eq!(
            line(waits::local::WaitsRef::LAYOUT),
            "WaitsModule.wait: type differs: \
             extern \"C\" fn(u64) -> FfiFuture<u64> / extern \"C\" fn(u64) -> LocalFfiFuture<u64>"
        );
        assert_eq!(
            line(waits::other_item::WaitsRef::LAYOUT),
            "WaitsModule.ticks: type differs: \
             extern \"C\" fn(u64) -> FfiStream<u64> / extern \"C\" fn(u64) -> FfiStream<u32>"
        );
    }

    /// A host of 0.1 (`side`, and `undo` appended) and a plugin of 0.0 whose `Side` gained a
    /// variant, as two crates would declare them.
    mod ledger {
        pub mod host {
            #[repr(u8)]
            #[derive(abi_stable::StableAbi, Clone, Copy)]
            pub enum Side {
                Debit,
                Credit,
            }

            #[xplug::interface(name = "l")]
            pub trait Ledger {
                fn side() -> Side;
                #[xplug(since = "0.1")]
                fn undo() -> u32;
            }
        }
        pub mod older {
            #[repr(u8)]
            #[derive(abi_stable::StableAbi, Clone, Copy)]
            pub enum Side {
                Debit,
                Credit,
                Transfer,
            }

            #[xplug::interface(name = "l")]
            pub trait Ledger {
                fn side() -> Side;
            }
        }
    }

    #[test]
    fn an_older_minor_plugin_is_refused_for_what_differs_not_for_what_it_lacks() {
        let refusal = check(
            ledger::host::LedgerRef::LAYOUT,
            ledger::older::LedgerRef::LAYOUT,
            OLDER,
        )
        .expect_err("an enum that gained a variant");
        let difference = refusal.first_difference();
        assert!(
            difference.at.contains("Side") && difference.what.contains("variant"),
            "the enum, not the appended function: {difference:?}"
        );
        assert!(
            refusal
                .differences()
                .iter()
                .all(|d| !d.what.contains("number of fields")),
            "{:?}",
            refusal.differences()
        );
    }

    const SAME: Versions = Versions::SAME;
    const OLDER: Versions = Versions {
        interface: std::cmp::Ordering::Less,
        same_xplug: true,
    };
    const NEWER: Versions = Versions {
        interface: std::cmp::Ordering::Greater,
        same_xplug: true,
    };
}
