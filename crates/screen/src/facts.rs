//! The facts a decision is made on, read from a call as it arrives. The SIP
//! path and `callscreen check` both build them here, from the raw strings,
//! so that `check` gives exactly the daemon's answer.

use std::net::IpAddr;

use super::passport::{self, DivCheck, Passport, RcdCheck, StirCheck};
use super::policy::{PeerId, Policy};
use number::{Cli, E164, normalise};

/// The STIR/SHAKEN Identity of a call, as received (unverified).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Identity {
    /// No Identity header (or only non-SHAKEN ones, such as `ppt=div`).
    Absent,
    /// An Identity header that is no readable PASSporT.
    Unreadable,
    Present(Passport),
}

/// Most diverting parties and Identity headers read per call.
pub const MAX_PARTS: usize = 4;

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
    /// A diverting party (Diversion, History-Info) is a home-country number:
    /// the call was forwarded by a domestic line, so a domestic caller ID
    /// from abroad is no spoof on that ground alone.
    pub diverted_domestic: bool,
    pub identity: Identity,
    /// What verifying the PASSporT gave (`[stir]`); none when nothing was
    /// verified (no `[stir]`, or no SHAKEN Identity). Found by the server.
    pub stir: Option<StirCheck>,
    /// What the call's diversion PASSporTs (`ppt=div`, RFC 8946) prove;
    /// none when it has none, or they decide nothing (verified only on
    /// international peers, where they can lift `spoof:domestic-*-intl`).
    /// Found by the server.
    pub div: Option<DivCheck>,
    /// What the SHAKEN PASSporT's Rich Call Data (RFC 9795) comes to; none
    /// when it has none. Found by the server.
    pub rcd: Option<RcdCheck>,
    /// Its display name (`nam`), when [`RcdCheck::Verified`]: screened as
    /// the From display name is.
    pub rcd_name: Option<&'a str>,
    /// The To URI, where `dest.tn` is compared (RFC 8224 §4.1); read as a
    /// number only then (`to_number`), not on every call.
    pub to_raw: Option<&'a str>,
    /// A call a subscriber makes (the peer's `direction`; `check
    /// --direction` may say otherwise): the dialled number is screened.
    pub originating: bool,
    /// The call comes back from the announcement service with a valid,
    /// unexpired token of callscreen's for this callee and caller: the
    /// subscriber heard the warning and insisted. Checked where keys and
    /// clocks live (the server), given here as a fact.
    pub insisted: bool,
    /// Calls in the burst window from the caller's number and block, this
    /// one included. Counted where state and clocks live (the server; 0
    /// when not counted), given here as a fact.
    pub burst: BurstCount,
    /// What the roaming check (`[roaming]`) said of the caller's home
    /// mobile number; none when it was not asked. Asked by the server, off
    /// the receive threads, given here as a fact.
    pub roaming: Option<Roaming>,
}

/// The roaming check's answer for a home mobile number from abroad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Roaming {
    /// The subscriber is roaming abroad: the number is theirs to present.
    Roaming,
    /// The subscriber is at home (or the number is not in service).
    NotRoaming,
    /// The endpoint does not know the number (another national network's).
    Unknown,
    /// No answer within the budget (slow, down, refused, or over the
    /// concurrency limit).
    Unanswered,
}

impl Roaming {
    pub fn name(self) -> &'static str {
        match self {
            Roaming::Roaming => "roaming",
            Roaming::NotRoaming => "not-roaming",
            Roaming::Unknown => "unknown",
            Roaming::Unanswered => "unanswered",
        }
    }

    /// Every answer, for [`Roaming::name`] and [`Roaming::from_name`].
    pub const ALL: [Roaming; 4] = [
        Roaming::Roaming,
        Roaming::NotRoaming,
        Roaming::Unknown,
        Roaming::Unanswered,
    ];

    pub fn from_name(s: &str) -> Option<Roaming> {
        Roaming::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// Calls in the burst window (`[bursts]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BurstCount {
    pub number: u32,
    pub block: u32,
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
    /// The To URI (or a bare number), when known.
    pub to: Option<&'a str>,
    pub source: Option<IpAddr>,
    /// URIs of diverting parties (Diversion, History-Info).
    pub diversions: [Option<&'a str>; MAX_PARTS],
    /// Identity header values.
    pub identities: [Option<&'a str>; MAX_PARTS],
}

impl<'a> CallFacts<'a> {
    /// Reads the call's numbers in the number context of `peer`.
    pub fn read(raw: &RawCall<'a>, peer: PeerId, policy: &Policy, now: u64) -> CallFacts<'a> {
        let ctx = &policy.peer(peer).context;
        let home = &policy.country(peer).home;
        CallFacts {
            peer,
            from: normalise(raw.from, ctx),
            from_raw: raw.from,
            from_display: raw.from_display,
            pai: raw.pai.map(|p| normalise(p, ctx)),
            pai_display: raw.pai_display,
            // The callee is dialled within the operator's own network (of
            // the peer's country).
            callee: normalise(raw.callee, home).number(),
            callee_raw: raw.callee,
            emergency: policy.emergency.is_emergency(raw.callee),
            source: raw.source,
            now,
            diverted_domestic: raw.diversions.iter().flatten().any(|d| {
                let cc = home.country_code.as_deref().unwrap_or_default();
                normalise(d, ctx)
                    .number()
                    .is_some_and(|n| n.starts_with(cc.as_bytes()))
            }),
            identity: read_identity(&raw.identities),
            stir: None,
            div: None,
            rcd: None,
            rcd_name: None,
            to_raw: raw.to,
            originating: policy.peer(peer).originating,
            insisted: false,
            burst: BurstCount::default(),
            roaming: None,
        }
    }

    /// The number in the To header, read as the callee is (in the
    /// operator's own numbering).
    pub fn to_number(&self, policy: &Policy) -> Option<E164> {
        self.to_raw
            .and_then(|t| normalise(t, &policy.country(self.peer).home).number())
    }

    /// The PAI number when the peer is trusted to assert it.
    pub fn trusted_pai(&self, policy: &Policy) -> Option<Cli> {
        self.pai.filter(|_| policy.peer(self.peer).pai_trusted)
    }
}

/// The SHAKEN PASSporT among the Identity headers: `ppt=shaken` (or no ppt
/// at all); diversion PASSporTs (`ppt=div`, RFC 8946) are not the caller's.
fn read_identity(values: &[Option<&str>]) -> Identity {
    let mut out = Identity::Absent;
    for v in values.iter().flatten() {
        match passport::ppt(v).as_deref() {
            None | Some("shaken") => {}
            Some(_) => continue,
        }
        match passport::parse(v) {
            Some(p) => return Identity::Present(p),
            None => out = Identity::Unreadable,
        }
    }
    out
}
