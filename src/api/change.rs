//! `PATCH /v1/lists/{name}` (a delta against a named base version) and
//! `POST /v1/lists/{name}/rollback` (back to the previous version kept).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::{authorise, check_signature};
use super::commit::{Change, allows_shrink, commit, refusal, refused};
use super::context::{ApiMetrics, ApiState};
use super::reply::{err, errors_json, summary};
use crate::clock::unix_now;
use crate::config::Operation;
use crate::ledger::install::Failed;
use crate::ledger::{Body, Refusal, Restored, Text, check_base, check_shrink};
use crate::lists::ListKind;
use crate::lists::delta::{Delta, Patched};
use crate::store::Event;

pub async fn patch(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t0 = Instant::now();
    let who = match authorise(&st, &headers, Operation::Patch, Some(&name))
        .and_then(|c| check_signature(&c, &headers, &body).map(|_| c))
    {
        Ok(c) => c.name.clone(),
        Err(r) => {
            // Counted and logged like every refusal (the client is unknown here).
            ApiMetrics::inc(&st.metrics.pushes_refused);
            tracing::warn!(target: "audit", list = %name, outcome = "refused", reason = "unauthorised", "list change refused");
            return *r;
        }
    };
    let refuse = |status: StatusCode, reason: &str, body: serde_json::Value| {
        refusal(&st, &who, &name, status, reason, body)
    };
    let delta: Delta = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                json!({"error": format!("the delta must be JSON {{\"base_version\", \"version\", \"add\": [lines], \"remove\": [entries]}}: {e}")}),
            );
        }
    };
    let _one_at_a_time = st.push_lock.lock().await;
    let rt = st.shared.runtime.load_full();
    let Some(spec) = rt.settings.lists.iter().find(|s| s.name == name).cloned() else {
        return refuse(
            StatusCode::NOT_FOUND,
            "unknown list",
            json!({"error": format!("no list {name:?} is configured")}),
        );
    };
    let Some(current) = rt.lists.get(&name).cloned() else {
        return refuse(
            StatusCode::CONFLICT,
            "no base",
            json!({"error": "the list is not loaded: PUT it whole first"}),
        );
    };
    if current.kind() == ListKind::Companies {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            "kind",
            json!({"error": "a companies list is replaced whole (PUT), not patched"}),
        );
    }
    if let Err(r) = check_base(delta.base_version, current.version) {
        return refused(&st, &who, &name, &r);
    }
    if delta.version <= current.version {
        let r = Refusal::Stale {
            version: delta.version,
            current: current.version,
        };
        return refused(&st, &who, &name, &r);
    }
    let (guard, bloom) = (spec.guard(rt.settings.guard), spec.bloom);
    let d = delta.clone();
    let built = crate::loader::background(move || {
        crate::lists::delta::apply(&current, &d, bloom, guard).map(|p| (p, current))
    })
    .await;
    let (
        Patched {
            list,
            text,
            sha256: sha,
        },
        current,
    ) = match built {
        Ok(Ok(x)) => x,
        Ok(Err(e)) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, "invalid", errors_json(&e)),
        Err(e) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                json!({"error": e.to_string()}),
            );
        }
    };
    let shrink_allowed = allows_shrink(&headers, query.as_deref());
    if let Err(r) = check_shrink(
        &rt.settings.guard,
        &current,
        &list,
        shrink_allowed,
        unix_now(),
    ) {
        return refused(&st, &who, &name, &r);
    }
    // A rolled-back number comes back only with the content it had.
    if st.fleet.is_none()
        && let Err(r) = st.ledger().decide_here(&name, list.version, &sha, None)
    {
        return refused(&st, &who, &name, &r);
    }
    let change = Change {
        who: &who,
        name: &name,
        t0,
        shrink_allowed,
    };
    if let Some(fleet) = &st.fleet {
        // The delta travels as it was sent (and signed); the whole version
        // too, for nodes not at its base.
        let patch = Some((
            body.to_vec(),
            delta.base_version,
            super::fleet::signature(&headers),
        ));
        let whole = Body::Delta {
            delta: body.to_vec(),
            text: Text::Make(text, current),
        };
        return super::fleet::publish(
            &st,
            fleet,
            &change,
            list,
            whole,
            &sha,
            "text/plain",
            None,
            patch,
        )
        .await;
    }
    // Stored as its delta before it is put in force; its text after.
    let body = Body::Delta {
        delta: body.to_vec(),
        text: Text::Make(text, current),
    };
    commit(&st, &change, list, body, &sha, Event::Patch).await
}

pub async fn rollback(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let who = match authorise(&st, &headers, Operation::Rollback, Some(&name)) {
        Ok(c) => c.name.clone(),
        Err(r) => return *r,
    };
    let _one_at_a_time = st.push_lock.lock().await;
    if let Some(fleet) = &st.fleet {
        let change = Change {
            who: &who,
            name: &name,
            t0: Instant::now(),
            shrink_allowed: true,
        };
        return super::fleet::rollback(&st, fleet, &change).await;
    }
    let rt = st.shared.runtime.load_full();
    let Some(spec) = rt.settings.lists.iter().find(|s| s.name == name).cloned() else {
        return err(
            StatusCode::NOT_FOUND,
            format!("no list {name:?} is configured"),
        );
    };
    if rt.lists.get(&name).is_none() {
        return err(StatusCode::NOT_FOUND, format!("no list {name:?} is loaded"));
    }
    let guard = spec.guard(rt.settings.guard);
    drop(rt);
    let Restored {
        installed,
        sha256,
        from,
    } = match st.ledger().rollback(&spec, guard).await {
        Ok(r) => r,
        Err(Failed::Refused(r)) => return refused(&st, &who, &name, &r),
        Err(Failed::Store(e)) => {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot update the state directory: {e}"),
            );
        }
    };
    let out = summary(&installed.list, &sha256, "rolled back");
    ApiMetrics::inc(&st.metrics.pushes_accepted);
    tracing::info!(target: "audit", client = %who, list = %name, old_version = from, new_version = installed.list.version, added = installed.added, removed = installed.removed, outcome = "rolled back", at = unix_now(), "list rollback");
    (StatusCode::OK, Json(out)).into_response()
}
