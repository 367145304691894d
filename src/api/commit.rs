//! The end of every list change (push, patch, rollback): refused, counted
//! with an audit line; or put in force through the ledger, then answered.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::context::{ApiMetrics, ApiState};
use super::reply::summary;
use crate::ledger::install::Failed;
use crate::ledger::{Body, Install, Installed, Refusal};
use crate::lists::List;
use crate::store::Event;

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

/// The one table from a [`Refusal`] to its HTTP answer: a version rule
/// `409 Conflict`, the shrink guard `422`; the body says why and, when it
/// names one, the version in force.
pub(super) fn refused(st: &ApiState, who: &str, name: &str, r: &Refusal) -> Response {
    let status = match r {
        Refusal::Stale { .. }
        | Refusal::SameVersion { .. }
        | Refusal::RolledBack { .. }
        | Refusal::StaleBase { .. }
        | Refusal::NothingEarlier { .. } => StatusCode::CONFLICT,
        Refusal::Shrink { .. } => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let mut body = json!({ "error": r.to_string() });
    if let Some(v) = r.current_version() {
        body["current_version"] = json!(v);
    }
    if let Refusal::Shrink {
        removed, entries, ..
    } = r
    {
        body["removed"] = json!(removed);
        body["entries"] = json!(entries);
        // What the removal would do to the calls, before deciding.
        if st.shared.runtime.load().settings.records.is_some() {
            body["whatif"] = json!(format!(
                "POST /v1/lists/{name}/whatif with the same body (callscreen lists whatif {name} FILE) shows which recorded calls it would let through"
            ));
        }
    }
    refusal(st, who, name, status, r.reason(), body)
}

/// One list change under way: who makes it, to which list, since when, and
/// whether it said it means to shrink the list.
pub(super) struct Change<'a> {
    pub who: &'a str,
    pub name: &'a str,
    pub t0: Instant,
    pub shrink_allowed: bool,
}

/// Puts a checked version in force through the ledger (stored durably,
/// recorded, swapped in, its snapshot made), logs the audit line and
/// answers. The caller holds the push lock and has decided the version.
pub(super) async fn commit(
    st: &Arc<ApiState>,
    change: &Change<'_>,
    list: List,
    body: Body,
    sha: &str,
    event: Event,
) -> Response {
    let Change {
        who,
        name,
        t0,
        shrink_allowed,
    } = *change;
    let done = st
        .ledger()
        .install(Install {
            list: Arc::new(list),
            body,
            sha256: sha.to_string(),
            snapshot: None,
            event,
            rollback_of: None,
            head_seq: None,
        })
        .await;
    let Installed {
        list,
        old_version,
        added,
        removed,
    } = match done {
        Ok(d) => d,
        Err(Failed::Refused(r)) => return refused(st, who, name, &r),
        Err(Failed::Store(e)) => {
            ApiMetrics::inc(&st.metrics.pushes_refused);
            tracing::error!(target: "audit", client = %who, list = %name, outcome = "refused", reason = "store", "list push not stored: {e}");
            return store_error(&e);
        }
    };
    let out = summary(&list, sha, "accepted");
    ApiMetrics::inc(&st.metrics.pushes_accepted);
    tracing::info!(
        target: "audit",
        client = %who,
        list = %name,
        old_version = old_version.unwrap_or(0),
        new_version = list.version,
        added,
        removed,
        duration_ms = t0.elapsed().as_millis() as u64,
        shrink_allowed,
        outcome = "accepted",
        "list push"
    );
    (StatusCode::OK, Json(out)).into_response()
}
