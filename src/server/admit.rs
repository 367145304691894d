//! Admission under load (README "Security and reliability"): before an
//! INVITE is screened, whether it is screened at all. An emergency call is
//! always screened (that is, let through: it is never rejected). Otherwise
//! a call that waited in the UDP queue longer than `[sip]
//! shed_queue_age_ms` is shed (the fail-open answer), and a call over its
//! ingress peer's rate limit gets what the peer's `over_limit` says. An
//! SBC as a whole is never limited: the bucket is the peer (trunk) the SBC
//! signals, or the direct peer's. And unknown sources' 403s are limited
//! per address, so that callscreen is nobody's reflector.

use std::time::{Duration, Instant};

use super::ingress::Ingress;
use crate::config::{Mode, OverLimit, Settings};
use crate::sip::{Method, Request};
use crate::state::{Metrics, Shared};

/// What becomes of a request before the modes see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// As usual: screened (an INVITE) or handled (anything else).
    Screen,
    /// The fail-open answer without screening: redirect mode's clean
    /// answer, proxy mode's untagged forward. Counted, no NOC line.
    Shed,
    /// No answer.
    Drop,
    /// Answered with this final code (a peer's `over_limit = "reject"`, or
    /// `503` to an OPTIONS callscreen would answer itself, when shedding).
    Answer(u16),
}

/// Decides, counting what is shed (`queued`: the time the datagram waited
/// in the kernel's queue; zero over TCP).
pub fn admit(
    req: &Request<'_>,
    ingress: Ingress,
    queued: Duration,
    settings: &Settings,
    shared: &Shared,
    now: Instant,
) -> Admit {
    let aged = queued > settings.sip.shed_queue_age;
    let m = &shared.metrics;
    match req.method {
        Method::Invite if req.to.param("tag").is_none() => {}
        Method::Options if aged && answered_here(req, settings) => {
            Metrics::inc(&m.shed_queue_age);
            return Admit::Answer(503);
        }
        _ => return Admit::Screen,
    }
    let emergency =
        std::str::from_utf8(req.uri).is_ok_and(|u| settings.policy.emergency.is_emergency(u));
    if emergency {
        return Admit::Screen;
    }
    if aged {
        Metrics::inc(&m.shed_queue_age);
        return Admit::Shed;
    }
    let Ingress::Known(Some(peer)) = ingress else {
        return Admit::Screen;
    };
    let Some(limit) = settings.peers.get(peer).map(|p| p.limit) else {
        return Admit::Screen;
    };
    let loads = shared.loads.load();
    if loads.admit(peer, limit.per_sec, limit.burst, now) {
        return Admit::Screen;
    }
    Metrics::inc(&m.shed_limit);
    if let Some(p) = loads.peers.get(peer) {
        Metrics::inc(&p.shed);
    }
    match limit.over {
        OverLimit::Pass => Admit::Shed,
        OverLimit::Drop => Admit::Drop,
        OverLimit::Reject(code) => Admit::Answer(code),
    }
}

/// Whether callscreen answers this OPTIONS itself (redirect mode; in proxy
/// mode one addressed to callscreen, without a user part).
fn answered_here(req: &Request<'_>, settings: &Settings) -> bool {
    settings.sip.mode == Mode::Redirect
        || req.max_forwards == Some(0)
        || req.ruri.is_some_and(|u| u.user.is_none())
}
