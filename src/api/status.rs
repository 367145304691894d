//! `GET /v1/status`: the daemon on one screen (version, uptime, mode,
//! listeners, lists, peers and what was shed, the fleet, reloads), operation
//! `read`; `POST /v1/reload`: the configuration and seed lists reloaded as
//! SIGHUP does, answered with what changed or with every error (file, line,
//! key), operation `reload`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::auth::authorise;
use super::context::ApiState;
use crate::clock::unix_now;
use crate::config::{Mode, Operation};

pub async fn status(State(st): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorise(&st, &headers, Operation::Read, None) {
        return *r;
    }
    let shared = &st.shared;
    let rt = shared.runtime.load_full();
    let now = unix_now();
    let lists: Vec<Value> = rt
        .lists
        .lists()
        .iter()
        .map(|l| {
            let s = l.stats(now);
            json!({"name": l.name, "role": l.role.name(), "version": l.version, "entries": s.entries(), "expired": s.expired})
        })
        .collect();
    let missing: Vec<&str> = rt
        .settings
        .lists
        .iter()
        .filter(|s| rt.lists.get(&s.name).is_none())
        .map(|s| s.name.as_str())
        .collect();
    let loads = shared.loads.load();
    let peers: Vec<Value> = loads
        .peers
        .iter()
        .map(|p| {
            let calls: u64 = p.calls.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            json!({"name": p.name, "calls": calls, "shed": p.shed.load(Ordering::Relaxed)})
        })
        .collect();
    let fleet = st.fleet.as_ref().map(|f| {
        json!({
            "node": f.settings.node,
            "connected": f.connected(),
            "error": f.last_error(),
        })
    });
    let m = &shared.metrics;
    let s = &rt.settings.sip;
    Json(json!({
        "version": crate::fleet::SOFTWARE,
        "uptime_secs": shared.started.elapsed().as_secs(),
        "ready": shared.ready.load(Ordering::Relaxed),
        "mode": match rt.settings.sip.mode { Mode::Redirect => "redirect", Mode::Proxy => "proxy" },
        "config": st.config.display().to_string(),
        "sip": {"udp": s.udp, "tcp": s.tcp, "tls": s.tls},
        "api": st.settings.listen,
        "lists": lists,
        "lists_missing": missing,
        "peers": peers,
        "fleet": fleet,
        "reloads": m.reloads.load(Ordering::Relaxed),
        "reload_failures": m.reload_failures.load(Ordering::Relaxed),
        "viewers": shared.calls.viewers(),
    }))
    .into_response()
}

pub async fn reload(State(st): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    let who = match authorise(&st, &headers, Operation::Reload, None) {
        Ok(c) => c.name,
        Err(r) => return *r,
    };
    match crate::reload::reload(&st.config, &st.shared, Some(&st.store)).await {
        Ok(report) => {
            tracing::info!(target: "audit", client = %who, outcome = "reloaded", lists = report.lists.len(), refused = report.refused.len(), "reload");
            (StatusCode::OK, Json(json!(report))).into_response()
        }
        Err(crate::reload::Failed::Load(e)) => {
            tracing::warn!(target: "audit", client = %who, outcome = "refused", "reload");
            let errors: Vec<String> = e.to_string().lines().map(str::to_string).collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": "the configuration or a list does not load: nothing changed, the configuration and lists in force stay",
                    "errors": errors,
                })),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}
