//! The fleet's state on this node: the connection once made, the heads as
//! last seen, what this node applied, the bodies of its own pushes waiting
//! for their heads, and its last error. Below every other file of `fleet`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;

use super::head::Head;
use super::link::Link;
use crate::config::FleetSettings;
use crate::lists::List;
use crate::state::Shared;
use crate::store::Store;

/// A body pushed through this node, waiting for its own head to come back
/// from the watch, so that this node does not fetch what it already has.
pub use crate::ledger::Body;

pub struct Pending {
    pub list: List,
    pub body: Body,
    /// The list's snapshot, made once for the fleet and stored here too.
    pub snapshot: Option<Vec<u8>>,
}

/// What this node applied of a list: the head's revision, version, sha256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub revision: u64,
    pub version: u64,
    pub sha256: String,
}

pub struct Fleet {
    pub settings: FleetSettings,
    pub(super) shared: Arc<Shared>,
    pub(super) store: Store,
    pub(super) link: ArcSwapOption<Link>,
    /// The heads as last seen, by list: (revision, head).
    pub(super) heads: Mutex<HashMap<String, (u64, Head)>>,
    pub(super) applied: Mutex<HashMap<String, Applied>>,
    /// Seed files' sha256, by path and modification time.
    pub(super) seed_shas: Mutex<HashMap<(std::path::PathBuf, u64), String>>,
    /// The fleet's members as last read.
    pub(super) members: Mutex<super::member::Members>,
    /// Heads whose apply failed, by list and revision: a failure is
    /// counted once per head, not once per retry.
    pub(super) failed: Mutex<std::collections::HashSet<(String, u64)>>,
    /// The highest head sequence number applied, by list (read from the
    /// list's history on first use).
    pub(super) seqs: Mutex<HashMap<String, u64>>,
    /// Bumped after every apply, for pushes waiting for theirs.
    pub(super) applied_tx: tokio::sync::watch::Sender<u64>,
    pub(super) pending: Mutex<HashMap<String, Pending>>,
    /// Values in the heads bucket refused (not a head, not sealed by a
    /// trusted key), by list: (revision, why). Seen, so never waited for.
    pub(super) refused: Mutex<HashMap<String, (u64, String)>>,
    /// The last apply or connection error, for the heartbeat and `/readyz`.
    pub(super) last_error: Mutex<Option<String>>,
    pub apply_failures: AtomicU64,
    /// Set when a request to NATS timed out while applying (an object not
    /// fetched in time): the connection loop then connects anew.
    pub(super) nats_timed_out: std::sync::atomic::AtomicBool,
    pub applies: AtomicU64,
    /// When chunks of unfinished uploads were last looked for (unix s).
    pub(super) last_sweep: AtomicU64,
    /// Microseconds spent applying heads, in all (with `applies`: the
    /// mean apply time).
    pub apply_micros: AtomicU64,
    /// One apply at a time.
    pub(super) apply_lock: tokio::sync::Mutex<()>,
    /// Notified when the NATS connection comes back.
    pub(super) reconnected: Arc<tokio::sync::Notify>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Fleet {
    /// The owner of list versions, over this node's lists and store.
    pub(super) fn ledger(&self) -> crate::ledger::Ledger {
        crate::ledger::Ledger::new(self.store.clone(), Arc::clone(&self.shared))
    }

    /// Whether NATS is connected now.
    pub fn connected(&self) -> bool {
        self.link.load().as_ref().is_some_and(|l| l.connected())
    }

    pub fn last_error(&self) -> Option<String> {
        lock(&self.last_error).clone()
    }

    pub(super) fn set_error(&self, e: Option<String>) {
        *lock(&self.last_error) = e;
    }

    /// Per list: whether the head in the fleet differs from what this node
    /// serves (lagging).
    /// Lists this node does not configure are not lagging: their heads
    /// are for other sites' nodes.
    pub fn lag(&self) -> Vec<(String, bool)> {
        let configured = self.configured();
        let heads = lock(&self.heads);
        let applied = lock(&self.applied);
        let mut out: Vec<(String, bool)> = heads
            .iter()
            .filter(|(name, _)| configured.contains(*name))
            .map(|(name, (_, h))| {
                let lagging = applied.get(name).is_none_or(|a| a.sha256 != h.sha256);
                (name.clone(), lagging)
            })
            .collect();
        out.sort();
        out
    }

    /// The lists this node's config names.
    pub(super) fn configured(&self) -> std::collections::HashSet<String> {
        self.shared
            .runtime
            .load()
            .settings
            .lists
            .iter()
            .map(|l| l.name.clone())
            .collect()
    }

    /// The newest revision of a list's entry this node has seen, applied
    /// or refused.
    pub(super) fn seen_revision(&self, list: &str) -> u64 {
        let head = lock(&self.heads).get(list).map_or(0, |h| h.0);
        let refused = lock(&self.refused).get(list).map_or(0, |r| r.0);
        head.max(refused)
    }

    /// Forgets the key-value revisions seen and applied (a new connection:
    /// its stream may be new); what was applied is kept.
    pub(super) fn forget_revisions(&self) {
        for a in lock(&self.applied).values_mut() {
            a.revision = 0;
        }
        lock(&self.heads).clear();
        lock(&self.refused).clear();
    }

    /// The highest head sequence number applied here for `list`.
    pub(super) fn seq_of(&self, list: &str) -> u64 {
        if let Some(s) = lock(&self.seqs).get(list) {
            return *s;
        }
        let s = self.ledger().history(list).head_seq();
        *lock(&self.seqs).entry(list.to_string()).or_insert(s)
    }

    pub(super) fn note_seq(&self, list: &str, seq: u64) {
        let last = self.seq_of(list);
        lock(&self.seqs).insert(list.to_string(), last.max(seq));
    }

    /// A head applied, in `took`.
    pub(super) fn applied_in(&self, took: std::time::Duration) {
        self.applies.fetch_add(1, Ordering::Relaxed);
        self.apply_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// The heads as last seen of the lists this node configures: list,
    /// version, sequence number.
    pub fn head_versions(&self) -> Vec<(String, u64, u64)> {
        let configured = self.configured();
        let mut v: Vec<_> = lock(&self.heads)
            .iter()
            .filter(|(n, _)| configured.contains(*n))
            .map(|(n, (_, h))| (n.clone(), h.version, h.seq))
            .collect();
        v.sort();
        v
    }

    pub(super) fn note_applied(&self, list: &str, a: Applied) {
        lock(&self.applied).insert(list.to_string(), a);
        self.applied_tx.send_modify(|n| *n += 1);
    }

    /// The sha256 of a list's version this node applied from the fleet.
    pub fn applied_sha(&self, list: &str, version: u64) -> Option<String> {
        lock(&self.applied)
            .get(list)
            .filter(|a| a.version == version)
            .map(|a| a.sha256.clone())
    }

    /// The revision of a list's head this node applied.
    pub(super) fn applied_revision(&self, list: &str) -> u64 {
        lock(&self.applied).get(list).map_or(0, |a| a.revision)
    }

    /// Waits until this node has applied `list` at `revision` or later (or
    /// the timeout passes): true when it has.
    pub async fn wait_applied(
        &self,
        list: &str,
        revision: u64,
        within: std::time::Duration,
    ) -> bool {
        let mut rx = self.applied_tx.subscribe();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if self.applied_revision(list) >= revision {
                return true;
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return self.applied_revision(list) >= revision;
            }
        }
    }

    pub fn applies_total(&self) -> u64 {
        self.applies.load(Ordering::Relaxed)
    }
}
