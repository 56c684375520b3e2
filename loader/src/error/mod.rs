//! Why a file was not loaded: a [`LoadError`] names the file and, once read, the plugin's
//! header; its [`ErrorKind`] carries the facts of the one check that failed and belongs to one
//! [`Stage`]; a [`Report`] renders it in a few lines that say who must act.

mod kind;
mod load_error;
mod report;
mod text;

pub use kind::{ErrorKind, LayoutDifference, Stage};
pub use load_error::LoadError;
#[cfg(feature = "serde")]
pub use report::Diagnostic;
pub use report::Report;
pub use text::escape_control;
pub(crate) use text::one_line;
