//! Stage 5's diagnosis: the first difference between two root-module layouts.

use abi_stable::abi_stability::abi_checking::{
    AbiInstability, AbiInstabilityErrors, ExpectedFound,
};
use abi_stable::type_layout::{TLField, TLFieldOrFunction, TLFunction, TypeLayout};

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
    let (first, err) = match found {
        Some(found) => found,
        None => {
            return LayoutDifference {
                at: errors.interface.name().to_owned(),
                what: String::from("layouts differ"),
                expected: errors.interface.full_type().to_string(),
                found: errors.implementation.full_type().to_string(),
            };
        }
    };
    let mut at = String::new();
    // The signatures of the innermost function on the path, where its parameter segment
    // starts in `at`, and how deep below it the difference lies (1: a parameter itself).
    let mut signatures = None;
    let mut param_at = 0;
    let mut below_function = 0;
    for step in first.stack_trace.iter() {
        match &step.expected {
            // A `PrefixRef` points at the module through its field `0`: name the module.
            TLFieldOrFunction::Field(f) if at.is_empty() => {
                at = f.full_type().name().to_owned();
            }
            // A parameter or the return type: name its type, `map(Callback)`.
            TLFieldOrFunction::Field(f) if signatures.is_some() && below_function == 0 => {
                below_function = 1;
                param_at = at.len();
                at.push('(');
                at.push_str(f.full_type().name());
                at.push(')');
            }
            TLFieldOrFunction::Field(f) => {
                below_function += 1;
                at.push('.');
                at.push_str(f.name());
            }
            TLFieldOrFunction::Function(expected) => {
                if let TLFieldOrFunction::Function(found) = &step.found {
                    signatures = Some((signature(expected), signature(found)));
                    below_function = 0;
                }
            }
        }
    }
    if at.is_empty() {
        at = errors.interface.name().to_owned();
    }
    let (what, mut expected, mut found) = describe(err);
    // A changed parameter or return type reads best as the two signatures; a difference
    // deeper inside a parameter's type, as the types that differ.
    if let (Some((e, f)), 0..=1) = (signatures, below_function) {
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

/// `extern "C" fn(u32, u32) -> u32`: a root-module function as the interface declares it
/// (its `CallResult` wrapper unwrapped).
fn signature(f: &TLFunction) -> String {
    let params: Vec<String> = f
        .param_type_layouts
        .iter()
        .map(|layout| layout().full_type().to_string())
        .collect();
    let ret = match f.return_type_layout() {
        Some(layout) => {
            call_result_value(layout()).unwrap_or_else(|| layout().full_type().to_string())
        }
        None => String::from("()"),
    };
    format!("extern \"C\" fn({}) -> {}", params.join(", "), ret)
}

/// `T` for a `CallResult<T>` (`RResult<T, Contained>`), the return type the interface
/// declared.
fn call_result_value(layout: &'static TypeLayout) -> Option<String> {
    if layout.name() != "RResult" {
        return None;
    }
    let fields = layout.get_fields()?;
    let mut fields = fields.iter();
    let (ok, err) = (fields.next()?, fields.next()?);
    (err.full_type().name() == "Contained").then(|| ok.full_type().to_string())
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
        AI::FieldCountMismatch(_) | AI::MismatchedPrefixSize(_) | AI::PackageVersion(_) => 1,
        AI::Size(_) | AI::Alignment(_) => 2,
        _ => 3,
    }
}

fn field(f: &TLField) -> String {
    if f.function_range().is_empty() {
        format!("field `{}: {}`", f.name(), f.full_type())
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
        AI::Size(v) => shown("size differs", v),
        AI::Alignment(v) => shown("alignment differs", v),
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
        other => {
            let text = format!("{:?}", other);
            ("layouts differ", String::from("the host's layout"), text)
        }
    }
}
