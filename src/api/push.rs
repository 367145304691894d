//! List push and export. A push is parsed and checked whole before anything
//! changes; it is stored durably before it is acknowledged; then the new
//! list is built off the call path and swapped in with one atomic store.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::{authorise, check_signature};
use super::commit::{Change, allows_shrink, commit, refusal, refused, store_error};
use super::context::{ApiMetrics, ApiState};
use super::reply::{err, errors_json, summary};
use crate::clock::unix_now;
use crate::config::Operation;
use crate::ledger::{self, Accepted, check_shrink};
use crate::lists::{List, ListErrors, ListKind};
use crate::store::Event;

/// What a push's body became on its way in.
struct Received {
    /// The list, or every error found in it.
    list: Result<List, ListErrors>,
    sha256: String,
    /// The body, already written and fsynced, under a temporary name.
    tmp: std::path::PathBuf,
}

/// The blocking side of a push: each chunk is written to a temporary file
/// and hashed on one thread while (for the v1 text form) it is parsed on
/// this one, as it arrives, so the body is never held whole and the two
/// overlap on two cores; other forms are collected and parsed at the end.
fn receive(
    spec: &crate::config::ListSpec,
    guard: crate::lists::Guard,
    text: bool,
    store: &crate::store::Store,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> std::io::Result<Received> {
    use std::io::Write;
    let (mut file, tmp) = store.begin(&spec.name)?;
    let (to_writer, chunks) = std::sync::mpsc::sync_channel::<Bytes>(16);
    let writer = std::thread::Builder::new()
        .name("push-writer".into())
        .spawn(move || -> std::io::Result<String> {
            crate::loader::background_priority();
            let mut sha = Sha256::new();
            for chunk in chunks {
                file.write_all(&chunk)?;
                sha.update(&chunk);
            }
            file.sync_all()?;
            Ok(sha.finalize().iter().map(|x| format!("{x:02x}")).collect())
        });
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            store.discard(&tmp);
            return Err(e);
        }
    };
    let mut parser = text.then(|| crate::lists::format::TextParser::new(spec.kind, guard));
    let mut whole = Vec::new();
    while let Some(chunk) = rx.blocking_recv() {
        // A writer that stopped (a full disk) says why when joined.
        if to_writer.send(chunk.clone()).is_err() {
            break;
        }
        match parser.as_mut() {
            Some(p) => p.feed(&chunk),
            None => whole.extend_from_slice(&chunk),
        }
    }
    drop(to_writer);
    let sha256 = match writer.join() {
        Ok(Ok(sha)) => sha,
        Ok(Err(e)) => {
            store.discard(&tmp);
            return Err(e);
        }
        Err(_) => {
            store.discard(&tmp);
            return Err(std::io::Error::other("the push's writer thread failed"));
        }
    };
    let list = match parser {
        Some(p) => p
            .finish()
            .map(|parsed| List::from_parsed(parsed, spec.kind, spec.role, spec.bloom)),
        None => crate::loader::build_list(spec, &whole, guard),
    };
    Ok(Received { list, sha256, tmp })
}

/// The free space a push of `n` bytes needs in the state directory: its
/// text and its snapshot (at most the text's size), and 1 MiB to spare.
fn room_for(n: u64) -> u64 {
    n.saturating_mul(2).saturating_add(1 << 20)
}

/// `PUT /v1/lists/{name}`: replace a list whole.
pub async fn replace(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let t0 = Instant::now();
    let client = match authorise(&st, &headers, Operation::Replace, Some(&name)) {
        Ok(c) => c.clone(),
        Err(r) => {
            ApiMetrics::inc(&st.metrics.pushes_refused);
            tracing::warn!(target: "audit", list = %name, outcome = "refused", reason = "unauthorised", "list change refused");
            return *r;
        }
    };
    let who = client.name.clone();
    let refuse = |status: StatusCode, reason: &str, body: Value| {
        refusal(&st, &who, &name, status, reason, body)
    };
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(
        media.as_str(),
        "text/plain" | "application/json" | "application/toml"
    ) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content type",
            json!({"error": format!("content type {ctype:?}: send text/plain (v1 list), application/json or application/toml (companies)")}),
        );
    }
    let max = st.settings.max_body_bytes;
    let too_large = || json!({"error": format!("the body is larger than max_body_bytes ({max})")});
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "too large", too_large());
    }
    let rt = st.shared.runtime.load_full();
    let Some(spec) = rt.settings.lists.iter().find(|s| s.name == name).cloned() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "unknown list",
            json!({"error": format!("no list {name:?} is configured")}),
        );
    };
    // Room for the text and its snapshot, checked before anything is written.
    if let (Some(n), Some(free)) = (declared, st.store.free_bytes())
        && free < room_for(n)
    {
        let need = room_for(n);
        return refuse(
            StatusCode::INSUFFICIENT_STORAGE,
            "disk full",
            json!({"error": format!("the state directory has {free} bytes free; a push of {n} bytes needs {need} (twice the body, for its text and its snapshot, and 1 MiB): free {} bytes more and push again; the list in force stays", need - free)}),
        );
    }
    let _one_at_a_time = st.push_lock.lock().await;
    // Stream the body to the receiving thread; a signed body is also kept
    // whole, as Ed25519 verifies the complete message.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let (store, spec2, guard, text) = (
        st.store.clone(),
        spec.clone(),
        spec.guard(rt.settings.guard),
        media == "text/plain" && spec.kind != ListKind::Companies,
    );
    let worker = crate::loader::background(move || receive(&spec2, guard, text, &store, rx));
    let mut stream = body.into_data_stream();
    let (mut total, mut over, mut signed, mut broken) = (0usize, false, Vec::new(), None);
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                broken = Some(e.to_string());
                break;
            }
        };
        total += chunk.len();
        if total > max {
            over = true;
            break;
        }
        if client.sign_key.is_some() {
            signed.extend_from_slice(&chunk);
        }
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
    drop(tx);
    let received = match worker.await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            ApiMetrics::inc(&st.metrics.pushes_refused);
            tracing::error!(target: "audit", client = %who, list = %name, outcome = "refused", reason = "store", "list push not stored: {e}");
            return store_error(&e);
        }
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                json!({"error": e.to_string()}),
            );
        }
    };
    let discard = || st.store.discard(&received.tmp);
    if over {
        discard();
        return refuse(StatusCode::PAYLOAD_TOO_LARGE, "too large", too_large());
    }
    if let Some(e) = broken {
        discard();
        return refuse(
            StatusCode::BAD_REQUEST,
            "body",
            json!({"error": format!("the body did not arrive whole: {e}")}),
        );
    }
    if let Err(r) = check_signature(&client, &headers, &signed) {
        discard();
        ApiMetrics::inc(&st.metrics.pushes_refused);
        tracing::warn!(target: "audit", client = %who, list = %name, outcome = "refused", reason = "signature", "list change refused");
        return *r;
    }
    let list = match received.list {
        Ok(l) => l,
        Err(e) => {
            discard();
            return refuse(StatusCode::UNPROCESSABLE_ENTITY, "invalid", errors_json(&e));
        }
    };
    if list.name != name {
        discard();
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
            json!({"error": format!("the body names list {:?}, the URL {name:?}", list.name)}),
        );
    }
    let sha = received.sha256.clone();
    // The list in force now (the snapshot may have moved on while parsing),
    // and the ledger's rules. In a fleet the head decides, not this node.
    let current = st.shared.runtime.load_full();
    if st.fleet.is_none() {
        let old = current.lists.get(&name).map(|l| l.version);
        // The text in force is hashed only when it could be the same.
        let served_sha = old.filter(|&o| o == list.version).and_then(|o| {
            let f = st
                .store
                .file_of(&name, o)
                .unwrap_or_else(|| spec.file.clone());
            st.file_facts(&f).0
        });
        match st
            .ledger()
            .decide_here(&name, list.version, &sha, served_sha.as_deref())
        {
            Ok(Accepted::New) => {}
            Ok(Accepted::Unchanged) => {
                discard();
                ApiMetrics::inc(&st.metrics.pushes_unchanged);
                tracing::info!(target: "audit", client = %who, list = %name, version = list.version, outcome = "unchanged", "list push: same version, same content");
                return (StatusCode::OK, Json(summary(&list, &sha, "unchanged"))).into_response();
            }
            Err(r) => {
                discard();
                return refused(&st, &who, &name, &r);
            }
        }
    }
    let shrink_allowed = allows_shrink(&headers, query.as_deref());
    if let Some(old) = current.lists.get(&name)
        && let Err(r) = check_shrink(&rt.settings.guard, old, &list, shrink_allowed, unix_now())
    {
        discard();
        return refused(&st, &who, &name, &r);
    }
    drop((rt, current));
    let change = Change {
        who: &who,
        name: &name,
        t0,
        shrink_allowed,
    };
    if let Some(fleet) = &st.fleet {
        let body = ledger::Body::Temp(received.tmp);
        let sig = super::fleet::signature(&headers);
        return super::fleet::publish(&st, fleet, &change, list, body, &sha, &media, sig, None)
            .await;
    }
    commit(
        &st,
        &change,
        list,
        ledger::Body::Temp(received.tmp),
        &sha,
        Event::Push,
    )
    .await
}

/// `GET /v1/lists`: every list with its role, version and sizes.
pub async fn list_all(State(st): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorise(&st, &headers, Operation::Read, None) {
        return *r;
    }
    let rt = st.shared.runtime.load_full();
    let st2 = Arc::clone(&st);
    // Hashing a big list file takes a while: off the async workers.
    let lists = crate::loader::background(move || {
        let t = unix_now();
        rt.lists
            .lists()
            .iter()
            .map(|l| {
                let s = l.stats(t);
                // A fleet node knows the sha256 of what it applied from the
                // head, before the state directory has the file.
                let applied = st2.fleet.as_ref().and_then(|f| f.applied_sha(&l.name, l.version));
                // A version stored before its text (a patch's delta, a
                // snapshot) has its sha256 recorded.
                let recorded = st2.store.stored_at(&l.name, l.version);
                let (source, file) = match st2.store.file_of(&l.name, l.version) {
                    Some(f) => ("push", Some(f)),
                    None if applied.is_some() || recorded.is_some() => ("push", None),
                    None => ("seed", rt.settings.lists.iter().find(|x| x.name == l.name).map(|x| x.file.clone())),
                };
                let (sha, updated) = file.map(|f| st2.file_facts(&f)).unwrap_or_default();
                let sha = applied.or(sha).or_else(|| st2.store.sha256_of(&l.name, l.version));
                let updated = updated.or_else(|| recorded.map(|f| st2.file_facts(&f).1).unwrap_or_default());
                json!({
                    "name": l.name, "kind": l.kind().name(), "role": l.role.name(), "version": l.version,
                    "entries": s.entries(), "expired": s.expired, "source": source,
                    "sha256": sha, "updated_at": updated.map(crate::lists::format_expiry),
                    "age_secs": updated.map(|u| t.saturating_sub(u)),
                })
            })
            .collect::<Vec<Value>>()
    })
    .await
    .unwrap_or_default();
    Json(json!({ "lists": lists })).into_response()
}

/// `GET /v1/lists/{name}`: the list in the v1 text format.
pub async fn export(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorise(&st, &headers, Operation::Read, Some(&name)) {
        return *r;
    }
    let rt = st.shared.runtime.load();
    let Some(l) = rt.lists.get(&name) else {
        return err(StatusCode::NOT_FOUND, format!("no list {name:?}"));
    };
    if l.kind() == ListKind::Companies {
        // Companies are exported as they were stored.
        let body = st.store.read(&name, l.version).ok().or_else(|| {
            rt.settings
                .lists
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| std::fs::read(&s.file).ok())
        });
        return match body {
            Some(b) => ([(header::CONTENT_TYPE, "application/toml")], b).into_response(),
            None => err(StatusCode::NOT_FOUND, "the companies file is not available"),
        };
    }
    let out = crate::lists::delta::v1_text(l, l.version, &Default::default(), &[]);
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], out).into_response()
}
