//! One message in, at most one answer out: redirect mode as a stateless UAS
//! (RFC 3261 §8.2.7). Shared by the UDP threads and the TCP tasks; each
//! owns a `Handler` (scanner and output buffer reused, nothing allocated per
//! call once warm, apart from the retransmission cache's copy).

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::ingress::{self, Ingress};
use super::links::Dest;
use super::noc;
use super::proxy;
use super::runtime::{Metrics, Runtime, Shared};
use crate::config::{Mode, UnknownSource};
use crate::screen::{Action, CallFacts, Verdict, screen};
use crate::sip::addr::{Uri, param, split_list};
use crate::sip::facts::{CallerIds, request_user};
use crate::sip::response::{
    self, copy_dialog_headers, escape_uri_header, finish, header, reason_phrase, status_line,
    tag_of,
};
use crate::sip::{
    ALLOW, Framing, HeaderName, Message, Method, Refusal, Request, Scan, Scanner, StartLine,
};

/// What to do after a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Send `Handler::out` to this address (TCP: on the connection).
    Reply {
        dest: SocketAddr,
        consumed: usize,
        close: bool,
    },
    /// Proxy mode: send `Handler::out` there (forwarded or relayed).
    Send {
        dest: Dest,
        consumed: usize,
        close: bool,
    },
    /// Nothing to send.
    Silent { consumed: usize, close: bool },
    /// A stream needs more bytes.
    Incomplete,
}

pub struct Handler {
    scanner: Scanner,
    pub out: Vec<u8>,
    shared: Arc<Shared>,
    /// The inbound TCP connection this handler reads (proxy mode writes it
    /// into its Via, so that responses come back on it).
    pub conn: Option<u64>,
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Handler {
    pub fn new(shared: Arc<Shared>) -> Handler {
        let limits = shared.runtime.load().settings.sip.limits;
        Handler {
            scanner: Scanner::new(limits),
            out: Vec::with_capacity(2048),
            shared,
            conn: None,
        }
    }

    /// Handles the message at the start of `buf` from `src`.
    pub fn handle(&mut self, buf: &[u8], src: SocketAddr, framing: Framing) -> Outcome {
        let t0 = Instant::now();
        let shared = Arc::clone(&self.shared);
        let rt = shared.runtime.load();
        self.scanner.limits = rt.settings.sip.limits;
        let msg = match self.scanner.scan(buf, framing) {
            Scan::Incomplete => return Outcome::Incomplete,
            Scan::Message(m) => m,
        };
        let consumed = msg.len;
        let close = framing == Framing::Stream && msg.fault.is_some_and(|f| f.breaks_framing());
        let m = &shared.metrics;
        let proxy = rt.settings.sip.mode == Mode::Proxy;
        let cx = proxy::Cx {
            src,
            framing,
            consumed,
            close,
            conn: self.conn,
            rt: &rt,
            shared: &shared,
            t0,
        };
        if let (true, Some(StartLine::Response { code }), None) = (proxy, msg.start, msg.fault) {
            return proxy::response(&mut self.out, &msg, code, &cx);
        }
        if matches!(msg.start, Some(StartLine::Response { .. }))
            || msg.fault.is_some_and(|f| f.status.is_none())
        {
            // A stateless UAS sends no requests, so no response is ours; and
            // a message that cannot be answered is dropped.
            return Outcome::Silent { consumed, close };
        }
        let ingress = ingress::resolve(&rt.settings, src.ip(), &msg);
        if ingress == Ingress::Unknown {
            Metrics::inc(&m.unknown_source);
            tracing::debug!(source = %src, "request from an unknown source refused");
            // An ACK is never answered (RFC 3261 §17.2.1).
            if rt.settings.sip.unknown_source == UnknownSource::Drop
                || msg.fault.is_some()
                || msg.start.is_none()
                || msg.method() == Some(b"ACK")
            {
                return Outcome::Silent { consumed, close };
            }
            simple(&mut self.out, &msg, src, 403, "Forbidden", &shared, &[]);
            return reply(&msg, src, framing, consumed, close);
        }
        let read = if proxy {
            crate::sip::request::read_for_proxy(&msg)
        } else {
            crate::sip::request::read(&msg)
        };
        let req = match read {
            Ok(r) => r,
            Err(Refusal::Status(code, why)) => {
                // Nothing to answer to, or an ACK (never answered, RFC 3261 §17.2.1).
                if (msg.start.is_none() && code == 400 && msg.header_count() == 0)
                    || msg.method() == Some(b"ACK")
                {
                    Metrics::inc(&m.malformed);
                    tracing::debug!(source = %src, reason = why, "malformed message dropped");
                    return Outcome::Silent { consumed, close };
                }
                if matches!(code, 400 | 505 | 513) {
                    Metrics::inc(&m.malformed);
                    tracing::debug!(source = %src, reason = why, code, "malformed request answered");
                } else {
                    Metrics::inc(&m.refused_methods);
                }
                let extra: &[(&str, &[u8])] = if matches!(code, 405 | 501) {
                    &[("Allow", ALLOW.as_bytes())]
                } else {
                    &[]
                };
                simple(
                    &mut self.out,
                    &msg,
                    src,
                    code,
                    reason_phrase(code),
                    &shared,
                    extra,
                );
                return reply(&msg, src, framing, consumed, close);
            }
            Err(Refusal::BadExtension(req)) => {
                simple(
                    &mut self.out,
                    &msg,
                    src,
                    420,
                    "Bad Extension",
                    &shared,
                    &[("Unsupported", req)],
                );
                return reply(&msg, src, framing, consumed, close);
            }
        };
        if proxy {
            return proxy::request(&mut self.out, &msg, &req, ingress, &cx);
        }
        match req.method {
            Method::Ack | Method::Cancel => Outcome::Silent { consumed, close },
            Method::Options => {
                options(&mut self.out, &msg, src, &shared);
                reply(&msg, src, framing, consumed, close)
            }
            Method::Invite => {
                let Ingress::Known(Some(peer)) = ingress else {
                    Metrics::inc(&m.unknown_trunk);
                    tracing::debug!(source = %src, "INVITE from an SBC without a known trunk id and no default_peer: refused");
                    simple(&mut self.out, &msg, src, 403, "Forbidden", &shared, &[]);
                    return reply(&msg, src, framing, consumed, close);
                };
                invite(&mut self.out, &req, peer, src, &rt, &shared, t0);
                reply(&msg, src, framing, consumed, close)
            }
            Method::NotAllowed | Method::Unknown => Outcome::Silent { consumed, close },
        }
    }
}

/// Screens an INVITE and writes its answer (or the cached one) into `out`.
fn invite(
    out: &mut Vec<u8>,
    req: &Request<'_>,
    peer: usize,
    src: SocketAddr,
    rt: &Runtime,
    shared: &Shared,
    t0: Instant,
) {
    let key = transaction_key(req, shared);
    let now = Instant::now();
    // An empty entry is a call proxy mode forwarded (before a reload changed the mode).
    if shared.cache.get_into(key, now, out) && !out.is_empty() {
        Metrics::inc(&shared.metrics.retransmissions);
        return;
    }
    let to_tag = own_to_tag(req, shared);
    let ids = CallerIds::read(req);
    let raw = ids.raw(req, Some(src.ip()));
    let policy = &rt.settings.policy;
    let facts = CallFacts::read(&raw, peer, policy, unix_now());
    let verdict = decide(&facts, rt, shared, req);
    let action = verdict.as_ref().map_or(Action::Allow, |v| v.action);
    write_answer(out, req, src, to_tag, rt, peer, verdict.as_ref(), &ids);
    shared.cache.insert(key, now, out);
    let code = noc::code(action, rt.settings.redirect.clean_code);
    account(req, &facts, verdict.as_ref(), peer, code, rt, shared, t0);
}

/// The To-tag callscreen gives its own answers to this request (derived,
/// so a retransmission or the ACK for the answer can be told without state).
pub(super) fn own_to_tag(req: &Request<'_>, shared: &Shared) -> u64 {
    let from_tag = req.from.param("tag").unwrap_or_default();
    let branch = req.top_via.param("branch").unwrap_or_default();
    shared.tag_key.tag(req.call_id, from_tag, branch)
}

/// The key of an INVITE transaction's entry in the retransmission cache
/// (a CANCEL or non-2xx ACK of it has the same key).
pub(super) fn transaction_key(req: &Request<'_>, shared: &Shared) -> u64 {
    let from_tag = req.from.param("tag").unwrap_or_default();
    let branch = req.top_via.param("branch").unwrap_or_default();
    shared
        .tag_key
        .transaction(req.call_id, from_tag, branch, req.cseq)
}

/// Screens, failing open: an internal error lets the call go on untagged, counted.
pub(super) fn decide<'r>(
    facts: &CallFacts,
    rt: &'r Runtime,
    shared: &Shared,
    req: &Request<'_>,
) -> Option<Verdict<'r>> {
    let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Fault injection for the fail-open tests (debug builds only).
        #[cfg(debug_assertions)]
        if std::env::var_os("CALLSCREEN_TEST_PANIC_CALL_ID")
            .is_some_and(|v| v.as_encoded_bytes() == req.call_id)
        {
            panic!("injected fault (CALLSCREEN_TEST_PANIC_CALL_ID)");
        }
        screen(facts, &rt.lists, &rt.settings.policy)
    }));
    match decided {
        Ok(v) => Some(v),
        Err(_) => {
            Metrics::inc(&shared.metrics.fail_open);
            tracing::error!(call_id = %String::from_utf8_lossy(req.call_id), "screening failed: call let through untagged (fail open)");
            None
        }
    }
}

/// Counts a screened call and writes its NOC line (`code` 0: forwarded).
#[allow(clippy::too_many_arguments)]
pub(super) fn account(
    req: &Request<'_>,
    facts: &CallFacts,
    verdict: Option<&Verdict<'_>>,
    peer: usize,
    code: u16,
    rt: &Runtime,
    shared: &Shared,
    t0: Instant,
) {
    let action = verdict.map_or(Action::Allow, |v| v.action);
    let policy = &rt.settings.policy;
    let mc = &shared.metrics;
    Metrics::inc(match action {
        Action::Allow if facts.emergency => &mc.calls_emergency,
        Action::Allow => &mc.calls_allow,
        Action::Tag => &mc.calls_tag,
        Action::Anonymise => &mc.calls_anonymise,
        Action::Reject { .. } => &mc.calls_reject,
    });
    if let Some(v) = verdict {
        let mut seen = [false; crate::screen::reason_kind_count()];
        for f in v.findings.iter() {
            let k = f.reason.kind as usize;
            if !seen[k] {
                seen[k] = true;
                Metrics::inc(&mc.reasons[k]);
            }
        }
    }
    mc.observe_latency(t0.elapsed().as_micros() as u64);
    let mask = rt.settings.log.mask_caller;
    let empty = Verdict {
        action,
        decided_by: None,
        reject_text: None,
        findings: Default::default(),
        expired: Default::default(),
    };
    let v = verdict.unwrap_or(&empty);
    let callee = noc::Callee {
        number: facts.callee,
        raw: request_user(req).unwrap_or(req.uri),
    };
    tracing::info!(
        verdict = %action.name(),
        code,
        reasons = %noc::Reasons(v),
        caller = %noc::Number { cli: Some(facts.from), mask },
        pai = %noc::Number { cli: facts.pai, mask },
        callee = %callee,
        peer = %policy.peer(peer).name,
        call_id = %String::from_utf8_lossy(req.call_id),
        lists = %noc::Lists(v),
        latency_us = t0.elapsed().as_micros() as u64,
        "call"
    );
}

/// The answer to an OPTIONS addressed to callscreen: 200 once ready, else 503.
pub(super) fn options(out: &mut Vec<u8>, msg: &Message<'_>, src: SocketAddr, shared: &Shared) {
    Metrics::inc(&shared.metrics.options);
    if shared.ready.load(Ordering::Relaxed) {
        simple(
            out,
            msg,
            src,
            200,
            "OK",
            shared,
            &[("Allow", ALLOW.as_bytes()), ("Accept", b"application/sdp")],
        );
    } else {
        simple(
            out,
            msg,
            src,
            503,
            "Service Unavailable",
            shared,
            &[("Retry-After", b"5")],
        );
    }
}

pub(super) fn reply(
    msg: &Message<'_>,
    src: SocketAddr,
    framing: Framing,
    consumed: usize,
    close: bool,
) -> Outcome {
    let dest = if framing == Framing::Datagram {
        response::udp_destination(msg, src)
    } else {
        src
    };
    Outcome::Reply {
        dest,
        consumed,
        close,
    }
}

/// A response without screening: status, copied headers, extra headers.
pub(super) fn simple(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    src: SocketAddr,
    code: u16,
    reason: &str,
    shared: &Shared,
    extra: &[(&str, &[u8])],
) {
    status_line(out, code, reason);
    let call_id = msg.get(HeaderName::CallId).unwrap_or_default();
    let from_tag = msg
        .get(HeaderName::From)
        .and_then(tag_of)
        .unwrap_or_default();
    let branch = msg
        .get(HeaderName::Via)
        .and_then(|v| split_list(v).next())
        .and_then(|v| param(v, "branch"))
        .unwrap_or_default();
    copy_dialog_headers(
        out,
        msg,
        src,
        Some(shared.tag_key.tag(call_id, from_tag, branch)),
    );
    for (n, v) in extra {
        header(out, n, v);
    }
    finish(out);
}

/// The tag values of a tagged call: the reason list, and the identity (the
/// trusted PAI, else From) with the display prefix, as a PAI value.
pub(super) fn tag_values(
    v: &Verdict<'_>,
    ids: &CallerIds<'_>,
    peer: usize,
    rt: &Runtime,
) -> (String, Vec<u8>) {
    let s = &rt.settings;
    let mut reasons = String::new();
    for (i, r) in v.tag_reasons().enumerate() {
        if i > 0 {
            reasons.push(',');
        }
        let _ = std::fmt::Write::write_fmt(&mut reasons, format_args!("{r}"));
    }
    let trusted = s.policy.peer(peer).pai_trusted;
    let id = ids.pai.as_ref().filter(|_| trusted).unwrap_or(&ids.from);
    let shown = crate::sip::forward::prefixed_display(
        id.display.as_deref().unwrap_or_default(),
        &s.tags.display_prefix,
    );
    let mut pai = Vec::new();
    let _ = write!(pai, "\"{shown}\" <");
    pai.extend_from_slice(id.uri);
    pai.push(b'>');
    (reasons, pai)
}

/// The answer to a screened INVITE (DESIGN.md "Redirect mode").
#[allow(clippy::too_many_arguments)]
pub(super) fn write_answer(
    out: &mut Vec<u8>,
    req: &Request<'_>,
    src: SocketAddr,
    to_tag: u64,
    rt: &Runtime,
    peer: usize,
    v: Option<&Verdict<'_>>,
    ids: &CallerIds<'_>,
) {
    let s = &rt.settings;
    let action = v.map_or(Action::Allow, |v| v.action);
    let code = match action {
        Action::Reject { code } => code,
        Action::Allow => s.redirect.clean_code,
        Action::Tag | Action::Anonymise => 302,
    };
    status_line(out, code, reason_phrase(code));
    copy_dialog_headers(out, &req.msg, src, Some(to_tag));
    if let (Action::Reject { code }, Some(v)) = (action, v) {
        let _ = write!(
            out,
            "Reason: SIP;cause={code};text=\"{}\"\r\n",
            v.reject_text.unwrap_or("Network blocked")
        );
        finish(out);
        return;
    }
    let tagged = matches!(action, Action::Tag | Action::Anonymise);
    let (reasons, pai) = match (tagged, v) {
        (true, Some(v)) => tag_values(v, ids, peer, rt),
        _ => (String::new(), Vec::new()),
    };
    if code / 100 == 3 {
        // Contact: the next hop, with the dialled user part; never callscreen itself.
        out.extend_from_slice(b"Contact: <sip:");
        if let Some(user) = request_user(req) {
            out.extend_from_slice(user);
            out.push(b'@');
        }
        out.extend_from_slice(s.redirect.next_hop.as_bytes());
        let phone = Uri::parse(req.uri).is_some_and(|u| {
            u.scheme.eq_ignore_ascii_case(b"tel") || u.param("user") == Some(b"phone")
        });
        if phone {
            out.extend_from_slice(b";user=phone");
        }
        let mut sep = b'?';
        if action == Action::Anonymise {
            out.extend_from_slice(b"?Privacy=id");
            sep = b'&';
        }
        if tagged && s.tags.in_contact_uri {
            out.push(sep);
            out.extend_from_slice(s.tags.header.as_bytes());
            out.push(b'=');
            escape_uri_header(out, reasons.as_bytes());
            out.extend_from_slice(b"&P-Asserted-Identity=");
            escape_uri_header(out, &pai);
        }
        out.extend_from_slice(b">\r\n");
    }
    if tagged {
        header(out, &s.tags.header, reasons.as_bytes());
        header(out, "P-Asserted-Identity", &pai);
        if action == Action::Anonymise {
            header(out, "Privacy", b"id");
        }
    }
    finish(out);
}
