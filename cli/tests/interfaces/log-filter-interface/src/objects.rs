//! An object in a module of its own, its names from a glob import.

use abi_stable::std_types::*;

/// Records a plugin holds for the host.
#[xplug::object]
pub trait Batch: Send {
    /// How many records it holds.
    fn count(&self) -> u64;
    /// Their messages, in order.
    fn messages(&self) -> RVec<RString>;
}
