//! Integration tests: a real host loading real plugin files.
//!
//! One test binary (one link step). The harness builds every plugin and fixture once per run
//! (`support::plugins`), with the same cargo that runs the tests.

mod allocations;
mod bad_inputs;
mod compilers;
mod diagnostics;
mod hosts;
mod layout_checks;
mod loading;
mod objects;
mod panics;
#[cfg(target_os = "linux")]
mod reads;
mod rejections;
mod reload;
mod snapshots;
mod support;
mod template;
mod trust;
#[cfg(target_os = "linux")]
mod unload;
mod versions;
mod windows;
