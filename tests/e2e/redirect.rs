//! The daemon in redirect mode, over real UDP and TCP sockets on loopback.

use std::io::Read;
use std::time::Duration;

use crate::support::*;

const INTL_TRUNK: &str = "X-Ingress-Trunk: intl\r\n";

#[test]
fn a_clean_call_is_redirected_to_the_next_hop_untagged() {
    let d = Daemon::start("clean", "");
    let c = udp_client("127.0.0.1:0");
    let r = udp_ask(&c, d.udp, &invite("clean-1", "+31201234568", "")).unwrap();
    assert_eq!(status(&r), 302, "{r}");
    assert_eq!(
        header(&r, "Contact"),
        Some("<sip:+31104567890@192.0.2.10:5060;user=phone>")
    );
    assert!(header(&r, "X-Callscreen").is_none(), "{r}");
    assert!(header(&r, "To").unwrap().contains(";tag="), "{r}");
    let via = header(&r, "Via").unwrap();
    assert!(
        via.contains(";received=127.0.0.1;rport="),
        "RFC 3581: {via}"
    );
    let line = d.noc_line("clean-1");
    {
        let f = "INFO call verdict=allow code=302 reasons=- caller=+31201234568 pai=- callee=+31104567890 peer=dom call_id=clean-1 lists=- latency_us=";
        assert!(line.contains(f), "{line}");
    }
}

#[test]
fn a_blocklisted_caller_is_rejected_with_a_reason() {
    let d = Daemon::start("reject", "");
    let c = udp_client("127.0.0.1:0");
    let r = udp_ask(&c, d.udp, &invite("rej-1", "+31201234567", "")).unwrap();
    assert_eq!(status(&r), 608, "{r}");
    assert_eq!(
        header(&r, "Reason"),
        Some("SIP;cause=608;text=\"Network blocked\"")
    );
    assert!(header(&r, "Contact").is_none());
    let line = d.noc_line("rej-1");
    assert!(
        line.contains("verdict=reject code=608 reasons=blocklist:scam-origins caller=+31201234567"),
        "{line}"
    );
    assert!(line.contains("lists=scam-origins@1"), "{line}");
}

#[test]
fn a_tagged_call_carries_the_tags_once() {
    let d = Daemon::start("tag", "");
    let c = udp_client("127.0.0.1:0");
    // A national form from the international (E.164-only) trunk: invalid-cli, tagged.
    let r = udp_ask(&c, d.udp, &invite("tag-1", "0201234568", INTL_TRUNK)).unwrap();
    assert_eq!(status(&r), 302, "{r}");
    assert_eq!(header(&r, "X-Callscreen"), Some("invalid-cli"));
    assert_eq!(
        header(&r, "P-Asserted-Identity"),
        Some("\"[SCAM?] Caller\" <sip:0201234568@carrier.example;user=phone>")
    );
    assert!(d.noc_line("tag-1").contains("verdict=tag code=302 reasons=invalid-cli caller=invalid pai=- callee=+31104567890 peer=intl"));
    // A display name that already has the prefix does not get it twice.
    let msg = String::from_utf8(invite("tag-2", "0201234568", INTL_TRUNK))
        .unwrap()
        .replace("\"Caller\"", "\"[SCAM?] Caller\"");
    let r = udp_ask(&c, d.udp, msg.as_bytes()).unwrap();
    assert_eq!(
        header(&r, "P-Asserted-Identity"),
        Some("\"[SCAM?] Caller\" <sip:0201234568@carrier.example;user=phone>")
    );
}

#[test]
fn tags_in_the_contact_uri_and_anonymise() {
    let d = Daemon::start(
        "contact-tags",
        "[tags]\nin_contact_uri = true\n[policy.rules]\n\"cli-premium\" = \"anonymise\"\n",
    );
    let c = udp_client("127.0.0.1:0");
    let r = udp_ask(&c, d.udp, &invite("ct-1", "0201234568", INTL_TRUNK)).unwrap();
    let contact = header(&r, "Contact").unwrap();
    assert!(contact.starts_with("<sip:+31104567890@192.0.2.10:5060;user=phone?X-Callscreen=invalid-cli&P-Asserted-Identity=%22[SCAM?]%20Caller%22%20%3Csip:0201234568%40carrier.example%3Buser%3Dphone%3E>"), "{contact}");
    // A premium-rate caller ID: anonymised, so the callee does not see the number.
    let r = udp_ask(&c, d.udp, &invite("ct-2", "09001234567", "")).unwrap();
    assert_eq!(status(&r), 302);
    assert!(
        header(&r, "Contact")
            .unwrap()
            .contains("?Privacy=id&X-Callscreen=cli-premium"),
        "{r}"
    );
    assert_eq!(header(&r, "Privacy"), Some("id"));
    assert!(
        d.noc_line("ct-2")
            .contains("verdict=anonymise code=302 reasons=cli-premium")
    );
}

#[test]
fn the_trunk_comes_from_tgrp_or_the_header_and_only_from_an_sbc() {
    let d = Daemon::start("trunks", "");
    let c = udp_client("127.0.0.1:0");
    let msg = String::from_utf8(invite("tg-1", "0201234568", ""))
        .unwrap()
        .replace(
            "INVITE sip:+31104567890@cs.example;user=phone",
            "INVITE sip:+31104567890;tgrp=intl;trunk-context=example.net@cs.example;user=phone",
        );
    udp_ask(&c, d.udp, msg.as_bytes()).unwrap();
    assert!(d.noc_line("tg-1").contains("peer=intl"));
    // An unknown trunk id from the SBC: refused.
    let r = udp_ask(
        &c,
        d.udp,
        &invite("tg-2", "+31201234568", "X-Ingress-Trunk: nosuch\r\n"),
    )
    .unwrap();
    assert_eq!(status(&r), 403);
    // A direct peer by address; its trunk header is not believed.
    let direct = udp_client("127.0.0.2:0");
    udp_ask(&direct, d.udp, &invite("tg-3", "+31201234568", INTL_TRUNK)).unwrap();
    assert!(d.noc_line("tg-3").contains("peer=direct"));
}

#[test]
fn unknown_sources_are_refused() {
    let d = Daemon::start("unknown", "");
    let stranger = udp_client("127.0.0.3:0");
    let r = udp_ask(&stranger, d.udp, &invite("unk-1", "+31201234568", "")).unwrap();
    assert_eq!(status(&r), 403);
    assert_eq!(
        udp_ask(&stranger, d.udp, &options("unk-2")).map(|r| status(&r)),
        Some(403)
    );
    assert!(!d.stdout.all().iter().any(|l| l.contains("call_id=unk-1")));
    // Its ACK for the 403 gets no answer (RFC 3261 §17.2.1): the next answer
    // the stranger hears is the one to a later OPTIONS.
    let ack = String::from_utf8(invite("unk-1", "+31201234568", ""))
        .unwrap()
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK");
    stranger.send_to(ack.as_bytes(), d.udp).unwrap();
    let r = udp_ask(&stranger, d.udp, &options("unk-3")).unwrap();
    assert_eq!(header(&r, "Call-ID"), Some("unk-3"), "{r}");
}

#[test]
fn unknown_sources_can_be_dropped() {
    let d = Daemon::start(
        "unknown-drop",
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\nunknown_source = \"drop\"\n",
    );
    let stranger = udp_client("127.0.0.3:0");
    stranger.send_to(&options("drop-1"), d.udp).unwrap();
    // One receive thread answers in order: once the SBC's probe is answered,
    // the stranger's request was handled, and nothing came back.
    let sbc = udp_client("127.0.0.1:0");
    assert_eq!(
        udp_ask(&sbc, d.udp, &options("drop-probe")).map(|r| status(&r)),
        Some(200)
    );
    stranger.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        stranger.recv_from(&mut buf).is_err(),
        "no answer to an unknown source"
    );
}

#[test]
fn a_retransmission_gets_the_same_answer_and_no_second_noc_line() {
    let d = Daemon::start("retrans", "");
    let c = udp_client("127.0.0.1:0");
    let msg = invite("rt-1", "+31201234567", "");
    let a = udp_ask(&c, d.udp, &msg).unwrap();
    let b = udp_ask(&c, d.udp, &msg).unwrap();
    assert_eq!(a, b, "byte-identical answers");
    // A later call's line proves the retransmission's would have been written before it.
    udp_ask(&c, d.udp, &invite("rt-2", "+31201234568", "")).unwrap();
    d.noc_line("rt-2");
    let n = d
        .stdout
        .all()
        .iter()
        .filter(|l| l.contains("call_id=rt-1 "))
        .count();
    assert_eq!(n, 1, "one NOC line per INVITE, not per retransmission");
    // The same call with a new CSeq/branch is a new transaction: a new line.
    let again = String::from_utf8(msg)
        .unwrap()
        .replace("CSeq: 1 INVITE", "CSeq: 2 INVITE")
        .replace("z9hG4bK-rt-1", "z9hG4bK-rt-1b");
    udp_ask(&c, d.udp, again.as_bytes()).unwrap();
    udp_ask(&c, d.udp, &invite("rt-3", "+31201234568", "")).unwrap();
    d.noc_line("rt-3");
    assert_eq!(
        d.stdout
            .all()
            .iter()
            .filter(|l| l.contains("call_id=rt-1 "))
            .count(),
        2
    );
}

#[test]
fn ack_and_cancel_are_ignored_options_answered_other_methods_405() {
    let d = Daemon::start("methods", "");
    let c = udp_client("127.0.0.1:0");
    let ack = String::from_utf8(invite("m-1", "+31201234568", ""))
        .unwrap()
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK");
    let cancel = ack
        .replace("ACK sip:", "CANCEL sip:")
        .replace("CSeq: 1 ACK", "CSeq: 1 CANCEL");
    c.send_to(ack.as_bytes(), d.udp).unwrap();
    c.send_to(cancel.as_bytes(), d.udp).unwrap();
    let r = udp_ask(&c, d.udp, &options("m-probe")).unwrap();
    assert_eq!(
        header(&r, "Call-ID"),
        Some("m-probe"),
        "ACK and CANCEL got no answer: {r}"
    );
    assert_eq!(status(&r), 200);
    assert_eq!(header(&r, "Allow"), Some("INVITE, ACK, CANCEL, OPTIONS"));
    let bye = ack
        .replace("ACK sip:", "BYE sip:")
        .replace("CSeq: 1 ACK", "CSeq: 1 BYE");
    let r = udp_ask(&c, d.udp, bye.as_bytes()).unwrap();
    assert_eq!(status(&r), 405);
    assert_eq!(header(&r, "Allow"), Some("INVITE, ACK, CANCEL, OPTIONS"));
}

#[test]
fn emergency_calls_go_through_untagged() {
    let d = Daemon::start("emergency", "");
    let c = udp_client("127.0.0.1:0");
    let msg = String::from_utf8(invite("sos-1", "+31201234567", ""))
        .unwrap()
        .replace(
            "INVITE sip:+31104567890@cs.example;user=phone",
            "INVITE sip:112@cs.example;user=phone",
        );
    let r = udp_ask(&c, d.udp, msg.as_bytes()).unwrap();
    assert_eq!(
        status(&r),
        302,
        "a blocklisted caller still reaches 112: {r}"
    );
    assert!(header(&r, "X-Callscreen").is_none());
    assert!(
        d.noc_line("sos-1")
            .contains("verdict=allow code=302 reasons=emergency")
    );
}

#[test]
fn malformed_input_gets_400_and_nothing_stalls() {
    let d = Daemon::start(
        "malformed",
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\nmax_message_bytes = 1024\n",
    );
    let c = udp_client("127.0.0.1:0");
    let mut bad = invite("bad-1", "+31201234568", "X-Bin: \u{1}ok\r\n");
    let pos = bad.windows(3).position(|w| w == b"\x01ok").unwrap();
    bad[pos] = 0xff; // not UTF-8
    assert_eq!(udp_ask(&c, d.udp, &bad).map(|r| status(&r)), Some(400));
    let big = invite(
        "bad-2",
        "+31201234568",
        &format!("X-Pad: {}\r\n", "x".repeat(1200)),
    );
    assert_eq!(udp_ask(&c, d.udp, &big).map(|r| status(&r)), Some(513));
    let twice = invite(
        "bad-3",
        "+31201234568",
        "From: <sip:+31201234567@x>;tag=2\r\n",
    );
    assert_eq!(udp_ask(&c, d.udp, &twice).map(|r| status(&r)), Some(400));
    // Garbage: dropped; the daemon still answers afterwards.
    c.send_to(b"\x00\x01garbage\r\n\r\n", d.udp).unwrap();
    assert_eq!(
        udp_ask(&c, d.udp, &invite("bad-4", "+31201234568", "")).map(|r| status(&r)),
        Some(302)
    );
}

#[test]
fn tcp_streams_pipelining_partial_reads_and_keepalive() {
    let d = Daemon::start("tcp", "");
    let mut s = tcp_connect(d.tcp);
    // Two INVITEs in one write, with CRLFs between them.
    let mut two = invite("tcp-1", "+31201234568", "");
    two.extend_from_slice(b"\r\n");
    two.extend_from_slice(&invite("tcp-2", "+31201234567", ""));
    tcp_send(&mut s, &two);
    assert_eq!(status(&tcp_read_response(&mut s).unwrap()), 302);
    assert_eq!(status(&tcp_read_response(&mut s).unwrap()), 608);
    // One byte at a time.
    for b in invite("tcp-3", "+31201234568", "") {
        tcp_send(&mut s, &[b]);
    }
    let r = tcp_read_response(&mut s).unwrap();
    assert_eq!((status(&r), header(&r, "Call-ID")), (302, Some("tcp-3")));
    // RFC 5626 keep-alive: CRLFCRLF ping, CRLF pong.
    tcp_send(&mut s, b"\r\n\r\n");
    let mut pong = [0u8; 2];
    s.read_exact(&mut pong).unwrap();
    assert_eq!(&pong, b"\r\n");
    // Without Content-Length over TCP: 400, then the connection closes.
    let no_cl = String::from_utf8(invite("tcp-4", "+31201234568", ""))
        .unwrap()
        .replace("Content-Length: 0\r\n", "");
    tcp_send(&mut s, no_cl.as_bytes());
    assert_eq!(status(&tcp_read_response(&mut s).unwrap()), 400);
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).ok(), Some(0));
}

#[test]
fn tcp_connection_limit_and_idle_timeout() {
    let d = Daemon::start(
        "tcp-limits",
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\ntcp_max_connections = 1\ntcp_idle_timeout_secs = 1\n",
    );
    let mut first = tcp_connect(d.tcp);
    tcp_send(&mut first, &options("lim-1"));
    assert_eq!(status(&tcp_read_response(&mut first).unwrap()), 200);
    let mut second = tcp_connect(d.tcp);
    let mut buf = Vec::new();
    assert_eq!(
        second.read_to_end(&mut buf).ok(),
        Some(0),
        "over the limit: closed at once"
    );
    // The first, left idle, is closed by the daemon after a second.
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        first.read_to_end(&mut buf).ok(),
        Some(0),
        "idle connection closed"
    );
}

#[test]
fn ipv6_udp_and_tcp() {
    let d = Daemon::start("ipv6", "");
    let c = udp_client("[::1]:0");
    let msg = String::from_utf8(invite("v6-1", "+31201234567", ""))
        .unwrap()
        .replace("SIP/2.0/UDP 127.0.0.1:5099", "SIP/2.0/UDP [::1]:5099");
    let r = udp_ask(&c, d.udp6.expect("an IPv6 UDP listener"), msg.as_bytes()).unwrap();
    assert_eq!(status(&r), 608, "{r}");
    let mut s = tcp_connect(d.tcp6.expect("an IPv6 TCP listener"));
    tcp_send(&mut s, &options("v6-2"));
    assert_eq!(status(&tcp_read_response(&mut s).unwrap()), 200);
}

#[test]
fn json_log_lines_and_masked_callers() {
    let d = Daemon::start_with(
        "json",
        "[log]\nmask_caller = true\n",
        &["--log-format", "json"],
    );
    let c = udp_client("127.0.0.1:0");
    udp_ask(&c, d.udp, &invite("json-1", "+31201234567", "")).unwrap();
    let line = d.noc_line("json-1");
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(v["message"], "call");
    assert_eq!(v["verdict"], "reject");
    assert_eq!(v["code"], 608);
    assert_eq!(v["reasons"], "blocklist:scam-origins");
    assert_eq!(v["caller"], "+312012*****");
    assert_eq!(v["peer"], "dom");
    assert_eq!(v["lists"], "scam-origins@1");
    assert!(v["latency_us"].is_u64());
}

#[test]
fn sigterm_stops_gracefully() {
    let mut d = Daemon::start("sigterm", "");
    d.signal("TERM");
    let status = d.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        d.stdout
            .wait_for(|l| l.contains("callscreen stopped"))
            .is_some()
    );
}

#[test]
fn a_malformed_ack_is_dropped_not_answered() {
    let d = Daemon::start("bad-ack", "");
    let c = udp_client("127.0.0.1:0");
    let ack = String::from_utf8(invite("ba-1", "+31201234568", ""))
        .unwrap()
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace("Call-ID: ba-1\r\n", "");
    c.send_to(ack.as_bytes(), d.udp).unwrap();
    let r = udp_ask(&c, d.udp, &options("ba-2")).unwrap();
    assert_eq!(
        header(&r, "Call-ID"),
        Some("ba-2"),
        "the ACK was answered: {r}"
    );
}

/// Bytes outside RFC 3261's URI grammar (§25.1: they must be escaped) in
/// the Request-URI, From, To, Contact or P-Asserted-Identity: 400, for
/// INVITE and OPTIONS alike, and the answer carries none of them raw. A
/// UTF-8 display name is no URI and stays fine.
#[test]
fn uri_bytes_outside_the_grammar_get_400_and_are_never_echoed() {
    let d = Daemon::start("uri-bytes", "");
    let c = udp_client("127.0.0.1:0");
    let base = invite("uri-ok", "+31201234568", "");
    // The INVITE of `id` with the first `from` replaced by `to` (raw bytes).
    let with = |id: &str, from: &[u8], to: &[u8]| -> Vec<u8> {
        let msg = invite(id, "+31201234568", "");
        let at = msg
            .windows(from.len())
            .position(|w| w == from)
            .unwrap_or_else(|| panic!("{id}: nothing to replace"));
        [&msg[..at], to, &msg[at + from.len()..]].concat()
    };
    let ask = |msg: &[u8]| -> Vec<u8> {
        c.send_to(msg, d.udp).unwrap();
        let mut buf = vec![0u8; 65536];
        let n = c.recv(&mut buf).expect("an answer");
        buf.truncate(n);
        buf
    };
    let cases: [(&str, &[u8], &[u8]); 6] = [
        (
            "ruri-ff",
            b"INVITE sip:+31104567890@",
            b"INVITE sip:+3110\xff4567890@",
        ),
        (
            "ruri-c328",
            b"INVITE sip:+31104567890@",
            b"INVITE sip:\xc3\x28@",
        ),
        (
            "from-utf8",
            b"<sip:+31201234568@",
            "<sip:j\u{fc}rgen@".as_bytes(),
        ),
        (
            "to-space",
            b"To: <sip:+31104567890@",
            b"To: <sip:+3110 4567890@",
        ),
        (
            "pai",
            b"CSeq: 1 INVITE\r\n",
            b"CSeq: 1 INVITE\r\nP-Asserted-Identity: <sip:+3120\xff1234568@carrier.example>\r\n",
        ),
        (
            "contact",
            b"CSeq: 1 INVITE\r\n",
            b"CSeq: 1 INVITE\r\nContact: <sip:caller\x7f@192.0.2.7>\r\n",
        ),
    ];
    for (id, from, to) in cases {
        let msg = with(id, from, to);
        assert_ne!(
            msg,
            invite(id, "+31201234568", ""),
            "{id}: the case was not built"
        );
        let r = ask(&msg);
        let text = String::from_utf8_lossy(&r);
        assert_eq!(status(&text), 400, "{id}: {text}");
        assert!(
            r.iter()
                .all(|&b| (0x20..0x7f).contains(&b) || b == b'\r' || b == b'\n'),
            "{id}: raw bytes echoed: {text}"
        );
    }
    // OPTIONS to a Request-URI with a raw byte: 400, not 200.
    let opts = String::from_utf8(options("uri-opt")).unwrap();
    let mut bad = opts
        .replacen("OPTIONS sip:cs.example", "OPTIONS sip:cs\u{0}", 1)
        .into_bytes();
    let p = bad.iter().position(|&b| b == 0).unwrap();
    bad[p] = 0xff;
    let r = ask(&bad);
    assert_eq!(status(&String::from_utf8_lossy(&r)), 400);
    // A UTF-8 display name is fine.
    let ok = String::from_utf8(base)
        .unwrap()
        .replace("From: \"Caller\"", "From: \"J\u{fc}rgen\"");
    let r = ask(ok.as_bytes());
    assert_eq!(status(&String::from_utf8_lossy(&r)), 302);
    // Nothing of the refused ones was screened.
    assert!(
        d.stdout
            .all()
            .iter()
            .all(|l| !l.contains("call_id=ruri-ff "))
    );
}

/// RFC 3261 §17.2.3 matches a request to a transaction on its top Via's
/// branch and sent-by (and callscreen on its source: the answer goes
/// there); §8.2.2.2 answers a request that shares a transaction's Call-ID,
/// From-tag and CSeq without being part of it 482. A blocklisted caller
/// that copies a clean call's identifiers gets neither that call's 302
/// nor a screening of its own.
#[test]
fn a_request_with_a_calls_ids_but_not_its_transaction_gets_482_not_that_calls_answer() {
    let d = Daemon::start("merged", "");
    let sbc = udp_client("127.0.0.1:0");
    let clean = invite("mg-1", "+31201234568", "");
    let answer = udp_ask(&sbc, d.udp, &clean).unwrap();
    assert_eq!(status(&answer), 302, "{answer}");
    // The same Call-ID, From-tag, branch and CSeq, a blocklisted caller,
    // from another peer's address.
    let blocked = String::from_utf8(invite("mg-1", "+31201234567", "")).unwrap();
    let direct = udp_client("127.0.0.2:0");
    let r = udp_ask(&direct, d.udp, blocked.as_bytes()).unwrap();
    assert_eq!(status(&r), 482, "{r}");
    assert!(header(&r, "Contact").is_none(), "{r}");
    // From the SBC's own address: another branch, or another sent-by.
    let other_branch = blocked.replace("z9hG4bK-mg-1", "z9hG4bK-mg-1x");
    let r = udp_ask(&sbc, d.udp, other_branch.as_bytes()).unwrap();
    assert_eq!(status(&r), 482, "{r}");
    let other_sent_by = blocked.replace("127.0.0.1:5099", "127.0.0.1:5098");
    let r = udp_ask(&sbc, d.udp, other_sent_by.as_bytes()).unwrap();
    assert_eq!(status(&r), 482, "{r}");
    // The clean call's retransmission still gets its answer, byte for byte;
    // from another port of the same address too (a client may send it
    // from another socket).
    assert_eq!(udp_ask(&sbc, d.udp, &clean).unwrap(), answer);
    let sbc2 = udp_client("127.0.0.1:0");
    assert_eq!(udp_ask(&sbc2, d.udp, &clean).unwrap(), answer);
    // A new CSeq is a new transaction: screened (and here rejected).
    let next = blocked.replace("CSeq: 1 INVITE", "CSeq: 2 INVITE");
    let r = udp_ask(&direct, d.udp, next.as_bytes()).unwrap();
    assert_eq!(status(&r), 608, "{r}");
    // One NOC line for each screened transaction, none for the 482s.
    udp_ask(&sbc, d.udp, &invite("mg-probe", "+31201234568", "")).unwrap();
    d.noc_line("mg-probe");
    let lines: Vec<String> = d
        .stdout
        .all()
        .into_iter()
        .filter(|l| l.contains("call_id=mg-1 "))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].contains("verdict=allow code=302"), "{lines:?}");
    assert!(lines[1].contains("verdict=reject code=608"), "{lines:?}");
}

/// Over a host name, RFC 3261 §19.1.4 compares sent-by case-blind: a
/// retransmission whose sent-by differs only in case is the same
/// transaction.
#[test]
fn a_sent_by_host_name_is_compared_case_blind() {
    let d = Daemon::start("merged-case", "");
    let sbc = udp_client("127.0.0.1:0");
    let clean = String::from_utf8(invite("mc-1", "+31201234568", ""))
        .unwrap()
        .replace("UDP 127.0.0.1:5099", "UDP sbc.example:5099");
    let answer = udp_ask(&sbc, d.udp, clean.as_bytes()).unwrap();
    assert_eq!(status(&answer), 302, "{answer}");
    let again = clean.replace("sbc.example", "SBC.Example");
    let r = udp_ask(&sbc, d.udp, again.as_bytes()).unwrap();
    assert_eq!(status(&r), 302, "{r}");
    assert_eq!(header(&r, "To"), header(&answer, "To"));
}

/// A branch without RFC 3261's `z9hG4bK` cookie is matched by RFC 2543's
/// rule (§17.2.3): the Request-URI and the whole top Via, besides Call-ID,
/// From-tag and CSeq.
#[test]
fn an_rfc_2543_branch_is_matched_on_the_request_uri_and_the_whole_via() {
    let d = Daemon::start("merged-2543", "");
    let sbc = udp_client("127.0.0.1:0");
    let old = String::from_utf8(invite("m2-1", "+31201234568", ""))
        .unwrap()
        .replace("branch=z9hG4bK-m2-1", "branch=old-m2-1");
    let answer = udp_ask(&sbc, d.udp, old.as_bytes()).unwrap();
    assert_eq!(status(&answer), 302, "{answer}");
    assert_eq!(udp_ask(&sbc, d.udp, old.as_bytes()).unwrap(), answer);
    let other_uri = old.replace(
        "INVITE sip:+31104567890@cs.example",
        "INVITE sip:+31104567891@cs.example",
    );
    let r = udp_ask(&sbc, d.udp, other_uri.as_bytes()).unwrap();
    assert_eq!(status(&r), 482, "{r}");
    let other_via = old.replace(";rport", ";rport;x=1");
    let r = udp_ask(&sbc, d.udp, other_via.as_bytes()).unwrap();
    assert_eq!(status(&r), 482, "{r}");
}
