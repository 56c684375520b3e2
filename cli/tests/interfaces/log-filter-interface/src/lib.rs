//! The `log-filter` interface: plugins that filter a host's log records.
//!
//! Written the way an application's interface crate may be: the interface in a module of its
//! own, its types in another, names imported under other names and through `crate::` and
//! `super::` paths, an object the plugin makes and services the host offers.

pub mod api;
pub mod types;
