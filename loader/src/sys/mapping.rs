//! A library this process mapped, and what unloading it did.

use std::fs;
use std::mem::ManuallyDrop;
use std::path::PathBuf;
use std::sync::Arc;

use abi_stable::library::RawLibrary;

use super::{Image, SealedFile};

/// What became of an unloaded library.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unloaded {
    /// Its code and data left the process, and their memory was returned.
    Unmapped,
    /// Closed, but the dynamic loader keeps it mapped: it was marked not to be unloaded (e.g.
    /// by thread-local destructors it registered on threads still running, or `-z nodelete`).
    /// It costs what a library never unloaded costs. A snapshot is not used again (a later
    /// load of the same bytes maps them anew); a file loaded in place is the library the
    /// dynamic loader returns for that file, so a later load of the unchanged file in place
    /// takes it back, as it was, without initialising it again.
    StillMapped,
    /// Closed; the system does not tell whether it was unmapped (Linux, macOS, FreeBSD and
    /// Windows do: the dynamic loader says whether the library is still at its address). Its
    /// snapshot's descriptor, if any, stays open.
    Closed,
    /// An isolated plugin: its process was ended.
    Exited,
}

/// A library this process mapped: its handle, and the descriptor it was opened through.
///
/// Dropping it does nothing: a library stays loaded, and its descriptor open, unless
/// [`Mapping::unload`] is called. The descriptor must stay open while the library is mapped:
/// the dynamic loader knows the library by its path `/proc/self/fd/N`, and would return it for
/// a later `dlopen` of that path were `N` reused for another file.
pub(crate) struct Mapping {
    raw: ManuallyDrop<RawLibrary>,
    descriptor: ManuallyDrop<Option<Arc<SealedFile>>>,
    /// An address inside the library, and the library the dynamic loader found there when it
    /// was opened, where the system tells: whether it is still there says whether the library
    /// left.
    probe: Option<(usize, Image)>,
    /// A snapshot copy that outlives the `dlopen` (Windows keeps a loaded DLL's file).
    copy: Option<PathBuf>,
}

impl Mapping {
    /// `raw`, opened through `descriptor` (a memfd) or from `copy` (a snapshot copy still on
    /// disk); `inside` is the address of something it defines (none for a library that is
    /// never unloaded).
    pub(crate) fn new(
        raw: RawLibrary,
        descriptor: Option<Arc<SealedFile>>,
        copy: Option<PathBuf>,
        inside: Option<usize>,
    ) -> Mapping {
        Mapping {
            raw: ManuallyDrop::new(raw),
            descriptor: ManuallyDrop::new(descriptor),
            probe: inside.and_then(|at| Some((at, super::image_at(at)?))),
            copy,
        }
    }

    /// Closes the library (`dlclose`, `FreeLibrary`: its destructors run), then closes its
    /// descriptor and removes its snapshot copy once it is known to be unmapped.
    ///
    /// # Safety
    /// Nothing of the library may be used afterwards: no call into it is running or will
    /// start, no value it made (pointers into its code or data) is alive, no thread it
    /// started runs, and nothing of it is registered anywhere (see `Plugin::unload`).
    pub(crate) unsafe fn unload(self) -> Unloaded {
        let Mapping {
            raw,
            descriptor,
            probe,
            copy,
        } = self;
        // `dlclose`.
        drop(ManuallyDrop::into_inner(raw));
        // The library is still mapped if the dynamic loader still finds it at its address
        // (another library mapped there since, under another name or base, is not it). Where
        // the system does not say, a copy the system keeps while its DLL is loaded (Windows)
        // does: it can be removed once the DLL is unmapped. (One that cannot be removed yet
        // is removed by a later process: `private_dir::remove_leftovers`.)
        let found = |(at, image): &(usize, Image)| super::image_at(*at).as_ref() == Some(image);
        let still_mapped = probe.as_ref().map(found).or_else(|| {
            copy.as_ref()
                .filter(|_| super::private_dir::COPIES_OUTLIVE_PROCESSES)
                .map(|copy| fs::remove_file(copy).is_err())
        });
        let remove_copy = || {
            if let Some(copy) = &copy {
                let _ = fs::remove_file(copy);
            }
        };
        match still_mapped {
            Some(false) => {
                drop(ManuallyDrop::into_inner(descriptor));
                remove_copy();
                Unloaded::Unmapped
            }
            // The descriptor stays open with the library it names (see `Mapping`).
            Some(true) => Unloaded::StillMapped,
            None => {
                // Not known to be unmapped: a descriptor stays open, for the same reason.
                remove_copy();
                Unloaded::Closed
            }
        }
    }
}
