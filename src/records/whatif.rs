//! What a candidate list version would have done: every recorded call in
//! a window decided again by the daemon's own screening function
//! (`screen::screen`), once with the lists in force and once with the
//! candidate in place of its current version, and the differences
//! counted. Both decisions use today's policy and the record's facts and
//! time, so a difference is the candidate's doing alone.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::path::Path;

use serde::Serialize;

use super::file::{Find, Segment};
use super::row::Inputs;
use super::store;
use crate::lists::ListSet;
use crate::screen::{Action, Policy, screen};

/// Most examples given per direction.
pub const EXAMPLES: usize = 10;
/// Most callers and subscribers named per direction.
pub const TOP: usize = 10;

/// A call whose verdict the candidate changes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Example {
    pub time_ms: u64,
    pub call_id: String,
    #[serde(rename = "ref")]
    pub reference: Option<String>,
    pub caller: String,
    pub callee: Option<String>,
    pub peer: String,
    /// As recorded.
    pub recorded: String,
    pub now: String,
    pub candidate: String,
    /// The candidate's reasons.
    pub reasons: String,
    /// Where its Call-ID and reference are read (work item, row), when
    /// the row came from a segment.
    #[serde(skip)]
    at: Option<(usize, usize)>,
}

/// Calls that change verdict one way.
#[derive(Debug, Default, Serialize)]
pub struct Change {
    pub calls: u64,
    pub callers: u64,
    /// Calls by peer.
    pub by_peer: BTreeMap<String, u64>,
    /// The callers with most such calls, most first.
    pub top_callers: Vec<(String, u64)>,
    /// The subscribers (callees) with most such calls, most first.
    pub top_callees: Vec<(String, u64)>,
    pub examples: Vec<Example>,
    /// Calls by peer while counting (a handful of peers: a list).
    #[serde(skip)]
    peers: Vec<(String, u64)>,
    #[serde(skip)]
    by_caller: Counts,
    #[serde(skip)]
    by_callee: Counts,
}

/// Calls by number: an E.164 number by its value (no text kept per call),
/// anything else (`withheld`, `invalid`) by its text's hash, the text kept once.
#[derive(Debug, Default)]
struct Counts {
    n: HashMap<u64, u64, BuildHasherDefault<Mix>>,
    names: HashMap<u64, String>,
}

impl Counts {
    fn add(&mut self, s: &str, by: u64) {
        let k = match crate::number::E164::parse_plus(s) {
            Some(e) => e.as_u64(),
            None => {
                use std::hash::Hasher;
                let mut h = Mix(0xcbf2_9ce4_8422_2325);
                h.write(s.as_bytes());
                // Above every E.164 value (15 digits at most).
                let k = h.finish() | (1 << 63);
                self.names.entry(k).or_insert_with(|| s.to_string());
                k
            }
        };
        *self.n.entry(k).or_default() += by;
    }

    fn merge(&mut self, o: Counts) {
        self.names.extend(o.names);
        for (k, v) in o.n {
            *self.n.entry(k).or_default() += v;
        }
    }

    fn name(&self, k: u64) -> String {
        match self.names.get(&k) {
            Some(s) => s.clone(),
            None => format!("+{k}"),
        }
    }

    /// The [`TOP`] with most calls, most first.
    fn top(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(u64, u64)> = self.n.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(TOP);
        v.into_iter().map(|(k, c)| (self.name(k), c)).collect()
    }
}

/// A hasher for keys that are numbers already: one multiply.
#[derive(Default)]
struct Mix(u64);

impl std::hash::Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (v ^ (v >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub since_ms: u64,
    pub until_ms: u64,
    /// Recorded calls in the window.
    pub calls: u64,
    /// Calls not decided again: their peer is gone from the configuration,
    /// or a field is not what callscreen writes.
    pub undecidable: u64,
    /// Calls the candidate would reject that the lists in force let through.
    pub newly_rejected: Change,
    /// Calls the lists in force reject that the candidate would let through.
    pub newly_passed: Change,
    /// Other changes of verdict (allow, tag, anonymise, warn among themselves).
    pub other_changes: u64,
}

impl Change {
    fn add(&mut self, r: &Inputs<'_>, ex: impl FnOnce() -> Example) {
        self.calls += 1;
        match self.peers.iter_mut().find(|(p, _)| p == r.peer) {
            Some((_, n)) => *n += 1,
            None => self.peers.push((r.peer.to_string(), 1)),
        }
        self.by_caller.add(r.caller, 1);
        if let Some(c) = r.callee {
            self.by_callee.add(c, 1);
        }
        if self.examples.len() < EXAMPLES {
            self.examples.push(ex());
        }
    }

    fn merge(&mut self, o: Change) {
        self.calls += o.calls;
        for (k, v) in o.peers {
            match self.peers.iter_mut().find(|(p, _)| *p == k) {
                Some((_, n)) => *n += v,
                None => self.peers.push((k, v)),
            }
        }
        self.by_caller.merge(o.by_caller);
        self.by_callee.merge(o.by_callee);
        self.examples.extend(o.examples);
    }

    fn finish(&mut self) {
        self.callers = self.by_caller.n.len() as u64;
        self.by_peer = self.peers.iter().cloned().collect();
        self.top_callers = self.by_caller.top();
        self.top_callees = self.by_callee.top();
        self.examples.sort_by_key(|e| e.time_ms);
        self.examples.truncate(EXAMPLES);
    }
}

fn rejects(a: Action) -> bool {
    matches!(a, Action::Reject { .. })
}

impl Report {
    fn add(
        &mut self,
        r: &Inputs<'_>,
        at: Option<(usize, usize)>,
        policy: &Policy,
        now: &ListSet,
        cand: &ListSet,
    ) {
        self.calls += 1;
        let Some(peer) = policy.peer_by_name(r.peer) else {
            self.undecidable += 1;
            return;
        };
        let Ok(facts) = r.facts(peer) else {
            self.undecidable += 1;
            return;
        };
        let (a, b) = (screen(&facts, now, policy), screen(&facts, cand, policy));
        if a.action == b.action {
            return;
        }
        let ex = || Example {
            time_ms: r.time_ms,
            call_id: r.call_id.to_string(),
            reference: r.reference.map(str::to_string),
            caller: r.caller.to_string(),
            callee: r.callee.map(str::to_string),
            peer: r.peer.to_string(),
            recorded: r.verdict.to_string(),
            now: a.action.name().to_string(),
            candidate: b.action.name().to_string(),
            reasons: b
                .findings
                .iter()
                .map(|f| f.reason.to_string())
                .collect::<Vec<_>>()
                .join(","),
            at,
        };
        match (rejects(a.action), rejects(b.action)) {
            (false, true) => self.newly_rejected.add(r, ex),
            (true, false) => self.newly_passed.add(r, ex),
            _ => self.other_changes += 1,
        }
    }

    /// Every row of `group` in the window; `work`: the work item it was
    /// read as, where an example's Call-ID is read back.
    fn add_group(
        &mut self,
        group: &super::file::Group,
        work: Option<usize>,
        (since_ms, until_ms): (u64, u64),
        policy: &Policy,
        now: &ListSet,
        cand: &ListSet,
    ) {
        for k in 0..group.rows {
            let r = group.inputs(k);
            if r.time_ms >= since_ms && r.time_ms <= until_ms {
                self.add(&r, work.map(|i| (i, k)), policy, now, cand);
            }
        }
    }

    fn merge(&mut self, o: Report) {
        self.calls += o.calls;
        self.undecidable += o.undecidable;
        self.other_changes += o.other_changes;
        self.newly_rejected.merge(o.newly_rejected);
        self.newly_passed.merge(o.newly_passed);
    }
}

/// The generation a staging log's name says.
fn stage_generation(p: &Path) -> Option<u64> {
    p.file_name()?
        .to_str()?
        .strip_prefix("stage-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

/// Decides every call recorded in `dir` between `since_ms` and
/// `until_ms` again, with `now` and with `cand`, on `threads` threads.
pub fn whatif(
    dir: &Path,
    policy: &Policy,
    now: &ListSet,
    cand: &ListSet,
    since_ms: u64,
    until_ms: u64,
    threads: usize,
) -> Result<Report, String> {
    let l = store::list(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let find = Find {
        columns: &[],
        value: None,
        since_ms,
        until_ms,
    };
    // Work items: each row group of each segment in the window, then the staging logs.
    let mut work: Vec<(std::path::PathBuf, Option<usize>)> = Vec::new();
    for s in l
        .segments
        .iter()
        .filter(|s| s.last_ms >= since_ms && s.first_ms <= until_ms)
    {
        let seg = Segment::open(&s.path).map_err(|e| format!("{}: {e}", s.path.display()))?;
        for g in seg
            .candidates(&find)
            .map_err(|e| format!("{}: {e}", s.path.display()))?
        {
            work.push((s.path.clone(), Some(g)));
        }
    }
    work.extend(l.stages.iter().map(|(_, p)| (p.clone(), None)));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let run = || -> Result<Report, String> {
        let mut rep = Report::default();
        let mut open: Option<(std::path::PathBuf, Segment)> = None;
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some((path, group)) = work.get(i) else {
                return Ok(rep);
            };
            let rows = match group {
                Some(g) => {
                    if open.as_ref().is_none_or(|(p, _)| p != path) {
                        let seg =
                            Segment::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
                        open = Some((path.clone(), seg));
                    }
                    let Some((_, seg)) = &open else { continue };
                    let group = seg
                        .read_inputs(*g)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    rep.add_group(&group, Some(i), (since_ms, until_ms), policy, now, cand);
                    continue;
                }
                None => {
                    let bytes = match std::fs::read(path) {
                        Ok(b) => b,
                        // Sealed since the listing: read as the segment it became.
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                            let Some(s) =
                                stage_generation(path).and_then(|g| store::sealed_as(dir, g))
                            else {
                                continue;
                            };
                            let seg = Segment::open(&s.path)
                                .map_err(|e| format!("{}: {e}", s.path.display()))?;
                            for g in 0..seg.row_groups() {
                                let group = seg
                                    .read_inputs(g)
                                    .map_err(|e| format!("{}: {e}", s.path.display()))?;
                                rep.add_group(
                                    &group,
                                    None,
                                    (since_ms, until_ms),
                                    policy,
                                    now,
                                    cand,
                                );
                            }
                            continue;
                        }
                        Err(e) => return Err(format!("{}: {e}", path.display())),
                    };
                    let mut v = Vec::new();
                    let _ = super::row::decode_all(&bytes, |r| v.push(r));
                    v
                }
            };
            for r in rows
                .iter()
                .filter(|r| r.time_ms >= since_ms && r.time_ms <= until_ms)
            {
                rep.add(&r.inputs(), None, policy, now, cand);
            }
        }
    };
    let parts: Vec<Result<Report, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads.max(1)).map(|_| s.spawn(run)).collect();
        hs.into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("a what-if thread failed".into()))
            })
            .collect()
    });
    let mut rep = Report {
        since_ms,
        until_ms,
        ..Report::default()
    };
    for p in parts {
        rep.merge(p?);
    }
    rep.newly_rejected.finish();
    rep.newly_passed.finish();
    // The examples' Call-IDs and references, read for them alone.
    for e in rep
        .newly_rejected
        .examples
        .iter_mut()
        .chain(rep.newly_passed.examples.iter_mut())
    {
        let Some((i, k)) = e.at else { continue };
        let Some((path, Some(g))) = work.get(i) else {
            continue;
        };
        let row = Segment::open(path)
            .and_then(|s| s.read_rows(*g, &[k]))
            .map_err(|x| format!("{}: {x}", path.display()))?;
        if let Some(r) = row.into_iter().next() {
            e.call_id = r.call_id;
            e.reference = r.reference;
        }
    }
    Ok(rep)
}
