//! Redirect mode (DESIGN.md "Redirect mode"): callscreen answers every
//! request itself as a stateless UAS (RFC 3261 §8.2.7). An INVITE is
//! screened and answered (`302` to the next hop, with tags; or the policy's
//! rejection); a retransmission gets the cached answer; ACK and CANCEL are
//! ignored; OPTIONS is answered.

use super::answer::{Cx, Outcome, options, simple, transaction_key, unknown_trunk, write_answer};
use super::cache::Kind;
use super::ingress::Ingress;
use super::invite::screen;
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
            invite(out, req, peer, cx)
        }
        Method::NotAllowed | Method::Unknown => cx.silent(),
    }
}

/// An INVITE through the stage (`invite::screen`), its answer written
/// into `out` and kept for its retransmissions.
fn invite(out: &mut Vec<u8>, req: &Request<'_>, peer: usize, cx: &Cx<'_>) -> Outcome {
    let (rt, cp) = (cx.rt, cx.cp);
    let ids = CallerIds::read(req);
    screen(out, req, &ids, peer, cx, |out, d| {
        let warned = match (d.action(), &rt.settings.warn, &d.facts) {
            (Action::Warn, Some(w), Some(facts)) => Warned::new(facts, w, &cp.warn_key, unix_now()),
            _ => None,
        };
        let v = d.verdict.as_ref();
        let tag = d.to_tag;
        write_answer(out, req, cx.src, tag, rt, peer, v, &ids, warned.as_ref());
        cp.cache.insert(d.key, d.now, Kind::Answer, out);
        cx.reply_to(req)
    })
}
