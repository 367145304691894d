//! The spoofing fixtures (fixtures/spoofing/) sent to the daemon running the
//! example configuration (config/callscreen.toml, on ephemeral ports): the
//! answer and the NOC line of each.

use crate::support::*;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/spoofing/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn each_spoofing_fixture_gets_its_answer_and_noc_line() {
    let d = example_daemon("spoofing");
    let c = udp_client("127.0.0.1:0");
    let cases: [(&str, u16, Option<&str>, &str); 6] = [
        (
            "microsoft-support-intl.sip",
            302,
            Some("spoof:display-name,spoof:domestic-cli-intl"),
            "verdict=anonymise code=302 reasons=spoof:display-name,spoof:domestic-cli-intl caller=+31205001599",
        ),
        (
            "bank-inbound-only.sip",
            608,
            None,
            "verdict=reject code=608 reasons=spoof:dno caller=+31202288888",
        ),
        (
            "roaming-mobile.sip",
            302,
            Some("spoof:domestic-mobile-intl"),
            "verdict=tag code=302 reasons=spoof:domestic-mobile-intl caller=+31612345678",
        ),
        (
            "diverted-call.sip",
            302,
            None,
            "verdict=allow code=302 reasons=- caller=+31201234568",
        ),
        (
            "clean-domestic.sip",
            302,
            None,
            "verdict=allow code=302 reasons=- caller=+31201234568",
        ),
        (
            "pai-from-mismatch.sip",
            302,
            Some("spoof:pai-from-mismatch"),
            "verdict=tag code=302 reasons=spoof:pai-from-mismatch caller=+31202281234 pai=+31851234567",
        ),
    ];
    for (file, code, tags, noc) in cases {
        let r = udp_ask(&c, d.udp, &fixture(file)).unwrap_or_else(|| panic!("{file}: no answer"));
        assert_eq!(status(&r), code, "{file}: {r}");
        assert_eq!(header(&r, "X-Callscreen"), tags, "{file}: {r}");
        let line = d.noc_line(header(&r, "Call-ID").unwrap());
        assert!(line.contains(noc), "{file}: {line}");
    }
    // The anonymised call goes on with the caller's number withheld.
    let r = udp_ask(&c, d.udp, &fixture("microsoft-support-intl.sip")).unwrap();
    assert!(
        header(&r, "Contact").unwrap().contains("?Privacy=id"),
        "{r}"
    );
    assert_eq!(
        header(&r, "P-Asserted-Identity"),
        Some("\"[SCAM?] Microsoft Support\" <sip:+31205001599@intl-gw.example;user=phone>")
    );
    // The inbound-only rejection says why, in the configured words only.
    let r = udp_ask(&c, d.udp, &fixture("bank-inbound-only.sip")).unwrap();
    assert_eq!(
        header(&r, "Reason"),
        Some("SIP;cause=608;text=\"Network blocked\"")
    );
}

/// Issue #33: numbers registered to present a home-country caller ID from
/// abroad (cloud numbers, call centres) are a `registered-cli` list, pushed
/// as every list: from an international peer such a number is allowed as
/// `registered-cli` (its list and version on the NOC line), not anonymised
/// as `spoof:domestic-cli-intl`; a number the list does not register still
/// is, and a push puts a newly registered number in force at once.
#[test]
fn a_registered_caller_id_from_abroad_goes_through_unchanged() {
    let dir = temp_dir("registered-cli");
    std::fs::write(
        dir.join("cloud.txt"),
        "# callscreen list v1 name=cloud-numbers version=1\n+3120999*,cloud-provider,REG-2025-001\n",
    )
    .unwrap();
    let extra = format!(
        "{}[[lists]]\nname = \"cloud-numbers\"\nrole = \"registered-cli\"\nfile = \"cloud.txt\"\n",
        ops_api_config(&dir.join("state"), 1, "ops-token")
    );
    let d = Daemon::start_config(dir.clone(), config(&dir, &extra), &[]);
    let c = udp_client("127.0.0.1:0");
    let ask = |id: &str, from: &str| {
        let r = udp_ask(&c, d.udp, &invite(id, from, "X-Ingress-Trunk: intl\r\n"))
            .unwrap_or_else(|| panic!("{id}: no answer"));
        (r, d.noc_line(id))
    };
    let (r, line) = ask("reg-1", "+31209990001");
    assert_eq!(status(&r), 302, "{r}");
    assert!(
        !header(&r, "Contact").unwrap_or("").contains("Privacy=id"),
        "{r}"
    );
    assert!(
        line.contains("verdict=allow code=302 reasons=registered-cli caller=+31209990001")
            && line.contains("lists=cloud-numbers@1"),
        "{line}"
    );
    let (r, line) = ask("reg-2", "+31209980001");
    assert!(
        header(&r, "Contact").unwrap_or("").contains("?Privacy=id"),
        "{r}"
    );
    assert!(
        line.contains("verdict=anonymise code=302 reasons=spoof:domestic-cli-intl"),
        "{line}"
    );
    // Registered by a push.
    let (s, out) = http(
        api_addr(&d),
        "PUT",
        "/v1/lists/cloud-numbers",
        Some("ops-token"),
        Some("text/plain"),
        b"# callscreen list v1 name=cloud-numbers version=2\n+3120999*,cloud-provider,REG-2025-001\n+3120998*,call-centre,REG-2025-002\n",
    );
    assert_eq!(s, 200, "{out}");
    let (_, line) = ask("reg-3", "+31209980001");
    assert!(
        line.contains("verdict=allow code=302 reasons=registered-cli")
            && line.contains("lists=cloud-numbers@2"),
        "{line}"
    );
}

/// 603+ (ATIS-1000099), for a US-style deployment: an analytics-based block
/// (here the domestic-CLI-from-abroad signal) answered `603 Network
/// Blocked` with the configured Reason text (the blocking network and a
/// redress contact); a list hit stays 608, and 603+ on one is refused.
#[test]
fn an_analytics_block_can_be_answered_603_network_blocked() {
    let dir = temp_dir("603-plus");
    let extra = "[policy.rules]\n\"spoof:domestic-cli-intl\" = { action = \"reject\", code = \"603+\", text = \"Blocked by Example Telecom; redress https://example.net/redress\" }\n";
    let d = Daemon::start_config(dir.clone(), config(&dir, extra), &[]);
    let c = udp_client("127.0.0.1:0");
    let r = udp_ask(
        &c,
        d.udp,
        &invite("nb-1", "+31205551234", "X-Ingress-Trunk: intl\r\n"),
    )
    .expect("an answer");
    assert!(r.starts_with("SIP/2.0 603 Network Blocked\r\n"), "{r}");
    assert_eq!(
        header(&r, "Reason"),
        Some(
            "SIP;cause=603;text=\"Blocked by Example Telecom; redress https://example.net/redress\""
        )
    );
    // A blocklisted caller: 608 as before.
    let r = udp_ask(&c, d.udp, &invite("nb-2", "+31201234567", "")).expect("an answer");
    assert!(r.starts_with("SIP/2.0 608 "), "{r}");
    drop(d);
    let bad = config(
        &dir,
        "[policy.rules]\n\"blocklist:*\" = { action = \"reject\", code = \"603+\" }\n",
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["config", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains("policy.rules.\"blocklist:*\": 603+ (603 Network Blocked, ATIS-1000099) answers analytics-based blocks"),
        "{err}"
    );
}
