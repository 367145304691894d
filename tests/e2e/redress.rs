//! Redress (RFC 8688): `callscreen redress build` signs the operator's
//! contact card; a running daemon points its 608 answers to it, gives every
//! rejection a reference (answer and NOC line), and serves the card alone
//! on its own listener.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

const URL: &str = "https://screening.example.net/callscreen/redress.jws";
const CERT_URL: &str = "https://screening.example.net/callscreen/redress.pem";

/// The [redress] section; `listen` on a free port of loopback.
fn section(key: &str, listen: bool) -> String {
    format!(
        "[redress]\nurl = \"{URL}\"\ncard = \"card.jws\"\nkey = \"{key}\"\ncert_url = \"{CERT_URL}\"\n\
         name = \"Example Telecom call screening desk\"\norg = \"Example Telecom B.V.\"\n\
         tel = [\"+31201234000\"]\nemail = [\"blocked-calls@example.net\"]\n\
         web = \"https://www.example.net/blocked-calls\"\nnote = \"Quote the reference.\"\n{}",
        if listen {
            "listen = \"127.0.0.1:0\"\n"
        } else {
            ""
        }
    )
}

/// A P-256 key (PKCS#8 PEM) in `dir`; its public key, uncompressed.
fn p256_key(dir: &Path) -> Vec<u8> {
    let k = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("a P-256 key");
    std::fs::write(dir.join("redress.key"), k.serialize_pem()).expect("the key file");
    k.public_key_raw().to_vec()
}

fn build(config: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["redress", "build", "--config"])
        .arg(config)
        .output()
        .expect("callscreen")
}

fn b64json(part: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

#[test]
fn redress_build_writes_a_jcard_signed_with_es256() {
    let dir = temp_dir("redress-build");
    let public = p256_key(&dir);
    let cfg = config(&dir, &section("redress.key", false));
    let out = build(&cfg);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(URL) && said.contains(CERT_URL), "{said}");

    let jws = std::fs::read_to_string(dir.join("card.jws")).expect("the card");
    let parts: Vec<&str> = jws.trim().split('.').collect();
    assert_eq!(parts.len(), 3, "compact serialisation: {jws}");
    let header = b64json(parts[0]);
    assert_eq!(header["alg"], "ES256", "{header}");
    assert_eq!(header["x5u"], CERT_URL, "{header}");
    // The payload is a jCard (RFC 7095): ["vcard", [[name, params, type, value]…]].
    let card = b64json(parts[1]);
    assert_eq!(card[0], "vcard", "{card}");
    let props = card[1].as_array().expect("properties");
    let prop = |name: &str| {
        props
            .iter()
            .find(|p| p[0] == name)
            .unwrap_or_else(|| panic!("no {name} in {card}"))
    };
    assert_eq!(prop("version")[3], "4.0");
    assert_eq!(prop("fn")[3], "Example Telecom call screening desk");
    assert_eq!(prop("org")[3], "Example Telecom B.V.");
    assert_eq!(prop("tel")[2], "uri");
    assert_eq!(prop("tel")[3], "tel:+31201234000");
    assert_eq!(prop("email")[3], "blocked-calls@example.net");
    assert_eq!(prop("url")[3], "https://www.example.net/blocked-calls");
    // The signature (r‖s, 64 bytes) verifies with the key's public half, and
    // not over another payload.
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url");
    assert_eq!(sig.len(), 64);
    let key =
        ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &public);
    key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("the signature verifies");
    let forged =
        URL_SAFE_NO_PAD.encode(card.to_string().replace("Example Telecom B.V.", "Scam Ltd"));
    assert!(
        key.verify(format!("{}.{forged}", parts[0]).as_bytes(), &sig)
            .is_err()
    );
}

/// Issue #31, item 13: the README's way to the key and the certificate
/// that `cert_url` names (openssl, as written there): the card built with
/// that key verifies with that certificate's public key.
#[test]
fn the_readmes_key_and_certificate_sign_and_verify_the_card() {
    let dir = temp_dir("redress-cert");
    let run = |args: &[&str]| {
        let o = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl");
        assert!(
            o.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "redress.key",
    ]);
    run(&[
        "req",
        "-new",
        "-x509",
        "-key",
        "redress.key",
        "-days",
        "730",
        "-out",
        "redress.pem",
        "-subj",
        "/CN=Example Telecom call screening desk/O=Example Telecom B.V.",
    ]);
    let out = build(&config(&dir, &section("redress.key", false)));
    assert!(out.status.success(), "{out:?}");
    let pem = std::fs::read(dir.join("redress.pem")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("a PEM certificate");
    let cert = pem.parse_x509().expect("a certificate");
    let public = cert.public_key().subject_public_key.data.to_vec();
    let jws = std::fs::read_to_string(dir.join("card.jws")).expect("the card");
    let parts: Vec<&str> = jws.trim().split('.').collect();
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url");
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, &public)
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .expect("the card verifies with the certificate's key");
}

#[test]
fn redress_build_says_what_to_do_with_a_key_it_cannot_use() {
    let dir = temp_dir("redress-badkey");
    // An EC key in the SEC1 form (what `openssl ecparam -genkey` writes).
    let sec1 = Command::new("openssl")
        .args([
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
        ])
        .arg(dir.join("sec1.key"))
        .status()
        .expect("openssl");
    assert!(sec1.success());
    let out = build(&config(&dir, &section("sec1.key", false)));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("SEC1") && err.contains("openssl pkcs8 -topk8"),
        "{err}"
    );
    assert!(!dir.join("card.jws").exists());
    // An RSA key: not ES256.
    let rsa = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(dir.join("rsa.key"))
        .output()
        .expect("openssl");
    assert!(rsa.status.success());
    let out = build(&config(&dir, &section("rsa.key", false)));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("P-256") && err.contains("openssl genpkey"),
        "{err}"
    );
    // No [redress] at all.
    let out = build(&config(&dir, ""));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no [redress] section"));
}

/// One request to the card's listener (HTTP/1.0): status, headers, body.
fn fetch(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("the card's listener");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    write!(s, "{method} {path} HTTP/1.0\r\nContent-Length: 0\r\n\r\n").expect("a request");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("an answer");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn a_608_points_to_the_card_every_rejection_has_a_reference_and_the_card_is_served_alone() {
    let dir = temp_dir("redress-daemon");
    p256_key(&dir);
    // Withdrawn numbers are declined with 603: a rejection, not a 608.
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [policy.rules]\n\"withdrawn:*\" = {{ action = \"reject\", code = 603, text = \"Number withdrawn\" }}\n{}",
        section("redress.key", true)
    );
    let cfg = config(&dir, &extra);
    let d = Daemon::start_config(dir.clone(), cfg.clone(), &[]);
    let ready = d
        .stderr
        .wait_for(|l| l.starts_with("callscreen ready:"))
        .expect("a ready line");
    let card_addr: SocketAddr = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("redress="))
        .expect("redress= in the ready line")
        .parse()
        .expect("an address");
    let path = "/callscreen/redress.jws";
    // Not built yet: said so, not a stale or empty card.
    assert_eq!(fetch(card_addr, "GET", path).0, 503);

    let c = udp_client("127.0.0.1:0");
    let listed =
        udp_ask(&c, d.udp, &invite("redress-listed", "+31201234567", "")).expect("an answer");
    assert_eq!(status(&listed), 608, "{listed}");
    assert_eq!(
        header(&listed, "Call-Info"),
        Some(format!("<{URL}>;purpose=jwscard").as_str()),
        "{listed}"
    );
    let reason = header(&listed, "Reason").expect("a Reason");
    let reference = reason
        .split("(ref ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no reference in {reason}"));
    assert_eq!(reference.len(), 10, "{reason}");
    assert!(reason.starts_with("SIP;cause=608;text=\""), "{reason}");
    // The NOC line carries the same reference.
    let line = d.noc_line("redress-listed");
    assert!(line.contains(&format!("ref={reference}")), "{line}");
    // A retransmission: the same answer, the same reference.
    let again =
        udp_ask(&c, d.udp, &invite("redress-listed", "+31201234567", "")).expect("an answer");
    assert_eq!(header(&again, "Reason"), Some(reason), "{again}");

    let withdrawn =
        udp_ask(&c, d.udp, &invite("redress-withdrawn", "+31852081234", "")).expect("an answer");
    assert_eq!(status(&withdrawn), 603, "{withdrawn}");
    assert_eq!(
        header(&withdrawn, "Call-Info"),
        None,
        "only 608 carries it: {withdrawn}"
    );
    let reason = header(&withdrawn, "Reason").expect("a Reason");
    assert!(reason.contains("Number withdrawn (ref "), "{reason}");
    assert!(
        !reason.contains(reference),
        "another call, another reference: {reason}"
    );
    assert!(d.noc_line("redress-withdrawn").contains(" ref="));

    let clean =
        udp_ask(&c, d.udp, &invite("redress-clean", "+31612345678", "")).expect("an answer");
    assert_eq!(status(&clean), 302, "{clean}");
    assert_eq!(header(&clean, "Call-Info"), None, "{clean}");
    assert!(!d.noc_line("redress-clean").contains(" ref="));

    // Built: served at the URL's path, as it is on disk; nothing else is.
    let out = build(&cfg);
    assert!(out.status.success(), "{out:?}");
    let (code, head, body) = fetch(card_addr, "GET", path);
    assert_eq!(code, 200, "{head}");
    assert!(head.contains("content-type: application/jose"), "{head}");
    assert_eq!(
        body,
        std::fs::read_to_string(dir.join("card.jws")).expect("the card")
    );
    for p in [
        "/metrics",
        "/v1/lists",
        "/healthz",
        "/callscreen/redress.key",
        "/",
    ] {
        assert_eq!(fetch(card_addr, "GET", p).0, 404, "{p}");
    }
    assert_eq!(fetch(card_addr, "PUT", path).0, 405);
    assert_eq!(fetch(card_addr, "HEAD", path).0, 200);
}

#[test]
fn a_daemon_without_redress_answers_as_before() {
    let d = Daemon::start("redress-none", "");
    let c = udp_client("127.0.0.1:0");
    let listed =
        udp_ask(&c, d.udp, &invite("redress-none", "+31201234567", "")).expect("an answer");
    assert_eq!(status(&listed), 608);
    assert_eq!(header(&listed, "Call-Info"), None, "{listed}");
    assert!(
        !header(&listed, "Reason")
            .unwrap_or_default()
            .contains("(ref ")
    );
    assert!(!d.noc_line("redress-none").contains(" ref="));
}
