//! Stage 5's diagnosis: the first difference between two root-module layouts.

use abi_stable::abi_stability::abi_checking::{AbiInstability, AbiInstabilityErrors};
use abi_stable::type_layout::{TLField, TLFieldOrFunction};

use crate::error::LayoutDifference;

/// Finds the first difference that abi_stable reported, with the path that leads to it.
pub(crate) fn first_difference(errors: &AbiInstabilityErrors) -> LayoutDifference {
    let mut at = errors.interface.name().to_owned();
    let fallback = || LayoutDifference {
        at: errors.interface.name().to_owned(),
        what: String::from("layouts differ"),
        expected: errors.interface.full_type().to_string(),
        found: errors.implementation.full_type().to_string(),
    };
    let Some(first) = errors.errors.first() else {
        return fallback();
    };
    for step in first.stack_trace.iter() {
        let name = match &step.expected {
            TLFieldOrFunction::Field(f) => f.name(),
            TLFieldOrFunction::Function(f) => f.name.as_str(),
        };
        at.push('.');
        at.push_str(name);
    }
    let Some(err) = first.errs.first() else {
        return fallback();
    };
    let (what, expected, found) = describe(err);
    LayoutDifference {
        at,
        what: what.to_owned(),
        expected,
        found,
    }
}

fn field(f: &TLField) -> String {
    format!("field `{}: {}`", f.name(), f.full_type())
}

fn describe(err: &AbiInstability) -> (&'static str, String, String) {
    use AbiInstability as AI;
    match err {
        AI::Name(v) => ("type differs", v.expected.to_string(), v.found.to_string()),
        AI::Package(v) => (
            "defined in another crate",
            v.expected.to_string(),
            v.found.to_string(),
        ),
        AI::PackageVersion(v) => (
            "incompatible crate versions",
            v.expected.to_string(),
            v.found.to_string(),
        ),
        AI::Size(v) => ("size differs", v.expected.to_string(), v.found.to_string()),
        AI::Alignment(v) => (
            "alignment differs",
            v.expected.to_string(),
            v.found.to_string(),
        ),
        AI::FieldCountMismatch(v) => (
            "number of fields differs",
            format!("{} fields", v.expected),
            format!("{} fields", v.found),
        ),
        AI::UnexpectedField(v) => ("field differs", field(&v.expected), field(&v.found)),
        AI::FieldLifetimeMismatch(v) => (
            "lifetimes differ",
            field(&v.expected),
            field(&v.found),
        ),
        AI::FnLifetimeMismatch(v) | AI::FnQualifierMismatch(v) => (
            "function signature differs",
            v.expected.to_string(),
            v.found.to_string(),
        ),
        AI::MismatchedPrimitive(v) => (
            "primitive type differs",
            format!("{:?}", v.expected),
            format!("{:?}", v.found),
        ),
        AI::MismatchedPrefixSize(v) => (
            "number of required functions differs",
            v.expected.to_string(),
            v.found.to_string(),
        ),
        other => {
            let text = format!("{:?}", other);
            ("layouts differ", String::from("the host's layout"), text)
        }
    }
}
