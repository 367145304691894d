//! STIR/SHAKEN verification (`[stir]`) end to end: the real daemon, a test
//! STI PKI (rcgen), a local HTTPS server for `x5u`, PASSporTs signed in the
//! test with fresh `iat`s; SIP over UDP and TCP. What each case must give:
//! the answer, its `verstat`, the reasons in the NOC line.

use crate::sti;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::support::*;
use sti::*;

const CALLER: &str = "+31201234568";
const CALLEE: &str = "+31104567890";

/// The caller's and callee's numbers as a PASSporT carries them (digits).
fn digits() -> (&'static str, &'static str) {
    (&CALLER[1..], &CALLEE[1..])
}

struct Setup {
    d: Daemon,
    pki: Pki,
    x5u: X5uServer,
    client: std::net::UdpSocket,
}

fn setup(name: &str, extra: &str) -> Setup {
    setup_with(
        name,
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n",
        "",
        extra,
    )
}

/// With its own `[sip]` (and whatever goes with it), `[stir]` extras and more config.
fn setup_with(name: &str, sip: &str, stir_extra: &str, extra: &str) -> Setup {
    let dir = temp_dir(name);
    let pki = Pki::new(&dir);
    let files: HashMap<String, String> = [
        ("/good.pem", &pki.good.chain_pem),
        ("/no-tn.pem", &pki.no_tn_auth.chain_pem),
        ("/expired.pem", &pki.expired.chain_pem),
        ("/untrusted.pem", &pki.untrusted.chain_pem),
        ("/good2.pem", &pki.good.chain_pem),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.clone()))
    .collect();
    let x5u = X5uServer::start(&pki, files, Duration::from_millis(1500));
    let body = format!(
        "{sip}\n[[lists]]\nname = \"protected-companies\"\nrole = \"protected\"\nfile = \"protected.toml\"\n\
         {}\n{extra}",
        stir_section(stir_extra)
    );
    std::fs::write(
        dir.join("protected.toml"),
        "name = \"protected-companies\"\nversion = 1\n\n[[company]]\nname = \"ING\"\n\
         brands = [\"ING\"]\nnumbers = [\"+3120228*\"]\ninbound_only = [\"+31202288888\"]\n",
    )
    .expect("protected list");
    let cfg = config(&dir, &body);
    let d = Daemon::start_config(dir, cfg, &[]);
    Setup {
        d,
        pki,
        x5u,
        client: udp_client("127.0.0.1:0"),
    }
}

/// A [`setup_with`] in proxy mode, and the socket of its next hop.
fn proxy_setup(name: &str, stir_extra: &str, extra: &str) -> (Setup, std::net::UdpSocket) {
    let hop = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    hop.set_read_timeout(Some(TIMEOUT)).unwrap();
    let sip = format!(
        "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [proxy]\nnext_hops = [\"sip:{}\"]\n",
        hop.local_addr().unwrap()
    );
    (setup_with(name, &sip, stir_extra, extra), hop)
}

impl Setup {
    /// Sends a signed INVITE over UDP; the answer and the NOC line.
    fn call(&self, call_id: &str, from: &str, identity: &str) -> (String, String) {
        let msg = invite(call_id, from, &format!("Identity: {identity}\r\n"));
        let resp = udp_ask(&self.client, self.d.udp, &msg).expect("an answer");
        (resp, self.d.noc_line(call_id))
    }
}

/// An `[api]` section with one read-only client whose token is `token`,
/// and its state directory (named after `name`, for the test to remove).
fn read_api(name: &str, token: &str) -> (String, std::path::PathBuf) {
    let state = std::env::temp_dir().join(format!("cs-{name}-{}", std::process::id()));
    let api = format!(
        "[api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         [[api.clients]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\"]\n",
        state.display(),
        callscreen::api::hash_token(token)
    );
    (api, state)
}

/// The daemon's `/metrics`, read with `token`: a counter by its name (and
/// labels).
fn metrics(d: &Daemon, token: &str) -> impl Fn(&str) -> u64 {
    let (code, metrics) = http(api_addr(d), "GET", "/metrics", Some(token), None, b"");
    assert_eq!(code, 200, "{metrics}");
    move |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
}

#[test]
fn signed_calls_are_verified_and_each_failure_has_its_reason() {
    let s = setup("stir-cases", "");
    let now = unix_now();
    let good = s.x5u.url("/good.pem");
    let (c, e) = digits();

    // A, B and C: the signature verifies; C is still attestation C.
    for (i, attest) in ["A", "B", "C"].iter().enumerate() {
        let id = s.pki.good.identity(c, e, attest, now, &good);
        let (resp, line) = s.call(&format!("stir-ok-{i}"), CALLER, &id);
        assert_eq!(
            field(&line, "verstat"),
            Some("TN-Validation-Passed"),
            "{line}"
        );
        assert_eq!(status(&resp), 302, "{resp}");
        let pai = header(&resp, "P-Asserted-Identity").expect("the verified identity");
        assert!(
            pai.contains(&format!(
                "sip:{CALLER};verstat=TN-Validation-Passed@carrier.example"
            )),
            "{pai}"
        );
        let reasons = field(&line, "reasons").unwrap_or("-");
        if *attest == "C" {
            assert!(reasons.contains("shaken:attest-c"), "{line}");
        } else {
            assert_eq!(reasons, "-", "{line}");
        }
    }
    // One fetch for the three calls: the others were cache hits.
    assert_eq!(s.x5u.hits("/good.pem"), 1);

    let failed = |call_id: &str, id: &str, reason: &str| {
        let (resp, line) = s.call(call_id, CALLER, id);
        assert_eq!(
            field(&line, "verstat"),
            Some("TN-Validation-Failed"),
            "{line}"
        );
        assert!(
            field(&line, "reasons").unwrap_or("").contains(reason),
            "{reason}: {line}"
        );
        // Tagged, not rejected: the caller ID is nobody protected.
        assert_eq!(status(&resp), 302, "{resp}");
        assert!(
            header(&resp, "P-Asserted-Identity")
                .is_some_and(|p| p.contains("verstat=TN-Validation-Failed")),
            "{resp}"
        );
        // The originating side learns why (RFC 9410): the cause RFC 8224
        // §13 gives the failure.
        let want = match reason {
            "stir:untrusted-cert" | "stir:cert-expired" | "stir:no-tnauthlist" => {
                "STIR;cause=437;text=\"Unsupported Credential\""
            }
            "shaken:stale" => "STIR;cause=403;text=\"Stale Date\"",
            _ => "STIR;cause=438;text=\"Invalid Identity Header\"",
        };
        assert_eq!(header(&resp, "Reason"), Some(want), "{reason}: {resp}");
    };
    // A signature by another key than the certificate's.
    let forged = s.pki.no_tn_auth.identity(c, e, "A", now, &good);
    failed("stir-forged", &forged, "stir:bad-signature");
    // iat too old (the freshness window is 60 s).
    let old = s.pki.good.identity(c, e, "A", now - 600, &good);
    failed("stir-old", &old, "shaken:stale");
    // orig is not the caller.
    let other = s.pki.good.identity("31209999999", e, "A", now, &good);
    failed("stir-orig", &other, "shaken:orig-mismatch");
    // dest is not the To number: its own reason.
    let elsewhere = s.pki.good.identity(c, "31101111111", "A", now, &good);
    failed("stir-dest", &elsewhere, "stir:dest-mismatch");
    // The certificate: untrusted chain, expired, no TNAuthList.
    for (signer, path, reason) in [
        (&s.pki.untrusted, "/untrusted.pem", "stir:untrusted-cert"),
        (&s.pki.expired, "/expired.pem", "stir:cert-expired"),
        (&s.pki.no_tn_auth, "/no-tn.pem", "stir:no-tnauthlist"),
    ] {
        let id = signer.identity(c, e, "A", now, &s.x5u.url(path));
        failed(&format!("stir-{reason}"), &id, reason);
    }
    // An x5u that is not https.
    let plain = s
        .pki
        .good
        .identity(c, e, "A", now, "http://localhost/good.pem");
    failed("stir-http", &plain, "stir:malformed");

    // A failed signature on a protected company's number: rejected, 608.
    let ing = "+31202280001";
    let forged_ing = s
        .pki
        .no_tn_auth
        .identity(ing.trim_start_matches('+'), e, "A", now, &good);
    let (resp, line) = s.call("stir-ing", ing, &forged_ing);
    assert_eq!(status(&resp), 608, "{resp}");
    assert!(line.contains("stir:failed-protected"), "{line}");
    // The same number, verified: through.
    let ing_ok = s
        .pki
        .good
        .identity(ing.trim_start_matches('+'), e, "A", now, &good);
    let (resp, line) = s.call("stir-ing-ok", ing, &ing_ok);
    assert_eq!(status(&resp), 302, "{resp}\n{line}");
    assert_eq!(
        header(&resp, "Reason"),
        None,
        "a verified call has no STIR Reason: {resp}"
    );
    assert_eq!(
        field(&line, "verstat"),
        Some("TN-Validation-Passed"),
        "{line}"
    );

    // An unsigned call: no verstat at all.
    let resp = udp_ask(&s.client, s.d.udp, &invite("stir-none", CALLER, "")).expect("answer");
    assert_eq!(status(&resp), 302);
    assert_eq!(header(&resp, "P-Asserted-Identity"), None, "{resp}");
    assert_eq!(field(&s.d.noc_line("stir-none"), "verstat"), None);
}

#[test]
fn a_slow_or_unreachable_x5u_costs_the_call_its_budget_only() {
    let s = setup("stir-slow", "");
    let now = unix_now();
    let (c, e) = digits();
    // The server answers /slow/… after 1.5 s; the budget is 400 ms.
    let slow = s.x5u.url("/slow/good.pem");
    let id = s.pki.good.identity(c, e, "A", now, &slow);
    let t = Instant::now();
    let (resp, line) = s.call("stir-slow-1", CALLER, &id);
    let took = t.elapsed();
    assert_eq!(status(&resp), 302, "{resp}");
    assert_eq!(field(&line, "verstat"), Some("No-TN-Validation"), "{line}");
    assert!(
        took < Duration::from_millis(1400),
        "answered after {took:?}"
    );
    let us: u64 = field(&line, "latency_us")
        .and_then(|v| v.parse().ok())
        .expect("latency");
    assert!(us >= 400_000, "the wait counts in latency_us: {line}");
    // The fetch went on: once it is in, the next call is verified.
    let deadline = Instant::now() + TIMEOUT;
    let mut n = 0;
    loop {
        n += 1;
        let id = s.pki.good.identity(c, e, "A", unix_now(), &slow);
        let (_, line) = s.call(&format!("stir-slow-next-{n}"), CALLER, &id);
        if field(&line, "verstat") == Some("TN-Validation-Passed") {
            break;
        }
        assert!(Instant::now() < deadline, "never verified: {line}");
    }
    assert_eq!(s.x5u.hits("/slow/good.pem"), 1, "one fetch, then the cache");

    // Unreachable (nothing listens), refused (a redirect; too large): the
    // call goes on unverified, promptly.
    for (i, url) in [
        "https://127.0.0.1:1/x.pem".to_string(),
        s.x5u.url("/redirect.pem"),
        s.x5u.url("/big.pem"),
        s.x5u.url("/missing.pem"),
        "https://169.254.169.254/latest/meta-data".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let id = s.pki.good.identity(c, e, "A", unix_now(), url);
        let t = Instant::now();
        let (resp, line) = s.call(&format!("stir-bad-x5u-{i}"), CALLER, &id);
        assert_eq!(status(&resp), 302, "{url}: {resp}");
        assert_eq!(
            field(&line, "verstat"),
            Some("No-TN-Validation"),
            "{url}: {line}"
        );
        assert!(
            t.elapsed() < Duration::from_millis(1400),
            "{url}: {:?}",
            t.elapsed()
        );
    }
    // Private addresses are never fetched unless allowed: 169.254.169.254 was refused
    // before any connection (the metadata service of a cloud).
}

/// Issue #30, item 6: a failure counts against the exact origin that
/// failed. One INVITE naming a dead port of the certificate host does not
/// deny verification to the calls whose certificate is on another port of
/// that host.
#[test]
fn a_dead_port_does_not_poison_the_other_ports_of_its_host() {
    let s = setup("stir-origin", "");
    let (c, e) = digits();
    let dead = "https://localhost:9/poison.pem";
    let id = s.pki.good.identity(c, e, "A", unix_now(), dead);
    let (resp, line) = s.call("stir-poison", CALLER, &id);
    assert_eq!(status(&resp), 302, "{resp}");
    assert_eq!(field(&line, "verstat"), Some("No-TN-Validation"), "{line}");
    // The same host, the certificate server's port: verified (within the
    // 60 s that a host-wide failure used to deny it).
    let good = s.x5u.url("/good.pem");
    let deadline = Instant::now() + TIMEOUT;
    let mut n = 0;
    loop {
        n += 1;
        let id = s.pki.good.identity(c, e, "A", unix_now(), &good);
        let (_, line) = s.call(&format!("stir-origin-{n}"), CALLER, &id);
        if field(&line, "verstat") == Some("TN-Validation-Passed") {
            break;
        }
        assert!(Instant::now() < deadline, "never verified: {line}");
    }
    assert_eq!(s.x5u.hits("/good.pem"), 1);
}

#[test]
fn retransmissions_while_verifying_are_absorbed_and_tcp_works_too() {
    let s = setup("stir-retrans", "");
    let now = unix_now();
    let (c, e) = digits();
    let id = s
        .pki
        .good
        .identity(c, e, "A", now, &s.x5u.url("/slow/good2.pem"));
    let msg = invite("stir-rt", CALLER, &format!("Identity: {id}\r\n"));
    // Three sends of the same INVITE: one answer (the others absorbed or the cached answer).
    s.client.send_to(&msg, s.d.udp).unwrap();
    s.client.send_to(&msg, s.d.udp).unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = s.client.recv_from(&mut buf).expect("the answer");
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(status(&first), 302, "{first}");
    s.client.send_to(&msg, s.d.udp).unwrap();
    let (n, _) = s.client.recv_from(&mut buf).expect("the cached answer");
    assert_eq!(String::from_utf8_lossy(&buf[..n]), first);
    let line = s.d.noc_line("stir-rt");
    assert_eq!(field(&line, "verstat"), Some("No-TN-Validation"), "{line}");
    // One NOC line for the call.
    let lines = s.d.stdout.all();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("call_id=stir-rt "))
            .count(),
        1
    );

    // Over TCP: the answer comes back on the connection.
    let mut tcp = tcp_connect(s.d.tcp);
    let id = s
        .pki
        .good
        .identity(c, e, "B", unix_now(), &s.x5u.url("/good.pem"));
    let msg = String::from_utf8(invite("stir-tcp", CALLER, &format!("Identity: {id}\r\n")))
        .unwrap()
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    tcp_send(&mut tcp, msg.as_bytes());
    let resp = tcp_read_response(&mut tcp).expect("an answer over TCP");
    assert_eq!(status(&resp), 302, "{resp}");
    assert!(resp.contains("verstat=TN-Validation-Passed"), "{resp}");
}

/// Signed calls that arrive together are verified together: a receive
/// thread hands a batch's verifications to the pool at once, and a
/// verification thread sends its run's answers at its run's end. Each call
/// is still answered, once, with its own verification.
#[test]
fn signed_calls_arriving_together_are_each_answered_once() {
    let s = setup_with(
        "stir-burst",
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n",
        "workers = 2\n",
        "",
    );
    let (c, e) = digits();
    // The certificate fetched first, so that the burst finds it cached.
    let id = s
        .pki
        .good
        .identity(c, e, "A", unix_now(), &s.x5u.url("/good.pem"));
    let (r, _) = s.call("stir-burst-first", CALLER, &id);
    assert_eq!(status(&r), 302, "{r}");
    let n = 40;
    for i in 0..n {
        let id = s
            .pki
            .good
            .identity(c, e, "A", unix_now(), &s.x5u.url("/good.pem"));
        let msg = invite(
            &format!("stir-burst-{i}"),
            CALLER,
            &format!("Identity: {id}\r\n"),
        );
        s.client.send_to(&msg, s.d.udp).unwrap();
    }
    let mut answered = HashMap::new();
    let mut buf = vec![0u8; 65536];
    while answered.len() < n {
        let (len, _) = s
            .client
            .recv_from(&mut buf)
            .unwrap_or_else(|e| panic!("{} of {n} answered: {e}", answered.len()));
        let r = String::from_utf8_lossy(&buf[..len]).into_owned();
        assert_eq!(status(&r), 302, "{r}");
        assert!(r.contains("verstat=TN-Validation-Passed"), "{r}");
        let call_id = header(&r, "Call-ID").expect("a Call-ID").to_string();
        *answered.entry(call_id).or_insert(0) += 1;
    }
    assert!(answered.values().all(|&k| k == 1), "{answered:?}");
    for i in 0..n {
        let line = s.d.noc_line(&format!("stir-burst-{i}"));
        assert_eq!(
            field(&line, "verstat"),
            Some("TN-Validation-Passed"),
            "{line}"
        );
    }
}

/// RFC 3581 §4: the answer leaves from the address and port the request
/// came in on. A signed call is answered after its verification, from a
/// verification thread: with two UDP addresses, one that came in on the
/// second is answered from the second, like an unsigned one.
#[test]
fn a_signed_call_is_answered_from_the_address_it_came_in_on() {
    let s = setup_with(
        "stir-local",
        "[sip]\nudp = [\"127.0.0.1:0\", \"127.0.0.9:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n",
        "",
        "",
    );
    let second = s.d.udp6.expect("the second UDP address in the ready line");
    assert_ne!(second, s.d.udp);
    let (c, e) = digits();
    let mut buf = vec![0u8; 65536];
    // The first signed call fetches the certificate (a task answers it),
    // the second finds it cached (a verification thread answers it).
    for (call_id, part) in [
        ("stir-local-1", "A"),
        ("stir-local-2", "B"),
        ("stir-local-u", ""),
    ] {
        let headers = if part.is_empty() {
            String::new()
        } else {
            let id = s
                .pki
                .good
                .identity(c, e, part, unix_now(), &s.x5u.url("/good.pem"));
            format!("Identity: {id}\r\n")
        };
        s.client
            .send_to(&invite(call_id, CALLER, &headers), second)
            .unwrap();
        let (n, from) = s.client.recv_from(&mut buf).expect("an answer");
        let r = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_eq!(status(&r), 302, "{r}");
        assert!(r.contains(call_id), "{r}");
        assert_eq!(from, second, "{call_id} answered from another address");
        let verstat = field(&s.d.noc_line(call_id), "verstat").map(str::to_string);
        let want = if part.is_empty() {
            None
        } else {
            Some("TN-Validation-Passed".to_string())
        };
        assert_eq!(verstat, want, "{call_id}");
    }
}

/// Proxy mode: the forwarded INVITE carries callscreen's verstat on From
/// and P-Asserted-Identity (in the user part of a `user=phone` URI), never
/// one it received; a verified A lifts what `a_lifts` names; a failed
/// verification on a protected number gets the code the policy gives (438).
#[test]
fn proxy_mode_writes_verstat_and_the_policy_decides_the_rest() {
    let (s, hop) = proxy_setup(
        "stir-proxy",
        "a_lifts = [\"spoof:domestic-cli-intl\"]\n",
        "[policy.rules]\n\"stir:failed-protected\" = { action = \"reject\", code = 438 }\n",
    );
    let good = s.x5u.url("/good.pem");
    let (c, e) = digits();
    let next = || {
        let mut buf = vec![0u8; 65536];
        let (n, _) = hop.recv_from(&mut buf).expect("the forwarded INVITE");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };

    // Verified, with a PAI (the peer is trusted) and a verstat the caller
    // wrote itself on From: callscreen's replaces it.
    let id = s.pki.good.identity(c, e, "A", unix_now(), &good);
    // An INVITE whose From carries a verstat the caller wrote itself.
    let claiming_passed = |call_id: &str, extra: &str| {
        String::from_utf8(invite(call_id, CALLER, extra))
            .unwrap()
            .replace(
                ";user=phone>;tag=",
                ";user=phone;verstat=TN-Validation-Passed>;tag=",
            )
    };
    let msg = claiming_passed(
        "stir-px-1",
        &format!(
            "Identity: {id}\r\nP-Asserted-Identity: <sip:{CALLER}@carrier.example;user=phone>\r\n"
        ),
    );
    s.client.send_to(msg.as_bytes(), s.d.udp).unwrap();
    let fwd = next();
    let from = header(&fwd, "From").expect("From");
    assert_eq!(
        from,
        format!(
            "\"Caller\" <sip:{CALLER};verstat=TN-Validation-Passed@carrier.example;user=phone>;tag=ft-stir-px-1"
        ),
        "{fwd}"
    );
    let pai = header(&fwd, "P-Asserted-Identity").expect("PAI");
    assert_eq!(
        pai,
        format!("<sip:{CALLER};verstat=TN-Validation-Passed@carrier.example;user=phone>"),
        "{fwd}"
    );
    assert_eq!(fwd.matches("verstat").count(), 2, "{fwd}");

    // A forged signature: the forwarded From says so (and the caller's own
    // "Passed" is gone).
    let forged = s.pki.no_tn_auth.identity(c, e, "A", unix_now(), &good);
    let msg = claiming_passed("stir-px-2", &format!("Identity: {forged}\r\n"));
    s.client.send_to(msg.as_bytes(), s.d.udp).unwrap();
    let fwd = next();
    let from = header(&fwd, "From").expect("From");
    assert!(from.contains(";verstat=TN-Validation-Failed@"), "{fwd}");
    // Tagged: the PAI callscreen adds says the same.
    assert_eq!(
        fwd.matches("verstat=TN-Validation-Failed").count(),
        2,
        "{fwd}"
    );
    assert!(!fwd.contains("Passed"), "{fwd}");
    // The stateless proxy remembers why on its own Via, and every response
    // it relays back tells the originating side (RFC 9410).
    let own_via = fwd.lines().find(|l| l.starts_with("Via: ")).expect("a Via");
    assert!(own_via.ends_with(";stir=438"), "{own_via}");
    let ringing = fwd.replacen(
        "INVITE sip:+31104567890@cs.example;user=phone SIP/2.0",
        "SIP/2.0 180 Ringing",
        1,
    );
    hop.send_to(ringing.as_bytes(), s.d.udp).unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = s.client.recv_from(&mut buf).expect("the relayed 180");
    let relayed = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(relayed.starts_with("SIP/2.0 180 Ringing"), "{relayed}");
    assert_eq!(
        header(&relayed, "Reason"),
        Some("STIR;cause=438;text=\"Invalid Identity Header\""),
        "{relayed}"
    );
    assert!(
        !relayed.contains(";stir="),
        "callscreen's Via went out: {relayed}"
    );

    // A Dutch caller ID from an international peer is anonymised by default
    // (spoof:domestic-cli-intl); verified with attestation A it is lifted.
    let intl = |call_id: &str, identity: Option<&str>| {
        let extra = match identity {
            Some(i) => format!("X-Ingress-Trunk: intl\r\nIdentity: {i}\r\n"),
            None => "X-Ingress-Trunk: intl\r\n".to_string(),
        };
        s.client
            .send_to(&invite(call_id, CALLER, &extra), s.d.udp)
            .unwrap();
        (next(), s.d.noc_line(call_id))
    };
    let (fwd, line) = intl("stir-px-intl-unsigned", None);
    assert!(line.contains("verdict=anonymise"), "{line}");
    assert!(
        header(&fwd, "From").is_some_and(|f| f.contains("anonymous")),
        "{fwd}"
    );
    let id = s.pki.good.identity(c, e, "A", unix_now(), &good);
    let (fwd, line) = intl("stir-px-intl-signed", Some(&id));
    assert!(line.contains("verdict=allow"), "{line}");
    assert!(
        header(&fwd, "From")
            .is_some_and(|f| f.contains(CALLER) && f.contains("verstat=TN-Validation-Passed")),
        "{fwd}"
    );
    // Attestation B lifts nothing.
    let id = s.pki.good.identity(c, e, "B", unix_now(), &good);
    let (_, line) = intl("stir-px-intl-b", Some(&id));
    assert!(line.contains("verdict=anonymise"), "{line}");

    // A failed verification on a protected number: the policy's 438.
    let ing = "+31202280001";
    let forged = s
        .pki
        .no_tn_auth
        .identity(ing.trim_start_matches('+'), e, "A", unix_now(), &good);
    let resp = udp_ask(
        &s.client,
        s.d.udp,
        &invite("stir-px-ing", ing, &format!("Identity: {forged}\r\n")),
    )
    .expect("the rejection");
    assert_eq!(status(&resp), 438, "{resp}");
}

/// 10 000 signed INVITEs whose `x5u` are all different and lead nowhere (a
/// tarpit that accepts and never answers, on thousands of loopback
/// addresses) while clean calls go on: every INVITE is answered, and no
/// clean call waits for the verification budget (400 ms here).
#[test]
fn ten_thousand_unreachable_x5u_do_not_slow_clean_calls() {
    let sip = "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
               [bursts]\ncalls_per_number = 0\ncalls_per_block = 0\n";
    let s = setup_with("stir-flood", sip, "", "");
    // Accepts connections and never answers: every fetch waits its time out.
    let tarpit = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = tarpit.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in tarpit.incoming().flatten() {
            held.push(c);
        }
    });
    let (c, e) = digits();
    let now = unix_now();
    let identities: Vec<String> = (0..10_000u32)
        .map(|i| {
            let url = format!("https://127.1.{}.{}:{port}/c{i}.pem", i / 250, i % 250 + 1);
            s.pki.good.identity(c, e, "A", now, &url)
        })
        .collect();
    let flooder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    flooder
        .set_read_timeout(Some(Duration::from_millis(2000)))
        .unwrap();
    let to = s.d.udp;
    let answers = {
        let rx = flooder.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut n = 0u32;
            let mut buf = vec![0u8; 65536];
            while rx.recv_from(&mut buf).is_ok() {
                n += 1;
                if n == 10_000 {
                    break;
                }
            }
            n
        })
    };
    let sender = std::thread::spawn(move || {
        let t0 = Instant::now();
        for (i, id) in identities.iter().enumerate() {
            let msg = invite(
                &format!("flood-{i}"),
                CALLER,
                &format!("Identity: {id}\r\n"),
            );
            flooder.send_to(&msg, to).unwrap();
            // 2 500 a second.
            let due = t0 + Duration::from_micros(400 * i as u64);
            if let Some(w) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(w);
            }
        }
    });
    let mut worst = Duration::ZERO;
    let mut clean = 0;
    while !sender.is_finished() {
        clean += 1;
        let t = Instant::now();
        let resp = udp_ask(
            &s.client,
            s.d.udp,
            &invite(&format!("clean-{clean}"), CALLER, ""),
        )
        .expect("a clean call answered during the flood");
        worst = worst.max(t.elapsed());
        assert_eq!(status(&resp), 302, "{resp}");
    }
    sender.join().unwrap();
    let answered = answers.join().unwrap();
    eprintln!("during the flood: {clean} clean calls, the slowest answered in {worst:?}");
    assert_eq!(answered, 10_000, "every signed INVITE answered");
    assert!(
        clean >= 10,
        "clean calls went on during the flood ({clean})"
    );
    assert!(
        worst < Duration::from_millis(400),
        "a clean call waited {worst:?}, as long as the verification budget"
    );
}

/// The verification pool full (`workers = 1`, `queue = 1`): signed calls
/// beyond it pass at once as No-TN-Validation, counted in /metrics with
/// the calls by verstat; none goes unanswered.
#[test]
fn a_full_pool_passes_calls_unverified_and_counts_them() {
    let sip = "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
               [bursts]\ncalls_per_number = 0\ncalls_per_block = 0\n";
    let (api, dir_state) = read_api("stir-busy", "busy-token");
    let s = setup_with("stir-busy", sip, "workers = 1\nqueue = 1\n", &api);
    let (c, e) = digits();
    let good = s.x5u.url("/good.pem");
    // The certificate cached first, so that the burst below meets a warm cache.
    let id = s.pki.good.identity(c, e, "A", unix_now(), &good);
    let (_, line) = s.call("busy-warm", CALLER, &id);
    assert!(line.contains("verstat=TN-Validation-Passed"), "{line}");
    // 200 signed INVITEs at once.
    for i in 0..200 {
        let id = s.pki.good.identity(c, e, "A", unix_now(), &good);
        let msg = invite(&format!("busy-{i}"), CALLER, &format!("Identity: {id}\r\n"));
        s.client.send_to(&msg, s.d.udp).unwrap();
    }
    let mut buf = vec![0u8; 65536];
    for _ in 0..200 {
        s.client
            .recv_from(&mut buf)
            .expect("every signed INVITE answered");
    }
    let (passed, unverified) = (0..200).fold((0, 0), |(p, u), i| {
        let line = s.d.noc_line(&format!("busy-{i}"));
        match field(&line, "verstat") {
            Some("TN-Validation-Passed") => (p + 1, u),
            Some("No-TN-Validation") => (p, u + 1),
            other => panic!("{other:?}: {line}"),
        }
    });
    assert!(
        passed >= 1 && unverified >= 1,
        "passed {passed}, unverified {unverified}"
    );
    let metric = metrics(&s.d, "busy-token");
    assert_eq!(metric("callscreen_stir_busy_total"), unverified);
    assert_eq!(
        metric("callscreen_stir_calls_total{verstat=\"No-TN-Validation\"}"),
        unverified
    );
    assert_eq!(
        metric("callscreen_stir_calls_total{verstat=\"TN-Validation-Passed\"}"),
        passed + 1
    );
    assert_eq!(metric("callscreen_stir_fetches_total"), 1);
    let _ = std::fs::remove_dir_all(&dir_state);
}

/// A CANCEL while the INVITE waits for its certificate: the CANCEL gets 200
/// and the INVITE 487 when its wait ends (RFC 3261 §9.2), in both modes;
/// it is neither screened nor forwarded.
#[test]
fn a_cancel_while_verifying_ends_the_invite_with_487() {
    let hop = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    hop.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    for (mode, sip) in [
        (
            "redirect",
            "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n"
                .to_string(),
        ),
        (
            "proxy",
            format!(
                "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
                 [proxy]\nnext_hops = [\"sip:{}\"]\n",
                hop.local_addr().unwrap()
            ),
        ),
    ] {
        let s = setup_with(&format!("stir-cancel-{mode}"), &sip, "", "");
        let (c, e) = digits();
        let id = s
            .pki
            .good
            .identity(c, e, "A", unix_now(), &s.x5u.url("/slow/good.pem"));
        let call_id = format!("stir-cancel-{mode}");
        let inv = invite(&call_id, CALLER, &format!("Identity: {id}\r\n"));
        s.client.send_to(&inv, s.d.udp).unwrap();
        let cancel = String::from_utf8(invite(&call_id, CALLER, ""))
            .unwrap()
            .replacen("INVITE sip:", "CANCEL sip:", 1)
            .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
        let mut buf = vec![0u8; 65536];
        s.client.send_to(cancel.as_bytes(), s.d.udp).unwrap();
        let (n, _) = s.client.recv_from(&mut buf).expect("the CANCEL's answer");
        let r = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_eq!(
            (status(&r), header(&r, "CSeq")),
            (200, Some("1 CANCEL")),
            "{mode}: {r}"
        );
        let (n, _) = s.client.recv_from(&mut buf).expect("the INVITE's answer");
        let r = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert_eq!(
            (status(&r), header(&r, "CSeq")),
            (487, Some("1 INVITE")),
            "{mode}: {r}"
        );
        // A retransmission gets the same 487.
        let again = udp_ask(&s.client, s.d.udp, &inv).expect("the 487 again");
        assert_eq!(again, r, "{mode}");
        if mode == "proxy" {
            let mut b = [0u8; 4096];
            assert!(
                hop.recv_from(&mut b).is_err(),
                "a cancelled INVITE was forwarded"
            );
        }
    }
}

/// The fetch guards, each on its own daemon: a host not on
/// `x5u_allow_hosts`, and a loopback address without `x5u_allow_networks`,
/// are never fetched (the certificate server sees no request) and the call
/// passes as No-TN-Validation.
#[test]
fn hosts_and_addresses_not_allowed_are_never_fetched() {
    for (name, stir) in [
        (
            "stir-allow-hosts",
            stir_section("x5u_allow_hosts = [\"cert.sti-ca.example\"]\n"),
        ),
        (
            "stir-no-private",
            stir_section("").replace("x5u_allow_networks = [\"127.0.0.0/8\", \"::1/128\"]\n", ""),
        ),
    ] {
        let dir = temp_dir(name);
        let pki = Pki::new(&dir);
        let files: HashMap<String, String> =
            [("/good.pem".to_string(), pki.good.chain_pem.clone())]
                .into_iter()
                .collect();
        let x5u = X5uServer::start(&pki, files, Duration::ZERO);
        let sip = "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n";
        let cfg = config(&dir, &format!("{sip}{stir}"));
        let d = Daemon::start_config(dir, cfg, &[]);
        let client = udp_client("127.0.0.1:0");
        let (c, e) = digits();
        let id = pki
            .good
            .identity(c, e, "A", unix_now(), &x5u.url("/good.pem"));
        let resp = udp_ask(
            &client,
            d.udp,
            &invite(name, CALLER, &format!("Identity: {id}\r\n")),
        )
        .expect("an answer");
        assert_eq!(status(&resp), 302, "{name}: {resp}");
        let line = d.noc_line(name);
        assert_eq!(
            field(&line, "verstat"),
            Some("No-TN-Validation"),
            "{name}: {line}"
        );
        assert_eq!(x5u.hits("/good.pem"), 0, "{name}: fetched anyway");
    }
}

/// A signed call from abroad presenting a home mobile number waits for its
/// verification, then for the roaming check (still parked: one answer, no
/// second pass): both outcomes decide it. Its certificate slow, the call's
/// verification ends at its budget and the roaming check is still asked.
#[test]
fn a_signed_home_mobile_number_from_abroad_is_verified_then_asked_about() {
    let roam_dir = temp_dir("stir-roaming-endpoint");
    let roam_pki = Pki::new(&roam_dir);
    let mobile = "+31612345678";
    let answers = [(mobile.to_string(), crate::roaming::Answer::Roaming)]
        .into_iter()
        .collect();
    let server = crate::roaming::RoamingServer::start(&roam_pki, answers, Duration::ZERO);
    let extra = format!(
        "[roaming]\nurl = \"{}\"\nca_file = \"{}\"\n",
        server.url(),
        roam_dir.join("web-ca.pem").display()
    );
    let s = setup("stir-roaming", &extra);
    let now = unix_now();
    let call = |call_id: &str, x5u: &str| {
        let id = s
            .pki
            .good
            .identity(&mobile[1..], &CALLEE[1..], "A", now, x5u);
        let msg = invite(
            call_id,
            mobile,
            &format!("X-Ingress-Trunk: intl\r\nIdentity: {id}\r\n"),
        );
        let r = udp_ask(&s.client, s.d.udp, &msg).expect("an answer");
        (r, s.d.noc_line(call_id))
    };
    let (r, line) = call("sr-1", &s.x5u.url("/good.pem"));
    assert_eq!(status(&r), 302, "{r}");
    assert_eq!(
        field(&line, "verstat"),
        Some("TN-Validation-Passed"),
        "{line}"
    );
    assert_eq!(field(&line, "reasons"), Some("roaming"), "{line}");
    assert_eq!(server.asked(mobile), 1);
    // The certificate slow: verification ends at its budget (No-TN-Validation),
    // the roaming answer comes from the cache.
    let (_, line) = call("sr-2", &s.x5u.url("/slow/good2.pem"));
    assert_eq!(field(&line, "verstat"), Some("No-TN-Validation"), "{line}");
    assert_eq!(field(&line, "reasons"), Some("roaming"), "{line}");
}

/// Signing (`[signing]`, proxy mode): a subscriber's call on an originating
/// trunk leaves with callscreen's Identity header, attestation A for the
/// operator's own number assigned to the trunk, B for a number the operator
/// does not hold or a trunk without number blocks, C on a gateway trunk; a
/// received Identity is replaced. A second callscreen, verifying as a terminating network would
/// (`[stir]`, the same STI-CA), passes each signature.
#[test]
fn an_originating_trunks_calls_are_signed_and_verify_elsewhere() {
    use base64::Engine;
    let dir = temp_dir("signing");
    let pki = Pki::new(&dir);
    std::fs::write(dir.join("sti.key"), pki.good.key.serialize_pem()).unwrap();
    let files = [("/sti.pem".to_string(), pki.good.chain_pem.clone())]
        .into_iter()
        .collect();
    let x5u = X5uServer::start(&pki, files, Duration::ZERO);
    let hop = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    hop.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let signing = format!(
        "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [proxy]\nnext_hops = [\"sip:{}\"]\n\
         [signing]\nkey_file = \"sti.key\"\nx5u = \"{}\"\nown_ranges = [\"+3120*\"]\n\
         [[peers]]\nname = \"subs\"\ntrunk_ids = [\"subs\"]\nscope = \"domestic\"\ndirection = \"originating\"\n\
         assigned = [\"+3120555*\", \"+4930*\"]\nsign = \"customer\"\n\
         [[peers]]\nname = \"pbx\"\ntrunk_ids = [\"pbx\"]\nscope = \"domestic\"\ndirection = \"originating\"\nsign = \"customer\"\n\
         [[peers]]\nname = \"gw\"\ntrunk_ids = [\"gw\"]\nscope = \"domestic\"\ndirection = \"originating\"\nsign = \"gateway\"\n",
        hop.local_addr().unwrap(),
        x5u.url("/sti.pem")
    );
    let a_cfg = config(&dir, &signing);
    std::fs::rename(&a_cfg, dir.join("signing.toml")).unwrap();
    let verifying = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n{}",
        stir_section("")
    );
    let b_cfg = config(&dir, &verifying);
    let a = Daemon::start_config(dir.clone(), dir.join("signing.toml"), &[]);
    let b = Daemon::start_config(dir.clone(), b_cfg, &[]);
    let client = udp_client("127.0.0.1:0");
    let mut buf = vec![0u8; 65536];
    let old = s_identity_of(&pki, &x5u);
    for (i, (trunk, from, attest)) in [
        // The operator's number, assigned to the trunk.
        ("subs", "+31205551234", "A"),
        // Assigned to the trunk (a customer's own number), not the operator's.
        ("subs", "+4930123456", "B"),
        // The operator's, on a trunk without number blocks: the customer
        // is known, its right to the number is not.
        ("pbx", "+31206661234", "B"),
        ("gw", "+31205551234", "C"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("sign-{i}");
        let msg = invite(
            &id,
            from,
            &format!("X-Ingress-Trunk: {trunk}\r\nIdentity: {old}\r\n"),
        );
        client.send_to(&msg, a.udp).unwrap();
        let (n, _) = hop.recv_from(&mut buf).expect("forwarded");
        let fwd = String::from_utf8_lossy(&buf[..n]).into_owned();
        let identities: Vec<&str> = fwd
            .lines()
            .filter_map(|l| l.strip_prefix("Identity: "))
            .collect();
        assert_eq!(identities.len(), 1, "{fwd}");
        assert_ne!(identities[0], old, "the received Identity kept: {fwd}");
        let payload = identities[0].split('.').nth(1).expect("a JWS");
        let claims: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["attest"], attest, "{id}: {claims}");
        assert_eq!(claims["orig"]["tn"], from[1..], "{claims}");
        assert_eq!(claims["dest"]["tn"][0], CALLEE[1..], "{claims}");
        assert!(identities[0].ends_with(&format!(
            ";info=<{}>;alg=ES256;ppt=shaken",
            x5u.url("/sti.pem")
        )));
        // The terminating side verifies it (the trunk header dropped: its
        // default peer takes the call).
        let onward: String = fwd
            .lines()
            .filter(|l| !l.starts_with("X-Ingress-Trunk"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        client
            .send_to(onward.trim_end_matches("\r\n").as_bytes(), b.udp)
            .unwrap();
        let line = b.noc_line(&id);
        assert_eq!(
            field(&line, "verstat"),
            Some("TN-Validation-Passed"),
            "{id}: {line}"
        );
        let c = field(&line, "reasons")
            .unwrap_or("-")
            .contains("shaken:attest-c");
        assert_eq!(c, attest == "C", "{line}");
    }
}

/// A SHAKEN Identity as a subscriber might send one (signed by the test
/// PKI for another number): what signing replaces.
fn s_identity_of(pki: &Pki, x5u: &X5uServer) -> String {
    pki.good.identity(
        "31999999999",
        &CALLEE[1..],
        "A",
        unix_now(),
        &x5u.url("/sti.pem"),
    )
}

/// The signing key rotated by a reload: the file replaced, `SIGHUP`, and
/// the next call is signed with the new key (its signature verifies with
/// the new public key, not the old); a key that cannot be read refuses the
/// reload and the one in force keeps signing. No call goes unsigned or
/// unanswered across it.
#[test]
fn the_signing_key_is_rotated_by_a_reload() {
    use base64::Engine;
    use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
    let dir = temp_dir("signing-rotation");
    let pki = Pki::new(&dir);
    std::fs::write(dir.join("sti.key"), pki.good.key.serialize_pem()).unwrap();
    let hop = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    hop.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let extra = format!(
        "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [proxy]\nnext_hops = [\"sip:{}\"]\n\
         [signing]\nkey_file = \"sti.key\"\nx5u = \"https://cert.example/sti.pem\"\n\
         [[peers]]\nname = \"gw\"\ntrunk_ids = [\"gw\"]\nscope = \"domestic\"\ndirection = \"originating\"\nsign = \"gateway\"\n",
        hop.local_addr().unwrap()
    );
    let d = Daemon::start_config(dir.clone(), config(&dir, &extra), &[]);
    let client = udp_client("127.0.0.1:0");
    let mut buf = vec![0u8; 65536];
    let mut signed = |id: &str| -> (Vec<u8>, Vec<u8>) {
        client
            .send_to(&invite(id, CALLER, "X-Ingress-Trunk: gw\r\n"), d.udp)
            .unwrap();
        let (n, _) = hop.recv_from(&mut buf).expect("forwarded");
        let fwd = String::from_utf8_lossy(&buf[..n]).into_owned();
        let id = fwd
            .lines()
            .find_map(|l| l.strip_prefix("Identity: "))
            .expect("signed")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let (input, sig) = id.rsplit_once('.').unwrap();
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .unwrap();
        (input.as_bytes().to_vec(), sig)
    };
    let verifies = |key: &rcgen::KeyPair, (input, sig): &(Vec<u8>, Vec<u8>)| {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, key.public_key_raw())
            .verify(input, sig)
            .is_ok()
    };
    let first = signed("rot-1");
    assert!(verifies(&pki.good.key, &first));
    // The new key (another of the test PKI's), then a reload.
    std::fs::write(dir.join("sti.key"), pki.no_tn_auth.key.serialize_pem()).unwrap();
    d.signal("HUP");
    d.stdout
        .wait_for(|l| l.contains("reloaded configuration and lists"))
        .expect("reloaded");
    let second = signed("rot-2");
    assert!(verifies(&pki.no_tn_auth.key, &second));
    assert!(!verifies(&pki.good.key, &second));
    // A broken key: the reload is refused, the key in force signs on.
    std::fs::write(dir.join("sti.key"), "not a key\n").unwrap();
    d.signal("HUP");
    d.stdout
        .wait_for(|l| l.contains("reload refused"))
        .expect("refused");
    d.stdout
        .wait_for(|l| l.contains("signing.key_file") && l.contains("no PKCS#8 private key"))
        .expect("the key and the line");
    assert!(verifies(&pki.no_tn_auth.key, &signed("rot-3")));
}

/// Diverted calls, signed (RFC 8946): a Dutch caller ID from abroad on a
/// peer that signs its diversions (`div_signs`) is exempt from
/// `spoof:domestic-cli-intl` as "diverted by a Dutch line" only with a
/// verified `div` PASSporT chained to the SHAKEN one: its `div` the SHAKEN
/// `dest` (the To), its `dest` the Request-URI, the same `orig`, a fresh
/// `iat`, a signature that verifies with a certificate that passes. The
/// Diversion header alone, a forged, foreign-signed, mis-aimed or
/// mis-attributed one, or one hanging on a SHAKEN PASSporT that failed,
/// does not lift it; the NOC line says what the `div` PASSporTs proved. A
/// verified one lifts it on any international peer, without headers.
#[test]
fn a_diversion_is_believed_from_a_div_signing_peer_only_when_signed() {
    let s = setup(
        "stir-div",
        "[[peers]]\nname = \"intl-div\"\ntrunk_ids = [\"intl-div\"]\nscope = \"international\"\ndiv_signs = true\n",
    );
    // The Dutch line first called (To), which diverted the call to CALLEE
    // (the Request-URI).
    let line = "+31301234567";
    let now = unix_now();
    let good = s.x5u.url("/good.pem");
    let shaken =
        |signer: &Signer, x5u: &str| signer.identity(&CALLER[1..], &line[1..], "A", now, x5u);
    let div = |orig: &str, dest: &str| {
        s.pki
            .good
            .div_identity(&orig[1..], &line[1..], &dest[1..], now, &good)
    };
    let call = |call_id: &str, trunk: &str, headers: &[String]| {
        let mut extra = format!("X-Ingress-Trunk: {trunk}\r\n");
        for h in headers {
            extra.push_str(h);
            extra.push_str("\r\n");
        }
        let msg = String::from_utf8(invite(call_id, CALLER, &extra))
            .expect("text")
            .replace(
                "To: <sip:+31104567890@cs.example>",
                &format!("To: <sip:{line}@cs.example>"),
            );
        let r = udp_ask(&s.client, s.d.udp, msg.as_bytes()).expect("an answer");
        assert_eq!(status(&r), 302, "{r}");
        s.d.noc_line(call_id)
    };
    let diversion = format!("Diversion: <sip:{line}@kpn.example>;reason=unconditional");
    let id = |v: String| format!("Identity: {v}");
    let good_shaken = id(shaken(&s.pki.good, &good));
    let expect = |line: &str, reasons: &str, div: Option<&str>| {
        assert_eq!(field(line, "reasons"), Some(reasons), "{line}");
        assert_eq!(field(line, "div"), div, "{line}");
    };

    // Signed and verified (the certificate fetched for both PASSporTs at once).
    let l = call(
        "dv-ok",
        "intl-div",
        &[
            good_shaken.clone(),
            id(div(CALLER, CALLEE)),
            diversion.clone(),
        ],
    );
    expect(&l, "-", Some("verified:domestic"));
    assert_eq!(field(&l, "verstat"), Some("TN-Validation-Passed"), "{l}");
    // The header alone, on a peer that signs its diversions.
    let l = call(
        "dv-none",
        "intl-div",
        &[good_shaken.clone(), diversion.clone()],
    );
    expect(&l, "spoof:domestic-cli-intl", None);
    // A div PASSporT whose certificate chains to no STI-CA anchor.
    let foreign = s.pki.untrusted.div_identity(
        &CALLER[1..],
        &line[1..],
        &CALLEE[1..],
        now,
        &s.x5u.url("/untrusted.pem"),
    );
    let l = call(
        "dv-untrusted",
        "intl-div",
        &[good_shaken.clone(), id(foreign), diversion.clone()],
    );
    expect(&l, "spoof:domestic-cli-intl", Some("failed:untrusted"));
    // Its signature altered (a byte of it).
    let mut forged = div(CALLER, CALLEE);
    let at = forged.find(';').expect("parameters") - 2;
    let c = if &forged[at..at + 1] == "A" { "B" } else { "A" };
    forged.replace_range(at..at + 1, c);
    let l = call(
        "dv-forged",
        "intl-div",
        &[good_shaken.clone(), id(forged), diversion.clone()],
    );
    expect(&l, "spoof:domestic-cli-intl", Some("failed:bad-signature"));
    // Diverted to another number than the one this call goes to.
    let l = call(
        "dv-target",
        "intl-div",
        &[
            good_shaken.clone(),
            id(div(CALLER, "+31207654321")),
            diversion.clone(),
        ],
    );
    expect(&l, "spoof:domestic-cli-intl", Some("failed:target"));
    // Made for another caller's call.
    let l = call(
        "dv-orig",
        "intl-div",
        &[
            good_shaken.clone(),
            id(div("+4930111111", CALLEE)),
            diversion.clone(),
        ],
    );
    expect(&l, "spoof:domestic-cli-intl", Some("failed:orig"));
    // Hanging on a SHAKEN PASSporT that does not verify.
    let bad_shaken = id(shaken(&s.pki.untrusted, &s.x5u.url("/untrusted.pem")));
    let l = call(
        "dv-noshaken",
        "intl-div",
        &[bad_shaken, id(div(CALLER, CALLEE)), diversion.clone()],
    );
    assert!(
        field(&l, "reasons").is_some_and(|r| r.contains("spoof:domestic-cli-intl")),
        "{l}"
    );
    assert_eq!(field(&l, "div"), Some("failed:no-shaken"), "{l}");
    // A peer that does not sign diversions: a verified one lifts the rule
    // without any header; the header alone still does there (as before).
    let l = call(
        "dv-intl",
        "intl",
        &[good_shaken.clone(), id(div(CALLER, CALLEE))],
    );
    expect(&l, "-", Some("verified:domestic"));
    let l = call(
        "dv-intl-hdr",
        "intl",
        &[good_shaken.clone(), diversion.clone()],
    );
    expect(&l, "-", None);
    // Nor is a div PASSporT verified where it decides nothing: a domestic peer.
    let l = call("dv-dom", "dom", &[good_shaken, id(div(CALLER, CALLEE))]);
    expect(&l, "-", None);
}

/// Revocation (RFC 5280, in the part SHAKEN uses): each certificate is
/// looked up in the CRL its CRL Distribution Point names, fetched over
/// HTTPS with the `x5u` guards. A direct CRL (rcgen's, signed by the
/// intermediate that issued the certificate) and an indirect one (the
/// Policy Administrator's, named as cRLIssuer, its signer configured in
/// `crl_signers`, each entry naming the intermediate as certificateIssuer)
/// each revoke one certificate and not another: `stir:revoked`,
/// TN-Validation-Failed. A CRL under the Administrator's name signed by
/// another key, and one that is not there, are not believed
/// (`crl_unavailable = "fail"` here: `stir:crl-unavailable`), nor is one
/// past its nextUpdate, nor one named only over http (not fetched). An intermediate is looked up in its issuer's (the
/// root's) CRL: a leaf under a revoked intermediate fails `stir:revoked`.
/// A CRL that comes due is fetched again without a restart: a certificate
/// revoked in the next one stops passing.
#[test]
fn revoked_certificates_stop_passing_by_direct_and_indirect_crls() {
    let dir = temp_dir("stir-crl");
    let pki = Pki::new(&dir);
    let x5u = X5uServer::start(&pki, HashMap::new(), Duration::ZERO);
    let leaf = |name: &str, crl: &str, indirect: bool| {
        let (signer, serial) = pki.revocable(name, &x5u.url(crl), indirect);
        x5u.set(&format!("/{name}.pem"), signer.chain_pem.clone());
        (signer, serial)
    };
    let (d_rev, d_rev_serial) = leaf("d-rev", "/inter.crl", false);
    let (d_ok, _) = leaf("d-ok", "/inter.crl", false);
    let (i_rev, i_rev_serial) = leaf("i-rev", "/sti-pa.crl", true);
    let (i_ok, _) = leaf("i-ok", "/sti-pa.crl", true);
    let (forged, _) = leaf("forged", "/forged.crl", true);
    let (missing, _) = leaf("missing", "/missing.crl", true);
    let (fresh, fresh_serial) = leaf("fresh", "/fresh.crl", false);
    let (stale, _) = leaf("stale", "/stale.crl", false);
    // Its only distribution point is http: not fetched under the guards.
    let (http_only, _) = pki.revocable("http-only", "http://127.0.0.1:9/ca.crl", false);
    x5u.set("/http-only.pem", http_only.chain_pem.clone());
    x5u.set("/stale.crl", pki.direct_crl(&[], -10));
    x5u.set("/inter.crl", pki.direct_crl(&[&d_rev_serial], 3600));
    x5u.set(
        "/sti-pa.crl",
        pki.indirect_crl(&pki.pa.0, &pki.pa.1, &[&i_rev_serial], 3600),
    );
    // Under the Administrator's name, signed with the intermediate's key.
    x5u.set(
        "/forged.crl",
        pki.indirect_crl(&pki.pa.0, &pki.inter.1, &[], 3600),
    );
    x5u.set("/fresh.crl", pki.direct_crl(&[], 2));
    // Intermediates are looked up too, in their issuer's (the root's) CRL:
    // a leaf under a revoked intermediate no longer passes.
    let inter = |name: &str| {
        let (signer, serial) = pki.revocable_inter(name, &x5u.url("/root.crl"));
        x5u.set(&format!("/{name}.pem"), signer.chain_pem.clone());
        (signer, serial)
    };
    let (ir_rev, ir_rev_serial) = inter("ir-rev");
    let (ir_ok, _) = inter("ir-ok");
    x5u.set("/root.crl", pki.root_crl(&[&ir_rev_serial], 3600));
    let body = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n{}",
        stir_section("crl_signers = \"sti-pa\"\ncrl_unavailable = \"fail\"\n")
    );
    let d = Daemon::start_config(dir.clone(), config(&dir, &body), &[]);
    let client = udp_client("127.0.0.1:0");
    let n = std::sync::atomic::AtomicUsize::new(0);
    // A call signed by `signer` (its chain at /NAME.pem), until its
    // certificate and CRL are had within the call's budget.
    let call = |signer: &Signer, name: &str| {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let call_id = format!(
                "crl-{name}-{}",
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let id = signer.identity(
                &CALLER[1..],
                &CALLEE[1..],
                "A",
                unix_now(),
                &x5u.url(&format!("/{name}.pem")),
            );
            let msg = invite(&call_id, CALLER, &format!("Identity: {id}\r\n"));
            udp_ask(&client, d.udp, &msg).expect("an answer");
            let line = d.noc_line(&call_id);
            if field(&line, "verstat") != Some("No-TN-Validation") || Instant::now() > deadline {
                return line;
            }
        }
    };
    let passed = |line: &str| {
        assert_eq!(
            field(line, "verstat"),
            Some("TN-Validation-Passed"),
            "{line}"
        );
    };
    let failed = |line: &str, reason: &str| {
        assert_eq!(
            field(line, "verstat"),
            Some("TN-Validation-Failed"),
            "{line}"
        );
        assert_eq!(field(line, "reasons"), Some(reason), "{line}");
    };
    passed(&call(&d_ok, "d-ok"));
    failed(&call(&d_rev, "d-rev"), "stir:revoked");
    passed(&call(&i_ok, "i-ok"));
    failed(&call(&i_rev, "i-rev"), "stir:revoked");
    failed(&call(&forged, "forged"), "stir:crl-unavailable");
    failed(&call(&missing, "missing"), "stir:crl-unavailable");
    // Past its nextUpdate: not current, so not believed either.
    failed(&call(&stale, "stale"), "stir:crl-unavailable");
    failed(&call(&http_only, "http-only"), "stir:crl-unavailable");
    passed(&call(&ir_ok, "ir-ok"));
    failed(&call(&ir_rev, "ir-rev"), "stir:revoked");
    // The CRL each certificate of a point shares was fetched once.
    assert_eq!(x5u.hits("/inter.crl"), 1);
    assert_eq!(x5u.hits("/sti-pa.crl"), 1);
    assert_eq!(x5u.hits("/root.crl"), 1);
    // Refreshed when due: the next CRL revokes `fresh`.
    passed(&call(&fresh, "fresh"));
    x5u.set("/fresh.crl", pki.direct_crl(&[&fresh_serial], 3600));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = call(&fresh, "fresh");
        if field(&line, "reasons") == Some("stir:revoked") {
            break;
        }
        passed(&line);
        assert!(
            Instant::now() < deadline,
            "still passing after its CRL came due: {line}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(x5u.hits("/fresh.crl") >= 2);
}

/// A [`setup`] with Acme's delegate: a certificate whose JWT Claim
/// Constraints allow the RCD name "Acme Bank" only, at `/acme.pem`.
fn delegate_setup(name: &str) -> (Setup, Signer) {
    let s = setup(name, "");
    let delegate = s
        .pki
        .constrained("Acme's delegate", "rcd", &[r#"{"nam":"Acme Bank"}"#]);
    s.x5u.set("/acme.pem", delegate.chain_pem.clone());
    (s, delegate)
}

/// Rich Call Data (RFC 9795) in the SHAKEN PASSporT: a verified `rcd`
/// name goes on as the display name of the 302's P-Asserted-Identity (the
/// SBC passes it on) and is screened as a From display name is ("ING
/// Bank" from a number not ING's: `spoof:display-name`, about `rcd`); an
/// `rcd` that refers to a URL without `rcdi` is not believed and not shown;
/// a certificate whose JWT Claim Constraints (RFC 8226 §8) allow one name
/// fails a PASSporT claiming another (`stir:claim-constraints`,
/// TN-Validation-Failed), and its name is neither shown nor screened.
#[test]
fn rich_call_data_is_shown_and_screened_only_when_verified() {
    let (s, constrained) = delegate_setup("stir-rcd");
    let (caller, callee) = digits();
    let n = std::sync::atomic::AtomicUsize::new(0);
    let call = |call_id: &str, signer: &Signer, x5u: &str, claims: &str| {
        let id = signer.identity_with(caller, callee, "A", unix_now(), &s.x5u.url(x5u), claims);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let k = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (r, line) = s.call(&format!("{call_id}-{k}"), CALLER, &id);
            if field(&line, "verstat") != Some("No-TN-Validation") || Instant::now() > deadline {
                return (r, line);
            }
        }
    };
    let pai = |r: &str| {
        r.lines()
            .find_map(|l| l.strip_prefix("P-Asserted-Identity: "))
            .unwrap_or_default()
            .to_string()
    };
    let good = |id: &str, claims: &str| call(id, &s.pki.good, "/good.pem", claims);
    let acme = |id: &str, claims: &str| call(id, &constrained, "/acme.pem", claims);
    // Verified: shown.
    let (r, l) = good("rcd-ok", r#""rcd":{"nam":"Acme \"Bank\""}"#);
    assert_eq!(field(&l, "rcd"), Some("verified"), "{l}");
    assert_eq!(field(&l, "reasons"), Some("-"), "{l}");
    // (Quotes in a display name are dropped, as for any display name written.)
    assert!(pai(&r).starts_with(r#""Acme Bank" <sip:"#), "{r}");
    // A brand in it, from a number not the brand's.
    let (_, l) = good("rcd-brand", r#""rcd":{"nam":"ING Bank"}"#);
    assert_eq!(field(&l, "reasons"), Some("spoof:display-name"), "{l}");
    // A URL without rcdi: not believed, not shown, not screened.
    let (r, l) = good(
        "rcd-nordci",
        r#""rcd":{"nam":"ING Bank","icn":"https://example.com/logo.png"}"#,
    );
    assert_eq!(field(&l, "rcd"), Some("failed:no-rcdi"), "{l}");
    assert_eq!(field(&l, "reasons"), Some("-"), "{l}");
    assert!(pai(&r).starts_with("<sip:"), "{r}");
    // With rcdi covering the URL: believed.
    let (_, l) = good(
        "rcd-rcdi",
        r#""rcd":{"nam":"Acme","icn":"https://example.com/logo.png"},"rcdi":{"/icn":"sha256-47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}"#,
    );
    assert_eq!(field(&l, "rcd"), Some("verified"), "{l}");
    // The constrained certificate: its own name passes, another fails.
    let (r, l) = acme("rcd-allowed", r#""rcd":{"nam":"Acme Bank"}"#);
    assert_eq!(field(&l, "verstat"), Some("TN-Validation-Passed"), "{l}");
    assert!(pai(&r).starts_with(r#""Acme Bank" <sip:"#), "{r}");
    let (r, l) = acme("rcd-denied", r#""rcd":{"nam":"ING Bank"}"#);
    assert_eq!(field(&l, "verstat"), Some("TN-Validation-Failed"), "{l}");
    assert_eq!(field(&l, "reasons"), Some("stir:claim-constraints"), "{l}");
    assert_eq!(field(&l, "rcd"), Some("unverified"), "{l}");
    assert!(!pai(&r).contains("ING"), "{r}");
}

/// Rich Call Data in a PASSporT of its own (`ppt=rcd`, RFC 9795 §5), as a
/// delegate signs it beside the originating network's SHAKEN PASSporT
/// (which carries none): believed when it verifies, is for the same call
/// (the SHAKEN PASSporT's `orig` and `dest`) and the SHAKEN PASSporT
/// verifies too. A delegate certificate's JWT Claim Constraints bind its
/// own name; another it signs is not believed, and the call's SHAKEN
/// verification stands. An `rcd` claim in the SHAKEN PASSporT comes first.
#[test]
fn a_separate_rcd_passport_is_believed_when_it_and_the_shaken_one_verify() {
    let (s, delegate) = delegate_setup("stir-rcd-ppt");
    let (caller, callee) = digits();
    let (good, acme, untrusted) = (
        s.x5u.url("/good.pem"),
        s.x5u.url("/acme.pem"),
        s.x5u.url("/untrusted.pem"),
    );
    let n = std::sync::atomic::AtomicUsize::new(0);
    let call = |identities: &[String]| {
        let k = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let call_id = format!("rcd-ppt-{k}");
        let headers: String = identities
            .iter()
            .map(|v| format!("Identity: {v}\r\n"))
            .collect();
        let msg = invite(&call_id, CALLER, &headers);
        let r = udp_ask(&s.client, s.d.udp, &msg).expect("an answer");
        (r, s.d.noc_line(&call_id))
    };
    // Each certificate had first (the delegate's as a SHAKEN signer), so
    // that no case below waits on a fetch.
    for (signer, url) in [
        (&s.pki.good, &good),
        (&delegate, &acme),
        (&s.pki.untrusted, &untrusted),
    ] {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let id = signer.identity(caller, callee, "A", unix_now(), url);
            let (_, l) = call(&[id]);
            if field(&l, "verstat") != Some("No-TN-Validation") || Instant::now() > deadline {
                break;
            }
        }
    }
    let pai = |r: &str| {
        header(r, "P-Asserted-Identity")
            .unwrap_or_default()
            .to_string()
    };
    let shaken = || s.pki.good.identity(caller, callee, "A", unix_now(), &good);
    let rcd = |signer: &Signer, url: &str, orig: &str, nam: &str| {
        signer.rcd_identity(
            orig,
            callee,
            unix_now(),
            url,
            &format!(r#""rcd":{{"nam":"{nam}"}}"#),
        )
    };

    // The delegate's own name: verified and shown.
    let (r, l) = call(&[shaken(), rcd(&delegate, &acme, caller, "Acme Bank")]);
    assert_eq!(field(&l, "verstat"), Some("TN-Validation-Passed"), "{l}");
    assert_eq!(field(&l, "rcd"), Some("verified"), "{l}");
    assert_eq!(field(&l, "reasons"), Some("-"), "{l}");
    assert!(pai(&r).starts_with(r#""Acme Bank" <sip:"#), "{r}");
    // A name its certificate does not allow: not believed, not shown; the
    // SHAKEN PASSporT still passes.
    let (r, l) = call(&[shaken(), rcd(&delegate, &acme, caller, "ING Bank")]);
    assert_eq!(field(&l, "verstat"), Some("TN-Validation-Passed"), "{l}");
    assert_eq!(field(&l, "rcd"), Some("unverified"), "{l}");
    assert_eq!(field(&l, "reasons"), Some("-"), "{l}");
    assert!(pai(&r).starts_with("<sip:"), "{r}");
    // A brand's name, verified, from a number not the brand's: screened.
    let (_, l) = call(&[shaken(), rcd(&s.pki.good, &good, caller, "ING Bank")]);
    assert_eq!(field(&l, "rcd"), Some("verified"), "{l}");
    assert_eq!(field(&l, "reasons"), Some("spoof:display-name"), "{l}");
    // Signed under a CA nobody trusts: not believed.
    let (r, l) = call(&[
        shaken(),
        rcd(&s.pki.untrusted, &untrusted, caller, "Acme Bank"),
    ]);
    assert_eq!(field(&l, "rcd"), Some("unverified"), "{l}");
    assert!(pai(&r).starts_with("<sip:"), "{r}");
    // For another caller: not this call's, passed over.
    let (r, l) = call(&[shaken(), rcd(&delegate, &acme, "31201234999", "Acme Bank")]);
    assert_eq!(field(&l, "rcd"), None, "{l}");
    assert!(pai(&r).starts_with("<sip:"), "{r}");
    // The SHAKEN PASSporT fails: the name is nobody's word either.
    let bad_shaken = s
        .pki
        .untrusted
        .identity(caller, callee, "A", unix_now(), &untrusted);
    let (r, l) = call(&[bad_shaken, rcd(&delegate, &acme, caller, "Acme Bank")]);
    assert_eq!(field(&l, "verstat"), Some("TN-Validation-Failed"), "{l}");
    assert_eq!(field(&l, "rcd"), Some("unverified"), "{l}");
    assert!(!pai(&r).contains("Acme"), "{r}");
    // The SHAKEN PASSporT's own rcd claim comes first.
    let with_rcd = s.pki.good.identity_with(
        caller,
        callee,
        "A",
        unix_now(),
        &good,
        r#""rcd":{"nam":"Acme"}"#,
    );
    let (r, l) = call(&[with_rcd, rcd(&s.pki.good, &good, caller, "ING Bank")]);
    assert_eq!(field(&l, "rcd"), Some("verified"), "{l}");
    assert_eq!(field(&l, "reasons"), Some("-"), "{l}");
    assert!(pai(&r).starts_with(r#""Acme" <sip:"#), "{r}");
}

/// RFC 9410 `ppi`: a call that goes on although its SHAKEN PASSporT failed
/// learns why in the 302's STIR Reason; with several Identity headers (a
/// `div` PASSporT beside it) the Reason also names the one that failed, by
/// its signature in compact form (`ppi="..<signature>"`). With one
/// Identity header there is nothing to tell apart and no `ppi`.
#[test]
fn with_several_identity_headers_the_stir_reason_names_the_failed_one() {
    let s = setup("stir-ppi", "");
    let (caller, callee) = digits();
    let now = unix_now();
    let untrusted = s.x5u.url("/untrusted.pem");
    let bad = s
        .pki
        .untrusted
        .identity(caller, callee, "A", now, &untrusted);
    let div = s
        .pki
        .good
        .div_identity(caller, "31301234567", callee, now, &s.x5u.url("/good.pem"));
    let sig = bad
        .split(';')
        .next()
        .and_then(|t| t.rsplit('.').next())
        .expect("a signature");
    let reason = |r: &str| {
        r.lines()
            .find_map(|l| l.strip_prefix("Reason: "))
            .unwrap_or_default()
            .to_string()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    for k in 0.. {
        let (r, l) = s.call(
            &format!("ppi-{k}"),
            CALLER,
            &format!("{bad}\r\nIdentity: {div}"),
        );
        if field(&l, "verstat") == Some("No-TN-Validation") && Instant::now() < deadline {
            continue;
        }
        assert_eq!(
            reason(&r),
            format!(r#"STIR;cause=437;text="Unsupported Credential";ppi="..{sig}""#),
            "{r}"
        );
        break;
    }
    let (r, _) = s.call("ppi-one", CALLER, &bad);
    assert_eq!(
        reason(&r),
        r#"STIR;cause=437;text="Unsupported Credential""#,
        "{r}"
    );
}

/// Proxy mode, Rich Call Data in SIP (RFC 9796): a `Call-Info` logo or
/// jCard goes on with the call only when its PASSporT's RCD verified
/// (RFC 9795), refers to its URL, and what the URL holds has the digest
/// the RCD's `rcdi` gives (fetched in the background: the first call goes
/// on without the logo); without a verified RCD (none, or a signature that
/// fails) those headers are removed from the forwarded INVITE, as is a logo
/// the verified RCD does not name or whose content is not what was signed,
/// and a `Call-Info` of another purpose stays.
#[test]
fn proxy_mode_passes_rich_call_data_on_only_when_verified() {
    let (api, dir_state) = read_api("stir-rcd", "rcd-token");
    let (s, hop) = proxy_setup("stir-proxy-rcd", "", &api);
    let (c, e) = digits();
    // Acme's logo, served where its RCD says, and a picture that is not it
    // (short paths: the INVITEs stay under 1300 bytes, forwarded over UDP).
    s.x5u.set("/l", "Acme's logo".to_string());
    s.x5u.set("/o", "another picture".to_string());
    let logo = s.x5u.url("/l");
    let other = s.x5u.url("/o");
    let digest = |body: &str| {
        let d = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        let b64 = &base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("sha256-{}", base64::Engine::encode(b64, d.as_ref()))
    };
    // RCD naming `url` for its logo, whose content must be `body`.
    let rcd_with = |url: &str, body: &str| {
        format!(
            r#""rcd":{{"nam":"Acme","icn":"{url}"}},"rcdi":{{"/icn":"{}"}}"#,
            digest(body)
        )
    };
    let rcd_for = |url: &str| rcd_with(url, "Acme's logo");
    let info = format!(
        "Call-Info: <{logo}>;purpose=icon\r\nCall-Info: <https://a.example/i>;purpose=info\r\n"
    );
    let n = std::sync::atomic::AtomicUsize::new(0);
    // Forwarded, once its certificate is had within the call's budget.
    let forwarded_with = |identity: &str, info: &str| loop {
        let k = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let msg = invite(
            &format!("px-rcd-{k}"),
            CALLER,
            &format!("Identity: {identity}\r\n{info}"),
        );
        s.client.send_to(&msg, s.d.udp).unwrap();
        let mut buf = vec![0u8; 65536];
        let (len, _) = hop.recv_from(&mut buf).expect("forwarded");
        let fwd = String::from_utf8_lossy(&buf[..len]).into_owned();
        if !fwd.contains("No-TN-Validation") || k > 20 {
            return fwd;
        }
    };
    let forwarded = |identity: &str| forwarded_with(identity, &info);
    let good = s.x5u.url("/good.pem");
    let signed = |rcd: &str| s.pki.good.identity_with(c, e, "A", unix_now(), &good, rcd);
    // Verified, the logo not fetched yet: the call does not wait for it,
    // and goes on without it; the logo is fetched for the calls after.
    let fwd = forwarded(&signed(&rcd_for(&logo)));
    assert!(fwd.contains("verstat=TN-Validation-Passed"), "{fwd}");
    assert!(
        !fwd.contains("purpose=icon") && fwd.contains("purpose=info"),
        "{fwd}"
    );
    let deadline = Instant::now() + TIMEOUT;
    let fwd = loop {
        let fwd = forwarded(&signed(&rcd_for(&logo)));
        if fwd.contains("purpose=icon") || Instant::now() > deadline {
            break fwd;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        fwd.contains(&format!("<{logo}>;purpose=icon")) && fwd.contains("purpose=info"),
        "{fwd}"
    );
    assert_eq!(s.x5u.hits("/l"), 1);
    // Verified, but an icon the RCD does not refer to: that one is removed,
    // the signed one stays.
    let fwd = forwarded_with(
        &signed(&rcd_for(&logo)),
        &format!(
            "Call-Info: <https://scam.example/microsoft.png>;purpose=icon\r\n\
             Call-Info: <{logo}>;purpose=icon\r\n"
        ),
    );
    assert!(fwd.contains("verstat=TN-Validation-Passed"), "{fwd}");
    assert!(!fwd.contains("microsoft.png"), "{fwd}");
    assert!(fwd.contains(&format!("<{logo}>;purpose=icon")), "{fwd}");
    // Verified, naming a URL whose content does not have the digest its
    // rcdi gives: not passed on. (Once a call whose rcdi has that
    // content's digest carries it, the digest is known.)
    let with_other = format!("Call-Info: <{other}>;purpose=icon\r\n");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let fwd = forwarded_with(&signed(&rcd_with(&other, "another picture")), &with_other);
        if fwd.contains("purpose=icon") {
            break;
        }
        assert!(Instant::now() < deadline, "never vouched for: {fwd}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let fwd = forwarded_with(&signed(&rcd_for(&other)), &with_other);
    assert!(fwd.contains("verstat=TN-Validation-Passed"), "{fwd}");
    assert!(!fwd.contains("purpose=icon"), "{fwd}");
    assert_eq!(s.x5u.hits("/o"), 1);
    // Counted: two contents fetched, none failed, the mismatch above.
    let metric = metrics(&s.d, "rcd-token");
    assert_eq!(metric("callscreen_stir_rcd_fetches_total"), 2);
    assert_eq!(metric("callscreen_stir_rcd_fetch_failures_total"), 0);
    assert_eq!(metric("callscreen_stir_rcd_mismatches_total"), 1);
    // No RCD in the PASSporT: the logo is nobody's word.
    let fwd = forwarded(&s.pki.good.identity(c, e, "A", unix_now(), &good));
    assert!(
        !fwd.contains("purpose=icon") && fwd.contains("purpose=info"),
        "{fwd}"
    );
    // RCD under a signature that fails.
    let untrusted = s.x5u.url("/untrusted.pem");
    let fwd = forwarded(&s.pki.untrusted.identity_with(
        c,
        e,
        "A",
        unix_now(),
        &untrusted,
        &rcd_for(&logo),
    ));
    assert!(fwd.contains("TN-Validation-Failed"), "{fwd}");
    assert!(
        !fwd.contains("purpose=icon") && fwd.contains("purpose=info"),
        "{fwd}"
    );
    let _ = std::fs::remove_dir_all(&dir_state);
}

/// A retransmitted INVITE in proxy mode is forwarded as its first copy
/// was, byte for byte: what verification found (its `verstat`, its
/// verified Rich Call Data, a verified `div` chain lifting a spoofing rule)
/// is the transaction's, not lost because the retransmission is not
/// verified again.
#[test]
fn a_proxy_retransmission_is_forwarded_as_its_first_copy_was() {
    let (s, hop) = proxy_setup(
        "stir-proxy-again",
        "",
        "[[peers]]\nname = \"intl-div\"\ntrunk_ids = [\"intl-div\"]\nscope = \"international\"\ndiv_signs = true\n",
    );
    let hop_tcp =
        std::net::TcpListener::bind(hop.local_addr().unwrap()).expect("the hop's TCP port");
    hop_tcp.set_nonblocking(true).unwrap();
    let (c, e) = digits();
    let good = s.x5u.url("/good.pem");
    let recv = || {
        let mut buf = vec![0u8; 65536];
        let (len, _) = hop.recv_from(&mut buf).expect("forwarded");
        String::from_utf8_lossy(&buf[..len]).into_owned()
    };
    // The certificate fetched first, so that the calls below are verified
    // within their budget.
    let warm = invite(
        "px-again-warm",
        CALLER,
        &format!(
            "Identity: {}\r\n",
            s.pki.good.identity(c, e, "A", unix_now(), &good)
        ),
    );
    for _ in 0..20 {
        s.client.send_to(&warm, s.d.udp).unwrap();
        if !recv().contains("No-TN-Validation") {
            break;
        }
    }
    assert_eq!(s.x5u.hits("/good.pem"), 1);
    let twice = |msg: &[u8]| {
        s.client.send_to(msg, s.d.udp).unwrap();
        let first = recv();
        s.client.send_to(msg, s.d.udp).unwrap();
        (first, recv())
    };

    // Rich Call Data, verified: its Call-Info and verstat both times. Its
    // logo (empty: the digest is SHA-256's of nothing) fetched first, by
    // the calls before.
    s.x5u.set("/logo.png", String::new());
    let logo = s.x5u.url("/logo.png");
    let rcd = format!(
        r#""rcd":{{"nam":"Acme","icn":"{logo}"}},"rcdi":{{"/icn":"sha256-47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"}}"#
    );
    let rcd_call = |call_id: &str| {
        invite(
            call_id,
            CALLER,
            &format!(
                "Identity: {}\r\nCall-Info: <{logo}>;purpose=icon\r\n",
                s.pki.good.identity_with(c, e, "A", unix_now(), &good, &rcd)
            ),
        )
    };
    let deadline = Instant::now() + TIMEOUT;
    for k in 0.. {
        s.client
            .send_to(&rcd_call(&format!("px-again-logo-{k}")), s.d.udp)
            .unwrap();
        if recv().contains("purpose=icon") || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (first, again) = twice(&rcd_call("px-again-rcd"));
    assert!(first.contains("verstat=TN-Validation-Passed"), "{first}");
    assert!(first.contains("purpose=icon"), "{first}");
    assert_eq!(again, first);

    // A diversion by a Dutch line, proved by a `div` PASSporT on a peer
    // that signs its diversions: not tagged as a Dutch number from abroad,
    // the first time or the second.
    let line = "+31301234567";
    let now = unix_now();
    let shaken = s
        .pki
        .good
        .identity(&CALLER[1..], &line[1..], "A", now, &good);
    let div = s
        .pki
        .good
        .div_identity(&CALLER[1..], &line[1..], &CALLEE[1..], now, &good);
    let msg = String::from_utf8(invite(
        "px-again-div",
        CALLER,
        &format!(
            "X-Ingress-Trunk: intl-div\r\nIdentity: {shaken}\r\nIdentity: {div}\r\n\
             Diversion: <sip:{line}@kpn.example>;reason=unconditional\r\n"
        ),
    ))
    .expect("text")
    .replace(
        "To: <sip:+31104567890@cs.example>",
        &format!("To: <sip:{line}@cs.example>"),
    );
    // With its two PASSporTs it is over 1300 bytes: forwarded over TCP
    // (RFC 3261 §18.1.1), on one connection.
    s.client.send_to(msg.as_bytes(), s.d.udp).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let mut conn = loop {
        match hop_tcp.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("no connection from the proxy: {e}"),
        }
    };
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(TIMEOUT)).unwrap();
    let first = tcp_read_response(&mut conn).expect("forwarded");
    s.client.send_to(msg.as_bytes(), s.d.udp).unwrap();
    let again = tcp_read_response(&mut conn).expect("forwarded again");
    assert!(first.starts_with("INVITE "), "{first}");
    assert!(first.contains("verstat=TN-Validation-Passed"), "{first}");
    assert!(!first.contains("spoof:domestic-cli-intl"), "{first}");
    assert_eq!(again, first);
    // The calls' NOC lines say what verification found.
    for id in ["px-again-rcd", "px-again-div"] {
        let l = s.d.noc_line(id);
        assert_eq!(field(&l, "verstat"), Some("TN-Validation-Passed"), "{l}");
    }
}
