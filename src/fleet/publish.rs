//! A push made a head. The body goes into the object store first; then the
//! list's head is written with compare-and-set on its revision. A whole
//! number list pushed unsigned travels with its snapshot, which the other
//! nodes put in force (the sealed head names its sha256) before they fetch
//! the body: its head goes out once the snapshot is stored, the body is
//! uploaded once every live node's heartbeat says it serves the version
//! (bounded by [`FLEET_FIRST`]: the upload would take the cores the other
//! nodes' swaps need), and the push is answered once both are stored (a
//! body that did not get there is uploaded by the same push sent again).
//! When the compare-and-set fails (another node's push won the race) the head is
//! read again and the push decided again with one node's rules, so two
//! pushes racing through two nodes end as they would on one: a version not
//! above the head `409`, the same version with the same content `200`
//! unchanged. Only once JetStream has stored the head is the push
//! answered.

use std::sync::Arc;

use async_nats::jetstream::kv;
use futures_util::StreamExt;

use super::head::{Chain, Head, PatchRef};
use super::link::Link;
use super::node::{Body, Fleet, Pending, lock};
use crate::clock::unix_now;
use crate::ledger::Text;
use crate::ledger::{Accepted, Refusal, Served};
use crate::lists::List;
use crate::store::{Entry, Event, History};

/// A push that one node's checks accepted.
pub struct Publish {
    pub list: List,
    pub body: Body,
    pub sha256: String,
    pub content_type: String,
    pub signature: Option<String>,
    pub client: String,
    /// A patch: the delta as sent, its base version, its signature.
    pub patch: Option<(Vec<u8>, u64, Option<String>)>,
    /// A number list's snapshot (a whole version, not a patch).
    pub snapshot: Option<Vec<u8>>,
}

#[derive(Debug)]
pub enum Published {
    /// The new head's revision; whether this node applied it in time.
    Accepted {
        revision: u64,
        applied_here: bool,
    },
    Unchanged,
}

#[derive(Debug)]
pub enum PublishError {
    /// NATS is unreachable, or did not answer: `503`.
    Unavailable(String),
    /// Refused by the ledger's rules against the fleet's head: not above
    /// it, a patch not on it, a rolled-back number, nothing to roll back to.
    Refused(Refusal),
    /// A rollback with no trusted head to roll back from: `409`.
    NoHead(String),
    /// The head is out and the version in force from its snapshot, but
    /// its body did not reach the object store: `503`.
    BodyNotStored(String),
}

impl std::fmt::Display for PublishError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublishError::Unavailable(e) => write!(
                f,
                "the fleet's NATS is unreachable ({e}): the push was not applied anywhere (a push accepted here alone would split the fleet); the lists in force stay; push again once NATS is back"
            ),
            PublishError::Refused(r) => write!(f, "the fleet's head: {r}"),
            PublishError::NoHead(e) => f.write_str(e),
            PublishError::BodyNotStored(e) => write!(
                f,
                "the version is published and put in force from its snapshot, but its text did not reach the fleet's object store ({e}): push the same version again to store it"
            ),
        }
    }
}

fn unavailable(e: impl std::fmt::Display) -> PublishError {
    PublishError::Unavailable(e.to_string())
}

/// How long a single request to NATS may take before a push is answered
/// 503 (NATS dying during a push).
pub(super) const NATS_WAIT: std::time::Duration = std::time::Duration::from_secs(4);

/// How long the connection to NATS may be down during a push before the
/// push is answered `503`.
const LOST_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

/// How old the newest chunk of an upload without its object must be
/// before the chunks are removed (an upload under way takes seconds).
const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(30);

/// How often a node looks for chunks of unfinished uploads.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Deltas after which a patch stores its whole version again (the next
/// chains' anchor).
const MAX_STEPS: usize = 16;

/// How long a push of a whole number list waits, its head out, for every
/// live node to serve it from its snapshot before the body's upload starts
/// (the upload would take the cores the other nodes' swaps need).
const FLEET_FIRST: std::time::Duration = std::time::Duration::from_secs(2);

/// How long a push waits for this node to apply its own head.
const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

impl Fleet {
    fn link_up(&self) -> Result<Arc<Link>, PublishError> {
        match self.link.load_full() {
            Some(l) if l.connected() => Ok(l),
            _ => Err(unavailable(
                self.last_error()
                    .unwrap_or_else(|| "not connected".to_string()),
            )),
        }
    }

    /// The list's entry in the heads bucket: its revision (to write over
    /// it) and the head, when it is a sealed head this node trusts. A value
    /// that is not (malformed, unsealed, forged) counts as no head: a push
    /// replaces it, on its revision, after its own checks.
    async fn head_entry(
        &self,
        link: &Link,
        list: &str,
    ) -> Result<Option<(u64, Option<Head>)>, PublishError> {
        let e = tokio::time::timeout(NATS_WAIT, link.heads.entry(list))
            .await
            .map_err(|_| unavailable("NATS did not answer in time"))?
            .map_err(unavailable)?;
        Ok(e.filter(|e| e.operation == kv::Operation::Put).map(|e| {
            let head = match Head::open(list, &e.value, &self.settings.trusted) {
                Ok(h) => Some(h),
                Err(why) => {
                    tracing::warn!(
                        list,
                        revision = e.revision,
                        "fleet: the head in the bucket is refused ({why}): a push replaces it"
                    );
                    None
                }
            };
            (e.revision, head)
        }))
    }

    pub(super) async fn put_object(
        link: &Link,
        name: &str,
        body: &Body,
    ) -> Result<(), PublishError> {
        if link.has_object(name).await {
            return Ok(());
        }
        match body {
            Body::Temp(p) => {
                let mut f = tokio::fs::File::open(p).await.map_err(unavailable)?;
                link.put_object(name, &mut f).await.map_err(unavailable)?;
            }
            Body::Bytes(b) => {
                let mut r: &[u8] = b;
                link.put_object(name, &mut r).await.map_err(unavailable)?;
            }
            Body::Kept | Body::Delta { .. } | Body::Snapshot { .. } => {
                return Err(unavailable("no body to publish"));
            }
        }
        Ok(())
    }

    /// Runs a step of a push unless the connection to NATS is lost for
    /// [`LOST_AFTER`] meanwhile (a server killed during the push): then
    /// `503` at once, rather than after every request's own timeout.
    async fn unless_lost<T>(
        link: &Link,
        step: impl std::future::Future<Output = Result<T, PublishError>>,
    ) -> Result<T, PublishError> {
        let lost = async {
            let mut down_since: Option<tokio::time::Instant> = None;
            loop {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                match (link.connected(), down_since) {
                    (true, _) => down_since = None,
                    (false, None) => down_since = Some(tokio::time::Instant::now()),
                    (false, Some(t)) if t.elapsed() >= LOST_AFTER => return,
                    (false, Some(_)) => {}
                }
            }
        };
        tokio::select! {
            r = step => r,
            () = lost => Err(unavailable("the connection to NATS was lost during the push")),
        }
    }

    /// Writes `head` over the revision seen (or as the first head), retrying
    /// the decision when another node's head came first.
    pub(super) async fn cas(
        &self,
        link: &Link,
        list: &str,
        seen: Option<u64>,
        head: &Head,
    ) -> Result<Option<u64>, PublishError> {
        let sealed = head.clone().sealed(&self.settings.key);
        let value = serde_json::to_vec(&sealed).map_err(unavailable)?;
        let r = match seen {
            Some(rev) => link
                .heads
                .update(list, value.into(), rev)
                .await
                .map_err(|e| {
                    (
                        e.kind() == kv::UpdateErrorKind::WrongLastRevision,
                        e.to_string(),
                    )
                }),
            None => link.heads.create(list, value.into()).await.map_err(|e| {
                (
                    e.kind() == kv::CreateErrorKind::AlreadyExists,
                    e.to_string(),
                )
            }),
        };
        match r {
            Ok(rev) => Ok(Some(rev)),
            Err((true, _)) => Ok(None),
            Err((false, e)) => Err(unavailable(e)),
        }
    }

    /// Publishes a push (PUT or PATCH) that passed this node's checks.
    pub async fn publish(&self, p: Publish) -> Result<Published, PublishError> {
        let discard = |b: &Body| {
            if let Body::Temp(t) = b {
                self.store.discard(t);
            }
        };
        let link = match self.link_up() {
            Ok(l) => l,
            Err(e) => {
                discard(&p.body);
                return Err(e);
            }
        };
        let name = p.list.name.clone();
        let version = p.list.version;
        let object = Head::object_name(&name, version, &p.sha256);
        // A patch is stored as a patch: its delta, and a head naming the
        // last whole version and the deltas since (its whole version only
        // when the chain grows long).
        // Shared with the thread that hashes it while it is uploaded.
        let own_snapshot = p.snapshot.map(Arc::new);
        let snapshot = own_snapshot
            .as_ref()
            .filter(|_| p.patch.is_none())
            .map(|s| (Head::snapshot_name(&name, version, &p.sha256), s));
        // The body's upload after the head (see the module's comment): its
        // file opened now, as this node's own apply may move it.
        let body_after = p.patch.is_none()
            && snapshot.is_some()
            && p.signature.is_none()
            && matches!(p.body, Body::Temp(_));
        let mut body_file = None;
        if body_after && let Body::Temp(t) = &p.body {
            match tokio::fs::File::open(t).await {
                Ok(f) => body_file = Some(f),
                Err(e) => {
                    discard(&p.body);
                    return Err(unavailable(e));
                }
            }
        }
        let up = async {
            let sum = if p.patch.is_none() {
                let body = async {
                    match body_after {
                        true => Ok(()),
                        false => Self::put_object(&link, &object, &p.body).await,
                    }
                };
                let snap = async {
                    match &snapshot {
                        Some((n, s)) => {
                            // Its sha256 for the head, computed while it
                            // is uploaded (not one after the other).
                            let bytes = Arc::clone(s);
                            let sum =
                                crate::loader::background(move || crate::store::sha256_hex(&bytes));
                            let mut r: &[u8] = s.as_slice();
                            if !link.has_object(n).await {
                                link.put_object(n, &mut r).await.map_err(unavailable)?;
                            }
                            sum.await.map(Some).map_err(unavailable)
                        }
                        None => Ok(None),
                    }
                };
                tokio::try_join!(body, snap)?.1
            } else {
                None
            };
            if let Some((delta, _, _)) = &p.patch {
                let pn = Head::patch_name(&name, version, &p.sha256);
                Self::put_object(&link, &pn, &Body::Bytes(delta.clone())).await?;
            }
            Ok::<Option<String>, PublishError>(sum)
        };
        let snapshot_sha256 = match Self::unless_lost(&link, up).await {
            Ok(s) => s,
            Err(e) => {
                discard(&p.body);
                return Err(e);
            }
        };
        let mut head = Head {
            list: name.clone(),
            version,
            seq: 0,
            sha256: p.sha256.clone(),
            object: object.clone(),
            content_type: p.content_type.clone(),
            signature: p.signature.clone(),
            client: p.client.clone(),
            node: self.settings.node.clone(),
            at: unix_now(),
            rollback_of: None,
            patch: p.patch.as_ref().map(|(delta, base, sig)| PatchRef {
                object: Head::patch_name(&name, version, &p.sha256),
                base_version: *base,
                signature: sig.clone(),
                base_object: None,
                base_sha256: None,
                sha256: Some(crate::store::sha256_hex(delta)),
                size: delta.len() as u64,
            }),
            snapshot_sha256,
            snapshot: snapshot.map(|s| s.0),
            chain: None,
            seal: None,
        };
        // A patch's whole text, made and stored only when the chain is to
        // start anew (this node stores the patch as its delta, the text
        // after).
        let whole_text: Option<Text> = match (&p.body, &p.patch) {
            (Body::Delta { text, .. }, Some(_)) => Some(text.clone()),
            _ => None,
        };
        let mut whole_stored = false;
        let base = p.patch.as_ref().map(|(_, b, _)| *b);
        // This node applies its own push from what it has (no fetch).
        let body = p.body;
        lock(&self.pending).insert(
            p.sha256.clone(),
            Pending {
                list: p.list,
                body,
                // Its hashing thread is done: the one owner left.
                snapshot: own_snapshot.map(|s| Arc::try_unwrap(s).unwrap_or_else(|s| s.to_vec())),
            },
        );
        // This node's history: a number the fleet rolled back comes back
        // only with the content it had (each node records the rollbacks it
        // applies).
        let history = self.ledger().history(&name);
        let decide = async {
            loop {
                let entry = match self.head_entry(&link, &name).await {
                    Ok(s) => s,
                    Err(e) => break Err(e),
                };
                let revision = entry.as_ref().map(|e| e.0);
                let seen = entry.and_then(|(r, h)| Some((r, h?)));
                if let (Some(b), Some((_, h))) = (base, &seen)
                    && let Err(r) = crate::ledger::check_base(b, h.version)
                {
                    break Err(PublishError::Refused(r));
                }
                if let Some(text) = &whole_text {
                    // On the base's chain, or (no base to build on, or the
                    // chain long) stored whole as the next chains' anchor.
                    let chain = match seen.as_ref().and_then(|(_, h)| h.as_base()) {
                        Some(c) if !self.chain_too_long(&link, &c, &head).await => Some(c),
                        _ => None,
                    };
                    match chain {
                        Some(c) => {
                            head.chain = Some(c);
                            head.object = String::new();
                        }
                        None => {
                            head.chain = None;
                            head.object = object.clone();
                            if !whole_stored && !link.has_object(&object).await {
                                let t = text.clone();
                                let made = crate::loader::background(move || t.bytes()).await;
                                let stored = match made {
                                    Ok(b) => link.put_object(&object, &mut b.as_slice()).await,
                                    Err(e) => Err(e.to_string()),
                                };
                                if let Err(e) = stored {
                                    break Err(unavailable(e));
                                }
                            }
                            whole_stored = true;
                        }
                    }
                }
                // No head in the bucket (a new or wiped JetStream, or a value
                // refused): decided against what this node serves, so that the
                // fleet's history never goes down.
                let own = match &seen {
                    Some(_) => None,
                    None => self.served_head(&name),
                };
                let against = seen.as_ref().map(|s| &s.1).or(own.as_ref());
                let served = against.map(|h| Served {
                    version: h.version,
                    sha256: Some(h.sha256.as_str()).filter(|s| !s.is_empty()),
                });
                match crate::ledger::decide(served, &history, version, &p.sha256) {
                    Ok(Accepted::New) => {}
                    Ok(Accepted::Unchanged) => break Ok(Published::Unchanged),
                    Err(r) => break Err(PublishError::Refused(r)),
                }
                // One above the head replaced and above any applied here.
                head.seq = seen.as_ref().map_or(0, |s| s.1.seq).max(self.seq_of(&name)) + 1;
                match self.cas(&link, &name, revision, &head).await {
                    Ok(Some(rev)) => {
                        break Ok(Published::Accepted {
                            revision: rev,
                            applied_here: false,
                        });
                    }
                    Ok(None) => continue,
                    Err(e) => break Err(e),
                }
            }
        };
        let outcome = Self::unless_lost(&link, decide).await;
        // Published (or there already): its body stored once the fleet
        // serves the version (bounded), then answered.
        if let (Ok(o), Some(mut f)) = (&outcome, body_file.take()) {
            if let Published::Accepted { .. } = o
                && !self
                    .until_served(&link, &name, version, &p.sha256, FLEET_FIRST)
                    .await
            {
                tracing::debug!(list = %name, version, "fleet: not every live node said within {FLEET_FIRST:?} that it serves the version: its body is uploaded now");
            }
            let stored = Self::unless_lost(&link, async {
                match link.has_object(&object).await {
                    true => Ok(()),
                    false => link.put_object(&object, &mut f).await.map_err(unavailable),
                }
            })
            .await;
            if let Err(e) = stored {
                tracing::error!(list = %name, version, "fleet: the version's head is out, but its body did not reach the object store: {e}");
                return Err(PublishError::BodyNotStored(e.to_string()));
            }
        }
        match outcome {
            Ok(Published::Accepted { revision, .. }) => {
                self.retain(&link, &name).await;
                self.sweep_chunks(&link).await;
                let applied_here = self.wait_applied(&name, revision, APPLY_WAIT).await;
                Ok(Published::Accepted {
                    revision,
                    applied_here,
                })
            }
            other => {
                if let Some(p) = lock(&self.pending).remove(&p.sha256) {
                    discard(&p.body);
                }
                other
            }
        }
    }

    /// The version of `list` this node serves, as a head to decide a push
    /// against when the bucket holds none.
    fn served_head(&self, list: &str) -> Option<Head> {
        let l = self.shared.runtime.load().lists.get(list).cloned()?;
        let sha256 = self
            .applied_sha(list, l.version)
            .or_else(|| self.store.sha256_of(list, l.version))
            // A seed list's text is not kept: its version still counts.
            .unwrap_or_default();
        Some(Head {
            list: list.to_string(),
            version: l.version,
            sha256,
            node: self.settings.node.clone(),
            ..Head::default()
        })
    }

    /// Rolls a list back across the fleet: a new head pointing at the
    /// newest earlier version whose body is still kept.
    pub async fn rollback(&self, name: &str, client: &str) -> Result<(u64, Head), PublishError> {
        let link = self.link_up()?;
        loop {
            let (rev, cur) = match self.head_entry(&link, name).await? {
                None => {
                    return Err(PublishError::NoHead(format!(
                        "list {name:?} has no head in the fleet yet: nothing to roll back"
                    )));
                }
                Some((rev, None)) => {
                    return Err(PublishError::NoHead(format!(
                        "the fleet's head of {name:?} (revision {rev}) is not a sealed head this node trusts: push a version to replace it, then roll back if need be"
                    )));
                }
                Some((rev, Some(cur))) => (rev, cur),
            };
            // The heads in their order (the bucket keeps the newest few per
            // list): a rollback goes to the version in force before this
            // one, never to one rolled back (the history's rule, as on one
            // node), whose objects are still kept.
            let mut order: Vec<Head> = Vec::new();
            let mut h = link.heads.history(name).await.map_err(unavailable)?;
            while let Some(e) = h.next().await {
                let e = e.map_err(unavailable)?;
                if let Ok(head) = Head::open(name, &e.value, &self.settings.trusted) {
                    order.push(head);
                }
            }
            let history = History::of(
                order
                    .iter()
                    .map(|h| Entry {
                        seq: 0,
                        version: h.version,
                        sha256: h.sha256.clone(),
                        event: if h.rollback_of.is_some() {
                            Event::Rollback
                        } else {
                            Event::Fleet
                        },
                        at: h.at,
                        rollback_of: h.rollback_of,
                        head_seq: Some(h.seq),
                    })
                    .collect(),
            );
            let mut kept = std::collections::HashMap::new();
            for h in &order {
                if h.version < cur.version && !kept.contains_key(&h.version) {
                    kept.insert(h.version, Self::objects_kept(&link, h).await);
                }
            }
            let target = history.rollback_target(cur.version, |v| kept.get(&v) == Some(&true));
            let to = target.and_then(|v| order.iter().rev().find(|h| h.version == v).cloned());
            let Some(mut to) = to else {
                return Err(PublishError::Refused(Refusal::NothingEarlier {
                    list: name.to_string(),
                    current: cur.version,
                }));
            };
            to.client = client.to_string();
            to.node = self.settings.node.clone();
            to.at = unix_now();
            to.rollback_of = Some(cur.version);
            to.seq = cur.seq.max(self.seq_of(name)) + 1;
            // A whole version needs no delta; a patch stored as a patch is
            // rebuilt from its chain and its own delta.
            if to.chain.is_none() {
                to.patch = None;
            }
            if let Some(s) = &to.snapshot
                && !link.has_object(s).await
            {
                to.snapshot = None;
            }
            if to.snapshot_sha256.is_none() {
                to.snapshot = None;
            }
            match self.cas(&link, name, Some(rev), &to).await? {
                Some(new_rev) => {
                    self.wait_applied(name, new_rev, APPLY_WAIT).await;
                    return Ok((new_rev, to));
                }
                None => continue,
            }
        }
    }

    /// Whether every object a head names is still in the object store.
    async fn objects_kept(link: &Link, h: &Head) -> bool {
        for o in h.objects() {
            if !link.has_object(o).await {
                return false;
            }
        }
        h.chain.is_some() || !h.object.is_empty()
    }

    /// Whether a patch head on `chain` should rather store its whole
    /// version: after [`MAX_STEPS`] deltas, or once the deltas weigh a
    /// quarter of the anchor (a node not at the base would fetch more than
    /// a whole version's worth).
    async fn chain_too_long(&self, link: &Link, chain: &Chain, head: &Head) -> bool {
        if chain.steps.len() + 1 >= MAX_STEPS {
            return true;
        }
        let deltas: u64 = chain.steps.iter().map(|s| s.size).sum::<u64>()
            + head.patch.as_ref().map_or(0, |p| p.size);
        match link.objects.info(&chain.anchor.object).await {
            Ok(i) if !i.deleted => deltas.saturating_mul(4) > i.size as u64,
            // The anchor is gone: the chain cannot be followed.
            _ => true,
        }
    }

    /// Removes the chunks of uploads that never finished (see
    /// `Link::remove_orphan_chunks`), at most every [`SWEEP_EVERY`]: after
    /// a push, and from the watch's periodic check.
    pub(super) async fn sweep_chunks(&self, link: &Link) {
        let now = unix_now();
        let last = self.last_sweep.load(std::sync::atomic::Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY.as_secs()
            || self
                .last_sweep
                .compare_exchange(
                    last,
                    now,
                    std::sync::atomic::Ordering::Relaxed,
                    std::sync::atomic::Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        match link.remove_orphan_chunks(ORPHAN_AGE).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                uploads = n,
                "fleet: removed the chunks of uploads that never finished"
            ),
            Err(e) => tracing::debug!("fleet: cannot look for unfinished uploads: {e}"),
        }
    }

    /// Keeps the objects of the newest versions of a list — at most
    /// `keep_versions`, and no more than `keep_bytes` of their own objects
    /// (the newest always) — and every object the current head or a kept
    /// version's head names (a patch's chain: its anchor and deltas);
    /// deletes the rest.
    async fn retain(&self, link: &Link, name: &str) {
        let Ok(mut all) = link.objects.list().await else {
            return;
        };
        let mut mine: Vec<(u64, String, u64)> = Vec::new();
        while let Some(Ok(o)) = all.next().await {
            if let Some((l, v)) = Head::object_version(&o.name)
                && l == name
            {
                mine.push((v, o.name.clone(), o.size as u64));
            }
        }
        // The heads the bucket still holds for this list, oldest first.
        let mut heads: Vec<Head> = Vec::new();
        if let Ok(mut h) = link.heads.history(name).await {
            while let Some(Ok(e)) = h.next().await {
                if let Ok(head) = Head::open(name, &e.value, &self.settings.trusted) {
                    heads.push(head);
                }
            }
        }
        let mut versions: Vec<u64> = mine.iter().map(|m| m.0).collect();
        versions.sort_unstable_by(|a, b| b.cmp(a));
        versions.dedup();
        let (mut keep, mut bytes) = (Vec::new(), 0u64);
        for v in versions {
            let own: u64 = mine.iter().filter(|m| m.0 == v).map(|m| m.2).sum();
            if !keep.is_empty()
                && (keep.len() >= self.settings.keep_versions
                    || bytes.saturating_add(own) > self.settings.keep_bytes)
            {
                break;
            }
            bytes = bytes.saturating_add(own);
            keep.push(v);
        }
        let mut named = std::collections::HashSet::new();
        for (i, h) in heads.iter().enumerate() {
            if i + 1 == heads.len() || keep.contains(&h.version) {
                named.extend(h.objects().map(str::to_string));
            }
        }
        for (v, o, _) in mine {
            if !keep.contains(&v) && !named.contains(&o) {
                match link.objects.delete(&o).await {
                    Ok(()) => tracing::debug!(object = %o, "fleet: old version's object deleted"),
                    Err(e) => {
                        tracing::debug!(object = %o, "fleet: cannot delete an old object: {e}")
                    }
                }
            }
        }
    }
}
