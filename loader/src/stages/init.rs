//! Stage 6: the plugin's `on_load` hook, run once per library after every check passed.

use xplug::__private::LoadHookError;
use xplug::Interface;

use crate::error::{ErrorKind, LoadError};
use crate::registry::Library;

/// Runs `module`'s `on_load` hook, once per library; later calls get the first outcome.
pub(crate) fn on_load<M: Interface>(library: &Library, module: M) -> Result<(), LoadError> {
    library.loaded.get_or_init(|| {
        // SAFETY: `module` comes from `library`, whose header, version and layout stages 3 to
        // 5 checked against `M`; `get_or_init` runs this once per library, before `Loader`
        // hands out the module.
        let outcome = unsafe { module.__on_load() };
        outcome.map_err(|e| {
            library.error(match e {
                LoadHookError::Failed(message) => ErrorKind::InitFailed { message },
                LoadHookError::Panicked { message, location } => {
                    ErrorKind::InitPanicked { message, location }
                }
            })
        })
    })
}
