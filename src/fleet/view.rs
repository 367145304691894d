//! The heartbeat and the fleet's view. Every node writes its beat (its name,
//! its software version, the version, sha256 and head sequence number of
//! every list it serves, its last error, the time) every `heartbeat_secs`
//! and at once after every apply, to two buckets: the nodes bucket (entries
//! expire after six beats) and the members bucket (kept). The view
//! (`GET /v1/fleet`, `callscreen fleet show`) lists every member: `up`,
//! `lagging` (a list it serves differs from the fleet's head, or, with no
//! head, from the highest version another node serves) or `missing` (no
//! beat for three beats: shown with when it was last seen until an
//! operator forgets it, `callscreen fleet forget NODE`). While NATS is down
//! the view says so, and shows the members as last read, in state
//! `unknown`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::link::Link;
use super::member::{Beat, BeatList, Member, Members, State};
use super::node::{Fleet, lock};
use crate::clock::unix_now;

/// The software a node runs: what `/metrics` exposes as
/// `callscreen_build_info`.
pub const SOFTWARE: &str = env!("CARGO_PKG_VERSION");

/// Why a member cannot be forgotten.
#[derive(Debug, thiserror::Error)]
pub enum ForgetError {
    #[error("no member {0:?} in the fleet")]
    Unknown(String),
    #[error(
        "node {0:?} beat {1} s ago: it is not missing (stop it first; a running node joins again at its next beat)"
    )]
    Alive(String, u64),
    #[error("the fleet's NATS is unreachable: {0}")]
    Unavailable(String),
}

/// No beat for this many heartbeats: missing.
const MISSING_AFTER_BEATS: u32 = 3;

impl Fleet {
    /// The sha256 of a seed file (cached by path and modification time: a
    /// seed of millions is hashed once, not at every beat).
    fn seed_sha(&self, path: &std::path::Path) -> Option<String> {
        let mtime = std::fs::metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let key = (path.to_path_buf(), mtime);
        if let Some(s) = lock(&self.seed_shas).get(&key) {
            return Some(s.clone());
        }
        let sha = crate::store::sha256_hex(&std::fs::read(path).ok()?);
        lock(&self.seed_shas).insert(key, sha.clone());
        Some(sha)
    }

    /// What this node serves: every list's version, sha256 and head
    /// sequence number.
    fn serving(&self) -> Vec<BeatList> {
        let rt = self.shared.runtime.load();
        rt.lists
            .lists()
            .iter()
            .map(|l| {
                let sha256 = lock(&self.applied)
                    .get(&l.name)
                    .filter(|a| a.version == l.version)
                    .map(|a| a.sha256.clone())
                    .or_else(|| self.store.sha256_of(&l.name, l.version))
                    .or_else(|| {
                        let spec = rt.settings.lists.iter().find(|s| s.name == l.name)?;
                        self.seed_sha(&spec.file)
                    })
                    .unwrap_or_default();
                BeatList {
                    name: l.name.clone(),
                    version: l.version,
                    sha256,
                    seq: self.seq_of(&l.name),
                }
            })
            .collect()
    }

    /// Every member's last beat, from the members bucket.
    async fn read_members(&self, link: &Link) -> Result<Vec<Beat>, String> {
        let mut keys = link.members.keys().await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        while let Some(k) = keys.next().await {
            let k = k.map_err(|e| e.to_string())?;
            if let Ok(Some(v)) = link.members.get(&k).await
                && let Ok(b) = serde_json::from_slice::<Beat>(&v)
            {
                out.push(b);
            }
        }
        out.sort_by(|a, b| a.node.cmp(&b.node));
        Ok(out)
    }

    /// The members' states: missing when quiet for three beats; lagging
    /// when a list this node configures is served otherwise than its head
    /// says (or, with no head, below the highest version a live member
    /// serves).
    fn judge(&self, beats: Vec<Beat>, now: u64) -> Vec<Member> {
        let heads: HashMap<String, (u64, String)> = lock(&self.heads)
            .iter()
            .map(|(name, (_, h))| (name.clone(), (h.version, h.sha256.clone())))
            .collect();
        let alive = |b: &Beat| self.alive(b, now);
        let mut highest: HashMap<&str, u64> = HashMap::new();
        for b in beats.iter().filter(|b| alive(b)) {
            for l in &b.lists {
                let h = highest.entry(l.name.as_str()).or_insert(0);
                *h = (*h).max(l.version);
            }
        }
        let configured = self.configured();
        let lagging: Vec<Vec<bool>> = beats
            .iter()
            .map(|b| {
                b.lists
                    .iter()
                    .map(|l| match heads.get(&l.name) {
                        Some((v, sha)) => *v != l.version || *sha != l.sha256,
                        None => highest.get(l.name.as_str()).is_some_and(|&h| h > l.version),
                    })
                    .collect()
            })
            .collect();
        beats
            .into_iter()
            .zip(lagging)
            .map(|(beat, lagging)| {
                let behind = beat
                    .lists
                    .iter()
                    .zip(&lagging)
                    .any(|(l, &lag)| lag && configured.contains(&l.name));
                let state = if !alive(&beat) {
                    State::Missing
                } else if behind {
                    State::Lagging
                } else {
                    State::Up
                };
                Member {
                    beat,
                    state,
                    lagging,
                }
            })
            .collect()
    }

    /// Whether a member's beat is recent enough at `now` (unix seconds) for
    /// it not to count as missing.
    fn alive(&self, b: &Beat, now: u64) -> bool {
        let quiet = (self.settings.heartbeat * MISSING_AFTER_BEATS).max(Duration::from_secs(3));
        now.saturating_sub(b.at) <= quiet.as_secs()
    }

    /// Waits, at most `cap`, until every live node that serves `list`
    /// says in its heartbeat (written at once after an apply) that it
    /// serves `version` with `sha256`; whether they all did. Heartbeats
    /// are not sealed: a forged one moves only the moment this returns,
    /// within `cap`.
    pub(super) async fn until_served(
        &self,
        link: &Link,
        list: &str,
        version: u64,
        sha256: &str,
        cap: Duration,
    ) -> bool {
        let all_serve = |beats: &HashMap<String, Beat>| {
            let now = unix_now();
            beats
                .values()
                .filter(|b| self.alive(b, now))
                .flat_map(|b| b.lists.iter().filter(|l| l.name == list))
                .all(|l| l.version == version && l.sha256 == sha256)
        };
        let wait = async {
            let Ok(mut w) = link.nodes.watch_with_history(">").await else {
                return false;
            };
            let mut beats = HashMap::new();
            while let Some(Ok(e)) = w.next().await {
                match serde_json::from_slice::<Beat>(&e.value) {
                    Ok(b) if e.operation == kv::Operation::Put => beats.insert(e.key, b),
                    _ => beats.remove(&e.key),
                };
                if e.seen_current && all_serve(&beats) {
                    return true;
                }
            }
            false
        };
        tokio::time::timeout(cap, wait).await.unwrap_or(false)
    }

    /// The members now (read through NATS), kept for the metrics and for
    /// the view while NATS is down.
    pub async fn refresh_members(&self) -> Result<Members, String> {
        let link = self
            .link
            .load_full()
            .filter(|l| l.connected())
            .ok_or_else(|| self.last_error().unwrap_or_else(|| "not connected".into()))?;
        let beats = tokio::time::timeout(Duration::from_secs(3), self.read_members(&link))
            .await
            .map_err(|_| "NATS did not answer in time".to_string())??;
        let now = unix_now();
        let m = Members {
            at: now,
            members: self.judge(beats, now),
        };
        *lock(&self.members) = m.clone();
        Ok(m)
    }

    /// The members as last read (for `/metrics`: no NATS request there).
    pub fn members_cached(&self) -> Members {
        lock(&self.members).clone()
    }

    /// The fleet's view: NATS, the heads, the values refused, every member.
    pub async fn view(&self) -> Value {
        let configured = self.configured();
        let heads: Vec<Value> = {
            let h = lock(&self.heads);
            let mut v: Vec<_> = h.iter().collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            v.into_iter()
                .map(|(name, (rev, h))| {
                    json!({"list": name, "version": h.version, "sha256": h.sha256, "revision": rev,
                           "seq": h.seq, "client": h.client, "node": h.node, "at": h.at,
                           "rollback_of": h.rollback_of, "configured_here": configured.contains(name)})
                })
                .collect()
        };
        // Values in the heads bucket this node refused, and why.
        let refused: Vec<Value> = {
            let r = lock(&self.refused);
            let mut v: Vec<_> = r.iter().collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            v.into_iter()
                .map(|(name, (rev, why))| json!({"list": name, "revision": rev, "why": why}))
                .collect()
        };
        let (members, nats) = match self.refresh_members().await {
            Ok(m) => (m, json!({"connected": true})),
            Err(e) => {
                let mut m = self.members_cached();
                for x in &mut m.members {
                    x.state = State::Unknown;
                }
                (
                    m,
                    json!({"connected": false, "error": format!("NATS unreachable: {e}")}),
                )
            }
        };
        let now = unix_now();
        let nodes: Vec<Value> = members
            .members
            .iter()
            .map(|m| {
                let lists: Vec<Value> = m
                    .beat
                    .lists
                    .iter()
                    .zip(&m.lagging)
                    .map(|(l, lag)| {
                        json!({"name": l.name, "version": l.version, "sha256": l.sha256,
                               "seq": l.seq, "lagging": lag})
                    })
                    .collect();
                json!({
                    "node": m.beat.node,
                    "state": m.state.name(),
                    "software": m.beat.software,
                    "last_seen": m.beat.at,
                    "age_secs": now.saturating_sub(m.beat.at),
                    "last_error": m.beat.last_error,
                    "lists": lists,
                })
            })
            .collect();
        let connected = nats["connected"] == json!(true);
        json!({
            "node": self.settings.node,
            "software": SOFTWARE,
            "connected": connected,
            "nats": nats,
            "last_error": self.last_error().or_else(|| (!connected).then(|| "NATS unreachable".to_string())),
            "members_as_of": members.at,
            "heads": heads,
            "refused": refused,
            "nodes": nodes,
        })
    }

    /// Forgets a missing member (it no longer shows as missing). A member
    /// that beats is not forgotten.
    pub async fn forget(&self, node: &str) -> Result<(), ForgetError> {
        let m = self
            .refresh_members()
            .await
            .map_err(ForgetError::Unavailable)?;
        let Some(member) = m.members.iter().find(|x| x.beat.node == node) else {
            return Err(ForgetError::Unknown(node.to_string()));
        };
        if member.state != State::Missing {
            return Err(ForgetError::Alive(
                node.to_string(),
                m.at.saturating_sub(member.beat.at),
            ));
        }
        let link = self
            .link
            .load_full()
            .ok_or_else(|| ForgetError::Unavailable("not connected".into()))?;
        link.members
            .purge(node)
            .await
            .map_err(|e| ForgetError::Unavailable(e.to_string()))?;
        let _ = link.nodes.purge(node).await;
        let _ = self.refresh_members().await;
        tracing::info!(target: "audit", node, "fleet: missing node forgotten");
        Ok(())
    }

    async fn beat_once(&self) {
        if let Some(link) = self.link.load_full().filter(|l| l.connected()) {
            self.beat_on(&link).await;
        }
    }

    /// Writes this node's heartbeat through `link`, to the nodes bucket and
    /// the members bucket.
    pub(super) async fn beat_on(&self, link: &Link) {
        let b = Beat {
            node: self.settings.node.clone(),
            at: unix_now(),
            lists: self.serving(),
            last_error: self.last_error(),
            software: SOFTWARE.to_string(),
        };
        let Ok(v) = serde_json::to_vec(&b) else {
            return;
        };
        if let Err(e) = link.nodes.put(&self.settings.node, v.clone().into()).await {
            tracing::debug!("fleet: heartbeat not written: {e}");
        }
        if let Err(e) = link.members.put(&self.settings.node, v.into()).await {
            tracing::debug!("fleet: membership not written: {e}");
        }
    }
}

/// Beats for as long as the daemon runs: every `heartbeat_secs`, and at
/// once after an apply (so the view's versions are the applied ones, not
/// a beat old). The members are read again every beat, at most every 5 s.
pub async fn beat(fleet: Arc<Fleet>) {
    let mut t = tokio::time::interval(fleet.settings.heartbeat);
    let mut applied = fleet.applied_tx.subscribe();
    let mut last_read = 0u64;
    loop {
        tokio::select! {
            _ = t.tick() => {}
            r = applied.changed() => {
                if r.is_err() {
                    return;
                }
            }
        }
        fleet.beat_once().await;
        let now = unix_now();
        if now.saturating_sub(last_read) >= 5 || now < last_read {
            last_read = now;
            let _ = fleet.refresh_members().await;
        }
    }
}
