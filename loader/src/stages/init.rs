//! Stage 6: the plugin's connection to its host (its log bridge, the host's services), then
//! its `on_load` hook, run once per library after every check passed.

// The functions below return the bare `ErrorKind`, which the caller wraps with the path into a
// (boxed, small) `LoadError`: a large `Err` is fine on these cold, private paths.
#![allow(clippy::result_large_err)]

use std::path::Path;

use xplug::__private::LoadHookError;
use xplug::Interface;

use crate::error::{ErrorKind, LoadError};
use crate::process::library::Library;

/// Runs `module`'s `on_load` hook, once per library; later calls get the first outcome. No
/// lock is held while it runs: a load from inside the hook that needs this library's outcome,
/// directly or through a chain of xplug loads waiting for each other on other threads, is
/// refused with [`ErrorKind::Reentrant`], not left waiting forever. Waits xplug does not see
/// (a hook joining a thread that loads the same plugin) can still deadlock.
pub(crate) fn on_load<M: Interface>(
    library: &Library,
    path: &Path,
    module: M,
    host: Option<&'static M::Host>,
) -> Result<(), LoadError> {
    let error = |kind| LoadError::new(path, kind).with_plugin(&library.info);
    let services = super::services_address::<M>(host);
    let (outcome, connected) = library
        .loaded
        .get_or_run(
            |_| true,
            || {
                // SAFETY: `module` comes from `library`, whose header, version and layout
                // stages 3 to 5 checked against `M`; `get_or_run` runs this once per library,
                // before `Loader` hands out the module.
                let outcome = unsafe { module.__on_load(host) };
                let outcome = outcome.map_err(|e| match e {
                    LoadHookError::Failed(message) => ErrorKind::InitFailed { message },
                    LoadHookError::Panicked { message, location } => {
                        ErrorKind::InitPanicked { message, location }
                    }
                });
                (outcome, services)
            },
        )
        .map_err(|_| {
            error(ErrorKind::Reentrant {
                step: "on_load hook",
            })
        })?;
    outcome.map_err(error)?;
    // A plugin keeps the services it was first handed: another loader's would not reach it.
    // (Snapshots are found by their services too; a file loaded in place is one library.)
    if connected != services {
        return Err(error(ErrorKind::ServicesDiffer {}));
    }
    Ok(())
}
