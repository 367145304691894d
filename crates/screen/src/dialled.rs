//! Calls the operator's own subscribers make (originating trunks): the
//! number dialled, against fake-helpdesk lists and ranges to warn about
//! (`callee:fake-helpdesk:<list>`, `callee:warn:<list>`), lifted when the
//! warned subscriber insisted (`callee:warned-insisted`); and the caller ID a
//! trunk may present (`spoof:cli-not-assigned`). The protected-company rules
//! apply to originating calls as to any other (`spoof`).

use super::facts::CallFacts;
use super::policy::{Action, Policy};
use super::reason::{Reason, ReasonKind};
use super::rules::{add, callers, list_hits};
use super::verdict::{Subject, Verdict};
use lists::ListSet;
use number::Cli;

/// The list families screened for a dialled number.
const DIALLED_LISTS: &[ReasonKind] = &[ReasonKind::CalleeFakeHelpdesk, ReasonKind::CalleeWarn];

/// The dialled number, on originating calls only: a listed number dialled
/// by a caller from outside is no dialled-number hit.
pub(super) fn dialled<'a>(
    v: &mut Verdict<'a>,
    facts: &CallFacts<'_>,
    lists: &'a ListSet,
    policy: &'a Policy,
) {
    let (true, Some(n)) = (facts.originating, facts.callee) else {
        return;
    };
    let first = v.findings.len();
    list_hits(
        v,
        facts,
        lists,
        policy,
        DIALLED_LISTS,
        Subject::Callee,
        Some(n),
        |l| l.lookup_number(n, facts.now),
    );
    if !facts.insisted {
        return;
    }
    // Warned before, and insisted: the warnings are lifted (a rejection is not).
    let mut lifted = false;
    for f in v.findings.iter_mut().skip(first) {
        if f.action == Action::Warn {
            f.lifted = true;
            lifted = true;
        }
    }
    if lifted {
        let reason = Reason::new(ReasonKind::CalleeWarnedInsisted);
        add(v, policy, facts, reason, Subject::Callee, Some(n), None);
    }
}

/// `spoof:cli-not-assigned`: an originating trunk with assigned number
/// blocks presents a caller ID outside them.
pub(super) fn assigned<'a>(v: &mut Verdict<'a>, facts: &CallFacts<'_>, policy: &'a Policy) {
    let peer = policy.peer(facts.peer);
    if !facts.originating || peer.assigned.is_empty() {
        return;
    }
    for (subject, cli) in callers(facts, policy).into_iter().flatten() {
        let Cli::Number(n) = cli else { continue };
        if !peer.assigned.iter().any(|b| b.holds(n)) {
            let reason = Reason::new(ReasonKind::SpoofCliNotAssigned);
            add(v, policy, facts, reason, subject, Some(n), None);
        }
    }
}
