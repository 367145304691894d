//! The core rules: caller-ID validity and the lists. Each rule adds findings;
//! `screen` then decides. The spoofing rules are in `spoof.rs`.

use super::facts::CallFacts;
use super::policy::Policy;
use super::reason::{Reason, ReasonKind};
use super::verdict::{Finding, ListHit, Subject, Verdict};
use lists::{ListSet, Lookup, Role};
use number::plan::{NumberType, PlanCheck, check};
use number::{Cli, E164};

/// Adds a finding with its rule from the policy.
pub(super) fn add<'a>(
    v: &mut Verdict<'a>,
    policy: &'a Policy,
    facts: &CallFacts<'_>,
    reason: Reason<'a>,
    subject: Subject,
    number: Option<E164>,
    hit: Option<ListHit<'a>>,
) {
    add_noted(v, policy, facts, reason, subject, number, hit, None);
}

/// Adds a finding that names something besides a list entry.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_noted<'a>(
    v: &mut Verdict<'a>,
    policy: &'a Policy,
    facts: &CallFacts<'_>,
    reason: Reason<'a>,
    subject: Subject,
    number: Option<E164>,
    hit: Option<ListHit<'a>>,
    note: Option<&'a str>,
) {
    let rule = policy.rule(&reason, facts.peer);
    v.findings.push(Finding {
        reason,
        subject,
        number,
        hit,
        action: rule.action,
        monitor: rule.monitor,
        lifted: false,
        text: rule.text.as_deref(),
        network_blocked: rule.network_blocked,
        note,
    });
}

/// The caller numbers to screen: the trusted PAI, and the From number unless
/// it is the same number.
pub(super) fn callers(facts: &CallFacts<'_>, policy: &Policy) -> [Option<(Subject, Cli)>; 2] {
    let pai = facts.trusted_pai(policy);
    let from = match pai {
        Some(p) if p == facts.from => None,
        _ => Some((Subject::From, facts.from)),
    };
    [pai.map(|p| (Subject::Pai, p)), from]
}

/// `invalid-cli` and `cli-premium`.
pub(super) fn caller_id<'a>(v: &mut Verdict<'a>, facts: &CallFacts<'_>, policy: &'a Policy) {
    for (subject, cli) in callers(facts, policy).into_iter().flatten() {
        let kind = match cli {
            Cli::Withheld => continue,
            Cli::Invalid => ReasonKind::InvalidCli,
            Cli::Number(n) => match check(n, &policy.plans) {
                PlanCheck::Valid(NumberType::Premium | NumberType::Emergency) => {
                    ReasonKind::CliPremium
                }
                PlanCheck::Invalid => ReasonKind::InvalidCli,
                PlanCheck::Valid(_) | PlanCheck::Unchecked => continue,
            },
        };
        add(
            v,
            policy,
            facts,
            Reason::new(kind),
            subject,
            cli.number(),
            None,
        );
    }
}

/// `burst` and `burst-block`: the caller's number, or its block, made as
/// many calls as the thresholds within the window (counted by the server).
pub(super) fn burst<'a>(v: &mut Verdict<'a>, facts: &CallFacts<'_>, policy: &'a Policy) {
    let t = policy.burst;
    let number = facts.from.number();
    for (kind, count, threshold) in [
        (ReasonKind::Burst, facts.burst.number, t.per_number),
        (ReasonKind::BurstBlock, facts.burst.block, t.per_block),
    ] {
        if threshold > 0 && count >= threshold {
            add(
                v,
                policy,
                facts,
                Reason::new(kind),
                Subject::From,
                number,
                None,
            );
        }
    }
}

fn note_expired<'a>(v: &mut Verdict<'a>, subject: Subject, list: &'a lists::List, r: &Lookup<'a>) {
    if let (None, Some(e)) = (r.hit, r.expired) {
        v.expired.push((subject, ListHit::of(list, e)));
    }
}

/// `allowlist`, `blocklist:<list>` and `withdrawn:<list>`, for each caller
/// number and the source address. The allowlist lifts the list blocks of the
/// number it lists; it never lifts anything else.
pub(super) fn lists<'a>(
    v: &mut Verdict<'a>,
    facts: &CallFacts<'_>,
    lists: &'a ListSet,
    policy: &'a Policy,
) {
    for (subject, cli) in callers(facts, policy).into_iter().flatten() {
        let Cli::Number(n) = cli else { continue };
        let first_of_number = v.findings.len();
        let mut allowed = false;
        for list in lists.with_role(Role::Allowlist) {
            let r = list.lookup_number(n, facts.now);
            note_expired(v, subject, list, &r);
            if let Some(h) = r.hit {
                allowed = true;
                let hit = ListHit::of(list, h);
                add(
                    v,
                    policy,
                    facts,
                    Reason::new(ReasonKind::Allowlist),
                    subject,
                    Some(n),
                    Some(hit),
                );
                break;
            }
        }
        list_hits(
            v,
            facts,
            lists,
            policy,
            CALLER_LISTS,
            subject,
            Some(n),
            |l| l.lookup_number(n, facts.now),
        );
        if allowed {
            for f in v.findings.iter_mut().skip(first_of_number) {
                if f.reason.kind.names_list() {
                    f.lifted = true;
                }
            }
        }
    }
    if let Some(ip) = facts.source {
        list_hits(
            v,
            facts,
            lists,
            policy,
            CALLER_LISTS,
            Subject::Source,
            None,
            |l| l.lookup_ip(ip, facts.now),
        );
    }
}

/// The list families screened for a caller.
const CALLER_LISTS: &[ReasonKind] = &[ReasonKind::Blocklist, ReasonKind::Withdrawn];

/// The findings of the lists of `families` (`blocklist:<list>`, …) for one
/// subject, with `lookup` asking each list (by number or by address).
#[allow(clippy::too_many_arguments)]
pub(super) fn list_hits<'a>(
    v: &mut Verdict<'a>,
    facts: &CallFacts<'_>,
    lists: &'a ListSet,
    policy: &'a Policy,
    families: &[ReasonKind],
    subject: Subject,
    number: Option<E164>,
    lookup: impl Fn(&'a lists::List) -> Lookup<'a>,
) {
    for &kind in families {
        let Some(role) = kind.list_role() else {
            continue;
        };
        for list in lists.with_role(role) {
            let r = lookup(list);
            note_expired(v, subject, list, &r);
            if let Some(h) = r.hit {
                let hit = ListHit::of(list, h);
                add(
                    v,
                    policy,
                    facts,
                    Reason::of_list(kind, &list.name),
                    subject,
                    number,
                    Some(hit),
                );
            }
        }
    }
}
