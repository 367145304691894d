//! The spoofing rules: protected companies (`spoof:dno`,
//! `spoof:unauthorised-peer`, `spoof:display-name`,
//! `spoof:pai-from-mismatch`), home-country caller IDs from abroad
//! (`spoof:domestic-cli-intl`, `spoof:domestic-mobile-intl`), and STIR/SHAKEN
//! (`shaken:none`, `shaken:attest-c`, `shaken:orig-mismatch`,
//! `shaken:stale`). None of them is lifted by the allowlist: scammers spoof
//! exactly the numbers that are allowlisted.

use super::facts::{CallFacts, Identity};
use super::policy::Policy;
use super::reason::{Reason, ReasonKind};
use super::rules::{add, add_noted, callers};
use super::verdict::{ListHit, Subject, Verdict};
use crate::lists::{CompanyList, ListSet, Role};
use crate::number::Cli;
use crate::number::plan::{NumberType, PlanCheck, check};

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
        let hit_of = |h: crate::lists::Hit<'a>| ListHit::of(list, h);
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

/// A home-country caller ID handed over by an international peer. Mobile
/// numbers may be roaming subscribers: their own code, so policy can tag them.
pub(super) fn domestic_from_abroad<'a>(
    v: &mut Verdict<'a>,
    facts: &CallFacts<'_>,
    policy: &'a Policy,
) {
    let peer = policy.peer(facts.peer);
    if !peer.international || peer.domestic_cli_allowed || facts.diverted_domestic {
        return;
    }
    let Some(cc) = policy.home.country_code.as_deref() else {
        return;
    };
    for (subject, cli) in callers(facts, policy).into_iter().flatten() {
        let Cli::Number(n) = cli else { continue };
        if !n.starts_with(cc.as_bytes()) {
            continue;
        }
        let kind = match check(n, &policy.plans) {
            PlanCheck::Valid(NumberType::Mobile) => ReasonKind::SpoofDomesticMobileIntl,
            _ => ReasonKind::SpoofDomesticCliIntl,
        };
        add(v, policy, facts, Reason::new(kind), subject, Some(n), None);
        return;
    }
}

/// STIR/SHAKEN, unverified: only ever adds suspicion.
pub(super) fn shaken<'a>(v: &mut Verdict<'a>, facts: &CallFacts<'_>, policy: &'a Policy) {
    let peer = policy.peer(facts.peer);
    let p = match facts.identity {
        Identity::Present(p) => p,
        Identity::Absent | Identity::Unreadable => {
            if peer.shaken_signs {
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
    if p.compact {
        // RFC 8224 §7.3: no payload travels; there is nothing to compare.
        return;
    }
    let caller = facts
        .trusted_pai(policy)
        .and_then(Cli::number)
        .or(facts.from.number());
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
    if let (Some(o), Some(c)) = (p.orig, caller)
        && o != c
    {
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
}
