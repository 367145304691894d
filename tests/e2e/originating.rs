//! Calls the operator's own subscribers make, through the real daemon over
//! UDP and TCP: a fake helpdesk dialled in any form is sent to the
//! announcement service (RFC 4458 target and cause, History-Info); the
//! subscriber who insists is connected once with callscreen's token, a
//! forged, expired or misplaced token is warned again; a listed number
//! called from outside, and an emergency call, pass; the caller ID a
//! subscriber presents is screened; proxy mode forwards a warned call (and
//! its CANCEL) to the announcement service.

use std::net::{SocketAddr, UdpSocket};

use crate::support::*;
use callscreen::keys::TokenKey;

const KEY: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// The test config's dialled-number lists, protected company, originating
/// trunks and `[warn]`; `sip` and `warn_uri` vary.
fn start(name: &str, sip: &str, warn_uri: &str, proxy: &str) -> Daemon {
    let dir = temp_dir(name);
    std::fs::write(
        dir.join("fhd.txt"),
        "# callscreen list v1 name=fraudehelpdesk version=4\n\
         +31202621234,fake-microsoft-helpdesk,FHD-2026-0101\n\
         +4420380655*,fake-bank-helpdesk\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("protected.toml"),
        "name = \"protected\"\nversion = 1\n\n[[company]]\nname = \"ING\"\nbrands = [\"ING\"]\n\
         numbers = [\"+3120228*\"]\ninbound_only = [\"+31202288888\"]\n",
    )
    .unwrap();
    std::fs::write(dir.join("warn.key"), KEY).unwrap();
    let extra = format!(
        r#"{sip}
[[lists]]
name = "fraudehelpdesk"
role = "fake-helpdesk"
file = "fhd.txt"

[[lists]]
name = "protected"
role = "protected"
file = "protected.toml"

[[peers]]
name = "subs"
trunk_ids = ["subs"]
scope = "domestic"
pai_trusted = true
direction = "originating"

[[peers]]
name = "annc"
trunk_ids = ["annc"]
scope = "domestic"
pai_trusted = true
direction = "originating"

[warn]
announcement = "{warn_uri}"
peer = "annc"
token_key_file = "warn.key"

{proxy}
"#
    );
    let cfg = config(&dir, &extra);
    Daemon::start_config(dir, cfg, &[])
}

const SIP: &str = "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n";

/// An INVITE to `ruri` from `from` on trunk `trunk`.
fn call(call_id: &str, from: &str, ruri: &str, trunk: &str, via: &str) -> Vec<u8> {
    format!(
        "INVITE {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/{via} 127.0.0.1:5099;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{from}@subs.example;user=phone>;tag=ft-{call_id}\r\n\
         To: <{ruri}>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         X-Ingress-Trunk: {trunk}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// The `target` a warned call's Contact carries, unescaped.
fn target_of(contact: &str) -> String {
    let t = contact
        .split(";target=")
        .nth(1)
        .and_then(|r| r.split([';', '?', '>']).next())
        .unwrap_or_else(|| panic!("no target in {contact}"));
    t.replace("%3B", ";").replace("%3D", "=")
}

#[test]
fn a_fake_helpdesk_dialled_in_any_form_is_sent_to_the_announcement_service() {
    let d = start("orig-forms", SIP, "sip:warn@192.0.2.50:5062", "");
    let c = udp_client("127.0.0.1:0");
    for (i, ruri) in [
        "sip:0202621234@cs.example",
        "sip:+31202621234@cs.example;user=phone",
        "sip:0031202621234@cs.example",
        "sip:020-262-1234@cs.example;user=phone",
        "sip:00442038065512@cs.example",
    ]
    .iter()
    .enumerate()
    {
        let id = format!("fhd-{i}");
        let r = udp_ask(&c, d.udp, &call(&id, "+31612345678", ruri, "subs", "UDP")).unwrap();
        assert_eq!(status(&r), 302, "{ruri}: {r}");
        let contact = header(&r, "Contact").unwrap();
        assert!(
            contact.starts_with("<sip:warn@192.0.2.50:5062;target=+"),
            "{ruri}: {contact}"
        );
        assert!(contact.contains(";cause=302?History-Info="), "{contact}");
        let target = target_of(contact);
        let number = if ruri.contains("0044") {
            "+442038065512"
        } else {
            "+31202621234"
        };
        assert!(target.starts_with(&format!("{number};cs=")), "{target}");
        assert_eq!(
            header(&r, "X-Callscreen"),
            Some("callee:fake-helpdesk:fraudehelpdesk")
        );
        let line = d.noc_line(&id);
        assert!(
            line.contains("verdict=warn code=302 reasons=callee:fake-helpdesk:fraudehelpdesk")
                && line.contains("direction=originating"),
            "{line}"
        );
    }
    // Over TCP too.
    let mut s = tcp_connect(d.tcp);
    tcp_send(
        &mut s,
        &call(
            "fhd-tcp",
            "+31612345678",
            "sip:0202621234@cs.example",
            "subs",
            "TCP",
        ),
    );
    let r = tcp_read_response(&mut s).unwrap();
    assert_eq!(status(&r), 302, "{r}");
    assert!(header(&r, "Contact").unwrap().contains(";target="), "{r}");
}

#[test]
fn the_subscriber_who_insists_is_connected_once_and_a_bad_token_is_warned_again() {
    let d = start("orig-insist", SIP, "sip:warn@192.0.2.50:5062", "");
    let c = udp_client("127.0.0.1:0");
    let ruri = "sip:0202621234@cs.example";
    let r = udp_ask(&c, d.udp, &call("w-1", "+31612345678", ruri, "subs", "UDP")).unwrap();
    let target = target_of(header(&r, "Contact").unwrap());
    let back = |id: &str, target: &str, from: &str, trunk: &str| {
        let ruri = format!("sip:{target}@cs.example;user=phone");
        udp_ask(&c, d.udp, &call(id, from, &ruri, trunk, "UDP")).unwrap()
    };

    // The announcement service dials target back: through, without the token.
    let r = back("w-2", &target, "+31612345678", "annc");
    assert_eq!(status(&r), 302, "{r}");
    assert_eq!(
        header(&r, "Contact"),
        Some("<sip:+31202621234@192.0.2.10:5060;user=phone>")
    );
    assert!(header(&r, "X-Callscreen").is_none(), "{r}");
    let line = d.noc_line("w-2");
    assert!(
        line.contains("verdict=allow code=302") && line.contains("callee:warned-insisted"),
        "{line}"
    );

    // A forged token, an expired one, one for another caller, and the real
    // one from the subscriber's own trunk: warned again.
    let (number, token) = target.split_once(";cs=").unwrap();
    let mut forged = token.to_string();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let key = TokenKey::from_hex(KEY).unwrap();
    let expired = key.mint(number, "+31612345678", 1_000);
    for (id, t, from, trunk) in [
        (
            "w-forged",
            format!("{number};cs={forged}"),
            "+31612345678",
            "annc",
        ),
        (
            "w-expired",
            format!("{number};cs={expired}"),
            "+31612345678",
            "annc",
        ),
        ("w-other-caller", target.clone(), "+31612345679", "annc"),
        ("w-own-trunk", target.clone(), "+31612345678", "subs"),
    ] {
        let r = back(id, &t, from, trunk);
        assert_eq!(status(&r), 302, "{id}: {r}");
        assert!(
            header(&r, "Contact")
                .unwrap()
                .starts_with("<sip:warn@192.0.2.50"),
            "{id}: {r}"
        );
        assert!(d.noc_line(id).contains("verdict=warn"), "{id}");
    }
}

#[test]
fn calls_from_outside_and_emergency_calls_are_not_screened_for_the_dialled_number() {
    let d = start("orig-pass", SIP, "sip:warn@192.0.2.50:5062", "");
    let c = udp_client("127.0.0.1:0");
    // A listed number called by someone on a terminating trunk.
    let r = udp_ask(
        &c,
        d.udp,
        &call(
            "t-1",
            "+31612345678",
            "sip:0202621234@cs.example",
            "dom",
            "UDP",
        ),
    )
    .unwrap();
    assert_eq!(status(&r), 302);
    assert_eq!(
        header(&r, "Contact"),
        Some("<sip:0202621234@192.0.2.10:5060>")
    );
    assert!(
        d.noc_line("t-1")
            .contains("verdict=allow code=302 reasons=-")
    );
    assert!(d.noc_line("t-1").contains("direction=terminating"));
    // An emergency number dialled by a subscriber whose caller ID is listed.
    let r = udp_ask(
        &c,
        d.udp,
        &call("sos-1", "+31201234567", "sip:112@cs.example", "subs", "UDP"),
    )
    .unwrap();
    assert_eq!(status(&r), 302);
    assert!(header(&r, "X-Callscreen").is_none());
    assert!(
        d.noc_line("sos-1")
            .contains("verdict=allow code=302 reasons=emergency")
    );
}

#[test]
fn the_caller_id_a_subscriber_presents_is_screened() {
    let d = start("orig-cli", SIP, "sip:warn@192.0.2.50:5062", "");
    let c = udp_client("127.0.0.1:0");
    let r = udp_ask(
        &c,
        d.udp,
        &call(
            "cli-bank",
            "+31202288888",
            "sip:0612345678@cs.example",
            "subs",
            "UDP",
        ),
    )
    .unwrap();
    assert_eq!(status(&r), 608, "a bank's inbound-only number: {r}");
    assert!(d.noc_line("cli-bank").contains("reasons=spoof:dno"));
    let r = udp_ask(
        &c,
        d.udp,
        &call(
            "cli-own",
            "+31612345678",
            "sip:0612345678@cs.example",
            "subs",
            "UDP",
        ),
    )
    .unwrap();
    assert_eq!(status(&r), 302, "its own number: {r}");
    assert!(header(&r, "X-Callscreen").is_none());
}

fn recv(sock: &UdpSocket) -> String {
    let mut buf = vec![0u8; 65536];
    let (n, _) = sock.recv_from(&mut buf).expect("a forwarded request");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn proxy_mode_forwards_a_warned_call_and_its_cancel_to_the_announcement_service() {
    let hop = UdpSocket::bind("127.0.0.1:0").unwrap();
    let annc = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&hop, &annc] {
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
    }
    let hop_addr: SocketAddr = hop.local_addr().unwrap();
    let annc_addr: SocketAddr = annc.local_addr().unwrap();
    let sip = SIP.replace("udp_threads = 1\n", "udp_threads = 1\nmode = \"proxy\"\n");
    let proxy = format!("[proxy]\nnext_hops = [\"{hop_addr}\"]\n");
    let d = start("orig-proxy", &sip, &format!("sip:warn@{annc_addr}"), &proxy);
    let c = udp_client("127.0.0.1:0");
    let invite = call(
        "p-1",
        "+31612345678",
        "sip:0202621234@cs.example",
        "subs",
        "UDP",
    );
    c.send_to(&invite, d.udp).unwrap();
    let fwd = recv(&annc);
    let first = fwd.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("INVITE sip:warn@{annc_addr};target="))
            && first.contains(";cause=302 SIP/2.0"),
        "{first}"
    );
    assert!(
        header(&fwd, "History-Info")
            .unwrap()
            .starts_with("<sip:0202621234@cs.example>;index=1,<sip:warn@"),
        "{fwd}"
    );
    assert_eq!(
        header(&fwd, "X-Callscreen"),
        Some("callee:fake-helpdesk:fraudehelpdesk")
    );
    assert!(header(&fwd, "Via").unwrap().contains("branch=z9hG4bK-csf"));
    assert!(d.noc_line("p-1").contains("verdict=warn code=0"));

    // Its CANCEL follows it there, with the same Request-URI (RFC 3261 §9.1).
    let cancel = String::from_utf8(invite)
        .unwrap()
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    c.send_to(cancel.as_bytes(), d.udp).unwrap();
    let fwd_cancel = recv(&annc);
    assert_eq!(
        fwd_cancel.lines().next().unwrap(),
        first.replacen("INVITE", "CANCEL", 1)
    );

    // The insisting call goes to the next hop, without the token.
    let target = target_of(first);
    let ruri = format!("sip:{target}@cs.example;user=phone");
    c.send_to(&call("p-2", "+31612345678", &ruri, "annc", "UDP"), d.udp)
        .unwrap();
    let fwd = recv(&hop);
    assert_eq!(
        fwd.lines().next().unwrap(),
        "INVITE sip:+31202621234@cs.example;user=phone SIP/2.0"
    );
    assert!(d.noc_line("p-2").contains("callee:warned-insisted"));
}
