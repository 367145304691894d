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
