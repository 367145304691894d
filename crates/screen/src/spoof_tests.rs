//! Each spoofing signal, and the look-alike that must not trigger it.

use std::sync::Arc;

use super::facts::MAX_PARTS;
use super::passport::{DivCheck, DivFailure, StirFailure};
use super::test_support::peer;
use super::*;
use lists::{BloomParams, Guard, List, ListKind, ListSet, Role, parse};
use number::NumberContext;
use number::emergency::EmergencyNumbers;
use number::plan::NumberingPlan;

const NOW: u64 = 1_800_000_000;

const COMPANIES: &str = r#"name = "protected"
version = 5

[[company]]
name = "ING"
brands = ["ING", "ING Bank"]
numbers = ["+3120228*"]
inbound_only = ["+31202288888", "+31202288887"]
allowed_peers = ["kpn"]

[[company]]
name = "Microsoft"
brands = ["Microsoft", "Windows Support"]
numbers = ["+31205001500"]
"#;

fn lists() -> ListSet {
    let companies = lists::companies::parse(COMPANIES.as_bytes(), Guard::default()).unwrap();
    let allow = parse(
        b"# callscreen list v1 name=allow version=1\n+31202288888\n",
        ListKind::Numbers,
        Guard::default(),
    )
    .unwrap();
    let block = parse(
        b"# callscreen list v1 name=scam version=1\n+31201234567\n",
        ListKind::Numbers,
        Guard::default(),
    )
    .unwrap();
    ListSet::new(vec![
        Arc::new(List::from_companies(companies)),
        Arc::new(List::from_parsed(
            allow,
            ListKind::Numbers,
            Role::Allowlist,
            BloomParams::default(),
        )),
        Arc::new(List::from_parsed(
            block,
            ListKind::Numbers,
            Role::Blocklist,
            BloomParams::default(),
        )),
        Arc::new(List::from_parsed(
            parse(
                b"# callscreen list v1 name=cloud version=3\n+3120999*,cloud-numbers,REG-1\n+31687654321\n",
                ListKind::Numbers,
                Guard::default(),
            )
            .unwrap(),
            ListKind::Numbers,
            Role::RegisteredCli,
            BloomParams::default(),
        )),
    ])
}

fn policy() -> Policy {
    let roamer = Peer {
        domestic_cli_allowed: true,
        ..peer("roamer", true, false)
    };
    let signer = Peer {
        shaken_signs: true,
        ..peer("signer", false, true)
    };
    let div_signer = Peer {
        div_signs: true,
        ..peer("intl-div", true, false)
    };
    Policy::new(
        NumberContext::national("31"),
        vec![NumberingPlan::netherlands()],
        EmergencyNumbers::default(),
        vec![
            peer("kpn", false, true),
            peer("intl", true, false),
            roamer,
            signer,
            div_signer,
        ],
        RuleTable::default(),
        "Network blocked",
    )
}

#[derive(Default, Clone, Copy)]
struct Call<'a> {
    from: &'a str,
    display: Option<&'a str>,
    pai: Option<&'a str>,
    diversion: Option<&'a str>,
    identity: Option<&'a str>,
}

fn run(c: Call<'_>, peer: &str) -> (Action, Vec<String>) {
    let (action, reasons, _) = run_div(c, peer, None);
    (action, reasons)
}

/// [`run`] with what the call's `div` PASSporTs proved; the notes too.
fn run_div(c: Call<'_>, peer: &str, div: Option<DivCheck>) -> (Action, Vec<String>, Vec<String>) {
    let (p, l) = (policy(), lists());
    let mut diversions = [None; MAX_PARTS];
    diversions[0] = c.diversion;
    let mut identities = [None; MAX_PARTS];
    identities[0] = c.identity;
    let raw = RawCall {
        from: c.from,
        from_display: c.display,
        pai: c.pai,
        pai_display: None,
        to: None,
        callee: "+31104567890",
        source: None,
        diversions,
        identities,
    };
    let mut facts = CallFacts::read(&raw, p.peer_by_name(peer).unwrap(), &p, NOW);
    facts.div = div;
    let v = screen(&facts, &l, &p);
    let notes = v
        .findings
        .iter()
        .filter_map(|f| f.note.map(String::from))
        .collect();
    (
        v.action,
        v.all_reasons().map(|r| r.to_string()).collect(),
        notes,
    )
}

fn from(n: &str) -> Call<'_> {
    Call {
        from: n,
        ..Call::default()
    }
}

const REJECT: Action = Action::Reject { code: 608 };

#[test]
fn an_inbound_only_number_as_caller_id_is_dno() {
    assert_eq!(
        run(from("+31202288887"), "kpn"),
        (REJECT, vec!["spoof:dno".into()])
    );
    // As a trusted PAI too.
    let c = Call {
        pai: Some("+31202288887"),
        ..from("+31201111111")
    };
    assert!(run(c, "kpn").1.contains(&"spoof:dno".to_string()));
    // The bank's ordinary outbound number from its own peer: nothing.
    assert_eq!(run(from("+31202288889"), "kpn"), (Action::Allow, vec![]));
}

#[test]
fn the_allowlist_never_lifts_a_spoofing_signal() {
    // +31202288888 is allowlisted and inbound-only: still refused.
    assert_eq!(
        run(from("+31202288888"), "kpn"),
        (REJECT, vec!["allowlist".into(), "spoof:dno".into()])
    );
}

#[test]
fn a_protected_number_from_a_peer_not_allowed_for_it() {
    let (a, r) = run(from("+31202281234"), "intl");
    assert_eq!(a, REJECT);
    assert_eq!(
        r,
        vec!["spoof:unauthorised-peer", "spoof:domestic-cli-intl"]
    );
    assert_eq!(run(from("+31202281234"), "kpn"), (Action::Allow, vec![]));
    // A company without allowed_peers may come from any peer.
    assert!(
        !run(from("+31205001500"), "intl")
            .1
            .contains(&"spoof:unauthorised-peer".to_string())
    );
}

#[test]
fn a_brand_in_the_display_name_on_someone_elses_number() {
    for name in [
        "Microsoft Support",
        "Micr0soft Support",
        "MICROSOFT",
        "Microsoft Helpdesk",
        "Mіcrosoft",
        "Windows Support",
        "ING Bank Fraudeafdeling",
    ] {
        let c = Call {
            display: Some(name),
            ..from("+31201234568")
        };
        assert_eq!(
            run(c, "kpn"),
            (Action::Tag, vec!["spoof:display-name".into()]),
            "{name}"
        );
    }
    for name in ["Microscope Repairs", "Jan de Vries", "Helling", "Appie"] {
        let c = Call {
            display: Some(name),
            ..from("+31201234568")
        };
        assert_eq!(run(c, "kpn"), (Action::Allow, vec![]), "{name}");
    }
    // The company's own number: its name is no spoof.
    let c = Call {
        display: Some("Microsoft Support"),
        ..from("+31205001500")
    };
    assert_eq!(run(c, "kpn"), (Action::Allow, vec![]));
}

#[test]
fn from_claims_a_protected_number_that_the_trusted_pai_does_not() {
    let c = Call {
        pai: Some("+31201234568"),
        ..from("+31202281234")
    };
    assert_eq!(run(c, "kpn").1, vec!["spoof:pai-from-mismatch"]);
    // PAI of the same company: consistent.
    let c = Call {
        pai: Some("+31202281111"),
        ..from("+31202281234")
    };
    assert_eq!(run(c, "kpn"), (Action::Allow, vec![]));
    // An untrusted PAI is no evidence either way.
    let c = Call {
        pai: Some("+31201234568"),
        ..from("+31202281234")
    };
    assert!(
        !run(c, "intl")
            .1
            .contains(&"spoof:pai-from-mismatch".to_string())
    );
}

#[test]
fn a_domestic_caller_id_from_abroad() {
    assert_eq!(
        run(from("+31201234568"), "intl"),
        (Action::Anonymise, vec!["spoof:domestic-cli-intl".into()])
    );
    // A mobile may be roaming: its own code, tagged by default.
    assert_eq!(
        run(from("+31612345678"), "intl"),
        (Action::Tag, vec!["spoof:domestic-mobile-intl".into()])
    );
    // Not from a domestic peer, not a foreign number, not an exempt peer.
    assert_eq!(run(from("+31201234568"), "kpn").1, Vec::<String>::new());
    assert_eq!(run(from("+4930123456"), "intl").1, Vec::<String>::new());
    assert_eq!(run(from("+31201234568"), "roamer").1, Vec::<String>::new());
    // A call diverted by a Dutch line is not a spoof on that ground alone.
    let c = Call {
        diversion: Some("<sip:+31104567890@example.nl>"),
        ..from("+31201234568")
    };
    assert_eq!(run(c, "intl").1, Vec::<String>::new());
    let c = Call {
        diversion: Some("sip:+4930111111@example.de"),
        ..from("+31201234568")
    };
    assert_eq!(run(c, "intl").1, vec!["spoof:domestic-cli-intl"]);
}

/// On a peer that signs its diversions (`div_signs`), a Dutch diverting
/// line in the headers lifts `spoof:domestic-cli-intl` only with a verified
/// `div` PASSporT naming it (RFC 8946), and the reason's note says why not;
/// on any international peer, a verified one lifts it without headers.
#[test]
fn a_signed_diversion_is_what_a_div_signing_peer_is_believed_on() {
    let diverted = Call {
        diversion: Some("<sip:+31104567890@example.nl>"),
        ..from("+31201234568")
    };
    let domestic = Some(DivCheck::Verified { domestic: true });
    assert_eq!(
        run_div(diverted, "intl-div", domestic).1,
        Vec::<String>::new()
    );
    for (div, note) in [
        (None, DivCheck::note(None)),
        (
            Some(DivCheck::Unverified),
            DivCheck::note(Some(DivCheck::Unverified)),
        ),
        (
            Some(DivCheck::Failed(DivFailure::Stir(
                StirFailure::BadSignature,
            ))),
            "diverted by a home line per its headers; its div PASSporT failed",
        ),
        (
            Some(DivCheck::Verified { domestic: false }),
            "diverted by a home line per its headers; its div PASSporT names none",
        ),
    ] {
        let (action, reasons, notes) = run_div(diverted, "intl-div", div);
        assert_eq!(
            (action, reasons, notes),
            (
                Action::Anonymise,
                vec!["spoof:domestic-cli-intl".to_string()],
                vec![note.to_string()]
            ),
            "{div:?}"
        );
    }
    // A mobile number the same way (no roaming check here).
    let mobile = Call {
        diversion: Some("<sip:+31104567890@example.nl>"),
        ..from("+31612345678")
    };
    assert_eq!(
        run_div(mobile, "intl-div", None).1,
        vec!["spoof:domestic-mobile-intl"]
    );
    assert_eq!(
        run_div(mobile, "intl-div", domestic).1,
        Vec::<String>::new()
    );
    // Without headers, a verified domestic diversion lifts it on any
    // international peer; the headers alone still do where diversions are
    // not signed, and no note is written there.
    assert_eq!(
        run_div(from("+31201234568"), "intl", domestic).1,
        Vec::<String>::new()
    );
    let (_, reasons, notes) = run_div(from("+31201234568"), "intl-div", None);
    assert_eq!(
        (reasons, notes),
        (
            vec!["spoof:domestic-cli-intl".to_string()],
            Vec::<String>::new()
        )
    );
    assert_eq!(run_div(diverted, "intl", None).1, Vec::<String>::new());
}

/// A number a `registered-cli` list registers (a cloud number, a call
/// centre) presented from abroad is `registered-cli`, allowed, instead of
/// a spoof; from a domestic peer it is nothing.
#[test]
fn a_registered_caller_id_from_abroad_is_no_spoof() {
    assert_eq!(
        run(from("+31209990001"), "intl"),
        (Action::Allow, vec!["registered-cli".into()])
    );
    assert_eq!(
        run(from("+31687654321"), "intl"),
        (Action::Allow, vec!["registered-cli".into()])
    );
    assert_eq!(run(from("+31209990001"), "kpn").1, Vec::<String>::new());
    // Its neighbour is not registered.
    assert_eq!(
        run(from("+31687654322"), "intl").1,
        vec!["spoof:domestic-mobile-intl"]
    );
}

fn b64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn identity(attest: &str, orig: &str, iat: u64) -> String {
    let h = b64(
        r#"{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":"https://cert.example/a.pem"}"#,
    );
    let p = b64(&format!(
        r#"{{"attest":"{attest}","orig":{{"tn":"{orig}"}},"dest":{{"tn":["31104567890"]}},"iat":{iat},"origid":"x"}}"#
    ));
    format!("{h}.{p}.c2lnbmF0dXJl;info=<https://cert.example/a.pem>;alg=ES256;ppt=shaken")
}

#[test]
fn stir_shaken_signals() {
    let good = identity("A", "31201234568", NOW - 5);
    let c = Call {
        identity: Some(&good),
        ..from("+31201234568")
    };
    assert_eq!(run(c, "signer"), (Action::Allow, vec![]));
    // A signing peer without Identity.
    assert_eq!(run(from("+31201234568"), "signer").1, vec!["shaken:none"]);
    // Attestation C, another originating number, an old iat.
    for (id, code) in [
        (identity("C", "31201234568", NOW), "shaken:attest-c"),
        (identity("A", "31209999999", NOW), "shaken:orig-mismatch"),
        (identity("A", "31201234568", NOW - 3600), "shaken:stale"),
        (identity("A", "31201234568", NOW + 3600), "shaken:stale"),
    ] {
        let c = Call {
            identity: Some(&id),
            ..from("+31201234568")
        };
        assert_eq!(run(c, "signer").1, vec![code.to_string()], "{code}");
    }
    // Compact form: nothing to compare, nothing found; a diversion PASSporT is not the caller's.
    let compact = format!("{}..c2ln", b64(r#"{"alg":"ES256","ppt":"shaken"}"#));
    assert_eq!(
        run(
            Call {
                identity: Some(&compact),
                ..from("+31201234568")
            },
            "signer"
        )
        .1,
        Vec::<String>::new()
    );
    let div = good.replace("ppt=shaken", "ppt=div");
    assert_eq!(
        run(
            Call {
                identity: Some(&div),
                ..from("+31201234568")
            },
            "signer"
        )
        .1,
        vec!["shaken:none"]
    );
    // An unverified attestation never lowers suspicion.
    let a = identity("A", "31201234567", NOW);
    assert_eq!(
        run(
            Call {
                identity: Some(&a),
                ..from("+31201234567")
            },
            "signer"
        )
        .0,
        REJECT
    );
}
