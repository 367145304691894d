//! What every handler answers with: a JSON error, a list's summary, the
//! errors of a refused list; and the small facts they are made of.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::clock::unix_now;
use crate::lists::{List, ListErrors};

pub(super) fn err(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

pub(super) fn errors_json(e: &ListErrors) -> Value {
    json!({
        "error": "the list was refused whole; nothing was applied",
        "total": e.total,
        "errors": e.errors.iter().map(|x| json!({"line": x.line, "entry": x.entry, "message": x.message})).collect::<Vec<_>>(),
    })
}

pub(super) fn summary(l: &List, sha: &str, outcome: &str) -> Value {
    let s = l.stats(unix_now());
    json!({
        "name": l.name, "version": l.version, "outcome": outcome,
        "entries": s.entries(), "numbers": s.numbers, "prefixes": s.prefixes, "ranges": s.ranges,
        "networks": s.networks, "expired": s.expired, "sha256": sha,
    })
}
