//! Hits per list entry summed over the fleet (`GET /v1/lists/{name}/hits?
//! fleet=1`): the asking node sends one request on NATS; every node (itself
//! included) answers with its own counts for that list, in parts small
//! enough for NATS; the asking node waits for every node that beat recently
//! (2 s at most) and sums per entry: hits by verdict added, the first hit
//! the earliest, the last the latest. Nodes that did not answer are named.
//! Asked live, so nothing is stored and nothing goes stale.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::link::Link;
use super::node::Fleet;
use crate::state::hits::Count;

/// Entries per answer part (about 80 bytes each as JSON: well under NATS'
/// default 1 MB payload).
const PART: usize = 5000;
/// How long the asking node waits for the others.
const WAIT: Duration = Duration::from_secs(2);

#[derive(Serialize, Deserialize)]
struct Ask {
    list: String,
    since: u64,
}

/// One entry's counts as sent: (entry, first, last, by verdict).
type Sent = (String, u32, u32, [u32; 5]);

#[derive(Serialize, Deserialize)]
struct Part {
    node: String,
    part: usize,
    parts: usize,
    /// The list's version on that node (`None`: not loaded there).
    version: Option<u64>,
    entries: Vec<Sent>,
}

/// The fleet's sum for one list.
pub struct FleetHits {
    /// Entry (as the list writes it) and its summed counts.
    pub entries: Vec<(String, Count)>,
    /// The nodes that answered, with the list's version on each.
    pub answered: Vec<(String, Option<u64>)>,
    /// Nodes that beat recently but did not answer in time.
    pub missing: Vec<String>,
}

impl Fleet {
    fn hits_subject(&self) -> String {
        format!("callscreen.hits.{}", self.settings.heads_bucket)
    }

    /// This node's counts for `list`, entries last hit at or after `since`.
    fn own_hits(&self, list: &str, since: u64) -> (Option<u64>, Vec<Sent>) {
        let Some(l) = self.shared.runtime.load().lists.get(list).cloned() else {
            return (None, Vec::new());
        };
        let hits = &self.shared.hits;
        let entries = l
            .entries()
            .filter_map(|(t, _)| hits.get(&l.name, &t).map(|c| (t, c)))
            .filter(|(_, c)| u64::from(c.last) >= since)
            .map(|(t, c)| (t.to_string(), c.first, c.last, c.by_verdict))
            .collect();
        (Some(l.version), entries)
    }

    /// Sends `ask` to every node on `subject`: the nodes expected to answer
    /// (those that beat recently, and this one), and where the answers come.
    /// `otherwise`: what to do while NATS is unreachable.
    pub(super) async fn ask_all(
        &self,
        subject: String,
        ask: Vec<u8>,
        otherwise: &str,
    ) -> Result<(BTreeSet<String>, async_nats::Subscriber), String> {
        let link = self
            .link
            .load_full()
            .filter(|l| l.connected())
            .ok_or_else(|| format!("the fleet's NATS is unreachable; {otherwise}"))?;
        let mut expected = BTreeSet::new();
        if let Ok(mut keys) = link.nodes.keys().await {
            while let Some(Ok(k)) = keys.next().await {
                expected.insert(k);
            }
        }
        expected.insert(self.settings.node.clone());
        let inbox = link.client.new_inbox();
        let sub = link
            .client
            .subscribe(inbox.clone())
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        link.client
            .publish_with_reply(subject, inbox, ask.into())
            .await
            .map_err(|e| format!("NATS: {e}"))?;
        Ok((expected, sub))
    }

    /// Sums every node's hits for `list`.
    pub async fn hits(self: &Arc<Self>, list: &str, since: u64) -> Result<FleetHits, String> {
        let ask = serde_json::to_vec(&Ask {
            list: list.to_string(),
            since,
        })
        .map_err(|e| e.to_string())?;
        let (expected, mut sub) = self
            .ask_all(
                self.hits_subject(),
                ask,
                "ask without fleet=1 for this node's counts",
            )
            .await?;
        // Per node: the parts received, how many it sends, the list's version there.
        let mut got: HashMap<String, (BTreeSet<usize>, usize, Option<u64>)> = HashMap::new();
        let mut sums: HashMap<String, Count> = HashMap::new();
        let whole = |got: &HashMap<String, (BTreeSet<usize>, usize, Option<u64>)>, n: &str| {
            got.get(n).is_some_and(|(p, parts, _)| p.len() == *parts)
        };
        let complete = |got: &HashMap<String, (BTreeSet<usize>, usize, Option<u64>)>| {
            expected.iter().all(|n| whole(got, n))
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        while !complete(&got) {
            let Ok(Some(m)) = tokio::time::timeout_at(deadline, sub.next()).await else {
                break;
            };
            let Ok(p) = serde_json::from_slice::<Part>(&m.payload) else {
                continue;
            };
            let e = got
                .entry(p.node.clone())
                .or_insert_with(|| (BTreeSet::new(), p.parts, p.version));
            // A part seen twice (a node answering on two connections) counts once.
            if !e.0.insert(p.part) {
                continue;
            }
            for (entry, first, last, by) in p.entries {
                let s = sums.entry(entry).or_default();
                s.first = if s.first == 0 {
                    first
                } else {
                    s.first.min(first)
                };
                s.last = s.last.max(last);
                for (a, b) in s.by_verdict.iter_mut().zip(by) {
                    *a = a.saturating_add(b);
                }
            }
        }
        let _ = sub.unsubscribe().await;
        let mut answered: Vec<(String, Option<u64>)> =
            got.iter().map(|(n, (_, _, v))| (n.clone(), *v)).collect();
        answered.sort();
        let missing = expected.into_iter().filter(|n| !whole(&got, n)).collect();
        Ok(FleetHits {
            entries: sums.into_iter().collect(),
            answered,
            missing,
        })
    }
}

/// Subscribes to the fleet's hit requests on `link`, the server told
/// (flushed), so that a node that says it is connected also answers.
pub async fn subscribe(fleet: &Fleet, link: &Link) -> Option<async_nats::Subscriber> {
    subscribe_to(link, fleet.hits_subject()).await
}

/// Subscribes to `subject` on `link`, the server told (flushed).
pub async fn subscribe_to(link: &Link, subject: String) -> Option<async_nats::Subscriber> {
    let sub = link.client.subscribe(subject).await;
    let flushed = link.client.flush().await;
    match (sub, flushed) {
        (Ok(s), Ok(())) => Some(s),
        (Err(e), _) => {
            tracing::warn!("fleet: requests not answered: {e}");
            None
        }
        (_, Err(e)) => {
            tracing::warn!("fleet: requests not answered: {e}");
            None
        }
    }
}

/// Answers the fleet's hit requests on `link` until the fleet moves to
/// another connection.
pub async fn serve(fleet: Arc<Fleet>, link: Arc<Link>, sub: async_nats::Subscriber) {
    let f = Arc::clone(&fleet);
    answer_each(&fleet, &link, sub, "hits", move |ask: Ask| {
        let f = Arc::clone(&f);
        async move {
            // Walking a large list's entries: off the async workers.
            let own = crate::loader::background({
                let f = Arc::clone(&f);
                move || f.own_hits(&ask.list, ask.since)
            })
            .await;
            let Ok((version, entries)) = own else {
                return Vec::new();
            };
            let chunks: Vec<_> = entries.chunks(PART).collect();
            let parts = chunks.len().max(1);
            (0..parts)
                .filter_map(|part| {
                    serde_json::to_vec(&Part {
                        node: f.settings.node.clone(),
                        part,
                        parts,
                        version,
                        entries: chunks.get(part).map(|c| c.to_vec()).unwrap_or_default(),
                    })
                    .ok()
                })
                .collect()
        }
    })
    .await;
}

/// Answers the requests on `sub` (JSON, read as `A`) with the messages
/// `answer` makes of each, until the fleet moves to another connection.
pub async fn answer_each<A, F, Fut>(
    fleet: &Arc<Fleet>,
    link: &Arc<Link>,
    mut sub: async_nats::Subscriber,
    what: &str,
    mut answer: F,
) where
    A: serde::de::DeserializeOwned,
    F: FnMut(A) -> Fut,
    Fut: std::future::Future<Output = Vec<Vec<u8>>>,
{
    let mut check = tokio::time::interval(Duration::from_secs(5));
    loop {
        let m = tokio::select! {
            m = sub.next() => m,
            _ = check.tick() => {
                let current = fleet.link.load_full();
                if !current.is_some_and(|c| Arc::ptr_eq(&c, link)) {
                    return;
                }
                continue;
            }
        };
        let Some(m) = m else {
            return;
        };
        let (Some(reply), Ok(ask)) = (m.reply, serde_json::from_slice::<A>(&m.payload)) else {
            continue;
        };
        for body in answer(ask).await {
            if let Err(e) = link.client.publish(reply.clone(), body.into()).await {
                tracing::debug!("fleet: {what} not sent: {e}");
            }
        }
    }
}
