//! The verdict of comparing two builds of one interface.

use crate::error::LayoutDifference;

/// How a new build of an interface relates to an old one.
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "verdict", rename_all = "snake_case"))]
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The same functions with the same layouts.
    NoChange,
    /// Functions, object methods or host services appended after the old ones; nothing else
    /// changed. Hosts of either build load plugins of the other (an old plugin's missing
    /// functions and methods report `CallErrorKind::Missing`).
    Minor {
        /// What was appended, in order: `shout`, or `Counter.reset` for an object's method.
        appended: Vec<String>,
    },
    /// Anything else: every difference, the old build's side as expected.
    Breaking {
        /// Where and how the layouts differ.
        differences: Vec<LayoutDifference>,
    },
}
