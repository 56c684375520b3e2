//! The host's async runtime, lent to its plugins: plugins call `xplug::runtime::{spawn,
//! sleep, timeout}`, and the host's executor runs them. See [`xplug::runtime`].
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # {
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! xplug_loader::runtime::set_executor(xplug_loader::runtime::Tokio::new(runtime.handle().clone()));
//! # }
//! # Ok::<(), std::io::Error>(())
//! ```

pub use xplug::future::BoxFuture;
pub use xplug::runtime::{set_executor, Executor};

/// A tokio runtime lent to plugins (feature `tokio`): tasks spawned on it, timers from its
/// time driver (the runtime must have it: `enable_time`).
#[cfg(feature = "tokio")]
#[derive(Debug, Clone)]
pub struct Tokio {
    handle: tokio::runtime::Handle,
}

#[cfg(feature = "tokio")]
impl Tokio {
    /// Lends the runtime of `handle`.
    pub fn new(handle: tokio::runtime::Handle) -> Tokio {
        Tokio { handle }
    }

    /// Lends the runtime this code runs in.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime, as [`tokio::runtime::Handle::current`].
    pub fn current() -> Tokio {
        Tokio::new(tokio::runtime::Handle::current())
    }
}

#[cfg(feature = "tokio")]
impl Executor for Tokio {
    fn spawn(&self, task: BoxFuture<'static, ()>) {
        drop(self.handle.spawn(task));
    }

    fn sleep(&self, duration: std::time::Duration) -> BoxFuture<'static, ()> {
        // A plugin's future may be polled off the runtime's threads: the timer is made in
        // the runtime's context.
        let _context = self.handle.enter();
        Box::pin(tokio::time::sleep(duration))
    }
}
