//! Proxy mode: the real daemon between a UAC socket and a next-hop (UAS)
//! socket on loopback, over UDP and TCP. Each test waits for the messages
//! themselves; "nothing arrived" is shown by a later message arriving first
//! (one receive thread keeps the order).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};

use crate::support;
use crate::support::*;

/// The next hop: a UDP socket and a TCP listener on the same loopback port.
struct Uas {
    udp: UdpSocket,
    tcp: TcpListener,
    addr: SocketAddr,
}

impl Uas {
    fn new() -> Uas {
        for _ in 0..50 {
            let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = udp.local_addr().unwrap();
            if let Ok(tcp) = TcpListener::bind(addr) {
                udp.set_read_timeout(Some(TIMEOUT)).unwrap();
                return Uas { udp, tcp, addr };
            }
        }
        panic!("no free port pair");
    }

    /// The next request or response over UDP, and where it came from.
    fn recv(&self) -> (String, SocketAddr) {
        let mut buf = vec![0u8; 65536];
        let (n, from) = self
            .udp
            .recv_from(&mut buf)
            .expect("a message at the next hop");
        (String::from_utf8_lossy(&buf[..n]).into_owned(), from)
    }

    /// Answers `req` over UDP to callscreen's Via (sent-by).
    fn answer(&self, req: &str, code: u16, reason: &str, extra: &str) {
        let to = top_via_addr(req);
        self.udp
            .send_to(response(req, code, reason, extra).as_bytes(), to)
            .unwrap();
    }
}

/// The sent-by of the top Via.
fn top_via_addr(msg: &str) -> SocketAddr {
    let via = header(msg, "Via").expect("a Via");
    let sent_by = via
        .split(';')
        .next()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap();
    sent_by.parse().expect("an IP:port sent-by")
}

/// A response to `req` as a UAS builds it (RFC 3261 §8.2.6).
fn response(req: &str, code: u16, reason: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for l in req.lines() {
        let name = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if ["via", "from", "call-id", "cseq"].contains(&name.as_str()) {
            out.push_str(l);
            out.push_str("\r\n");
        }
        if name == "to" {
            out.push_str(l);
            if !l.contains("tag=") {
                out.push_str(";tag=uas1");
            }
            out.push_str("\r\n");
        }
    }
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

fn proxy_daemon(name: &str, hops: &str, extra: &str) -> Daemon {
    Daemon::start(
        name,
        &format!(
            "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
             [proxy]\nnext_hops = [{hops}]\n{extra}"
        ),
    )
}

fn one_hop(name: &str, uas: &Uas) -> Daemon {
    proxy_daemon(name, &format!("\"sip:{}\"", uas.addr), "")
}

fn recv_udp(s: &UdpSocket) -> String {
    let mut buf = vec![0u8; 65536];
    let (n, _) = s.recv_from(&mut buf).expect("a message at the UAC");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn headers<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .collect()
}

fn param<'a>(v: &'a str, name: &str) -> Option<&'a str> {
    v.split(';').skip(1).find_map(|p| {
        let (n, val) = p.split_once('=').unwrap_or((p, ""));
        n.trim().eq_ignore_ascii_case(name).then_some(val.trim())
    })
}

/// A request in the dialog of `invite` (same Call-ID, From; `to` as given).
fn in_dialog(method: &str, call_id: &str, branch: &str, cseq: u32, to_tag: &str) -> Vec<u8> {
    format!(
        "{method} sip:+31104567890@cs.example;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5099;branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:+31201234568@carrier.example;user=phone>;tag=ft-{call_id}\r\n\
         To: <sip:+31104567890@cs.example>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn a_clean_call_is_forwarded_and_completes() {
    let uas = Uas::new();
    let d = one_hop("p-clean", &uas);
    let uac = udp_client("127.0.0.1:0");
    uac.send_to(&invite("pc-1", "+31201234568", ""), d.udp)
        .unwrap();
    let (inv, from) = uas.recv();
    assert!(
        inv.starts_with("INVITE sip:+31104567890@cs.example;user=phone SIP/2.0\r\n"),
        "{inv}"
    );
    assert_eq!(from, d.udp, "forwarded from callscreen's UDP socket");
    let vias = headers(&inv, "Via");
    assert_eq!(vias.len(), 2, "{inv}");
    assert!(
        vias[0].starts_with(&format!("SIP/2.0/UDP {};branch=z9hG4bK-csf", d.udp)),
        "callscreen's Via: {inv}"
    );
    let uac_port = uac.local_addr().unwrap().port();
    assert_eq!(
        vias[1],
        format!(
            "SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-pc-1;received=127.0.0.1;rport={uac_port}"
        ),
        "the caller's Via, annotated for the way back (RFC 3581)"
    );
    assert_eq!(header(&inv, "Max-Forwards"), Some("69"));
    assert!(header(&inv, "X-Callscreen").is_none(), "{inv}");
    assert_eq!(header(&inv, "Content-Length"), Some("0"));
    // A retransmission is forwarded again on the same branch (the next hop's
    // transaction absorbs it), with no second NOC line.
    uac.send_to(&invite("pc-1", "+31201234568", ""), d.udp)
        .unwrap();
    let (again, _) = uas.recv();
    assert_eq!(headers(&again, "Via")[0], vias[0], "{again}");
    let line = d.noc_line("pc-1");
    assert!(
        line.contains("verdict=allow code=0 reasons=- caller=+31201234568"),
        "{line}"
    );
    // 180 and 200 come back without callscreen's Via, to the caller's rport.
    uas.answer(&inv, 180, "Ringing", "");
    let r = recv_udp(&uac);
    assert_eq!(status(&r), 180, "{r}");
    assert_eq!(headers(&r, "Via").len(), 1, "{r}");
    assert!(header(&r, "Via").unwrap().contains("branch=z9hG4bK-pc-1"));
    uas.answer(&inv, 200, "OK", "Contact: <sip:uas@127.0.0.1>\r\n");
    assert_eq!(status(&recv_udp(&uac)), 200);
    // ACK for the 2xx (a new branch) and BYE are forwarded too.
    uac.send_to(
        &in_dialog("ACK", "pc-1", "z9hG4bK-pc-1-ack", 1, ";tag=uas1"),
        d.udp,
    )
    .unwrap();
    let (ack, _) = uas.recv();
    assert!(ack.starts_with("ACK "), "{ack}");
    let ack_branch = param(header(&ack, "Via").unwrap(), "branch")
        .unwrap()
        .to_string();
    assert_ne!(
        Some(ack_branch.as_str()),
        param(vias[0], "branch"),
        "ACK for a 2xx: another transaction"
    );
    uac.send_to(
        &in_dialog("BYE", "pc-1", "z9hG4bK-pc-1-bye", 2, ";tag=uas1"),
        d.udp,
    )
    .unwrap();
    let (bye, _) = uas.recv();
    assert!(bye.starts_with("BYE "), "{bye}");
    uas.answer(&bye, 200, "OK", "");
    let r = recv_udp(&uac);
    assert_eq!(status(&r), 200);
    assert!(header(&r, "CSeq").unwrap().ends_with("BYE"));
    // One NOC line per call: the in-dialog requests are not screened.
    assert_eq!(
        d.stdout
            .all()
            .iter()
            .filter(|l| l.contains("call_id=pc-1 "))
            .count(),
        1
    );
}

#[test]
fn tags_are_added_once_and_untrusted_headers_stripped() {
    let uas = Uas::new();
    let d = one_hop("p-tags", &uas);
    let uac = udp_client("127.0.0.1:0");
    // From the international trunk (not pai_trusted), with a forged callscreen
    // header, a PAI, a verstat and a display name already prefixed.
    let extra = "X-Ingress-Trunk: intl\r\n\
                 X-Callscreen: allowlist\r\n\
                 x-callscreen: forged\r\n\
                 P-Asserted-Identity: \"Bank\" <sip:+31201234999@bank.example>\r\n";
    let msg = String::from_utf8(invite("pt-1", "0201234568", extra))
        .unwrap()
        .replace("\"Caller\"", "\"[SCAM?] Caller\"")
        .replace(
            ";user=phone>;tag=",
            ";user=phone;verstat=TN-Validation-Passed>;tag=",
        );
    uac.send_to(msg.as_bytes(), d.udp).unwrap();
    let (inv, _) = uas.recv();
    assert_eq!(headers(&inv, "X-Callscreen"), vec!["invalid-cli"], "{inv}");
    assert_eq!(
        headers(&inv, "P-Asserted-Identity"),
        vec!["\"[SCAM?] Caller\" <sip:0201234568@carrier.example;user=phone>"],
        "the untrusted PAI is gone; ours carries the prefix once: {inv}"
    );
    assert!(!inv.contains("verstat"), "{inv}");
    assert!(
        d.noc_line("pt-1")
            .contains("verdict=tag code=0 reasons=invalid-cli")
    );

    // A clean call from the untrusted trunk: its PAI is stripped, nothing added.
    let extra = "X-Ingress-Trunk: intl\r\n\
                 P-Asserted-Identity: <sip:+31201234999@bank.example>\r\n\
                 X-Callscreen: spoof:dno\r\n";
    uac.send_to(&invite("pt-2", "+441632960001", extra), d.udp)
        .unwrap();
    let (inv, _) = uas.recv();
    assert!(header(&inv, "P-Asserted-Identity").is_none(), "{inv}");
    assert!(header(&inv, "X-Callscreen").is_none(), "{inv}");

    // A trusted peer's PAI stays; tagged, its display name gets the prefix once.
    let extra = "P-Asserted-Identity: \"[SCAM?] Premium\" <sip:+319001234567@carrier.example>\r\n";
    uac.send_to(&invite("pt-3", "+319001234567", extra), d.udp)
        .unwrap();
    let (inv, _) = uas.recv();
    assert_eq!(
        headers(&inv, "P-Asserted-Identity"),
        vec!["\"[SCAM?] Premium\" <sip:+319001234567@carrier.example>"],
        "{inv}"
    );
    assert_eq!(headers(&inv, "X-Callscreen"), vec!["cli-premium"]);
}

#[test]
fn anonymise_rewrites_from() {
    let uas = Uas::new();
    let d = proxy_daemon(
        "p-anon",
        &format!("\"sip:{}\"", uas.addr),
        "[policy.rules]\n\"cli-premium\" = \"anonymise\"\n",
    );
    let uac = udp_client("127.0.0.1:0");
    uac.send_to(&invite("pa-1", "09001234567", "Privacy: none\r\n"), d.udp)
        .unwrap();
    let (inv, _) = uas.recv();
    assert_eq!(
        header(&inv, "From"),
        Some("\"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=ft-pa-1"),
        "{inv}"
    );
    assert_eq!(headers(&inv, "Privacy"), vec!["id"]);
    assert_eq!(headers(&inv, "X-Callscreen"), vec!["cli-premium"]);
    assert!(d.noc_line("pa-1").contains("verdict=anonymise code=0"));
}

#[test]
fn max_forwards_is_decremented_and_zero_answered_483() {
    let uas = Uas::new();
    let d = one_hop("p-mf", &uas);
    let uac = udp_client("127.0.0.1:0");
    let zero = String::from_utf8(invite("pm-0", "+31201234568", ""))
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    uac.send_to(zero.as_bytes(), d.udp).unwrap();
    let r = recv_udp(&uac);
    assert_eq!(status(&r), 483, "{r}");
    let one = String::from_utf8(invite("pm-1", "+31201234568", ""))
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 1");
    uac.send_to(one.as_bytes(), d.udp).unwrap();
    let (inv, _) = uas.recv();
    assert_eq!(
        header(&inv, "Call-ID"),
        Some("pm-1"),
        "the 483'd INVITE never reached the next hop"
    );
    assert_eq!(header(&inv, "Max-Forwards"), Some("0"));
    let none = String::from_utf8(invite("pm-2", "+31201234568", ""))
        .unwrap()
        .replace("Max-Forwards: 70\r\n", "");
    uac.send_to(none.as_bytes(), d.udp).unwrap();
    let (inv, _) = uas.recv();
    assert_eq!(
        header(&inv, "Max-Forwards"),
        Some("70"),
        "added when absent (RFC 3261 §16.6)"
    );
}

#[test]
fn cancel_reaches_the_next_hop_on_the_invites_branch() {
    let uas = Uas::new();
    let d = one_hop("p-cancel", &uas);
    let uac = udp_client("127.0.0.1:0");
    uac.send_to(&invite("pk-1", "+31201234568", ""), d.udp)
        .unwrap();
    let (inv, _) = uas.recv();
    uas.answer(&inv, 180, "Ringing", "");
    assert_eq!(status(&recv_udp(&uac)), 180);
    uac.send_to(&in_dialog("CANCEL", "pk-1", "z9hG4bK-pk-1", 1, ""), d.udp)
        .unwrap();
    let (cancel, _) = uas.recv();
    assert!(cancel.starts_with("CANCEL "), "{cancel}");
    let branch = |m: &str| {
        param(header(m, "Via").unwrap(), "branch")
            .unwrap()
            .to_string()
    };
    assert_eq!(
        branch(&cancel),
        branch(&inv),
        "RFC 3261 §16.11: the same downstream transaction"
    );
    uas.answer(&cancel, 200, "OK", "");
    uas.answer(&inv, 487, "Request Terminated", "");
    let (a, b) = (recv_udp(&uac), recv_udp(&uac));
    let mut codes = [status(&a), status(&b)];
    codes.sort();
    assert_eq!(codes, [200, 487]);
    // The ACK for the 487 has the INVITE's branch: forwarded on the same one.
    uac.send_to(
        &in_dialog("ACK", "pk-1", "z9hG4bK-pk-1", 1, ";tag=uas1"),
        d.udp,
    )
    .unwrap();
    let (ack, _) = uas.recv();
    assert!(ack.starts_with("ACK "), "{ack}");
    assert_eq!(branch(&ack), branch(&inv));
}

#[test]
fn a_rejected_call_is_answered_here_and_its_ack_absorbed() {
    let uas = Uas::new();
    let d = one_hop("p-reject", &uas);
    let uac = udp_client("127.0.0.1:0");
    uac.send_to(&invite("pr-1", "+31201234567", ""), d.udp)
        .unwrap();
    let r = recv_udp(&uac);
    assert_eq!(status(&r), 608, "{r}");
    assert_eq!(
        header(&r, "Reason"),
        Some("SIP;cause=608;text=\"Network blocked\"")
    );
    assert!(
        d.noc_line("pr-1")
            .contains("verdict=reject code=608 reasons=blocklist:scam-origins")
    );
    // A retransmission gets the same answer, and no second NOC line.
    uac.send_to(&invite("pr-1", "+31201234567", ""), d.udp)
        .unwrap();
    assert_eq!(recv_udp(&uac), r);
    // A CANCEL after the rejection is answered here, not forwarded (§9.2).
    uac.send_to(&in_dialog("CANCEL", "pr-1", "z9hG4bK-pr-1", 1, ""), d.udp)
        .unwrap();
    let c = recv_udp(&uac);
    assert_eq!(status(&c), 200, "{c}");
    assert!(header(&c, "CSeq").unwrap().ends_with("CANCEL"));
    // The ACK for the 608 (its To tag is callscreen's) is absorbed...
    let to = header(&r, "To").unwrap();
    let tag = format!(";tag={}", param(to, "tag").unwrap());
    uac.send_to(&in_dialog("ACK", "pr-1", "z9hG4bK-pr-1", 1, &tag), d.udp)
        .unwrap();
    // ...so the next thing the next hop sees is the following call.
    uac.send_to(&invite("pr-2", "+31201234568", ""), d.udp)
        .unwrap();
    let (next, _) = uas.recv();
    assert!(
        next.starts_with("INVITE "),
        "the CANCEL or ACK was forwarded: {next}"
    );
    assert_eq!(header(&next, "Call-ID"), Some("pr-2"));
    assert_eq!(
        d.stdout
            .all()
            .iter()
            .filter(|l| l.contains("call_id=pr-1 "))
            .count(),
        1
    );
}

/// Reads one SIP message (headers and Content-Length body) from a stream.
fn read_message(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).expect("a message on the connection");
        out.push(b[0]);
    }
    let head = String::from_utf8_lossy(&out).into_owned();
    let len: usize = header(&head, "Content-Length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    head + &String::from_utf8_lossy(&body)
}

#[test]
fn large_requests_go_over_one_reused_tcp_connection() {
    let uas = Uas::new();
    let d = one_hop("p-large", &uas);
    let uac = udp_client("127.0.0.1:0");
    let sdp: String = (0..40)
        .map(|i| format!("a=x-filler-{i}:{}\r\n", "0".repeat(40)))
        .collect();
    let big = |call_id: &str| {
        let m = String::from_utf8(invite(
            call_id,
            "+31201234568",
            "Content-Type: application/sdp\r\n",
        ))
        .unwrap();
        m.replace(
            "Content-Length: 0\r\n\r\n",
            &format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()),
        )
    };
    assert!(big("pl-1").len() > 1300);
    uac.send_to(big("pl-1").as_bytes(), d.udp).unwrap();
    let (mut conn, _) = uas.tcp.accept().unwrap();
    conn.set_read_timeout(Some(TIMEOUT)).unwrap();
    let inv = read_message(&mut conn);
    let via = header(&inv, "Via").unwrap().to_string();
    assert!(
        via.starts_with(&format!("SIP/2.0/TCP {};", d.udp)),
        "one sent-by port for both transports: {inv}"
    );
    assert!(inv.ends_with(&sdp), "the body arrives whole");
    // The answer comes back on the connection and is relayed to the UDP caller.
    conn.write_all(response(&inv, 200, "OK", "").as_bytes())
        .unwrap();
    let r = recv_udp(&uac);
    assert_eq!(status(&r), 200, "{r}");
    assert_eq!(header(&r, "Call-ID"), Some("pl-1"));
    // The second large call reuses the connection: no new one is opened.
    uac.send_to(big("pl-2").as_bytes(), d.udp).unwrap();
    let inv2 = read_message(&mut conn);
    assert_eq!(header(&inv2, "Call-ID"), Some("pl-2"));
    uas.tcp.set_nonblocking(true).unwrap();
    assert!(uas.tcp.accept().is_err(), "a second connection was opened");
    // A small one still goes over UDP.
    uac.send_to(&invite("pl-3", "+31201234568", ""), d.udp)
        .unwrap();
    let (small, _) = uas.recv();
    assert_eq!(header(&small, "Call-ID"), Some("pl-3"));
}

#[test]
fn a_caller_over_tcp_gets_its_responses_on_its_connection() {
    let uas = Uas::new();
    let d = one_hop("p-tcp-in", &uas);
    let mut c = tcp_connect(d.tcp);
    let msg = String::from_utf8(invite("pti-1", "+31201234568", ""))
        .unwrap()
        .replace("SIP/2.0/UDP 127.0.0.1:5099", "SIP/2.0/TCP 127.0.0.1:5099");
    c.write_all(msg.as_bytes()).unwrap();
    let (inv, _) = uas.recv();
    let via = header(&inv, "Via").unwrap();
    assert!(
        param(via, "i").is_some(),
        "the connection id rides in callscreen's Via: {via}"
    );
    uas.answer(&inv, 180, "Ringing", "");
    uas.answer(&inv, 200, "OK", "");
    let r1 = read_message(&mut c);
    let r2 = read_message(&mut c);
    assert_eq!((status(&r1), status(&r2)), (180, 200), "{r1}{r2}");
}

#[test]
fn a_503_or_a_refused_connection_fails_over_to_the_next_hop() {
    let (a, b) = (Uas::new(), Uas::new());
    // A TCP hop on a port nobody listens on (the listener is dropped).
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let d = proxy_daemon(
        "p-failover",
        &format!(
            "\"sip:{};transport=tcp\", \"sip:{}\", \"sip:{}\"",
            dead, a.addr, b.addr
        ),
        "probe_interval_secs = 0\n",
    );
    let uac = udp_client("127.0.0.1:0");
    // The first call goes to the dead hop and is lost (the caller's
    // retransmission goes on to the next hop); the daemon says so at once.
    uac.send_to(&invite("pf-0", "+31201234568", ""), d.udp)
        .unwrap();
    let line = d
        .stdout
        .wait_for(|l| l.contains(&format!("next hop {dead} down")))
        .expect("the failure is logged");
    assert!(line.contains("WARN"), "{line}");
    uac.send_to(&invite("pf-1", "+31201234568", ""), d.udp)
        .unwrap();
    let (inv, _) = a.recv();
    assert_eq!(header(&inv, "Call-ID"), Some("pf-1"));
    // The second hop is overloaded: its 503 sends the next calls to the third.
    a.answer(&inv, 503, "Service Unavailable", "Retry-After: 60\r\n");
    assert_eq!(status(&recv_udp(&uac)), 503, "the 503 itself is relayed");
    uac.send_to(&invite("pf-next", "+31201234568", ""), d.udp)
        .unwrap();
    let (inv, _) = b.recv();
    assert_eq!(header(&inv, "Call-ID"), Some("pf-next"));
}

#[test]
fn a_reload_moves_calls_to_new_next_hops() {
    let (a, b) = (Uas::new(), Uas::new());
    let d = one_hop("p-reload", &a);
    let uac = udp_client("127.0.0.1:0");
    uac.send_to(&invite("prl-1", "+31201234568", ""), d.udp)
        .unwrap();
    assert_eq!(header(&a.recv().0, "Call-ID"), Some("prl-1"));
    let text = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(
        &d.config,
        text.replace(&format!("sip:{}", a.addr), &format!("sip:{}", b.addr)),
    )
    .unwrap();
    d.signal("HUP");
    d.stdout
        .wait_for(|l| l.contains("reloaded configuration"))
        .expect("a reload");
    uac.send_to(&invite("prl-2", "+31201234568", ""), d.udp)
        .unwrap();
    assert_eq!(header(&b.recv().0, "Call-ID"), Some("prl-2"));
}

/// The next INVITE at `uas`; OPTIONS probes on the way are answered 200
/// when `alive`, else ignored.
fn next_invite(uas: &Uas, alive: bool) -> String {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no INVITE at {}",
            uas.addr
        );
        let (m, _) = uas.recv();
        if m.starts_with("OPTIONS ") {
            assert!(
                header(&m, "Via").unwrap().contains("branch=z9hG4bK-csp"),
                "{m}"
            );
            if alive {
                uas.answer(&m, 200, "OK", "");
            }
            continue;
        }
        return m;
    }
}

#[test]
fn health_probes_take_a_silent_hop_out_and_bring_it_back() {
    let (a, b) = (Uas::new(), Uas::new());
    let d = proxy_daemon(
        "p-probe",
        &format!("\"sip:{}\", \"sip:{}\"", a.addr, b.addr),
        "probe_interval_secs = 1\n",
    );
    // Hop B answers every probe and hands its INVITEs over.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        loop {
            let inv = next_invite(&b, true);
            if tx.send(inv).is_err() {
                return;
            }
        }
    });
    // Hop A takes probes without answering: after a probe goes unanswered
    // for an interval, A is down and calls go to B.
    let (m, _) = a.recv();
    assert!(m.starts_with("OPTIONS "), "{m}");
    let line = d
        .stdout
        .wait_for(|l| l.contains(&format!("next hop {} down", a.addr)))
        .expect("the silent hop goes down");
    assert!(line.contains("health probe"), "{line}");
    let uac = udp_client("127.0.0.1:0");
    uac.send_to(&invite("pp-1", "+31201234568", ""), d.udp)
        .unwrap();
    let inv = rx.recv_timeout(TIMEOUT).expect("the call reaches hop B");
    assert_eq!(header(&inv, "Call-ID"), Some("pp-1"));
    // A answers its next probe: up again, calls go to it.
    loop {
        let (m, _) = a.recv();
        if m.starts_with("OPTIONS ") {
            a.answer(&m, 200, "OK", "");
            break;
        }
    }
    // The answer is processed in order with the next call (one receive thread).
    uac.send_to(&invite("pp-2", "+31201234568", ""), d.udp)
        .unwrap();
    let inv = next_invite(&a, true);
    assert_eq!(header(&inv, "Call-ID"), Some("pp-2"));
}

#[test]
fn an_emergency_call_is_forwarded_untagged_even_from_a_listed_caller() {
    let uas = Uas::new();
    let d = one_hop("p-sos", &uas);
    let uac = udp_client("127.0.0.1:0");
    let msg = String::from_utf8(invite("ps-1", "+31201234567", ""))
        .unwrap()
        .replace(
            "INVITE sip:+31104567890@cs.example",
            "INVITE sip:112@cs.example",
        );
    uac.send_to(msg.as_bytes(), d.udp).unwrap();
    let (inv, _) = uas.recv();
    assert!(inv.starts_with("INVITE sip:112@cs.example"), "{inv}");
    assert!(header(&inv, "X-Callscreen").is_none(), "{inv}");
    let line = d.noc_line("ps-1");
    assert!(line.contains("verdict=allow code=0"), "{line}");
}

#[test]
fn an_unreachable_next_hop_is_logged_once_not_per_call() {
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let d = proxy_daemon(
        "p-unreachable",
        &format!("\"sip:{dead};transport=tcp\""),
        "probe_interval_secs = 0\n",
    );
    let uac = udp_client("127.0.0.1:0");
    for i in 0..5 {
        uac.send_to(&invite(&format!("pu-{i}"), "+31201234568", ""), d.udp)
            .unwrap();
        d.noc_line(&format!("pu-{i}"));
    }
    // Once per change to down, then a count per 10 s interval.
    let summary = (0..3)
        .find_map(|_| {
            d.stdout
                .wait_for(|l| l.contains(&format!("next hop {dead}: ")) && l.contains("failure(s)"))
        })
        .expect("a periodic summary");
    assert!(summary.contains("Connection refused"), "{summary}");
    let downs = d
        .stdout
        .all()
        .iter()
        .filter(|l| l.contains(&format!("next hop {dead} down")))
        .count();
    assert_eq!(downs, 1, "{:#?}", d.stdout.all());
}

#[test]
fn an_ipv6_caller_reaches_an_ipv4_next_hop_and_hears_back() {
    let uas = Uas::new();
    let d = Daemon::start(
        "p-ipv6",
        &format!(
            "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\", \"[::1]:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
             [proxy]\nnext_hops = [\"sip:{}\"]\n",
            uas.addr
        ),
    );
    let udp6 = d.udp6.expect("an IPv6 listener");
    let uac = udp_client("[::1]:0");
    let msg = String::from_utf8(invite("p6-1", "+31201234568", ""))
        .unwrap()
        .replace("127.0.0.1:5099", "[::1]:5099");
    uac.send_to(msg.as_bytes(), udp6).unwrap();
    let (inv, from) = uas.recv();
    assert_eq!(from, d.udp, "sent from the IPv4 socket");
    let vias = headers(&inv, "Via");
    assert!(vias[1].contains(";received=::1;rport="), "{inv}");
    uas.answer(&inv, 200, "OK", "");
    let r = recv_udp(&uac);
    assert_eq!(status(&r), 200, "{r}");
}

#[test]
fn a_screening_fault_fails_open_in_both_modes() {
    // A debug build panics in screening for this Call-ID (fault injection);
    // release builds have no such hook.
    if !cfg!(debug_assertions) {
        eprintln!("skipped: fault injection exists in debug builds only");
        return;
    }
    let env = [("CALLSCREEN_TEST_PANIC_CALL_ID", "fault-1")];
    let uas = Uas::new();
    let dir = temp_dir("p-fail-open");
    let cfg = support::config(
        &dir,
        &format!(
            "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
             [proxy]\nnext_hops = [\"sip:{}\"]\n",
            uas.addr
        ),
    );
    let d = Daemon::start_env(dir, cfg, &env);
    let uac = udp_client("127.0.0.1:0");
    // A blocklisted caller would be rejected; the fault lets it through untagged.
    uac.send_to(&invite("fault-1", "+31201234567", ""), d.udp)
        .unwrap();
    let (inv, _) = uas.recv();
    assert_eq!(header(&inv, "Call-ID"), Some("fault-1"));
    assert!(header(&inv, "X-Callscreen").is_none(), "{inv}");
    let line = d.noc_line("fault-1");
    assert!(line.contains("verdict=allow code=0 reasons=-"), "{line}");
    assert!(
        d.stdout
            .all()
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("fail open")),
        "{:#?}",
        d.stdout.all()
    );
    // The next call is screened as usual.
    uac.send_to(&invite("fault-2", "+31201234567", ""), d.udp)
        .unwrap();
    assert_eq!(status(&recv_udp(&uac)), 608);

    let dir = temp_dir("r-fail-open");
    let cfg = support::config(
        &dir,
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n",
    );
    let d = Daemon::start_env(dir, cfg, &env);
    let r = udp_ask(&uac, d.udp, &invite("fault-1", "+31201234567", "")).unwrap();
    assert_eq!(status(&r), 302, "redirect mode fails open too: {r}");
    assert!(header(&r, "X-Callscreen").is_none(), "{r}");
}

#[test]
fn tcp_all_the_way_a_caller_over_tcp_to_a_tcp_next_hop() {
    let uas = Uas::new();
    let d = proxy_daemon(
        "p-tcp-tcp",
        &format!("\"sip:{};transport=tcp\"", uas.addr),
        "",
    );
    let mut c = tcp_connect(d.tcp);
    for id in ["ptt-1", "ptt-2"] {
        let msg = String::from_utf8(invite(id, "+31201234568", ""))
            .unwrap()
            .replace("SIP/2.0/UDP 127.0.0.1:5099", "SIP/2.0/TCP 127.0.0.1:5099");
        c.write_all(msg.as_bytes()).unwrap();
    }
    let (mut conn, _) = uas.tcp.accept().unwrap();
    conn.set_read_timeout(Some(TIMEOUT)).unwrap();
    for id in ["ptt-1", "ptt-2"] {
        let inv = read_message(&mut conn);
        assert_eq!(header(&inv, "Call-ID"), Some(id), "{inv}");
        assert!(
            header(&inv, "Via").unwrap().starts_with("SIP/2.0/TCP "),
            "{inv}"
        );
        conn.write_all(response(&inv, 200, "OK", "").as_bytes())
            .unwrap();
        let r = read_message(&mut c);
        assert_eq!((status(&r), header(&r, "Call-ID")), (200, Some(id)), "{r}");
    }
    uas.tcp.set_nonblocking(true).unwrap();
    assert!(uas.tcp.accept().is_err(), "one connection for both calls");
}

/// A request with a forwarded call's Call-ID, From-tag, branch and CSeq
/// from another peer's address is not that call's retransmission (RFC 3261
/// §17.2.3: callscreen knows a transaction by branch, sent-by and source):
/// it is screened on its own (a stateless proxy forwards what it is given;
/// the 482 of §8.2.2.2 is a UAS's), so a blocklisted caller is rejected.
#[test]
fn a_request_with_a_forwarded_calls_ids_from_elsewhere_is_screened_on_its_own() {
    let uas = Uas::new();
    let d = one_hop("p-merged", &uas);
    let uac = udp_client("127.0.0.1:0");
    uac.send_to(&invite("pm-1", "+31201234568", ""), d.udp)
        .unwrap();
    let (fwd, _) = uas.recv();
    assert!(fwd.starts_with("INVITE "), "{fwd}");
    let direct = udp_client("127.0.0.2:0");
    direct
        .send_to(&invite("pm-1", "+31201234567", ""), d.udp)
        .unwrap();
    let r = recv_udp(&direct);
    assert_eq!(status(&r), 608, "{r}");
    let line = d.stdout.wait_count(2, |l| l.contains("call_id=pm-1 "));
    assert!(
        line.is_some_and(|l| l.contains("verdict=reject code=608")),
        "{:?}",
        d.stdout.all()
    );
    // The first call's retransmission is still its own: forwarded again on
    // the same branch, with no third line.
    uac.send_to(&invite("pm-1", "+31201234568", ""), d.udp)
        .unwrap();
    let (again, _) = uas.recv();
    assert_eq!(header(&again, "Via"), header(&fwd, "Via"));
    uac.send_to(&invite("pm-2", "+31201234568", ""), d.udp)
        .unwrap();
    uas.recv();
    d.noc_line("pm-2");
    let lines: Vec<String> = d
        .stdout
        .all()
        .into_iter()
        .filter(|l| l.contains("call_id=pm-1 "))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[1].contains("verdict=reject code=608"), "{lines:?}");
}
