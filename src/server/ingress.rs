//! Which peer handed a call over (DESIGN.md "Where a call came from"): the
//! trunk id a configured SBC signals (RFC 4904 `tgrp` in the Request-URI, or
//! a configured header), accepted only from the SBC's own addresses; else the
//! source address. Anyone else is an unknown source.

use std::net::IpAddr;
use std::time::Instant;

use crate::config::Settings;
use crate::screen::PeerId;
use crate::sip::Message;
use crate::sip::addr::{Uri, trim_lws};
use crate::state::Gcra;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingress {
    /// A configured SBC or peer; the peer when one could be told.
    Known(Option<PeerId>),
    /// Neither an SBC nor a peer.
    Unknown,
}

pub fn resolve(settings: &Settings, src: IpAddr, msg: &Message<'_>) -> Ingress {
    let by_address = || {
        settings
            .peers
            .iter()
            .position(|p| p.nets.iter().any(|n| n.contains(src)))
    };
    if let Some(sbc) = settings
        .sbcs
        .iter()
        .find(|s| s.nets.iter().any(|n| n.contains(src)))
    {
        let from_uri = sbc.trunk_param.as_deref().and_then(|p| {
            let uri = msg.request_uri()?;
            Uri::parse(uri)?.param(p)
        });
        let trunk = from_uri.or_else(|| {
            sbc.trunk_header
                .as_deref()
                .and_then(|h| msg.get_named(h))
                .map(trim_lws)
        });
        let peer = match trunk {
            Some(t) if !t.is_empty() => settings.peer_by_trunk(t),
            _ => by_address().or(sbc.default_peer),
        };
        return Ingress::Known(peer);
    }
    match by_address() {
        Some(p) => Ingress::Known(Some(p)),
        None => Ingress::Unknown,
    }
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
    use std::time::Duration;

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
