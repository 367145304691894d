use std::path::Path;

use super::*;
use crate::lists::{ListKind, Role};
use crate::screen::{Action, Reason, ReasonKind};

fn errors(text: &str) -> Vec<String> {
    match from_str(text, Path::new("cs.toml")) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
    }
}

fn ok(text: &str) -> Settings {
    from_str(text, Path::new("/etc/callscreen/cs.toml")).unwrap_or_else(|e| panic!("{e}"))
}

const PEER: &str = "[[peers]]\nname = \"p\"\ntrunk_ids = [\"t\"]\nscope = \"domestic\"\n";

#[test]
fn an_empty_file_is_a_valid_config_with_defaults() {
    let s = ok("");
    assert_eq!(s.policy.home.country_code.as_deref(), Some("31"));
    assert_eq!(s.guard.min_prefix_digits, 6);
    assert_eq!(s.tags.header, "X-Callscreen");
    assert_eq!(s.policy.plans.len(), 1, "the built-in Dutch plan");
}

#[test]
fn syntax_errors_and_unknown_keys_name_the_line() {
    let e = errors("[home]\ncountry_code = \"31\"\ncountry_code = \"32\"\n");
    assert!(e[0].starts_with("cs.toml:3: "), "{e:?}");
    let e =
        errors("[home]\ncountry_code = \"31\"\n\n[[peers]]\nname = \"p\"\nscopes = \"domestic\"\n");
    assert!(
        e[0].starts_with("cs.toml:6: ") && e[0].contains("unknown field `scopes`"),
        "{e:?}"
    );
    let e = errors("[homme]\n");
    assert!(e[0].contains("unknown field `homme`"), "{e:?}");
}

#[test]
fn every_error_is_reported_with_file_line_and_key() {
    let e = errors(
        "[home]\n\
         country_code = \"031\"\n\
         [[sbcs]]\n\
         name = \"s\"\n\
         addresses = [\"10.0.0/8\"]\n\
         [[peers]]\n\
         name = \"p\"\n\
         scope = \"abroad\"\n\
         addresses = [\"192.0.2.0/33\"]\n\
         [policy.rules]\n\
         \"blocklist:nosuch\" = \"tag\"\n\
         \"spoof:everything\" = \"tag\"\n\
         \"invalid-cli\" = { action = \"reject\", code = 607 }\n\
         \"cli-premium\" = \"block\"\n\
         \"emergency\" = \"tag\"\n",
    );
    let want = [
        ("cs.toml:2: home.country_code", "does not start with 0"),
        ("cs.toml:5: sbcs[0].addresses[0]", "is not an IP network"),
        ("cs.toml:8: peers[0].scope", "\"abroad\" is not a scope"),
        (
            "cs.toml:9: peers[0].addresses[0]",
            "prefix length must be a number from 0 to 32",
        ),
        (
            "cs.toml:11: policy.rules.\"blocklist:nosuch\"",
            "no blocklist list named \"nosuch\"",
        ),
        (
            "cs.toml:12: policy.rules.\"spoof:everything\"",
            "is not a reason code",
        ),
        (
            "cs.toml:13: policy.rules.\"invalid-cli\".code",
            "607 Unwanted is the called user's own verdict",
        ),
        (
            "cs.toml:14: policy.rules.\"cli-premium\"",
            "\"block\" is not an action",
        ),
        ("cs.toml:15: policy.rules.\"emergency\"", "never rejected"),
    ];
    for (prefix, needle) in want {
        assert!(
            e.iter()
                .any(|l| l.starts_with(prefix) && l.contains(needle)),
            "{prefix} / {needle} not in {e:#?}"
        );
    }
}

#[test]
fn peers_lists_and_rules() {
    let s = ok(&format!(
        "[[lists]]\nname = \"scam\"\nrole = \"blocklist\"\nfile = \"lists/scam.txt\"\n\
         [[lists]]\nname = \"nets\"\nrole = \"blocklist\"\nkind = \"networks\"\nfile = \"/var/lib/nets.txt\"\nrequired = false\n\
         {PEER}\
         [[peers]]\nname = \"de\"\naddresses = [\"192.0.2.0/24\"]\nscope = \"international\"\n\
         number_context = {{ country_code = \"49\" }}\n\
         rules = {{ \"blocklist:scam\" = {{ action = \"reject\", code = 603, text = \"no\" }}, \"invalid-cli\" = {{ action = \"tag\", monitor = true }} }}\n\
         [policy.rules]\n\"blocklist:*\" = \"tag\"\n"
    ));
    assert_eq!(s.lists[0].file, Path::new("/etc/callscreen/lists/scam.txt"));
    assert_eq!(
        (s.lists[1].kind, s.lists[1].role, s.lists[1].required),
        (ListKind::Networks, Role::Blocklist, false)
    );
    assert_eq!(s.lists[1].file, Path::new("/var/lib/nets.txt"));
    let p = &s.policy;
    assert!(!p.peers[0].international && p.peers[0].context == p.home);
    assert_eq!(p.peers[1].context.country_code.as_deref(), Some("49"));
    assert_eq!(s.peers[1].nets.len(), 1);
    let scam = Reason::of_list(ReasonKind::Blocklist, "scam");
    assert_eq!(p.rule(&scam, 0).action, Action::Tag);
    assert_eq!(p.rule(&scam, 1).action, Action::Reject { code: 603 });
    assert_eq!(p.rule(&scam, 1).text.as_deref(), Some("no"));
    let inv = Reason::new(ReasonKind::InvalidCli);
    assert!(p.rule(&inv, 1).monitor);
    assert!(!p.rule(&inv, 0).monitor);
    // Built-in defaults stand where nothing is configured.
    assert_eq!(
        p.rule(&Reason::new(ReasonKind::SpoofDno), 0).action,
        Action::Reject { code: 608 }
    );
    assert_eq!(
        p.rule(&Reason::new(ReasonKind::SpoofDomesticCliIntl), 0)
            .action,
        Action::Anonymise
    );
    // An international peer reads E.164 only unless told otherwise.
    let s = ok("[[peers]]\nname = \"i\"\ntrunk_ids = [\"i\"]\nscope = \"international\"\n");
    assert_eq!(s.policy.peers[0].context.country_code, None);
}

#[test]
fn peer_and_list_mistakes() {
    let e = errors(&format!(
        "{PEER}{PEER}\
         [[peers]]\nname = \"q\"\nscope = \"domestic\"\nnumber_context = \"germany\"\n\
         [[lists]]\nname = \"a\"\nrole = \"blocklist\"\nfile = \"a\"\n\
         [[lists]]\nname = \"a\"\nrole = \"blocklist\"\nfile = \"b\"\n\
         [[lists]]\nname = \"c\"\nrole = \"denylist\"\nfile = \"c\"\n\
         [[lists]]\nname = \"d\"\nrole = \"allowlist\"\nkind = \"networks\"\nfile = \"d\"\n\
         [[lists]]\nname = \"e\"\nrole = \"withdrawn\"\nfile = \"e\"\nmax_age_secs = 0\n\
         [[lists]]\nname = \"f\"\nrole = \"dialled-warn\"\nfile = \"f\"\nmin_prefix_digits = 16\n\
         [list_guard]\nmin_prefix_digits = 0\n"
    ));
    let joined = e.join("\n");
    for needle in [
        "peers[1].name: peer name \"p\" must be non-empty and unique",
        "peers[1].trunk_ids: trunk id \"t\" is also given to peer \"p\"",
        "peers[2]: a peer needs trunk_ids",
        "peers[2].number_context: use \"home\", \"e164\"",
        "lists[1].name: list \"a\" is configured twice",
        "lists[2].role: \"denylist\" is not a role",
        "lists[3].kind: an allowlist holds numbers",
        "lists[4].max_age_secs: must be above 0",
        "lists[5].min_prefix_digits: must be a number of digits from 1 to 15",
        "list_guard.min_prefix_digits: must be a number of digits from 1 to 15",
    ] {
        assert!(joined.contains(needle), "{needle} not in:\n{joined}");
    }
}

/// A list's own `min_prefix_digits` takes the place of `[list_guard]`'s
/// for that list alone; the other guard settings stay the global ones.
#[test]
fn a_list_may_have_its_own_shortest_prefix() {
    let s = ok(
        "[list_guard]\nmin_prefix_digits = 7\nmax_shrink_percent = 20\n\
         [[lists]]\nname = \"warn\"\nrole = \"blocklist\"\nfile = \"w\"\nmin_prefix_digits = 3\n\
         [[lists]]\nname = \"scam\"\nrole = \"blocklist\"\nfile = \"s\"\n",
    );
    let guard_of = |name: &str| {
        let spec = s.lists.iter().find(|l| l.name == name).expect("the list");
        spec.guard(s.guard)
    };
    let (warn, scam) = (guard_of("warn"), guard_of("scam"));
    assert_eq!((warn.min_prefix_digits, scam.min_prefix_digits), (3, 7));
    assert_eq!((warn.max_shrink_percent, scam.max_shrink_percent), (20, 20));
    let e = errors(
        "[[lists]]\nname = \"w\"\nrole = \"dialled-warn\"\nfile = \"w\"\nmin_prefix_digits = \"3\"\n",
    );
    assert!(
        e[0].starts_with("cs.toml:5: ") && e[0].contains("expected i64"),
        "{e:?}"
    );
}

#[test]
fn numbering_tables() {
    let s = ok(
        "[home]\ncountry_code = \"49\"\n[[numbering]]\ncountry_code = \"49\"\nranges = [{ prefix = \"15\", lengths = [10, 11], type = \"mobile\" }]\n",
    );
    assert_eq!(s.policy.plans.len(), 1);
    assert_eq!(s.policy.plans[0].country_code, "49");
    let e = errors(
        "[[numbering]]\ncountry_code = \"31\"\nranges = [\n{ prefix = \"6\", lengths = [9], type = \"cellular\" },\n{ prefix = \"x\", lengths = [9], type = \"mobile\" },\n{ prefix = \"61\", lengths = [1], type = \"mobile\" }]\n",
    );
    assert!(
        e[0].starts_with(
            "cs.toml:4: numbering[0].ranges[0].type: \"cellular\" is not a number type"
        ),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("cs.toml:5: numbering[0].ranges[1].prefix"),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("cs.toml:6: numbering[0].ranges[2].lengths"),
        "{e:?}"
    );
}

#[test]
fn a_missing_file_says_so() {
    let e = load(Path::new("/nonexistent/callscreen.toml")).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("/nonexistent/callscreen.toml: cannot read the configuration file"),
        "{e}"
    );
}

#[test]
fn proxy_mode_needs_next_hops_and_says_how_to_write_them() {
    let s = ok(
        "[sip]\nmode = \"proxy\"\n[proxy]\nnext_hops = [\"sip:192.0.2.20:5070\", \"192.0.2.21;transport=tcp\", \"[2001:db8::1]\"]\n",
    );
    assert_eq!(s.sip.mode, Mode::Proxy);
    let hops: Vec<_> = s
        .proxy
        .next_hops
        .iter()
        .map(|h| (h.addr.to_string(), h.tcp))
        .collect();
    assert_eq!(
        hops,
        vec![
            ("192.0.2.20:5070".to_string(), false),
            ("192.0.2.21:5060".to_string(), true),
            ("[2001:db8::1]:5060".to_string(), false)
        ]
    );
    assert_eq!(s.proxy.probe_interval.as_secs(), 5);
    assert_eq!(s.proxy.down_for.as_secs(), 30);

    let e = errors("[sip]\nmode = \"proxy\"\n");
    assert!(
        e[0].contains("proxy.next_hops") && e[0].contains("at least one next hop"),
        "{e:?}"
    );
    let e = errors(
        "[sip]\nmode = \"proxy\"\n[proxy]\nnext_hops = [\n  \"sbc.example.net:5060\",\n  \"sip:192.0.2.1;lr\",\n]\n",
    );
    assert!(
        e[0].starts_with("cs.toml:5: proxy.next_hops[0]") && e[0].contains("no DNS"),
        "{e:?}"
    );
    assert!(
        e[1].starts_with("cs.toml:6: proxy.next_hops[1]") && e[1].contains("transport="),
        "{e:?}"
    );
    let e = errors(
        "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:5060\"]\n[proxy]\nnext_hops = [\"127.0.0.1:5060\"]\n",
    );
    assert!(e[0].contains("loop"), "{e:?}");
    let e = errors(
        "[sip]\nmode = \"proxy\"\nudp = [\"0.0.0.0:5060\"]\n[proxy]\nnext_hops = [\"192.0.2.20\"]\n",
    );
    assert!(
        e[0].contains("proxy.via_host") && e[0].contains("0.0.0.0"),
        "{e:?}"
    );
    ok(
        "[sip]\nmode = \"proxy\"\nudp = [\"0.0.0.0:5060\"]\n[proxy]\nnext_hops = [\"192.0.2.20\"]\nvia_host = \"cs.example.net\"\n",
    );
    let e = errors("[sip]\nmode = \"stateful\"\n");
    assert!(
        e[0].contains("\"redirect\"") && e[0].contains("\"proxy\""),
        "{e:?}"
    );
}

/// The example configuration is the config's documentation (callscreen.toml(5)
/// is made from it by build.rs): every key of the schema appears in it, set
/// or as a commented example (`# key = value`), or as a table header.
#[test]
fn the_example_config_documents_every_key_of_the_schema() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = std::fs::read_to_string(root.join("src/config/schema.rs")).unwrap();
    let example = std::fs::read_to_string(root.join("config/callscreen.toml")).unwrap();
    let lines: Vec<&str> = schema.lines().collect();
    let mut keys = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let Some(rest) = l.trim().strip_prefix("pub ") else {
            continue;
        };
        let Some((name, _)) = rest.split_once(':') else {
            continue;
        };
        if !name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            continue;
        }
        let renamed = i
            .checked_sub(1)
            .and_then(|p| lines[p].split_once("rename = \""))
            .and_then(|(_, r)| r.split('"').next());
        keys.push(renamed.unwrap_or(name).to_string());
    }
    assert!(keys.len() > 50, "only {} schema keys read", keys.len());
    let documented = |k: &str| {
        example.lines().any(|l| {
            let t = l.trim().trim_start_matches('#').trim_start();
            let header = t.trim_start_matches('[').split(']').next().unwrap_or("");
            t.strip_prefix(k)
                .is_some_and(|r| r.trim_start().starts_with('='))
                || (t.starts_with('[') && header.rsplit('.').next() == Some(k))
                || t.contains(&format!("{{ {k} = "))
                || t.contains(&format!(", {k} = "))
        })
    };
    let missing: Vec<&String> = keys.iter().filter(|k| !documented(k)).collect();
    assert!(
        missing.is_empty(),
        "config/callscreen.toml does not document {missing:?}: add each, set or as a commented example"
    );
}

const ORIGINATING: &str = "[[peers]]\nname = \"subs\"\ntrunk_ids = [\"subs\"]\nscope = \"domestic\"\ndirection = \"originating\"\n\n[[peers]]\nname = \"annc\"\ntrunk_ids = [\"annc\"]\nscope = \"domestic\"\ndirection = \"originating\"\n";

#[test]
fn originating_trunks_their_blocks_and_the_warn_service() {
    let dir = std::env::temp_dir().join(format!("callscreen-cfg-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("fhd.txt"),
        "# callscreen list v1 name=fhd version=1\n+31202621234\n",
    )
    .unwrap();
    std::fs::write(dir.join("key.hex"), "ab".repeat(32)).unwrap();
    let path = dir.join("cs.toml");
    let lists = "[[lists]]\nname = \"fhd\"\nrole = \"fake-helpdesk\"\nfile = \"fhd.txt\"\n\n";
    let warn = "[warn]\nannouncement = \"sip:warn@192.0.2.50:5062\"\npeer = \"annc\"\ncarry = \"diversion\"\ntoken_key_file = \"key.hex\"\n";
    let s =
        from_str(&format!("{lists}{ORIGINATING}{warn}"), &path).unwrap_or_else(|e| panic!("{e}"));
    let w = s.warn.as_ref().unwrap();
    assert_eq!(
        (w.uri.as_str(), w.hop.addr.port(), w.peer, w.cause),
        ("sip:warn@192.0.2.50:5062", 5062, Some(1), 302)
    );
    assert_eq!(
        (w.carry, w.token_ttl, w.token_key.is_some()),
        (Carry::Diversion, 300, true)
    );
    assert!(s.policy.peers[0].originating);
    assert_eq!(s.lists[0].role, Role::FakeHelpdesk);

    let err = |text: String| match from_str(&text, &path) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => {
            e.0.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    // A dialled-number list that warns needs somewhere to send the call.
    let e = err(format!("{lists}{ORIGINATING}"));
    assert!(
        e.contains("callee:fake-helpdesk:fhd warns") && e.contains("[warn] announcement"),
        "{e}"
    );
    // ... unless its rule does something else.
    ok_at(
        &format!("{lists}{ORIGINATING}[policy.rules]\n\"callee:fake-helpdesk:*\" = \"reject\"\n"),
        &path,
    );
    let e = err(format!(
        "{lists}{ORIGINATING}[warn]\nannouncement = \"sip:warn@announce.example.net\"\n"
    ));
    assert!(
        e.contains("cs.toml:") && e.contains("warn.announcement") && e.contains("no DNS"),
        "{e}"
    );
    let e = err(format!(
        "{lists}{ORIGINATING}[[peers]]\nname = \"dom\"\ntrunk_ids = [\"d\"]\nscope = \"domestic\"\n[warn]\nannouncement = \"sip:w@192.0.2.50\"\npeer = \"dom\"\n"
    ));
    assert!(e.contains("warn.peer") && e.contains("originating"), "{e}");
    let e = err(format!(
        "{lists}{ORIGINATING}[warn]\nannouncement = \"sip:w@192.0.2.50\"\ncause = 200\ncarry = \"smoke-signals\"\n"
    ));
    assert!(e.contains("warn.cause") || e.contains("warn.carry"), "{e}");
    let e = err(format!(
        "{lists}{ORIGINATING}[warn]\nannouncement = \"sip:w@192.0.2.50\"\ntoken_key_file = \"missing.hex\"\n"
    ));
    assert!(
        e.contains("warn.token_key_file") && e.contains("missing.hex"),
        "{e}"
    );
    // Directions and number blocks.
    let e = err("[[peers]]\nname = \"p\"\ntrunk_ids = [\"t\"]\nscope = \"domestic\"\ndirection = \"outbound\"\n".into());
    assert!(
        e.contains("cs.toml:5: peers[0].direction") && e.contains("\"originating\""),
        "{e}"
    );
    let e = err("[[peers]]\nname = \"p\"\ntrunk_ids = [\"t\"]\nscope = \"domestic\"\ndirection = \"originating\"\nassigned = [\"+3120555*\", \"020555\"]\n".into());
    assert!(
        e.contains("peers[0].assigned[1]") && e.contains("\"020555\""),
        "{e}"
    );
    let e = err("[[peers]]\nname = \"p\"\ntrunk_ids = [\"t\"]\nscope = \"domestic\"\nassigned = [\"+3120555*\"]\n".into());
    assert!(
        e.contains("peers[0].assigned") && e.contains("direction = \"originating\""),
        "{e}"
    );
    // warn is for dialled numbers only; a dialled list holds numbers.
    let e = err("[policy.rules]\n\"blocklist:*\" = \"warn\"\n".into());
    assert!(
        e.contains("only callee:fake-helpdesk and callee:warn rules may warn"),
        "{e}"
    );
    let e = err(
        "[[lists]]\nname = \"n\"\nrole = \"dialled-warn\"\nkind = \"networks\"\nfile = \"n.txt\"\n"
            .into(),
    );
    assert!(
        e.contains("lists[0].kind") && e.contains("holds numbers"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn ok_at(text: &str, path: &Path) -> Settings {
    from_str(text, path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn redress_mistakes_name_the_key_and_what_to_write() {
    let e = errors(
        "[redress]\nurl = \"http://www.example.net/card.jws\"\nkey = \"k.pem\"\n\
         cert_url = \"https://www.example.net/cert.pem\"\nname = \"Desk\"\n\
         tel = [\"0201234000\"]\nemail = [\"nobody\"]\nlisten = \"everywhere\"\n",
    );
    let joined = e.join("\n");
    for needle in [
        "cs.toml:2: redress.url: \"http://www.example.net/card.jws\" must be the https:// URL",
        "cs.toml:6: redress.tel: \"0201234000\" must be an E.164 number",
        "cs.toml:7: redress.email: \"nobody\" is not an e-mail address",
        "cs.toml:8: redress.listen: \"everywhere\" must be an address and port",
    ] {
        assert!(joined.contains(needle), "{needle} not in:\n{joined}");
    }
    let e = errors(
        "[redress]\nurl = \"https://www.example.net/card.jws\"\nname = \"Desk\"\nemail = [\"a@example.net\"]\n",
    );
    assert!(e.join("\n").contains("redress.cert_url: missing"), "{e:?}");
    let ok = ok(
        "[redress]\nurl = \"https://www.example.net/card.jws\"\nkey = \"k.pem\"\n\
                 cert_url = \"https://www.example.net/cert.pem\"\nname = \"Desk\"\nemail = [\"a@example.net\"]\n",
    );
    let r = ok.redress.expect("[redress]");
    assert_eq!(r.card, Path::new("/etc/callscreen/redress.jws"));
    assert_eq!(r.key, Path::new("/etc/callscreen/k.pem"));
    assert_eq!(r.listen, None);
}

#[test]
fn stir_mistakes_name_the_key_and_what_to_write() {
    let e = errors(
        "[stir]\ntrust_anchors = \"no-such-dir\"\nbudget_ms = 0\n\
         x5u_allow_hosts = [\"https://cert.example/\"]\nx5u_allow_networks = [\"10.0.0.0/33\"]\n\
         a_lifts = [\"blocklist:*\", \"stir:bad-signature\", \"no-such-reason\"]\n",
    );
    let joined = e.join("\n");
    for needle in [
        "cs.toml:2: stir.trust_anchors: ",
        "name a directory of STI-CA root certificates (PEM)",
        "cs.toml:3: stir.budget_ms: must be 1 to 10000 ms (default 200)",
        "cs.toml:4: stir.x5u_allow_hosts: \"https://cert.example/\" must be a host name",
        "cs.toml:5: stir.x5u_allow_networks[0]",
        "cs.toml:6: stir.a_lifts: \"blocklist:*\": a verified attestation lifts spoofing signals only",
        "stir.a_lifts: \"stir:bad-signature\"",
        "stir.a_lifts: \"no-such-reason\" is not a reason code",
    ] {
        assert!(joined.contains(needle), "{needle} not in:\n{joined}");
    }
    // An anchors directory without certificates is refused too.
    let dir = std::env::temp_dir().join(format!("cs-stir-anchors-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("anchors")).unwrap();
    std::fs::write(dir.join("anchors/root.pem"), "not a certificate\n").unwrap();
    let e = from_str(
        "[stir]\ntrust_anchors = \"anchors\"\n",
        &dir.join("cs.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("root.pem: holds no PEM certificate"), "{e}");
    // Revocation's keys: what an unavailable CRL gives, the indirect CRLs'
    // signers, the size limit.
    let key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let root = ca.self_signed(&key).unwrap();
    std::fs::write(dir.join("anchors/root.pem"), root.pem()).unwrap();
    let e = from_str(
        "[stir]\ntrust_anchors = \"anchors\"\ncrl_unavailable = \"ignore\"\n\
         crl_signers = \"no-such-dir\"\ncrl_max_bytes = 10\n",
        &dir.join("cs.toml"),
    )
    .unwrap_err()
    .to_string();
    // A CRL signer file that is no certificate is named.
    std::fs::create_dir_all(dir.join("pa")).unwrap();
    std::fs::write(
        dir.join("pa/signer.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let bad = from_str(
        "[stir]\ntrust_anchors = \"anchors\"\ncrl_signers = \"pa\"\n",
        &dir.join("cs.toml"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        bad.contains("cs.toml:3: stir.crl_signers: ")
            && bad.contains("pa/signer.pem: a certificate does not parse"),
        "{bad}"
    );
    for needle in [
        "cs.toml:3: stir.crl_unavailable: \"ignore\": use \"no-validation\"",
        "cs.toml:4: stir.crl_signers: ",
        "name a directory of the certificates (PEM) that sign indirect CRLs",
        "cs.toml:5: stir.crl_max_bytes: must be",
    ] {
        assert!(e.contains(needle), "{needle} not in:\n{e}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `div_signs` needs `[stir]` (it is what verifies the `div` PASSporTs)
/// and means something on an international peer only.
#[test]
fn div_signs_needs_stir_and_an_international_peer() {
    let e = errors(&format!(
        "[[peers]]\nname = \"d\"\ntrunk_ids = [\"d\"]\nscope = \"domestic\"\ndiv_signs = true\n\n{PEER}"
    ));
    let joined = e.join("\n");
    for needle in [
        "cs.toml:5: peers[0].div_signs: diversion PASSporTs (RFC 8946) are verified with [stir]",
        "cs.toml:5: peers[0].div_signs: div_signs decides whether a home-country caller ID from abroad was diverted",
    ] {
        assert!(joined.contains(needle), "{needle} not in:\n{joined}");
    }
    let s = ok(
        "[[peers]]\nname = \"i\"\ntrunk_ids = [\"i\"]\nscope = \"international\"\ndiv_signs = false\n",
    );
    assert!(!s.policy.peers[0].div_signs);
}
