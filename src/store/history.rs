//! A list's history on disk: every version put in force here, in order,
//! one JSON line each in `<name>.history` beside the versions, appended and
//! fsynced before the version is served. It answers the two questions a
//! store of files cannot: which version was in force before this one (a
//! rollback goes there, not to the highest number below), and which
//! versions were rolled back (they never return, through restarts too,
//! unless pushed again with the same content).
//!
//! A line that does not read (the last one cut short by a crash) is passed
//! over and reported by [`History::damaged`]. The file is compacted when it
//! grows past [`COMPACT_AT`] lines: the newest [`KEEP_LINES`] stay, with
//! the line of the highest version ever in force and the rollback marks of
//! the versions still stored.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Lines past which the file is compacted.
pub const COMPACT_AT: usize = 2048;
/// Lines a compaction keeps (and a few more: see the module's comment).
pub const KEEP_LINES: usize = 512;

/// How a version came to be in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A whole version pushed to this node's API.
    Push,
    /// A delta pushed to this node's API.
    Patch,
    /// Back to an earlier version (`rollback_of` says from which).
    Rollback,
    /// A head of the fleet applied here.
    Fleet,
    /// A seed file's newer version put in force by a reload (SIGHUP); its
    /// text is the seed file.
    Reload,
}

/// One version put in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Increases by one with every line: the order, whatever the versions.
    pub seq: u64,
    pub version: u64,
    /// SHA-256 (hex) of the version's text; empty for a seed file's.
    pub sha256: String,
    pub event: Event,
    /// Unix seconds.
    pub at: u64,
    /// A rollback: the version it left, which is rolled back from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
    /// A fleet's head: its sequence number (see `fleet::Head::seq`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_seq: Option<u64>,
}

/// A list's history as read from its file.
#[derive(Clone, Debug, Default)]
pub struct History {
    path: PathBuf,
    entries: Vec<Entry>,
    damaged: usize,
}

impl History {
    /// Reads `<dir>/<name>.history` (an absent file is an empty history).
    pub fn read(dir: &Path, name: &str) -> io::Result<History> {
        let path = dir.join(format!("{name}.history"));
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let (mut entries, mut damaged) = (Vec::new(), 0);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            match serde_json::from_str::<Entry>(line) {
                Ok(e) => entries.push(e),
                Err(_) => damaged += 1,
            }
        }
        Ok(History {
            path,
            entries,
            damaged,
        })
    }

    /// A history made of entries read elsewhere (the fleet's heads, in
    /// their order), for its rules; it is not written.
    pub fn of(entries: Vec<Entry>) -> History {
        History {
            entries,
            ..History::default()
        }
    }

    /// Lines that did not read.
    pub fn damaged(&self) -> usize {
        self.damaged
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The newest entry: the version this history last put in force.
    pub fn last(&self) -> Option<&Entry> {
        self.entries.last()
    }

    /// The highest sequence number of a fleet's head put in force here.
    pub fn head_seq(&self) -> u64 {
        self.entries
            .iter()
            .filter_map(|e| e.head_seq)
            .max()
            .unwrap_or(0)
    }

    /// The highest version ever put in force here.
    pub fn high_water(&self) -> Option<u64> {
        self.entries.iter().map(|e| e.version).max()
    }

    /// Versions rolled back and not pushed again since, with the sha256
    /// they had (a push of that number with that content brings one back).
    pub fn rolled_back(&self) -> HashMap<u64, String> {
        let mut sha: HashMap<u64, String> = HashMap::new();
        let mut out: HashMap<u64, String> = HashMap::new();
        for e in &self.entries {
            if let Some(from) = e.rollback_of {
                out.insert(from, sha.get(&from).cloned().unwrap_or_default());
            }
            if e.event != Event::Rollback {
                out.remove(&e.version);
            }
            sha.insert(e.version, e.sha256.clone());
        }
        out
    }

    /// Whether `version` is rolled back (and not pushed again since).
    pub fn is_rolled_back(&self, version: u64) -> bool {
        self.rolled_back().contains_key(&version)
    }

    /// Where a rollback from `current` goes: the newest version in force
    /// before it, below it, not rolled back, for which `usable` holds (its
    /// body is still kept). `None`: the history knows none (the seed file
    /// may still be one).
    pub fn rollback_target(
        &self,
        current: u64,
        mut usable: impl FnMut(u64) -> bool,
    ) -> Option<u64> {
        let gone = self.rolled_back();
        let mut tried = Vec::new();
        for e in self.entries.iter().rev() {
            let v = e.version;
            if v >= current || gone.contains_key(&v) || tried.contains(&v) {
                continue;
            }
            tried.push(v);
            if usable(v) {
                return Some(v);
            }
        }
        None
    }

    /// Appends an entry (its `seq` is set here) and fsyncs it; compacts the
    /// file when it has grown past [`COMPACT_AT`] lines.
    pub fn record(&mut self, mut entry: Entry) -> io::Result<()> {
        entry.seq = self.entries.last().map_or(1, |e| e.seq + 1);
        let mut line = serde_json::to_vec(&entry).map_err(io::Error::other)?;
        line.push(b'\n');
        let new = !self.path.exists();
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        f.write_all(&line)?;
        f.sync_all()?;
        if new && let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.entries.push(entry);
        if self.entries.len() + self.damaged > COMPACT_AT {
            self.compact()?;
        }
        Ok(())
    }

    /// Rewrites the file with the newest [`KEEP_LINES`] entries, the one of
    /// the highest version and the rollbacks still in effect (temporary
    /// file, fsync, rename).
    fn compact(&mut self) -> io::Result<()> {
        let gone = self.rolled_back();
        let top = self.high_water();
        let cut = self.entries.len().saturating_sub(KEEP_LINES);
        let mut kept_top = false;
        let kept: Vec<Entry> = self
            .entries
            .iter()
            .enumerate()
            .filter(|(i, e)| {
                let keep = *i >= cut
                    || (!kept_top && Some(e.version) == top)
                    || e.rollback_of.is_some_and(|v| gone.contains_key(&v));
                kept_top |= keep && Some(e.version) == top;
                keep
            })
            .map(|(_, e)| e.clone())
            .collect();
        let mut text = Vec::new();
        for e in &kept {
            text.extend(serde_json::to_vec(e).map_err(io::Error::other)?);
            text.push(b'\n');
        }
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = self
            .path
            .with_file_name(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(&text)?;
            f.sync_all()?;
            fs::rename(&tmp, &self.path)?;
            match self.path.parent() {
                Some(d) => File::open(d)?.sync_all(),
                None => Ok(()),
            }
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        self.entries = kept;
        self.damaged = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("callscreen-history-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).expect("dir");
        d
    }

    fn entry(version: u64, sha: &str, event: Event, rollback_of: Option<u64>) -> Entry {
        Entry {
            seq: 0,
            version,
            sha256: sha.into(),
            event,
            at: 0,
            rollback_of,
            head_seq: None,
        }
    }

    #[test]
    fn a_rollback_goes_to_the_version_in_force_before_and_never_to_one_rolled_back() {
        let d = dir("order");
        let mut h = History::read(&d, "acm").expect("read");
        h.record(entry(18, "a", Event::Push, None)).expect("record");
        h.record(entry(19, "b", Event::Push, None)).expect("record");
        assert_eq!(h.rollback_target(19, |_| true), Some(18));
        h.record(entry(18, "a", Event::Rollback, Some(19)))
            .expect("record");
        h.record(entry(20, "c", Event::Push, None)).expect("record");
        // Read again, as after a restart.
        let h = History::read(&d, "acm").expect("read");
        assert!(h.is_rolled_back(19));
        assert_eq!(h.rollback_target(20, |_| true), Some(18), "never 19");
        assert_eq!(h.high_water(), Some(20));
        assert_eq!(
            h.entries().iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        // Not the highest number below: the one in force before.
        let mut h = History::read(&dir("before"), "acm").expect("read");
        for v in [2, 3, 4] {
            h.record(entry(v, "x", Event::Push, None)).expect("record");
        }
        assert_eq!(h.rollback_target(4, |_| true), Some(3));
        assert_eq!(h.rollback_target(4, |v| v != 3), Some(2), "3 not kept");
        // Pushed again, a rolled-back version is back.
        let mut h = History::read(&d, "acm").expect("read");
        h.record(entry(19, "b", Event::Push, None)).expect("record");
        assert!(!h.is_rolled_back(19));
    }

    #[test]
    fn a_line_cut_short_is_passed_over_and_counted() {
        let d = dir("cut");
        let mut h = History::read(&d, "acm").expect("read");
        h.record(entry(2, "a", Event::Push, None)).expect("record");
        let mut f = OpenOptions::new()
            .append(true)
            .open(d.join("acm.history"))
            .expect("open");
        f.write_all(b"{\"seq\":2,\"vers").expect("write");
        let h = History::read(&d, "acm").expect("read");
        assert_eq!(h.entries().len(), 1);
        assert_eq!(h.damaged(), 1);
    }

    #[test]
    fn compaction_keeps_the_highest_version_and_the_rollbacks_in_effect() {
        let d = dir("compact");
        let mut h = History::read(&d, "acm").expect("read");
        h.record(entry(1000, "top", Event::Push, None))
            .expect("record");
        h.record(entry(999, "b", Event::Rollback, Some(1000)))
            .expect("record");
        for i in 0..COMPACT_AT as u64 {
            h.record(entry(i % 7, "x", Event::Fleet, None))
                .expect("record");
        }
        let h = History::read(&d, "acm").expect("read");
        assert!(h.entries().len() < COMPACT_AT, "{}", h.entries().len());
        assert_eq!(h.high_water(), Some(1000));
        assert!(h.is_rolled_back(1000));
        let seqs: Vec<u64> = h.entries().iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "still in order");
        assert!(fs::read_dir(&d).expect("dir").all(|e| {
            !e.expect("entry")
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")
        }));
    }
}
