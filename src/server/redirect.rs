//! Redirect mode (DESIGN.md "Redirect mode"): callscreen answers every
//! request itself as a stateless UAS (RFC 3261 §8.2.7). An INVITE is
//! screened and answered (`302` to the next hop, with tags; or the policy's
//! rejection); a retransmission gets the cached answer; ACK and CANCEL are
//! ignored; OPTIONS is answered.

use super::answer::{
    Cx, Outcome, options, own_to_tag, simple, transaction_key, unknown_trunk, write_answer,
    write_terminated,
};
use super::cache::{Kind, Seen};
use super::decide::{account, counting, decide, read_facts};
use super::ingress::Ingress;
use super::noc;
use super::stir;
use super::warn::Warned;
use crate::clock::unix_now;
use crate::screen::Action;
use crate::sip::facts::CallerIds;
use crate::sip::response::reason_phrase;
use crate::sip::{Message, Method, Request};
use crate::state::Metrics;

/// A request in redirect mode.
pub fn request(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    req: &Request<'_>,
    ingress: Ingress,
    cx: &Cx<'_>,
) -> Outcome {
    match req.method {
        Method::Cancel if stir::cancel_parked(transaction_key(req, cx), cx.cp) => {
            simple(out, msg, cx.src, 200, "OK", cx.cp, &[]);
            cx.reply(msg)
        }
        Method::Ack | Method::Cancel => cx.silent(),
        Method::Options => {
            options(out, msg, cx.src, cx.cp);
            cx.reply(msg)
        }
        Method::Invite => {
            let Ingress::Known(Some(peer)) = ingress else {
                return unknown_trunk(out, msg, cx);
            };
            invite(out, req, peer, cx)
        }
        Method::NotAllowed | Method::Unknown => cx.silent(),
    }
}

/// Screens an INVITE and writes its answer (or the cached one) into
/// `out`; or parks it for verification (`[stir]`) and sends nothing yet.
fn invite(out: &mut Vec<u8>, req: &Request<'_>, peer: usize, cx: &Cx<'_>) -> Outcome {
    let (rt, cp) = (cx.rt, cx.cp);
    let to_tag = own_to_tag(req, cp);
    let key = transaction_key(req, cx);
    let now = cx.now();
    // A call proxy mode forwarded (before a reload changed the mode) is screened anew.
    match cp.cache.get_into(key, now, out) {
        Some(Seen::Ours(Kind::Answer)) => {
            Metrics::inc(&cp.shared.metrics.retransmissions);
            return cx.reply_to(req);
        }
        Some(Seen::Ours(Kind::Parked | Kind::Cancelled)) if cx.stir.is_none() => {
            // Still being verified: the answer will come.
            Metrics::inc(&cp.shared.metrics.retransmissions);
            return cx.silent();
        }
        Some(Seen::Ours(Kind::Cancelled)) => {
            // Cancelled while it was verified: 487, kept for its retransmissions.
            write_terminated(out, req, cx);
            return cx.reply_to(req);
        }
        Some(Seen::Another) if req.to.param("tag").is_none() => {
            // The Call-ID, From-tag and CSeq of a transaction this request
            // is not part of (another branch, sent-by or source): a merged
            // request, RFC 3261 §8.2.2.2. Not screened, and never given
            // that transaction's answer; the 482 is the same each time, so
            // it is not kept.
            Metrics::inc(&cp.shared.metrics.merged);
            tracing::debug!(source = %cx.src, "merged request answered 482 Loop Detected");
            simple(out, &req.msg, cx.src, 482, reason_phrase(482), cp, &[]);
            return cx.reply_to(req);
        }
        _ => {}
    }
    let ids = CallerIds::read(req);
    if cx.shed {
        write_answer(out, req, cx.src, to_tag, rt, peer, None, &ids, None);
        cp.cache.insert(key, now, Kind::Answer, out);
        return cx.reply_to(req);
    }
    let stir = match stir::step(req, key, cx) {
        stir::Step::Go(s) => s,
        stir::Step::Parked => return cx.silent(),
    };
    let bursts = cp.shared.bursts.load();
    let mut facts = read_facts(
        req,
        &ids,
        peer,
        cx.src.ip(),
        rt,
        &cp.warn_key,
        counting(rt, &bursts),
    );
    facts.stir = stir;
    let verdict = decide(&facts, rt, &cp.shared.metrics, req);
    let action = verdict.as_ref().map_or(Action::Allow, |v| v.action);
    let warned = match (action, &rt.settings.warn) {
        (Action::Warn, Some(w)) => Warned::new(&facts, w, &cp.warn_key, unix_now()),
        _ => None,
    };
    let v = verdict.as_ref();
    write_answer(out, req, cx.src, to_tag, rt, peer, v, &ids, warned.as_ref());
    cp.cache.insert(key, now, Kind::Answer, out);
    let code = noc::code(action, rt.settings.redirect.clean_code);
    account(
        req,
        &facts,
        verdict.as_ref(),
        peer,
        code,
        rt,
        &cp.shared,
        cx.t0,
    );
    cx.reply_to(req)
}
