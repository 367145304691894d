//! Answering, for both modes: what to do after a message ([`Outcome`]),
//! the responses callscreen sends itself (a refusal, OPTIONS, the answer to
//! a screened INVITE in redirect mode or a rejection in proxy mode), and
//! the derived To-tag and transaction key that let a stateless server tell
//! retransmissions and ACKs of its own answers.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::cache::TxKey;
use super::callpath::CallPath;
use super::links::Dest;
use super::warn::{TOKEN_PARAM, Warned};
use crate::screen::passport;
use crate::screen::{Action, Verdict};
use crate::sip::addr::{param, split_list};
use crate::sip::facts::{CallerIds, identities, request_user, user_without_param};
use crate::sip::response::{
    self, copy_dialog_headers, escape_raw_bytes, escape_uri_header, finish, header, reason_phrase,
    status_line, tag_of,
};
use crate::sip::{ALLOW, Framing, HeaderName, Message, Request};
use crate::state::{Metrics, Runtime};

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

/// What every step needs to know about the message at hand.
pub struct Cx<'r> {
    pub src: SocketAddr,
    pub framing: Framing,
    pub consumed: usize,
    pub close: bool,
    pub conn: Option<u64>,
    pub rt: &'r Arc<Runtime>,
    pub cp: &'r Arc<CallPath>,
    pub t0: Instant,
    /// An INVITE let through unscreened (over its peer's limit, or too long
    /// in the queue): the fail-open answer, no NOC line.
    pub shed: bool,
    /// The UDP address the message came in on: where an answer sent later
    /// leaves from (RFC 3581 §4).
    pub local: Option<SocketAddr>,
}

impl Cx<'_> {
    pub fn silent(&self) -> Outcome {
        Outcome::Silent {
            consumed: self.consumed,
            close: self.close,
        }
    }

    pub fn reply(&self, msg: &Message<'_>) -> Outcome {
        reply(msg, self.src, self.framing, self.consumed, self.close)
    }

    /// [`Cx::reply`] to a request that was read (its top Via is not parsed again).
    pub fn reply_to(&self, req: &Request<'_>) -> Outcome {
        let dest = match self.framing {
            Framing::Datagram => response::udp_destination_of(Some(&req.top_via), self.src),
            Framing::Stream => self.src,
        };
        Outcome::Reply {
            dest,
            consumed: self.consumed,
            close: self.close,
        }
    }
}

/// The To-tag callscreen gives its own answers to this request (derived,
/// so a retransmission or the ACK for the answer can be told without state).
pub fn own_to_tag(req: &Request<'_>, cp: &CallPath) -> u64 {
    let from_tag = req.from.param("tag").unwrap_or_default();
    let branch = req.top_via.param("branch").unwrap_or_default();
    cp.tag_key.tag(req.call_id, from_tag, branch)
}

/// The key of the INVITE transaction `req` belongs to (or, for a CANCEL or
/// ACK, the INVITE transaction it refers to).
pub fn transaction_key(req: &Request<'_>, cx: &Cx<'_>) -> TxKey {
    transaction(req, cx).0
}

/// [`transaction_key`], and the To-tag callscreen gives its answers to
/// `req` ([`own_to_tag`]): Call-ID and From-tag are hashed once for both.
pub fn transaction(req: &Request<'_>, cx: &Cx<'_>) -> (TxKey, u64) {
    use std::hash::{Hash, Hasher};
    let tags = &cx.cp.tag_key;
    let from_tag = req.from.param("tag").unwrap_or_default();
    let via = &req.top_via;
    let branch = via.param("branch").unwrap_or_default();
    let (tag, merge) = tags.tag_and_filing(req.call_id, from_tag, branch, req.cseq);
    // The branch through the tag (with Call-ID and From-tag, which the
    // merge key holds anyway).
    let mut h = tags.hasher();
    tag.hash(&mut h);
    if branch.starts_with(b"z9hG4bK") {
        // Host names are compared case-blind (RFC 3261 §19.1.4).
        let mut lower = [0u8; 64];
        for chunk in via.host.chunks(lower.len()) {
            let part = &mut lower[..chunk.len()];
            part.copy_from_slice(chunk);
            part.make_ascii_lowercase();
            h.write(part);
        }
        via.port.hash(&mut h);
    } else {
        (req.uri, via.transport, via.host, via.port, via.params).hash(&mut h);
    }
    cx.src.ip().hash(&mut h);
    let key = TxKey {
        merge,
        id: h.finish(),
    };
    (key, tag)
}

/// The answer to an OPTIONS addressed to callscreen: 200 once ready, else 503.
pub fn options(out: &mut Vec<u8>, msg: &Message<'_>, src: SocketAddr, cp: &CallPath) {
    Metrics::inc(&cp.shared.metrics.options);
    if cp.shared.ready.load(Ordering::Relaxed) {
        simple(
            out,
            msg,
            src,
            200,
            "OK",
            cp,
            &[("Allow", ALLOW.as_bytes()), ("Accept", b"application/sdp")],
        );
    } else {
        simple(
            out,
            msg,
            src,
            503,
            "Service Unavailable",
            cp,
            &[("Retry-After", b"5")],
        );
    }
}

pub fn reply(
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

/// An INVITE from an SBC that names no known trunk (and has no
/// `default_peer`): counted (logged once per interval), refused with 403.
pub fn unknown_trunk(out: &mut Vec<u8>, msg: &Message<'_>, cx: &Cx<'_>) -> Outcome {
    Metrics::inc(&cx.cp.shared.metrics.unknown_trunk);
    tracing::debug!(source = %cx.src, "INVITE from an SBC without a known trunk id and no default_peer: refused");
    simple(out, msg, cx.src, 403, "Forbidden", cx.cp, &[]);
    cx.reply(msg)
}

/// A response without screening: status, copied headers, extra headers.
pub fn simple(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    src: SocketAddr,
    code: u16,
    reason: &str,
    cp: &CallPath,
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
        None,
        src,
        Some(cp.tag_key.tag(call_id, from_tag, branch)),
    );
    for (n, v) in extra {
        header(out, n, v);
    }
    if code == 400 {
        // A malformed request's bytes are not sent back raw.
        escape_raw_bytes(out, 0);
    }
    finish(out);
}

/// `487 Request Terminated` for an INVITE cancelled while it was being
/// verified, with callscreen's To-tag; cached like any answer, so that its
/// retransmissions get it too.
pub fn write_terminated(out: &mut Vec<u8>, req: &Request<'_>, cx: &Cx<'_>) {
    let to_tag = own_to_tag(req, cx.cp);
    status_line(out, 487, "Request Terminated");
    copy_dialog_headers(out, &req.msg, Some(&req.top_via), cx.src, Some(to_tag));
    finish(out);
    let key = transaction_key(req, cx);
    cx.cp
        .cache
        .insert(key, Instant::now(), super::cache::Kind::Answer, out);
}

/// `s` as a SIP quoted-string (RFC 3261 §25.1: `"` and `\` escaped).
fn quoted(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// Buffers for a tagged call's values (its reason list, the identity it
/// asserts, that identity with `verstat`), kept per thread and reused call
/// after call, so that tagging allocates nothing once they have grown.
/// Taken with [`TagBufs::take`], given back when dropped.
pub struct TagBufs {
    pub reasons: Vec<u8>,
    pub pai: Vec<u8>,
    pub with: Vec<u8>,
}

thread_local! {
    static TAG_BUFS: std::cell::Cell<(Vec<u8>, Vec<u8>, Vec<u8>)> =
        const { std::cell::Cell::new((Vec::new(), Vec::new(), Vec::new())) };
}

impl TagBufs {
    /// This thread's buffers, empty.
    pub fn take() -> TagBufs {
        let (reasons, pai, with) = TAG_BUFS.take();
        TagBufs { reasons, pai, with }
    }
}

impl Drop for TagBufs {
    fn drop(&mut self) {
        let mut back = (
            std::mem::take(&mut self.reasons),
            std::mem::take(&mut self.pai),
            std::mem::take(&mut self.with),
        );
        back.0.clear();
        back.1.clear();
        back.2.clear();
        // During thread exit the slot may be gone; the buffers are then freed.
        let _ = TAG_BUFS.try_with(|slot| slot.set(back));
    }
}

/// The tag values of a tagged call: the reason list into `b.reasons`, and
/// the identity (the trusted PAI, else From) with the display prefix, as a
/// PAI value, into `b.pai`.
pub fn tag_values(
    v: &Verdict<'_>,
    ids: &CallerIds<'_>,
    peer: usize,
    rt: &Runtime,
    b: &mut TagBufs,
) {
    let s = &rt.settings;
    for (i, r) in v.tag_reasons().enumerate() {
        if i > 0 {
            b.reasons.push(b',');
        }
        let _ = write!(b.reasons, "{r}");
    }
    let trusted = s.policy.peer(peer).pai_trusted;
    let id = ids.pai.as_ref().filter(|_| trusted).unwrap_or(&ids.from);
    b.pai.push(b'"');
    crate::sip::forward::push_display(
        &mut b.pai,
        id.display.as_deref().unwrap_or_default(),
        &s.tags.display_prefix,
    );
    b.pai.extend_from_slice(b"\" <");
    b.pai.extend_from_slice(id.uri);
    b.pai.push(b'>');
}

/// The answer to a screened INVITE (DESIGN.md "Redirect mode").
#[allow(clippy::too_many_arguments)]
pub fn write_answer(
    out: &mut Vec<u8>,
    req: &Request<'_>,
    src: SocketAddr,
    to_tag: u64,
    rt: &Runtime,
    peer: usize,
    v: Option<&Verdict<'_>>,
    ids: &CallerIds<'_>,
    warned: Option<&Warned>,
    rcd_name: Option<&str>,
) {
    let s = &rt.settings;
    let action = v.map_or(Action::Allow, |v| v.action);
    let code = match action {
        Action::Reject { code } => code,
        Action::Allow => s.redirect.clean_code,
        Action::Tag | Action::Anonymise | Action::Warn => 302,
    };
    // 603+ (ATIS-1000099): an analytics-based block says it is the network's.
    let plus = v
        .and_then(|v| v.decided_by)
        .is_some_and(|f| f.network_blocked);
    let phrase = if plus && code == 603 {
        "Network Blocked"
    } else {
        reason_phrase(code)
    };
    status_line(out, code, phrase);
    copy_dialog_headers(out, &req.msg, Some(&req.top_via), src, Some(to_tag));
    if let (Action::Reject { code }, Some(v)) = (action, v) {
        let text = v.reject_text.unwrap_or("Network blocked");
        match &s.redress {
            // Redress (RFC 8688 §5): the call's reference for the caller to
            // quote, and on a 608 the operator's signed contact card.
            Some(r) => {
                let _ = write!(
                    out,
                    "Reason: SIP;cause={code};text=\"{text} (ref {})\"\r\n",
                    super::noc::CallRef::of(req.call_id)
                );
                if code == 608 {
                    let _ = write!(out, "Call-Info: <{}>;purpose=jwscard\r\n", r.url);
                }
            }
            None => {
                let _ = write!(out, "Reason: SIP;cause={code};text=\"{text}\"\r\n");
            }
        }
        finish(out);
        return;
    }
    // A warning: a 302 to the announcement service, with the reasons.
    if let (Action::Warn, Some(w), Some(warned), Some(v)) = (action, &s.warn, warned, v) {
        warned.write_contact(out, w, &s.redirect.next_hop);
        let mut b = TagBufs::take();
        tag_values(v, ids, peer, rt, &mut b);
        header(out, &s.tags.header, &b.reasons);
        finish(out);
        return;
    }
    let tagged = matches!(action, Action::Tag | Action::Anonymise | Action::Warn);
    let mut b = TagBufs::take();
    if let (true, Some(v)) = (tagged, v) {
        tag_values(v, ids, peer, rt, &mut b);
    }
    // STIR/SHAKEN (`[stir]`): the identity goes with its `verstat`, tagged
    // or not (the next hop learns what callscreen verified).
    let verstat = v.and_then(|v| v.verstat).filter(|_| code / 100 == 3);
    if let Some(vs) = verstat {
        if b.pai.is_empty() {
            let trusted = s.policy.peer(peer).pai_trusted;
            let id = ids.pai.as_ref().filter(|_| trusted).unwrap_or(&ids.from);
            // Verified Rich Call Data (RFC 9795): its name is the display
            // name of the identity asserted, for the SBC to pass on.
            if let (Some(name), crate::screen::passport::Verstat::Passed) = (rcd_name, vs) {
                quoted(&mut b.pai, name);
                b.pai.push(b' ');
            }
            b.pai.push(b'<');
            b.pai.extend_from_slice(id.uri);
            b.pai.push(b'>');
        }
        crate::sip::forward::with_verstat(&mut b.with, &b.pai, vs.name());
        std::mem::swap(&mut b.pai, &mut b.with);
    }
    let (reasons, pai) = (&b.reasons, &b.pai);
    let asserted = tagged || verstat.is_some();
    if code / 100 == 3 {
        // Contact: the next hop, with the dialled user part (without a warn
        // token); never callscreen itself.
        out.extend_from_slice(b"Contact: <sip:");
        let user = request_user(req);
        let untokened = user.and_then(|u| user_without_param(u, TOKEN_PARAM));
        if let Some(user) = untokened.as_deref().or(user) {
            out.extend_from_slice(user);
            out.push(b'@');
        }
        out.extend_from_slice(s.redirect.next_hop.as_bytes());
        let phone = req.ruri.is_some_and(|u| {
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
        if asserted && s.tags.in_contact_uri {
            out.push(sep);
            if tagged {
                out.extend_from_slice(s.tags.header.as_bytes());
                out.push(b'=');
                escape_uri_header(out, reasons);
                out.push(b'&');
            }
            out.extend_from_slice(b"P-Asserted-Identity=");
            escape_uri_header(out, pai);
        }
        out.extend_from_slice(b">\r\n");
    }
    if tagged {
        header(out, &s.tags.header, reasons);
    }
    if asserted {
        header(out, "P-Asserted-Identity", pai);
    }
    if tagged && action == Action::Anonymise {
        header(out, "Privacy", b"id");
    }
    // A call that goes on although its verification failed: the
    // originating side learns why (RFC 9410, the STIR Reason).
    if let Some((cause, text)) = v.filter(|_| code / 100 == 3).and_then(stir_reason) {
        let _ = write!(out, "Reason: STIR;cause={cause};text=\"{text}\"");
        // Several Identity headers: which one failed (RFC 9410 `ppi`).
        if let Some(p) = failed_ppi(req) {
            out.extend_from_slice(b";ppi=\"..");
            out.extend_from_slice(p);
            out.push(b'"');
        }
        out.extend_from_slice(b"\r\n");
    }
    finish(out);
}

/// The SHAKEN Identity header value of a request, if any (a diversion
/// PASSporT, `ppt=div`, is not the caller's).
pub fn shaken_identity<'a>(req: &Request<'a>) -> Option<&'a str> {
    identities(req)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .find(|v| matches!(passport::ppt(v).as_deref(), None | Some("shaken")))
}

/// The SHAKEN PASSporT's signature, naming it in a STIR Reason's `ppi`
/// (RFC 9410 §3, the compact form `..<signature>`), when the request has
/// several Identity headers (one is a `div` PASSporT, say) and a failure
/// must say which of them failed.
pub fn failed_ppi<'a>(req: &Request<'a>) -> Option<&'a [u8]> {
    // A second Identity header, or nothing to tell apart.
    identities(req).nth(1)?;
    let token = shaken_identity(req)?.split(';').next()?.trim();
    let sig = token.rsplit('.').next()?.as_bytes();
    crate::sip::forward::ppi_token(sig).then_some(sig)
}

/// The STIR Reason (RFC 9410 §3; its causes are RFC 8224 §13's response
/// codes) of a verdict whose verification failed: the first failure found.
pub fn stir_reason(v: &Verdict<'_>) -> Option<(u16, &'static str)> {
    use crate::screen::ReasonKind::*;
    if v.verstat != Some(crate::screen::passport::Verstat::Failed) {
        return None;
    }
    v.findings.iter().find_map(|f| match f.reason.kind {
        StirMalformed | StirBadSignature | ShakenOrigMismatch | StirDestMismatch => {
            Some((438, "Invalid Identity Header"))
        }
        StirUntrusted | StirCertExpired | StirNoTnAuthList | StirRevoked | StirCrlUnavailable
        | StirClaimConstraints => Some((437, "Unsupported Credential")),
        ShakenStale => Some((403, "Stale Date")),
        _ => None,
    })
}
