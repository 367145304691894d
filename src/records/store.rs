//! The records directory: the staging log the recorder appends to
//! (`stage-<generation>.log`, the queue's binary form, synced every
//! batch), and the Parquet segments it becomes
//! (`seg-<generation>-<first ms>-<last ms>.parquet`, written to a
//! temporary name, synced, renamed, and only then is its staging log
//! removed). A staging log whose segment exists was sealed already: it is
//! removed when the store opens; one without is sealed then, a torn last
//! record (a crash mid-write) counted and dropped. Retention removes the
//! oldest segments by age and by bytes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::file::{self, Find, Segment};
use super::row::{self, Record};

/// A segment's file and what its name says.
#[derive(Clone, Debug)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub generation: u64,
    pub first_ms: u64,
    pub last_ms: u64,
    pub bytes: u64,
}

/// The store's files, as listed now.
#[derive(Debug, Default)]
pub struct Listing {
    /// In generation (and so time) order.
    pub segments: Vec<SegmentFile>,
    /// Staging logs by generation (not those already sealed).
    pub stages: Vec<(u64, PathBuf)>,
    /// Staging logs whose segment exists: sealed, their removal pending
    /// (a crash between the two).
    pub sealed_stages: Vec<PathBuf>,
    /// Segments being written (`.seg-….tmp`): left by a crash when no
    /// sealing runs.
    pub temporaries: Vec<PathBuf>,
}

pub fn stage_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("stage-{generation:010}.log"))
}

/// Lists `dir` (missing: empty).
pub fn list(dir: &Path) -> std::io::Result<Listing> {
    let mut l = Listing::default();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(l),
        Err(e) => return Err(e),
    };
    for e in rd {
        let e = e?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(g) = name
            .strip_prefix("stage-")
            .and_then(|s| s.strip_suffix(".log"))
            .and_then(|s| s.parse().ok())
        {
            l.stages.push((g, e.path()));
        } else if name.starts_with(".seg-") && name.ends_with(".tmp") {
            l.temporaries.push(e.path());
        } else if let Some(rest) = name
            .strip_prefix("seg-")
            .and_then(|s| s.strip_suffix(".parquet"))
        {
            let mut it = rest.split('-').map(str::parse::<u64>);
            if let (Some(Ok(generation)), Some(Ok(first_ms)), Some(Ok(last_ms)), None) =
                (it.next(), it.next(), it.next(), it.next())
            {
                l.segments.push(SegmentFile {
                    path: e.path(),
                    generation,
                    first_ms,
                    last_ms,
                    bytes: e.metadata()?.len(),
                });
            }
        }
    }
    l.segments.sort_by_key(|s| s.generation);
    l.stages.sort_by_key(|s| s.0);
    // A staging log whose segment exists is sealed (its removal comes
    // next): its records are the segment's.
    let sealed: std::collections::HashSet<u64> = l.segments.iter().map(|s| s.generation).collect();
    let (done, open): (Vec<_>, Vec<_>) =
        l.stages.into_iter().partition(|(g, _)| sealed.contains(g));
    l.stages = open;
    l.sealed_stages = done.into_iter().map(|(_, p)| p).collect();
    Ok(l)
}

/// What sealing a staging log did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sealed {
    pub records: u64,
    /// Bytes at its end that were no whole record (a crash mid-write).
    pub torn: bool,
}

/// Turns the staging log of `generation` into its segment (none when it
/// holds no record), then removes it.
pub fn seal(dir: &Path, generation: u64) -> std::io::Result<Sealed> {
    let stage = stage_path(dir, generation);
    let bytes = match fs::read(&stage) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sealed::default()),
        Err(e) => return Err(e),
    };
    let (rows, torn) = row::Stage::parse(bytes);
    if let Some((first, last)) = rows.span_ms() {
        let name = format!("seg-{generation:010}-{first}-{last}.parquet");
        let tmp = dir.join(format!(".{name}.tmp"));
        let f = file::write(&tmp, &rows).map_err(std::io::Error::other)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, dir.join(&name))?;
        sync_dir(dir)?;
    }
    fs::remove_file(&stage)?;
    Ok(Sealed {
        records: row::Rows::len(&rows) as u64,
        torn,
    })
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Removes the oldest segments until none is older than `max_age_ms`
/// (its last call before `now_ms - max_age_ms`) and all together take at
/// most `max_bytes`; the records removed.
pub fn retain(dir: &Path, now_ms: u64, max_age_ms: u64, max_bytes: u64) -> std::io::Result<u64> {
    let l = list(dir)?;
    let mut total: u64 = l.segments.iter().map(|s| s.bytes).sum();
    let mut removed = 0;
    for s in &l.segments {
        let old = s.last_ms < now_ms.saturating_sub(max_age_ms);
        if !old && total <= max_bytes {
            break;
        }
        let rows = Segment::open(&s.path).map(|x| x.rows()).unwrap_or(0);
        fs::remove_file(&s.path)?;
        total -= s.bytes;
        removed += rows;
    }
    Ok(removed)
}

/// Appends a batch to a staging log and syncs it.
pub fn append(f: &mut fs::File, batch: &[u8]) -> std::io::Result<()> {
    f.write_all(batch)?;
    f.sync_data()
}

/// A search over the store: records that match, in time order, after
/// skipping `offset`, at most `limit`; and whether more match.
pub struct Query<'a> {
    pub find: Find<'a>,
    /// Every row returned must pass this (the exact match, and filters
    /// without an index: peer).
    pub keep: &'a dyn Fn(&Record) -> bool,
    pub offset: usize,
    pub limit: usize,
}

#[derive(Debug, Default)]
pub struct Found {
    pub records: Vec<Record>,
    pub more: bool,
    /// Row groups read (the rest were skipped on their time range or Bloom filters).
    pub groups_read: usize,
}

enum Source {
    Segment(SegmentFile),
    Stage(u64, PathBuf),
}

/// The segment the staging log of `generation` became, once sealed.
pub fn sealed_as(dir: &Path, generation: u64) -> Option<SegmentFile> {
    list(dir)
        .ok()?
        .segments
        .into_iter()
        .find(|s| s.generation == generation)
}

/// Searches the segments, then the staging logs (the last minutes' calls).
pub fn find(dir: &Path, q: &Query<'_>) -> Result<Found, String> {
    let l = list(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out = Found::default();
    let mut skip = q.offset;
    let mut take = |r: Record, out: &mut Found| -> bool {
        if !(q.keep)(&r) || r.time_ms < q.find.since_ms || r.time_ms > q.find.until_ms {
            return true;
        }
        if skip > 0 {
            skip -= 1;
            return true;
        }
        if out.records.len() == q.limit {
            out.more = true;
            return false;
        }
        out.records.push(r);
        true
    };
    // Segments, then the staging logs; a staging log sealed since the
    // listing is read as the segment it became.
    let mut sources: std::collections::VecDeque<Source> = l
        .segments
        .into_iter()
        .map(Source::Segment)
        .chain(l.stages.into_iter().map(|(g, p)| Source::Stage(g, p)))
        .collect();
    while let Some(src) = sources.pop_front() {
        match src {
            Source::Segment(s) => {
                if s.last_ms < q.find.since_ms || s.first_ms > q.find.until_ms {
                    continue;
                }
                let at = |e: &dyn std::fmt::Display| format!("{}: {e}", s.path.display());
                let seg = Segment::open(&s.path).map_err(|e| at(&e))?;
                for g in seg.candidates(&q.find).map_err(|e| at(&e))? {
                    out.groups_read += 1;
                    let rows = match q.find.value {
                        Some(v) => seg.read_matching(g, q.find.columns, v),
                        None => seg.read(g),
                    }
                    .map_err(|e| at(&e))?;
                    for r in rows {
                        if !take(r, &mut out) {
                            return Ok(out);
                        }
                    }
                }
            }
            Source::Stage(g, p) => {
                let bytes = match fs::read(&p) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if let Some(s) = sealed_as(dir, g) {
                            sources.push_front(Source::Segment(s));
                        }
                        continue;
                    }
                    Err(e) => return Err(format!("{}: {e}", p.display())),
                };
                let mut recs = Vec::new();
                let _ = row::decode_all(&bytes, |r| recs.push(r));
                recs.sort_by_key(|r| r.time_ms);
                for r in recs {
                    if !take(r, &mut out) {
                        return Ok(out);
                    }
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(dir: &Path, generation: u64, time_ms: u64) {
        let r = Record::sample(time_ms, format!("c{generation}"));
        let name = format!("seg-{generation:010}-{time_ms}-{time_ms}.parquet");
        file::write(&dir.join(name), &[r][..]).expect("a segment");
    }

    #[test]
    fn retention_removes_segments_past_their_age_and_the_oldest_beyond_the_bytes() {
        let dir = std::env::temp_dir().join(format!("callscreen-retain-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("a directory");
        let day = 86_400_000;
        let now = 1_796_000_000_000;
        segment(&dir, 1, now - 100 * day);
        segment(&dir, 2, now - 10 * day);
        segment(&dir, 3, now - day);
        // 90 days: the first goes, by age.
        assert_eq!(retain(&dir, now, 90 * day, u64::MAX).expect("retained"), 1);
        let left = |d: &Path| {
            list(d)
                .expect("listed")
                .segments
                .iter()
                .map(|s| s.generation)
                .collect::<Vec<_>>()
        };
        assert_eq!(left(&dir), [2, 3]);
        // Room for one segment: the oldest of the two goes, by bytes.
        let one = list(&dir).expect("listed").segments[1].bytes;
        assert_eq!(retain(&dir, now, 90 * day, one).expect("retained"), 1);
        assert_eq!(left(&dir), [3]);
        let _ = fs::remove_dir_all(&dir);
    }
}
