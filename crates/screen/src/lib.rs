//! The decision, and nothing else: no I/O, no clocks, no logging.
//!
//! `screen(facts, lists, policy) -> Verdict` applies the rules to one call
//! and the policy to what they found, with the precedence of DESIGN.md:
//! - a call to an emergency number always goes through, untagged;
//! - the allowlist lifts the list blocks (`blocklist:*`, `withdrawn:*`) of the
//!   number it lists, never a spoofing signal;
//! - among the remaining reasons the strongest action wins
//!   (reject > anonymise > tag > allow); a `monitor` rule only reports;
//! - every reason found is reported, not only the winner;
//! - on an originating trunk (a subscriber's own call) the dialled number is
//!   screened too, and the rules about where a call arrives from are not.

mod dialled;
pub mod facts;
pub mod passport;
mod policy;
pub mod profile;
mod reason;
mod rules;
mod spoof;
mod verdict;

pub use facts::{BurstCount, CallFacts, Identity, RawCall, Roaming};
pub use policy::{
    Action, BurstThresholds, Country, DEFAULT_REJECT_CODE, NumberBlock, Peer, PeerId, Policy, Rule,
    RuleSource, RuleTable, default_rule,
};
pub use profile::{PROFILES, Profile, ProfileRule};
pub use reason::{Reason, ReasonKey, ReasonKind};
pub use spoof::roaming_number;
pub use verdict::{Bounded, Finding, ListHit, MAX_FINDINGS, Subject, Verdict};

use lists::ListSet;

/// How many reason kinds there are (for per-kind counters).
pub const fn reason_kind_count() -> usize {
    reason::KIND_COUNT
}

/// Decides one call.
pub fn screen<'a>(facts: &CallFacts<'_>, lists: &'a ListSet, policy: &'a Policy) -> Verdict<'a> {
    let mut v = Verdict {
        action: policy::Action::Allow,
        decided_by: None,
        reject_text: None,
        findings: Bounded::default(),
        expired: Bounded::default(),
        verstat: None,
    };
    if facts.emergency {
        v.findings.push(Finding {
            reason: Reason::new(ReasonKind::Emergency),
            subject: Subject::Callee,
            number: facts.callee,
            hit: None,
            action: policy::Action::Allow,
            monitor: false,
            lifted: false,
            text: None,
            network_blocked: false,
            note: None,
        });
        return v;
    }
    rules::caller_id(&mut v, facts, policy);
    rules::lists(&mut v, facts, lists, policy);
    spoof::protected(&mut v, facts, lists, policy);
    if !facts.originating {
        // Where a call arrives from says nothing of a subscriber's own call.
        spoof::domestic_from_abroad(&mut v, facts, lists, policy);
    }
    spoof::shaken(&mut v, facts, lists, policy);
    if !facts.originating {
        rules::burst(&mut v, facts, policy);
    }
    dialled::dialled(&mut v, facts, lists, policy);
    dialled::assigned(&mut v, facts, policy);
    spoof::lift_for_attestation_a(&mut v, facts, policy);
    decide(&mut v, policy);
    v
}

/// The strongest enforced action wins; the first finding with it decides.
fn decide<'a>(v: &mut Verdict<'a>, policy: &'a Policy) {
    for f in v.findings.iter() {
        if f.enforced() && f.action.strength() > v.action.strength() {
            v.action = f.action;
            v.decided_by = Some(*f);
        }
    }
    if let (policy::Action::Reject { .. }, Some(f)) = (v.action, v.decided_by) {
        v.reject_text = Some(f.text.unwrap_or(&policy.reject_text));
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod spoof_tests;

#[cfg(test)]
mod dialled_tests;

#[cfg(test)]
mod profile_tests;
