//! Hot reload (cargo feature `reload`): a [`Live`] handle serves the newest good version of a
//! plugin file, and a [`Watcher`] keeps one for each library file of a directory, reloading it
//! when the file changes.

mod live;
mod watch;

pub use live::{Held, Live, Reload, Unloads};
pub use watch::{Event, Watcher};
