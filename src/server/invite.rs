//! The INVITE stage, for both modes: what an initial INVITE goes through
//! before it is answered or forwarded, once, in order:
//!
//! 1. its transaction in the retransmission cache (RFC 3261 §17.2.3):
//!    a retransmission gets what its transaction got; a merged request
//!    (§8.2.2.2) gets 482 in redirect mode;
//! 2. shedding (the handler's admission said so): no screening;
//! 3. STIR/SHAKEN: a signed call is parked for verification and comes back
//!    through here with the outcome;
//! 4. the facts, the decision, and the call counted with its NOC line.
//!
//! Redirect and proxy mode then only render the [`Decision`]: a 302 or a
//! rejection, or a forwarded request.

use std::time::Instant;

use super::answer::{Cx, Outcome, simple, transaction, write_terminated};
use super::cache::{Kind, Seen, TxKey};
use super::decide::{account, counting, decide, read_facts};
use super::noc;
use super::stir;
use crate::config::Mode;
use crate::screen::{Action, CallFacts, Verdict};
use crate::sip::Request;
use crate::sip::facts::CallerIds;
use crate::sip::response::reason_phrase;
use crate::state::Metrics;

/// What was decided about an INVITE, for its mode to render.
pub struct Decision<'a, 'r> {
    /// Its transaction, where the rendered answer is kept.
    pub key: TxKey,
    /// The To-tag of callscreen's answer to it (`answer::own_to_tag`).
    pub to_tag: u64,
    /// The cache's time of this message.
    pub now: Instant,
    /// Proxy mode: a retransmission of a call forwarded before (decided
    /// again, not counted), and the Request-URI a warned one went with.
    pub again: Option<Again>,
    /// None when the call was shed (the fail-open answer, unscreened).
    pub facts: Option<CallFacts<'a>>,
    /// None when shed, or when screening failed (fail open).
    pub verdict: Option<Verdict<'r>>,
}

/// A retransmission of a call proxy mode forwarded.
pub enum Again {
    Forwarded,
    /// Forwarded to the announcement service with this Request-URI.
    Warned(Vec<u8>),
}

impl Decision<'_, '_> {
    pub fn action(&self) -> Action {
        self.verdict.as_ref().map_or(Action::Allow, |v| v.action)
    }
}

/// Takes an initial INVITE from `peer` (its caller IDs read into `ids`)
/// through the stage, and hands what was decided to `render` (its mode),
/// which writes the answer or the forwarded request into `out`. Nothing to
/// send now (a retransmission of a call still being verified, or a call
/// just parked for verification): silent. An answer the stage writes itself
/// (a retransmission's, as its transaction got it; a 487 for a call
/// cancelled while it was verified; a 482 for a merged request) goes back
/// to the request's source. (The decision is large: lent to `render`, not
/// moved or boxed.)
pub fn screen<'a, 'r>(
    out: &mut Vec<u8>,
    req: &Request<'a>,
    ids: &'a CallerIds<'a>,
    peer: usize,
    cx: &Cx<'r>,
    render: impl FnOnce(&mut Vec<u8>, &mut Decision<'a, 'r>) -> Outcome,
) -> Outcome {
    let (rt, cp) = (cx.rt, cx.cp);
    let m = &cp.shared.metrics;
    let proxy = rt.settings.sip.mode == Mode::Proxy;
    let (key, to_tag) = transaction(req, cx);
    let now = cx.now();
    let resumed = cx.stir.is_some();
    let mut again = None;
    match cp.cache.get_into(key, now, out) {
        Some(Seen::Ours(Kind::Answer)) => {
            Metrics::inc(&m.retransmissions);
            return cx.reply_to(req);
        }
        Some(Seen::Ours(Kind::Parked | Kind::Cancelled)) if !resumed => {
            // Still being verified: it will be answered or forwarded then.
            Metrics::inc(&m.retransmissions);
            return cx.silent();
        }
        Some(Seen::Ours(Kind::Cancelled)) => {
            // Cancelled while it was verified: 487, kept for its
            // retransmissions, never screened or forwarded (RFC 3261 §9.2).
            write_terminated(out, req, cx);
            return cx.reply_to(req);
        }
        // Back from verification: screened now.
        Some(Seen::Ours(Kind::Parked)) => {}
        Some(Seen::Ours(Kind::Forwarded)) if proxy => again = Some(Again::Forwarded),
        Some(Seen::Ours(Kind::Warned)) if proxy => {
            again = Some(Again::Warned(std::mem::take(out)));
        }
        // A call proxy mode forwarded (before a reload changed the mode):
        // redirect mode screens it anew.
        Some(Seen::Ours(Kind::Forwarded | Kind::Warned)) => {}
        Some(Seen::Another) => {
            // The Call-ID, From-tag and CSeq of a transaction this request
            // is not part of (another branch, sent-by or source). Never
            // that transaction's answer. A UAS answers a merged request 482
            // (RFC 3261 §8.2.2.2; the same each time, so not kept); a
            // stateless proxy forwards what it is given (§16.11): screened
            // on its own.
            if !resumed {
                Metrics::inc(&m.merged);
            }
            if !proxy && req.to.param("tag").is_none() {
                tracing::debug!(source = %cx.src, "merged request answered 482 Loop Detected");
                simple(out, &req.msg, cx.src, 482, reason_phrase(482), cp, &[]);
                return cx.reply_to(req);
            }
        }
        None => {}
    }
    if again.is_some() {
        // Forwarded again with no second NOC line (the next hop's
        // transaction absorbs it), decided again to write the same tags.
        Metrics::inc(&m.retransmissions);
    }
    if cx.shed {
        let mut d = Decision {
            key,
            to_tag,
            now,
            again,
            facts: None,
            verdict: None,
        };
        return render(out, &mut d);
    }
    let stir = match again {
        Some(_) => None,
        None => match stir::step(req, key, cx) {
            stir::Step::Go(s) => s,
            stir::Step::Parked => return cx.silent(),
        },
    };
    let bursts = cp.shared.bursts.load();
    let counted = counting(rt, &bursts).filter(|_| again.is_none());
    let mut facts = read_facts(req, ids, peer, cx.src.ip(), rt, &cp.warn_key, counted);
    facts.stir = stir;
    let verdict = decide(&facts, rt, m, req);
    if again.is_none() {
        let action = verdict.as_ref().map_or(Action::Allow, |v| v.action);
        // The code the NOC line gives: the answer's in redirect mode, a
        // rejection's in proxy mode (0: forwarded).
        let code = match (proxy, action) {
            (false, a) => noc::code(a, rt.settings.redirect.clean_code),
            (true, Action::Reject { code }) => code,
            (true, _) => 0,
        };
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
    }
    let mut d = Decision {
        key,
        to_tag,
        now,
        again,
        facts: Some(facts),
        verdict,
    };
    render(out, &mut d)
}
