//! A change on a fleet node: checked here as on one node, then published
//! through the fleet (`crate::fleet`), which every node applies. Answered
//! once JetStream has stored it (and, within a minute, once this node
//! applied it too: `"applied_here"`).

use std::sync::Arc;

use axum::Json;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::commit::{self, Change, refusal};
use super::context::{ApiMetrics, ApiState};
use super::reply::summary;
use crate::fleet::{Body, Fleet, Publish, PublishError, Published};
use crate::lists::List;

/// The push's signature header, carried to every node.
pub(super) fn signature(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-callscreen-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn refused(st: &ApiState, change: &Change<'_>, e: &PublishError) -> Response {
    let (status, reason) = match e {
        PublishError::Refused(r) => return commit::refused(st, change.who, change.name, r),
        PublishError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "fleet unreachable"),
        PublishError::NoHead(_) => (StatusCode::CONFLICT, "nothing to roll back to"),
        PublishError::BodyNotStored(_) => (StatusCode::SERVICE_UNAVAILABLE, "body not stored"),
    };
    let body = json!({ "error": e.to_string() });
    refusal(st, change.who, change.name, status, reason, body)
}

/// Publishes a checked PUT or PATCH and answers.
#[allow(clippy::too_many_arguments)]
pub(super) async fn publish(
    st: &Arc<ApiState>,
    fleet: &Fleet,
    change: &Change<'_>,
    list: List,
    body: Body,
    sha: &str,
    content_type: &str,
    signature: Option<String>,
    patch: Option<(Vec<u8>, u64, Option<String>)>,
) -> Response {
    let mut out = summary(&list, sha, "accepted");
    let (version, old) = (
        list.version,
        st.shared
            .runtime
            .load()
            .lists
            .get(change.name)
            .map(|l| l.version),
    );
    // A whole number list travels with its snapshot too, made once here:
    // the other nodes load it instead of parsing the body.
    let (list, snapshot) = if patch.is_none() && list.kind() == crate::lists::ListKind::Numbers {
        match crate::loader::background(move || {
            let s = crate::lists::snapshot::encode(&list);
            (list, s)
        })
        .await
        {
            Ok(x) => x,
            Err(e) => return refused(st, change, &PublishError::Unavailable(e.to_string())),
        }
    } else {
        (list, None)
    };
    let p = Publish {
        snapshot,
        list,
        body,
        sha256: sha.to_string(),
        content_type: content_type.to_string(),
        signature: signature.clone(),
        client: change.who.to_string(),
        patch,
    };
    match fleet.publish(p).await {
        Ok(Published::Accepted {
            revision,
            applied_here,
        }) => {
            ApiMetrics::inc(&st.metrics.pushes_accepted);
            tracing::info!(
                target: "audit",
                client = %change.who,
                list = %change.name,
                old_version = old.unwrap_or(0),
                new_version = version,
                revision,
                applied_here,
                duration_ms = change.t0.elapsed().as_millis() as u64,
                shrink_allowed = change.shrink_allowed,
                outcome = "accepted",
                "list push published to the fleet"
            );
            out["revision"] = json!(revision);
            out["applied_here"] = json!(applied_here);
            (StatusCode::OK, Json(out)).into_response()
        }
        Ok(Published::Unchanged) => {
            ApiMetrics::inc(&st.metrics.pushes_unchanged);
            tracing::info!(target: "audit", client = %change.who, list = %change.name, version, outcome = "unchanged", "list push: the fleet has this version with this content");
            out["outcome"] = json!("unchanged");
            (StatusCode::OK, Json(out)).into_response()
        }
        Err(e) => refused(st, change, &e),
    }
}

/// Rolls a list back across the fleet and answers.
pub(super) async fn rollback(st: &Arc<ApiState>, fleet: &Fleet, change: &Change<'_>) -> Response {
    match fleet.rollback(change.name, change.who).await {
        Ok((revision, head)) => {
            ApiMetrics::inc(&st.metrics.pushes_accepted);
            tracing::info!(target: "audit", client = %change.who, list = %change.name, old_version = head.rollback_of.unwrap_or(0), new_version = head.version, revision, outcome = "rolled back", "list rollback published to the fleet");
            (
                StatusCode::OK,
                Json(json!({
                    "name": head.list, "version": head.version, "sha256": head.sha256,
                    "outcome": "rolled back", "revision": revision,
                    "rolled_back_from": head.rollback_of,
                })),
            )
                .into_response()
        }
        Err(e) => refused(st, change, &e),
    }
}
