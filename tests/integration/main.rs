//! Integration tests: a real host loading real plugin files.
//!
//! One test binary (one link step). The harness builds every plugin and fixture once per run
//! (`support::plugins`), with the same cargo that runs the tests.

// The call path allocates nothing beyond what the plugin function allocates.
mod allocations;
// aarch64 Linux under qemu: hosts, plugins and the xplug tool built for a second architecture.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod aarch64;
// Plugins with `async fn`, awaited by a tokio host.
mod async_plugins;
// The table of bad inputs and what each error must say (used by rejections and diagnostics).
mod bad_inputs;
// The compiler grid, plugin side: plugins built by every compiler load in this host.
mod compilers;
// Every rejection's report and JSON against golden files.
mod diagnostics;
// xplug ABI 1, frozen: a plugin built with ABI 1's crates loads in today's host.
mod frozen_abi;
// The compiler grid, host side: demo hosts built by every compiler load every plugin.
mod hosts;
// Each distinct root-module layout is checked in full once per process.
mod layout_checks;
// Isolated plugins: crashes, hangs and attacks on the channel are call errors; restarts.
#[cfg(target_os = "linux")]
mod isolation;
// Loading files and directories: one plugin per file, side by side, from many threads.
mod loading;
// Interface crates as their authors write them, built by cargo.
mod interface_crates;
// Objects either side makes, host services, plugins' log records.
mod objects;
// Panic containment: a panicking plugin returns an error and the host keeps running.
mod panics;
// What stages 1 to 3 read of a file: the pieces they need, never the whole file.
#[cfg(target_os = "linux")]
mod reads;
// Bad input of every kind is refused with its own kind and facts; the host keeps running.
mod rejections;
// The guide's quick start, built as a user builds it: its manifests resolve as written.
mod quick_start;
// Hot reload: live handles, directory watchers, state handover, the quarantine journal.
mod reload;
// Entries that are not libraries: listed by load_dir, reported once per appearance by watchers.
mod skipped;
// What loads is what was checked: one read, a private snapshot, identity by content.
mod snapshots;
// Shared helpers: the built plugins, scratch directories, a loader.
mod support;
// Trust policies (pins, allow-lists, signatures) and files others can write.
mod trust;
// Unloading, the opt-in: retired generations and plain handles leave the process.
#[cfg(target_os = "linux")]
mod unload;
// The version rule: both directions within a major version; hosts' own requirements.
mod versions;
// Windows under wine: hosts, plugins and the xplug tool built for Windows.
mod windows;
