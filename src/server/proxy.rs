//! Proxy mode (DESIGN.md "Proxy mode"): a stateless proxy, RFC 3261 §16.11.
//! An initial INVITE is screened: a rejection is answered here (and the ACK
//! for it absorbed), anything else is forwarded to the next hop with the
//! tags; every other request is forwarded as it is (Max-Forwards, Via and
//! the stripping of untrusted headers aside); responses from a next hop go
//! back with callscreen's Via removed. No transaction state is kept: the
//! downstream branch is derived from the incoming one.

use std::time::{Duration, Instant};

use super::answer::{
    Cx, Outcome, TagBufs, options, own_to_tag, simple, stir_reason, tag_values, transaction_key,
    unknown_trunk, write_answer,
};
use super::cache::Kind;
use super::callpath::CallPath;
use super::ingress::Ingress;
use super::invite::{Decision, Learned, screen};
use super::links::Dest;
use super::warn::{TOKEN_PARAM, Warned, carried};
use crate::clock::unix_now;
use crate::config::NextHop;
use crate::screen::Action;
use crate::screen::passport::RcdRef;
use crate::sip::addr::trim_lws;
use crate::sip::facts::CallerIds;
use crate::sip::facts::{request_user, user_without_param};
use crate::sip::forward::{
    self, Edits, OwnVia, RcdCallInfo, UDP_MAX_REQUEST, route_is_own, write_request,
};
use crate::sip::relay::{Back, Relay, relay_response};
use crate::sip::{Message, Method, Request};
use crate::state::{Metrics, Runtime};

/// A response: relayed when it comes from a next hop and carries
/// callscreen's Via on top; a probe's answer updates the hop's health.
pub fn response(out: &mut Vec<u8>, msg: &Message<'_>, code: u16, cx: &Cx<'_>) -> Outcome {
    let settings = &cx.rt.settings.proxy;
    let m = &cx.cp.shared.metrics;
    let hop = settings
        .next_hops
        .iter()
        .find(|h| h.addr == cx.src)
        .or_else(|| {
            settings
                .next_hops
                .iter()
                .find(|h| h.addr.ip() == cx.src.ip())
        });
    let (Some(hop), Some(local)) = (hop, cx.cp.links.local.get()) else {
        // Only a next hop answers callscreen's requests; anything else could
        // make callscreen a reflector.
        Metrics::inc(&m.stray_responses);
        tracing::debug!(source = %cx.src, "response from an address that is not a next hop dropped");
        return cx.silent();
    };
    match relay_response(out, msg, |v| local.is_own(v.host, v.port)) {
        Relay::Probe(branch) => {
            // z9hG4bK-csp<index>x<seq>
            let index = branch
                .get(forward::BRANCH_PREFIX.len() + 1..)
                .and_then(|r| r.split(|&c| c == b'x').next())
                .and_then(|i| std::str::from_utf8(i).ok())
                .and_then(|i| i.parse::<usize>().ok());
            if let Some(h) = index.and_then(|i| settings.next_hops.get(i)) {
                cx.cp.hops.probe_answered(h.addr, code, settings.down_for);
            }
            cx.silent()
        }
        Relay::Forward(back) => {
            if code == 503 && settings.next_hops.len() > 1 {
                let retry = msg
                    .get_named("Retry-After")
                    .and_then(|v| std::str::from_utf8(trim_lws(v)).ok())
                    .and_then(|v| v.split([';', ' ', '(']).next()?.parse::<u64>().ok())
                    .map(Duration::from_secs);
                cx.cp
                    .hops
                    .overloaded(hop.addr, retry.unwrap_or(settings.down_for));
            }
            Metrics::inc(&m.relayed);
            let dest = match back {
                Back::Udp(a) => Dest::Udp(a),
                Back::Tcp { conn, addr } => Dest::Conn {
                    id: conn,
                    fallback: addr,
                },
            };
            Outcome::Send {
                dest,
                consumed: cx.consumed,
                close: cx.close,
            }
        }
        Relay::NotOurs | Relay::Nowhere => {
            Metrics::inc(&m.stray_responses);
            tracing::debug!(source = %cx.src, "response without callscreen's Via on top, or with nowhere to go: dropped");
            cx.silent()
        }
    }
}

/// Whether an ACK acknowledges callscreen's own final answer: its To tag is
/// the one callscreen derives from the request (a stateless UAS's tag).
fn acks_own_answer(req: &Request<'_>, cp: &CallPath) -> bool {
    let ours = own_to_tag(req, cp);
    let Some(to_tag) = req.to.param("tag") else {
        return false;
    };
    let mut hex = [0u8; 16];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, h) in hex.iter_mut().enumerate() {
        *h = HEX[((ours >> (60 - 4 * i)) & 15) as usize];
    }
    to_tag == hex
}

/// Whether the INVITE this CANCEL refers to got callscreen's own final
/// answer (it is in the retransmission cache with answer bytes).
fn answered_here(out: &mut Vec<u8>, req: &Request<'_>, cx: &Cx<'_>) -> bool {
    let key = transaction_key(req, cx);
    cx.cp.cache.get_own(key, Instant::now(), out) == Some(Kind::Answer)
}

/// The Request-URI a warned INVITE went to the announcement service with,
/// if this CANCEL or ACK belongs to one (RFC 3261 §9.1: a CANCEL carries
/// its INVITE's Request-URI).
fn warned_uri(out: &mut Vec<u8>, req: &Request<'_>, cx: &Cx<'_>) -> Option<Vec<u8>> {
    let key = transaction_key(req, cx);
    match cx.cp.cache.get_own(key, Instant::now(), out) {
        Some(Kind::Warned) => Learned::split(out).map(|(_, uri)| uri.to_vec()),
        _ => None,
    }
}

/// The Request-URI without callscreen's warn token, when it carries one
/// (one parse of the user part; nothing allocated otherwise).
fn untokened_uri(req: &Request<'_>) -> Option<Vec<u8>> {
    let user = request_user(req)?;
    let without = user_without_param(user, TOKEN_PARAM)?;
    let start = user.as_ptr() as usize - req.uri.as_ptr() as usize;
    let mut uri = req.uri[..start].to_vec();
    uri.extend_from_slice(&without);
    uri.extend_from_slice(&req.uri[start + user.len()..]);
    Some(uri)
}

/// A request in proxy mode.
pub fn request(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    req: &Request<'_>,
    ingress: Ingress,
    cx: &Cx<'_>,
) -> Outcome {
    let cp = cx.cp;
    let m = &cp.shared.metrics;
    // RFC 3261 §16.3 step 3: an OPTIONS with Max-Forwards 0 may be answered by
    // the proxy; one without a user part is addressed to callscreen (an SBC's keep-alive).
    let to_us = req.ruri.is_some_and(|u| u.user.is_none());
    match req.method {
        Method::Ack if acks_own_answer(req, cp) => {
            Metrics::inc(&m.absorbed_acks);
            return cx.silent();
        }
        Method::Cancel if super::stir::cancel_parked(transaction_key(req, cx), cp) => {
            // Not forwarded yet (being verified): answered here, and the
            // INVITE gets 487 instead of going on.
            simple(out, msg, cx.src, 200, "OK", cp, &[]);
            return cx.reply(msg);
        }
        Method::Cancel if answered_here(out, req, cx) => {
            // callscreen answered this INVITE itself (a rejection): it is the
            // UAS of that transaction, and a CANCEL after the final answer
            // gets 200 and changes nothing (RFC 3261 §9.2).
            simple(out, msg, cx.src, 200, "OK", cp, &[]);
            return cx.reply(msg);
        }
        Method::Options if to_us || req.max_forwards == Some(0) => {
            options(out, msg, cx.src, cp);
            return cx.reply(msg);
        }
        _ => {}
    }
    if req.max_forwards == Some(0) {
        if req.method == Method::Ack {
            return cx.silent();
        }
        simple(out, msg, cx.src, 483, "Too Many Hops", cp, &[]);
        return cx.reply(msg);
    }
    let initial_invite = req.method == Method::Invite && req.to.param("tag").is_none();
    if initial_invite {
        let Ingress::Known(Some(peer)) = ingress else {
            return unknown_trunk(out, msg, cx);
        };
        return screen(out, req, peer, cx, render);
    }
    let s = &cx.rt.settings;
    let trusted = matches!(ingress, Ingress::Known(Some(p)) if s.policy.peer(p).pai_trusted);
    let mut e = Edits::plain(
        max_forwards(req),
        &s.tags.header,
        !trusted,
        pops_route(msg, cp),
    );
    // The CANCEL (or non-2xx ACK) of a warned INVITE follows it to the
    // announcement service, with the same Request-URI.
    let warned = match (req.method, &s.warn) {
        (Method::Cancel | Method::Ack, Some(w)) => warned_uri(out, req, cx).map(|u| (u, w.hop)),
        _ => None,
    };
    if let Some((uri, hop)) = &warned {
        e.request_uri = Some(uri);
        return forward_to(out, msg, req, &e, cx, Some(*hop));
    }
    forward_to(out, msg, req, &e, cx, None)
}

fn max_forwards(req: &Request<'_>) -> u32 {
    // RFC 3261 §16.6 step 3: decremented, or 70 when absent.
    req.max_forwards.map_or(70, |n| n.min(256) - 1)
}

fn pops_route(msg: &Message<'_>, cp: &CallPath) -> bool {
    cp.links
        .local
        .get()
        .is_some_and(|l| route_is_own(msg, |h, p| l.is_own(h, p)))
}

/// Proxy mode's [`Render`](super::invite::Render) of an initial INVITE
/// through the stage: rejected here (and kept), or forwarded with its tags
/// (kept as forwarded, or as warned with the Request-URI it went with; a
/// retransmission is forwarded again, a warned one with that URI).
fn render<'a>(
    out: &mut Vec<u8>,
    req: &Request<'a>,
    ids: &'a CallerIds<'a>,
    peer: usize,
    cx: &Cx<'_>,
    d: &mut Decision<'a, '_>,
) -> Outcome {
    let (rt, cp) = (cx.rt, cx.cp);
    let msg = &req.msg;
    let retransmission = d.again.is_some();
    let action = d.action();
    if let (Action::Reject { .. }, Some(_)) = (action, &d.facts) {
        let v = d.verdict.as_ref();
        write_answer(out, req, cx.src, d.to_tag, rt, peer, v, ids, None, None);
        cp.cache.insert(d.key, d.now, Kind::Answer, out);
        return cx.reply(msg);
    }
    let s = &rt.settings;
    let trusted = s.policy.peer(peer).pai_trusted;
    let tagged = matches!(action, Action::Tag | Action::Anonymise | Action::Warn);
    let mut b = TagBufs::take();
    if let (true, Some(v)) = (tagged, d.verdict.as_ref()) {
        tag_values(v, ids, peer, rt, &mut b);
    }
    let mut e = Edits::plain(
        max_forwards(req),
        &s.tags.header,
        !trusted,
        pops_route(msg, cp),
    );
    e.verstat = d.verdict.as_ref().and_then(|v| v.verstat).map(|v| v.name());
    e.stir_cause = d.verdict.as_ref().and_then(stir_reason).map(|(c, _)| c);
    e.stir_ppi = super::answer::failed_ppi(req);
    // Rich Call Data in Call-Info (RFC 9796) goes on only with a verified
    // RCD claim (RFC 9795) in the call's PASSporT to vouch for it.
    let verified_rcd = d
        .facts
        .as_ref()
        .is_some_and(|f| f.rcd == Some(crate::screen::passport::RcdCheck::Verified));
    let vouched = match verified_rcd {
        true => vouched_urls(&d.rcd_refs, rt, cp),
        false => Vec::new(),
    };
    e.rcd_call_info = match verified_rcd {
        true => RcdCallInfo::Vouched(&vouched),
        false => RcdCallInfo::Drop,
    };
    let mut identity = Vec::new();
    if let Some(facts) = &d.facts
        && sign(&mut identity, facts, peer, rt)
    {
        e.identity = Some(&identity);
    }
    if tagged {
        e.reasons = Some(&b.reasons);
        e.pai_prefix = Some(&s.tags.display_prefix);
        e.add_pai = Some(&b.pai);
        e.anonymise = action == Action::Anonymise;
    }
    // A warned call goes to the announcement service, with RFC 4458's target
    // and cause and the original target carried (`[warn]`); its
    // retransmission with the Request-URI it went with.
    let warned_before = d.again.take().and_then(|a| a.warned);
    let warn = match (action, &s.warn, &d.facts) {
        (Action::Warn, Some(w), Some(facts)) => warned_before
            .or_else(|| {
                let warned = Warned::new(facts, w, &cp.warn_key, unix_now())?;
                let mut uri = Vec::new();
                warned.write_uri(&mut uri, w);
                Some(uri)
            })
            .map(|uri| (w, uri)),
        _ => None,
    };
    let untokened = untokened_uri(req);
    let carried = warn.as_ref().and_then(|(w, uri)| {
        let original = untokened.as_deref().unwrap_or(req.uri);
        carried(w, &String::from_utf8_lossy(original), uri)
    });
    let outcome = match &warn {
        Some((w, uri)) => {
            e.request_uri = Some(uri);
            e.add_header = carried.as_ref().map(|(n, v)| (*n, v.as_slice()));
            forward_to(out, msg, req, &e, cx, Some(w.hop))
        }
        None => {
            e.request_uri = untokened.as_deref();
            forward_to(out, msg, req, &e, cx, None)
        }
    };
    if !retransmission {
        // Kept with what its pass learned (`invite::Learned`), then a warned
        // call's Request-URI (a CANCEL must carry the same).
        let learned = d.learned.bytes();
        match &warn {
            Some((_, uri)) => {
                let kept = [learned.as_slice(), uri].concat();
                cp.cache.insert(d.key, d.now, Kind::Warned, &kept);
            }
            None => cp.cache.insert(d.key, d.now, Kind::Forwarded, &learned),
        }
    }
    outcome
}

/// The URLs of a verified Rich Call Data (`refs`) whose content is known
/// to have the digest its `rcdi` gives (RFC 9795 §6): a `Call-Info` may
/// send the called party there. One not fetched yet is fetched in the
/// background (`stir::Verifier::content_matches`), for the calls after:
/// the call never waits for a logo.
fn vouched_urls(refs: &[RcdRef], rt: &Runtime, cp: &CallPath) -> Vec<String> {
    let (Some(cfg), Some(handle)) = (rt.settings.stir.as_ref(), cp.runtime.get()) else {
        return Vec::new();
    };
    let Some(v) = cp.verifier(cfg) else {
        return Vec::new();
    };
    refs.iter()
        .filter(|r| v.content_matches(&r.url, r.alg, &r.digest, cfg, handle) == Some(true))
        .map(|r| r.url.clone())
        .collect()
}

/// Signs a call of an originating trunk that signs (`sign`, `[signing]`):
/// its Identity header's value into `out`. The caller number is read in
/// `[signing] caller_order` (the trusted PAI, else From, by default); the
/// attestation is the trunk's (`gateway`: C; `customer`: A when the number
/// is the operator's and assigned to the trunk, else B); `dest` is the To
/// number, else the callee. False: not signed (no number to sign for).
fn sign(
    out: &mut Vec<u8>,
    facts: &crate::screen::CallFacts<'_>,
    peer: usize,
    rt: &crate::state::Runtime,
) -> bool {
    use crate::config::SignMode;
    use crate::stir::sign::CallerSource;
    let s = &rt.settings;
    let (Some(signer), Some(mode)) = (&s.signing, s.peers.get(peer).and_then(|p| p.sign)) else {
        return false;
    };
    if !facts.originating {
        return false;
    }
    let policy = &s.policy;
    let orig = signer.caller_order.iter().find_map(|c| match c {
        CallerSource::From => facts.from.number(),
        CallerSource::Pai => facts.trusted_pai(policy).and_then(|p| p.number()),
    });
    let (Some(orig), Some(dest)) = (orig, facts.to_number(policy).or(facts.callee)) else {
        return false;
    };
    let assigned = &policy.peer(peer).assigned;
    let attest = match mode {
        SignMode::Gateway => b'C',
        SignMode::Customer if signer.holds(orig) && assigned.iter().any(|b| b.holds(orig)) => b'A',
        SignMode::Customer => b'B',
    };
    match signer.identity(out, attest, orig, dest, unix_now()) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "a call could not be signed: forwarded unsigned");
            false
        }
    }
}

/// Writes the forwarded request for `to`, else the next hop in use, and
/// says where it goes: over the hop's transport, or TCP when it is larger
/// than 1300 bytes (RFC 3261 §18.1.1).
fn forward_to(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    req: &Request<'_>,
    e: &Edits<'_>,
    cx: &Cx<'_>,
    to: Option<NextHop>,
) -> Outcome {
    let settings = &cx.rt.settings.proxy;
    let hop = to.or_else(|| {
        cx.cp
            .hops
            .choose(&settings.next_hops, Instant::now())
            .map(|(_, h)| h)
    });
    let (Some(hop), Some(local)) = (hop, cx.cp.links.local.get()) else {
        return cx.silent();
    };
    let branch = forward::branch(req);
    let mut own = OwnVia {
        tls: hop.tls,
        tcp: hop.tcp,
        host: &local.host,
        port: local.sent_by_port(),
        conn: cx.conn,
    };
    let write = |out: &mut Vec<u8>, own: &OwnVia<'_>| {
        write_request(
            out,
            msg,
            Some(&req.top_via),
            cx.src,
            own,
            branch.as_bytes(),
            e,
        );
    };
    write(out, &own);
    if !own.tcp && out.len() > UDP_MAX_REQUEST {
        own.tcp = true;
        write(out, &own);
    }
    Metrics::inc(&cx.cp.shared.metrics.forwarded);
    Outcome::Send {
        dest: if own.tcp {
            Dest::Tcp(hop.addr)
        } else {
            Dest::Udp(hop.addr)
        },
        consumed: cx.consumed,
        close: cx.close,
    }
}
