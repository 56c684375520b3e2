//! The `greeter` plugin interface: the shared interface crate of xplug's demo.
//!
//! The demo host and every greeter plugin depend on this crate. Its Cargo version is the
//! interface version: 1.0.0 had every function up to `parse_number`; 1.1.0 appended `shout`.
#![warn(missing_docs)]
// abi_stable's `#[sabi_trait]` expands to impls inside a const block, which newer compilers
// lint; `unknown_lints` keeps older compilers, which lack the lint, quiet.
#![allow(unknown_lints, non_local_definitions)]

use abi_stable::std_types::{RBox, ROption, RResult, RSlice, RStr, RString, RVec};
use abi_stable::{sabi_trait, StableAbi};

/// Greets people, in the plugin's language.
#[xplug::interface(name = "greeter")]
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
    /// The plugin's word for `word` in English, if it knows one.
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

/// A stateful object a plugin hands to the host.
#[sabi_trait]
pub trait Counter {
    /// The next value.
    fn next(&mut self) -> u64;
}

/// An owned [`Counter`] trait object.
pub type CounterBox = Counter_TO<'static, RBox<()>>;
