//! Stage 1: the path names a regular file that not every user can write, opened once. For a
//! snapshot or a trust policy its bytes are read once, with a size cap, and every later stage
//! works on them; an in-place load without a policy reads only what stages 2 and 3 need. A
//! snapshot where memfds may be executed is not copied through the host's memory: the kernel
//! copies the file into a new memfd, which is sealed and mapped read-only, and the checks read
//! that mapping (only the pages they look at are read): the bytes checked are the bytes that
//! run, and the copy costs the same in a debug host as in a release one.

use std::fs;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use object::ReadRef;

use crate::error::{ErrorKind, LoadError};
use crate::sys;
use crate::trust;

/// The largest plugin file read unless a host allows more (`Loader::max_file_size`): far above
/// any real plugin, far below what would strain a host's memory.
pub(crate) const DEFAULT_MAX_SIZE: u64 = 512 << 20;

/// A plugin file, opened once: every later read is through this descriptor, so a file renamed
/// over the path afterwards is not what gets read.
pub(crate) struct PluginFile {
    /// The real path (symlinks resolved): what identifies the file, and what the checks name.
    pub(crate) path: PathBuf,
    /// How reports name it.
    pub(crate) named: Named,
    pub(crate) file: fs::File,
    pub(crate) meta: fs::Metadata,
    /// Opened by a path that no symlink was on, as the system saw it at the open.
    pub(crate) direct: bool,
}

/// How reports name a file stage 1 resolved: by the path the host gave (the entry to remove
/// from a plugin directory), with the real path beside it when symlinks led there.
#[derive(Clone, Debug)]
pub(crate) struct Named {
    requested: PathBuf,
    real: PathBuf,
    /// Whether `requested`, or a directory on it, is a symlink.
    linked: bool,
}

impl Named {
    /// `requested`, which stage 1 resolved to `real`.
    pub(crate) fn new(requested: &Path, real: &Path) -> Named {
        // Only for reports: a symlink swapped meanwhile misnames nothing that is checked. A
        // path given as its real path has none.
        let linked = requested != real
            && requested.ancestors().any(|p| {
                !p.as_os_str().is_empty()
                    && fs::symlink_metadata(p).map_or(false, |m| m.file_type().is_symlink())
            });
        Named {
            requested: requested.to_path_buf(),
            real: real.to_path_buf(),
            linked,
        }
    }

    /// `requested`, opened through no symlink as `real` (the same path, made absolute).
    pub(crate) fn direct(requested: &Path, real: &Path) -> Named {
        Named {
            requested: requested.to_path_buf(),
            real: real.to_path_buf(),
            linked: false,
        }
    }

    /// A real path, named by itself.
    pub(crate) fn real(path: &Path) -> Named {
        Named {
            requested: path.to_path_buf(),
            real: path.to_path_buf(),
            linked: false,
        }
    }

    /// `error`, if it is about the real path (as every check after stage 1 names the file),
    /// about the path as given instead, with the real path beside it after a symlink.
    pub(crate) fn error(&self, error: LoadError) -> LoadError {
        error.found_at(&self.requested, &self.real, self.linked)
    }
}

/// What stage 1 enforces besides "a regular file".
#[derive(Clone, Copy, Debug)]
pub(crate) struct FileRules {
    /// Files larger than this are refused before any read.
    pub(crate) max_size: u64,
    /// Accept a world-writable file or directory on its path (Unix).
    pub(crate) allow_writable_by_others: bool,
}

impl FileRules {
    /// For tools that only read a file (nothing of it runs): the default size limit, and any
    /// permissions.
    pub(crate) const READING: FileRules = FileRules {
        max_size: DEFAULT_MAX_SIZE,
        allow_writable_by_others: true,
    };
}

/// Opens `path` once without blocking (a FIFO put there does not hang the host), finds the real
/// path of the file opened (symlinks, `..` resolved) and checks, on the open descriptor, that
/// it is a regular file within the size cap. Who may write it is [`check_permissions`]'s.
pub(crate) fn open(path: &Path, rules: FileRules) -> Result<PluginFile, LoadError> {
    // Where no symlink is on the path, the path is the real one: one system call.
    if let Some((file, real)) = sys::open_direct(path).map_err(|e| io_error(path, e))? {
        let named = Named::direct(path, &real);
        return opened(file, real, rules, true, named.clone()).map_err(|e| named.error(e));
    }
    let file = match sys::open_nonblocking(path) {
        Ok(file) => file,
        // Windows opens no directories this way: say what it is rather than "access denied".
        Err(e) => {
            return Err(match fs::metadata(path) {
                Ok(meta) if meta.is_dir() => not_a_file(path, "directory"),
                _ => io_error(path, e),
            })
        }
    };
    let real = sys::real_path(&file, path).map_err(|e| io_error(path, e))?;
    let named = Named::new(path, &real);
    opened(file, real, rules, false, named.clone()).map_err(|e| named.error(e))
}

/// Checks that no one but this user and root can change the file stage 1 opened from
/// `requested`, or a directory above it, unless `rules` allow it (Unix): run before anything
/// of the file is trusted to run, after the checks that refuse a file for what it is (a
/// refusal then costs what `inspect` costs).
pub(crate) fn check_permissions(
    plugin: &PluginFile,
    requested: &Path,
    rules: FileRules,
) -> Result<(), LoadError> {
    if rules.allow_writable_by_others {
        return Ok(());
    }
    // No symlink was on the path opened: none to check.
    let requested = if plugin.direct {
        &plugin.path
    } else {
        requested
    };
    trust::permissions::check(requested, &plugin.path, &plugin.meta)
}

/// [`open`] once the file is opened and its real path known.
fn opened(
    file: fs::File,
    real: PathBuf,
    rules: FileRules,
    direct: bool,
    named: Named,
) -> Result<PluginFile, LoadError> {
    let meta = file.metadata().map_err(|e| io_error(&real, e))?;
    if meta.is_dir() {
        return Err(not_a_file(&real, "directory"));
    }
    if !meta.is_file() {
        return Err(not_a_file(&real, "special file"));
    }
    if meta.len() > rules.max_size {
        return Err(LoadError::new(
            real,
            ErrorKind::TooLarge {
                size: meta.len(),
                limit: rules.max_size,
            },
        ));
    }
    Ok(PluginFile {
        path: real,
        named,
        file,
        meta,
        direct,
    })
}

fn not_a_file(path: &Path, kind: &'static str) -> LoadError {
    LoadError::new(path, ErrorKind::NotAFile { kind })
}

/// Reads the whole file once, from its start, through the descriptor stage 1 opened: the
/// snapshot's bytes. A file that grew past the cap since it was opened is refused without
/// reading the rest.
pub(crate) fn read(plugin: &PluginFile, max_size: u64) -> Result<Vec<u8>, LoadError> {
    // The size is only a hint: the file may change while it is read.
    let hint = usize::try_from(plugin.meta.len().min(max_size)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(hint);
    // From the start: a look at its header may have moved the position.
    io::Seek::seek(&mut &plugin.file, io::SeekFrom::Start(0))
        .map_err(|e| io_error(&plugin.path, e))?;
    (&plugin.file)
        .take(max_size.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&plugin.path, e))?;
    let size = bytes.len() as u64;
    if size > max_size {
        return Err(LoadError::new(
            &plugin.path,
            ErrorKind::TooLarge {
                size,
                limit: max_size,
            },
        ));
    }
    Ok(bytes)
}

/// A plugin file's bytes, read whole: into this process's memory, or (a snapshot) copied by the
/// kernel into a sealed memfd and mapped.
pub(crate) enum Bytes {
    Read(Vec<u8>),
    Sealed(sys::SealedBytes),
}

impl Bytes {
    pub(crate) fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Read(bytes) => bytes,
            Bytes::Sealed(sealed) => sealed.bytes(),
        }
    }

    /// Their [`content_hash`](crate::process::library::content_hash) with `seed`. From a
    /// sealed memfd the pieces hashed are read through its descriptor (its bytes cannot
    /// change), not through the mapping: a page fault, and the pages mapped around it, for
    /// each piece cost more than the reads.
    pub(crate) fn content_hash(&self, seed: u64) -> u128 {
        use crate::process::library::content_hash;
        match self {
            Bytes::Read(bytes) => content_hash(bytes, seed),
            #[cfg(unix)]
            Bytes::Sealed(sealed) => crate::process::library::file_content_hash(
                &sealed.sealed().file,
                sealed.bytes().len(),
                seed,
            )
            .unwrap_or_else(|_| content_hash(sealed.bytes(), seed)),
            #[cfg(not(unix))]
            Bytes::Sealed(sealed) => content_hash(sealed.bytes(), seed),
        }
    }

    /// The sealed memfd that holds them, if they were copied into one.
    pub(crate) fn sealed(&self) -> Option<Arc<sys::SealedFile>> {
        match self {
            Bytes::Read(_) => None,
            Bytes::Sealed(sealed) => Some(sealed.sealed().clone()),
        }
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

/// The whole file for a snapshot: copied by the kernel into a sealed memfd and mapped, where
/// memfds may be executed; read into memory otherwise (where a copy in a private directory is
/// made of them later). The memfd is named as any snapshot of these bytes is
/// (`process::library::label`), from the pieces of the file that name hashes, read
/// first (a file that changes meanwhile only gets another name: the bytes checked are the
/// sealed ones).
pub(crate) fn read_snapshot(plugin: &PluginFile, max_size: u64) -> Result<Bytes, LoadError> {
    let flags = match crate::process::memfd_exec_flags() {
        Some(flags) => flags,
        None => return read(plugin, max_size).map(Bytes::Read),
    };
    // Only a name: a file that changed size meanwhile (the read fails) gets another.
    #[cfg(unix)]
    let label = {
        let len = usize::try_from(plugin.meta.len().min(max_size)).unwrap_or(0);
        crate::process::library::file_content_hash(&plugin.file, len, 0).map_or_else(
            |_| String::from("changed"),
            crate::process::library::label_of,
        )
    };
    #[cfg(not(unix))]
    let label = String::new();
    let copied = sys::sealed_copy(&plugin.file, max_size, &label, flags).map_err(|e| {
        LoadError::new(
            &plugin.path,
            ErrorKind::Snapshot {
                source: Arc::new(e),
            },
        )
    })?;
    match copied {
        sys::Copied::Bytes(sealed) => Ok(Bytes::Sealed(sealed)),
        sys::Copied::TooLarge(size) => Err(LoadError::new(
            &plugin.path,
            ErrorKind::TooLarge {
                size,
                limit: max_size,
            },
        )),
        sys::Copied::Unavailable => read(plugin, max_size).map(Bytes::Read),
    }
}

/// The file stage 1 opened, as bytes for stages 2 and 3 to parse (`object`'s `ReadRef`), read
/// in the pieces they ask for: each request is served from a block read before, or reads the
/// [`BLOCK`]-aligned blocks around it with one positioned read (with the file's last, partial
/// block when the request ends in the block before it: a section table at a library's end
/// straddles the two). A library's headers, dynamic symbols and their names lie in its first
/// block and its section table in its last: a look at a plugin makes three reads, whatever the
/// file's size. Every block read is kept until the reads end (the bytes handed out borrow
/// them); nothing past the size stage 1 saw is read, a file growing meanwhile or not.
pub(crate) struct Reads<'f> {
    file: &'f fs::File,
    len: u64,
    /// The blocks read, by offset and length; never removed or changed while `self` lives.
    blocks: std::cell::RefCell<Held>,
    /// How many bytes `blocks` holds: at most [`Reads::max_kept`].
    kept: std::cell::Cell<u64>,
    /// The block that served the last request, and its offset: most requests fall in the
    /// block the one before fell in, found then without a search of `blocks` (a search is
    /// most of a request's cost in a host built without optimisations).
    last: std::cell::Cell<Option<(u64, *const [u8])>>,
}

/// The blocks [`Reads`] read, by offset and length.
type Held = std::collections::BTreeMap<(u64, u64), Box<[u8]>>;

/// See [`Reads`].
const BLOCK: u64 = 4 << 10;

/// The longest name looked for (as `object`'s own read cache).
const MAX_NAME: u64 = 4 << 10;

impl<'f> Reads<'f> {
    /// Reads of `plugin`'s file, within the size stage 1 saw.
    pub(crate) fn of(plugin: &'f PluginFile) -> Reads<'f> {
        Reads {
            file: &plugin.file,
            len: plugin.meta.len(),
            blocks: std::cell::RefCell::new(std::collections::BTreeMap::new()),
            kept: std::cell::Cell::new(0),
            last: std::cell::Cell::new(None),
        }
    }

    /// The most bytes kept: twice the file (blocks may overlap), and room for a few blocks.
    fn max_kept(&self) -> u64 {
        self.len.saturating_mul(2).saturating_add(16 * BLOCK)
    }

    /// Bytes `start..end` (within `len`) of a block read before, if one holds them: the
    /// block of the last request if it does, else the one starting last at or before
    /// `start`.
    fn held(&self, start: u64, end: u64) -> Option<&[u8]> {
        if let Some((at, block)) = self.last.get() {
            // SAFETY: `last` points to a block of `blocks`, boxed, and never removed nor
            // written while `self` lives (`blocks` only gains entries); `&self` outlives the
            // slice returned.
            let block = unsafe { &*block };
            if let Some(bytes) = Self::within(at, block, start, end) {
                return Some(bytes);
            }
        }
        let blocks = self.blocks.borrow();
        let (&(at, _), block) = blocks.range(..=(start, u64::MAX)).next_back()?;
        let bytes = Self::within(at, block, start, end)?;
        self.last.set(Some((at, &**block as *const [u8])));
        // SAFETY: as above: the block stays, unchanged, while `self` lives.
        Some(unsafe { &*(bytes as *const [u8]) })
    }

    /// Bytes `start..end` of the file, if `block`, read from offset `at`, holds them.
    fn within(at: u64, block: &[u8], start: u64, end: u64) -> Option<&[u8]> {
        let from = usize::try_from(start.checked_sub(at)?).ok()?;
        let to = usize::try_from(end.checked_sub(at)?).ok()?;
        block.get(from..to)
    }

    /// Bytes `start..end` (within `len`), from a block read before or a new one.
    fn get(&self, start: u64, end: u64) -> Result<&[u8], ()> {
        if let Some(bytes) = self.held(start, end) {
            return Ok(bytes);
        }
        // The aligned blocks around the request, and the file's last block if it is next.
        let from = start - start % BLOCK;
        let mut to = end.checked_add(BLOCK - 1).ok_or(())? / BLOCK * BLOCK;
        if self.len.saturating_sub(to) < BLOCK {
            to = self.len;
        }
        let to = to.min(self.len);
        let kept = self.kept.get().saturating_add(to - from);
        if kept > self.max_kept() {
            return Err(());
        }
        let block = self.read(from, to).map_err(|_| ())?;
        self.kept.set(kept);
        // A block of the same place and length holds the same bytes: the one there stays
        // (slices of it may be out).
        self.blocks
            .borrow_mut()
            .entry((from, to - from))
            .or_insert(block);
        self.held(start, end).ok_or(())
    }

    /// Reads bytes `from..to` of the file (within `len`) into a new block: zeroed memory from
    /// the allocator (an allocation refused is an error, not an abort), filled by positioned
    /// reads.
    fn read(&self, from: u64, to: u64) -> io::Result<Box<[u8]>> {
        let len = usize::try_from(to - from).map_err(|_| io::ErrorKind::OutOfMemory)?;
        let mut block = zeroed(len).ok_or(io::ErrorKind::OutOfMemory)?;
        let mut done = 0;
        while done < len {
            let read = sys::read_at(self.file, &mut block[done..], from + done as u64)?;
            if read == 0 {
                // Cut short since stage 1 looked: an error, not zeros.
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            done += read;
        }
        Ok(block)
    }
}

/// `len` zero bytes from the allocator, `None` if it refuses. (`vec![0; len]` would abort the
/// process on a refusal; filling a reserved vector writes byte by byte in a debug build.)
fn zeroed(len: usize) -> Option<Box<[u8]>> {
    if len == 0 {
        return Some(Box::new([]));
    }
    let layout = std::alloc::Layout::array::<u8>(len).ok()?;
    // SAFETY: `layout` has a non-zero size.
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: `ptr` is a zeroed allocation of `len` bytes with `u8`'s alignment by the global
    // allocator, owned by nothing else: what a `Box<[u8]>` of `len` bytes owns.
    Some(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) })
}

impl<'a> ReadRef<'a> for &'a Reads<'_> {
    fn len(self) -> Result<u64, ()> {
        Ok(self.len)
    }

    fn read_bytes_at(self, offset: u64, size: u64) -> Result<&'a [u8], ()> {
        match offset.checked_add(size) {
            Some(end) if end <= self.len && size == 0 => Ok(&[]),
            Some(end) if end <= self.len => self.get(offset, end),
            _ => Err(()),
        }
    }

    fn read_bytes_at_until(self, range: Range<u64>, delimiter: u8) -> Result<&'a [u8], ()> {
        // A name is looked for in the next `MAX_NAME` bytes, in a block held if one holds
        // them, else in the blocks around them.
        let end = range
            .end
            .min(self.len)
            .min(range.start.saturating_add(MAX_NAME));
        if range.start >= end {
            return Err(());
        }
        let bytes = self.get(range.start, end)?;
        match bytes.iter().position(|&b| b == delimiter) {
            Some(at) => Ok(&bytes[..at]),
            None => Err(()),
        }
    }
}

/// An I/O error on `path`: `NotFound` when nothing is there, `Unreadable` otherwise.
pub(crate) fn io_error(path: &Path, e: io::Error) -> LoadError {
    let kind = match e.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound {},
        _ => ErrorKind::Unreadable {
            source: Arc::new(e),
        },
    };
    LoadError::new(path, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(test: &str, bytes: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("xplug-reads-{}-{}", std::process::id(), test));
        fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn reads_give_what_the_file_holds_across_blocks_and_up_to_its_end() {
        let bytes: Vec<u8> = (0..5 * BLOCK + 123).map(|i| (i % 251) as u8).collect();
        let path = scratch("across", &bytes);
        let plugin = open(&path, FileRules::READING).unwrap();
        let reads = Reads::of(&plugin);
        // Within a block, across a boundary, of whole blocks and more, near the end, again.
        for (at, len) in [
            (0u64, 64u64),
            (BLOCK - 10, 20),
            (3, 2 * BLOCK + 5),
            (4 * BLOCK + 100, 700),
            (5 * BLOCK + 118, 5),
            (0, 16),
        ] {
            let got = (&reads).read_bytes_at(at, len).unwrap();
            assert_eq!(
                got,
                &bytes[at as usize..(at + len) as usize],
                "{len} at {at}"
            );
        }
        assert_eq!((&reads).len(), Ok(bytes.len() as u64));
        assert!((&reads).read_bytes_at(bytes.len() as u64 - 4, 5).is_err());
        assert!((&reads).read_bytes_at(u64::MAX, 2).is_err());
        assert!((&reads).read_bytes_at(bytes.len() as u64 + 1, 0).is_err());
        assert_eq!((&reads).read_bytes_at(bytes.len() as u64, 0), Ok(&[][..]));
        // A name up to its terminator, in the block that holds it or past it.
        let name = (&reads)
            .read_bytes_at_until(1..bytes.len() as u64, 0)
            .unwrap();
        assert_eq!(name, &bytes[1..251]);
        let far = (&reads)
            .read_bytes_at_until(BLOCK - 3..bytes.len() as u64, 200)
            .unwrap();
        let stop = bytes[(BLOCK - 3) as usize..]
            .iter()
            .position(|&b| b == 200)
            .unwrap();
        assert_eq!(
            far,
            &bytes[(BLOCK - 3) as usize..(BLOCK - 3) as usize + stop]
        );
        assert!((&reads).read_bytes_at_until(10..12, 7).is_err());
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn names_without_an_end_cost_a_bounded_read_each() {
        // A string table with no terminator, and a name looked up at the start of each block:
        // each look reads at most a name's bound, and what is kept stays within twice the
        // file.
        let bytes = vec![b'a'; 64 * BLOCK as usize];
        let path = scratch("names", &bytes);
        let plugin = open(&path, FileRules::READING).unwrap();
        let reads = Reads::of(&plugin);
        for block in (0..64).rev() {
            let start = block * BLOCK + 1;
            assert!((&reads)
                .read_bytes_at_until(start..bytes.len() as u64, 0)
                .is_err());
        }
        assert!(reads.kept.get() <= reads.max_kept(), "{}", reads.kept.get());
        assert!(reads.kept.get() <= 3 * 64 * BLOCK, "{}", reads.kept.get());
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_read_across_the_last_two_blocks_is_one_read() {
        let bytes: Vec<u8> = (0..5 * BLOCK + 123).map(|i| (i % 251) as u8).collect();
        let path = scratch("last-two", &bytes);
        let plugin = open(&path, FileRules::READING).unwrap();
        let reads = Reads::of(&plugin);
        // As a section table at a library's end: from the block before the last into it.
        let at = 5 * BLOCK - 1000;
        let got = (&reads).read_bytes_at(at, 1100).unwrap();
        assert_eq!(got, &bytes[at as usize..at as usize + 1100]);
        let blocks = reads.blocks.borrow();
        assert_eq!(blocks.len(), 1, "one positioned read");
        assert_eq!(blocks.values().next().unwrap().len() as u64, BLOCK + 123);
        drop(blocks);
        fs::remove_file(&path).unwrap();
    }

    #[test]
    fn reads_see_nothing_past_the_size_stage_1_saw_and_fail_on_a_file_cut_short() {
        let bytes = vec![7u8; 3 * BLOCK as usize];
        let path = scratch("past-size", &bytes);
        let plugin = open(&path, FileRules::READING).unwrap();
        // The file grows: nothing of what was added is read.
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[9; 100]);
        fs::write(&path, &longer).unwrap();
        let reads = Reads::of(&plugin);
        assert_eq!((&reads).read_bytes_at(0, 3 * BLOCK).unwrap(), &bytes[..]);
        assert!((&reads).read_bytes_at(0, 3 * BLOCK + 1).is_err());
        // The file shrinks: a block it no longer holds is an error, not zeros.
        fs::write(&path, &bytes[..BLOCK as usize]).unwrap();
        let reads = Reads::of(&plugin);
        assert!((&reads).read_bytes_at(2 * BLOCK, 16).is_err());
        fs::remove_file(&path).unwrap();
    }
}
