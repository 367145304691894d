//! Redirect mode (DESIGN.md "Redirect mode"): callscreen answers every
//! request itself as a stateless UAS (RFC 3261 §8.2.7). An INVITE is
//! screened and answered (`302` to the next hop, with tags; or the policy's
//! rejection); a retransmission gets the cached answer; ACK and CANCEL are
//! ignored; OPTIONS is answered.

use super::answer::{Cx, Outcome, options, simple, transaction_key, unknown_trunk, write_answer};
use super::cache::Kind;
use super::ingress::Ingress;
use super::invite::{Decision, screen};
use super::stir;
use super::warn::Warned;
use crate::clock::unix_now;
use crate::screen::Action;
use crate::sip::facts::CallerIds;
use crate::sip::{Message, Method, Request};

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
            screen(out, req, peer, cx, render)
        }
        Method::NotAllowed | Method::Unknown => cx.silent(),
    }
}

/// Redirect mode's [`Render`](super::invite::Render): the answer (302 or rejection), kept for its
/// transaction's retransmissions.
fn render<'a>(
    out: &mut Vec<u8>,
    req: &Request<'a>,
    ids: &'a CallerIds<'a>,
    peer: usize,
    cx: &Cx<'_>,
    d: &mut Decision<'a, '_>,
) -> Outcome {
    let (rt, cp) = (cx.rt, cx.cp);
    let warned = match (d.action(), &rt.settings.warn, &d.facts) {
        (Action::Warn, Some(w), Some(facts)) => Warned::new(facts, w, &cp.warn_key, unix_now()),
        _ => None,
    };
    let v = d.verdict.as_ref();
    write_answer(
        out,
        req,
        cx.src,
        d.to_tag,
        rt,
        peer,
        v,
        ids,
        warned.as_ref(),
        d.facts.as_ref().and_then(|f| f.rcd_name),
    );
    cp.cache.insert(d.key, d.now, Kind::Answer, out);
    cx.reply_to(req)
}
