//! Admission under load (README "Security and reliability"): before an
//! INVITE is screened, whether it is screened at all. An emergency call is
//! always screened (that is, let through: it is never rejected). Otherwise
//! a call that waited in the UDP queue longer than `[sip]
//! shed_queue_age_ms` is shed (the fail-open answer), and a call over its
//! ingress peer's rate limit gets what the peer's `over_limit` says. An
//! SBC as a whole is never limited: the bucket is the peer (trunk) the SBC
//! signals, or the direct peer's. And unknown sources' 403s are limited
//! per address, so that callscreen is nobody's reflector.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::ingress::Ingress;
use crate::config::{Mode, OverLimit, Settings};
use crate::sip::{Method, Request};
use crate::state::{Gcra, Metrics, Shared};

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

/// 403s to unknown sources, per address: a fixed table of buckets (by a
/// hash of the address; addresses that share a slot share its bucket).
pub struct Unknowns {
    epoch: Instant,
    slots: Box<[Gcra]>,
}

const UNKNOWN_SLOTS: usize = 1024;

impl Default for Unknowns {
    fn default() -> Self {
        Unknowns {
            epoch: Instant::now(),
            slots: (0..UNKNOWN_SLOTS).map(|_| Gcra::default()).collect(),
        }
    }
}

impl Unknowns {
    /// Whether `ip` may be answered (`per_sec` answers a second, as many in a burst).
    pub fn admit(&self, ip: IpAddr, per_sec: u32, now: Instant) -> bool {
        let h = match ip {
            IpAddr::V4(a) => u64::from(a.to_bits()),
            IpAddr::V6(a) => {
                let b = a.to_bits();
                (b as u64) ^ ((b >> 64) as u64)
            }
        };
        let slot = (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize % UNKNOWN_SLOTS;
        let now_ns = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        // per_sec 0 would mean "no limit" to the bucket: here it means none answered.
        per_sec > 0 && self.slots[slot].admit(now_ns, per_sec, per_sec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_addresses_are_answered_at_their_rate_each() {
        let u = Unknowns::default();
        let t = u.epoch + Duration::from_secs(5);
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "198.51.100.7".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        assert_eq!((0..50).filter(|_| u.admit(a, 20, t)).count(), 20);
        assert!(u.admit(b, 20, t), "another address has its own bucket");
        assert!(!u.admit(a, 0, t + Duration::from_secs(9)));
    }
}
