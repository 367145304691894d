//! The heartbeat (this node's name, the version and sha256 of every list it
//! serves, its last apply error, the time), written to the nodes bucket
//! every `heartbeat_secs` (entries expire after six beats), and the fleet
//! as `GET /v1/fleet` shows it: every node, and which lists lag behind the
//! heads.

use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::link::Link;
use super::node::{Fleet, lock};
use crate::clock::unix_now;

#[derive(Serialize, Deserialize)]
struct Beat {
    node: String,
    at: u64,
    lists: Vec<BeatList>,
    #[serde(default)]
    last_error: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct BeatList {
    name: String,
    version: u64,
    sha256: String,
}

impl Fleet {
    /// What this node serves: every list's version and sha256.
    fn serving(&self) -> Vec<BeatList> {
        let rt = self.shared.runtime.load();
        rt.lists
            .lists()
            .iter()
            .map(|l| BeatList {
                name: l.name.clone(),
                version: l.version,
                sha256: lock(&self.applied)
                    .get(&l.name)
                    .filter(|a| a.version == l.version)
                    .map(|a| a.sha256.clone())
                    .or_else(|| self.store.sha256_of(&l.name, l.version))
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// The fleet's view: heads, and every node that beat recently.
    pub async fn view(&self) -> Value {
        let configured = self.configured();
        let heads: Vec<Value> = {
            let h = lock(&self.heads);
            let mut v: Vec<_> = h.iter().collect();
            v.sort_by(|a, b| a.0.cmp(b.0));
            v.into_iter()
                .map(|(name, (rev, h))| {
                    json!({"list": name, "version": h.version, "sha256": h.sha256, "revision": rev,
                           "client": h.client, "node": h.node, "at": h.at, "rollback_of": h.rollback_of,
                           "configured_here": configured.contains(name)})
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
        let head_sha = |list: &str| {
            lock(&self.heads)
                .get(list)
                .map(|(_, h)| (h.version, h.sha256.clone()))
        };
        let mut nodes = Vec::new();
        let link = self.link.load_full().filter(|l| l.connected());
        if let Some(link) = link
            && let Ok(mut keys) = link.nodes.keys().await
        {
            while let Some(Ok(k)) = keys.next().await {
                let Ok(Some(v)) = link.nodes.get(&k).await else {
                    continue;
                };
                let Ok(b) = serde_json::from_slice::<Beat>(&v) else {
                    continue;
                };
                let lists: Vec<Value> = b
                    .lists
                    .iter()
                    .map(|l| {
                        let lagging = head_sha(&l.name).is_some_and(|(_, s)| s != l.sha256);
                        json!({"name": l.name, "version": l.version, "sha256": l.sha256, "lagging": lagging})
                    })
                    .collect();
                nodes.push(json!({
                    "node": b.node,
                    "age_secs": unix_now().saturating_sub(b.at),
                    "last_error": b.last_error,
                    "lists": lists,
                }));
            }
        }
        json!({
            "node": self.settings.node,
            "connected": self.connected(),
            "last_error": self.last_error(),
            "heads": heads,
            "refused": refused,
            "nodes": nodes,
        })
    }

    async fn beat_once(&self) {
        if let Some(link) = self.link.load_full().filter(|l| l.connected()) {
            self.beat_on(&link).await;
        }
    }

    /// Writes this node's heartbeat through `link`.
    pub(super) async fn beat_on(&self, link: &Link) {
        let b = Beat {
            node: self.settings.node.clone(),
            at: unix_now(),
            lists: self.serving(),
            last_error: self.last_error(),
        };
        if let Ok(v) = serde_json::to_vec(&b)
            && let Err(e) = link.nodes.put(&self.settings.node, v.into()).await
        {
            tracing::debug!("fleet: heartbeat not written: {e}");
        }
    }
}

/// Beats for as long as the daemon runs.
pub async fn beat(fleet: Arc<Fleet>) {
    let mut t = tokio::time::interval(fleet.settings.heartbeat);
    loop {
        t.tick().await;
        fleet.beat_once().await;
    }
}
