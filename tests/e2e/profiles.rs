//! Country profiles (`profile = "de"` …) and the roaming check, through the
//! real daemon: one operator serving eight countries, a peer per country
//! and direction, the roaming endpoint a local HTTPS server. For every
//! profile, the scenarios of its regulator's rule: a national geographic
//! number from an international peer; a national mobile roaming, not
//! roaming, unknown to the endpoint and unanswered; a registered
//! exemption; an emergency number as caller ID; a number outside the plan;
//! a diverted call; a domestic call; a dedicated international circuit.
//! Each asserts the SIP answer and the NOC line's verdict and reasons.

use std::collections::HashMap;
use std::time::Duration;

use crate::roaming::{Answer, RoamingServer};
use crate::sti::Pki;
use crate::support::*;

/// One country's numbers (E.164), valid in its built-in plan.
struct Numbers {
    profile: &'static str,
    geo: &'static str,
    /// Mobile numbers whose subscriber the endpoint says is roaming, is
    /// not, does not know, and answers about too late.
    roaming: &'static str,
    home: &'static str,
    unknown: &'static str,
    slow: &'static str,
    registered: &'static str,
    emergency: &'static str,
    invalid: &'static str,
}

const COUNTRIES: [Numbers; 8] = [
    Numbers {
        profile: "de",
        geo: "+4930123456",
        roaming: "+4915112345671",
        home: "+4915112345672",
        unknown: "+4915112345673",
        slow: "+4915112345674",
        registered: "+4930999999",
        emergency: "+49110",
        invalid: "+49301",
    },
    Numbers {
        profile: "be",
        geo: "+3222345678",
        roaming: "+32470123451",
        home: "+32470123452",
        unknown: "+32470123453",
        slow: "+32470123454",
        registered: "+3222999999",
        emergency: "+32112",
        invalid: "+322234",
    },
    Numbers {
        profile: "uk",
        geo: "+442071234567",
        roaming: "+447700900121",
        home: "+447700900122",
        unknown: "+447700900123",
        slow: "+447700900124",
        registered: "+442079999999",
        emergency: "+44999",
        invalid: "+4420712345",
    },
    Numbers {
        profile: "fr",
        geo: "+33153456789",
        roaming: "+33612345671",
        home: "+33612345672",
        unknown: "+33612345673",
        slow: "+33612345674",
        registered: "+33153999999",
        emergency: "+3315",
        invalid: "+3315345678",
    },
    Numbers {
        profile: "fi",
        geo: "+358912345678",
        roaming: "+358401234561",
        home: "+358401234562",
        unknown: "+358401234563",
        slow: "+358401234564",
        registered: "+358919999999",
        emergency: "+358112",
        invalid: "+3589123",
    },
    Numbers {
        profile: "se",
        geo: "+46812345678",
        roaming: "+46701234561",
        home: "+46701234562",
        unknown: "+46701234563",
        slow: "+46701234564",
        registered: "+46819999999",
        emergency: "+46112",
        invalid: "+468123",
    },
    Numbers {
        profile: "es",
        geo: "+34912345678",
        roaming: "+34612345671",
        home: "+34612345672",
        unknown: "+34612345673",
        slow: "+34612345674",
        registered: "+34919999999",
        emergency: "+34112",
        invalid: "+3491234567",
    },
    Numbers {
        profile: "nl",
        geo: "+31205551234",
        roaming: "+31612345671",
        home: "+31612345672",
        unknown: "+31612345673",
        slow: "+31612345674",
        registered: "+31209999999",
        emergency: "+31112",
        invalid: "+312012345",
    },
];

/// The scenarios, in the order of [`EXPECTED`]'s rows.
const SCENARIOS: [&str; 11] = [
    "geographic from abroad",
    "mobile roaming",
    "mobile not roaming",
    "mobile unknown to the endpoint",
    "mobile, no answer in time",
    "registered exemption",
    "emergency number as caller ID",
    "outside the numbering plan",
    "diverted by a domestic line",
    "domestic call",
    "dedicated international circuit",
];

/// The reason each scenario gives (the NOC line's `reasons=`).
const REASONS: [&str; 11] = [
    "spoof:domestic-cli-intl",
    "roaming",
    "spoof:domestic-mobile-intl",
    "spoof:domestic-mobile-unchecked",
    "spoof:domestic-mobile-unchecked",
    "registered-cli",
    "cli-premium",
    "invalid-cli",
    "-",
    "-",
    "-",
];

/// The verdict each country's rule gives, per scenario (README, "Country
/// profiles"): A allow, T tag, N anonymise, R reject (608).
const EXPECTED: [(&str, &str); 8] = [
    ("de", "N A N N N A R T A A A"),
    ("be", "R A R N N A T R A A A"),
    ("uk", "R A T T T A R R A A A"),
    ("fr", "R A N N N A T T A A A"),
    ("fi", "R A R N N A T T A A A"),
    ("se", "R A R N N A T T A A A"),
    ("es", "R A R N N A T R A A A"),
    ("nl", "N A T T T A T T A A A"),
];

fn peers(code: &str) -> String {
    format!(
        "[[peers]]\nname = \"intl-{code}\"\ntrunk_ids = [\"intl-{code}\"]\nscope = \"international\"\nprofile = \"{code}\"\n\n\
         [[peers]]\nname = \"dom-{code}\"\ntrunk_ids = [\"dom-{code}\"]\nscope = \"domestic\"\nprofile = \"{code}\"\n\n\
         [[peers]]\nname = \"circuit-{code}\"\ntrunk_ids = [\"circuit-{code}\"]\nscope = \"international\"\nprofile = \"{code}\"\ndomestic_cli_allowed = true\n\n"
    )
}

#[test]
fn every_profile_gives_its_regulators_answer_to_each_scenario() {
    let dir = temp_dir("profiles");
    let pki = Pki::new(&dir);
    let mut answers = HashMap::new();
    for c in &COUNTRIES {
        answers.insert(c.roaming.to_string(), Answer::Roaming);
        answers.insert(c.home.to_string(), Answer::NotRoaming);
        answers.insert(c.unknown.to_string(), Answer::Unknown);
        answers.insert(c.slow.to_string(), Answer::Slow);
    }
    let server = RoamingServer::start(&pki, answers, Duration::from_millis(1500));
    let registered: String = COUNTRIES
        .iter()
        .map(|c| format!("{}\n", c.registered))
        .collect();
    std::fs::write(
        dir.join("registered.txt"),
        format!("# callscreen list v1 name=registered version=1\n{registered}"),
    )
    .unwrap();
    let mut extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\n\
         [home]\nprofile = \"nl\"\n\n\
         [roaming]\nurl = \"{}\"\nca_file = \"web-ca.pem\"\nbudget_ms = 300\ntimeout_ms = 600\nfailure_backoff_secs = 0\n\n\
         [[lists]]\nname = \"registered\"\nrole = \"registered-cli\"\nfile = \"registered.txt\"\n\n",
        server.url()
    );
    for c in &COUNTRIES {
        extra.push_str(&peers(c.profile));
    }
    let d = Daemon::start_config(dir.clone(), config(&dir, &extra), &[]);
    let sock = udp_client("127.0.0.1:0");
    let mut wrong = Vec::new();
    for (c, (code, expected)) in COUNTRIES.iter().zip(EXPECTED) {
        assert_eq!(c.profile, code);
        let expected: Vec<&str> = expected.split(' ').collect();
        let cases: [(&str, &str, String); 11] = [
            (c.geo, "intl", String::new()),
            (c.roaming, "intl", String::new()),
            (c.home, "intl", String::new()),
            (c.unknown, "intl", String::new()),
            (c.slow, "intl", String::new()),
            (c.registered, "intl", String::new()),
            (c.emergency, "dom", String::new()),
            (c.invalid, "dom", String::new()),
            (
                c.geo,
                "intl",
                format!(
                    "Diversion: <sip:{}@fwd.example;user=phone>;reason=unconditional\r\n",
                    c.geo
                ),
            ),
            (c.geo, "dom", String::new()),
            (c.geo, "circuit", String::new()),
        ];
        for (i, (from, peer, more)) in cases.iter().enumerate() {
            let id = format!("{code}-{i}");
            let msg = invite(
                &id,
                from,
                &format!("X-Ingress-Trunk: {peer}-{code}\r\n{more}"),
            );
            let r = udp_ask(&sock, d.udp, &msg).unwrap_or_else(|| panic!("{id}: no answer"));
            let line = d.noc_line(&id);
            let (verdict, sip) = match expected[i] {
                "A" => ("allow", 302),
                "T" => ("tag", 302),
                "N" => ("anonymise", 302),
                _ => ("reject", 608),
            };
            let want = format!("verdict={verdict} code={sip} reasons={}", REASONS[i]);
            let privacy = header(&r, "Contact").is_some_and(|h| h.contains("Privacy=id"));
            if status(&r) != sip || !line.contains(&want) || privacy != (verdict == "anonymise") {
                wrong.push(format!(
                    "{code}, {}: want {want}, got {} / {line}",
                    SCENARIOS[i],
                    r.lines().next().unwrap_or("")
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Each mobile number was asked about once; a second call from a number
    // with an answer is answered from the cache.
    let c = &COUNTRIES[1];
    assert_eq!(server.asked(c.roaming), 1);
    let r = udp_ask(
        &sock,
        d.udp,
        &invite("be-again", c.roaming, "X-Ingress-Trunk: intl-be\r\n"),
    )
    .unwrap();
    assert_eq!(status(&r), 302);
    assert!(d.noc_line("be-again").contains("reasons=roaming"));
    assert_eq!(
        server.asked(c.roaming),
        1,
        "a cached answer is not asked again"
    );
    // Geographic numbers, domestic calls and circuits were never asked about.
    assert_eq!(server.asked(c.geo), 0);
}

/// A roaming endpoint answering `answers`, and the directory its test PKI
/// was written in (`web-ca.pem`, its CA): the daemon is started there.
fn server_for(name: &str, answers: &[(&str, Answer)]) -> (RoamingServer, std::path::PathBuf) {
    let dir = temp_dir(name);
    let pki = Pki::new(&dir);
    let map = answers.iter().map(|(n, a)| (n.to_string(), *a)).collect();
    (
        RoamingServer::start(&pki, map, Duration::from_millis(1500)),
        dir,
    )
}

/// Starts a Belgian daemon in `dir` (whose `web-ca.pem` is the server's CA).
fn daemon_in(dir: std::path::PathBuf, url: &str, roaming: &str, sip: &str) -> Daemon {
    let extra = format!(
        "{sip}\n[home]\nprofile = \"be\"\n\n\
         [roaming]\nurl = \"{url}\"\nca_file = \"web-ca.pem\"\n{roaming}\n"
    );
    Daemon::start_config(dir.clone(), config(&dir, &extra), &[])
}

const UDP_ONLY: &str = "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n";

fn ask(d: &Daemon, sock: &std::net::UdpSocket, id: &str, from: &str) -> (String, String) {
    let r = udp_ask(sock, d.udp, &invite(id, from, "X-Ingress-Trunk: intl\r\n"))
        .unwrap_or_else(|| panic!("{id}: no answer"));
    (r, d.noc_line(id))
}

/// A CANCEL while the INVITE waits for the roaming check: the CANCEL gets
/// 200 and the INVITE 487 when its wait ends (RFC 3261 §9.2), unscreened.
#[test]
fn a_cancel_while_the_roaming_check_is_asked_ends_the_invite_with_487() {
    let (server, dir) = server_for("roaming-cancel", &[("+32470000002", Answer::Never)]);
    let d = daemon_in(dir, &server.url(), "budget_ms = 1000\n", UDP_ONLY);
    let sock = udp_client("127.0.0.1:0");
    let inv = invite("rc-1", "+32470000002", "X-Ingress-Trunk: intl\r\n");
    sock.send_to(&inv, d.udp).unwrap();
    let cancel = String::from_utf8(inv.clone())
        .unwrap()
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    let r = udp_ask(&sock, d.udp, cancel.as_bytes()).expect("the CANCEL's answer");
    assert_eq!(
        (status(&r), header(&r, "CSeq")),
        (200, Some("1 CANCEL")),
        "{r}"
    );
    let mut buf = vec![0u8; 65536];
    let (n, _) = sock.recv_from(&mut buf).expect("the INVITE's answer");
    let r = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(
        (status(&r), header(&r, "CSeq")),
        (487, Some("1 INVITE")),
        "{r}"
    );
    assert_eq!(server.asked("+32470000002"), 1);
}

/// `max_in_flight` bounds the requests out at once: a call beyond it is not
/// asked about and goes on at once as its profile says of an unanswered
/// check (Belgium: anonymised); the call waiting gets the same after its
/// budget.
#[test]
fn calls_beyond_the_requests_in_flight_go_on_unanswered_at_once() {
    let (server, dir) = server_for(
        "roaming-limit",
        &[
            ("+32470000002", Answer::Never),
            ("+32470000003", Answer::Roaming),
        ],
    );
    let d = daemon_in(
        dir,
        &server.url(),
        "budget_ms = 500\ntimeout_ms = 5000\nmax_in_flight = 1\n",
        UDP_ONLY,
    );
    let sock = udp_client("127.0.0.1:0");
    sock.send_to(
        &invite("rl-1", "+32470000002", "X-Ingress-Trunk: intl\r\n"),
        d.udp,
    )
    .unwrap();
    // The first call's request is out (the receive thread admitted it
    // before it read the second): the second is not asked about.
    let (r, line) = ask(&d, &sock, "rl-2", "+32470000003");
    assert_eq!(
        header(&r, "Call-ID"),
        Some("rl-2"),
        "the second call is answered first: {r}"
    );
    assert!(
        line.contains("verdict=anonymise code=302 reasons=spoof:domestic-mobile-unchecked"),
        "{line}"
    );
    assert_eq!(server.asked("+32470000003"), 0);
    let mut buf = vec![0u8; 65536];
    let (n, _) = sock.recv_from(&mut buf).expect("the first call's answer");
    let r = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(header(&r, "Call-ID"), Some("rl-1"), "{r}");
    assert!(
        d.noc_line("rl-1")
            .contains("verdict=anonymise code=302 reasons=spoof:domestic-mobile-unchecked")
    );
}

/// An endpoint that fails (a 500, or nothing listening) gives no answer,
/// and is not asked again during `failure_backoff_secs`: calls go on at
/// once, unanswered. The warning is logged once.
#[test]
fn a_failing_endpoint_is_not_waited_for_during_its_backoff() {
    let (server, dir) = server_for(
        "roaming-fails",
        &[
            ("+32470000001", Answer::Fails),
            ("+32470000003", Answer::Roaming),
        ],
    );
    let d = daemon_in(dir, &server.url(), "failure_backoff_secs = 60\n", UDP_ONLY);
    let sock = udp_client("127.0.0.1:0");
    let (_, line) = ask(&d, &sock, "rf-1", "+32470000001");
    assert!(
        line.contains("reasons=spoof:domestic-mobile-unchecked"),
        "{line}"
    );
    let (_, line) = ask(&d, &sock, "rf-2", "+32470000003");
    assert!(
        line.contains("reasons=spoof:domestic-mobile-unchecked"),
        "{line}"
    );
    assert_eq!(server.asked("+32470000001"), 1);
    assert_eq!(server.asked("+32470000003"), 0, "asked during the backoff");
    assert!(
        d.stdout
            .wait_for(|l| l.contains("roaming check failed: HTTP status 500"))
            .is_some()
    );
    // Nothing listening: the same.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "https://localhost:{}/v1/roaming",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let (_, dir) = server_for("roaming-down", &[]);
    let d = daemon_in(dir, &url, "", UDP_ONLY);
    let (_, line) = ask(&d, &sock, "rd-1", "+32470000003");
    assert!(
        line.contains("verdict=anonymise code=302 reasons=spoof:domestic-mobile-unchecked"),
        "{line}"
    );
    assert!(
        d.stdout
            .wait_for(|l| l.contains("roaming check failed: cannot connect"))
            .is_some()
    );
}

/// Proxy mode: a roaming subscriber's call is forwarded unchanged, a
/// Belgian mobile number whose subscriber is at home is rejected 608, and
/// one the endpoint does not know is forwarded anonymised (Privacy: id).
#[test]
fn proxy_mode_forwards_or_rejects_by_the_roaming_answer() {
    let hop = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    hop.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (server, dir) = server_for(
        "roaming-proxy",
        &[
            ("+32470000003", Answer::Roaming),
            ("+32470000004", Answer::NotRoaming),
        ],
    );
    let sip = format!(
        "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [proxy]\nnext_hops = [\"sip:{}\"]\n",
        hop.local_addr().unwrap()
    );
    let d = daemon_in(dir, &server.url(), "", &sip);
    let sock = udp_client("127.0.0.1:0");
    let mut buf = vec![0u8; 65536];
    let mut forwarded = |id: &str, from: &str| {
        sock.send_to(&invite(id, from, "X-Ingress-Trunk: intl\r\n"), d.udp)
            .unwrap();
        let (n, _) = hop.recv_from(&mut buf).expect("forwarded");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let f = forwarded("rp-1", "+32470000003");
    assert!(f.starts_with("INVITE "), "{f}");
    assert!(header(&f, "Privacy").is_none(), "{f}");
    assert!(
        d.noc_line("rp-1")
            .contains("verdict=allow code=0 reasons=roaming")
    );
    let f = forwarded("rp-3", "+32470000005");
    assert_eq!(header(&f, "Privacy"), Some("id"), "{f}");
    assert!(
        d.noc_line("rp-3")
            .contains("reasons=spoof:domestic-mobile-unchecked")
    );
    let r = udp_ask(
        &sock,
        d.udp,
        &invite("rp-2", "+32470000004", "X-Ingress-Trunk: intl\r\n"),
    )
    .expect("an answer");
    assert_eq!(status(&r), 608, "{r}");
    assert!(
        d.noc_line("rp-2")
            .contains("verdict=reject code=608 reasons=spoof:domestic-mobile-intl")
    );
}

/// An endpoint that asks for a client certificate: answered with
/// `client_cert`/`client_key`, refused without them (no answer: the
/// profile's unanswered case, and nothing reached the endpoint).
#[test]
fn an_endpoint_that_asks_for_a_client_certificate_gets_callscreens() {
    let dir = temp_dir("roaming-mtls");
    let pki = Pki::new(&dir);
    let client_ca = crate::roaming::client_identity(&dir);
    let answers = [("+32470000003".to_string(), Answer::Roaming)]
        .into_iter()
        .collect();
    let server = RoamingServer::start_requiring(&pki, &client_ca, answers);
    let sock = udp_client("127.0.0.1:0");
    let d = daemon_in(
        dir.clone(),
        &server.url(),
        "client_cert = \"client.pem\"\nclient_key = \"client.key\"\n",
        UDP_ONLY,
    );
    let (_, line) = ask(&d, &sock, "mt-1", "+32470000003");
    assert!(
        line.contains("verdict=allow code=302 reasons=roaming"),
        "{line}"
    );
    assert_eq!(server.asked("+32470000003"), 1);
    drop(d);
    let d = daemon_in(dir, &server.url(), "", UDP_ONLY);
    let (_, line) = ask(&d, &sock, "mt-2", "+32470000003");
    assert!(
        line.contains("reasons=spoof:domestic-mobile-unchecked"),
        "{line}"
    );
    assert_eq!(
        server.asked("+32470000003"),
        1,
        "reached the endpoint without a certificate"
    );
    assert!(
        d.stdout
            .wait_for(|l| l.contains("roaming check failed"))
            .is_some()
    );
}

/// A burst of calls from one number while its request is out: the endpoint
/// is asked once, and every call gets its answer.
#[test]
fn a_burst_from_one_number_asks_the_endpoint_once() {
    let dir = temp_dir("roaming-burst");
    let pki = Pki::new(&dir);
    let answers = [("+32470000006".to_string(), Answer::Slow)]
        .into_iter()
        .collect();
    let server = RoamingServer::start(&pki, answers, Duration::from_millis(300));
    let d = daemon_in(dir, &server.url(), "budget_ms = 2000\n", UDP_ONLY);
    let sock = udp_client("127.0.0.1:0");
    for i in 0..5 {
        let msg = invite(
            &format!("rb-{i}"),
            "+32470000006",
            "X-Ingress-Trunk: intl\r\n",
        );
        sock.send_to(&msg, d.udp).unwrap();
    }
    let mut buf = vec![0u8; 65536];
    for _ in 0..5 {
        let (n, _) = sock.recv_from(&mut buf).expect("an answer");
        let r = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_eq!(status(&r), 302, "{r}");
    }
    for i in 0..5 {
        let line = d.noc_line(&format!("rb-{i}"));
        assert!(
            line.contains("verdict=allow code=302 reasons=roaming"),
            "{line}"
        );
    }
    assert_eq!(server.asked("+32470000006"), 1, "asked more than once");
}
