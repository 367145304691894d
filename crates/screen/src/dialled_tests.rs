//! The dialled-number rules and originating trunks, without sockets.

use std::sync::Arc;

use super::test_support;
use super::*;
use lists::{BloomParams, Guard, List, ListKind, ListSet, Role, parse};
use number::NumberContext;
use number::emergency::EmergencyNumbers;
use number::plan::NumberingPlan;

const NOW: u64 = 1_800_000_000;
const REJECT: Action = Action::Reject { code: 608 };

fn list(role: Role, kind: ListKind, body: &str) -> Arc<List> {
    let p = parse(body.as_bytes(), kind, Guard::default()).unwrap();
    Arc::new(List::from_parsed(p, kind, role, BloomParams::default()))
}

fn lists() -> ListSet {
    ListSet::new(vec![
        list(
            Role::FakeHelpdesk,
            ListKind::Numbers,
            "# callscreen list v1 name=fraudehelpdesk version=3\n\
             +31202621234,fake-microsoft-helpdesk,FHD-1\n\
             +4420380655*,fake-bank-helpdesk\n",
        ),
        list(
            Role::DialledWarn,
            ListKind::Numbers,
            "# callscreen list v1 name=callback-ranges version=1\n+882130*\n",
        ),
        list(
            Role::Blocklist,
            ListKind::Numbers,
            "# callscreen list v1 name=scam-origins version=7\n+31201234567\n",
        ),
        Arc::new(List::from_companies(
            lists::companies::parse(
                b"name = \"protected\"\nversion = 1\n\n[[company]]\nname = \"ING\"\nbrands = [\"ING\"]\nnumbers = [\"+3120228*\"]\ninbound_only = [\"+31202288888\"]\n",
                Guard::default(),
            )
            .unwrap(),
        )),
    ])
}

/// A peer of these tests: its PAI trusted when domestic.
fn peer(name: &str, international: bool, originating: bool) -> Peer {
    Peer {
        originating,
        ..test_support::peer(name, international, !international)
    }
}

fn policy_with(rules: RuleTable) -> Policy {
    let mut biz = peer("biz", false, true);
    biz.assigned = vec![
        NumberBlock::parse("+3120555*").unwrap(),
        NumberBlock::parse("+31201110000").unwrap(),
    ];
    Policy::new(
        NumberContext::national("31"),
        vec![NumberingPlan::netherlands()],
        EmergencyNumbers::default(),
        vec![
            peer("subs", false, true),
            peer("dom", false, false),
            peer("intl-orig", true, true),
            biz,
        ],
        rules,
        "Network blocked",
    )
}

fn policy() -> Policy {
    policy_with(RuleTable::default())
}

fn facts<'a>(p: &Policy, from: &'a str, callee: &'a str, peer: &str) -> CallFacts<'a> {
    let raw = RawCall {
        from,
        callee,
        ..RawCall::default()
    };
    CallFacts::read(&raw, p.peer_by_name(peer).unwrap(), p, NOW)
}

fn reasons(v: &Verdict<'_>) -> Vec<String> {
    v.all_reasons().map(|r| r.to_string()).collect()
}

#[test]
fn a_fake_helpdesk_is_caught_however_the_subscriber_dials_it() {
    let (p, l) = (policy(), lists());
    for dialled in [
        "0202621234",
        "020 262 1234",
        "+31202621234",
        "0031202621234",
        "tel:+31-20-262-1234",
        "sip:0202621234@operator.example",
        "sip:+31202621234@operator.example;user=phone",
        "00442038065512",
    ] {
        let f = facts(&p, "+31612345678", dialled, "subs");
        let v = screen(&f, &l, &p);
        assert_eq!(v.action, Action::Warn, "{dialled}");
        assert_eq!(
            reasons(&v),
            vec!["callee:fake-helpdesk:fraudehelpdesk".to_string()],
            "{dialled}"
        );
        assert_eq!(v.findings.iter().next().unwrap().subject, Subject::Callee);
    }
    let v = screen(&facts(&p, "+31612345678", "00882130123456", "subs"), &l, &p);
    assert_eq!(
        (v.action, reasons(&v)),
        (
            Action::Warn,
            vec!["callee:warn:callback-ranges".to_string()]
        )
    );
}

#[test]
fn a_listed_number_called_from_outside_is_no_dialled_hit() {
    let (p, l) = (policy(), lists());
    let v = screen(&facts(&p, "+31612345678", "+31202621234", "dom"), &l, &p);
    assert_eq!(
        (v.action, reasons(&v)),
        (Action::Allow, Vec::<String>::new())
    );
}

#[test]
fn an_emergency_call_from_a_subscriber_passes_untouched() {
    let (p, l) = (policy(), lists());
    let v = screen(&facts(&p, "+31201234567", "112", "subs"), &l, &p);
    assert_eq!(
        (v.action, reasons(&v)),
        (Action::Allow, vec!["emergency".to_string()])
    );
}

#[test]
fn a_subscriber_who_insisted_gets_through_once_and_a_rejection_stays() {
    let (p, l) = (policy(), lists());
    let mut f = facts(&p, "+31612345678", "0202621234", "subs");
    f.insisted = true;
    let v = screen(&f, &l, &p);
    assert_eq!(v.action, Action::Allow);
    assert!(reasons(&v).contains(&"callee:warned-insisted".to_string()));
    assert!(
        v.findings
            .iter()
            .any(|x| x.lifted && x.action == Action::Warn)
    );
    // Where the operator rejects fake helpdesks, insisting changes nothing.
    let mut rules = RuleTable::default();
    rules.set(
        ReasonKey::parse("callee:fake-helpdesk:*").unwrap(),
        Rule::new(REJECT),
    );
    let p = policy_with(rules);
    let mut f = facts(&p, "+31612345678", "0202621234", "subs");
    f.insisted = true;
    let v = screen(&f, &l, &p);
    assert_eq!(v.action, REJECT);
    assert!(!reasons(&v).contains(&"callee:warned-insisted".to_string()));
}

#[test]
fn the_caller_id_a_subscriber_presents_is_screened_too() {
    let (p, l) = (policy(), lists());
    // A bank's inbound-only number presented by a subscriber: spoof:dno.
    let v = screen(&facts(&p, "+31202288888", "0612345678", "subs"), &l, &p);
    assert_eq!(
        (v.action, reasons(&v)),
        (REJECT, vec!["spoof:dno".to_string()])
    );
    // Its own number: clean.
    let v = screen(&facts(&p, "+31612345678", "0612345678", "subs"), &l, &p);
    assert_eq!(
        (v.action, reasons(&v)),
        (Action::Allow, Vec::<String>::new())
    );
    // A blocklisted caller is rejected on the way out as on the way in.
    let v = screen(&facts(&p, "+31201234567", "0612345678", "subs"), &l, &p);
    assert_eq!(reasons(&v), vec!["blocklist:scam-origins".to_string()]);
}

#[test]
fn a_trunk_presents_only_its_assigned_numbers() {
    let (p, l) = (policy(), lists());
    for own in ["+31205550123", "+31201110000", "020 555 0199"] {
        let v = screen(&facts(&p, own, "0612345678", "biz"), &l, &p);
        assert_eq!(v.action, Action::Allow, "{own}");
    }
    let v = screen(&facts(&p, "+31201110001", "0612345678", "biz"), &l, &p);
    assert_eq!(
        (v.action, reasons(&v)),
        (REJECT, vec!["spoof:cli-not-assigned".to_string()])
    );
    // Withheld: nothing to check.
    let v = screen(&facts(&p, "anonymous", "0612345678", "biz"), &l, &p);
    assert_eq!(v.action, Action::Allow);
}

#[test]
fn where_a_subscribers_call_arrives_from_is_no_spoofing_signal() {
    let (p, l) = (policy(), lists());
    // A Dutch caller ID on an international originating trunk (a subscriber
    // roaming, say): no spoof:domestic-*-intl.
    let v = screen(
        &facts(&p, "+31612345678", "+31104567890", "intl-orig"),
        &l,
        &p,
    );
    assert_eq!(
        (v.action, reasons(&v)),
        (Action::Allow, Vec::<String>::new())
    );
    let mut f = facts(&p, "+31612345678", "+31104567890", "intl-orig");
    f.originating = false;
    let v = screen(&f, &l, &p);
    assert_eq!(reasons(&v), vec!["spoof:domestic-mobile-intl".to_string()]);
}
