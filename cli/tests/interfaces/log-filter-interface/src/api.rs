//! The interface, its object and the host's services.

use abi_stable::std_types::{ROption, RStr, RString as Text, RVec};

use super::types;
use crate::tags::Tag;
use crate::types::Record;

/// A filter a plugin makes from a specification: the host feeds it records.
#[xplug::object]
pub trait Filter: Send {
    /// Whether `record` passes.
    fn keep(&mut self, record: &Record) -> bool;
    /// How many records passed so far.
    fn kept(&self) -> u64;
    /// The lowest level that passes.
    fn threshold(&self) -> types::Level;
    /// The filter, described for a log line.
    fn describe(&self) -> Text;
}

/// What the host offers filter plugins.
#[xplug::object]
pub trait FilterHost: Send + Sync {
    /// The host's setting `key`, if it has one.
    fn setting(&self, key: RStr<'_>) -> ROption<Text>;
}

/// Filters log records.
#[xplug::interface(name = "log-filter", host = FilterHost)]
pub trait LogFilter {
    /// A filter for `spec` (e.g. `warn,net=info`), or why `spec` is not one.
    fn filter(spec: RStr<'_>) -> abi_stable::std_types::RResult<FilterBox, Text>;
    /// The levels this plugin knows, from the most important.
    fn levels() -> RVec<crate::types::Level>;
    /// `records` without those no filter would keep.
    fn prune(records: RVec<Record>) -> RVec<Record>;
    /// `records`, held by the plugin under `tag`.
    ///
    /// ```
    /// // An example for hosts, in the interface's docs: no test of a plugin's.
    /// let tag = log_filter_interface::Tag(7);
    /// assert_eq!(tag.0, 7);
    /// ```
    fn batch(records: RVec<Record>, tag: Tag) -> crate::objects::BatchBox;
    /// How many levels the plugin knows by the name `r#type`.
    fn levels_of(r#type: RStr<'_>) -> u32;
}
