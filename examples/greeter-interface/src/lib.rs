//! The `greeter` plugin interface: the shared interface crate of xplug's demo.
//!
//! The demo host and every greeter plugin depend on this crate. Its Cargo version is the
//! interface version: 1.0.0 had every function up to `parse_number`; 1.1.0 appended `shout`,
//! and `reset` to the `Counter` object.
#![warn(missing_docs)]

use abi_stable::std_types::{ROption, RResult, RSlice, RStr, RString, RVec};
use abi_stable::StableAbi;

/// Greets people, in the plugin's language.
#[xplug::interface(name = "greeter", host = GreeterHost)]
pub trait Greeter {
    /// A greeting for `name`. Greeting nobody is a bug: plugins panic on an empty name.
    fn greet(name: RStr<'_>) -> RString;
    /// Adds two numbers.
    fn add(a: u32, b: u32) -> u32;
    /// The distinct words of `text`, sorted.
    fn words(text: RStr<'_>) -> RVec<RString>;
    /// `f` applied to each value: the host passes a callback.
    fn map(values: RSlice<'_, i64>, f: Callback) -> RVec<i64>;
    /// A counter object that starts at `start`.
    fn counter(start: u64) -> CounterBox;
    /// Advances `counter`, an object the host made, `times` times; returns the last value.
    fn drive(counter: &mut CounterBox, times: u32) -> u64;
    /// The plugin's word for `word` in English, if it knows one (or the host's `setting` for
    /// it).
    fn translate(word: RStr<'_>) -> ROption<RString>;
    /// Parses an integer, or says why it cannot.
    fn parse_number(text: RStr<'_>) -> RResult<i64, RString>;
    /// `text`, shouted.
    #[xplug(since = "1.1")]
    fn shout(text: RStr<'_>) -> RString;
}

/// A function the host passes to a plugin.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug)]
pub struct Callback(pub extern "C" fn(i64) -> i64);

/// A stateful object a plugin hands to the host ([`CounterBox`]): its methods and its drop
/// run in the plugin, and a panic in them comes back to the host as a `CallError`.
#[xplug::object]
pub trait Counter: Send {
    /// The next value.
    fn next(&mut self) -> u64;
    /// Moves on by `steps` and returns the value reached. Skipping zero steps is a bug:
    /// plugins panic on it.
    fn skip(&mut self, steps: u64) -> u64;
    /// Starts over from zero; returns the value it had reached.
    #[xplug(since = "1.1")]
    fn reset(&mut self) -> u64;
}

/// What a host offers greeter plugins ([`GreeterHostBox`]); plugins reach it through
/// `Greeter::host()`.
#[xplug::object]
pub trait GreeterHost: Send + Sync {
    /// The host's word for `key`, if it has one.
    fn setting(&self, key: RStr<'_>) -> ROption<RString>;
}
