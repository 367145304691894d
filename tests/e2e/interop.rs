//! Interop with real peers from Debian's packages: SIPp as caller and callee,
//! Kamailio as the operator's SBC that follows callscreen's 302, and for
//! STIR/SHAKEN `secsipidx` and Kamailio's `secsipid` module; DuckDB (from
//! PyPI) reading the call records' Parquet segments.
//!
//! These need `sipp` (package sip-tester), `kamailio`,
//! `kamailio-tls-modules`, `kamailio-secsipid-modules` and `secsipidx`;
//! `.ci/run` installs them and runs `cargo test --test e2e interop:: -- --ignored`.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const NEEDS: &str =
    "needs sipp and kamailio (apt-get install sip-tester kamailio); .ci/run installs and runs them";

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes a scenario from a template with the placeholders filled in.
fn scenario(dir: &Path, template: &str, name: &str, fill: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(interop_dir().join(template)).unwrap();
    for (from, to) in fill {
        text = text.replace(from, to);
    }
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn sipp(args: &[&str]) -> Command {
    let mut c = Command::new("sipp");
    c.args([
        "-i",
        "127.0.0.1",
        "-m",
        "1",
        "-nostdin",
        "-timeout",
        "15s",
        "-timeout_error",
        "-max_recv_loops",
        "1000",
    ]);
    c.args(args);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

/// Runs a SIPp UAC scenario (CALLER and TRUNK filled in); true when the call succeeded.
fn uac(
    dir: &Path,
    target: &str,
    template: &str,
    fill: &[(&str, &str)],
    caller: &str,
) -> (bool, String) {
    let mut all = vec![("CALLER", caller), ("TRUNK", "dom")];
    all.extend_from_slice(fill);
    let name = format!("uac-{caller}-{}.xml", fill.first().map_or("", |f| f.1));
    uac_dialling(dir, target, template, &name, &all, "+31104567890")
}

/// Runs a SIPp UAC scenario (placeholders `fill`ed in, written as `name`)
/// that dials `service`; true when the call succeeded, and SIPp's stderr.
fn uac_dialling(
    dir: &Path,
    target: &str,
    template: &str,
    name: &str,
    fill: &[(&str, &str)],
    service: &str,
) -> (bool, String) {
    let sf = scenario(dir, template, name, fill);
    let out = sipp(&[
        target,
        "-sf",
        sf.to_str().unwrap(),
        "-s",
        service,
        "-p",
        &free_udp_port().to_string(),
    ])
    .output()
    .expect(NEEDS);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_uac(dir: &Path, target: &str, template: &str, fill: &[(&str, &str)], caller: &str) {
    let (ok, err) = uac(dir, target, template, fill, caller);
    assert!(
        ok,
        "SIPp UAC {caller} -> {target} with {template} {fill:?} failed: {err}"
    );
}

/// Whether some socket is bound to this UDP port, read from /proc/net/udp
/// (binding the port to find out would race with the peer's own bind).
fn udp_bound(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let want = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .any(|local| local.ends_with(&want))
}

/// Waits until a process has bound a UDP port.
fn wait_bound(port: u16, child: &mut Child) {
    let deadline = Instant::now() + TIMEOUT;
    while !udp_bound(port) {
        if child.try_wait().unwrap().is_some() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
            panic!("the peer exited before binding {port}: {err}");
        }
        assert!(Instant::now() < deadline, "nothing bound port {port}");
        std::thread::yield_now();
    }
}

/// A list that the test policy tags rather than rejects.
fn tag_list(dir: &Path) -> String {
    let f = dir.join("tag-me.txt");
    std::fs::write(
        &f,
        "# callscreen list v1 name=tag-me version=1\n+31201230000,suspicious\n",
    )
    .unwrap();
    format!(
        "[[lists]]\nname = \"tag-me\"\nrole = \"blocklist\"\nfile = \"{}\"\n\n[policy.rules]\n\"blocklist:tag-me\" = \"tag\"\n",
        f.display()
    )
}

#[test]
#[ignore = "needs sipp and kamailio; run by .ci/run"]
fn sipp_uac_gets_302_for_a_clean_caller_and_608_for_a_blocklisted_one() {
    let dir = temp_dir("interop-sipp");
    let d = Daemon::start("interop-sipp-d", "");
    let target = d.udp.to_string();
    run_uac(
        &dir,
        &target,
        "uac_final.xml",
        &[("EXPECTED_CODE", "302")],
        "+31201234568",
    );
    run_uac(
        &dir,
        &target,
        "uac_final.xml",
        &[("EXPECTED_CODE", "608")],
        "+31201234567",
    );
    // The converse fails: SIPp really checks the code.
    let (ok, _) = uac(
        &dir,
        &target,
        "uac_final.xml",
        &[("EXPECTED_CODE", "302")],
        "+31201234567",
    );
    assert!(!ok, "a 608 must fail a scenario that expects 302");
    // The NOC lines are written every few milliseconds: wait for them.
    logged(&d, |l| {
        l.contains("verdict=allow code=302") && l.contains("caller=+31201234568")
    });
    logged(&d, |l| {
        l.contains("verdict=reject code=608") && l.contains("caller=+31201234567")
    });
    let lines = d.stdout.all();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("verdict=allow code=302") && l.contains("caller=+31201234568")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("verdict=reject code=608") && l.contains("caller=+31201234567")),
        "{lines:#?}"
    );
}

/// A subscriber's call (an originating trunk) to a fake helpdesk, with SIPp
/// as the subscriber: warned with a 302 to the announcement service (the
/// scenario checks the Contact's target and cause); the same number dialled
/// on a terminating trunk is no dialled-number hit, and fails that check.
#[test]
#[ignore = "needs sipp and kamailio; run by .ci/run"]
fn sipp_on_a_subscriber_trunk_is_warned_before_a_fake_helpdesk() {
    let dir = temp_dir("interop-warn");
    std::fs::write(
        dir.join("fhd.txt"),
        "# callscreen list v1 name=fraudehelpdesk version=1\n+31202621234,fake-microsoft-helpdesk\n",
    )
    .unwrap();
    let extra = format!(
        "[[lists]]\nname = \"fraudehelpdesk\"\nrole = \"fake-helpdesk\"\nfile = \"{}\"\n\n\
         [[peers]]\nname = \"subs\"\ntrunk_ids = [\"subs\"]\nscope = \"domestic\"\ndirection = \"originating\"\n\n\
         [warn]\nannouncement = \"sip:warn@192.0.2.50:5062\"\n",
        dir.join("fhd.txt").display()
    );
    let d = Daemon::start("interop-warn-d", &extra);
    let target = d.udp.to_string();
    let run = |trunk: &str| {
        let fill = [("CALLER", "+31612345678"), ("TRUNK", trunk)];
        let name = format!("uac-warn-{trunk}.xml");
        uac_dialling(&dir, &target, "uac_warn.xml", &name, &fill, "0202621234")
    };
    let (ok, err) = run("subs");
    assert!(ok, "SIPp on the subscriber trunk: {err}");
    let (ok, err) = run("dom");
    assert!(
        !ok && err.contains("regexp"),
        "from a terminating trunk the call goes to the next hop, not the announcement: {err}"
    );
    // The NOC lines are written every few milliseconds: wait for them.
    logged(&d, |l| {
        l.contains("verdict=warn code=302 reasons=callee:fake-helpdesk:fraudehelpdesk")
    });
    logged(&d, |l| {
        l.contains("verdict=allow code=302 reasons=-") && l.contains("peer=dom")
    });
    let lines = d.stdout.all();
    assert!(
        lines.iter().any(|l| l
            .contains("verdict=warn code=302 reasons=callee:fake-helpdesk:fraudehelpdesk")
            && l.contains("peer=subs")
            && l.contains("direction=originating")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("verdict=allow code=302 reasons=-") && l.contains("peer=dom")),
        "{lines:#?}"
    );
}

/// Kamailio in the foreground; its workers are killed with it.
struct Kamailio {
    child: Child,
    cfg: PathBuf,
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = Command::new("pkill")
            .arg("-f")
            .arg(format!("kamailio -f {}", self.cfg.display()))
            .status();
    }
}

impl Kamailio {
    fn start(dir: &Path, sbc_port: u16, callscreen_port: u16) -> Kamailio {
        let text = std::fs::read_to_string(interop_dir().join("kamailio-sbc.cfg"))
            .unwrap()
            .replace("@CALLSCREEN_PORT@", &callscreen_port.to_string());
        Kamailio::start_text(dir, &text, sbc_port)
    }

    /// Starts Kamailio on the configuration `text` (`@SBC_PORT@` filled in
    /// here), ready when it answers OPTIONS on `sbc_port`.
    fn start_text(dir: &Path, text: &str, sbc_port: u16) -> Kamailio {
        let cfg = dir.join("kamailio.cfg");
        std::fs::write(&cfg, text.replace("@SBC_PORT@", &sbc_port.to_string())).unwrap();
        let run = dir.join("run");
        std::fs::create_dir_all(&run).unwrap();
        let child = Command::new("kamailio")
            .arg("-f")
            .arg(&cfg)
            .args(["-DD", "-E", "-m", "64", "-M", "8"])
            .arg("-Y")
            .arg(&run)
            .arg("-w")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("kamailio.log")).unwrap())
            .spawn()
            .expect(NEEDS);
        let k = Kamailio { child, cfg };
        // Ready when it answers OPTIONS.
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let deadline = Instant::now() + TIMEOUT;
        let to = format!("127.0.0.1:{sbc_port}");
        loop {
            let msg = String::from_utf8(options("kam-ready")).unwrap().replace(
                "OPTIONS sip:cs.example",
                &format!("OPTIONS sip:127.0.0.1:{sbc_port}"),
            );
            probe.send_to(msg.as_bytes(), &to).unwrap();
            let mut buf = [0u8; 4096];
            if let Ok((n, _)) = probe.recv_from(&mut buf)
                && status(&String::from_utf8_lossy(&buf[..n])) == 200
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Kamailio did not come up: {}",
                std::fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
            );
        }
        k
    }
}

#[test]
#[ignore = "needs sipp and kamailio; run by .ci/run"]
fn behind_kamailio_clean_tagged_and_rejected_calls() {
    let dir = temp_dir("interop-kamailio");
    let uas_port = free_udp_port();
    // next_hop: the SIPp UAS, where the SBC delivers screened calls.
    let extra = format!(
        "{}\n[redirect]\nnext_hop = \"127.0.0.1:{uas_port}\"\n",
        tag_list(&dir)
    );
    let d = Daemon::start("interop-kamailio-d", &extra);
    let sbc_port = free_udp_port();
    let _kam = Kamailio::start(&dir, sbc_port, d.udp.port());
    let sbc = format!("127.0.0.1:{sbc_port}");

    whole_calls(&dir, &sbc, uas_port, "kamailio");
    // A rejected call: the 608 goes back through Kamailio to the caller.
    run_uac(
        &dir,
        &sbc,
        "uac_final.xml",
        &[("EXPECTED_CODE", "608")],
        "+31201234567",
    );
    // The NOC lines are written every few milliseconds: wait for them.
    logged(&d, |l| {
        l.contains("verdict=tag") && l.contains("reasons=blocklist:tag-me")
    });
    logged(&d, |l| l.contains("verdict=reject code=608"));
    let lines = d.stdout.all();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("verdict=tag") && l.contains("reasons=blocklist:tag-me")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.contains("verdict=reject code=608")),
        "{lines:#?}"
    );
}

/// A clean and a tagged whole call (INVITE, 200, ACK, BYE, 200) from a SIPp
/// UAC to `target`, taken by a SIPp UAS on `uas_port` that checks the tags
/// on the INVITE it gets.
fn whole_calls(dir: &Path, target: &str, uas_port: u16, prefix: &str) {
    for (caller, check, label) in [
        (
            "+31201234568",
            r#"<ereg regexp="X-Callscreen" search_in="msg" check_it_inverse="true" assign_to="x"/>"#,
            "clean",
        ),
        (
            "+31201230000",
            r#"<ereg regexp="X-Callscreen: blocklist:tag-me" search_in="msg" check_it="true" assign_to="x"/>"#,
            "tagged",
        ),
    ] {
        let sf = scenario(
            dir,
            "uas_call.xml",
            &format!("uas_{prefix}_{label}.xml"),
            &[("TAG_CHECK", check)],
        );
        with_uas(uas_port, &sf, label, || {
            run_uac(dir, target, "uac_call.xml", &[], caller)
        });
    }
}

/// Runs a SIPp UAS scenario on `port` while `call` runs; asserts it completed.
fn with_uas(port: u16, sf: &Path, label: &str, call: impl FnOnce()) {
    let mut uas = sipp(&["-sf", sf.to_str().unwrap(), "-p", &port.to_string()])
        .spawn()
        .expect(NEEDS);
    wait_bound(port, &mut uas);
    call();
    let out = uas.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{label}: the UAS scenario failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
#[ignore = "needs sipp; run by .ci/run"]
fn sipp_through_the_proxy_completed_cancelled_and_rejected_calls() {
    let dir = temp_dir("interop-proxy");
    let uas_port = free_udp_port();
    let extra = format!(
        "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [proxy]\nnext_hops = [\"sip:127.0.0.1:{uas_port}\"]\n{}",
        tag_list(&dir)
    );
    let d = Daemon::start("interop-proxy-d", &extra);
    let target = d.udp.to_string();

    // Whole calls (INVITE, 180/200, ACK, BYE, 200) through callscreen.
    whole_calls(&dir, &target, uas_port, "proxy");

    // A call cancelled while it rings: the CANCEL reaches the UAS, its 487
    // reaches the caller, and the caller's ACK reaches the UAS.
    let sf = interop_dir().join("uas_cancel.xml");
    with_uas(uas_port, &sf, "cancelled", || {
        run_uac(&dir, &target, "uac_cancel.xml", &[], "+31201234568")
    });

    // A rejected call: 608 from callscreen itself; the ACK for it is absorbed.
    let next_hop = UdpSocket::bind(("127.0.0.1", uas_port)).unwrap();
    next_hop.set_read_timeout(Some(TIMEOUT)).unwrap();
    run_uac(
        &dir,
        &target,
        "uac_final.xml",
        &[("EXPECTED_CODE", "608")],
        "+31201234567",
    );
    // Neither the INVITE nor its ACK went on: the first thing the next hop
    // sees is an OPTIONS sent after them.
    let probe = String::from_utf8(options("after-reject"))
        .unwrap()
        .replace("OPTIONS sip:cs.example", "OPTIONS sip:someone@cs.example");
    let c = udp_client("127.0.0.1:0");
    c.send_to(probe.as_bytes(), d.udp).unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = next_hop
        .recv_from(&mut buf)
        .expect("the OPTIONS is forwarded");
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(header(&first, "Call-ID"), Some("after-reject"), "{first}");

    // The NOC lines are written every few milliseconds: wait for them.
    logged(&d, |l| {
        l.contains("verdict=allow code=0 reasons=- caller=+31201234568")
    });
    logged(&d, |l| {
        l.contains("verdict=tag code=0 reasons=blocklist:tag-me")
    });
    logged(&d, |l| {
        l.contains("verdict=reject code=608 reasons=blocklist:scam-origins")
    });
    let lines = d.stdout.all();
    for want in [
        "verdict=allow code=0 reasons=- caller=+31201234568",
        "verdict=tag code=0 reasons=blocklist:tag-me",
        "verdict=reject code=608 reasons=blocklist:scam-origins",
    ] {
        assert!(lines.iter().any(|l| l.contains(want)), "{want}: {lines:#?}");
    }
}

/// Waits (a few seconds at most) until the daemon has logged a line that
/// `pred` accepts; the assertions after it say what was missing.
fn logged(d: &Daemon, pred: impl Fn(&str) -> bool) -> bool {
    d.stdout.wait_for(pred).is_some()
}

use crate::sti;

/// The SBC (Kamailio) relays the caller's INVITE to callscreen over SIP over
/// TLS with mutual TLS (its certificate names it: `tls_names`); callscreen
/// verifies the SHAKEN PASSporT (made here with a fresh iat, read by SIPp
/// from an injection file; its certificate fetched from a local HTTPS
/// server) and answers 302 with the verified identity; Kamailio follows it
/// to the SIPp UAS, which checks the verstat in the P-Asserted-Identity.
#[test]
#[ignore = "needs sipp, kamailio and kamailio-tls-modules; run by .ci/run"]
fn behind_kamailio_over_mutual_tls_a_signed_call_is_verified() {
    let dir = temp_dir("interop-tls");
    sti::sip_pki(&dir);
    let pki = sti::Pki::new(&dir);
    let files = [("/sti.pem".to_string(), pki.good.chain_pem.clone())]
        .into_iter()
        .collect();
    let x5u = sti::X5uServer::start(&pki, files, Duration::ZERO);
    let uas_port = free_udp_port();
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\ntls = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         tls_cert = \"sip.pem\"\ntls_key = \"sip.key\"\ntls_client_ca = \"sip-ca.pem\"\n\
         [redirect]\nnext_hop = \"127.0.0.1:{uas_port}\"\n{}",
        sti::stir_section("")
    );
    let cfg = config(&dir, &extra);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "default_peer = \"dom\"\n",
        "default_peer = \"dom\"\ntls_names = [\"sbc.example.net\"]\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let d = Daemon::start_config(dir.clone(), cfg, &[]);
    let ready = d
        .stderr
        .wait_for(|l| l.starts_with("callscreen ready:"))
        .unwrap();
    let tls_port: u16 = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("tls="))
        .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
        .expect("the TLS listener")
        .port();

    // Kamailio with TLS towards callscreen.
    let tls_module = dir.join("kamailio-tls-module.cfg");
    std::fs::write(
        &tls_module,
        std::fs::read_to_string(interop_dir().join("kamailio-tls-module.cfg"))
            .unwrap()
            .replace("@DIR@", &dir.display().to_string()),
    )
    .unwrap();
    let sbc_port = free_udp_port();
    let sbc_tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let kam_cfg = interop_dir().join("kamailio-tls.cfg");
    let text = std::fs::read_to_string(kam_cfg)
        .unwrap()
        .replace("@SBC_TLS_PORT@", &sbc_tls_port.to_string())
        .replace("@CALLSCREEN_TLS_PORT@", &tls_port.to_string())
        .replace("@TLS_CFG@", &tls_module.display().to_string());
    let _kam = Kamailio::start_text(&dir, &text, sbc_port);
    let sbc = format!("127.0.0.1:{sbc_port}");

    // The PASSporT, fresh, for SIPp to send.
    let url = x5u.url("/sti.pem");
    let identity = pki
        .good
        .identity("31201234568", "31104567890", "A", sti::unix_now(), &url);
    let token = identity.split(';').next().unwrap();
    let csv = dir.join("identity.csv");
    std::fs::write(&csv, format!("SEQUENTIAL\n{token};\n")).unwrap();
    let check = r#"<ereg regexp="P-Asserted-Identity: .*verstat=TN-Validation-Passed" search_in="msg" check_it="true" assign_to="x"/>"#;
    let uas = scenario(&dir, "uas_call.xml", "uas_tls.xml", &[("TAG_CHECK", check)]);
    let uac = scenario(
        &dir,
        "uac_signed.xml",
        "uac_signed_filled.xml",
        &[("CALLER", "+31201234568"), ("TRUNK", "dom"), ("X5U", &url)],
    );
    with_uas(uas_port, &uas, "signed over TLS", || {
        let out = sipp(&[
            &sbc,
            "-sf",
            uac.to_str().unwrap(),
            "-inf",
            csv.to_str().unwrap(),
            "-s",
            "+31104567890",
            "-p",
            &free_udp_port().to_string(),
        ])
        .output()
        .expect(NEEDS);
        assert!(
            out.status.success(),
            "SIPp UAC through Kamailio over TLS: {}\nkamailio: {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("kamailio.log")).unwrap_or_default()
        );
    });
    let line = d
        .stdout
        .wait_for(|l| l.contains("verstat=TN-Validation-Passed"))
        .expect("the verified call's NOC line");
    assert!(line.contains("caller=+31201234568"), "{line}");
    assert_eq!(x5u.hits("/sti.pem"), 1);
}

/// STIR/SHAKEN with an independent implementation, Debian's `secsipidx`
/// (package secsipidx): an Identity header callscreen signs (`[signing]`,
/// proxy mode) passes `secsipidx -check` with the certificate's public key,
/// and one `secsipidx -sign-full` makes with the same key passes
/// callscreen's verification (`[stir]`: the x5u fetched, the chain to the
/// test STI-CA, TNAuthList): TN-Validation-Passed.
#[test]
#[ignore = "needs secsipidx (apt-get install secsipidx); run by .ci/run"]
fn secsipidx_verifies_what_callscreen_signs_and_the_other_way_round() {
    let dir = temp_dir("interop-secsipidx");
    let pki = sti::Pki::new(&dir);
    std::fs::write(dir.join("sti.key"), pki.good.key.serialize_pem()).unwrap();
    std::fs::write(dir.join("sti-pub.pem"), pki.good.key.public_key_pem()).unwrap();
    let files = [("/sti.pem".to_string(), pki.good.chain_pem.clone())]
        .into_iter()
        .collect();
    let x5u = sti::X5uServer::start(&pki, files, Duration::ZERO);
    let url = x5u.url("/sti.pem");
    let (d, hop) = signing_proxy(&dir, &url);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .send_to(
            &invite("sx-1", "+31205551234", "X-Ingress-Trunk: subs\r\n"),
            d.udp,
        )
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let (n, _) = hop.recv_from(&mut buf).expect("forwarded");
    let fwd = String::from_utf8_lossy(&buf[..n]).into_owned();
    let identity = fwd
        .lines()
        .find_map(|l| l.strip_prefix("Identity: "))
        .expect("signed");
    // `secsipidx -check` of an Identity value, with the certificate's key.
    let check = |name: &str, value: &str| {
        std::fs::write(dir.join(name), value).unwrap();
        Command::new("secsipidx")
            .args(["-check", "-expire", "3600", "-fpubkey"])
            .arg(dir.join("sti-pub.pem"))
            .arg("-fidentity")
            .arg(dir.join(name))
            .output()
            .expect("secsipidx (apt-get install secsipidx)")
    };
    let passed = check("identity.txt", identity);
    assert!(
        passed.status.success(),
        "secsipidx -check refused callscreen's Identity {identity}: {}{}",
        String::from_utf8_lossy(&passed.stdout),
        String::from_utf8_lossy(&passed.stderr)
    );
    // The same check refuses it with its signature altered (so that the
    // pass above says something).
    let tampered = altered(identity);
    assert!(
        !check("tampered.txt", &tampered).status.success(),
        "a tampered signature passed secsipidx"
    );

    // secsipidx signs; callscreen (the same daemon, on a terminating peer
    // through the SBC's default peer) verifies.
    let sign = Command::new("secsipidx")
        .args([
            "-sign-full",
            "-attest",
            "A",
            "-orig-tn",
            "31201234568",
            "-dest-tn",
            "31104567890",
            "-x5u",
            &url,
            "-fprvkey",
        ])
        .arg(dir.join("sti.key"))
        .output()
        .expect("secsipidx");
    assert!(
        sign.status.success(),
        "{}",
        String::from_utf8_lossy(&sign.stderr)
    );
    let theirs = String::from_utf8_lossy(&sign.stdout).trim().to_string();
    assert!(theirs.contains(";info=<"), "{theirs}");
    client
        .send_to(
            &invite("sx-2", "+31201234568", &format!("Identity: {theirs}\r\n")),
            d.udp,
        )
        .unwrap();
    let line = d.noc_line("sx-2");
    assert!(
        line.contains("verstat=TN-Validation-Passed"),
        "{theirs}\n{line}"
    );
}

/// callscreen in proxy mode signing the originating trunk `subs` (its key
/// `sti.key` in `dir`, its chain at `url`) and verifying (`[stir]`), and the
/// socket of its next hop.
fn signing_proxy(dir: &Path, url: &str) -> (Daemon, UdpSocket) {
    let hop = UdpSocket::bind("127.0.0.1:0").unwrap();
    hop.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let extra = format!(
        "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [proxy]\nnext_hops = [\"sip:{}\"]\n\
         [signing]\nkey_file = \"sti.key\"\nx5u = \"{url}\"\nown_ranges = [\"+3120*\"]\n\
         [[peers]]\nname = \"subs\"\ntrunk_ids = [\"subs\"]\nscope = \"domestic\"\ndirection = \"originating\"\n\
         assigned = [\"+3120555*\"]\nsign = \"customer\"\n{}",
        hop.local_addr().unwrap(),
        sti::stir_section("")
    );
    let d = Daemon::start_config(dir.to_path_buf(), config(dir, &extra), &[]);
    (d, hop)
}

/// Diverted calls signed by an independent implementation (RFC 8946):
/// Debian's `secsipidx` makes the SHAKEN PASSporT (`-sign-full`) and the
/// retargeting network's `div` PASSporT (`-sign` with its header and
/// claims); callscreen, on a peer that signs its diversions
/// (`div_signs`), verifies the chain (`div=verified:domestic`) and lifts
/// `spoof:domestic-cli-intl`. The same `div` PASSporT signed with a key
/// that is not the certificate's fails (`div=failed:bad-signature`), and
/// the rule stands. And Rich Call Data (RFC 9795) secsipidx signs, in the
/// SHAKEN PASSporT and in a `ppt=rcd` PASSporT of its own: its name
/// verified and shown (not when signed with another key).
#[test]
#[ignore = "needs secsipidx (apt-get install secsipidx); run by .ci/run"]
fn callscreen_verifies_the_div_and_rcd_passports_secsipidx_makes() {
    let dir = temp_dir("interop-secsipidx-div");
    let pki = sti::Pki::new(&dir);
    std::fs::write(dir.join("sti.key"), pki.good.key.serialize_pem()).unwrap();
    let other = rcgen::KeyPair::generate().expect("a key");
    std::fs::write(dir.join("other.key"), other.serialize_pem()).unwrap();
    let files = [("/sti.pem".to_string(), pki.good.chain_pem.clone())]
        .into_iter()
        .collect();
    let x5u = sti::X5uServer::start(&pki, files, Duration::ZERO);
    let url = x5u.url("/sti.pem");
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [[peers]]\nname = \"intl-div\"\ntrunk_ids = [\"intl-div\"]\nscope = \"international\"\ndiv_signs = true\n{}",
        sti::stir_section("")
    );
    let d = Daemon::start_config(dir.clone(), config(&dir, &extra), &[]);
    let (caller, line, target) = ("31201234568", "31301234567", "31104567890");
    let secsipidx = |args: &[&str], key: &str| {
        let o = Command::new("secsipidx")
            .args(args)
            .arg("-fprvkey")
            .arg(dir.join(key))
            .output()
            .expect("secsipidx (apt-get install secsipidx)");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    // A SHAKEN PASSporT secsipidx makes whole (`-sign-full`) for a call
    // from the caller to `dest`.
    let sign_full = |dest: &str| {
        secsipidx(
            &[
                "-sign-full",
                "-attest",
                "A",
                "-orig-tn",
                caller,
                "-dest-tn",
                dest,
                "-x5u",
                &url,
            ],
            "sti.key",
        )
    };
    // A PASSporT of type `ppt` with `payload`, signed by secsipidx with
    // `key`, as an Identity header value.
    let passport = |ppt: &str, payload: &str, key: &str| {
        let header = format!(r#"{{"alg":"ES256","ppt":"{ppt}","typ":"passport","x5u":"{url}"}}"#);
        let token = secsipidx(&["-sign", "-header", &header, "-payload", payload], key);
        format!("{token};info=<{url}>;alg=ES256;ppt={ppt}")
    };
    let shaken = sign_full(line);
    let payload = format!(
        r#"{{"dest":{{"tn":["{target}"]}},"div":{{"tn":"{line}"}},"iat":{},"orig":{{"tn":"{caller}"}}}}"#,
        sti::unix_now()
    );
    let div = |key: &str| passport("div", &payload, key);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let call = |call_id: &str, div: &str| {
        let extra = format!(
            "X-Ingress-Trunk: intl-div\r\nIdentity: {shaken}\r\nIdentity: {div}\r\n\
             Diversion: <sip:+{line}@kpn.example>;reason=unconditional\r\n"
        );
        let msg = String::from_utf8(invite(call_id, &format!("+{caller}"), &extra))
            .unwrap()
            .replace(
                &format!("To: <sip:+{target}@cs.example>"),
                &format!("To: <sip:+{line}@cs.example>"),
            );
        udp_ask(&client, d.udp, msg.as_bytes()).expect("an answer");
        d.noc_line(call_id)
    };
    let l = call("sxd-1", &div("sti.key"));
    assert!(
        l.contains(" reasons=- ") && l.contains(" div=verified:domestic"),
        "{l}"
    );
    assert!(l.contains("verstat=TN-Validation-Passed"), "{l}");
    let l = call("sxd-2", &div("other.key"));
    assert!(
        l.contains(" reasons=spoof:domestic-cli-intl ") && l.contains(" div=failed:bad-signature"),
        "{l}"
    );

    // A call with `headers`.
    let ask = |call_id: &str, headers: &str| {
        let msg = invite(call_id, &format!("+{caller}"), headers);
        let r = udp_ask(&client, d.udp, &msg).expect("an answer");
        (r, d.noc_line(call_id))
    };

    // Rich Call Data (RFC 9795) in a SHAKEN PASSporT secsipidx signs: the
    // verified name is shown on the 302's P-Asserted-Identity and screened.
    let rcd = |call_id: &str, nam: &str| {
        let payload = format!(
            r#"{{"attest":"A","dest":{{"tn":["{target}"]}},"iat":{},"orig":{{"tn":"{caller}"}},"origid":"7f7d7a48-3b8c-4c64-9a45-6b4fd0f1a0c1","rcd":{{"nam":"{nam}"}}}}"#,
            sti::unix_now()
        );
        let id = passport("shaken", &payload, "sti.key");
        ask(call_id, &format!("Identity: {id}\r\n"))
    };
    let (r, l) = rcd("sxr-1", "Acme");
    assert!(
        l.contains(" rcd=verified") && l.contains(" reasons=- "),
        "{l}"
    );
    assert!(r.contains("P-Asserted-Identity: \"Acme\" <sip:"), "{r}");
    let (r, l) = rcd("sxr-2", "Acme \\u00c9pargne");
    assert!(l.contains(" rcd=verified"), "{l}");
    assert!(
        r.contains("P-Asserted-Identity: \"Acme Épargne\" <sip:"),
        "{r}"
    );

    // Rich Call Data in a PASSporT of its own (`ppt=rcd`, RFC 9795 §5),
    // beside a SHAKEN PASSporT without any, both made by secsipidx.
    let plain = sign_full(target);
    let separate = |call_id: &str, key: &str| {
        let payload = format!(
            r#"{{"dest":{{"tn":["{target}"]}},"iat":{},"orig":{{"tn":"{caller}"}},"rcd":{{"nam":"Acme"}}}}"#,
            sti::unix_now()
        );
        let id = passport("rcd", &payload, key);
        ask(call_id, &format!("Identity: {plain}\r\nIdentity: {id}\r\n"))
    };
    let (r, l) = separate("sxr-3", "sti.key");
    assert!(
        l.contains(" rcd=verified") && l.contains("verstat=TN-Validation-Passed"),
        "{l}"
    );
    assert!(r.contains("P-Asserted-Identity: \"Acme\" <sip:"), "{r}");
    // Signed with a key that is not the certificate's: not believed.
    let (r, l) = separate("sxr-4", "other.key");
    assert!(
        l.contains(" rcd=unverified") && l.contains("verstat=TN-Validation-Passed"),
        "{l}"
    );
    assert!(r.contains("P-Asserted-Identity: <sip:"), "{r}");
}

/// The CRLs the revocation tests serve, read by an independent
/// implementation: OpenSSL verifies the indirect CRL (put together in the
/// tests, rcgen writes no indirect CRL) with the Policy Administrator's
/// certificate and reads its indirectCRL mark and its entries'
/// certificateIssuer; it verifies the direct one (rcgen's) with the
/// intermediate's; and it refuses the indirect one signed by another key.
#[test]
#[ignore = "needs openssl; run by .ci/run"]
fn openssl_reads_the_crls_the_revocation_tests_serve() {
    let dir = temp_dir("interop-openssl-crl");
    let pki = sti::Pki::new(&dir);
    let serial = [0x12, 0x34, 0x56];
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).unwrap();
        dir.join(name)
    };
    let pa = write("pa.pem", pki.pa.0.pem());
    let inter = write("inter.pem", pki.inter.0.pem());
    let crl = |name: &str, ca: &Path, text: String| {
        let path = write(name, text);
        Command::new("openssl")
            .args(["crl", "-noout", "-text", "-in"])
            .arg(path)
            .arg("-CAfile")
            .arg(ca)
            .output()
            .expect("openssl")
    };
    let o = crl(
        "indirect.crl",
        &pa,
        pki.indirect_crl(&pki.pa.0, &pki.pa.1, &[&serial], 3600),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success() && text.contains("verify OK"), "{text}");
    for needle in [
        "Indirect CRL",
        "Certificate Issuer",
        "Test STI-CA intermediate",
        "123456",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    let o = crl("direct.crl", &inter, pki.direct_crl(&[&serial], 3600));
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success() && text.contains("verify OK"), "{text}");
    let o = crl(
        "forged.crl",
        &pa,
        pki.indirect_crl(&pki.pa.0, &pki.inter.1, &[], 3600),
    );
    let text = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !text.contains("verify OK"),
        "a CRL signed by another key: {text}"
    );
}

/// Kamailio's `secsipid` module (kamailio-secsipid-modules, on the same
/// library as secsipidx) as the next hop of callscreen in proxy mode: a
/// SIPp UAC's call on an originating trunk is signed by callscreen,
/// verified by Kamailio (the verifying component: it marks the INVITE
/// `X-Identity-Verified: secsipid`) and relayed by it to a SIPp UAS, which
/// checks the Identity header and the mark and completes the call; a
/// subscriber's own Identity on a trunk callscreen does not sign, altered,
/// fails at Kamailio (403, relayed back by callscreen).
#[test]
#[ignore = "needs kamailio and kamailio-secsipid-modules; run by .ci/run"]
fn kamailio_secsipid_verifies_what_callscreen_signs() {
    let dir = temp_dir("interop-secsipid");
    let pki = sti::Pki::new(&dir);
    std::fs::write(dir.join("sti.key"), pki.good.key.serialize_pem()).unwrap();
    std::fs::write(dir.join("sti-pub.pem"), pki.good.key.public_key_pem()).unwrap();
    let kam_port = free_udp_port();
    let uas_port = free_udp_port();
    let text = std::fs::read_to_string(interop_dir().join("kamailio-secsipid.cfg"))
        .unwrap()
        .replace("@DIR@", &dir.display().to_string())
        .replace("@UAS_PORT@", &uas_port.to_string());
    let _kam = Kamailio::start_text(&dir, &text, kam_port);
    let extra = format!(
        "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [proxy]\nnext_hops = [\"sip:127.0.0.1:{kam_port}\"]\n\
         [signing]\nkey_file = \"sti.key\"\nx5u = \"https://cert.example/sti.pem\"\nown_ranges = [\"+3120*\"]\n\
         [[peers]]\nname = \"subs\"\ntrunk_ids = [\"subs\"]\nscope = \"domestic\"\ndirection = \"originating\"\n\
         assigned = [\"+3120555*\"]\nsign = \"customer\"\n\
         [[peers]]\nname = \"unsigned\"\ntrunk_ids = [\"unsigned\"]\nscope = \"domestic\"\ndirection = \"originating\"\n"
    );
    let d = Daemon::start_config(dir.clone(), config(&dir, &extra), &[]);
    let check = r#"<ereg regexp="Identity: [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+;info=" search_in="msg" check_it="true" assign_to="x"/>
      <ereg regexp="X-Identity-Verified: secsipid" search_in="msg" check_it="true" assign_to="x"/>"#;
    let sf = scenario(
        &dir,
        "uas_call.xml",
        "uas_secsipid.xml",
        &[("TAG_CHECK", check)],
    );
    with_uas(uas_port, &sf, "signed", || {
        let (ok, err) = uac_dialling(
            &dir,
            &format!("127.0.0.1:{}", d.udp.port()),
            "uac_call.xml",
            "uac-signed.xml",
            &[("CALLER", "+31205551234"), ("TRUNK", "subs")],
            "+31104567890",
        );
        assert!(
            ok,
            "the signed call through Kamailio to the UAS failed: {err}"
        );
    });
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(TIMEOUT)).unwrap();
    // A subscriber's own Identity, its signature altered, through a trunk
    // callscreen does not sign: Kamailio refuses it.
    let theirs = pki.good.identity(
        "31205551234",
        "31104567890",
        "A",
        sti::unix_now(),
        "https://cert.example/sti.pem",
    );
    let altered = altered(&theirs);
    let r = udp_ask(
        &client,
        d.udp,
        &invite(
            "ks-2",
            "+31205551234",
            &format!("X-Ingress-Trunk: unsigned\r\nIdentity: {altered}\r\n"),
        ),
    )
    .expect("Kamailio's answer, relayed");
    assert!(r.starts_with("SIP/2.0 403 Identity Not Verified"), "{r}");
}

/// An Identity header value with its signature altered (its first
/// character changed), everything else kept.
fn altered(identity: &str) -> String {
    let (jws, params) = identity.split_once(';').expect("parameters");
    let (input, sig) = jws.rsplit_once('.').expect("a JWS");
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    format!("{input}.{flipped}{};{params}", &sig[1..])
}

/// A second opinion on ES256, X.509 and CRLs: a small verifier written
/// with PyPI's PyJWT and cryptography (`tests/interop/passport_verify.py`)
/// passes the Identity header callscreen signs (the chain to the test
/// STI-CA, TNAuthList, the signature; the claims it carries), refuses it
/// with its signature altered, and agrees with callscreen on a revoked
/// certificate: the same header and CRL are `revoked` there and
/// `stir:revoked` in callscreen.
#[test]
#[ignore = "needs PyJWT and cryptography (PASSPORT_PYTHON: a python with both); .ci/run installs them"]
fn pyjwt_and_cryptography_agree_with_what_callscreen_signs_and_revokes() {
    let python = std::env::var("PASSPORT_PYTHON")
        .expect("PASSPORT_PYTHON: a python with jwt and cryptography");
    let dir = temp_dir("interop-pyjwt");
    let pki = sti::Pki::new(&dir);
    std::fs::write(dir.join("sti.key"), pki.good.key.serialize_pem()).unwrap();
    let x5u = sti::X5uServer::start(&pki, std::collections::HashMap::new(), Duration::ZERO);
    x5u.set("/sti.pem", pki.good.chain_pem.clone());
    let url = x5u.url("/sti.pem");
    let (revoked, serial) = pki.revocable("revoked", &x5u.url("/inter.crl"), false);
    x5u.set("/revoked.pem", revoked.chain_pem.clone());
    let crl = pki.direct_crl(&[&serial], 3600);
    x5u.set("/inter.crl", crl.clone());
    let (d, hop) = signing_proxy(&dir, &url);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let forwarded = |msg: &[u8]| {
        client.send_to(msg, d.udp).unwrap();
        let mut buf = vec![0u8; 65536];
        let (n, _) = hop.recv_from(&mut buf).expect("forwarded");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let fwd = forwarded(&invite("py-1", "+31205551234", "X-Ingress-Trunk: subs\r\n"));
    let identity = fwd
        .lines()
        .find_map(|l| l.strip_prefix("Identity: "))
        .expect("signed")
        .to_string();
    let root = dir.join("anchors/sti-ca.pem");
    let verify = |identity: &str, chain: &str, crl: Option<&str>| {
        std::fs::write(dir.join("chain.pem"), chain).unwrap();
        let mut cmd = Command::new(&python);
        cmd.arg(interop_dir().join("passport_verify.py"))
            .arg(identity)
            .arg(dir.join("chain.pem"))
            .arg(&root);
        if let Some(c) = crl {
            std::fs::write(dir.join("crl.pem"), c).unwrap();
            cmd.arg(dir.join("crl.pem"));
        }
        let o = cmd.output().expect("python");
        let v: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
        (o.status.success(), v)
    };
    let (ok, v) = verify(&identity, &pki.good.chain_pem, None);
    assert!(ok, "{v}");
    assert_eq!(v["header"]["ppt"], "shaken", "{v}");
    assert_eq!(v["header"]["x5u"], url.as_str(), "{v}");
    assert_eq!(v["claims"]["attest"], "A", "{v}");
    assert_eq!(v["claims"]["orig"]["tn"], "31205551234", "{v}");
    assert_eq!(v["claims"]["dest"]["tn"][0], "31104567890", "{v}");
    let (ok, v) = verify(&altered(&identity), &pki.good.chain_pem, None);
    assert!(
        !ok && v["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("signature")),
        "{v}"
    );
    // A certificate its CRL revokes: refused by both.
    let theirs = revoked.identity(
        "31201234568",
        "31104567890",
        "A",
        sti::unix_now(),
        &x5u.url("/revoked.pem"),
    );
    let (ok, v) = verify(&theirs, &revoked.chain_pem, Some(&crl));
    assert!(!ok && v["reason"] == "revoked", "{v}");
    let (ok, v) = verify(&theirs, &revoked.chain_pem, None);
    assert!(ok, "without its CRL it verifies: {v}");
    // (Until its certificate and CRL are had within the call's budget.)
    for k in 0.. {
        let id = format!("py-2-{k}");
        forwarded(&invite(
            &id,
            "+31201234568",
            &format!("Identity: {theirs}\r\n"),
        ));
        let line = d.noc_line(&id);
        if !line.contains("verstat=No-TN-Validation") || k == 20 {
            assert!(line.contains("reasons=stir:revoked"), "{line}");
            break;
        }
    }
}

#[test]
#[ignore = "needs DuckDB for Python (DUCKDB_PYTHON: a python with `duckdb`); .ci/run installs it"]
fn duckdb_reads_the_call_records_callscreen_writes() {
    let python = std::env::var("DUCKDB_PYTHON").expect("DUCKDB_PYTHON: a python with duckdb");
    let dir = temp_dir("interop-duckdb");
    let rec = dir.join("records");
    let cfg = config(
        &dir,
        &format!(
            "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
             [records]\ndir = {:?}\nsegment_records = 2\nseal_wait_secs = 0\n",
            rec.display().to_string()
        ),
    );
    let d = Daemon::start_config(dir.clone(), cfg, &[]);
    let sock = udp_client("127.0.0.1:0");
    for (id, caller, code) in [
        ("duck-1", "+31201234567", 608),
        ("duck-2", "+31201234999", 302),
        ("duck-3", "+31201234567", 608),
    ] {
        let r = udp_ask(&sock, d.udp, &invite(id, caller, "")).expect("an answer");
        assert_eq!(status(&r), code);
    }
    // Stopped: every call written and sealed into Parquet segments.
    d.signal("TERM");
    assert!(
        d.stdout
            .wait_for(|l| l.contains("callscreen stopped"))
            .is_some()
    );
    let sql = format!(
        "select call_id, caller, verdict, code, ref is not null, peer, lists \
         from '{}/seg-*.parquet' order by time_ms, call_id",
        rec.display()
    );
    let out = Command::new(&python)
        .args([
            "-c",
            "import duckdb, json, sys; print(json.dumps(duckdb.sql(sys.argv[1]).fetchall()))",
            &sql,
        ])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        rows,
        serde_json::json!([
            [
                "duck-1",
                "+31201234567",
                "reject",
                608,
                true,
                "dom",
                "scam-origins@1"
            ],
            ["duck-2", "+31201234999", "allow", 302, false, "dom", "-"],
            [
                "duck-3",
                "+31201234567",
                "reject",
                608,
                true,
                "dom",
                "scam-origins@1"
            ],
        ])
    );
}
