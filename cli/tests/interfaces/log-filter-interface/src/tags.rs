//! A private module: its items are public through the crate root's re-export only.

use abi_stable::StableAbi;

/// A number a host tags batches with.
#[repr(transparent)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag(pub u32);
