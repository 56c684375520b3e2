//! Compile errors of `#[xplug::interface]`: one file per rule an interface breaks, each with
//! the error it must produce (`ui/*.stderr`). Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p xplug --test ui` and review the diff.

#[test]
fn interface_rules_are_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
