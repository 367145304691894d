//! Heads watched and applied here. The watch starts with the newest head of
//! every list (a node that was stopped or cut off catches up), then follows
//! each new one in revision order. A head is applied off the call path:
//! its body taken from this node's own push, or from the local store, or
//! (a patch at this node's base) rebuilt from the delta, or fetched; its
//! sha256 and the pusher's signature checked again; built; stored; swapped
//! in. A head that cannot be applied leaves the list in force as it was,
//! says why (log, heartbeat, `/v1/fleet`) and is counted.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use super::core::{Applied, Body, Fleet, lock};
use super::head::Head;
use super::link::Link;
use crate::lists::List;
use crate::lists::store::sha256_hex;

/// The largest object a node reads (a 10-million-number list is 124 MB).
const MAX_OBJECT: u64 = 1 << 30;

pub async fn watch(fleet: &Arc<Fleet>, link: &Arc<Link>) {
    let made =
        tokio::time::timeout(Duration::from_secs(10), link.heads.watch_with_history(">")).await;
    let mut w = match made {
        Ok(Ok(w)) => w,
        Ok(Err(e)) => {
            tracing::debug!("fleet: cannot watch the heads yet: {e}");
            return;
        }
        Err(_) => {
            fleet.set_error(Some("watching the heads timed out".into()));
            return;
        }
    };
    let mut check = tokio::time::interval(Duration::from_secs(5));
    check.tick().await;
    let mut behind_before = false;
    loop {
        let next = tokio::select! {
            n = w.next() => n,
            // Watched again from the newest heads after a reconnection.
            () = fleet.reconnected.notified() => return,
            _ = check.tick() => {
                // A watch whose consumer sat on a server that went away may
                // wait without an error: the heads are read directly, and a
                // newer one not delivered for two checks ends this watch
                // (the connection is then made anew).
                let behind = behind(fleet, link).await;
                if behind && behind_before {
                    fleet.set_error(Some("a newer head was not delivered: the watch timed out".into()));
                    return;
                }
                behind_before = behind;
                continue;
            }
        };
        let Some(e) = next else {
            return;
        };
        let entry = match e {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!("fleet: the watch of the heads broke: {e}");
                return;
            }
        };
        if entry.operation != async_nats::jetstream::kv::Operation::Put {
            continue;
        }
        let head: Head = match serde_json::from_slice(&entry.value) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(list = %entry.key, "fleet: a head that is not callscreen's: {e}");
                continue;
            }
        };
        lock(&fleet.heads).insert(head.list.clone(), (entry.revision, head.clone()));
        match apply(fleet, link, entry.revision, &head).await {
            Ok(()) => fleet.set_error(None),
            Err(e) => {
                fleet.apply_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    list = %head.list,
                    version = head.version,
                    revision = entry.revision,
                    "fleet: cannot apply this version, the one in force stays: {e}"
                );
                fleet.set_error(Some(format!("{} version {}: {e}", head.list, head.version)));
            }
        }
    }
}

/// Whether a list's head in the bucket is newer than what this node applied
/// (read directly, not through the watch).
async fn behind(fleet: &Fleet, link: &Link) -> bool {
    let names: Vec<String> = fleet
        .shared
        .runtime
        .load()
        .settings
        .lists
        .iter()
        .map(|l| l.name.clone())
        .collect();
    for name in names {
        let Ok(Ok(Some(e))) =
            tokio::time::timeout(Duration::from_secs(3), link.heads.entry(name.as_str())).await
        else {
            continue;
        };
        if e.operation == async_nats::jetstream::kv::Operation::Put
            && e.revision > fleet.applied_revision(&name)
        {
            return true;
        }
    }
    false
}

/// The sha256 of the version of `name` in force here, when known.
fn in_force_sha(fleet: &Fleet, name: &str, version: u64) -> Option<String> {
    lock(&fleet.applied)
        .get(name)
        .filter(|a| a.version == version)
        .map(|a| a.sha256.clone())
        .or_else(|| fleet.store.sha256_of(name, version))
}

async fn read_object(link: &Link, name: &str) -> Result<Vec<u8>, String> {
    let mut o = link
        .objects
        .get(name)
        .await
        .map_err(|e| format!("cannot fetch object {name}: {e}"))?;
    let mut out = Vec::new();
    (&mut o)
        .take(MAX_OBJECT)
        .read_to_end(&mut out)
        .await
        .map_err(|e| format!("cannot read object {name}: {e}"))?;
    Ok(out)
}

/// The signature check of one node, again: when the head's client is one
/// of this node's with a signing key, the signature must verify over the
/// exact body it signed.
fn check_signature(
    fleet: &Fleet,
    head: &Head,
    signed: &[u8],
    sig: Option<&str>,
) -> Result<(), String> {
    let rt = fleet.shared.runtime.load();
    let key = rt
        .settings
        .api
        .as_ref()
        .and_then(|a| a.clients.iter().find(|c| c.name == head.client))
        .and_then(|c| c.sign_key);
    match key {
        Some(k) if !crate::keys::verify(&k, signed, sig.unwrap_or("")) => Err(format!(
            "the signature of client {:?} does not verify over the body",
            head.client
        )),
        _ => Ok(()),
    }
}

async fn apply(fleet: &Arc<Fleet>, link: &Link, revision: u64, head: &Head) -> Result<(), String> {
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
        return Err("this node has no such list in its [[lists]]".into());
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
        fleet.note_applied(&head.list, done);
        return Ok(());
    }
    let guard = rt.settings.guard;
    let pending = lock(&fleet.pending).remove(&head.sha256);
    let (list, body, from, fetched) = match pending {
        Some(p) => (p.list, p.body, "push", 0),
        None => {
            let (body, from, fetched) = body_of(fleet, link, head, current.as_deref()).await?;
            if sha256_hex(&body) != head.sha256 {
                return Err("the body's sha256 is not the head's".into());
            }
            if head.patch.is_none() {
                check_signature(fleet, head, &body, head.signature.as_deref())?;
            }
            let (spec2, b2) = (spec.clone(), body.clone());
            let list = tokio::task::spawn_blocking(move || {
                crate::engine::background_priority();
                crate::engine::build_list(&spec2, &b2, guard)
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("the body does not parse here: {e}"))?;
            (list, Body::Bytes(body), from, fetched)
        }
    };
    if list.name != head.list || list.version != head.version {
        return Err(format!(
            "the body is {} version {}, the head says {} version {}",
            list.name, list.version, head.list, head.version
        ));
    }
    let old = current.as_ref().map(|c| c.version);
    install(fleet, list, body, &head.sha256).await?;
    fleet.note_applied(&head.list, done);
    fleet.applies.fetch_add(1, Ordering::Relaxed);
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
        outcome = if head.rollback_of.is_some() { "rolled back" } else { "applied" },
        "fleet: list version applied"
    );
    Ok(())
}

/// The body of a head, and where it came from: the local store when this
/// node has that version already (`store`), the delta when this node is at
/// the patch's base (`patch`), else the whole version fetched (`object`).
async fn body_of(
    fleet: &Fleet,
    link: &Link,
    head: &Head,
    current: Option<&List>,
) -> Result<(Vec<u8>, &'static str, usize), String> {
    if fleet.store.sha256_of(&head.list, head.version).as_deref() == Some(head.sha256.as_str())
        && let Ok(b) = fleet.store.read(&head.list, head.version)
    {
        return Ok((b, "store", 0));
    }
    let mut fetched = 0;
    if let Some(p) = &head.patch {
        // What the client signed is the delta: checked on every node.
        let delta = read_object(link, &p.object).await?;
        fetched += delta.len();
        check_signature(fleet, head, &delta, p.signature.as_deref())?;
        if let Some(cur) = current.filter(|c| c.version == p.base_version)
            && let Some(text) = patched(cur, &delta)
            && sha256_hex(text.as_bytes()) == head.sha256
        {
            return Ok((text.into_bytes(), "patch", fetched));
        }
    }
    let body = read_object(link, &head.object).await?;
    fetched += body.len();
    Ok((body, "object", fetched))
}

/// The text a delta makes of `base` (as `PATCH` makes it on one node).
fn patched(base: &List, delta: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Delta {
        version: u64,
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    }
    let d: Delta = serde_json::from_slice(delta).ok()?;
    let skip: HashSet<String> = d.remove.iter().map(|r| r.trim().to_string()).collect();
    Some(crate::lists::export::v1_text(
        base, d.version, &skip, &d.add,
    ))
}

/// Stores a version durably (a rollback also removes the versions above
/// it, so a restart keeps it), swaps it in, and writes its snapshot in the
/// background.
async fn install(fleet: &Arc<Fleet>, list: List, body: Body, sha: &str) -> Result<(), String> {
    let (store, name, version, sha) = (
        fleet.store.clone(),
        list.name.clone(),
        list.version,
        sha.to_string(),
    );
    tokio::task::spawn_blocking(move || {
        match body {
            Body::Temp(tmp) => store.commit_temp(&tmp, &name, version, &sha)?,
            Body::Bytes(b) => store.write(&name, version, &b)?,
        }
        for v in store.versions(&name)? {
            if v > version {
                store.remove(&name, v)?;
            }
        }
        Ok::<(), std::io::Error>(())
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot store it in the state directory: {e}"))?;
    let list = Arc::new(list);
    fleet.shared.install(Arc::clone(&list));
    crate::engine::snapshot_in_background(fleet.store.clone(), list);
    Ok(())
}
