//! The end of every list change (push, patch, rollback): refused, counted
//! with an audit line; or stored durably, then swapped in, then answered.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::context::{ApiMetrics, ApiState};
use super::reply::summary;
use crate::clock::unix_now;
use crate::lists::{Guard, List};

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

/// The answer to a push the store could not keep: `507 Insufficient
/// Storage` when the disk is full (nothing was left behind, so the next push
/// succeeds once space returns), else 500.
pub(super) fn store_error(e: &std::io::Error) -> Response {
    let (status, what) = if e.kind() == std::io::ErrorKind::StorageFull {
        (
            StatusCode::INSUFFICIENT_STORAGE,
            "the state directory's disk is full; the list in force stays, and nothing of this push was kept: free space and push again",
        )
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "cannot store the list")
    };
    (status, Json(json!({"error": format!("{what}: {e}")}))).into_response()
}

/// Whether the change says it means to shrink the list beyond the guard:
/// `?allow_shrink=true` or `X-Callscreen-Allow-Shrink: true`.
pub(super) fn allows_shrink(headers: &HeaderMap, query: Option<&str>) -> bool {
    let yes = |v: &str| matches!(v.trim(), "true" | "yes" | "1");
    query.is_some_and(|q| {
        q.split('&').any(|kv| {
            kv.split_once('=')
                .is_some_and(|(k, v)| k == "allow_shrink" && yes(v))
        })
    }) || headers
        .get("x-callscreen-allow-shrink")
        .and_then(|v| v.to_str().ok())
        .is_some_and(yes)
}

/// The refusal (422) of a replacement that removes more of a list than the
/// guard allows, unless the change says it means it.
pub(super) fn shrink_refusal(
    guard: &Guard,
    old: &List,
    new: &List,
    allowed: bool,
) -> Option<Value> {
    if allowed {
        return None;
    }
    let (_, removed) = old.diff_counts(new);
    let before = old.stats(unix_now()).entries();
    guard.shrinks_too_much(before, removed).then(|| {
        json!({
            "error": format!(
                "this version removes {removed} of the {before} entries of version {} (more than list_guard.max_shrink_percent = {}%); nothing was applied. If that is meant, push again with ?allow_shrink=true (callscreen lists push --allow-shrink)",
                old.version, guard.max_shrink_percent
            ),
            "removed": removed,
            "entries": before,
        })
    })
}

/// How a new version reaches the store.
pub(super) enum Stored {
    /// Bytes to write.
    Bytes(Vec<u8>),
    /// A temporary file already written and fsynced.
    Temp(std::path::PathBuf),
}

/// One list change under way: who makes it, to which list, since when, and
/// whether it said it means to shrink the list.
pub(super) struct Change<'a> {
    pub who: &'a str,
    pub name: &'a str,
    pub t0: Instant,
    pub shrink_allowed: bool,
}

/// Stores a new version durably, swaps it in, logs the audit line and
/// answers. The caller holds the push lock and has checked the version.
pub(super) async fn commit(
    st: &Arc<ApiState>,
    change: &Change<'_>,
    list: List,
    stored: Stored,
    sha: &str,
) -> Response {
    let Change {
        who,
        name,
        t0,
        shrink_allowed,
    } = *change;
    let refuse = |e: &std::io::Error| {
        ApiMetrics::inc(&st.metrics.pushes_refused);
        tracing::error!(target: "audit", client = %who, list = %name, outcome = "refused", reason = "store", "list push not stored: {e}");
        store_error(e)
    };
    // Durable before acknowledged; then swapped in, what changed counted
    // and the hits of removed entries forgotten, at background priority
    // off the runtime's threads (a merge of two ten-million-number lists,
    // a million hit slots freed: never a core taken from the call path).
    let (store, n2, v2, sha2) = (
        st.store.clone(),
        name.to_string(),
        list.version,
        sha.to_string(),
    );
    let (list, current) = (Arc::new(list), st.shared.runtime.load_full());
    let (l2, c2, shared) = (
        Arc::clone(&list),
        Arc::clone(&current),
        Arc::clone(&st.shared),
    );
    let diff = match tokio::task::spawn_blocking(move || {
        crate::loader::background_priority();
        match stored {
            Stored::Bytes(b) => store.write(&n2, v2, &b),
            Stored::Temp(tmp) => store.commit_temp(&tmp, &n2, v2, &sha2),
        }?;
        let (added, removed) = c2
            .lists
            .get(&n2)
            .map_or((l2.stats(unix_now()).entries(), Vec::new()), |old| {
                old.changes(&l2)
            });
        let count = removed.len();
        shared.install_changed(l2, removed);
        Ok((added, count))
    })
    .await
    {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => return refuse(&e),
        Err(e) => return refuse(&std::io::Error::other(e.to_string())),
    };
    let (added, removed) = diff;
    let old_version = current.lists.get(name).map(|l| l.version);
    drop(current);
    let out = summary(&list, sha, "accepted");
    let new_version = list.version;
    // The binary snapshot for fast restarts: after the acknowledgement's
    // durability, at background priority.
    crate::loader::snapshot_in_background(st.store.clone(), list);
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
        shrink_allowed,
        outcome = "accepted",
        "list push"
    );
    (StatusCode::OK, Json(out)).into_response()
}
