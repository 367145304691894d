//! Past calls (`[records]`), scope `records`: `GET /v1/calls` finds calls
//! by reference, Call-ID, caller (From or PAI), callee or peer within a
//! time window (paged: `limit`, `offset`; `format=csv`), and
//! `POST /v1/lists/{name}/whatif` decides the window's calls again with
//! the body (a push's body) in place of the list's version in force,
//! installing nothing.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::authorise;
use super::context::ApiState;
use super::reply::{err, errors_json};
use crate::config::{Operation, RecordsSettings};
use crate::records::query::{CSV_HEADER, csv_line, run, search, when};
use crate::records::whatif;

fn settings(st: &ApiState) -> Result<RecordsSettings, Box<Response>> {
    st.shared
        .runtime
        .load()
        .settings
        .records
        .clone()
        .ok_or_else(|| {
            Box::new(err(
                StatusCode::NOT_FOUND,
                "call records are off on this node: configure [records] (see the example configuration)",
            ))
        })
}

fn now_ms() -> u64 {
    crate::clock::unix_now_ms()
}

/// `GET /v1/calls`.
pub async fn find(
    State(st): State<Arc<ApiState>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorise(&st, &headers, Operation::Records, None) {
        return *r;
    }
    let s = match search(q.as_deref(), now_ms()) {
        Ok(s) => s,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let rs = match settings(&st) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if s.fleet {
        return fleet_find(&st, &s).await;
    }
    let csv = s.csv;
    let (limit, offset) = (s.limit, s.offset);
    let found = crate::loader::background(move || run(&rs.dir, &s)).await;
    let found = match found {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => return err(StatusCode::INTERNAL_SERVER_ERROR, e),
        Err(e) => return err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if csv {
        let mut out = format!("{CSV_HEADER}\n");
        for r in &found.records {
            out.push_str(&csv_line(r));
            out.push('\n');
        }
        return ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    }
    let next = found.more.then_some(offset + limit);
    Json(json!({
        "calls": found.records,
        "more": found.more,
        "next_offset": next,
        "row_groups_read": found.groups_read,
    }))
    .into_response()
}

/// `GET /v1/calls?fleet=1`: every node's calls, merged by time, each
/// with the node it was recorded on; the nodes that did not answer named.
async fn fleet_find(st: &ApiState, s: &crate::records::query::Search) -> Response {
    let Some(f) = &st.fleet else {
        return err(
            StatusCode::BAD_REQUEST,
            "fleet=1: this node is not in a fleet ([fleet] is not configured)",
        );
    };
    let found = match f.calls(s).await {
        Ok(c) => c,
        Err(e) => return err(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    if s.csv {
        let mut out = format!("node,{CSV_HEADER}\n");
        for (node, r) in &found.calls {
            out.push_str(&format!("{node},{}\n", csv_line(r)));
        }
        return ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    }
    let calls: Vec<serde_json::Value> = found
        .calls
        .iter()
        .map(|(node, r)| {
            let mut v = serde_json::to_value(r).unwrap_or_default();
            v["node"] = json!(node);
            v
        })
        .collect();
    Json(json!({
        "calls": calls,
        "more": found.more,
        "next_offset": found.more.then_some(s.offset + s.limit),
        "fleet": {
            "answered": found.answered.iter().map(|(n, e)| json!({"node": n, "error": e})).collect::<Vec<_>>(),
            "missing": found.missing,
        },
    }))
    .into_response()
}

/// `POST /v1/lists/{name}/whatif?since=24h[&until=…]`.
pub async fn whatif(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorise(&st, &headers, Operation::Records, Some(&name)) {
        return *r;
    }
    let now = now_ms();
    let (mut since, mut until) = (now.saturating_sub(86_400_000), now);
    for pair in q
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let t = match k {
            "since" | "until" => when(v, now),
            _ => {
                return err(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "unknown parameter {k:?}; the parameters are since (default 24h) and until"
                    ),
                );
            }
        };
        let Some(t) = t else {
            return err(
                StatusCode::BAD_REQUEST,
                format!("{k}={v:?}: unix seconds, YYYY-MM-DD, or an age such as 90m, 24h or 7d"),
            );
        };
        if k == "since" {
            since = t;
        } else {
            until = t;
        }
    }
    let rs = match settings(&st) {
        Ok(r) => r,
        Err(r) => return *r,
    };
    if body.len() > st.settings.max_body_bytes {
        return err(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than max_body_bytes ({})",
                st.settings.max_body_bytes
            ),
        );
    }
    let rt = st.shared.runtime.load_full();
    let Some(spec) = rt.settings.lists.iter().find(|s| s.name == name).cloned() else {
        return err(
            StatusCode::NOT_FOUND,
            format!("no list {name:?} is configured"),
        );
    };
    let job = crate::loader::background(move || {
        let cand = match crate::loader::build_list(&spec, &body, rt.settings.guard) {
            Ok(l) => l,
            Err(e) => return Err((StatusCode::UNPROCESSABLE_ENTITY, errors_json(&e))),
        };
        if cand.name != spec.name {
            return Err((
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": format!("the body names list {:?}, the URL {:?}", cand.name, spec.name)}),
            ));
        }
        let current = rt.lists.get(&spec.name).map(|l| l.version);
        let version = cand.version;
        let set = rt.lists.with_list(Arc::new(cand));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        whatif::whatif(&rs.dir, &rt.settings.policy, &rt.lists, &set, since, until, threads)
            .map(|r| (r, current, version))
            .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": e })))
    })
    .await;
    match job {
        Ok(Ok((report, current, version))) => Json(json!({
            "list": name,
            "current_version": current,
            "candidate_version": version,
            "installed": false,
            "report": report,
        }))
        .into_response(),
        Ok(Err((code, body))) => (code, Json(body)).into_response(),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
