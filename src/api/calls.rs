//! `GET /v1/calls/stream`: the live call stream as JSON lines (one call a
//! line, the NOC line's fields), filtered by verdict, reason, peer, list and
//! caller prefix; scope `calls`. A viewer that reads too slowly loses the
//! oldest calls, never slows the call path: it is told (`{"lost": n}`) and
//! the loss is counted (`callscreen_stream_lost_total`). The first line says
//! the stream is open and with which filters.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::auth::authorise;
use super::context::ApiState;
use super::reply::err;
use crate::config::Operation;
use crate::state::CallEvent;

/// How long a stream stays silent before an empty line is sent: 20 s, or
/// a third of the API's idle timeout when that is shorter.
fn keepalive(idle: std::time::Duration) -> std::time::Duration {
    (idle / 3).min(std::time::Duration::from_secs(20))
}

/// What a viewer wants to see; every filter given must match.
#[derive(Debug, Default, serde::Serialize)]
pub struct Filters {
    pub verdict: Option<String>,
    /// A reason code as the NOC line writes it (`blocklist:scam-origins`),
    /// or a family (`blocklist`, `spoof`) matching every code it begins.
    pub reason: Option<String>,
    pub peer: Option<String>,
    pub list: Option<String>,
    /// Caller number digits (country code first; a leading `+` is allowed).
    pub prefix: Option<String>,
}

/// `%XX` and `+` decoded (a query's form encoding).
fn decode(s: &str) -> String {
    let (b, mut out, mut i) = (s.as_bytes(), Vec::new(), 0);
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(c) => {
                        out.push(c);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Filters {
    pub fn parse(query: Option<&str>) -> Result<Filters, String> {
        let mut f = Filters::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v);
            let slot = match k {
                "verdict" => &mut f.verdict,
                "reason" => &mut f.reason,
                "peer" => &mut f.peer,
                "list" => &mut f.list,
                "prefix" => {
                    let d = v.trim().trim_start_matches('+');
                    if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) || d.len() > 15 {
                        return Err(format!(
                            "prefix={v:?}: give the caller's first digits, country code first (+3120)"
                        ));
                    }
                    f.prefix = Some(d.to_string());
                    continue;
                }
                _ => {
                    return Err(format!(
                        "unknown filter {k:?}; the filters are verdict, reason, peer, list and prefix"
                    ));
                }
            };
            *slot = Some(v);
        }
        if let Some(v) = &f.verdict
            && !["allow", "tag", "anonymise", "warn", "reject"].contains(&v.as_str())
        {
            return Err(format!(
                "verdict={v:?}: one of allow, tag, anonymise, warn, reject"
            ));
        }
        Ok(f)
    }

    pub fn pass(&self, e: &CallEvent) -> bool {
        let reason_ok = |want: &str| {
            e.reasons.split(',').any(|r| {
                r == want
                    || r.strip_prefix(want)
                        .is_some_and(|rest| rest.starts_with(':'))
            })
        };
        self.verdict.as_deref().is_none_or(|v| e.verdict == v)
            && self.reason.as_deref().is_none_or(reason_ok)
            && self.peer.as_deref().is_none_or(|p| e.peer == p)
            && self.list.as_deref().is_none_or(|l| {
                e.lists
                    .split(',')
                    .any(|x| x.split_once('@').map_or(x, |(n, _)| n) == l)
            })
            && self
                .prefix
                .as_deref()
                .is_none_or(|p| e.caller_number.is_some_and(|n| n.starts_with(p.as_bytes())))
    }
}

fn line(v: &serde_json::Value) -> Bytes {
    let mut b = v.to_string().into_bytes();
    b.push(b'\n');
    Bytes::from(b)
}

pub async fn stream(
    State(st): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = authorise(&st, &headers, Operation::Calls, None) {
        return *r;
    }
    let filters = match Filters::parse(query.as_deref()) {
        Ok(f) => f,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let rx = st.shared.calls.subscribe();
    let hello = line(&json!({ "stream": "calls", "filters": filters }));
    let shared = Arc::clone(&st.shared);
    let keepalive = keepalive(st.settings.idle_timeout);
    let calls = futures_util::stream::unfold((rx, filters), move |(mut rx, filters)| {
        let shared = Arc::clone(&shared);
        async move {
            loop {
                // A quiet stream sends an empty line now and then: the
                // viewer knows it is alive, and the connection is never
                // idle to the API's idle timeout (JSON-lines readers skip
                // empty lines).
                let next = tokio::time::timeout(keepalive, rx.recv()).await;
                let Ok(next) = next else {
                    return Some((Ok(Bytes::from_static(b"\n")), (rx, filters)));
                };
                match next {
                    Ok(e) if filters.pass(&e) => {
                        let mut b = serde_json::to_vec(&*e).unwrap_or_default();
                        b.push(b'\n');
                        return Some((
                            Ok::<_, std::convert::Infallible>(Bytes::from(b)),
                            (rx, filters),
                        ));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        shared.calls.note_lost(n);
                        let b = line(&json!({ "lost": n }));
                        return Some((Ok(b), (rx, filters)));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    let body = futures_util::stream::once(async move { Ok(hello) }).chain(calls);
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(verdict: &'static str, reasons: &str, lists: &str, caller: u64) -> CallEvent {
        CallEvent {
            time_ms: 0,
            verdict,
            code: 608,
            reasons: reasons.into(),
            caller: String::new(),
            pai: "-".into(),
            callee: "+31104567890".into(),
            peer: "dom".into(),
            call_id: "c".into(),
            lists: lists.into(),
            latency_us: 1,
            direction: "terminating",
            verstat: None,
            reference: None,
            caller_number: crate::number::E164::from_u64(caller),
        }
    }

    #[test]
    fn filters_parse_and_match() {
        let f = Filters::parse(Some(
            "verdict=reject&reason=blocklist&prefix=%2B3120&list=scam-origins",
        ))
        .unwrap();
        let hit = event(
            "reject",
            "blocklist:scam-origins,invalid-cli",
            "scam-origins@3",
            31_201_234_567,
        );
        assert!(f.pass(&hit));
        assert!(!f.pass(&event(
            "tag",
            "blocklist:scam-origins",
            "scam-origins@3",
            31_201_234_567
        )));
        assert!(!f.pass(&event("reject", "withdrawn:acm", "acm@1", 31_201_234_567)));
        assert!(!f.pass(&event(
            "reject",
            "blocklist:scam-origins",
            "scam-origins@3",
            31_301_234_567
        )));
        // A family matches its codes, not a longer word.
        let f = Filters::parse(Some("reason=spoof")).unwrap();
        assert!(f.pass(&event("reject", "spoof:dno", "-", 31_201_234_567)));
        assert!(!f.pass(&event("reject", "spoofed", "-", 31_201_234_567)));
        assert!(Filters::parse(Some("verdict=maybe")).is_err());
        assert!(Filters::parse(Some("prefix=abc")).is_err());
        assert!(
            Filters::parse(Some("colour=red"))
                .unwrap_err()
                .contains("verdict, reason")
        );
    }
}
