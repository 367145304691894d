//! Every core rule, the precedence rules and the Bloom guarantee, without sockets.

use std::sync::Arc;

use super::test_support::peer;
use super::*;
use lists::{BloomParams, Guard, List, ListKind, ListSet, Role, parse};
use number::NumberContext;
use number::emergency::EmergencyNumbers;
use number::plan::NumberingPlan;

const NOW: u64 = 1_800_000_000;

fn list(role: Role, kind: ListKind, body: &str, bloom: BloomParams) -> Arc<List> {
    let p = parse(body.as_bytes(), kind, Guard::default()).unwrap();
    Arc::new(List::from_parsed(p, kind, role, bloom))
}

fn lists_with(bloom: BloomParams) -> ListSet {
    ListSet::new(vec![
        list(
            Role::Blocklist,
            ListKind::Numbers,
            "# callscreen list v1 name=scam-origins version=7\n\
             +31201234567,tech-support-scam,ref-1\n\
             +3185208*,helpdesk-block\n\
             +4930123456\n\
             +31612345678,old-scam,,2026-01-01\n",
            bloom,
        ),
        list(
            Role::Withdrawn,
            ListKind::Numbers,
            "# callscreen list v1 name=acm-withdrawn version=42\n\
             +31852081000-+31852081999,withdrawn,ACM-2026-0042\n\
             +31909123456*\n",
            bloom,
        ),
        list(
            Role::Allowlist,
            ListKind::Numbers,
            "# callscreen list v1 name=allow version=1\n+31852081234,bank-callback\n",
            bloom,
        ),
        list(
            Role::Blocklist,
            ListKind::Networks,
            "# callscreen list v1 name=bad-nets version=2\n198.51.100.0/24\n",
            bloom,
        ),
    ])
}

fn lists() -> ListSet {
    lists_with(BloomParams::default())
}

fn policy_with(base: RuleTable, intl_rules: RuleTable) -> Policy {
    let mut intl = peer("intl", true, false);
    intl.rules = intl_rules;
    Policy::new(
        NumberContext::national("31"),
        vec![NumberingPlan::netherlands()],
        EmergencyNumbers::default(),
        vec![peer("dom", false, true), intl],
        base,
        "Network blocked",
    )
}

fn policy() -> Policy {
    policy_with(RuleTable::default(), RuleTable::default())
}

fn call<'a>(from: &'a str, pai: Option<&'a str>, callee: &'a str) -> RawCall<'a> {
    RawCall {
        from,
        pai,
        callee,
        ..RawCall::default()
    }
}

/// Screens and returns (action, reason codes found, codes enforced as tags).
fn run(
    p: &Policy,
    l: &ListSet,
    raw: RawCall<'_>,
    peer: &str,
) -> (Action, Vec<String>, Vec<String>) {
    let facts = CallFacts::read(&raw, p.peer_by_name(peer).unwrap(), p, NOW);
    let v = screen(&facts, l, p);
    (
        v.action,
        v.all_reasons().map(|r| r.to_string()).collect(),
        v.tag_reasons().map(|r| r.to_string()).collect(),
    )
}

const REJECT: Action = Action::Reject { code: 608 };

#[test]
fn a_clean_call_is_allowed_with_no_reasons() {
    let (a, r, _) = run(
        &policy(),
        &lists(),
        call("0201234568", None, "+31104567890"),
        "dom",
    );
    assert_eq!((a, r.len()), (Action::Allow, 0));
}

#[test]
fn blocklisted_numbers_and_prefixes_are_rejected() {
    let (p, l) = (policy(), lists());
    for from in [
        "020 123 4567",
        "+31201234567",
        "sip:+31201234567@h;user=phone",
        "+31852089999",
    ] {
        let (a, r, _) = run(&p, &l, call(from, None, "+31104567890"), "dom");
        assert_eq!(
            (a, r),
            (REJECT, vec!["blocklist:scam-origins".to_string()]),
            "{from}"
        );
    }
}

#[test]
fn the_hit_names_list_version_entry_and_reason() {
    let (p, l) = (policy(), lists());
    let facts = CallFacts::read(&call("+31852081500", None, "+31104567890"), 0, &p, NOW);
    let v = screen(&facts, &l, &p);
    // Both reject with 608: the first found decides.
    assert_eq!(
        v.decided_by.unwrap().reason.to_string(),
        "blocklist:scam-origins"
    );
    let f = v
        .findings
        .iter()
        .find(|f| f.reason.kind == ReasonKind::Withdrawn)
        .unwrap();
    let h = f.hit.unwrap();
    assert_eq!(
        (h.list, h.version, h.target.to_string()),
        ("acm-withdrawn", 42, "+31852081000-+31852081999".into())
    );
    assert_eq!(h.meta.reference.as_deref(), Some("ACM-2026-0042"));
    // Both the prefix (blocklist) and the range (withdrawn) are reported.
    assert_eq!(v.all_reasons().count(), 2);
    assert_eq!(v.reject_text, Some("Network blocked"));
}

#[test]
fn withdrawn_ranges_are_rejected() {
    let (a, r, _) = run(
        &policy(),
        &lists(),
        call("+319091234567", None, "+31104567890"),
        "dom",
    );
    assert_eq!(a, REJECT);
    assert_eq!(r, vec!["cli-premium", "withdrawn:acm-withdrawn"]);
}

#[test]
fn invalid_and_premium_caller_ids_are_tagged() {
    let (p, l) = (policy(), lists());
    for (from, code) in [
        ("sip:alice@example.com", "invalid-cli"),
        ("+3120123456", "invalid-cli"),
        ("+31012345678", "invalid-cli"),
        ("+123", "invalid-cli"),
        ("0900 1234567", "cli-premium"),
        ("09061234", "cli-premium"),
        ("+319091234", "cli-premium"),
        ("112", "cli-premium"),
        ("+31112", "cli-premium"),
    ] {
        let (a, r, t) = run(&p, &l, call(from, None, "+31104567890"), "dom");
        assert_eq!(
            (a, r, t),
            (Action::Tag, vec![code.to_string()], vec![code.to_string()]),
            "{from}"
        );
    }
    // A national form from an E.164-only peer cannot be read.
    let (_, r, _) = run(&p, &l, call("0201234568", None, "+31104567890"), "intl");
    assert_eq!(r, vec!["invalid-cli"]);
    // A withheld number is no invalid CLI.
    let (a, r, _) = run(
        &p,
        &l,
        call("sip:anonymous@anonymous.invalid", None, "+31104567890"),
        "dom",
    );
    assert_eq!((a, r.len()), (Action::Allow, 0));
}

#[test]
fn a_trusted_pai_is_screened_too_and_the_worst_counts() {
    let (p, l) = (policy(), lists());
    // Clean From, blocklisted PAI from a trusted peer: rejected.
    let (a, r, _) = run(
        &p,
        &l,
        call("+31201234568", Some("sip:+31201234567@h"), "+31104567890"),
        "dom",
    );
    assert_eq!((a, r), (REJECT, vec!["blocklist:scam-origins".to_string()]));
    // Blocklisted From, clean PAI: still rejected.
    let (a, _, _) = run(
        &p,
        &l,
        call("+31201234567", Some("+31201234568"), "+31104567890"),
        "dom",
    );
    assert_eq!(a, REJECT);
    // The same PAI from an untrusted peer is not believed (only the domestic
    // caller ID from abroad is found).
    let (_, r, _) = run(
        &p,
        &l,
        call("+31201234568", Some("+31201234567"), "+31104567890"),
        "intl",
    );
    assert_eq!(r, vec!["spoof:domestic-cli-intl"]);
}

#[test]
fn the_allowlist_lifts_list_blocks_of_its_number_only() {
    let (p, l) = (policy(), lists());
    // +31852081234 is in the blocklist prefix and the withdrawn range, and allowlisted.
    let facts = CallFacts::read(&call("+31852081234", None, "+31104567890"), 0, &p, NOW);
    let v = screen(&facts, &l, &p);
    assert_eq!(v.action, Action::Allow);
    let lifted: Vec<_> = v
        .findings
        .iter()
        .filter(|f| f.lifted)
        .map(|f| f.reason.to_string())
        .collect();
    assert_eq!(
        lifted,
        vec!["blocklist:scam-origins", "withdrawn:acm-withdrawn"]
    );
    assert_eq!(v.all_reasons().next().unwrap().to_string(), "allowlist");
    // The allowlisted number as From does not lift a blocklisted trusted PAI.
    let (a, _, _) = run(
        &p,
        &l,
        call("+31852081234", Some("+31201234567"), "+31104567890"),
        "dom",
    );
    assert_eq!(a, REJECT);
}

#[test]
fn the_allowlist_never_lifts_other_signals() {
    let mut base = RuleTable::default();
    base.set(
        ReasonKey::parse("invalid-cli").unwrap(),
        Rule::new(Action::Reject { code: 603 }),
    );
    let p = policy_with(base, RuleTable::default());
    let l = ListSet::new(vec![list(
        Role::Allowlist,
        ListKind::Numbers,
        "# callscreen list v1 name=allow version=1\n+3120123*\n",
        BloomParams::default(),
    )]);
    // Allowlisted but too short for the plan: the invalid CLI still counts.
    let (a, r, _) = run(&p, &l, call("+312012345", None, "+31104567890"), "dom");
    assert_eq!(
        (a, r),
        (
            Action::Reject { code: 603 },
            vec!["invalid-cli".to_string(), "allowlist".to_string()]
        )
    );
}

#[test]
fn emergency_calls_are_never_rejected_or_tagged() {
    let (p, l) = (policy(), lists());
    for callee in [
        "112",
        "sip:112@ims.example.nl;user=phone",
        "tel:112;phone-context=+31",
        "urn:service:sos",
        "+31112",
    ] {
        let facts = CallFacts::read(&call("+31201234567", None, callee), 0, &p, NOW);
        let v = screen(&facts, &l, &p);
        assert_eq!(v.action, Action::Allow, "{callee}");
        assert_eq!(
            v.all_reasons().map(|r| r.to_string()).collect::<Vec<_>>(),
            vec!["emergency"]
        );
        assert_eq!(v.tag_reasons().count(), 0);
    }
}

#[test]
fn expired_entries_do_not_match_and_are_reported() {
    let (p, l) = (policy(), lists());
    let facts = CallFacts::read(&call("+31612345678", None, "+31104567890"), 0, &p, NOW);
    let v = screen(&facts, &l, &p);
    assert_eq!((v.action, v.findings.len()), (Action::Allow, 0));
    let (subject, e) = v.expired.iter().next().copied().unwrap();
    assert_eq!(
        (subject, e.list, e.meta.reason.as_deref()),
        (Subject::From, "scam-origins", Some("old-scam"))
    );
    // Before the expiry it rejected.
    let facts = CallFacts {
        now: 1_700_000_000,
        ..facts
    };
    assert_eq!(screen(&facts, &l, &p).action, REJECT);
}

#[test]
fn source_networks_are_screened() {
    let (p, l) = (policy(), lists());
    let raw = RawCall {
        source: Some("198.51.100.7".parse().unwrap()),
        ..call("+31201234568", None, "+31104567890")
    };
    let (a, r, _) = run(&p, &l, raw, "dom");
    assert_eq!((a, r), (REJECT, vec!["blocklist:bad-nets".to_string()]));
}

#[test]
fn policy_overrides_per_list_per_peer_and_monitor() {
    let mut base = RuleTable::default();
    base.set(
        ReasonKey::parse("blocklist:*").unwrap(),
        Rule::new(Action::Tag),
    );
    base.set(
        ReasonKey::parse("withdrawn:acm-withdrawn").unwrap(),
        Rule::new(Action::Reject { code: 603 }),
    );
    let mut intl = RuleTable::default();
    intl.set(
        ReasonKey::parse("blocklist:scam-origins").unwrap(),
        Rule::new(Action::Reject { code: 603 }),
    );
    intl.set(
        ReasonKey::parse("invalid-cli").unwrap(),
        Rule {
            action: Action::Reject { code: 608 },
            monitor: true,
            text: Some("bad cli".into()),
            network_blocked: false,
        },
    );
    let p = policy_with(base, intl);
    let l = lists();
    // Operator-wide: blocklists tag.
    let (a, _, t) = run(&p, &l, call("+31201234567", None, "+31104567890"), "dom");
    assert_eq!(
        (a, t),
        (Action::Tag, vec!["blocklist:scam-origins".to_string()])
    );
    // The international peer's own rule for that list rejects with 603.
    let (a, _, _) = run(&p, &l, call("+31201234567", None, "+31104567890"), "intl");
    assert_eq!(a, Action::Reject { code: 603 });
    // A list-specific rule beats the family rule.
    let (a, _, _) = run(&p, &l, call("+31852081001", None, "+31104567890"), "dom");
    assert_eq!(a, Action::Reject { code: 603 });
    // Monitor: found and reported with what it would do, but not done.
    let facts = CallFacts::read(
        &call("sip:bob@example.com", None, "+31104567890"),
        1,
        &p,
        NOW,
    );
    let v = screen(&facts, &l, &p);
    assert_eq!(v.action, Action::Allow);
    let f = v.findings.iter().next().unwrap();
    assert!(f.monitor && f.action == REJECT && f.text == Some("bad cli"));
    assert_eq!(v.tag_reasons().count(), 0);
}

#[test]
fn the_strongest_action_wins_and_every_reason_is_reported() {
    let mut base = RuleTable::default();
    base.set(
        ReasonKey::parse("cli-premium").unwrap(),
        Rule::new(Action::Anonymise),
    );
    let p = policy_with(base, RuleTable::default());
    let l = lists();
    // Premium (anonymise) + withdrawn (reject): reject wins, both reported.
    let (a, r, t) = run(&p, &l, call("+319091234567", None, "+31104567890"), "dom");
    assert_eq!(a, REJECT);
    assert_eq!(r, vec!["cli-premium", "withdrawn:acm-withdrawn"]);
    assert_eq!(t, r);
    // Premium alone: anonymise beats tag.
    let (a, _, _) = run(
        &p,
        &l,
        call("+319061234", Some("sip:bob@x"), "+31104567890"),
        "dom",
    );
    assert_eq!(a, Action::Anonymise);
}

/// A Bloom false positive can never change a verdict: with a one-byte filter
/// (nearly every number "maybe" listed) every verdict equals the one given
/// with a properly sized filter.
#[test]
fn bloom_false_positives_never_change_a_verdict() {
    let p = policy();
    let (tiny, sized) = (lists_with(BloomParams::Bytes(1)), lists());
    for i in 0..5_000u64 {
        let from = format!("+31201{:06}", 230_000 + i);
        let raw = call(&from, None, "+31104567890");
        let a = run(&p, &tiny, raw, "dom");
        let b = run(&p, &sized, raw, "dom");
        assert_eq!(a, b, "{from}");
        let listed = from == "+31201234567";
        assert_eq!(a.0 == REJECT, listed, "{from}");
    }
}

/// `burst` and `burst-block` at their thresholds and not below; a threshold
/// of 0 counts nothing; a subscriber's own call is never a burst's.
#[test]
fn bursts_are_found_at_their_thresholds() {
    let (mut p, l) = (policy(), lists());
    let reasons = |p: &Policy, number: u32, block: u32, originating: bool| {
        let raw = call("0201234568", None, "+31104567890");
        let mut facts = CallFacts::read(&raw, p.peer_by_name("dom").unwrap(), p, NOW);
        facts.burst = super::BurstCount { number, block };
        facts.originating = originating;
        let v = screen(&facts, &l, p);
        (
            v.action,
            v.all_reasons().map(|r| r.to_string()).collect::<Vec<_>>(),
        )
    };
    assert_eq!(reasons(&p, 29, 59, false), (Action::Allow, vec![]));
    assert_eq!(
        reasons(&p, 30, 59, false),
        (Action::Tag, vec!["burst".to_string()])
    );
    assert_eq!(
        reasons(&p, 31, 60, false).1,
        ["burst".to_string(), "burst-block".to_string()]
    );
    assert_eq!(reasons(&p, 500, 500, true), (Action::Allow, vec![]));
    p.burst.per_number = 0;
    assert_eq!(reasons(&p, 500, 0, false), (Action::Allow, vec![]));
}
