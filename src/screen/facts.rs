//! The facts a decision is made on, read from a call as it arrives. The SIP
//! path and `callscreen check` both build them here, from the raw strings,
//! so that `check` gives exactly the daemon's answer.

use std::net::IpAddr;

use super::policy::{PeerId, Policy};
use crate::number::{Cli, E164, normalise};

/// What a call presents.
#[derive(Clone, Copy, Debug)]
pub struct CallFacts<'a> {
    pub peer: PeerId,
    /// The From number (the presented number).
    pub from: Cli,
    pub from_raw: &'a str,
    pub from_display: Option<&'a str>,
    /// The P-Asserted-Identity number, as received (screened only when the
    /// peer is `pai_trusted`).
    pub pai: Option<Cli>,
    pub pai_display: Option<&'a str>,
    pub callee: Option<E164>,
    pub callee_raw: &'a str,
    /// The callee is an emergency destination (read from the raw URI).
    pub emergency: bool,
    /// Source address of the request, for network lists.
    pub source: Option<IpAddr>,
    /// Unix time of the decision (list entries expire).
    pub now: u64,
}

/// The raw inputs of a call.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCall<'a> {
    /// The From URI (or a bare number).
    pub from: &'a str,
    pub from_display: Option<&'a str>,
    pub pai: Option<&'a str>,
    pub pai_display: Option<&'a str>,
    /// The Request-URI (or a bare number).
    pub callee: &'a str,
    pub source: Option<IpAddr>,
}

impl<'a> CallFacts<'a> {
    /// Reads the call's numbers in the number context of `peer`.
    pub fn read(raw: &RawCall<'a>, peer: PeerId, policy: &Policy, now: u64) -> CallFacts<'a> {
        let ctx = &policy.peer(peer).context;
        CallFacts {
            peer,
            from: normalise(raw.from, ctx),
            from_raw: raw.from,
            from_display: raw.from_display,
            pai: raw.pai.map(|p| normalise(p, ctx)),
            pai_display: raw.pai_display,
            // The callee is dialled within the operator's own network.
            callee: normalise(raw.callee, &policy.home).number(),
            callee_raw: raw.callee,
            emergency: policy.emergency.is_emergency(raw.callee),
            source: raw.source,
            now,
        }
    }

    /// The PAI number when the peer is trusted to assert it.
    pub fn trusted_pai(&self, policy: &Policy) -> Option<Cli> {
        self.pai.filter(|_| policy.peer(self.peer).pai_trusted)
    }
}
