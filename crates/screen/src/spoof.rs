//! The spoofing rules: protected companies (`spoof:dno`,
//! `spoof:unauthorised-peer`, `spoof:display-name`,
//! `spoof:pai-from-mismatch`), home-country caller IDs from abroad
//! (`spoof:domestic-cli-intl`, `spoof:domestic-mobile-intl`), and STIR/SHAKEN
//! (`shaken:none`, `shaken:attest-c`, `shaken:orig-mismatch`,
//! `shaken:stale`). None of them is lifted by the allowlist: scammers spoof
//! exactly the numbers that are allowlisted.

use super::facts::{CallFacts, Identity, Roaming};
use super::passport::{DivCheck, RcdCheck, StirCheck, StirFailure, Verstat};
use super::policy::{Peer, Policy};
use super::reason::{Reason, ReasonKind};
use super::rules::{add, add_noted, callers};
use super::verdict::{ListHit, Subject, Verdict};
use lists::{CompanyList, ListSet, Role};
use number::Cli;
use number::plan::{NumberType, PlanCheck, check};

fn owns(cl: &CompanyList, company: usize, cli: Option<Cli>, now: u64) -> bool {
    matches!(cli, Some(Cli::Number(n)) if cl.lookup(n, now).is_some_and(|h| h.company == company))
}

/// Protected companies: inbound-only numbers, unauthorised peers, brand
/// names in display names, and a From that claims what a trusted PAI does not.
pub(super) fn protected<'a>(
    v: &mut Verdict<'a>,
    facts: &CallFacts<'_>,
    lists: &'a ListSet,
    policy: &'a Policy,
) {
    let peer = policy.peer(facts.peer);
    let pai = facts.trusted_pai(policy);
    for list in lists.with_role(Role::Protected) {
        let Some(cl) = list.companies() else { continue };
        let hit_of = |h: lists::Hit<'a>| ListHit::of(list, h);
        for (subject, cli) in callers(facts, policy).into_iter().flatten() {
            let Cli::Number(n) = cli else { continue };
            let Some(h) = cl.lookup(n, facts.now) else {
                continue;
            };
            let company = &cl.companies[h.company];
            if h.inbound_only {
                add_noted(
                    v,
                    policy,
                    facts,
                    Reason::new(ReasonKind::SpoofDno),
                    subject,
                    Some(n),
                    Some(hit_of(h.hit)),
                    Some(&company.name),
                );
            } else if !company.allowed_peers.is_empty()
                && !company.allowed_peers.contains(&peer.name)
            {
                add_noted(
                    v,
                    policy,
                    facts,
                    Reason::new(ReasonKind::SpoofUnauthorisedPeer),
                    subject,
                    Some(n),
                    Some(hit_of(h.hit)),
                    Some(&company.name),
                );
            }
        }
        // A brand in a display name, on a call from none of that company's numbers.
        let displays = [
            (Subject::From, facts.from_display),
            (Subject::Pai, facts.pai_display.filter(|_| pai.is_some())),
            (
                Subject::Rcd,
                facts
                    .rcd_name
                    .filter(|_| facts.rcd == Some(RcdCheck::Verified)),
            ),
        ];
        for (subject, display) in displays {
            let Some(company) = display.and_then(|d| cl.brand(d)) else {
                continue;
            };
            if owns(cl, company, Some(facts.from), facts.now) || owns(cl, company, pai, facts.now) {
                continue;
            }
            let number = if subject == Subject::Pai {
                pai.and_then(Cli::number)
            } else {
                facts.from.number()
            };
            add_noted(
                v,
                policy,
                facts,
                Reason::new(ReasonKind::SpoofDisplayName),
                subject,
                number,
                None,
                Some(&cl.companies[company].name),
            );
            break;
        }
        // From shows a protected number that the trusted PAI does not.
        if let (Some(Cli::Number(p)), Cli::Number(f)) = (pai, facts.from)
            && p != f
            && let Some(h) = cl.lookup(f, facts.now)
            && !owns(cl, h.company, pai, facts.now)
        {
            add_noted(
                v,
                policy,
                facts,
                Reason::new(ReasonKind::SpoofPaiFromMismatch),
                Subject::From,
                Some(f),
                Some(hit_of(h.hit)),
                Some(&cl.companies[h.company].name),
            );
        }
    }
}

/// Why a call its headers say a home line diverted is not exempt: its peer
/// signs diversions, and no verified `div` PASSporT shows it.
fn div_note(facts: &CallFacts<'_>, policy: &Policy) -> Option<&'static str> {
    (facts.diverted_domestic && policy.peer(facts.peer).div_signs)
        .then(|| DivCheck::note(facts.div))
}

/// What a home-country caller ID from abroad is, before roaming is asked.
enum HomeCli<'a> {
    /// A `registered-cli` list registers it to be presented from abroad.
    Registered(ListHit<'a>),
    Mobile,
    Other,
}

/// Whether the call was diverted by a home-country line, as far as its
/// peer can show it: a verified `div` PASSporT chain (RFC 8946) naming
/// one, from any peer; the Diversion or History-Info headers, from a peer
/// that does not sign its diversions (`div_signs`).
fn diverted_home(facts: &CallFacts<'_>, peer: &Peer) -> bool {
    facts.div == Some(DivCheck::Verified { domestic: true })
        || (facts.diverted_domestic && !peer.div_signs)
}

/// The first home-country caller ID (of the peer's country) that an
/// international peer hands over, when the rule applies at all: not a
/// dedicated circuit (`domestic_cli_allowed`), not diverted by a domestic
/// line ([`diverted_home`]), not a subscriber's own call, not an emergency
/// call.
fn home_cli_from_abroad<'a>(
    facts: &CallFacts<'_>,
    lists: &'a ListSet,
    policy: &Policy,
) -> Option<(Subject, number::E164, HomeCli<'a>)> {
    let peer = policy.peer(facts.peer);
    if !peer.international
        || peer.domestic_cli_allowed
        || diverted_home(facts, peer)
        || facts.originating
        || facts.emergency
    {
        return None;
    }
    let cc = policy.country(facts.peer).home.country_code.as_deref()?;
    let (subject, n) = callers(facts, policy)
        .into_iter()
        .flatten()
        .find_map(|(s, cli)| {
            cli.number()
                .filter(|n| n.starts_with(cc.as_bytes()))
                .map(|n| (s, n))
        })?;
    let registered = lists
        .with_role(Role::RegisteredCli)
        .iter()
        .find_map(|l| l.lookup_number(n, facts.now).hit.map(|h| ListHit::of(l, h)));
    let what = match (registered, check(n, &policy.plans)) {
        (Some(hit), _) => HomeCli::Registered(hit),
        (None, PlanCheck::Valid(NumberType::Mobile)) => HomeCli::Mobile,
        (None, _) => HomeCli::Other,
    };
    Some((subject, n, what))
}

/// The home mobile number whose subscriber's roaming would decide this
/// call (`[roaming]` asks the operator's endpoint about it), if any: the
/// same conditions as [`domestic_from_abroad`], so the server asks exactly
/// when the rule would read the answer.
pub fn roaming_number(
    facts: &CallFacts<'_>,
    lists: &ListSet,
    policy: &Policy,
) -> Option<number::E164> {
    match home_cli_from_abroad(facts, lists, policy)? {
        (_, n, HomeCli::Mobile) => Some(n),
        _ => None,
    }
}

/// A home-country caller ID handed over by an international peer.
/// A number a `registered-cli` list registers to be presented from abroad
/// gives `registered-cli` (with its list hit). A mobile number goes by the
/// roaming check's answer: `roaming` when the subscriber roams,
/// `spoof:domestic-mobile-intl` when not, `spoof:domestic-mobile-unchecked`
/// without an answer under a profile whose rule needs one. Any other
/// number is `spoof:domestic-cli-intl`.
pub(super) fn domestic_from_abroad<'a>(
    v: &mut Verdict<'a>,
    facts: &CallFacts<'_>,
    lists: &'a ListSet,
    policy: &'a Policy,
) {
    let Some((subject, n, what)) = home_cli_from_abroad(facts, lists, policy) else {
        return;
    };
    let roaming_rule = policy
        .country(facts.peer)
        .profile
        .is_some_and(|p| p.roaming_rule);
    let (kind, hit, note) = match what {
        HomeCli::Registered(hit) => (ReasonKind::RegisteredCli, Some(hit), None),
        HomeCli::Other => (
            ReasonKind::SpoofDomesticCliIntl,
            None,
            div_note(facts, policy),
        ),
        HomeCli::Mobile => match facts.roaming {
            Some(Roaming::Roaming) => (ReasonKind::Roaming, None, Some("roaming check: roaming")),
            Some(Roaming::NotRoaming) => (
                ReasonKind::SpoofDomesticMobileIntl,
                None,
                Some("roaming check: not roaming"),
            ),
            Some(Roaming::Unknown) => (
                ReasonKind::SpoofDomesticMobileUnchecked,
                None,
                Some("roaming check: unknown number"),
            ),
            Some(Roaming::Unanswered) => (
                ReasonKind::SpoofDomesticMobileUnchecked,
                None,
                Some("roaming check: no answer in time"),
            ),
            None if roaming_rule => (
                ReasonKind::SpoofDomesticMobileUnchecked,
                None,
                Some("no roaming check configured"),
            ),
            None => (
                ReasonKind::SpoofDomesticMobileIntl,
                None,
                div_note(facts, policy),
            ),
        },
    };
    add_noted(
        v,
        policy,
        facts,
        Reason::new(kind),
        subject,
        Some(n),
        hit,
        note,
    );
}

/// STIR/SHAKEN. Unverified (no `[stir]`, or not verified in time) it only
/// ever adds suspicion. Verified, a failure is its own reason, and on a call
/// presenting a protected company's number also `stir:failed-protected`;
/// the claims of a good signature (`iat`, `orig`, `dest`) are compared here.
/// The outcome is the verdict's `verstat`.
pub(super) fn shaken<'a>(
    v: &mut Verdict<'a>,
    facts: &CallFacts<'_>,
    lists: &'a ListSet,
    policy: &'a Policy,
) {
    let peer = policy.peer(facts.peer);
    let p = match facts.identity {
        Identity::Present(p) => p,
        Identity::Absent | Identity::Unreadable => {
            if facts.identity == Identity::Unreadable && facts.stir.is_some() {
                v.verstat = Some(Verstat::Failed);
                stir_failed(v, facts, lists, policy, StirFailure::Malformed);
            }
            if peer.shaken_signs && facts.identity == Identity::Absent {
                add(
                    v,
                    policy,
                    facts,
                    Reason::new(ReasonKind::ShakenNone),
                    Subject::From,
                    facts.from.number(),
                    None,
                );
            }
            return;
        }
    };
    v.verstat = facts.stir.map(|c| match c {
        StirCheck::Signed => Verstat::Passed,
        StirCheck::Failed(_) => Verstat::Failed,
        StirCheck::Unverified(_) => Verstat::NoValidation,
    });
    if let Some(StirCheck::Failed(f)) = facts.stir {
        stir_failed(v, facts, lists, policy, f);
        return;
    }
    if p.compact {
        // RFC 8224 §7.3: no payload travels; there is nothing to compare.
        return;
    }
    let caller = stir_caller(facts, policy);
    let signed = facts.stir == Some(StirCheck::Signed);
    if p.attest == Some(b'C') {
        add_noted(
            v,
            policy,
            facts,
            Reason::new(ReasonKind::ShakenAttestC),
            Subject::From,
            caller,
            None,
            Some("attestation C"),
        );
    }
    let mut failed = false;
    if let (Some(o), Some(c)) = (p.orig, caller)
        && o != c
    {
        failed = true;
        add_noted(
            v,
            policy,
            facts,
            Reason::new(ReasonKind::ShakenOrigMismatch),
            Subject::From,
            caller,
            None,
            Some("orig.tn differs from the caller"),
        );
    }
    if let Some(iat) = p.iat {
        let age = facts.now.abs_diff(iat);
        if age > policy.shaken_max_age {
            failed = true;
            add_noted(
                v,
                policy,
                facts,
                Reason::new(ReasonKind::ShakenStale),
                Subject::From,
                caller,
                None,
                Some("iat outside the freshness window"),
            );
        }
    }
    if !signed {
        return;
    }
    if failed || p.orig.is_none() || p.iat.is_none() {
        v.verstat = Some(Verstat::Failed);
        failed_protected(v, facts, lists, policy, caller);
        return;
    }
    if let Some(to) = facts.to_number(policy)
        && p.dest != Some(to)
    {
        // A dest mismatch alone: its own reason, tagged; not a failed signature.
        v.verstat = Some(Verstat::Failed);
        add_noted(
            v,
            policy,
            facts,
            Reason::new(ReasonKind::StirDestMismatch),
            Subject::From,
            caller,
            None,
            Some("dest.tn differs from the To number"),
        );
    }
}

/// The number a PASSporT's `orig` must equal: the trusted PAI's, else From's.
fn stir_caller(facts: &CallFacts<'_>, policy: &Policy) -> Option<number::E164> {
    facts
        .trusted_pai(policy)
        .and_then(Cli::number)
        .or(facts.from.number())
}

/// Whether `n` is a number of a protected company (any list, any role).
fn protected_number(facts: &CallFacts<'_>, lists: &ListSet, n: Option<number::E164>) -> bool {
    let Some(n) = n else { return false };
    lists
        .with_role(Role::Protected)
        .iter()
        .filter_map(|l| l.companies())
        .any(|cl| cl.lookup(n, facts.now).is_some())
}

fn stir_failed<'a>(
    v: &mut Verdict<'a>,
    facts: &CallFacts<'_>,
    lists: &'a ListSet,
    policy: &'a Policy,
    f: StirFailure,
) {
    let caller = stir_caller(facts, policy);
    let kind = match f {
        StirFailure::Malformed => ReasonKind::StirMalformed,
        StirFailure::BadSignature => ReasonKind::StirBadSignature,
        StirFailure::Untrusted => ReasonKind::StirUntrusted,
        StirFailure::CertExpired => ReasonKind::StirCertExpired,
        StirFailure::NoTnAuthList => ReasonKind::StirNoTnAuthList,
        StirFailure::Revoked => ReasonKind::StirRevoked,
        StirFailure::CrlUnavailable => ReasonKind::StirCrlUnavailable,
        StirFailure::ClaimConstraints => ReasonKind::StirClaimConstraints,
    };
    add(
        v,
        policy,
        facts,
        Reason::new(kind),
        Subject::From,
        caller,
        None,
    );
    failed_protected(v, facts, lists, policy, caller);
}

/// `stir:failed-protected` when the caller presents a protected number.
fn failed_protected<'a>(
    v: &mut Verdict<'a>,
    facts: &CallFacts<'_>,
    lists: &'a ListSet,
    policy: &'a Policy,
    caller: Option<number::E164>,
) {
    if protected_number(facts, lists, caller) {
        add(
            v,
            policy,
            facts,
            Reason::new(ReasonKind::StirFailedProtected),
            Subject::From,
            caller,
            None,
        );
    }
}

/// A verified attestation `A` (signature, `iat`, `orig` and `dest` all
/// good) lifts the reasons the operator named in `[stir] a_lifts`; nothing
/// is lifted unless named.
pub(super) fn lift_for_attestation_a(v: &mut Verdict<'_>, facts: &CallFacts<'_>, policy: &Policy) {
    let a = matches!(facts.identity, Identity::Present(p) if p.attest == Some(b'A'));
    if !a || v.verstat != Some(Verstat::Passed) || policy.stir_a_lifts.is_empty() {
        return;
    }
    for f in v.findings.iter_mut() {
        if policy.stir_a_lifts.contains(&f.reason.kind) {
            f.lifted = true;
        }
    }
}
