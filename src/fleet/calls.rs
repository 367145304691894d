//! Recorded calls found over the fleet (`GET /v1/calls?fleet=1`): the
//! asking node sends the search (its times made absolute) on NATS; every
//! node (itself included) runs it over its own records directory and
//! answers with up to `offset + limit` calls, in parts small enough for
//! NATS; the asking node waits for every node that beat recently (2 s at
//! most), merges by time and names the nodes that did not answer.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::link::Link;
use super::node::Fleet;
use crate::records::Record;
use crate::records::query::{Search, run};

/// Calls per answer part (a record is about 600 bytes as JSON: well under
/// NATS' default 1 MB payload).
const PART: usize = 500;
/// How long the asking node waits for the others.
const WAIT: Duration = Duration::from_secs(2);

#[derive(Serialize, Deserialize)]
struct Ask {
    key: Option<(String, String)>,
    peer: Option<String>,
    since_ms: u64,
    until_ms: u64,
    /// The first `limit` matches, in time order.
    limit: usize,
}

#[derive(Serialize, Deserialize)]
struct Part {
    node: String,
    part: usize,
    parts: usize,
    /// More calls match on that node than it sent.
    more: bool,
    /// Why that node has nothing to say (records off, a failed search).
    error: Option<String>,
    calls: Vec<Record>,
}

/// The fleet's answer to a search.
pub struct FleetCalls {
    /// The calls with the node each was recorded on, in time order, after
    /// `offset`, at most `limit`.
    pub calls: Vec<(String, Record)>,
    pub more: bool,
    /// The nodes that answered, with what went wrong there, if anything.
    pub answered: Vec<(String, Option<String>)>,
    /// Nodes that beat recently but did not answer in time.
    pub missing: Vec<String>,
}

const KEYS: [&str; 4] = ["ref", "call_id", "caller", "callee"];

impl Fleet {
    pub(super) fn calls_subject(&self) -> String {
        format!("callscreen.calls.{}", self.settings.heads_bucket)
    }

    /// This node's answer to `ask`.
    fn own_calls(&self, ask: &Ask) -> (Vec<Record>, bool, Option<String>) {
        let Some(rs) = self.shared.runtime.load().settings.records.clone() else {
            return (
                Vec::new(),
                false,
                Some("call records are off ([records])".into()),
            );
        };
        let key = ask.key.as_ref().and_then(|(k, v)| {
            KEYS.iter()
                .find(|x| **x == k.as_str())
                .map(|k| (*k, v.clone()))
        });
        let s = Search {
            key,
            peer: ask.peer.clone(),
            since_ms: ask.since_ms,
            until_ms: ask.until_ms,
            limit: ask.limit,
            offset: 0,
            csv: false,
            fleet: false,
        };
        match run(&rs.dir, &s) {
            Ok(f) => (f.records, f.more, None),
            Err(e) => (Vec::new(), false, Some(e)),
        }
    }

    /// Runs `s` on every node and merges the answers.
    pub async fn calls(self: &Arc<Self>, s: &Search) -> Result<FleetCalls, String> {
        let want = s.offset.saturating_add(s.limit);
        let ask = serde_json::to_vec(&Ask {
            key: s.key.as_ref().map(|(k, v)| (k.to_string(), v.clone())),
            peer: s.peer.clone(),
            since_ms: s.since_ms,
            until_ms: s.until_ms,
            limit: want,
        })
        .map_err(|e| e.to_string())?;
        let (expected, mut sub) = self
            .ask_all(
                self.calls_subject(),
                ask,
                "ask without fleet=1 for this node's calls",
            )
            .await?;
        type Got = HashMap<String, (BTreeSet<usize>, usize, Option<String>)>;
        let mut got: Got = HashMap::new();
        let mut calls: Vec<(String, Record)> = Vec::new();
        let mut more = false;
        let whole = |got: &Got, n: &str| got.get(n).is_some_and(|(p, parts, _)| p.len() == *parts);
        let deadline = tokio::time::Instant::now() + WAIT;
        while !expected.iter().all(|n| whole(&got, n)) {
            let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await else {
                break;
            };
            let Ok(p) = serde_json::from_slice::<Part>(&m.payload) else {
                continue;
            };
            let e = got
                .entry(p.node.clone())
                .or_insert_with(|| (BTreeSet::new(), p.parts, p.error.clone()));
            // A part seen twice (a node answering on two connections) counts once.
            if !e.0.insert(p.part) {
                continue;
            }
            more |= p.more;
            calls.extend(p.calls.into_iter().map(|r| (p.node.clone(), r)));
        }
        let _ = sub.unsubscribe().await;
        calls.sort_by(|a, b| {
            (a.1.time_ms, &a.0, &a.1.call_id).cmp(&(b.1.time_ms, &b.0, &b.1.call_id))
        });
        more |= calls.len() > want;
        let calls = calls.into_iter().skip(s.offset).take(s.limit).collect();
        let mut answered: Vec<(String, Option<String>)> = got
            .iter()
            .filter(|(n, _)| whole(&got, n))
            .map(|(n, (_, _, e))| (n.clone(), e.clone()))
            .collect();
        answered.sort();
        let missing = expected.into_iter().filter(|n| !whole(&got, n)).collect();
        Ok(FleetCalls {
            calls,
            more,
            answered,
            missing,
        })
    }
}

/// Answers the fleet's searches on `link` until the fleet moves to another
/// connection.
pub async fn serve(fleet: Arc<Fleet>, link: Arc<Link>, sub: async_nats::Subscriber) {
    let f = Arc::clone(&fleet);
    super::hits::answer_each(&fleet, &link, sub, "calls", move |ask: Ask| {
        let f = Arc::clone(&f);
        async move {
            // Reading segments: off the async workers.
            let own = crate::loader::background({
                let f = Arc::clone(&f);
                move || f.own_calls(&ask)
            })
            .await;
            let Ok((records, more, error)) = own else {
                return Vec::new();
            };
            let chunks: Vec<_> = records.chunks(PART).collect();
            let parts = chunks.len().max(1);
            (0..parts)
                .filter_map(|part| {
                    serde_json::to_vec(&Part {
                        node: f.settings.node.clone(),
                        part,
                        parts,
                        more,
                        error: error.clone(),
                        calls: chunks.get(part).map(|c| c.to_vec()).unwrap_or_default(),
                    })
                    .ok()
                })
                .collect()
        }
    })
    .await;
}
