//! Heads watched and applied here. The watch starts with the newest head of
//! every list (a node that was stopped or cut off catches up), then follows
//! each new one in revision order. A value is applied only when it is a
//! head sealed by a key this node trusts (`Head::open`); anything else is
//! refused, reported once and remembered as seen. A head is applied off
//! the call path, always in the same order: its body taken from this
//! node's own push, or from the local store, or (a patch at this node's
//! base) rebuilt from the delta, or fetched, every object checked against
//! the sha256 the sealed head names and the pusher's signature checked
//! again (verify); then stored (store); then put in force (swap). A head
//! that cannot be applied leaves the list in force as it was, says why
//! (log, heartbeat, `/v1/fleet`) and is counted. A head for a list this
//! node does not configure is for other nodes: ignored.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use super::head::{Anchor, Chain, Head};
use super::link::Link;
use super::node::{Applied, Body, Fleet, lock};
use crate::config::ListSpec;
use crate::ledger::install::Failed;
use crate::ledger::{Install, Text};
use crate::lists::delta::Delta;
use crate::lists::{Guard, List};
use crate::store::Event;

/// The largest object a node reads (a 10-million-number list is 124 MB).
const MAX_OBJECT: u64 = 1 << 30;

/// Why a watch of the heads ended: what the connection loop acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WatchEnd {
    /// NATS timed out, or the watch could not be made (its bucket gone),
    /// or a newer head was not delivered: the connection is made anew.
    TimedOut,
    /// The client reconnected, the watch broke or its stream ended: watched
    /// again on the same connection.
    Ended,
}

pub async fn watch(fleet: &Arc<Fleet>, link: &Arc<Link>) -> WatchEnd {
    let made =
        tokio::time::timeout(Duration::from_secs(10), link.heads.watch_with_history(">")).await;
    let mut w = match made {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            // The bucket is gone (a new JetStream without the fleet's
            // buckets, say): the connection is made anew, which makes them.
            fleet.set_error(Some(format!("cannot watch the heads: {e}")));
            return WatchEnd::TimedOut;
        }
        Err(_) => {
            fleet.set_error(Some("watching the heads timed out".into()));
            return WatchEnd::TimedOut;
        }
    };
    let mut check = tokio::time::interval(Duration::from_secs(5));
    check.tick().await;
    let mut behind_before = false;
    loop {
        let next = tokio::select! {
            n = w.next() => n,
            // Watched again from the newest heads after a reconnection.
            () = fleet.reconnected.notified() => return WatchEnd::Ended,
            _ = check.tick() => {
                // A watch whose consumer sat on a server that went away may
                // wait without an error: the heads are read directly, and a
                // newer one not delivered for two checks ends this watch
                // (the connection is then made anew).
                let behind = behind(fleet, link).await;
                if behind && behind_before {
                    fleet.set_error(Some("a newer head was not delivered: the watch timed out".into()));
                    return WatchEnd::TimedOut;
                }
                behind_before = behind;
                // A head seen but not applied (its object missing for a
                // while, the disk full) is tried again.
                let configured = fleet.configured();
                let failed: Vec<(u64, Head)> = lock(&fleet.heads)
                    .values()
                    .filter(|(rev, h)| {
                        configured.contains(&h.list) && fleet.applied_revision(&h.list) < *rev
                    })
                    .cloned()
                    .collect();
                for (rev, head) in failed {
                    apply_logged(fleet, link, rev, &head, true).await;
                }
                fleet.sweep_chunks(link).await;
                continue;
            }
        };
        let Some(e) = next else {
            return WatchEnd::Ended;
        };
        let entry = match e {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!("fleet: the watch of the heads broke: {e}");
                return WatchEnd::Ended;
            }
        };
        if entry.operation != async_nats::jetstream::kv::Operation::Put {
            // A head deleted or purged (a wiped bucket): seeded again from
            // the versions the nodes serve.
            if fleet.configured().contains(&entry.key) {
                let (f, l, key) = (Arc::clone(fleet), Arc::clone(link), entry.key.clone());
                tokio::spawn(async move { super::seed::seed(&f, &l, &key).await });
            }
            continue;
        }
        let head = match Head::open(&entry.key, &entry.value, &fleet.settings.trusted) {
            Ok(h) => h,
            Err(why) => {
                fleet.apply_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(list = %entry.key, revision = entry.revision, "fleet: a value in the heads bucket refused, the list in force stays: {why}");
                fleet.set_error(Some(format!(
                    "the head of {} at revision {} is refused: {why}",
                    entry.key, entry.revision
                )));
                lock(&fleet.refused).insert(entry.key.clone(), (entry.revision, why.to_string()));
                continue;
            }
        };
        lock(&fleet.refused).remove(&head.list);
        lock(&fleet.heads).insert(head.list.clone(), (entry.revision, head.clone()));
        apply_logged(fleet, link, entry.revision, &head, false).await;
    }
}

/// Applies a head and reports a failure (a retry's failure only when it
/// says something new).
async fn apply_logged(
    fleet: &Arc<Fleet>,
    link: &Arc<Link>,
    revision: u64,
    head: &Head,
    retry: bool,
) {
    match apply(fleet, link, revision, head).await {
        Ok(()) => fleet.set_error(None),
        Err(e) => {
            // Counted once per head, not once per retry.
            if lock(&fleet.failed).insert((head.list.clone(), revision)) {
                fleet.apply_failures.fetch_add(1, Ordering::Relaxed);
            }
            let what = format!("{} version {}: {e}", head.list, head.version);
            if !retry || fleet.last_error().as_deref() != Some(what.as_str()) {
                tracing::error!(
                    list = %head.list,
                    version = head.version,
                    revision,
                    "fleet: cannot apply this version, the one in force stays: {e}"
                );
            }
            fleet.set_error(Some(what));
        }
    }
}

/// Whether a list's head in the bucket is newer than the watch delivered
/// (read directly, not through the watch).
async fn behind(fleet: &Fleet, link: &Link) -> bool {
    for name in fleet.configured() {
        let Ok(Ok(Some(e))) =
            tokio::time::timeout(Duration::from_secs(3), link.heads.entry(name.as_str())).await
        else {
            continue;
        };
        let seen = fleet.seen_revision(&name);
        if e.operation == async_nats::jetstream::kv::Operation::Put && e.revision > seen {
            return true;
        }
    }
    false
}

/// The sha256 of the version of `name` in force here, when known.
fn in_force_sha(fleet: &Fleet, name: &str, version: u64) -> Option<String> {
    fleet
        .applied_sha(name, version)
        .or_else(|| fleet.store.sha256_of(name, version))
}

/// An object opened to be read in pieces ([`read_piece`]).
async fn open_object(
    fleet: &Fleet,
    link: &Link,
    name: &str,
) -> Result<async_nats::jetstream::object_store::Object, String> {
    use async_nats::jetstream::object_store::GetErrorKind;
    link.objects.get(name).await.map_err(|e| {
        if e.kind() == GetErrorKind::TimedOut {
            fleet.nats_timed_out.store(true, Ordering::Relaxed);
        }
        format!("cannot fetch object {name}: {e}")
    })
}

/// The object's next piece of up to 1 MiB, appended to `out`, of at most
/// [`MAX_OBJECT`] bytes in all (`so_far` read before it); 0 at the end.
async fn read_piece(
    fleet: &Fleet,
    o: &mut async_nats::jetstream::object_store::Object,
    name: &str,
    so_far: u64,
    out: &mut Vec<u8>,
) -> Result<usize, String> {
    o.take((1 << 20).min(MAX_OBJECT.saturating_sub(so_far)))
        .read_to_end(out)
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut {
                fleet.nats_timed_out.store(true, Ordering::Relaxed);
            }
            format!("cannot read object {name}: {e}")
        })
}

/// An object read in pieces of up to 1 MiB, each sent to `to`.
async fn read_object_to(
    fleet: &Fleet,
    link: &Link,
    name: &str,
    to: &tokio::sync::mpsc::Sender<Vec<u8>>,
) -> Result<(), String> {
    let mut o = open_object(fleet, link, name).await?;
    let mut so_far = 0;
    loop {
        let mut piece = Vec::with_capacity(1 << 20);
        let n = read_piece(fleet, &mut o, name, so_far, &mut piece).await?;
        if n == 0 {
            return Ok(());
        }
        so_far += n as u64;
        if to.send(piece).await.is_err() {
            return Err("the text's writer stopped".into());
        }
    }
}

/// An object read whole (at most [`MAX_OBJECT`] bytes), with its SHA-256,
/// hashed piece by piece as the pieces come (while the next is on its
/// way), not in one pass over the whole once it is here.
async fn read_object(fleet: &Fleet, link: &Link, name: &str) -> Result<Fetched, String> {
    use sha2::Digest;
    let mut o = open_object(fleet, link, name).await?;
    let (mut bytes, mut sum) = (Vec::new(), sha2::Sha256::new());
    loop {
        let at = bytes.len();
        if read_piece(fleet, &mut o, name, at as u64, &mut bytes).await? == 0 {
            break;
        }
        sum.update(&bytes[at..]);
    }
    Ok(Fetched {
        bytes,
        sha256: crate::lists::format::hex(&sum.finalize()),
    })
}

/// An object's bytes and their SHA-256 (hex).
struct Fetched {
    bytes: Vec<u8>,
    sha256: String,
}

/// The signature check of one node, again: when the head's client is one
/// of this node's with a signing key, the signature must verify over the
/// exact body it signed.
fn check_signature(
    fleet: &Fleet,
    client: &str,
    signed: &[u8],
    sig: Option<&str>,
) -> Result<(), String> {
    let rt = fleet.shared.runtime.load();
    let key = rt
        .settings
        .api
        .as_ref()
        .and_then(|a| a.clients.iter().find(|c| c.name == client))
        .and_then(|c| c.sign_key);
    match key {
        Some(k) if !crate::keys::verify(&k, signed, sig.unwrap_or("")) => Err(format!(
            "the signature of client {client:?} does not verify over the body"
        )),
        _ => Ok(()),
    }
}

/// Whether `client` is one of this node's clients with a signing key: its
/// pushes are used only once their signature verifies over the body.
fn signs(fleet: &Fleet, client: &str) -> bool {
    let rt = fleet.shared.runtime.load();
    rt.settings
        .api
        .as_ref()
        .and_then(|a| a.clients.iter().find(|c| c.name == client))
        .is_some_and(|c| c.sign_key.is_some())
}

async fn apply(
    fleet: &Arc<Fleet>,
    link: &Arc<Link>,
    revision: u64,
    head: &Head,
) -> Result<(), String> {
    let _one = fleet.apply_lock.lock().await;
    if fleet.applied_revision(&head.list) >= revision {
        return Ok(());
    }
    let rt = fleet.shared.runtime.load_full();
    let Some(spec) = rt
        .settings
        .lists
        .iter()
        .find(|s| s.name == head.list)
        .cloned()
    else {
        tracing::debug!(list = %head.list, version = head.version, "fleet: a head for a list not configured here: ignored");
        return Ok(());
    };
    let current = rt.lists.get(&head.list).cloned();
    let done = Applied {
        revision,
        version: head.version,
        sha256: head.sha256.clone(),
    };
    // Already in force (this node's seed, or applied before a restart).
    if let Some(c) = &current
        && c.version == head.version
        && in_force_sha(fleet, &head.list, c.version).as_deref() == Some(head.sha256.as_str())
    {
        fleet.note_seq(&head.list, head.seq);
        fleet.note_applied(&head.list, done);
        // In force from its snapshot, its text never fetched (a node
        // stopped before it came): fetched now.
        if fleet.store.file_of(&head.list, head.version).is_none()
            && fleet.store.read_delta(&head.list, head.version).is_none()
            && fleet.store.sha256_of(&head.list, head.version).as_deref()
                == Some(head.sha256.as_str())
        {
            text_later(fleet, link, head);
        }
        return Ok(());
    }
    // An old sealed head written again (a rollback replayed): its sequence
    // number is not above the last this node applied.
    let last = fleet.seq_of(&head.list);
    if head.seq <= last {
        return Err(format!(
            "its sequence number {} is not above {last}, the last applied here: an old head written again (replayed), refused",
            head.seq
        ));
    }
    // Versions never go down, but by a rollback: a head below what this
    // node serves (a wiped bucket refilled by a node that was behind) is
    // refused, and the list in force stays.
    if let Some(c) = &current
        && head.rollback_of.is_none()
        && head.version < c.version
    {
        return Err(format!(
            "it is below version {} in force here and not a rollback (versions never go down): push a version above {} to move the fleet on",
            c.version, c.version
        ));
    }
    let t0 = std::time::Instant::now();
    let old = current.as_ref().map(|c| c.version);
    let log = |from: &str, fetched: usize| {
        tracing::info!(
            target: "audit",
            list = %head.list,
            old_version = old.unwrap_or(0),
            new_version = head.version,
            revision,
            client = %head.client,
            node = %head.node,
            rollback_of = head.rollback_of.unwrap_or(0),
            from,
            fetched_bytes = fetched,
            duration_ms = t0.elapsed().as_millis() as u64,
            outcome = if head.rollback_of.is_some() { "rolled back" } else { "applied" },
            "fleet: list version applied"
        );
    };
    let guard = spec.guard(rt.settings.guard);
    let pending = lock(&fleet.pending).remove(&head.sha256);
    let v = match pending {
        Some(p) => Version {
            list: p.list,
            body: p.body,
            snapshot: p.snapshot,
            from: "push",
            fetched: 0,
        },
        None => match obtain(fleet, link, head, &spec, current.clone(), guard).await? {
            Made::Built(v) => v,
            Made::Patched(list, text, delta, fetched) => {
                // The delta is the one the sealed head names, signed by its
                // client, on the version in force here (the head's base):
                // stored as that delta, put in force, its text made after.
                let base = current.clone().ok_or("a patch without its base")?;
                if list.name != head.list || list.version != head.version {
                    return Err(format!(
                        "the delta makes {} version {}",
                        list.name, list.version
                    ));
                }
                let body = Body::Delta {
                    delta,
                    text: Text::Make(text, base),
                };
                install(fleet, head, list, body, None, done).await?;
                fleet.applied_in(t0.elapsed());
                log("patch", fetched);
                return Ok(());
            }
        },
    };
    if v.list.name != head.list || v.list.version != head.version {
        return Err(format!(
            "the body is {} version {}, the head says {} version {}",
            v.list.name, v.list.version, head.list, head.version
        ));
    }
    let (from, fetched) = (v.from, v.fetched);
    let text_to_fetch = matches!(v.body, Body::Snapshot { text: None });
    install(fleet, head, v.list, v.body, v.snapshot, done).await?;
    fleet.applied_in(t0.elapsed());
    log(from, fetched);
    if text_to_fetch {
        text_later(fleet, link, head);
    }
    Ok(())
}

/// The text of a whole version put in force from its verified snapshot,
/// fetched after the swap (once the pusher's upload of it is stored),
/// checked against the head's sha256 and stored (off the call path; a
/// failure is reported, and the next start fetches it again).
fn text_later(fleet: &Arc<Fleet>, link: &Arc<Link>, head: &Head) {
    if head.object.is_empty() {
        return;
    }
    let (fleet, link, head) = (Arc::clone(fleet), Arc::clone(link), head.clone());
    tokio::spawn(async move {
        // Fetched in pieces and written as they come (never whole in
        // memory); kept only when its sha256 is the head's.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        let (ledger, list, version) = (fleet.ledger(), head.list.clone(), head.version);
        let writer = tokio::spawn(async move {
            ledger
                .store_text(&list, version, move |sink| {
                    while let Some(piece) = rx.blocking_recv() {
                        sink(&piece);
                    }
                })
                .await
        });
        // The pusher uploads the body once the fleet serves the version
        // (within seconds): it may come a moment after (bounded: a minute).
        for _ in 0..240 {
            if link.has_object(&head.object).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let fetched = read_object_to(&fleet, &link, &head.object, &tx).await;
        drop(tx);
        let stored = match (fetched, writer.await) {
            (Err(e), _) => Err(e),
            (Ok(()), Ok(Ok(true))) => Ok(true),
            (Ok(()), Ok(Ok(false))) => Err(
                "the body is not the one the head names (sha256), or the version left the store"
                    .into(),
            ),
            (Ok(()), Ok(Err(e))) => Err(e.to_string()),
            (Ok(()), Err(e)) => Err(e.to_string()),
        };
        match stored {
            Ok(true) => {
                tracing::debug!(list = %head.list, version = head.version, "fleet: the version's text is stored")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(list = %head.list, version = head.version, "fleet: the version's text is not stored ({e}): it serves from its verified snapshot; fetched again at the next start")
            }
        }
    });
}

/// A version to install: its list, its body (checked against the head),
/// its snapshot when there is one, where it came from, the bytes
/// fetched.
struct Version {
    list: List,
    body: Body,
    snapshot: Option<Vec<u8>>,
    from: &'static str,
    fetched: usize,
}

impl Version {
    fn built(list: List, body: Vec<u8>, from: &'static str, fetched: usize) -> Made {
        Made::Built(Version {
            list,
            body: Body::Bytes(body),
            snapshot: None,
            from,
            fetched,
        })
    }
}

/// A version built (with its checked body) or a delta applied to the list
/// in force (its text not made yet; the delta's bytes), with the bytes
/// fetched.
enum Made {
    Built(Version),
    Patched(List, crate::lists::delta::Text, Vec<u8>, usize),
}

/// A list loaded from a snapshot takes the role this node's config gives it.
fn with_role(mut l: List, spec: &ListSpec) -> List {
    l.role = spec.role;
    l
}

/// Builds a body off the call path (background priority).
async fn build(spec: &ListSpec, body: Vec<u8>, guard: Guard) -> Result<(List, Vec<u8>), String> {
    let spec = spec.clone();
    crate::loader::background(move || {
        crate::loader::build_list(&spec, &body, guard).map(|l| (l, body))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("the body does not parse here: {e}"))
}

/// The version a head names, built, with its body, and where it came from:
/// the local store when this node has that version already (`store`), the
/// delta applied to the list in force when this node is at the patch's base
/// (`patch`), else the whole version fetched (`object`). Every body's
/// sha256 is checked against the head, and the pusher's signature over what
/// it signed (the delta of a patch, else the body).
async fn obtain(
    fleet: &Fleet,
    link: &Link,
    head: &Head,
    spec: &ListSpec,
    current: Option<Arc<List>>,
    guard: Guard,
) -> Result<Made, String> {
    if fleet.store.sha256_of(&head.list, head.version).as_deref() == Some(head.sha256.as_str()) {
        // Stored here already (verified when it was stored): loaded as at
        // start, from its snapshot, its text or its base and delta.
        let (st, sp, v) = (fleet.store.clone(), spec.clone(), head.version);
        let found =
            crate::loader::background(move || crate::loader::stored_version(&sp, v, &st, guard))
                .await
                .map_err(|e| e.to_string())?;
        if let Some((l, sha)) = found
            && l.name == head.list
            && l.version == head.version
            && sha == head.sha256
        {
            return Ok(Made::Built(Version {
                list: with_role(l, spec),
                body: Body::Kept,
                snapshot: None,
                from: "store",
                fetched: 0,
            }));
        }
    }
    let Some(p) = &head.patch else {
        let w = whole(fleet, link, spec, guard, &head.as_anchor()).await?;
        return Ok(Made::Built(w));
    };
    // What the client signed is the delta: checked on every node.
    let d = read_delta(
        fleet,
        link,
        &p.object,
        p.sha256.as_deref(),
        &head.client,
        p.signature.as_deref(),
    )
    .await?;
    let fetched = d.1.len();
    if let Some(cur) = current.clone().filter(|c| c.version == p.base_version) {
        let (d2, bloom) = (d.0.clone(), spec.bloom);
        let made =
            crate::loader::background(move || crate::lists::delta::patch(&cur, &d2, bloom, guard))
                .await
                .map_err(|e| e.to_string())?;
        match made {
            Ok((list, text)) => return Ok(Made::Patched(list, text, d.1, fetched)),
            Err(e) => {
                tracing::warn!(list = %head.list, version = head.version, "fleet: the delta does not apply here ({e}): rebuilding the version")
            }
        }
    }
    match &head.chain {
        Some(chain) => {
            rebuild(
                fleet, link, head, chain, &d.0, spec, current, guard, fetched,
            )
            .await
        }
        // A patch that stored its whole version (a chain started anew).
        None => {
            let mut w = whole(
                fleet,
                link,
                spec,
                guard,
                &Anchor {
                    // A patch's signature is over its delta, checked above;
                    // a patch head carries no snapshot.
                    signature: None,
                    client: String::new(),
                    snapshot: None,
                    snapshot_sha256: None,
                    ..head.as_anchor()
                },
            )
            .await?;
            w.fetched += fetched;
            Ok(Made::Built(w))
        }
    }
}

/// A whole version from its snapshot when the sealed head names one whose
/// sha256 matches (the list the pushing node built from the body it
/// checked: this node need not parse the body, and stores the snapshot;
/// the text follows after the swap), else its text fetched, checked and
/// parsed. Where the pusher is a client with a signing key here, its
/// signature is checked over the body before anything is used.
async fn whole(
    fleet: &Fleet,
    link: &Link,
    spec: &ListSpec,
    guard: Guard,
    a: &Anchor,
) -> Result<Version, String> {
    let fetch_body = || async {
        let Fetched {
            bytes: body,
            sha256,
        } = read_object(fleet, link, &a.object).await?;
        if sha256 != a.sha256 {
            return Err(format!(
                "the body of version {} is not the one the head names (sha256)",
                a.version
            ));
        }
        if !a.client.is_empty() {
            check_signature(fleet, &a.client, &body, a.signature.as_deref())?;
        }
        Ok(body)
    };
    let signed = !a.client.is_empty() && signs(fleet, &a.client);
    let body = match signed {
        true => Some(fetch_body().await?),
        false => None,
    };
    let n = body.as_ref().map_or(0, Vec::len);
    if let (Some(sn), Some(want)) = (&a.snapshot, &a.snapshot_sha256)
        && let Ok(Fetched { bytes, sha256 }) = read_object(fleet, link, sn).await
    {
        let m = bytes.len();
        if sha256 != *want {
            tracing::warn!(list = %spec.name, version = a.version, "fleet: the snapshot object is not the one the head names: parsing the body");
        } else {
            let (name, version) = (spec.name.clone(), a.version);
            let (loaded, bytes) = crate::loader::background(move || {
                // Its bytes are the ones the sealed head names (checked
                // above, as they came).
                let l = crate::lists::snapshot::decode_digested(&bytes)
                    .filter(|l| l.name == name && l.version == version);
                (l, bytes)
            })
            .await
            .map_err(|e| e.to_string())?;
            match loaded {
                Some(l) => {
                    return Ok(Version {
                        list: with_role(l, spec),
                        body: Body::Snapshot { text: body },
                        snapshot: Some(bytes),
                        from: "snapshot",
                        fetched: n + m,
                    });
                }
                None => {
                    tracing::warn!(list = %spec.name, version = a.version, "fleet: the snapshot that came with this version does not load: parsing the body")
                }
            }
        }
    }
    let body = match body {
        Some(b) => b,
        None => fetch_body().await?,
    };
    let n = body.len();
    let (list, body) = build(spec, body, guard).await?;
    Ok(Version {
        list,
        body: Body::Bytes(body),
        snapshot: None,
        from: "object",
        fetched: n,
    })
}

/// A delta object fetched, checked against the sha256 the sealed head
/// names and its pusher's signature, and read; with its bytes.
async fn read_delta(
    fleet: &Fleet,
    link: &Link,
    object: &str,
    sha256: Option<&str>,
    client: &str,
    signature: Option<&str>,
) -> Result<(Delta, Vec<u8>), String> {
    let Fetched {
        bytes: raw,
        sha256: got,
    } = read_object(fleet, link, object).await?;
    if sha256 != Some(got.as_str()) {
        return Err(format!(
            "the delta object {object} is not the one the head names (sha256)"
        ));
    }
    check_signature(fleet, client, &raw, signature)?;
    let d = serde_json::from_slice::<Delta>(&raw)
        .map_err(|e| format!("the delta {object} is not a delta: {e}"))?;
    Ok((d, raw))
}

/// A patch head's version rebuilt from its chain: from the list in force
/// when it is the anchor or a step of the chain (its text's sha256 the
/// chain's), else from the anchor fetched; then every later delta, and
/// the head's own (`last`), whose text must have the head's sha256.
#[allow(clippy::too_many_arguments)]
async fn rebuild(
    fleet: &Fleet,
    link: &Link,
    head: &Head,
    chain: &Chain,
    last: &Delta,
    spec: &ListSpec,
    current: Option<Arc<List>>,
    guard: Guard,
    mut fetched: usize,
) -> Result<Made, String> {
    let at = current.as_ref().and_then(|c| {
        let sha = in_force_sha(fleet, &c.name, c.version)?;
        if c.version == chain.anchor.version && sha == chain.anchor.sha256 {
            return Some(0);
        }
        chain
            .steps
            .iter()
            .position(|s| s.version == c.version && s.text_sha256 == sha)
            .map(|i| i + 1)
    });
    let (mut list, from) = match (at, current) {
        (Some(_), Some(c)) => (c, "chain"),
        _ => {
            let w = whole(fleet, link, spec, guard, &chain.anchor).await?;
            fetched += w.fetched;
            (Arc::new(w.list), "anchor+chain")
        }
    };
    for step in &chain.steps[at.unwrap_or(0)..] {
        let (d, raw) = read_delta(
            fleet,
            link,
            &step.object,
            Some(&step.sha256),
            &step.client,
            step.signature.as_deref(),
        )
        .await?;
        fetched += raw.len();
        let (base, bloom) = (Arc::clone(&list), spec.bloom);
        let next = crate::loader::background(move || {
            crate::lists::delta::patch(&base, &d, bloom, guard).map(|(l, _)| l)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("delta {} does not apply: {e}", step.object))?;
        list = Arc::new(next);
    }
    match patch(&list, last, spec, guard, &head.sha256).await? {
        Some((list, text)) => Ok(Version::built(list, text, from, fetched)),
        None => Err("the chain's deltas do not give the head's sha256".into()),
    }
}

/// `d` applied to `base` off the call path, when it gives the text `sha`:
/// the list and its text.
async fn patch(
    base: &Arc<List>,
    d: &Delta,
    spec: &ListSpec,
    guard: Guard,
    sha: &str,
) -> Result<Option<(List, Vec<u8>)>, String> {
    let (base, d, bloom, want) = (Arc::clone(base), d.clone(), spec.bloom, sha.to_string());
    crate::loader::background(move || {
        let p = crate::lists::delta::apply(&base, &d, bloom, guard).ok()?;
        (p.sha256 == want).then(|| (p.list, p.text.make(&base)))
    })
    .await
    .map_err(|e| e.to_string())
}

/// Puts a checked version in force through the ledger (stored, recorded
/// in the history, swapped in; a rollback also marks the version it leaves
/// and removes the versions above it, so a restart keeps it) and notes it
/// applied. When it cannot be stored (disk full), the version before stays
/// in force and this says why.
async fn install(
    fleet: &Arc<Fleet>,
    head: &Head,
    list: List,
    body: Body,
    snapshot: Option<Vec<u8>>,
    done: Applied,
) -> Result<(), String> {
    let installed = fleet
        .ledger()
        .install(Install {
            list: Arc::new(list),
            body,
            sha256: head.sha256.clone(),
            snapshot,
            event: if head.rollback_of.is_some() {
                Event::Rollback
            } else {
                Event::Fleet
            },
            rollback_of: head.rollback_of,
            head_seq: Some(head.seq),
        })
        .await
        .map_err(|e| match e {
            Failed::Refused(r) => format!("refused by the ledger: {r}"),
            Failed::Store(e) => format!("cannot store it in the state directory: {e}"),
        })?;
    fleet.note_seq(&installed.list.name, head.seq);
    fleet.note_applied(&installed.list.name, done);
    Ok(())
}
