//! The values that cross the boundary.

use abi_stable::std_types::RString;
use abi_stable::StableAbi;

/// How important a record is.
#[repr(u8)]
#[derive(StableAbi, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something failed.
    Error,
    /// Something may fail.
    Warn,
    /// Something happened.
    Info,
}

/// One log record.
#[repr(C)]
#[derive(StableAbi, Clone, Debug)]
pub struct Record {
    /// Its level.
    pub level: Level,
    /// Where it comes from.
    pub target: RString,
    /// What it says.
    pub message: RString,
}
