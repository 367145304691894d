//! List push and export. A push is parsed and checked whole before anything
//! changes; it is stored durably before it is acknowledged; then the new
//! list is built off the call path and swapped in with one atomic store.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::auth::client;
use super::{ApiMetrics, ApiState};
use crate::config::Operation;
use crate::lists::{List, ListErrors, ListKind};
use crate::server::Runtime;

pub(super) fn err(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

pub(super) fn sha256_hex(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

pub(super) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Authenticates and checks the scope; `Err` is the 401/403 answer.
/// When the client has a signing key, the body must carry its signature.
pub(super) fn check_signature(
    c: &crate::config::Client,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Box<Response>> {
    let Some(key) = c.sign_key else { return Ok(()) };
    let sig = headers
        .get("x-callscreen-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if super::sign::verify(&key, body, sig) {
        Ok(())
    } else {
        Err(Box::new(err(
            StatusCode::UNAUTHORIZED,
            format!(
                "client {:?} must sign what it pushes: X-Callscreen-Signature (Ed25519 over the exact body, hex) is missing or does not verify",
                c.name
            ),
        )))
    }
}

pub(super) fn authorise<'s>(
    st: &'s ApiState,
    headers: &HeaderMap,
    op: Operation,
    list: Option<&str>,
) -> Result<&'s crate::config::Client, Box<Response>> {
    let Some(c) = client(headers, &st.settings.clients) else {
        return Err(Box::new(err(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required (Authorization: Bearer …)",
        )));
    };
    if !c.may(op, list) {
        return Err(Box::new(err(
            StatusCode::FORBIDDEN,
            format!(
                "client {:?} may not do that to {:?}",
                c.name,
                list.unwrap_or("*")
            ),
        )));
    }
    Ok(c)
}

pub(super) fn errors_json(e: &ListErrors) -> Value {
    json!({
        "error": "the list was refused whole; nothing was applied",
        "total": e.total,
        "errors": e.errors.iter().map(|x| json!({"line": x.line, "entry": x.entry, "message": x.message})).collect::<Vec<_>>(),
    })
}

/// Answers a refused change: counted, and one audit line (client, list, reason).
pub(super) fn refusal(
    st: &ApiState,
    who: &str,
    name: &str,
    status: StatusCode,
    reason: &str,
    body: Value,
) -> Response {
    ApiMetrics::inc(&st.metrics.pushes_refused);
    tracing::warn!(target: "audit", client = %who, list = %name, outcome = "refused", reason, "list change refused");
    (status, Json(body)).into_response()
}

/// What a push's body became on its way in.
struct Received {
    /// The list, or every error found in it.
    list: Result<List, ListErrors>,
    sha256: String,
    /// The body, already written and fsynced, under a temporary name.
    tmp: std::path::PathBuf,
}

/// The blocking side of a push: each chunk is written to a temporary file,
/// hashed and (for the v1 text form) parsed as it arrives, so the body is
/// never held whole; other forms are collected and parsed at the end.
fn receive(
    spec: &crate::config::ListSpec,
    guard: crate::lists::Guard,
    text: bool,
    store: &crate::lists::store::Store,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
) -> std::io::Result<Received> {
    use std::io::Write;
    crate::engine::background_priority();
    let (mut file, tmp) = store.begin(&spec.name)?;
    let mut sha = Sha256::new();
    let mut parser = text.then(|| crate::lists::format::TextParser::new(spec.kind, guard));
    let mut whole = Vec::new();
    let written = (|| {
        while let Some(chunk) = rx.blocking_recv() {
            file.write_all(&chunk)?;
            sha.update(&chunk);
            match parser.as_mut() {
                Some(p) => p.feed(&chunk),
                None => whole.extend_from_slice(&chunk),
            }
        }
        file.sync_all()
    })();
    if let Err(e) = written {
        store.discard(&tmp);
        return Err(e);
    }
    let list = match parser {
        Some(p) => p
            .finish()
            .map(|parsed| List::from_parsed(parsed, spec.kind, spec.role, spec.bloom)),
        None => crate::engine::build_list(spec, &whole, guard),
    };
    Ok(Received {
        list,
        sha256: sha.finalize().iter().map(|x| format!("{x:02x}")).collect(),
        tmp,
    })
}

/// `PUT /v1/lists/{name}`: replace a list whole.
pub async fn replace(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
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
    let _one_at_a_time = st.push_lock.lock().await;
    // Stream the body to the receiving thread; a signed body is also kept
    // whole, as Ed25519 verifies the complete message.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let (store, spec2, guard, text) = (
        st.store.clone(),
        spec.clone(),
        rt.settings.guard,
        media == "text/plain" && spec.kind != ListKind::Companies,
    );
    let worker = tokio::task::spawn_blocking(move || receive(&spec2, guard, text, &store, rx));
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
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "store",
                json!({"error": format!("cannot store the list: {e}")}),
            );
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
    // The list in force now (the snapshot may have moved on while parsing).
    let current = st.shared.runtime.load_full();
    if let Some(old) = current.lists.get(&name).map(|l| l.version) {
        if list.version < old {
            discard();
            return refuse(
                StatusCode::CONFLICT,
                "stale version",
                json!({"error": format!("version {} is not above the current version {old}", list.version), "current_version": old}),
            );
        }
        if list.version == old {
            discard();
            let stored = st
                .store
                .file_of(&name, old)
                .or_else(|| Some(spec.file.clone()));
            if stored.and_then(|f| st.file_facts(&f).0).as_deref() == Some(sha.as_str()) {
                ApiMetrics::inc(&st.metrics.pushes_unchanged);
                tracing::info!(target: "audit", client = %who, list = %name, version = old, outcome = "unchanged", "list push: same version, same content");
                return (StatusCode::OK, Json(summary(&list, &sha, "unchanged"))).into_response();
            }
            return refuse(
                StatusCode::CONFLICT,
                "same version, other content",
                json!({"error": format!("version {old} is already in force with other content: push a higher version"), "current_version": old}),
            );
        }
    }
    drop((rt, current));
    commit(&st, &who, &name, list, Stored::Temp(received.tmp), &sha, t0).await
}

/// How a new version reaches the store.
pub(super) enum Stored {
    /// Bytes to write.
    Bytes(Vec<u8>),
    /// A temporary file already written and fsynced.
    Temp(std::path::PathBuf),
}

/// Stores a new version durably, swaps it in, logs the audit line and
/// answers. The caller holds the push lock and has checked the version.
pub(super) async fn commit(
    st: &Arc<ApiState>,
    who: &str,
    name: &str,
    list: List,
    stored: Stored,
    sha: &str,
    t0: Instant,
) -> Response {
    let refuse = |e: String| {
        ApiMetrics::inc(&st.metrics.pushes_refused);
        tracing::error!(target: "audit", client = %who, list = %name, outcome = "refused", reason = "store", "list push not stored: {e}");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": format!("cannot store the list: {e}")})),
        )
            .into_response()
    };
    // Durable before acknowledged.
    let (store, n2, v2) = (st.store.clone(), name.to_string(), list.version);
    match tokio::task::spawn_blocking(move || match stored {
        Stored::Bytes(b) => store.write(&n2, v2, &b),
        Stored::Temp(tmp) => store.commit_temp(&tmp, &n2, v2),
    })
    .await
    {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return refuse(e.to_string()),
        Err(e) => return refuse(e.to_string()),
    }
    let current = st.shared.runtime.load_full();
    let old_version = current.lists.get(name).map(|l| l.version);
    let (added, removed) = current
        .lists
        .get(name)
        .map_or((list.stats(now()).entries(), 0), |old| {
            old.diff_counts(&list)
        });
    let out = summary(&list, sha, "accepted");
    let new_version = list.version;
    let list = Arc::new(list);
    swap(st, Arc::clone(&list));
    // The binary snapshot for fast restarts: after the acknowledgement's
    // durability, at background priority.
    let (store, n3) = (st.store.clone(), name.to_string());
    tokio::task::spawn_blocking(move || {
        crate::engine::background_priority();
        if let Some(bytes) = crate::lists::snapshot::encode(&list)
            && let Err(e) = store.write_snapshot(&n3, list.version, &bytes)
        {
            tracing::warn!(list = %n3, "snapshot not written (the text version will be parsed at start): {e}");
        }
    });
    ApiMetrics::inc(&st.metrics.pushes_accepted);
    tracing::info!(
        target: "audit",
        client = %who,
        list = %name,
        old_version = old_version.unwrap_or(0),
        new_version,
        added,
        removed,
        duration_ms = t0.elapsed().as_millis() as u64,
        outcome = "accepted",
        "list push"
    );
    (StatusCode::OK, Json(out)).into_response()
}

/// Swaps a list in with one atomic store; calls in flight keep their
/// snapshot. The old snapshot is freed on the API's side, once calls that
/// may still hold it are long done; never on a call's thread.
pub(super) fn swap(st: &ApiState, list: Arc<List>) {
    let before = st.shared.runtime.load_full();
    st.shared.runtime.store(Arc::new(Runtime {
        settings: before.settings.clone(),
        lists: before.lists.with_list(list),
    }));
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(before);
    });
}

pub(super) fn summary(l: &List, sha: &str, outcome: &str) -> Value {
    let s = l.stats(now());
    json!({
        "name": l.name, "version": l.version, "outcome": outcome,
        "entries": s.entries(), "numbers": s.numbers, "prefixes": s.prefixes, "ranges": s.ranges,
        "networks": s.networks, "expired": s.expired, "sha256": sha,
    })
}

/// `GET /v1/lists`: every list with its role, version and sizes.
pub async fn list_all(State(st): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorise(&st, &headers, Operation::Read, None) {
        return *r;
    }
    let rt = st.shared.runtime.load_full();
    let st2 = Arc::clone(&st);
    // Hashing a big list file takes a while: off the async workers.
    let lists = tokio::task::spawn_blocking(move || {
        crate::engine::background_priority();
        let t = now();
        rt.lists
            .lists()
            .iter()
            .map(|l| {
                let s = l.stats(t);
                let (source, file) = match st2.store.file_of(&l.name, l.version) {
                    Some(f) => ("push", Some(f)),
                    None => ("seed", rt.settings.lists.iter().find(|x| x.name == l.name).map(|x| x.file.clone())),
                };
                let (sha, updated) = file.map(|f| st2.file_facts(&f)).unwrap_or_default();
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
    let out = super::change::v1_text(l, l.version, &Default::default(), &[]);
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], out).into_response()
}
