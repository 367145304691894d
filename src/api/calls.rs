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
    /// The filters of a query, each checked against what can ever match
    /// here (`settings`: its peers, lists and the closed set of reason
    /// codes): a filter that never could is refused with what would.
    pub fn parse(
        query: Option<&str>,
        settings: &crate::config::Settings,
    ) -> Result<Filters, String> {
        let f = Filters::parse_query(query)?;
        f.check(settings)?;
        Ok(f)
    }

    fn check(&self, settings: &crate::config::Settings) -> Result<(), String> {
        let peers = &settings.policy.peers;
        if let Some(p) = &self.peer
            && !peers.iter().any(|x| &x.name == p)
        {
            let names: Vec<&str> = peers.iter().map(|x| x.name.as_str()).collect();
            let trunk_of = settings
                .peers
                .iter()
                .position(|m| m.trunk_ids.iter().any(|t| t == p))
                .and_then(|i| peers.get(i));
            return Err(match trunk_of {
                Some(peer) => format!(
                    "peer={p:?} is a trunk id; calls on it are from peer {:?} (peer={})",
                    peer.name, peer.name
                ),
                None => format!(
                    "peer={p:?}: no such peer; the peers are: {}",
                    names.join(", ")
                ),
            });
        }
        let lists: Vec<&str> = settings.lists.iter().map(|l| l.name.as_str()).collect();
        if let Some(l) = &self.list
            && !lists.contains(&l.as_str())
        {
            return Err(format!(
                "list={l:?}: no such list; the lists are: {}",
                lists.join(", ")
            ));
        }
        if let Some(r) = &self.reason
            && !known_reason(r, &lists)
        {
            return Err(format!(
                "reason={r:?}: no such reason code or family; the codes are in the README's \"Reason codes\" (blocklist, blocklist:LIST, spoof, spoof:dno, stir, emergency, …)"
            ));
        }
        Ok(())
    }

    fn parse_query(query: Option<&str>) -> Result<Filters, String> {
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

/// Whether a reason filter can match: a code of the closed set, a family
/// (`spoof`, `stir`, the part before a code's `:`), or a list code with a
/// list configured here (`blocklist:scam-origins`).
fn known_reason(r: &str, lists: &[&str]) -> bool {
    crate::screen::ReasonKind::ALL.iter().any(|k| {
        let c = k.code();
        c == r
            || c.strip_prefix(r).is_some_and(|rest| rest.starts_with(':'))
            || (k.names_list()
                && r.strip_prefix(c)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .is_some_and(|name| lists.contains(&name)))
    })
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
    let filters = match Filters::parse(query.as_deref(), &st.shared.runtime.load().settings) {
        Ok(f) => f,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    if st.shared.calls.viewers() >= st.settings.max_viewers {
        return err(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{} viewers of the call stream already ([api] max_viewers); try again later",
                st.settings.max_viewers
            ),
        );
    }
    let viewer = Viewer {
        rx: st.shared.calls.subscribe(),
        closing: st.shared.calls.closing(),
        filters,
        shared: Arc::clone(&st.shared),
        window: (tokio::time::Instant::now(), 0),
        lost: 0,
        done: false,
    };
    let hello = line(&json!({ "stream": "calls", "filters": viewer.filters }));
    let keepalive = keepalive(st.settings.idle_timeout);
    let calls = futures_util::stream::unfold(viewer, move |mut v| async move {
        let b = v.next(keepalive).await?;
        Some((Ok::<_, std::convert::Infallible>(b), v))
    });
    let body = futures_util::stream::once(async move { Ok(hello) }).chain(calls);
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response()
}

/// A viewer that loses more calls than the ring holds within this long is
/// dropped as too slow (it is told so).
const SLOW_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// One viewer of the stream: its place in the ring, its filters and what
/// it lost. When it goes (it left, was dropped as too slow, or its
/// connection was closed because it stopped reading), the calls it had not
/// read yet are counted as lost.
struct Viewer {
    rx: tokio::sync::broadcast::Receiver<Arc<CallEvent>>,
    closing: tokio::sync::watch::Receiver<bool>,
    filters: Filters,
    shared: Arc<crate::state::Shared>,
    /// When the current window began, and the calls lost in it.
    window: (tokio::time::Instant, u64),
    lost: u64,
    done: bool,
}

impl Viewer {
    /// The next line for this viewer: a call, an empty line when the
    /// stream has been quiet (the viewer knows it is alive, and the
    /// connection is never idle to the API's idle timeout; JSON-lines
    /// readers skip empty lines), a loss, or the last line (dropped as too
    /// slow, the daemon stopping); `None` after the last line.
    async fn next(&mut self, keepalive: std::time::Duration) -> Option<Bytes> {
        if self.done {
            return None;
        }
        loop {
            if *self.closing.borrow() {
                self.done = true;
                return Some(line(&json!({ "closed": "the daemon is stopping" })));
            }
            let next = tokio::select! {
                _ = self.closing.changed() => continue,
                r = tokio::time::timeout(keepalive, self.rx.recv()) => r,
            };
            let Ok(next) = next else {
                return Some(Bytes::from_static(b"\n"));
            };
            match next {
                Ok(e) if self.filters.pass(&e) => {
                    let mut b = serde_json::to_vec(&*e).unwrap_or_default();
                    b.push(b'\n');
                    return Some(Bytes::from(b));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(n)) => {
                    self.shared.calls.note_lost(n);
                    self.lost += n;
                    let now = tokio::time::Instant::now();
                    if now.duration_since(self.window.0) > SLOW_WINDOW {
                        self.window = (now, 0);
                    }
                    self.window.1 += n;
                    if self.window.1 > crate::state::calls::RING as u64 {
                        self.done = true;
                        self.shared
                            .calls
                            .dropped
                            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        return Some(line(&json!({
                            "dropped": "too slow: it lost more calls than the stream keeps within 10 s",
                            "lost": self.lost,
                        })));
                    }
                    return Some(line(&json!({ "lost": n })));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        // The calls for it still in the ring were never shown.
        let mut n = 0;
        loop {
            match self.rx.try_recv() {
                Ok(e) if self.filters.pass(&e) => n += 1,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::TryRecvError::Lagged(k)) => n += k,
                Err(_) => break,
            }
        }
        if n > 0 {
            self.shared.calls.note_lost(n);
        }
    }
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
        let f = Filters::parse_query(Some(
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
        let f = Filters::parse_query(Some("reason=spoof")).unwrap();
        assert!(f.pass(&event("reject", "spoof:dno", "-", 31_201_234_567)));
        assert!(!f.pass(&event("reject", "spoofed", "-", 31_201_234_567)));
        assert!(Filters::parse_query(Some("verdict=maybe")).is_err());
        assert!(Filters::parse_query(Some("prefix=abc")).is_err());
        assert!(
            Filters::parse_query(Some("colour=red"))
                .unwrap_err()
                .contains("verdict, reason")
        );
    }
}
