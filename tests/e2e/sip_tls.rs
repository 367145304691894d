//! SIP over TLS (`[sip] tls`): the real daemon's TLS listener with mutual
//! TLS (`tls_client_ca`) and the SBC's certificate name (`tls_names`); a
//! signed call verified over it (`[stir]`). The client is rustls, written
//! here; tests/interop_tls.rs does the same with Kamailio.

use crate::sti;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use crate::support::*;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use sti::*;

fn tls_daemon(name: &str) -> (Daemon, std::net::SocketAddr, Pki, X5uServer) {
    let dir = temp_dir(name);
    sip_pki(&dir);
    let pki = Pki::new(&dir);
    let files: HashMap<String, String> = [("/good.pem".to_string(), pki.good.chain_pem.clone())]
        .into_iter()
        .collect();
    let x5u = X5uServer::start(&pki, files, Duration::ZERO);
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\ntls = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         tls_cert = \"sip.pem\"\ntls_key = \"sip.key\"\ntls_client_ca = \"sip-ca.pem\"\n{}",
        stir_section("")
    );
    let cfg = config(&dir, &extra);
    // The SBC at 127.0.0.1 must show the name sbc.example.net over TLS.
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "default_peer = \"dom\"\n",
        "default_peer = \"dom\"\ntls_names = [\"sbc.example.net\"]\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let d = Daemon::start_config(dir, cfg, &[]);
    let ready = d
        .stderr
        .wait_for(|l| l.starts_with("callscreen ready:"))
        .unwrap();
    let tls: std::net::SocketAddr = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("tls="))
        .expect("the ready line names the TLS listener")
        .parse()
        .unwrap();
    (d, tls, pki, x5u)
}

/// A TLS client to callscreen, presenting `client` (a certificate file
/// stem in the daemon's directory) when given.
fn connect(
    d: &Daemon,
    to: std::net::SocketAddr,
    client: Option<&str>,
) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    let dir = d.config.parent().unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("sip-ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let cfg = match client {
        None => b.with_no_client_auth(),
        Some(stem) => {
            let certs: Vec<_> = CertificateDer::pem_file_iter(dir.join(format!("{stem}.pem")))
                .unwrap()
                .map(|c| c.unwrap())
                .collect();
            let key = PrivateKeyDer::from_pem_file(dir.join(format!("{stem}.key"))).unwrap();
            b.with_client_auth_cert(certs, key).unwrap()
        }
    };
    let name = ServerName::try_from("127.0.0.1").unwrap().to_owned();
    let conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let tcp = TcpStream::connect(to).unwrap();
    tcp.set_read_timeout(Some(TIMEOUT)).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

fn tls_invite(call_id: &str, identity: Option<&str>) -> Vec<u8> {
    let extra = identity.map_or(String::new(), |i| format!("Identity: {i}\r\n"));
    String::from_utf8(invite(call_id, "+31201234568", &extra))
        .unwrap()
        .replace("SIP/2.0/UDP", "SIP/2.0/TLS")
        .into_bytes()
}

#[test]
fn a_signed_call_over_mutual_tls_is_verified() {
    let (d, tls, pki, x5u) = tls_daemon("sip-tls");
    let mut s = connect(&d, tls, Some("sbc"));
    s.write_all(&tls_invite("tls-clean", None)).unwrap();
    let resp = tcp_read_response(&mut s).expect("an answer over TLS");
    assert_eq!(status(&resp), 302, "{resp}");
    assert!(resp.contains("Via: SIP/2.0/TLS"), "{resp}");
    let id = pki.good.identity(
        "31201234568",
        "31104567890",
        "A",
        unix_now(),
        &x5u.url("/good.pem"),
    );
    s.write_all(&tls_invite("tls-signed", Some(&id))).unwrap();
    let resp = tcp_read_response(&mut s).expect("an answer over TLS");
    assert_eq!(status(&resp), 302, "{resp}");
    assert!(
        header(&resp, "P-Asserted-Identity")
            .is_some_and(|p| p.contains(";verstat=TN-Validation-Passed@")),
        "{resp}"
    );
    let line = d.noc_line("tls-signed");
    assert!(line.contains("verstat=TN-Validation-Passed"), "{line}");
}

#[test]
fn a_client_without_a_certificate_or_with_another_name_is_refused() {
    let (d, tls, _pki, _x5u) = tls_daemon("sip-tls-refused");
    // No client certificate: the handshake fails, nothing is answered.
    let mut s = connect(&d, tls, None);
    let sent = s.write_all(&tls_invite("tls-nocert", None));
    let answer = if sent.is_ok() {
        tcp_read_response(&mut s)
    } else {
        None
    };
    assert_eq!(answer, None, "answered without a client certificate");
    d.stdout
        .wait_for(|l| l.contains("SIP TLS handshake refused"))
        .expect("the refusal is logged");
    // A certificate of the right CA with another name: closed.
    let mut s = connect(&d, tls, Some("intruder"));
    let _ = s.write_all(&tls_invite("tls-intruder", None));
    assert_eq!(
        tcp_read_response(&mut s),
        None,
        "answered a certificate with another name"
    );
    d.stdout
        .wait_for(|l| l.contains("SIP TLS connection closed") && l.contains("intruder.example.net"))
        .expect("the refusal is logged with the names");
    // The right one still works after them.
    let mut s = connect(&d, tls, Some("sbc"));
    s.write_all(&tls_invite("tls-after", None)).unwrap();
    assert_eq!(status(&tcp_read_response(&mut s).expect("an answer")), 302);
}

/// A TLS next hop for proxy mode: it wants a client certificate of the SIP
/// CA, reads one request and answers it with `code` on the connection.
fn tls_next_hop(
    dir: &std::path::Path,
    code: u16,
) -> (
    std::net::SocketAddr,
    std::thread::JoinHandle<Option<String>>,
) {
    let certs: Vec<_> = CertificateDer::pem_file_iter(dir.join("sip.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("sip.key")).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.join("sip-ca.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().ok()?;
        tcp.set_read_timeout(Some(TIMEOUT)).ok()?;
        let conn = rustls::ServerConnection::new(cfg).ok()?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        let req = tcp_read_response(&mut s)?;
        // Answer on the connection, as a UAS does (RFC 3261 §18.2.2).
        let mut resp = format!("SIP/2.0 {code} Busy Here\r\n");
        for l in req.lines() {
            let n = l.split(':').next().unwrap_or("").to_ascii_lowercase();
            if ["via", "from", "call-id", "cseq"].contains(&n.as_str()) {
                resp.push_str(l);
                resp.push_str("\r\n");
            } else if n == "to" {
                resp.push_str(&format!("{l};tag=hop\r\n"));
            }
        }
        resp.push_str("Content-Length: 0\r\n\r\n");
        s.write_all(resp.as_bytes()).ok()?;
        let _ = s.flush();
        Some(req)
    });
    (addr, h)
}

fn proxy_daemon(name: &str, hop: &str, ca: &str) -> Daemon {
    let dir = temp_dir(name);
    sip_pki(&dir);
    let _ = Pki::new(&dir);
    proxy_daemon_in(dir, hop, ca)
}

/// Proxy mode towards `hop`, its certificates checked against `ca`, with
/// the SIP PKI files already in `dir`.
fn proxy_daemon_in(dir: std::path::PathBuf, hop: &str, ca: &str) -> Daemon {
    let extra = format!(
        "[sip]\nmode = \"proxy\"\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         tls = [\"127.0.0.1:0\"]\ntls_cert = \"sip.pem\"\ntls_key = \"sip.key\"\ntls_client_ca = \"sip-ca.pem\"\n\
         [proxy]\nnext_hops = [\"{hop}\"]\ntls_ca_file = \"{ca}\"\nprobe_interval_secs = 0\n"
    );
    let cfg = config(&dir, &extra);
    Daemon::start_config(dir, cfg, &[])
}

/// Proxy mode forwards to a `sips:` next hop over TLS, its certificate
/// checked against `[proxy] tls_ca_file` for the hop's address, presenting
/// callscreen's own (`[sip] tls_cert`); the answer comes back to the UDP
/// caller. A hop whose certificate the CA did not sign gets nothing.
#[test]
fn proxy_mode_forwards_to_a_tls_next_hop() {
    // The hop first (the daemon's config names its port), with the PKI the
    // daemon then gets a copy of.
    let dir = temp_dir("sip-tls-proxy-pki");
    sip_pki(&dir);
    let (hop, h) = tls_next_hop(&dir, 486);
    let ddir = temp_dir("sip-tls-proxy");
    for f in ["sip.pem", "sip.key", "sip-ca.pem"] {
        std::fs::copy(dir.join(f), ddir.join(f)).unwrap();
    }
    let d = proxy_daemon_in(ddir, &format!("sips:{hop}"), "sip-ca.pem");
    let uac = udp_client("127.0.0.1:0");
    let resp = udp_ask(&uac, d.udp, &invite("tls-hop", "+31201234568", ""))
        .expect("the hop's answer relayed");
    assert_eq!(status(&resp), 486, "{resp}");
    let req = h.join().unwrap().expect("the forwarded INVITE over TLS");
    let via = header(&req, "Via").expect("callscreen's Via");
    assert!(via.starts_with("SIP/2.0/TLS "), "{req}");

    // The wrong CA: the handshake fails, the INVITE is not delivered.
    let (hop2, h2) = tls_next_hop(&dir, 486);
    let d2 = proxy_daemon(
        "sip-tls-proxy-wrong-ca",
        &format!("sips:{hop2}"),
        "web-ca.pem",
    );
    let uac2 = udp_client("127.0.0.1:0");
    uac2.send_to(&invite("tls-hop-2", "+31201234568", ""), d2.udp)
        .unwrap();
    assert_eq!(
        h2.join().unwrap(),
        None,
        "delivered to a hop with an untrusted certificate"
    );
    drop(d2);
}
