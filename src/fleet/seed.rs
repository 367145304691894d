//! A heads bucket without a head for a list (a new or wiped JetStream) is
//! seeded from the nodes' own state: each node writes the head of the
//! version it serves from a push, with `create` (only if absent). A node
//! serving a higher version than a (non-rollback) head it finds there
//! replaces it with `update` on the revision it read; never with a plain
//! put. So the fleet's history does not go down when JetStream loses it,
//! and a node that was behind cannot take the fleet down with it (the
//! others refuse its lower head, and replace it).
//!
//! Done when a connection is made, and when the watch sees a list's head
//! deleted or purged.

use std::sync::Arc;

use async_nats::jetstream::kv;

use super::head::Head;
use super::link::Link;
use super::node::{Body, Fleet};
use super::publish::NATS_WAIT;
use crate::clock::unix_now;
use crate::lists::ListKind;
use crate::store::sha256_hex;

/// Seeds every list this node configures (see the module's comment).
pub(super) async fn seed_all(fleet: &Arc<Fleet>, link: &Link) {
    for name in fleet.configured() {
        seed(fleet, link, &name).await;
    }
}

/// The head of what this node serves of `name` from a push, and its body
/// read from the state directory and checked against its sha256 (a seed
/// file's version has no text kept: nothing to seed).
async fn own_head(fleet: &Arc<Fleet>, name: &str) -> Option<(Head, Vec<u8>)> {
    let l = fleet.shared.runtime.load().lists.get(name).cloned()?;
    let (store, n, v) = (fleet.store.clone(), name.to_string(), l.version);
    let (sha, body) = crate::loader::background(move || {
        let sha = store.sha256_of(&n, v)?;
        let body = store.read(&n, v).ok()?;
        (sha256_hex(&body) == sha).then_some((sha, body))
    })
    .await
    .ok()??;
    let content_type = match l.kind() {
        ListKind::Companies => "application/toml",
        _ if body.first() == Some(&b'{') => "application/json",
        _ => "text/plain",
    };
    let head = Head {
        list: name.to_string(),
        version: v,
        seq: 0,
        object: Head::object_name(name, v, &sha),
        sha256: sha,
        content_type: content_type.to_string(),
        // The pusher's signature is not kept with a stored version: the
        // seal of this node's fleet key vouches for it.
        signature: None,
        client: String::new(),
        node: fleet.settings.node.clone(),
        at: unix_now(),
        ..Head::default()
    };
    Some((head, body))
}

/// Seeds one list's head, when the bucket has none (or a lower one that
/// is not a rollback).
pub(super) async fn seed(fleet: &Arc<Fleet>, link: &Link, name: &str) {
    let Some((mut head, body)) = own_head(fleet, name).await else {
        return;
    };
    let Ok(Ok(entry)) = tokio::time::timeout(NATS_WAIT, link.heads.entry(name)).await else {
        return;
    };
    let (over, seen_seq) = match entry.filter(|e| e.operation == kv::Operation::Put) {
        None => (None, 0),
        Some(e) => match Head::open(name, &e.value, &fleet.settings.trusted) {
            Ok(h) if h.rollback_of.is_none() && h.version < head.version => {
                (Some(e.revision), h.seq)
            }
            // A head at or above this node's, a rollback, or a value that
            // is not a head (a push replaces that): left as it is.
            _ => return,
        },
    };
    if let Err(e) = Fleet::put_object(link, &head.object, &Body::Bytes(body)).await {
        tracing::warn!(list = %name, "fleet: cannot seed the heads bucket: {e}");
        return;
    }
    head.seq = seen_seq.max(fleet.seq_of(name)) + 1;
    match fleet.cas(link, name, over, &head).await {
        Ok(Some(revision)) => tracing::warn!(
            list = %name,
            version = head.version,
            revision,
            replaced_lower = over.is_some(),
            "fleet: the heads bucket had no head of this list at or above the version served here: seeded from this node's state"
        ),
        // Another node's head came first: it is decided as any head.
        Ok(None) => {}
        Err(e) => tracing::warn!(list = %name, "fleet: cannot seed the heads bucket: {e}"),
    }
}
