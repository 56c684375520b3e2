//! The quarantine journal: plugins whose loading killed the process are not loaded again.
//!
//! A crash in a plugin's static constructor or `on_load` (a segfault, an abort) cannot be
//! contained in-process. With a journal, the loader writes the file's SHA-256 to it (flushed
//! to disk) before the plugin's code first runs, and removes it once the load has finished,
//! whatever its outcome. An entry that is still there at the next start is a load that never
//! finished: those bytes are refused with [`ErrorKind::Quarantined`] until the file changes
//! or the entry is cleared.
//!
//! Several processes may share a journal (Unix). Each change to it is made under an exclusive
//! lock of `JOURNAL.lock`, and each entry of a load in progress names its process by a token
//! whose file in `JOURNAL.owners/` that process keeps locked while it lives: an entry whose
//! process still runs is a load in progress, not a crash, and no process removes another's.
//! (Elsewhere, or where the lock files cannot be made, one process per journal.)

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::Sha256;
use crate::error::{ErrorKind, LoadError};
use crate::process::{self, quarantine_loads as in_progress};
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
}

/// One line of the journal: `DIGEST  PATH`, or `DIGEST  @OWNER  PATH` for a load by the
/// process that holds `OWNER`'s lock (real paths start with `/` or a drive, never `@`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    sha256: Sha256,
    owner: Option<String>,
    path: PathBuf,
}

impl Line {
    fn parse(line: &str) -> Option<Line> {
        let (digest, rest) = line.split_once("  ")?;
        let (owner, path) = match rest.strip_prefix('@') {
            Some(rest) => {
                let (owner, path) = rest.split_once("  ")?;
                (Some(owner.to_owned()), path)
            }
            None => (None, rest),
        };
        Some(Line {
            sha256: digest.parse().ok()?,
            owner,
            path: PathBuf::from(path),
        })
    }

    fn text(&self) -> String {
        // One line per entry: a path's line breaks would split it.
        let path = self.path.display().to_string().replace(['\n', '\r'], "?");
        match &self.owner {
            Some(owner) => format!("{}  @{}  {}\n", self.sha256, owner, path),
            None => format!("{}  {}\n", self.sha256, path),
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
        Ok(self
            .lines()?
            .into_iter()
            .map(|line| QuarantineEntry {
                loading: self.is_loading(&line),
                sha256: line.sha256,
                path: line.path,
            })
            .collect())
    }

    /// Removes the entries for `digest`, or every entry with `None`; returns how many it
    /// removed. Entries of loads still running, in this process or another, are kept.
    pub fn clear(&self, digest: Option<&Sha256>) -> io::Result<usize> {
        let _this_process = in_progress();
        let _all_processes = self.lock()?;
        let lines = self.lines()?;
        let (removed, kept): (Vec<Line>, Vec<Line>) = lines
            .into_iter()
            .partition(|line| digest.map_or(true, |d| *d == line.sha256) && !self.is_loading(line));
        if !removed.is_empty() {
            self.rewrite(&kept)?;
        }
        Ok(removed.len())
    }

    /// Refuses `sha256` if a load of it never finished (an earlier run, or a process that
    /// died); otherwise lists it, as this process's, until the returned guard is dropped.
    pub(crate) fn enter(&self, sha256: Sha256, path: &Path) -> Result<Entered, LoadError> {
        let error = |e: io::Error| {
            LoadError::new(
                path,
                ErrorKind::Journal {
                    journal: self.path.clone(),
                    source: Arc::new(e),
                },
            )
        };
        let mut guard = in_progress();
        let running = guard.get_or_insert_with(HashMap::new);
        let key = (self.path.clone(), sha256);
        let count = running.get(&key).copied().unwrap_or(0);
        if count == 0 {
            let _all_processes = self.lock().map_err(error)?;
            let crashed = self
                .lines()
                .map_err(error)?
                .iter()
                .any(|line| line.sha256 == sha256 && !self.is_loading(line));
            if crashed {
                return Err(LoadError::new(
                    path,
                    ErrorKind::Quarantined {
                        journal: self.path.clone(),
                    },
                ));
            }
            let line = Line {
                sha256,
                owner: process::journal_owner(&self.path),
                path: path.to_path_buf(),
            };
            self.append(&line).map_err(error)?;
        }
        running.insert(key, count + 1);
        Ok(Entered {
            journal: self.clone(),
            sha256,
        })
    }

    /// Whether `line` is a load that may still be running: one of this process's, or of a
    /// process that still holds its owner's lock. A line without an owner never is.
    fn is_loading(&self, line: &Line) -> bool {
        match &line.owner {
            None => false,
            Some(owner) if Some(owner) == process::journal_owner_if_any(&self.path).as_ref() => {
                true
            }
            Some(owner) => owner_alive(&owners_dir(&self.path).join(owner)),
        }
    }

    fn lines(&self) -> io::Result<Vec<Line>> {
        let text = match fs::File::open(&self.path) {
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

    /// The lock every process takes to change the journal: held until dropped.
    fn lock(&self) -> io::Result<fs::File> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(with_suffix(&self.path, ".lock"))?;
        sys::lock_file(&file)?;
        Ok(file)
    }

    /// Adds a line, on disk before this returns.
    fn append(&self, line: &Line) -> io::Result<()> {
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&self.path)?;
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

    /// Replaces the journal's contents with `lines` (a new file renamed over it, the rename
    /// on disk before this returns).
    fn rewrite(&self, lines: &[Line]) -> io::Result<()> {
        let text: String = lines.iter().map(Line::text).collect();
        let tmp = with_suffix(&self.path, &format!(".{}.tmp", std::process::id()));
        let mut file = fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => sys::sync_dir(dir),
            _ => sys::sync_dir(Path::new(".")),
        }
    }

    /// Removes this process's lines for `sha256` (every line for it where lines have no
    /// owners): its load has finished.
    fn finish(&self, sha256: &Sha256) -> io::Result<()> {
        let _all_processes = self.lock()?;
        let mine = process::journal_owner_if_any(&self.path);
        let lines = self.lines()?;
        let (removed, kept): (Vec<Line>, Vec<Line>) = lines
            .into_iter()
            .partition(|line| line.sha256 == *sha256 && line.owner == mine);
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

/// The directory of the owner files of the journal at `journal`.
pub(crate) fn owners_dir(journal: &Path) -> PathBuf {
    with_suffix(journal, ".owners")
}

/// Whether the process whose owner file is `file` still runs: it holds the file's lock. A
/// file whose lock can be taken belonged to a process that died, and is removed; one that
/// cannot be read at all counts as alive (a load in progress is never taken for a crash).
fn owner_alive(file: &Path) -> bool {
    let handle = match OpenOptions::new().write(true).open(file) {
        Ok(handle) => handle,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    match sys::try_lock_file(&handle) {
        Ok(true) => {
            let _ = fs::remove_file(file);
            false
        }
        Ok(false) | Err(_) => true,
    }
}

/// A load in progress, listed in the journal; dropping it (the load finished, either way)
/// removes the entry.
pub(crate) struct Entered {
    journal: Quarantine,
    sha256: Sha256,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let mut running = in_progress();
        let key = (self.journal.path.clone(), self.sha256);
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
                let _ = self.journal.finish(&self.sha256);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    const CHILD_JOURNAL: &str = "XPLUG_TEST_SHARED_JOURNAL";
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
    fn two_processes_share_one_journal() {
        let dir = std::env::temp_dir().join(format!("xplug-journal-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let journal = dir.join("plugins.quarantine");
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
