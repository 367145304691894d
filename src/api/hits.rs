//! `GET /v1/lists/{name}/hits`: how many calls each entry of a list matched
//! (by verdict, first and last time), the busiest first; `top` (100),
//! `since` (unix seconds or `YYYY-MM-DD`: entries last hit since then),
//! `format=csv` (else JSON), `fleet=1` (every node's counts summed, the
//! nodes that answered and those that did not named). Scope `hits`. The counts come from the fixed
//! table the call path writes (`state::hits`); the report walks the list's
//! entries off the async workers.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::authorise;
use super::context::ApiState;
use super::reply::err;
use crate::config::Operation;
use crate::lists::format_expiry;
use crate::state::hits::VERDICTS;

struct Query {
    top: usize,
    since: u64,
    csv: bool,
    /// Summed over every node of the fleet.
    fleet: bool,
}

fn query(q: Option<&str>) -> Result<Query, String> {
    let mut out = Query {
        top: 100,
        since: 0,
        csv: false,
        fleet: false,
    };
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "top" => {
                out.top = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("top={v:?}: a number of entries, 1 or more"))?;
            }
            "since" => {
                out.since = v
                    .parse()
                    .ok()
                    .or_else(|| crate::lists::parse_expiry(v).map(|t| t.saturating_sub(86_400)))
                    .ok_or_else(|| format!("since={v:?}: unix seconds or YYYY-MM-DD"))?;
            }
            "fleet" => match v {
                "1" | "true" => out.fleet = true,
                "0" | "false" => out.fleet = false,
                _ => return Err(format!("fleet={v:?}: 1 (every node's counts summed) or 0")),
            },
            "format" => match v {
                "csv" => out.csv = true,
                "json" => out.csv = false,
                _ => return Err(format!("format={v:?}: csv or json")),
            },
            _ => {
                return Err(format!(
                    "unknown parameter {k:?}; the parameters are top, since, format and fleet"
                ));
            }
        }
    }
    Ok(out)
}

pub async fn hits(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorise(&st, &headers, Operation::Hits, Some(&name)) {
        return *r;
    }
    let q = match query(q.as_deref()) {
        Ok(q) => q,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let Some(list) = st.shared.runtime.load().lists.get(&name).cloned() else {
        return err(StatusCode::NOT_FOUND, format!("no list {name:?} is loaded"));
    };
    let mut nodes = None;
    let (mut rows, version) = if q.fleet {
        let Some(f) = &st.fleet else {
            return err(
                StatusCode::BAD_REQUEST,
                "fleet=1: this node is not in a fleet ([fleet] is not configured)",
            );
        };
        match f.hits(&name, q.since).await {
            Ok(h) => {
                nodes = Some(json!({
                    "answered": h.answered.iter().map(|(n, v)| json!({"node": n, "version": v})).collect::<Vec<_>>(),
                    "missing": h.missing,
                }));
                (h.entries, list.version)
            }
            Err(e) => return err(StatusCode::SERVICE_UNAVAILABLE, e),
        }
    } else {
        let hits = Arc::clone(&st.shared.hits);
        let own = crate::loader::background(move || {
            let rows: Vec<_> = list
                .entries()
                .filter_map(|(t, _)| hits.get(&list.name, &t).map(|c| (t.to_string(), c)))
                .filter(|(_, c)| u64::from(c.last) >= q.since)
                .collect();
            (rows, list.version)
        })
        .await;
        let Ok(own) = own else {
            return err(StatusCode::INTERNAL_SERVER_ERROR, "the report failed");
        };
        own
    };
    rows.sort_by(|a, b| {
        b.1.total()
            .cmp(&a.1.total())
            .then(b.1.last.cmp(&a.1.last))
            .then_with(|| a.0.cmp(&b.0))
    });
    rows.truncate(q.top);
    let when = |t: u32| format_expiry(u64::from(t));
    if q.csv {
        let mut out = format!("entry,hits,{},first,last\n", VERDICTS.join(","));
        for (t, c) in &rows {
            let by: Vec<String> = c.by_verdict.iter().map(u32::to_string).collect();
            out.push_str(&format!(
                "{t},{},{},{},{}\n",
                c.total(),
                by.join(","),
                when(c.first),
                when(c.last)
            ));
        }
        return ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response();
    }
    let entries: Vec<_> = rows
        .iter()
        .map(|(t, c)| {
            let by: serde_json::Map<String, serde_json::Value> = VERDICTS
                .iter()
                .zip(c.by_verdict)
                .map(|(v, n)| (v.to_string(), json!(n)))
                .collect();
            json!({
                "entry": t.to_string(), "hits": c.total(), "by_verdict": by,
                "first": when(c.first), "last": when(c.last),
            })
        })
        .collect();
    let h = &st.shared.hits;
    let mut body = json!({
        "list": name, "version": version, "entries": entries,
        "table": {
            "slots": h.capacity(), "used": h.used(),
            "overflow": h.overflow.load(std::sync::atomic::Ordering::Relaxed),
        },
    });
    if let Some(n) = nodes {
        body["fleet"] = n;
    }
    Json(body).into_response()
}
