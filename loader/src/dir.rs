//! Plugin directories: [`Loader::load_dir`] and what it found.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use xplug::Interface;

use crate::error::{ErrorKind, LoadError};
use crate::loader::Loader;
use crate::plugin::Plugin;
use crate::stages::file;
use crate::trust;

/// What [`Loader::load_dir`] found: the plugins it loaded, one error per refused file, and
/// the entries it did not try.
#[non_exhaustive]
pub struct DirReport<M> {
    /// The loaded plugins, in file-name order.
    pub plugins: Vec<Plugin<M>>,
    /// One error per refused file.
    pub rejected: Vec<LoadError>,
    /// The entries not tried because their names are not library names (`README.md`,
    /// `random.bin`, `libz.so.1`; subdirectories too, which are not searched), in file-name
    /// order. A library's detached signature (`libx.so.minisig`, which a trust policy that
    /// requires signatures reads) is not listed, whether or not its library is there.
    pub skipped: Vec<PathBuf>,
}

impl<M> fmt::Debug for DirReport<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirReport")
            .field("plugins", &self.plugins)
            .field("rejected", &self.rejected)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl<M: Interface> Loader<M> {
    /// Loads every library in `dir` (files named `*.so`, `*.dll` or `*.dylib`, as this
    /// platform names them), in file-name order. A file that fails any check is reported in
    /// [`DirReport::rejected`] and never stops the others; an entry whose name is not a
    /// library name is listed in [`DirReport::skipped`]. Only an unreadable `dir` is an
    /// error. Each file is loaded as by [`load`](Loader::load), under the same trust contract.
    ///
    /// What depends on a file alone (opening it, the checks its first blocks allow, who may
    /// change it, reading it or making its snapshot) runs for several files at once, on as
    /// many threads as the host has cores (at most 8). The rest of each load (the trust
    /// policy, the quarantine journal, `dlopen` and the static constructors it runs, the
    /// layout check and `on_load`) runs on the calling thread, one file after the other, in
    /// file-name order. At most four files a thread, and 256 MiB of files, are read ahead of
    /// their loads. A loader that isolates its plugins loads them one after the other.
    pub fn load_dir(&self, dir: impl AsRef<Path>) -> Result<DirReport<M>, LoadError> {
        let Listing {
            libraries,
            skipped,
            unreadable: mut rejected,
        } = Listing::of(dir.as_ref())?;
        let mut plugins: Vec<Plugin<M>> = Vec::new();
        let mut add = |load: Result<Plugin<M>, LoadError>| match load {
            Ok(plugin) if plugins.iter().any(|p| p.same_library(&plugin)) => {}
            Ok(plugin) => plugins.push(plugin),
            Err(e) => rejected.push(e),
        };
        if self.is_isolated() {
            libraries.iter().for_each(|path| add(self.load(path)));
        } else {
            // A batch at a time: the files read and not loaded yet stay few and small.
            let threads = threads_for(libraries.len());
            let mut rest = libraries.as_slice();
            while !rest.is_empty() {
                let (batch, after) = rest.split_at(batch_len(rest, threads * BATCH_PER_THREAD));
                rest = after;
                let reads = in_parallel(batch, threads, |path| self.read(path));
                for (path, read) in batch.iter().zip(reads) {
                    add(read.and_then(|read| self.load_read(path, read)));
                }
            }
        }
        Ok(DirReport {
            plugins,
            rejected,
            skipped,
        })
    }
}

/// The most threads [`Loader::load_dir`] reads files on.
const MAX_THREADS: usize = 8;

/// How many files per thread [`Loader::load_dir`] reads before it loads them.
const BATCH_PER_THREAD: usize = 4;

/// The most bytes of files [`Loader::load_dir`] reads in one batch (one file more than that is
/// read alone).
const BATCH_BYTES: u64 = 256 << 20;

/// How many of `paths`, from the first, make the next batch: at most `most` files, whose sizes
/// (as the directory says now: a file that grows is bounded by the loader's file size limit)
/// add up to at most [`BATCH_BYTES`], and at least one file.
fn batch_len(paths: &[PathBuf], most: usize) -> usize {
    let mut bytes = 0u64;
    let mut len = 0;
    for path in paths.iter().take(most) {
        let size = fs::metadata(path).map_or(0, |meta| meta.len());
        bytes = bytes.saturating_add(size);
        if len > 0 && bytes > BATCH_BYTES {
            break;
        }
        len += 1;
    }
    len.max(1)
}

/// How many threads to read `files` files on: as many as the host has cores, at most
/// [`MAX_THREADS`], at most one per file, at least one.
fn threads_for(files: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS)
        .min(files)
        .max(1)
}

/// `work` on every item, on up to `threads` threads, the calling thread among them (alone if
/// no other thread can be started); the results in the items' order.
fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    // Each thread takes the next item not taken yet.
    let next = AtomicUsize::new(0);
    let take = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            match items.get(i) {
                Some(item) => done.push((i, work(item))),
                None => return done,
            }
        }
    };
    let mut done: Vec<(usize, R)> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads)
            .map_while(|_| {
                // A thread the system refuses leaves its share to the others.
                std::thread::Builder::new()
                    .name(String::from("xplug-load-dir"))
                    .spawn_scoped(scope, take)
                    .ok()
            })
            .collect();
        let mut done = take();
        for other in others {
            match other.join() {
                Ok(theirs) => done.extend(theirs),
                // Reading does not panic; a panic there is the caller's, as if it had run on
                // the calling thread.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        done
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, result)| result).collect()
}

/// What a plugin directory holds, by name.
pub(crate) struct Listing {
    /// The entries named like libraries, sorted.
    pub(crate) libraries: Vec<PathBuf>,
    /// The entries named neither like a library nor like a library's signature, sorted.
    pub(crate) skipped: Vec<PathBuf>,
    /// An error per entry that could not be read.
    pub(crate) unreadable: Vec<LoadError>,
}

impl Listing {
    /// The entries of `dir`.
    pub(crate) fn of(dir: &Path) -> Result<Listing, LoadError> {
        let entries = fs::read_dir(dir).map_err(|e| file::io_error(dir, e))?;
        let mut listing = Listing {
            libraries: Vec::new(),
            skipped: Vec::new(),
            unreadable: Vec::new(),
        };
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let path = entry.path();
                    match Entry::of(&path) {
                        Entry::Library => listing.libraries.push(path),
                        Entry::Signature(_) => {}
                        Entry::Other => listing.skipped.push(path),
                    }
                }
                Err(e) => listing.unreadable.push(LoadError::new(
                    dir,
                    ErrorKind::Unreadable {
                        source: Arc::new(e),
                    },
                )),
            }
        }
        listing.libraries.sort();
        listing.skipped.sort();
        Ok(listing)
    }
}

/// What an entry of a plugin directory is to the loader, by its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A library file name: a plugin to try.
    Library,
    /// The detached signature of the library named (`libx.so.minisig`, as
    /// `trust::signature_path` names it), which a trust policy may read when it loads.
    Signature(PathBuf),
    /// Anything else: not tried.
    Other,
}

impl Entry {
    /// What the entry at `path` is, by its file name alone.
    pub(crate) fn of(path: &Path) -> Entry {
        if is_library_file_name(path) {
            Entry::Library
        } else if path
            .extension()
            .map_or(false, |ext| ext == trust::SIGNATURE_EXTENSION)
            && is_library_file_name(&path.with_extension(""))
        {
            Entry::Signature(path.with_extension(""))
        } else {
            Entry::Other
        }
    }
}

/// Whether `path` is named like a shared library of this platform.
pub fn is_library_file_name(path: &Path) -> bool {
    path.extension()
        .map_or(false, |ext| ext == std::env::consts::DLL_EXTENSION)
}

/// This platform's file name for the library `name`: `libname.so`, `name.dll`,
/// `libname.dylib`.
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name,
        std::env::consts::DLL_SUFFIX
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_holds_a_few_files_and_a_bounded_number_of_bytes() {
        let dir = std::env::temp_dir().join(format!("xplug-batch-len-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, len: u64| {
            let path = dir.join(name);
            // Sparse: no disk space is used.
            fs::File::create(&path).unwrap().set_len(len).unwrap();
            path
        };
        let small: Vec<PathBuf> = (0..10).map(|i| file(&format!("s{i}"), 4096)).collect();
        assert_eq!(batch_len(&small, 8), 8);
        assert_eq!(batch_len(&small[..3], 8), 3);
        let large = file("large", BATCH_BYTES / 2 + 1);
        let huge = file("huge", 2 * BATCH_BYTES);
        // Two halves and a bit do not fit; the first always does, however large.
        assert_eq!(
            batch_len(&[large.clone(), large.clone(), small[0].clone()], 8),
            1
        );
        assert_eq!(batch_len(&[huge.clone(), small[0].clone()], 8), 1);
        assert_eq!(batch_len(&[small[0].clone(), huge], 8), 1);
        // A file gone since the listing counts for nothing here; its load reports it.
        assert_eq!(batch_len(&[dir.join("missing"), small[0].clone()], 8), 2);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn library_names_follow_the_platform() {
        let name = library_file_name("greeter_en");
        assert!(is_library_file_name(Path::new(&name)));
        assert!(!is_library_file_name(Path::new("README.md")));
    }

    #[test]
    fn entries_are_libraries_their_signatures_or_skipped() {
        let name = library_file_name("greeter_en");
        let dir = Path::new("plugins");
        assert_eq!(Entry::of(&dir.join(&name)), Entry::Library);
        assert_eq!(
            Entry::of(&dir.join(format!("{name}.minisig"))),
            Entry::Signature(dir.join(&name))
        );
        for other in ["README.md", "random.bin", "x.minisig", ".minisig", "tmp"] {
            assert_eq!(Entry::of(&dir.join(other)), Entry::Other, "{other}");
        }
        let versioned = format!("{name}.1");
        assert_eq!(Entry::of(&dir.join(versioned)), Entry::Other);
    }
}
