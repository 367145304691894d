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
use super::commit::{Change, Stored, allows_shrink, commit, refusal, shrink_refusal};
use super::context::{ApiMetrics, ApiState};
use super::reply::{err, errors_json, summary};
use crate::clock::unix_now;
use crate::config::Operation;
use crate::lists::ListKind;
use crate::lists::delta::{Delta, Patched};
use crate::store::sha256_hex;

pub async fn patch(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let t0 = Instant::now();
    let who = match authorise(&st, &headers, Operation::Patch, Some(&name))
        .and_then(|c| check_signature(c, &headers, &body).map(|_| c))
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
    if delta.base_version != current.version {
        return refuse(
            StatusCode::CONFLICT,
            "stale base",
            json!({"error": format!("base_version {} is not the current version {}", delta.base_version, current.version), "current_version": current.version}),
        );
    }
    if delta.version <= current.version {
        return refuse(
            StatusCode::CONFLICT,
            "stale version",
            json!({"error": format!("version {} is not above the current version {}", delta.version, current.version), "current_version": current.version}),
        );
    }
    let (guard, bloom) = (rt.settings.guard, spec.bloom);
    let d = delta.clone();
    let built = tokio::task::spawn_blocking(move || {
        crate::loader::background_priority();
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
    if let Some(body) = shrink_refusal(&rt.settings.guard, &current, &list, shrink_allowed) {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, "shrink", body);
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
        let whole = crate::fleet::Body::Bytes(text);
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
    let stored = Stored::Bytes(text);
    commit(&st, &change, list, stored, &sha).await
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
    let (Some(spec), Some(current)) = (
        rt.settings.lists.iter().find(|s| s.name == name).cloned(),
        rt.lists.get(&name).cloned(),
    ) else {
        return err(StatusCode::NOT_FOUND, format!("no list {name:?} is loaded"));
    };
    // The previous version: the newest stored one below the current, else the seed file.
    let stored = st.store.versions(&name).unwrap_or_default();
    let guard = rt.settings.guard;
    let mut previous = None;
    for v in stored.iter().copied().filter(|&v| v < current.version) {
        // A stored text that fails its checksum is passed over, as at start.
        if let Ok(body) = st.store.read(&name, v)
            && st.store.verify(&name, v, &body) != Some(false)
            && let Ok(l) = crate::loader::build_list(&spec, &body, guard)
        {
            previous = Some((l, sha256_hex(&body)));
            break;
        }
    }
    if previous.is_none() {
        previous = crate::loader::load_list(&spec, guard)
            .ok()
            .filter(|l| l.version < current.version)
            .map(|l| (l, st.file_facts(&spec.file).0.unwrap_or_default()));
    }
    let Some((previous, sha)) = previous else {
        return err(
            StatusCode::CONFLICT,
            format!(
                "no version of {name:?} below {} is kept to roll back to",
                current.version
            ),
        );
    };
    // Durable first: the current version leaves the store, so a restart keeps the rollback.
    if stored.contains(&current.version)
        && let Err(e) = st.store.remove(&name, current.version)
    {
        return err(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot update the state directory: {e}"),
        );
    }
    let out = summary(&previous, &sha, "rolled back");
    let (from, to) = (current.version, previous.version);
    st.shared.install(Arc::new(previous));
    ApiMetrics::inc(&st.metrics.pushes_accepted);
    tracing::info!(target: "audit", client = %who, list = %name, old_version = from, new_version = to, outcome = "rolled back", at = unix_now(), "list rollback");
    (StatusCode::OK, Json(out)).into_response()
}
