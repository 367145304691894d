//! The end of every list change (push, patch, rollback): refused, counted
//! with an audit line; or stored durably, then swapped in, then answered.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::context::{ApiMetrics, ApiState};
use super::reply::summary;
use crate::lists::{List, unix_now};

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
        .map_or((list.stats(unix_now()).entries(), 0), |old| {
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
    let before = st.shared.swap_list(list);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(before);
    });
}
