//! Country profiles in the decision: a peer's country decides which
//! numbers are "domestic" and which preset applies; the operator's rules
//! and the peer's own override the preset; the roaming answer decides a
//! home mobile number from abroad, and is asked about only when it would.

use super::test_support::peer;
use super::*;
use lists::ListSet;
use number::NumberContext;
use number::emergency::EmergencyNumbers;
use number::plan::NumberingPlan;

const NOW: u64 = 1_800_000_000;
const REJECT: Action = Action::Reject { code: 608 };

/// Home: the Netherlands (no profile); peers for Belgium (profile be), one
/// of them with its own rule, and a Dutch international peer. `explicit`:
/// the operator's `[policy.rules]`.
fn policy(explicit: RuleTable) -> Policy {
    let be = profile::profile("be").unwrap();
    let own = {
        let mut t = RuleTable::default();
        t.set(
            ReasonKey::parse("spoof:domestic-cli-intl").unwrap(),
            Rule::new(Action::Tag),
        );
        t
    };
    let mut p = Policy::new(
        NumberContext::national("31"),
        vec![
            NumberingPlan::netherlands(),
            NumberingPlan::builtin("32").unwrap(),
        ],
        EmergencyNumbers::default(),
        vec![
            peer("intl-nl", true, false),
            Peer {
                country: 1,
                ..peer("intl-be", true, false)
            },
            Peer {
                country: 1,
                rules: own,
                ..peer("intl-be-own", true, false)
            },
        ],
        explicit,
        "Network blocked",
    );
    let ctx = NumberContext::national("32");
    assert_eq!(p.add_country(ctx, Some(be)), 1);
    p
}

fn decide(p: &Policy, peer: &str, from: &str, roaming: Option<Roaming>) -> (Action, Vec<String>) {
    let raw = RawCall {
        from,
        callee: "+3222345678",
        ..RawCall::default()
    };
    let mut facts = CallFacts::read(&raw, p.peer_by_name(peer).unwrap(), p, NOW);
    facts.roaming = roaming;
    let lists = ListSet::default();
    let v = screen(&facts, &lists, p);
    (v.action, v.all_reasons().map(|r| r.to_string()).collect())
}

#[test]
fn a_peers_country_decides_what_is_domestic_and_which_preset_applies() {
    let p = policy(RuleTable::default());
    // A Belgian number is domestic for the Belgian peer (rejected), not for the Dutch one.
    assert_eq!(
        decide(&p, "intl-be", "+3222345678", None),
        (REJECT, vec!["spoof:domestic-cli-intl".into()])
    );
    assert_eq!(
        decide(&p, "intl-nl", "+3222345678", None),
        (Action::Allow, vec![])
    );
    // A Dutch number from the Dutch international peer: the built-in default.
    assert_eq!(
        decide(&p, "intl-nl", "+31205551234", None),
        (Action::Anonymise, vec!["spoof:domestic-cli-intl".into()])
    );
    // Belgian numbers outside the plan: the preset rejects them.
    assert_eq!(decide(&p, "intl-be", "+322234", None).0, REJECT);
}

#[test]
fn the_operators_rules_and_the_peers_own_override_the_preset() {
    let p = policy(RuleTable::default());
    assert_eq!(
        decide(&p, "intl-be-own", "+3222345678", None).0,
        Action::Tag,
        "the peer's own rule"
    );
    assert_eq!(
        p.rule_source(&Reason::new(ReasonKind::SpoofDomesticCliIntl), 2),
        RuleSource::Peer
    );
    let mut explicit = RuleTable::default();
    explicit.set(
        ReasonKey::parse("spoof:domestic-cli-intl").unwrap(),
        Rule::new(Action::Anonymise),
    );
    let p = policy(explicit);
    assert_eq!(
        decide(&p, "intl-be", "+3222345678", None).0,
        Action::Anonymise
    );
    assert_eq!(
        p.rule_source(&Reason::new(ReasonKind::SpoofDomesticCliIntl), 1),
        RuleSource::Config
    );
    assert!(matches!(
        p.rule_source(&Reason::new(ReasonKind::InvalidCli), 1),
        RuleSource::Profile(pr, _) if pr.code == "be"
    ));
    assert_eq!(
        p.rule_source(&Reason::new(ReasonKind::InvalidCli), 0),
        RuleSource::Builtin
    );
}

#[test]
fn the_roaming_answer_decides_a_home_mobile_number_from_abroad() {
    let p = policy(RuleTable::default());
    let mobile = "+32470123456";
    for (answer, want) in [
        (Some(Roaming::Roaming), (Action::Allow, "roaming")),
        (
            Some(Roaming::NotRoaming),
            (REJECT, "spoof:domestic-mobile-intl"),
        ),
        (
            Some(Roaming::Unknown),
            (Action::Anonymise, "spoof:domestic-mobile-unchecked"),
        ),
        (
            Some(Roaming::Unanswered),
            (Action::Anonymise, "spoof:domestic-mobile-unchecked"),
        ),
        // Belgium's rule needs an answer: none configured is no answer.
        (None, (Action::Anonymise, "spoof:domestic-mobile-unchecked")),
    ] {
        assert_eq!(
            decide(&p, "intl-be", mobile, answer),
            (want.0, vec![want.1.to_string()]),
            "{answer:?}"
        );
    }
    // Without a profile's roaming rule, no answer is today's signal.
    assert_eq!(
        decide(&p, "intl-nl", "+31612345678", None),
        (Action::Tag, vec!["spoof:domestic-mobile-intl".into()])
    );
}

#[test]
fn only_a_home_mobile_number_from_abroad_is_asked_about() {
    let p = policy(RuleTable::default());
    let ask = |peer: &str, from: &str| {
        let raw = RawCall {
            from,
            callee: "+3222345678",
            ..RawCall::default()
        };
        let facts = CallFacts::read(&raw, p.peer_by_name(peer).unwrap(), &p, NOW);
        roaming_number(&facts, &ListSet::default(), &p).map(|n| n.to_string())
    };
    assert_eq!(
        ask("intl-be", "+32470123456").as_deref(),
        Some("+32470123456")
    );
    assert_eq!(ask("intl-be", "+3222345678"), None, "geographic");
    assert_eq!(
        ask("intl-be", "+31612345678"),
        None,
        "another country's mobile"
    );
    assert_eq!(
        ask("intl-nl", "+31612345678").as_deref(),
        Some("+31612345678")
    );
}
