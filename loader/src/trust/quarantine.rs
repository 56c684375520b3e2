//! The quarantine journal: plugins whose loading killed the process are not loaded again.
//!
//! A crash in a plugin's static constructor or `on_load` (a segfault, an abort) cannot be
//! contained in-process. With a journal, the loader writes the file's SHA-256 to it (flushed
//! to disk) before the plugin's code first runs, and removes it once the load has finished,
//! whatever its outcome. An entry that is still there at the next start is a load that never
//! finished: those bytes are refused with [`ErrorKind::Quarantined`] until the file changes
//! or the entry is cleared.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::digest::Sha256;
use crate::error::{ErrorKind, LoadError};
use crate::process::{quarantine_loads as in_progress, QuarantineLoads as InProgress};

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

    /// The files listed: loads that never finished (or, while a load runs in this or another
    /// process, that have not finished yet).
    pub fn entries(&self) -> io::Result<Vec<QuarantineEntry>> {
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
        Ok(text
            .lines()
            .filter_map(|line| {
                let (digest, path) = line.split_once("  ")?;
                Some(QuarantineEntry {
                    sha256: digest.parse().ok()?,
                    path: PathBuf::from(path),
                })
            })
            .collect())
    }

    /// Removes the entries for `digest`, or every entry with `None`; returns how many it
    /// removed. Entries of loads still running in this process are kept.
    pub fn clear(&self, digest: Option<&Sha256>) -> io::Result<usize> {
        self.clear_while(digest, &in_progress())
    }

    /// [`clear`](Quarantine::clear), with the lock on this process's loads in progress held.
    fn clear_while(
        &self,
        digest: Option<&Sha256>,
        running: &Option<InProgress>,
    ) -> io::Result<usize> {
        let entries = self.entries()?;
        let keep = |e: &QuarantineEntry| {
            digest.map_or(false, |d| *d != e.sha256)
                || running
                    .as_ref()
                    .map_or(false, |r| r.contains_key(&(self.path.clone(), e.sha256)))
        };
        let (kept, removed): (Vec<_>, Vec<_>) = entries.into_iter().partition(keep);
        if !removed.is_empty() {
            self.rewrite(&kept)?;
        }
        Ok(removed.len())
    }

    /// Refuses `sha256` if an earlier run left it listed; otherwise lists it until the
    /// returned guard is dropped.
    pub(crate) fn enter(&self, sha256: Sha256, path: &Path) -> Result<Entered, LoadError> {
        let error = |e: io::Error| {
            LoadError::new(
                path,
                ErrorKind::Unreadable {
                    source: Arc::new(io::Error::new(
                        e.kind(),
                        format!("quarantine journal {}: {}", self.path.display(), e),
                    )),
                },
            )
        };
        let mut guard = in_progress();
        let running = guard.get_or_insert_with(HashMap::new);
        let key = (self.path.clone(), sha256);
        let count = running.get(&key).copied().unwrap_or(0);
        if count == 0 {
            if self
                .entries()
                .map_err(error)?
                .iter()
                .any(|e| e.sha256 == sha256)
            {
                return Err(LoadError::new(
                    path,
                    ErrorKind::Quarantined {
                        journal: self.path.clone(),
                    },
                ));
            }
            self.append(sha256, path).map_err(error)?;
        }
        running.insert(key, count + 1);
        Ok(Entered {
            journal: self.clone(),
            sha256,
        })
    }

    /// Adds an entry, on disk before this returns.
    fn append(&self, sha256: Sha256, path: &Path) -> io::Result<()> {
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
        // One line per entry: a path's line breaks would split it.
        let shown = path.display().to_string().replace(['\n', '\r'], "?");
        let line = format!("{}{}  {}\n", if torn { "\n" } else { "" }, sha256, shown);
        file.write_all(line.as_bytes())?;
        file.sync_all()
    }

    /// Replaces the journal's contents with `entries` (a new file renamed over it).
    fn rewrite(&self, entries: &[QuarantineEntry]) -> io::Result<()> {
        let mut text = String::new();
        for e in entries {
            text.push_str(&format!("{}  {}\n", e.sha256, e.path.display()));
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(format!(".{}.tmp", std::process::id()));
        let tmp = PathBuf::from(tmp);
        let mut file = fs::File::create(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)
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
                let _ = self.journal.clear_while(Some(&self.sha256), &running);
            }
        }
    }
}
