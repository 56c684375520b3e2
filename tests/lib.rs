//! The integration tests live in `integration/`. This crate also compiles the code of the
//! README and of the documentation pages: each page is the docs of a hidden module here, so
//! that its examples run as doctests.
#![doc = include_str!("../README.md")]

#[doc = include_str!("../docs/guide/1-interfaces.md")]
mod guide_interfaces {}

#[doc = include_str!("../docs/guide/2-plugins.md")]
mod guide_plugins {}

#[doc = include_str!("../docs/guide/3-hosts.md")]
mod guide_hosts {}

#[doc = include_str!("../docs/guide/4-objects-and-host-services.md")]
mod guide_objects_and_host_services {}

#[doc = include_str!("../docs/guide/5-logs.md")]
mod guide_logs {}

#[doc = include_str!("../docs/guide/6-trust.md")]
mod guide_trust {}

#[doc = include_str!("../docs/guide/7-hot-reload.md")]
mod guide_hot_reload {}

#[doc = include_str!("../docs/guide/8-limits.md")]
mod guide_limits {}

#[doc = include_str!("../docs/guide/9-isolation.md")]
mod guide_isolation {}

#[doc = include_str!("../docs/guide/10-async.md")]
mod guide_async {}

#[doc = include_str!("../docs/compatibility.md")]
mod compatibility {}

#[doc = include_str!("../docs/diagnostics.md")]
mod diagnostics {}

#[doc = include_str!("../docs/performance.md")]
mod performance {}

#[doc = include_str!("../docs/testing.md")]
mod testing {}

#[doc = include_str!("../loader/README.md")]
mod loader_readme {}
