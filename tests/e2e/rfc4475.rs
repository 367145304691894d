//! RFC 4475 torture messages and real carrier INVITEs, sent to the running
//! daemon. The table says what callscreen answers in its role, a redirect
//! server (a stateless UAS, RFC 3261 §8.2.7), and why (fixtures/rfc4475/INDEX.md).

use crate::support::*;

/// `None`: dropped silently (a response, to a UAS that sent no request).
const TABLE: &[(&str, Option<u16>, &str)] = &[
    // 3.1.1 valid messages: accepted.
    (
        "wsinv.dat",
        Some(302),
        "INVITE screened (From is no number: tagged invalid-cli, 302)",
    ),
    ("intmeth.dat", Some(501), "unknown extension method: 501"),
    ("esc01.dat", Some(302), "INVITE screened"),
    (
        "escnull.dat",
        Some(405),
        "REGISTER is not served: 405 with Allow",
    ),
    (
        "esc02.dat",
        Some(501),
        "RE%47IST%45R is an unknown method, not REGISTER",
    ),
    (
        "lwsdisp.dat",
        Some(200),
        "OPTIONS; no LWS before < is accepted",
    ),
    (
        "longreq.dat",
        Some(302),
        "INVITE with long values and 28 Vias, screened",
    ),
    (
        "dblreq.dat",
        Some(405),
        "the REGISTER only; the trailing INVITE bytes are ignored",
    ),
    ("semiuri.dat", Some(200), "OPTIONS with ; in the user part"),
    (
        "transports.dat",
        Some(200),
        "OPTIONS with unknown Via transports",
    ),
    (
        "mpart01.dat",
        Some(405),
        "MESSAGE is not served; framed by Content-Length",
    ),
    ("unreason.dat", None, "a response: dropped"),
    ("noreason.dat", None, "a response: dropped"),
    // 3.1.2 invalid messages.
    (
        "badinv01.dat",
        Some(400),
        "empty Via and Contact parameters",
    ),
    (
        "clerr.dat",
        Some(400),
        "Content-Length larger than the datagram",
    ),
    ("ncl.dat", Some(400), "negative Content-Length"),
    ("scalar02.dat", Some(400), "CSeq above 2^32-1"),
    ("scalarlg.dat", None, "a response: dropped"),
    ("quotbal.dat", Some(400), "unterminated quoted string"),
    ("ltgtruri.dat", Some(400), "<> around the Request-URI"),
    ("lwsruri.dat", Some(400), "LWS inside the Request-URI"),
    (
        "lwsstart.dat",
        Some(400),
        "several SP between Request-Line elements",
    ),
    ("trws.dat", Some(400), "SP at the end of the Request-Line"),
    ("escruri.dat", Some(400), "headers in the Request-URI"),
    (
        "baddate.dat",
        Some(302),
        "INVITE screened: the Date header plays no part",
    ),
    ("regbadct.dat", Some(405), "REGISTER is not served"),
    ("badaspec.dat", Some(400), "spaces within addr-spec"),
    (
        "baddn.dat",
        Some(400),
        "unquoted comma in a display name (archive copy: no final CRLF)",
    ),
    ("badvers.dat", Some(505), "SIP/7.0"),
    (
        "mismatch01.dat",
        Some(400),
        "CSeq method differs from the request method",
    ),
    (
        "mismatch02.dat",
        Some(501),
        "unknown method (501 preferred over 400)",
    ),
    (
        "bigcode.dat",
        None,
        "a response with an overlarge code: dropped",
    ),
    // 3.2 transaction layer.
    (
        "badbranch.dat",
        Some(200),
        "a bare z9hG4bK branch; a stateless UAS needs no transaction match",
    ),
    // 3.3 application layer.
    ("insuf.dat", Some(400), "no Call-ID, From or To"),
    ("unkscm.dat", Some(416), "unknown Request-URI scheme"),
    (
        "novelsc.dat",
        Some(416),
        "soap.beep: a scheme callscreen never serves",
    ),
    ("unksm2.dat", Some(405), "REGISTER is not served"),
    (
        "bext01.dat",
        Some(420),
        "Require names an unsupported extension",
    ),
    (
        "invut.dat",
        Some(302),
        "a redirect server does not read the body: screened",
    ),
    ("regaut01.dat", Some(405), "REGISTER is not served"),
    (
        "multi01.dat",
        Some(400),
        "two From (and other single) headers",
    ),
    ("mcl01.dat", Some(400), "conflicting Content-Length"),
    ("bcast.dat", None, "a response: dropped"),
    (
        "zeromf.dat",
        Some(200),
        "Max-Forwards 0: the endpoint processes it",
    ),
    ("cparam01.dat", Some(405), "REGISTER is not served"),
    ("cparam02.dat", Some(405), "REGISTER is not served"),
    ("regescrt.dat", Some(405), "REGISTER is not served"),
    (
        "sdp01.dat",
        Some(302),
        "a redirect server sends no body: Accept plays no part",
    ),
    // 3.4 backward compatibility.
    (
        "inv2543.dat",
        Some(302),
        "RFC 2543 INVITE (no branch, tag or Content-Length), screened",
    ),
    ("test.dat", Some(400), "no SIP version in the Request-Line"),
];

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/fixtures/rfc4475/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn every_torture_message_gets_the_rfc_answer_over_udp() {
    let d = Daemon::start("rfc4475-udp", "");
    let mut c = Catcher::new("127.0.0.9");
    let mut wrong = Vec::new();
    assert_eq!(TABLE.len(), 50, "every file of the archive is in the table");
    for (i, (file, want, why)) in TABLE.iter().enumerate() {
        let answer = c.ask(d.udp, &fixture(file), &format!("probe-{i}"));
        let got = answer.as_deref().map(status);
        if got != *want {
            wrong.push(format!(
                "{file}: got {got:?}, want {want:?} ({why})\n{}",
                answer.unwrap_or_default()
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // dblreq: the trailing INVITE was not screened as a call.
    assert!(
        !d.stdout.all().iter().any(|l| l.contains("dblreq")),
        "no NOC line for dblreq's trailing bytes"
    );
}

#[test]
fn framing_errors_over_tcp_are_answered_then_the_connection_closes() {
    let d = Daemon::start("rfc4475-tcp", "");
    for file in ["ncl.dat", "mcl01.dat"] {
        let mut s = tcp_connect(d.tcp);
        tcp_send(&mut s, &fixture(file));
        let r = tcp_read_response(&mut s).unwrap_or_else(|| panic!("{file}: an answer"));
        assert_eq!(status(&r), 400, "{file}");
        let mut rest = Vec::new();
        use std::io::Read;
        assert_eq!(
            s.read_to_end(&mut rest).ok(),
            Some(0),
            "{file}: closed after a framing error"
        );
    }
    // clerr over TCP: the body never arrives; the daemon waits (no answer).
    let mut s = tcp_connect(d.tcp);
    tcp_send(&mut s, &fixture("clerr.dat"));
    s.set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    assert!(
        tcp_read_response(&mut s).is_none(),
        "clerr over TCP waits for the rest of the body"
    );
    // baddn's archive copy lacks the final CRLF: over TCP it is incomplete,
    // the variant with the CRLF is answered.
    let mut s = tcp_connect(d.tcp);
    let v = std::fs::read(format!(
        "{}/fixtures/rfc4475/variants/baddn.with-terminating-crlf.dat",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    tcp_send(&mut s, &v);
    assert_eq!(status(&tcp_read_response(&mut s).unwrap()), 400);
}

#[test]
fn valid_torture_messages_over_tcp() {
    let d = Daemon::start("rfc4475-tcp-valid", "");
    let mut s = tcp_connect(d.tcp);
    for (file, want) in [
        ("wsinv.dat", 302),
        ("esc01.dat", 302),
        ("longreq.dat", 302),
        ("mpart01.dat", 405),
        ("zeromf.dat", 200),
    ] {
        tcp_send(&mut s, &fixture(file));
        let r = tcp_read_response(&mut s).unwrap_or_else(|| panic!("{file}: no answer"));
        assert_eq!(status(&r), want, "{file}: {r}");
    }
}

const INVITES: &[(&str, &str)] = &[
    (
        "twilio-elastic-trunk-inbound-pai-diversion.sip",
        "caller=+10987654321 pai=+10987654321",
    ),
    (
        "jambonz-twilio-gateway-diversion.sip",
        "caller=+15083084809 pai=-",
    ),
    (
        "sipsorcery-pai-diversion-ch.sip",
        "caller=+417777777 pai=+4199999999",
    ),
    (
        "sipsorcery-multi-pai-history-info-ch.sip",
        "caller=+417777777 pai=+4199999999",
    ),
    (
        "resiprocate-ngn-in-pai-diversion-tel.sip",
        "caller=+319582369046 pai=+319582369046",
    ),
    (
        "resiprocate-ngn-in-history-info-embedded.sip",
        "caller=+319582369046 pai=+319582369046",
    ),
    (
        "resiprocate-multi-identity-div.sip",
        "caller=+15551112222 pai=-",
    ),
    (
        "portsip-stir-shaken-identity.sip",
        "caller=+14045266060 pai=-",
    ),
    ("jssip-rfc3325-privacy-id-ppi.sip", "caller=withheld pai=-"),
];

/// The carrier INVITEs are screened, each with the right caller (read in the
/// default peer's Dutch context) in its NOC line.
#[test]
fn carrier_invites_are_screened_with_the_right_caller() {
    let d = Daemon::start("carrier-invites", "");
    let mut c = Catcher::new("127.0.0.10");
    for (i, (file, want)) in INVITES.iter().enumerate() {
        let bytes = std::fs::read(format!(
            "{}/fixtures/invites/{file}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let r = c
            .ask(d.udp, &bytes, &format!("carrier-probe-{i}"))
            .unwrap_or_else(|| panic!("{file}: no answer"));
        assert_eq!(status(&r) / 100, 3, "{file}: {r}");
        let call_id = header(&r, "Call-ID").unwrap();
        let line = d.noc_line(call_id);
        assert!(line.contains(want), "{file}: {line}");
    }
}
