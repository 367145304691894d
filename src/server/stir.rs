//! STIR/SHAKEN on the call path (`[stir]`): a signed INVITE is parked off
//! the receive thread (its bytes copied, its transaction marked so that
//! retransmissions are absorbed), verified by a task (`crate::stir`: the
//! certificate within the budget, the signature on the verification pool),
//! then run through a handler again with the outcome (`handler::resume`,
//! reached through the call path) and answered or forwarded as any call.
//! Unsigned calls never come here.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::answer::Cx;
use super::cache::{Kind, TxKey};
use super::callpath::Parked;
use crate::screen::passport::{self, StirCheck, Unverified};
use crate::sip::Request;
use crate::sip::facts::identities;

/// What a screened INVITE does about its Identity.
pub enum Step {
    /// Screen it now with this (none: nothing to verify, or no `[stir]`).
    Go(Option<StirCheck>),
    /// Parked: answered later by the verification task.
    Parked,
}

/// The SHAKEN Identity header value of a request, if any (a diversion
/// PASSporT, `ppt=div`, is not the caller's).
fn shaken_identity<'a>(req: &Request<'a>) -> Option<&'a str> {
    identities(req)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .find(|v| matches!(passport::ppt(v).as_deref(), None | Some("shaken")))
}

/// A CANCEL for an INVITE still being verified: marked, so that the INVITE
/// is answered 487 when its verification ends (RFC 3261 §9.2: the CANCEL
/// itself gets 200). False when the INVITE is not parked.
pub fn cancel_parked(key: TxKey, cp: &super::callpath::CallPath) -> bool {
    let mut scratch = Vec::new();
    if cp.cache.get_own(key, Instant::now(), &mut scratch) != Some(Kind::Parked) {
        return false;
    }
    cp.cache.insert(key, Instant::now(), Kind::Cancelled, &[]);
    true
}

/// Decides whether the INVITE `req` (transaction `key`) is parked for
/// verification, and parks it.
pub fn step(req: &Request<'_>, key: TxKey, cx: &Cx<'_>) -> Step {
    if let Some(c) = cx.stir {
        return Step::Go(Some(c));
    }
    let Some(cfg) = cx.rt.settings.stir.as_ref() else {
        return Step::Go(None);
    };
    let Some(value) = shaken_identity(req) else {
        return Step::Go(None);
    };
    let (token, x5u) = match passport::verifiable(value) {
        Ok(x) => x,
        Err(Some(f)) => return Step::Go(Some(StirCheck::Failed(f))),
        Err(None) => return Step::Go(Some(StirCheck::Unverified(Unverified::Compact))),
    };
    let cp = cx.cp;
    let (Some(verifier), Some(rt), Some(&resume)) =
        (cp.verifier(cfg), cp.runtime.get(), cp.resume.get())
    else {
        return Step::Go(Some(StirCheck::Unverified(Unverified::Busy)));
    };
    if cp.parked.fetch_add(1, Ordering::Relaxed) >= cfg.queue {
        cp.parked.fetch_sub(1, Ordering::Relaxed);
        verifier.counts.busy.fetch_add(1, Ordering::Relaxed);
        return Step::Go(Some(StirCheck::Unverified(Unverified::Busy)));
    }
    let cached = verifier.cached(&x5u, cfg);
    if let Some(Err(check)) = cached {
        // A certificate that failed (or could not be had) lately: no wait.
        cp.parked.fetch_sub(1, Ordering::Relaxed);
        return Step::Go(Some(check));
    }
    cp.cache.insert(key, Instant::now(), Kind::Parked, &[]);
    let parked = Parked {
        bytes: req.msg.raw().to_vec(),
        src: cx.src,
        framing: cx.framing,
        conn: cx.conn,
        t0: cx.t0,
    };
    let (token, cfg, cp) = (token.to_string(), Arc::clone(cfg), Arc::clone(cp));
    if let Some(Ok(cert)) = cached {
        // The certificate is cached: the verification thread verifies and
        // answers, with no task in between.
        let v = Arc::clone(&verifier);
        let job: crate::stir::Job = Box::new(move || {
            let check = v.verify(&cert, &token, crate::clock::unix_now());
            resume(&cp, parked, check);
            cp.parked.fetch_sub(1, Ordering::Relaxed);
        });
        if verifier.run(job).is_err() {
            // The answer written now replaces the Parked entry.
            cx.cp.parked.fetch_sub(1, Ordering::Relaxed);
            return Step::Go(Some(StirCheck::Unverified(Unverified::Busy)));
        }
        return Step::Parked;
    }
    rt.spawn(async move {
        let now = crate::clock::unix_now();
        let check = verifier.check(token, x5u, &cfg, now, parked.t0).await;
        resume(&cp, parked, check);
        cp.parked.fetch_sub(1, Ordering::Relaxed);
    });
    Step::Parked
}
