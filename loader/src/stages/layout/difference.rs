//! The first difference between two root-module layouts, in words and Rust syntax.

use abi_stable::abi_stability::abi_checking::{
    AbiInstability, AbiInstabilityError, AbiInstabilityErrors, ExpectedFound,
};
use abi_stable::type_layout::{
    DiscriminantRepr, ReprAttr, TLDiscriminant, TLField, TLFieldOrFunction, TypeLayout,
};

use xplug::__private::describe::{call_result_value, object_of, signature, type_name};

use crate::error::LayoutDifference;

/// Finds the first difference that abi_stable reported, with the path that leads to it.
pub(crate) fn first_difference(errors: &AbiInstabilityErrors) -> LayoutDifference {
    // The most specific difference: a changed field or type says more than the size change
    // it causes.
    let found = errors
        .errors
        .iter()
        .flat_map(|e| e.errs.iter().map(move |err| (e, err)))
        .min_by_key(|(_, err)| specificity(err));
    match found {
        Some((first, err)) => difference_at(errors, first, err),
        None => whole(errors),
    }
}

/// Every difference that abi_stable reported, each at its own path: at each path, the most
/// specific ones (the size change a changed field causes is left out), in abi_stable's order.
pub(crate) fn differences(errors: &AbiInstabilityErrors) -> Vec<LayoutDifference> {
    let mut found: Vec<(u8, LayoutDifference)> = Vec::new();
    for error in errors.errors.iter() {
        for err in error.errs.iter() {
            let difference = difference_at(errors, error, err);
            if !found.iter().any(|(_, d)| *d == difference) {
                found.push((specificity(err), difference));
            }
        }
    }
    let most_specific = |at: &str| {
        found
            .iter()
            .filter(|(_, d)| d.at == at)
            .map(|(s, _)| *s)
            .min()
    };
    let kept: Vec<LayoutDifference> = found
        .iter()
        .filter(|(s, d)| most_specific(&d.at) == Some(*s))
        .map(|(_, d)| d.clone())
        .collect();
    if kept.is_empty() {
        vec![whole(errors)]
    } else {
        kept
    }
}

/// The two root layouts, when abi_stable named no difference.
fn whole(errors: &AbiInstabilityErrors) -> LayoutDifference {
    LayoutDifference {
        at: errors.interface.name().to_owned(),
        what: String::from("layouts differ"),
        expected: type_name(errors.interface),
        found: type_name(errors.implementation),
    }
}

/// `err`, found by abi_stable at the end of `first`'s path, in words.
fn difference_at(
    errors: &AbiInstabilityErrors,
    first: &AbiInstabilityError,
    err: &AbiInstability,
) -> LayoutDifference {
    let mut at = String::new();
    // The signatures of the innermost function on the path, where its parameter segment
    // starts in `at`, and how deep below it the difference lies (1: a parameter itself).
    let mut signatures = None;
    let mut param_at = 0;
    let mut below_function = 0;
    // Whether the path went through a function's `CallResult` return type.
    let mut returns = false;
    // Whether the path just entered an object's method table (through its reference).
    let mut in_table = false;
    // The method tables of the object named last, the host's and the plugin's.
    let mut table = None;
    // Whether the innermost function on the path is an object's method, and how many fields
    // the path went through since it entered a method table (a method is one field in).
    let mut object_method = false;
    let mut into_table: Option<u32> = None;
    // The `#[sabi_trait]` named last on the path (`Shape` for `Shape_TO`).
    let mut trait_object: Option<String> = None;
    // Whether the path entered the output of the future an `async fn` returns, or a stream's
    // item.
    let mut in_future = false;
    for step in first.stack_trace.iter() {
        // A `#[sabi_trait]` object (`Shape_TO`): the method table below it, named `VTable`,
        // is the trait's.
        if let TLFieldOrFunction::Field(f) = &step.expected {
            if let Some(name) = f.layout().name().strip_suffix("_TO") {
                trait_object = Some(name.to_owned());
            }
            if let Some(fields) = into_table.as_mut() {
                *fields += 1;
            }
        }
        match &step.expected {
            // A `PrefixRef` points at the module through its field `0`: name the module.
            TLFieldOrFunction::Field(f) if at.is_empty() => {
                at = f.full_type().name().to_owned();
            }
            // The return type is a `CallResult<T>`: look through it to `T`, the type the
            // interface declared.
            TLFieldOrFunction::Field(f)
                if signatures.is_some()
                    && below_function == 0
                    && f.name() == "__returns"
                    && call_result_value(f.layout()).is_some() =>
            {
                returns = true;
            }
            // A parameter or the return type: name its type, `map(Callback)`, `len -> Text`.
            TLFieldOrFunction::Field(f) if signatures.is_some() && below_function == 0 => {
                below_function = 1;
                param_at = at.len();
                let shown = if returns || f.name() == "__returns" {
                    format!(" -> {}", f.full_type().name())
                } else {
                    format!("({})", f.full_type().name())
                };
                at.push_str(&shown);
            }
            // The output of the future an `async fn` returns (`FfiFuture<T>`'s `T`) or the item
            // of a stream (`FfiStream<T>`'s): a changed one reads best as the two signatures,
            // as a changed return type does. (`LocalFfiFuture` ends with `FfiFuture` too.)
            TLFieldOrFunction::Field(f)
                if below_function == 1
                    && ((f.name() == "_output" && at.ends_with("FfiFuture"))
                        || (f.name() == "_item" && at.ends_with("FfiStream"))) =>
            {
                in_future = true;
            }
            TLFieldOrFunction::Field(f) if in_future && f.name() == "0" => in_future = false,
            // An `#[xplug::object]` handle's method table, through its reference: name the
            // object's trait, as the root module is named (`Counter.skip`).
            TLFieldOrFunction::Field(f) if f.name() == "vtable" => in_table = true,
            TLFieldOrFunction::Field(f)
                if in_table
                    && f.name() == "0"
                    && (object_of(f.layout()).is_some()
                        || (f.layout().name() == "VTable" && trait_object.is_some())) =>
            {
                at = match object_of(f.layout()) {
                    Some(object) => object.to_owned(),
                    None => trait_object.take().unwrap_or_default(),
                };
                into_table = Some(0);
                table = match &step.found {
                    TLFieldOrFunction::Field(found) => Some((f.layout(), found.layout())),
                    TLFieldOrFunction::Function(_) => None,
                };
                in_table = false;
                signatures = None;
                below_function = 0;
            }
            TLFieldOrFunction::Field(f) => {
                below_function += 1;
                at.push('.');
                at.push_str(f.name());
            }
            TLFieldOrFunction::Function(expected) => {
                if let TLFieldOrFunction::Function(found) = &step.found {
                    // An object's method (a field of its table), not a function pointer deeper
                    // down (the table's header, or inside a method's parameters).
                    let method = into_table.take() == Some(1);
                    signatures = Some((signature(expected, method), signature(found, method)));
                    object_method = method;
                    below_function = 0;
                    returns = false;
                }
            }
        }
    }
    if at.is_empty() {
        at = errors.interface.name().to_owned();
    }
    // An object's `Send` or `Sync` marker: the object's bounds, as its trait writes them.
    if let (Some((expected, found)), AbiInstability::Name(_)) = (table, err) {
        if let Some(object) = at
            .strip_suffix(".send_.0")
            .or_else(|| at.strip_suffix(".sync_.0"))
        {
            return LayoutDifference {
                at: object.to_owned(),
                what: String::from("trait bounds differ"),
                expected: auto_bounds(expected),
                found: auto_bounds(found),
            };
        }
    }
    if let AbiInstability::UnexpectedField(_) = err {
        // A removed or inserted item shifts every later one: say which, once.
        if let Some((what, expected, found)) = shifted(first) {
            return LayoutDifference {
                at,
                what,
                expected,
                found,
            };
        }
    }
    let (what, mut expected, mut found) = describe(err);
    if let AbiInstability::FnLifetimeMismatch(v) | AbiInstability::FnQualifierMismatch(v) = err {
        expected = signature(&v.expected, object_method);
        found = signature(&v.found, object_method);
    }
    // A changed parameter or return type reads best as the two signatures; a difference
    // deeper inside a parameter's type, as the types that differ.
    // A property of an enum (its variants, discriminants, `repr`) reads best in its own words,
    // at the type.
    // So does the crate a type comes from: `xplug 0.1.0` against `xplug 0.2.0`.
    let enum_property = matches!(
        err,
        AbiInstability::ReprAttr(_)
            | AbiInstability::EnumDiscriminant(_)
            | AbiInstability::TooManyVariants(_)
            | AbiInstability::UnexpectedVariant(_)
            | AbiInstability::MismatchedExhaustiveness(_)
            | AbiInstability::Package(_)
            | AbiInstability::PackageVersion(_)
    );
    if let (AbiInstability::PackageVersion(_), Some(step)) = (err, first.stack_trace.last()) {
        let package = |side: &TLFieldOrFunction| match side {
            TLFieldOrFunction::Field(f) => format!("{} ", f.layout().package()),
            TLFieldOrFunction::Function(_) => String::new(),
        };
        expected = format!("{}{expected}", package(&step.expected));
        found = format!("{}{found}", package(&step.found));
    }
    if let (Some((e, f)), 0..=1, false) = (signatures, below_function, enum_property) {
        if below_function == 1 {
            at.truncate(param_at);
        }
        expected = e;
        found = f;
    }
    LayoutDifference {
        at,
        what: what.to_owned(),
        expected,
        found,
    }
}

/// Where the fields of the host's and the plugin's type at the end of `error`'s path differ by
/// one item removed or inserted (the later ones shifted): that item, in words.
fn shifted(error: &AbiInstabilityError) -> Option<(String, String, String)> {
    let step = error.stack_trace.last()?;
    let fields = |side: &TLFieldOrFunction| match side {
        TLFieldOrFunction::Field(f) => f.layout().get_fields().map(|fields| fields.to_vec()),
        TLFieldOrFunction::Function(_) => None,
    };
    let (host, plugin) = (fields(&step.expected)?, fields(&step.found)?);
    let names = |fields: &[TLField]| -> Vec<String> {
        fields.iter().map(|f| f.name().to_owned()).collect()
    };
    let (h, p) = (names(&host), names(&plugin));
    let at = h.iter().zip(&p).position(|(a, b)| a != b)?;
    let item = |f: &TLField| {
        if f.function_range().is_empty() {
            "field"
        } else {
            "function"
        }
    };
    if h.len() == p.len() + 1 && h[at + 1..] == p[at..] {
        let gone = &host[at];
        return Some((
            format!("{} removed", item(gone)),
            field(gone),
            format!("none: the {}s after it come one place earlier", item(gone)),
        ));
    }
    if p.len() == h.len() + 1 && p[at + 1..] == h[at..] {
        let new = &plugin[at];
        return Some((
            format!("{} inserted", item(new)),
            format!("none: `{}` comes next", h[at]),
            field(new),
        ));
    }
    None
}

fn specificity(err: &AbiInstability) -> u8 {
    use AbiInstability as AI;
    match err {
        AI::UnexpectedField(_)
        | AI::Name(_)
        | AI::MismatchedPrimitive(_)
        | AI::FnQualifierMismatch(_)
        | AI::FnLifetimeMismatch(_)
        | AI::FieldLifetimeMismatch(_) => 0,
        AI::FieldCountMismatch(_)
        | AI::MismatchedPrefixSize(_)
        | AI::PackageVersion(_)
        | AI::ReprAttr(_)
        | AI::EnumDiscriminant(_) => 1,
        AI::Size(_) | AI::Alignment(_) => 2,
        _ => 3,
    }
}

fn field(f: &TLField) -> String {
    if f.function_range().is_empty() {
        format!("field `{}: {}`", f.name(), type_name(f.layout()))
    } else {
        format!("function `{}`", f.name())
    }
}

/// `what` with both sides as they display.
fn shown<T: std::fmt::Display>(
    what: &'static str,
    v: &ExpectedFound<T>,
) -> (&'static str, String, String) {
    (what, v.expected.to_string(), v.found.to_string())
}

fn describe(err: &AbiInstability) -> (&'static str, String, String) {
    use AbiInstability as AI;
    match err {
        AI::Name(v) => shown("type differs", v),
        AI::Package(v) => shown("defined in another crate", v),
        AI::PackageVersion(v) => shown("incompatible crate versions", v),
        AI::Size(v) => ("size differs", bytes(v.expected), bytes(v.found)),
        AI::Alignment(v) => ("alignment differs", bytes(v.expected), bytes(v.found)),
        AI::FieldCountMismatch(v) => (
            "number of fields differs",
            format!("{} fields", v.expected),
            format!("{} fields", v.found),
        ),
        AI::UnexpectedField(v) => ("field differs", field(&v.expected), field(&v.found)),
        AI::FieldLifetimeMismatch(v) => ("lifetimes differ", field(&v.expected), field(&v.found)),
        AI::FnLifetimeMismatch(v) | AI::FnQualifierMismatch(v) => {
            shown("function signature differs", v)
        }
        AI::MismatchedPrimitive(v) => (
            "primitive type differs",
            format!("{:?}", v.expected),
            format!("{:?}", v.found),
        ),
        AI::MismatchedPrefixSize(v) => shown("number of required functions differs", v),
        AI::TooManyVariants(v) => (
            "number of enum variants differs",
            format!("{} variants", v.expected),
            format!("{} variants", v.found),
        ),
        AI::UnexpectedVariant(v) => shown("enum variant differs", v),
        AI::EnumDiscriminant(v) => (
            "enum discriminant differs",
            discriminant(&v.expected),
            discriminant(&v.found),
        ),
        AI::ReprAttr(v) => ("`#[repr]` differs", repr(&v.expected), repr(&v.found)),
        AI::NonZeroness(v) => (
            "non-zero-ness differs",
            non_zero(v.expected),
            non_zero(v.found),
        ),
        AI::GenericParamCount(v) => shown("number of generic parameters differs", v),
        AI::TLDataDiscriminant(v) => debug("kind of type differs", v),
        AI::MismatchedPrefixConditionality(v) => {
            debug("which functions are conditional differs", v)
        }
        AI::MismatchedExhaustiveness(v) => debug("exhaustiveness differs", v),
        AI::MismatchedConstParam(v) => debug("const parameter differs", v),
        AI::PackageVersionParseError(e) => (
            "unreadable crate version",
            String::from("a semver version"),
            e.to_string(),
        ),
        AI::IncompatibleWithNonExhaustive(e) => (
            "incompatible non-exhaustive enum",
            String::from("a compatible non-exhaustive enum"),
            one_line(&e.to_string()),
        ),
        AI::ExtraCheckError(e) => {
            match (
                trait_bounds(&e.expected_err.expected.to_string()),
                trait_bounds(&e.expected_err.found.to_string()),
            ) {
                (Some(expected), Some(found)) => ("trait bounds differ", expected, found),
                // Each side's own description: the report swaps sides with the check.
                _ => (
                    "extra check failed",
                    one_line(&e.expected_err.expected.to_string()),
                    one_line(&e.expected_err.found.to_string()),
                ),
            }
        }
        // abi_stable may add kinds of differences; its own words for them.
        #[allow(unreachable_patterns)]
        other => (
            "layouts differ",
            String::from("the host's layout"),
            one_line(&format!("{:?}", other)),
        ),
    }
}

fn debug<T: std::fmt::Debug>(
    what: &'static str,
    v: &ExpectedFound<T>,
) -> (&'static str, String, String) {
    (what, format!("{:?}", v.expected), format!("{:?}", v.found))
}

/// The auto-trait bounds of an object, from its method table's markers: `Send + Sync`.
fn auto_bounds(table: &'static TypeLayout) -> String {
    let fields = table.get_fields();
    // `send_: PhantomData<IsSend>` or `PhantomData<NotSend>`.
    let marked = |field: &str, bound: &'static str| {
        fields
            .and_then(|fields| fields.iter().find(|f| f.name() == field))
            .filter(|f| f.full_type().to_string().contains(&format!("Is{}", bound)))
            .map(|_| bound)
    };
    let bounds: Vec<&str> = [marked("send_", "Send"), marked("sync_", "Sync")]
        .into_iter()
        .flatten()
        .collect();
    if bounds.is_empty() {
        String::from("neither Send nor Sync")
    } else {
        bounds.join(" + ")
    }
}

/// The bounds of a trait object, from abi_stable's description of them (`Auto traits: Send
/// Sync` and `Impld traits: Clone` lines): `Send + Sync + Clone`.
fn trait_bounds(description: &str) -> Option<String> {
    let mut bounds = Vec::new();
    let mut lines = 0;
    for line in description.lines().map(str::trim) {
        let list = match (
            line.strip_prefix("Auto traits:"),
            line.strip_prefix("Impld traits:"),
        ) {
            (Some(list), _) | (_, Some(list)) => list,
            _ => continue,
        };
        lines += 1;
        bounds.extend(list.split_whitespace().filter(|t| *t != "<no_traits>"));
    }
    match (lines, bounds.is_empty()) {
        (2, true) => Some(String::from("no trait bounds")),
        (2, false) => Some(bounds.join(" + ")),
        _ => None,
    }
}

fn bytes(n: usize) -> String {
    match n {
        1 => String::from("1 byte"),
        n => format!("{} bytes", n),
    }
}

/// A variant's discriminant as its source writes it: `= 2`.
fn discriminant(d: &TLDiscriminant) -> String {
    // Every value fits an `i128`.
    let value = match *d {
        TLDiscriminant::Isize(v) => v as i128,
        TLDiscriminant::Usize(v) => v as i128,
        TLDiscriminant::Signed(v) => i128::from(v),
        TLDiscriminant::Unsigned(v) => i128::from(v),
    };
    format!("= {}", value)
}

/// A `#[repr]` as its source writes it, with the size of an enum's discriminant.
fn repr(r: &ReprAttr) -> String {
    let int = |c: &str, d: &DiscriminantRepr| {
        let name = match d {
            DiscriminantRepr::U8 => "u8",
            DiscriminantRepr::I8 => "i8",
            DiscriminantRepr::U16 => "u16",
            DiscriminantRepr::I16 => "i16",
            DiscriminantRepr::U32 => "u32",
            DiscriminantRepr::I32 => "i32",
            DiscriminantRepr::U64 => "u64",
            DiscriminantRepr::I64 => "i64",
            DiscriminantRepr::U128 => "u128",
            DiscriminantRepr::I128 => "i128",
            DiscriminantRepr::Usize => "usize",
            DiscriminantRepr::Isize => "isize",
        };
        // `u16`: 16 bits; `usize` has no number.
        let size = name[1..].parse::<u32>().map_or_else(
            |_| String::from("pointer-sized"),
            |bits| format!("{}-byte", bits / 8),
        );
        format!("#[repr({}{})] (a {} discriminant)", c, name, size)
    };
    match r {
        ReprAttr::C => String::from("#[repr(C)]"),
        ReprAttr::Transparent => String::from("#[repr(transparent)]"),
        ReprAttr::Int(d) => int("", d),
        ReprAttr::CAndInt(d) => int("C, ", d),
        ReprAttr::Primitive => String::from("a primitive type"),
        ReprAttr::OptionNonZero => String::from("an `Option` of a non-zero type"),
        ReprAttr::Packed {
            alignment_power_of_two,
        } => format!(
            "#[repr(packed({}))]",
            1u64.checked_shl(u32::from(*alignment_power_of_two))
                .map_or_else(|| String::from("?"), |a| a.to_string())
        ),
    }
}

fn non_zero(yes: bool) -> String {
    String::from(if yes { "never zero" } else { "may be zero" })
}

fn one_line(text: &str) -> String {
    crate::error::one_line(text)
}

#[cfg(test)]
mod tests {
    //! Two in-process versions of one interface, checked as the loader checks a plugin.
    // Interfaces declared only for their layouts.
    #![allow(dead_code, unreachable_pub, non_local_definitions)]
    use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
    use abi_stable::StableAbi;

    use super::*;

    mod host {
        use abi_stable::std_types::{RStr, RVec};

        /// Passed to the plugin.
        #[repr(transparent)]
        #[derive(abi_stable::StableAbi, Clone, Copy)]
        pub struct Callback(pub extern "C" fn(i64) -> i64);

        #[xplug::interface(name = "t")]
        pub trait Greeter {
            fn add(a: u32, b: u32) -> u32;
            fn map(values: RVec<i64>, f: Callback) -> RVec<i64>;
            fn len(text: RStr<'_>) -> usize;
        }
    }

    mod changed_type {
        use abi_stable::std_types::{RStr, RVec};

        pub use super::host::Callback;

        #[xplug::interface(name = "t")]
        pub trait Greeter {
            fn add(a: u64, b: u64) -> u64;
            fn map(values: RVec<i64>, f: Callback) -> RVec<i64>;
            fn len(text: RStr<'_>) -> usize;
        }
    }

    mod changed_nested {
        use abi_stable::std_types::{RStr, RVec};

        /// Its function type changed.
        #[repr(transparent)]
        #[derive(abi_stable::StableAbi, Clone, Copy)]
        pub struct Callback(pub extern "C" fn(i32) -> i32);

        #[xplug::interface(name = "t")]
        pub trait Greeter {
            fn add(a: u32, b: u32) -> u32;
            fn map(values: RVec<i64>, f: Callback) -> RVec<i64>;
            fn len(text: RStr<'_>) -> usize;
        }
    }

    mod changed_return {
        use abi_stable::std_types::{RStr, RVec};

        pub use super::host::Callback;

        #[xplug::interface(name = "t")]
        pub trait Greeter {
            fn add(a: u32, b: u32) -> u32;
            fn map(values: RVec<i64>, f: Callback) -> RVec<i64>;
            fn len(text: RStr<'_>) -> u8;
        }
    }

    /// `map` removed: `len` moved up.
    mod removed {
        use abi_stable::std_types::RStr;

        #[xplug::interface(name = "t")]
        pub trait Greeter {
            fn add(a: u32, b: u32) -> u32;
            fn len(text: RStr<'_>) -> usize;
        }
    }

    /// `sub` inserted before `map`.
    mod inserted {
        use abi_stable::std_types::{RStr, RVec};

        pub use super::host::Callback;

        #[xplug::interface(name = "t")]
        pub trait Greeter {
            fn add(a: u32, b: u32) -> u32;
            fn sub(a: u32, b: u32) -> u32;
            fn map(values: RVec<i64>, f: Callback) -> RVec<i64>;
            fn len(text: RStr<'_>) -> usize;
        }
    }

    #[test]
    fn a_removed_or_inserted_function_is_named_once() {
        let d = difference::<removed::GreeterRef>();
        assert_eq!(
            (d.at.as_str(), d.what.as_str(), d.expected.as_str()),
            ("GreeterModule", "function removed", "function `map`"),
            "{d:?}"
        );
        let errors =
            check_layout_compatibility(host::GreeterRef::LAYOUT, removed::GreeterRef::LAYOUT)
                .expect_err("a function fewer");
        let all = differences(&errors);
        assert_eq!(
            all.iter().filter(|d| d.what == "function removed").count(),
            1,
            "{all:?}"
        );
        let d = difference::<inserted::GreeterRef>();
        assert_eq!(
            (d.what.as_str(), d.found.as_str()),
            ("function inserted", "function `sub`"),
            "{d:?}"
        );
        assert_eq!(d.expected, "none: `map` comes next");
    }

    fn difference<P: StableAbi>() -> LayoutDifference {
        let errors = check_layout_compatibility(host::GreeterRef::LAYOUT, P::LAYOUT)
            .expect_err("the layouts differ");
        first_difference(&errors)
    }

    #[test]
    fn identical_layouts_pass() {
        check_layout_compatibility(host::GreeterRef::LAYOUT, host::GreeterRef::LAYOUT)
            .expect("same layout");
    }

    #[test]
    fn a_changed_parameter_type_shows_both_signatures() {
        let d = difference::<changed_type::GreeterRef>();
        assert_eq!(d.at, "GreeterModule.add");
        assert_eq!(d.expected, "extern \"C\" fn(u32, u32) -> u32");
        assert_eq!(d.found, "extern \"C\" fn(u64, u64) -> u64");
    }

    #[test]
    fn a_changed_return_type_shows_the_declared_type_not_the_call_result() {
        let d = difference::<changed_return::GreeterRef>();
        assert_eq!(d.at, "GreeterModule.len");
        assert_eq!(d.expected, "extern \"C\" fn(RStr<'a>) -> usize");
        assert_eq!(d.found, "extern \"C\" fn(RStr<'a>) -> u8");
    }

    #[test]
    fn a_change_inside_a_parameter_type_names_the_path_to_it() {
        let d = difference::<changed_nested::GreeterRef>();
        assert_eq!(d.at, "GreeterModule.map(Callback).field_0");
        assert_eq!(d.expected, "extern \"C\" fn(i64) -> i64");
        assert_eq!(d.found, "extern \"C\" fn(i32) -> i32");
    }

    mod enum_host {
        #[repr(u8)]
        #[derive(abi_stable::StableAbi, Clone, Copy)]
        pub enum Mode {
            Fast,
            Slow,
        }

        #[xplug::interface(name = "t")]
        pub trait Greeter {
            fn mode() -> Mode;
        }
    }

    mod enum_plugin {
        #[repr(u8)]
        #[derive(abi_stable::StableAbi, Clone, Copy)]
        pub enum Mode {
            Fast,
            Slow,
            Careful,
        }

        #[xplug::interface(name = "t")]
        pub trait Greeter {
            fn mode() -> Mode;
        }
    }

    #[test]
    fn an_added_enum_variant_is_said_in_words() {
        let errors = check_layout_compatibility(
            enum_host::GreeterRef::LAYOUT,
            enum_plugin::GreeterRef::LAYOUT,
        )
        .expect_err("the layouts differ");
        let d = first_difference(&errors);
        assert!(
            !d.found.contains("ExpectedFound") && !d.found.contains('{'),
            "{d:?}"
        );
        assert!(d.what.contains("variant"), "{d:?}");
    }

    /// Two versions of an interface returning `Side`, declared as `$host` and `$plugin`.
    macro_rules! side_versions {
        ($host:ident { $($h:tt)* } $plugin:ident { $($p:tt)* }) => {
            mod $host {
                #[derive(abi_stable::StableAbi, Clone, Copy)]
                $($h)*

                #[xplug::interface(name = "t")]
                pub trait Ledger {
                    fn side() -> Side;
                }
            }
            mod $plugin {
                #[derive(abi_stable::StableAbi, Clone, Copy)]
                $($p)*

                #[xplug::interface(name = "t")]
                pub trait Ledger {
                    fn side() -> Side;
                }
            }
        };
    }

    side_versions! {
        discriminant_host { #[repr(u8)] pub enum Side { Debit = 1, Credit = 2 } }
        discriminant_plugin { #[repr(u8)] pub enum Side { Debit = 1, Credit = 3 } }
    }

    side_versions! {
        repr_host { #[repr(u8)] pub enum Side { Debit, Credit } }
        repr_plugin { #[repr(u16)] pub enum Side { Debit, Credit } }
    }

    #[test]
    fn a_changed_discriminant_is_written_as_in_the_source() {
        let errors = check_layout_compatibility(
            discriminant_host::LedgerRef::LAYOUT,
            discriminant_plugin::LedgerRef::LAYOUT,
        )
        .expect_err("the layouts differ");
        let d = first_difference(&errors);
        assert_eq!(
            (d.what.as_str(), d.expected.as_str(), d.found.as_str()),
            ("enum discriminant differs", "= 2", "= 3"),
            "{d:?}"
        );
        assert!(d.at.contains("Side"), "{d:?}");
    }

    #[test]
    fn a_changed_repr_names_both_reprs_and_their_sizes() {
        let errors = check_layout_compatibility(
            repr_host::LedgerRef::LAYOUT,
            repr_plugin::LedgerRef::LAYOUT,
        )
        .expect_err("the layouts differ");
        let d = first_difference(&errors);
        assert_eq!(
            (d.what.as_str(), d.expected.as_str(), d.found.as_str()),
            (
                "`#[repr]` differs",
                "#[repr(u8)] (a 1-byte discriminant)",
                "#[repr(u16)] (a 2-byte discriminant)"
            ),
            "{d:?}"
        );
    }

    mod send_book {
        #[xplug::object]
        pub trait Book: Send {
            fn pages(&self) -> u32;
        }

        #[xplug::interface(name = "b")]
        pub trait Library {
            fn open() -> BookBox;
        }
    }

    mod sync_book {
        #[xplug::object]
        pub trait Book: Send + Sync {
            fn pages(&self) -> u32;
        }

        #[xplug::interface(name = "b")]
        pub trait Library {
            fn open() -> BookBox;
        }
    }

    #[test]
    fn an_object_that_gained_sync_says_so_in_the_traits_words() {
        let errors = check_layout_compatibility(
            send_book::LibraryRef::LAYOUT,
            sync_book::LibraryRef::LAYOUT,
        )
        .expect_err("the layouts differ");
        let d = first_difference(&errors);
        assert_eq!(
            (
                d.at.as_str(),
                d.what.as_str(),
                d.expected.as_str(),
                d.found.as_str()
            ),
            ("Book", "trait bounds differ", "Send", "Send + Sync"),
            "{d:?}"
        );
    }

    mod titled_host {
        use abi_stable::std_types::{ROption, RStr, RString};

        #[xplug::object]
        pub trait Book {
            fn find(&self, word: RStr<'_>) -> ROption<RString>;
        }

        #[xplug::interface(name = "b")]
        pub trait Library {
            fn open() -> BookBox;
        }
    }

    mod titled_plugin {
        use abi_stable::std_types::{ROption, RStr};

        #[xplug::object]
        pub trait Book {
            fn find(&self, word: RStr<'_>) -> ROption<u32>;
        }

        #[xplug::interface(name = "b")]
        pub trait Library {
            fn open() -> BookBox;
        }
    }

    mod titled_other_word {
        use abi_stable::std_types::{ROption, RString};

        #[xplug::object]
        pub trait Book {
            fn find(&self, word: u32) -> ROption<RString>;
        }

        #[xplug::interface(name = "b")]
        pub trait Library {
            fn open() -> BookBox;
        }
    }

    #[test]
    fn an_object_method_reads_as_its_trait_writes_it() {
        let errors = check_layout_compatibility(
            titled_host::LibraryRef::LAYOUT,
            titled_plugin::LibraryRef::LAYOUT,
        )
        .expect_err("the layouts differ");
        let d = first_difference(&errors);
        assert_eq!(
            (d.at.as_str(), d.expected.as_str(), d.found.as_str()),
            ("Book.find -> ROption.field_0", "RString", "u32"),
            "{d:?}"
        );
        let errors = check_layout_compatibility(
            titled_host::LibraryRef::LAYOUT,
            titled_other_word::LibraryRef::LAYOUT,
        )
        .expect_err("the layouts differ");
        let d = first_difference(&errors);
        assert_eq!(
            (d.at.as_str(), d.expected.as_str(), d.found.as_str()),
            (
                "Book.find",
                // The parameter abi_stable does not record, written as the trait does.
                "fn(&self, RStr<'a>) -> ROption<RString>",
                "fn(&self, u32) -> ROption<RString>"
            ),
            "{d:?}"
        );
    }

    #[test]
    fn types_are_written_with_their_parameters() {
        use abi_stable::std_types::{RArc, RBox, ROption, RResult, RSlice, RString, RVec};
        let cases: [(&'static TypeLayout, &str); 8] = [
            (<ROption<RString>>::LAYOUT, "ROption<RString>"),
            (
                <RResult<i64, RVec<RString>>>::LAYOUT,
                "RResult<i64, RVec<RString>>",
            ),
            (<RSlice<'static, i64>>::LAYOUT, "RSlice<'a, i64>"),
            (<RBox<ROption<u8>>>::LAYOUT, "RBox<ROption<u8>>"),
            (<RArc<u32>>::LAYOUT, "RArc<u32>"),
            (<Option<&'static mut u8>>::LAYOUT, "Option<&'a mut u8>"),
            (<*const [u16; 4]>::LAYOUT, "*const [u16; 4]"),
            (<host::Callback>::LAYOUT, "Callback"),
        ];
        for (layout, written) in cases {
            assert_eq!(type_name(layout), written);
        }
    }

    /// A `#[sabi_trait]` object whose method's parameter changed, as two crates would declare
    /// it.
    mod shapes {
        #[repr(C)]
        #[derive(abi_stable::StableAbi, Clone, Copy)]
        pub struct Point {
            pub x: i32,
            pub y: i32,
        }

        pub mod host {
            use abi_stable::sabi_trait;
            use abi_stable::std_types::RBox;

            pub use super::Point;

            #[sabi_trait]
            pub trait Shape {
                fn scale(&mut self, at: Point, by: f32) -> u32;
            }

            #[xplug::interface(name = "s")]
            pub trait Shapes {
                fn square() -> Shape_TO<'static, RBox<()>>;
            }
        }

        pub mod plugin {
            use abi_stable::sabi_trait;
            use abi_stable::std_types::RBox;

            pub use super::Point;

            #[sabi_trait]
            pub trait Shape {
                fn scale(&mut self, at: Point, by: f64) -> u32;
            }

            #[xplug::interface(name = "s")]
            pub trait Shapes {
                fn square() -> Shape_TO<'static, RBox<()>>;
            }
        }
    }

    #[test]
    fn a_sabi_trait_method_reads_as_its_trait_writes_it() {
        let errors = check_layout_compatibility(
            shapes::host::ShapesRef::LAYOUT,
            shapes::plugin::ShapesRef::LAYOUT,
        )
        .expect_err("the layouts differ");
        let d = first_difference(&errors);
        assert_eq!(
            (d.at.as_str(), d.expected.as_str(), d.found.as_str()),
            (
                "Shape.scale",
                "fn(&mut self, Point, f32) -> u32",
                "fn(&mut self, Point, f64) -> u32"
            ),
            "{d:?}"
        );
    }
}
