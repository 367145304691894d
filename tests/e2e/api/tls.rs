//! The control API over TLS with client certificates, and the `lists`
//! commands speaking https.

use std::process::{Command, Output};

use crate::support::*;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

const TOKEN: &str = "tls-ops-token";

/// A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.
fn pki(dir: &std::path::Path) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "callscreen test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let write = |name: &str, params: CertificateParams| {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).unwrap();
        std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).unwrap();
    };
    write(
        "server",
        CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap(),
    );
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client
        .distinguished_name
        .push(DnType::CommonName, "ops tooling");
    write("client", client);
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    // A second CA, whose client certificate must be refused.
    let other_key = KeyPair::generate().unwrap();
    let mut other = CertificateParams::new(Vec::<String>::new()).unwrap();
    other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other = other.self_signed(&other_key).unwrap();
    let stranger_key = KeyPair::generate().unwrap();
    let stranger = CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .signed_by(&stranger_key, &other, &other_key)
        .unwrap();
    std::fs::write(dir.join("stranger.pem"), stranger.pem()).unwrap();
    std::fs::write(dir.join("stranger.key"), stranger_key.serialize_pem()).unwrap();
}

#[test]
fn https_with_client_certificates() {
    let dir = temp_dir("api-tls");
    pki(&dir);
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\ntls_cert = \"server.pem\"\ntls_key = \"server.key\"\nclient_ca = \"ca.pem\"\n\
         [[api.clients]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\", \"replace\"]\n",
        callscreen::api::hash_token(TOKEN)
    );
    let d = Daemon::start_config(dir.clone(), config(&dir, &extra), &[]);
    let ready = d
        .stderr
        .wait_for(|l| l.starts_with("callscreen ready:"))
        .unwrap();
    let addr = ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("api="))
        .unwrap()
        .to_string();
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let show = |url: &str, extra: &[&str]| -> Output {
        Command::new(env!("CARGO_BIN_EXE_callscreen"))
            .args(["lists", "show", "--url", url, "--token-file", &p("token")])
            .args(extra)
            .output()
            .unwrap()
    };
    let https = format!("https://{addr}");
    let o = show(
        &https,
        &[
            "--ca",
            &p("ca.pem"),
            "--cert",
            &p("client.pem"),
            "--key",
            &p("client.key"),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .any(|l| l.starts_with("scam-origins ")),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // No client certificate, or one from another CA: the handshake is refused.
    let o = show(&https, &["--ca", &p("ca.pem")]);
    assert!(!o.status.success());
    let o = show(
        &https,
        &[
            "--ca",
            &p("ca.pem"),
            "--cert",
            &p("stranger.pem"),
            "--key",
            &p("stranger.key"),
        ],
    );
    assert!(!o.status.success());
    // Plain HTTP to the TLS listener gets no answer it can read.
    let o = show(&format!("http://{addr}"), &[]);
    assert!(!o.status.success());
    assert!(
        d.stdout
            .wait_for(|l| l.contains("API TLS handshake refused"))
            .is_some()
    );
}
