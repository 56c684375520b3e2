//! The quarantine journal: plugins whose loading killed the process are not loaded again.
//!
//! A crash in a plugin's static constructor or `on_load` (a segfault, an abort) cannot be
//! contained in-process. With a journal, the loader writes the file's SHA-256 to it (flushed
//! to disk) before the plugin's code first runs, and removes it once the load has finished,
//! whatever its outcome. An entry that is still there at the next start is a load that never
//! finished: those bytes are refused with [`ErrorKind::Quarantined`] until the file changes
//! or the entry is cleared.
//!
//! Several processes may share a journal (Unix). Every read and change of it is made under an
//! exclusive lock of `JOURNAL.lock`, and each entry of a load in progress names its process by
//! a token whose file in `JOURNAL.owners/` that process keeps locked while it lives: an entry
//! whose process still runs is a load in progress, not a crash, and no process removes
//! another's. A journal is known by its real path, so every process finds the same lock and
//! owners whatever path it was given. (Elsewhere, or where the owner file cannot be made, one
//! process per journal; a process that forks without `exec` shares its token with the child.)

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::Sha256;
use crate::error::{ErrorKind, LoadError};
use crate::process::{self, quarantine_loads as in_progress, QuarantineLoads};
use crate::sys;

/// Journals larger than this are not ours: refused rather than read.
const MAX_JOURNAL_SIZE: u64 = 16 << 20;

/// A quarantine journal file: see [`Loader::quarantine`](crate::Loader::quarantine). Read
/// and cleared by hosts and tools (`xplug quarantine`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quarantine {
    path: PathBuf,
}

/// A file listed in a quarantine journal: its load never finished.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuarantineEntry {
    /// The bytes that were loading.
    pub sha256: Sha256,
    /// The path they were loaded from.
    pub path: PathBuf,
    /// Whether the process loading them still runs: a load in progress, not (yet) a crash.
    pub loading: bool,
    /// For an isolated plugin listed by its restart policy
    /// ([`Restart::then_quarantine`](crate::isolation::Restart::then_quarantine)): how many
    /// times its process crashed. `None`: a load that never finished.
    pub crashes: Option<u32>,
}

/// One line of the journal: `DIGEST  PATH`, or `DIGEST  @OWNER  PATH` for a load by the
/// process that holds `OWNER`'s lock, or `DIGEST  !crashed N times  PATH` for a plugin whose
/// isolated process crashed as often as its restart policy allows (real paths start with `/`
/// or a drive, never `@` or `!`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    sha256: Sha256,
    owner: Option<String>,
    /// An isolated plugin's crashes, for an entry its restart policy wrote.
    crashes: Option<u32>,
    path: PathBuf,
}

impl Line {
    fn parse(line: &str) -> Option<Line> {
        let (digest, rest) = line.split_once("  ")?;
        let (owner, crashes, path) = if let Some(rest) = rest.strip_prefix('@') {
            let (owner, path) = rest.split_once("  ")?;
            (Some(owner.to_owned()), None, path)
        } else if let Some(rest) = rest.strip_prefix("!crashed ") {
            let (times, path) = rest.split_once(" times  ")?;
            (None, Some(times.parse().ok()?), path)
        } else {
            (None, None, rest)
        };
        Some(Line {
            sha256: digest.parse().ok()?,
            owner,
            crashes,
            path: PathBuf::from(path),
        })
    }

    fn text(&self) -> String {
        // One line per entry: a path's line breaks would split it.
        let path = self.path.display().to_string().replace(['\n', '\r'], "?");
        match (&self.owner, self.crashes) {
            (Some(owner), _) => format!("{}  @{}  {}\n", self.sha256, owner, path),
            (None, Some(crashes)) => {
                format!("{}  !crashed {} times  {}\n", self.sha256, crashes, path)
            }
            (None, None) => format!("{}  {}\n", self.sha256, path),
        }
    }
}

impl Quarantine {
    /// The journal at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Quarantine { path: path.into() }
    }

    /// The journal's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The files listed: loads that never finished, and loads still running in this or
    /// another process ([`QuarantineEntry::loading`]).
    pub fn entries(&self) -> io::Result<Vec<QuarantineEntry>> {
        let journal = Journal::of(self);
        let running = in_progress();
        // A reader who may not make the lock file (a directory it cannot write) reads
        // without it.
        let _all_processes = journal.lock().ok();
        Ok(journal
            .lines()?
            .into_iter()
            .map(|line| QuarantineEntry {
                loading: journal.is_loading(&line, &running),
                sha256: line.sha256,
                crashes: line.crashes,
                path: line.path,
            })
            .collect())
    }

    /// Removes the entries for `digest`, or every entry with `None`; returns how many it
    /// removed. Entries of loads still running, in this process or another, are kept.
    pub fn clear(&self, digest: Option<&Sha256>) -> io::Result<usize> {
        let journal = Journal::of(self);
        let running = in_progress();
        let _all_processes = journal.lock()?;
        let (removed, kept): (Vec<Line>, Vec<Line>) =
            journal.lines()?.into_iter().partition(|line| {
                digest.map_or(true, |d| *d == line.sha256) && !journal.is_loading(line, &running)
            });
        if !removed.is_empty() {
            journal.rewrite(&kept)?;
        }
        Ok(removed.len())
    }

    /// Refuses `sha256` if a load of it never finished (an earlier run, or a process that
    /// died); otherwise lists it, as this process's, until the returned guard is dropped.
    pub(crate) fn enter(&self, sha256: Sha256, path: &Path) -> Result<Entered, LoadError> {
        let journal = Journal::of(self);
        let error = |e: io::Error| self.journal_error(path, e);
        let mut guard = in_progress();
        let key = (journal.file.clone(), sha256);
        let count = guard
            .as_ref()
            .and_then(|running| running.get(&key))
            .copied()
            .unwrap_or(0);
        let owner = process::journal_owner_if_any(&journal.file);
        let owner = if count == 0 {
            let _all_processes = journal.lock().map_err(error)?;
            let lines = journal.lines().map_err(error)?;
            if let Some(line) = journal.crashed(&lines, &sha256, &guard) {
                return Err(self.refusal(path, line));
            }
            let owner = match owner {
                Some(owner) => Some(owner),
                None => {
                    // This process's first entry: owner files of processes gone are removed
                    // (their lines, if any, still name no live process).
                    journal.remove_dead_owners();
                    process::journal_owner(&journal.file, &owners_dir(&journal.file))
                }
            };
            let line = Line {
                sha256,
                owner: owner.clone(),
                crashes: None,
                path: path.to_path_buf(),
            };
            journal.append(&line).map_err(error)?;
            owner
        } else {
            owner
        };
        guard
            .get_or_insert_with(HashMap::new)
            .insert(key, count + 1);
        Ok(Entered {
            journal,
            sha256,
            owner,
        })
    }
}

impl Quarantine {
    /// The error of a load of bytes the journal lists as `line`.
    fn refusal(&self, path: &Path, line: &Line) -> LoadError {
        let journal = self.path.clone();
        let kind = match line.crashes {
            Some(crashes) => ErrorKind::CrashedTooOften { journal, crashes },
            None => ErrorKind::Quarantined { journal },
        };
        LoadError::new(path, kind)
    }

    /// Refuses `sha256` if the journal lists it (a load that never finished, or an isolated
    /// plugin that crashed too often), without listing it: for loads whose code runs in a
    /// process of its own.
    pub(crate) fn check(&self, sha256: &Sha256, path: &Path) -> Result<(), LoadError> {
        let journal = Journal::of(self);
        let running = in_progress();
        let lines = journal
            .lock()
            .and_then(|_all_processes| journal.lines())
            .map_err(|e| self.journal_error(path, e))?;
        match journal.crashed(&lines, sha256, &running) {
            Some(line) => Err(self.refusal(path, line)),
            None => Ok(()),
        }
    }

    /// Lists `sha256`, loaded from `path`, as an isolated plugin whose process crashed
    /// `crashes` times, as often as its restart policy allows: later loads of these bytes,
    /// in this run or a later one, are refused until the entry is cleared.
    pub(crate) fn list_crashes(&self, sha256: Sha256, path: &Path, crashes: u32) -> io::Result<()> {
        let journal = Journal::of(self);
        let running = in_progress();
        let _all_processes = journal.lock()?;
        let lines = journal.lines()?;
        if journal.crashed(&lines, &sha256, &running).is_some() {
            return Ok(());
        }
        journal.append(&Line {
            sha256,
            owner: None,
            crashes: Some(crashes),
            path: path.to_path_buf(),
        })
    }

    fn journal_error(&self, path: &Path, e: io::Error) -> LoadError {
        LoadError::new(
            path,
            ErrorKind::Journal {
                journal: self.path.clone(),
                source: Arc::new(e),
            },
        )
    }
}

/// A journal as every process names it: its real path (the file's, or its directory's while
/// it does not exist yet), beside which its lock and owner files lie.
#[derive(Clone, Debug)]
struct Journal {
    file: PathBuf,
}

impl Journal {
    fn of(quarantine: &Quarantine) -> Journal {
        let path = &quarantine.path;
        let file = fs::canonicalize(path)
            .or_else(|_| {
                let dir = match path.parent() {
                    Some(dir) if !dir.as_os_str().is_empty() => dir,
                    _ => Path::new("."),
                };
                let name = path.file_name().ok_or(io::ErrorKind::InvalidInput)?;
                fs::canonicalize(dir).map(|dir| dir.join(name))
            })
            .unwrap_or_else(|_| path.clone());
        Journal { file }
    }

    /// Whether `line` is a load that may still be running: one of this process's (`running`
    /// lists it), or of a process that still holds its owner file's lock. A line without an
    /// owner, or with one that is no token of ours, is not.
    fn is_loading(&self, line: &Line, running: &Option<QuarantineLoads>) -> bool {
        let ours = running
            .as_ref()
            .map_or(false, |r| r.contains_key(&(self.file.clone(), line.sha256)));
        let mine = process::journal_owner_if_any(&self.file);
        match &line.owner {
            None => ours,
            Some(owner) if Some(owner) == mine.as_ref() => true,
            Some(owner) if process::is_journal_owner_token(owner) => {
                owner_alive(&owners_dir(&self.file).join(owner))
            }
            Some(_) => false,
        }
    }

    /// The line that refuses `sha256`: one of it whose load is not running.
    fn crashed<'l>(
        &self,
        lines: &'l [Line],
        sha256: &Sha256,
        running: &Option<QuarantineLoads>,
    ) -> Option<&'l Line> {
        lines
            .iter()
            .find(|line| line.sha256 == *sha256 && !self.is_loading(line, running))
    }

    /// Removes the owner files whose processes are gone. Run under the journal's lock, as
    /// every look at owner files is: no other process looks at them meanwhile.
    fn remove_dead_owners(&self) {
        let entries = match fs::read_dir(owners_dir(&self.file)) {
            Ok(entries) => entries,
            Err(_) => return,
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let valid = name.to_str().map_or(false, process::is_journal_owner_token);
            if valid && !owner_alive(&entry.path()) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    fn lines(&self) -> io::Result<Vec<Line>> {
        let text = match fs::File::open(&self.file) {
            Ok(file) => {
                let mut bytes = Vec::new();
                file.take(MAX_JOURNAL_SIZE + 1).read_to_end(&mut bytes)?;
                if bytes.len() as u64 > MAX_JOURNAL_SIZE {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "larger than 16 MiB: not a quarantine journal",
                    ));
                }
                // A line torn by a crash, or edited by hand, may not be UTF-8: only that line
                // is lost.
                String::from_utf8_lossy(&bytes).into_owned()
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        // A line cut short by a crash while it was written is no entry.
        Ok(text.lines().filter_map(Line::parse).collect())
    }

    /// The lock every process takes to read or change the journal: held until dropped. A
    /// lock file this user may not write (another user's) is locked through a read-only
    /// descriptor, which locks all the same.
    fn lock(&self) -> io::Result<fs::File> {
        let path = with_suffix(&self.file, ".lock");
        let file = match OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => sys::open_for_lock(&path)?,
            Err(e) => return Err(e),
        };
        sys::lock_file(&file)?;
        Ok(file)
    }

    /// Adds a line, on disk before this returns.
    fn append(&self, line: &Line) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.file)?;
        // A line torn by a crash must not swallow this entry: start a line of its own.
        let torn = {
            use std::io::{Seek, SeekFrom};
            let len = file.seek(SeekFrom::End(0))?;
            let mut last = [0u8];
            len > 0 && {
                file.seek(SeekFrom::Start(len - 1))?;
                file.read_exact(&mut last)?;
                last[0] != b'\n'
            }
        };
        let text = format!("{}{}", if torn { "\n" } else { "" }, line.text());
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }

    /// Replaces the journal's contents with `lines` (a new file renamed over it; the
    /// directory is synced too, where the system allows, so the rename survives a crash).
    fn rewrite(&self, lines: &[Line]) -> io::Result<()> {
        let text: String = lines.iter().map(Line::text).collect();
        let tmp = with_suffix(&self.file, &format!(".{}.tmp", std::process::id()));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &self.file)?;
        if let Some(dir) = self.file.parent() {
            // The entries are replaced already; at worst a crash now brings the old ones
            // back, which refuses a plugin that loaded fine (never the reverse).
            let _ = sys::sync_dir(dir);
        }
        Ok(())
    }

    /// Removes the line of this load (`sha256`, by `owner`): it has finished.
    fn finish(&self, sha256: &Sha256, owner: &Option<String>) -> io::Result<()> {
        let _all_processes = self.lock()?;
        let (removed, kept): (Vec<Line>, Vec<Line>) = self
            .lines()?
            .into_iter()
            .partition(|line| line.sha256 == *sha256 && line.owner == *owner);
        if removed.is_empty() {
            return Ok(());
        }
        self.rewrite(&kept)
    }
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The directory of the owner files of the journal `journal` (its real path).
fn owners_dir(journal: &Path) -> PathBuf {
    with_suffix(journal, ".owners")
}

/// Whether the process whose owner file is `file` still runs: it holds the file's lock. A
/// file that is missing, not a regular file, or whose lock can be taken belonged to no
/// running process; one that cannot be opened counts as alive (a load in progress is never
/// taken for a crash). Opened read-only, without following a symlink or blocking on a FIFO.
fn owner_alive(file: &Path) -> bool {
    // Owner files are regular files their processes make: a symlink in their place is no
    // owner (it would make an entry look alive forever, and keep a crash from counting).
    match fs::symlink_metadata(file) {
        Ok(meta) if meta.file_type().is_symlink() => return false,
        _ => {}
    }
    let handle = match sys::open_for_lock(file) {
        Ok(handle) => handle,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    if !handle.metadata().map_or(false, |m| m.is_file()) {
        return false;
    }
    !sys::try_lock_file(&handle).unwrap_or(false)
}

/// A load in progress, listed in the journal; dropping it (the load finished, either way)
/// removes the entry.
pub(crate) struct Entered {
    journal: Journal,
    sha256: Sha256,
    /// The owner its line names.
    owner: Option<String>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let mut running = in_progress();
        let key = (self.journal.file.clone(), self.sha256);
        let count = running.as_mut().and_then(|map| map.get_mut(&key));
        match count {
            Some(count) if *count > 1 => *count -= 1,
            _ => {
                if let Some(map) = running.as_mut() {
                    map.remove(&key);
                }
                // Under the lock: a load of the same bytes that starts now must not find the
                // entry. A journal that cannot be rewritten keeps it: the next start then
                // refuses a plugin that loaded fine, which the host can clear; never the
                // reverse.
                let _ = self.journal.finish(&self.sha256, &self.owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILD_JOURNAL: &str = "XPLUG_TEST_SHARED_JOURNAL";

    #[test]
    fn an_isolated_plugins_crash_line_reads_back() {
        let line = Line {
            sha256: Sha256::of(b"plugin"),
            owner: None,
            crashes: Some(3),
            path: PathBuf::from("/plugins/libx.so"),
        };
        let text = line.text();
        assert!(
            text.ends_with("  !crashed 3 times  /plugins/libx.so\n"),
            "{text}"
        );
        assert_eq!(Line::parse(text.trim_end()), Some(line));
        // A count that is no number is no entry of this kind.
        let torn = format!("{}  !crashed x times  /p", Sha256::of(b"plugin"));
        assert_eq!(Line::parse(&torn), None);
    }
    const ROUNDS: usize = 200;

    /// Not a test of its own: one of the hosts `two_processes_share_one_journal` runs. Enters
    /// and clears `ROUNDS` digests (the same ones as the other process), checking that each is
    /// listed while its load runs; prints `lost N refused M`.
    #[test]
    #[ignore = "run as a child process by two_processes_share_one_journal"]
    fn shared_journal_child() {
        let journal = std::env::var_os(CHILD_JOURNAL).expect("run by the parent test");
        let quarantine = Quarantine::new(PathBuf::from(journal));
        let (mut lost, mut refused) = (0, 0);
        for round in 0..ROUNDS {
            let digest = Sha256::of(format!("plugin {round}").as_bytes());
            match quarantine.enter(digest, Path::new("/plugins/libx.so")) {
                Ok(entered) => {
                    let listed = quarantine
                        .entries()
                        .map_or(false, |e| e.iter().any(|e| e.sha256 == digest));
                    if !listed {
                        lost += 1;
                    }
                    drop(entered);
                }
                Err(_) => refused += 1,
            }
        }
        println!("lost {lost} refused {refused}");
    }

    #[test]
    #[cfg(unix)]
    fn a_symlink_in_place_of_an_owner_file_is_no_owner() {
        let dir = std::env::temp_dir().join(format!("xplug-journal-link-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let journal = dir.join("plugins.quarantine");
        let owners = owners_dir(&journal);
        fs::create_dir_all(&owners).unwrap();
        // A token no live process holds, its owner file a symlink to a file held locked.
        let token = "1-0123456789abcdef";
        assert!(process::is_journal_owner_token(token));
        let held = dir.join("held");
        fs::write(&held, b"").unwrap();
        let lock = sys::open_for_lock(&held).unwrap();
        sys::lock_file(&lock).unwrap();
        std::os::unix::fs::symlink(&held, owners.join(token)).unwrap();
        let digest = Sha256::of(b"y");
        fs::write(&journal, format!("{digest}  @{token}  /plugins/c.so\n")).unwrap();
        let entries = Quarantine::new(&journal).entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert!(!entries[0].loading, "a symlinked owner is no live process");
        drop(lock);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_journal_line_names_no_other_file() {
        let dir = std::env::temp_dir().join(format!("xplug-journal-owner-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, b"keep me").unwrap();
        let journal = dir.join("plugins.quarantine");
        let digest = Sha256::of(b"x");
        fs::write(
            &journal,
            format!(
                "{digest}  @{}  /plugins/a.so\n{digest}  @../victim  /plugins/b.so\n",
                victim.display()
            ),
        )
        .unwrap();
        let quarantine = Quarantine::new(&journal);
        let entries = quarantine.entries().unwrap();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|e| !e.loading), "no process loads them");
        assert_eq!(quarantine.clear(None).unwrap(), 2);
        assert_eq!(fs::read(&victim).unwrap(), b"keep me");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    #[cfg(unix)]
    fn two_processes_share_one_journal() {
        let dir = std::env::temp_dir().join(format!("xplug-journal-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let journal = dir.join("plugins.quarantine");
        use std::process::Command;
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(std::env::current_exe().unwrap())
                    .args(["--exact", "trust::quarantine::tests::shared_journal_child"])
                    .args(["--ignored", "--nocapture", "--test-threads=1"])
                    .env(CHILD_JOURNAL, &journal)
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            // The harness prints the test's name on the same line.
            let line = text
                .lines()
                .find_map(|l| l.find("lost ").map(|at| l[at..].trim()))
                .unwrap_or_else(|| panic!("no result from the child: {text}"));
            assert_eq!(
                line, "lost 0 refused 0",
                "a load in progress was lost or refused"
            );
        }
        let stale = Quarantine::new(&journal).entries().unwrap();
        assert!(stale.is_empty(), "{} entries left behind", stale.len());
        let _ = fs::remove_dir_all(&dir);
    }
}
