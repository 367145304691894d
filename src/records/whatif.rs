//! What a candidate list version would have done: every recorded call in
//! a window decided again by the daemon's own screening function
//! (`screen::screen`), once with the lists in force and once with the
//! candidate in place of its current version, and the differences
//! counted. Both decisions use today's policy and the record's facts and
//! time, so a difference is the candidate's doing alone.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use super::file::{Find, Segment};
use super::row::Record;
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
    #[serde(skip)]
    by_caller: HashMap<String, u64>,
    #[serde(skip)]
    by_callee: HashMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub since_ms: u64,
    pub until_ms: u64,
    /// Recorded calls in the window.
    pub calls: u64,
    pub callers: u64,
    /// Calls not decided again: their peer is gone from the configuration,
    /// or a field is not what callscreen writes.
    pub undecidable: u64,
    /// Calls the candidate would reject that the lists in force let through.
    pub newly_rejected: Change,
    /// Calls the lists in force reject that the candidate would let through.
    pub newly_passed: Change,
    /// Other changes of verdict (allow, tag, anonymise, warn among themselves).
    pub other_changes: u64,
    #[serde(skip)]
    all_callers: HashSet<String>,
}

impl Change {
    fn add(&mut self, r: &Record, ex: impl FnOnce() -> Example) {
        self.calls += 1;
        *self.by_peer.entry(r.peer.clone()).or_default() += 1;
        *self.by_caller.entry(r.caller.clone()).or_default() += 1;
        if let Some(c) = &r.callee {
            *self.by_callee.entry(c.clone()).or_default() += 1;
        }
        if self.examples.len() < EXAMPLES {
            self.examples.push(ex());
        }
    }

    fn merge(&mut self, o: Change) {
        self.calls += o.calls;
        for (k, v) in o.by_peer {
            *self.by_peer.entry(k).or_default() += v;
        }
        for (k, v) in o.by_caller {
            *self.by_caller.entry(k).or_default() += v;
        }
        for (k, v) in o.by_callee {
            *self.by_callee.entry(k).or_default() += v;
        }
        self.examples.extend(o.examples);
    }

    fn finish(&mut self) {
        self.callers = self.by_caller.len() as u64;
        self.top_callers = top(&self.by_caller);
        self.top_callees = top(&self.by_callee);
        self.examples.sort_by_key(|e| e.time_ms);
        self.examples.truncate(EXAMPLES);
    }
}

fn top(m: &HashMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<_> = m.iter().map(|(k, v)| (k.clone(), *v)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(TOP);
    v
}

fn rejects(a: Action) -> bool {
    matches!(a, Action::Reject { .. })
}

impl Report {
    fn add(&mut self, r: &Record, policy: &Policy, now: &ListSet, cand: &ListSet) {
        self.calls += 1;
        self.all_callers.insert(r.caller.clone());
        let Some(peer) = policy.peer_by_name(&r.peer) else {
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
            call_id: r.call_id.clone(),
            reference: r.reference.clone(),
            caller: r.caller.clone(),
            callee: r.callee.clone(),
            peer: r.peer.clone(),
            recorded: r.verdict.clone(),
            now: a.action.name().to_string(),
            candidate: b.action.name().to_string(),
            reasons: b
                .findings
                .iter()
                .map(|f| f.reason.to_string())
                .collect::<Vec<_>>()
                .join(","),
        };
        match (rejects(a.action), rejects(b.action)) {
            (false, true) => self.newly_rejected.add(r, ex),
            (true, false) => self.newly_passed.add(r, ex),
            _ => self.other_changes += 1,
        }
    }

    fn merge(&mut self, o: Report) {
        self.calls += o.calls;
        self.undecidable += o.undecidable;
        self.other_changes += o.other_changes;
        self.all_callers.extend(o.all_callers);
        self.newly_rejected.merge(o.newly_rejected);
        self.newly_passed.merge(o.newly_passed);
    }
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
                    seg.read(*g)
                        .map_err(|e| format!("{}: {e}", path.display()))?
                }
                None => {
                    let bytes = match std::fs::read(path) {
                        Ok(b) => b,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
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
                rep.add(r, policy, now, cand);
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
    rep.callers = rep.all_callers.len() as u64;
    rep.newly_rejected.finish();
    rep.newly_passed.finish();
    Ok(rep)
}
