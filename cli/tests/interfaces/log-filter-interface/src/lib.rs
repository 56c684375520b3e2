//! The `log-filter` interface: plugins that filter a host's log records.
//!
//! Written the way an application's interface crate may be: the interface in a module of its
//! own, its types in others (one private, re-exported), names imported under other names,
//! through globs and through `crate::` and `super::` paths, objects the plugin makes and
//! services the host offers.

pub mod api;
pub mod objects;
mod tags;
pub mod types;

pub use tags::Tag;
