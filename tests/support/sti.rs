//! A test STI PKI and an HTTPS server for `x5u`: an STI-CA root, an
//! intermediate and leaves (with the TNAuthList extension, RFC 8226, or
//! without; valid or expired; under a root nobody trusts), made with rcgen;
//! PASSporTs (RFC 8225, SHAKEN RFC 8588) signed ES256 with ring; and a small
//! HTTPS server (rustls) that serves the certificates by path, one of them
//! slowly, and counts the requests per path.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, CustomExtension, DnType, IsCa, KeyPair,
};

/// TNAuthList (RFC 8226 §9) with one service provider code: SEQUENCE {
/// [0] EXPLICIT IA5String "1234" }.
const TN_AUTH_LIST: [u8; 10] = [0x30, 0x08, 0xa0, 0x06, 0x16, 0x04, b'1', b'2', b'3', b'4'];
const TN_AUTH_LIST_OID: [u64; 9] = [1, 3, 6, 1, 5, 5, 7, 1, 26];

/// A signing identity: its chain as served at `x5u` (PEM) and its key.
pub struct Signer {
    pub chain_pem: String,
    pub key: KeyPair,
}

impl Signer {
    /// A SHAKEN Identity header value for a call from `orig` to `dest` (E.164
    /// digits), attestation `attest`, issued at `iat`, certificate at `x5u`.
    pub fn identity(&self, orig: &str, dest: &str, attest: &str, iat: u64, x5u: &str) -> String {
        self.identity_with(orig, dest, attest, iat, x5u, "")
    }

    /// [`Signer::identity`] with more claims: `extra` is JSON object
    /// members (`"rcd":{...}`), put after the SHAKEN ones.
    pub fn identity_with(
        &self,
        orig: &str,
        dest: &str,
        attest: &str,
        iat: u64,
        x5u: &str,
        extra: &str,
    ) -> String {
        let more = if extra.is_empty() {
            String::new()
        } else {
            format!(",{extra}")
        };
        let payload = format!(
            r#"{{"attest":"{attest}","dest":{{"tn":["{dest}"]}},"iat":{iat},"orig":{{"tn":"{orig}"}},"origid":"123e4567-e89b-12d3-a456-426655440000"{more}}}"#
        );
        self.sign("shaken", &payload, x5u)
    }

    /// A diversion PASSporT's Identity header value (RFC 8946 §3): the
    /// call from `orig` diverted by the line `div` to `dest` (E.164 digits).
    pub fn div_identity(&self, orig: &str, div: &str, dest: &str, iat: u64, x5u: &str) -> String {
        let payload = format!(
            r#"{{"dest":{{"tn":["{dest}"]}},"div":{{"tn":"{div}"}},"iat":{iat},"orig":{{"tn":"{orig}"}}}}"#
        );
        self.sign("div", &payload, x5u)
    }

    /// A Rich Call Data PASSporT of its own (`ppt=rcd`, RFC 9795 §5) for
    /// the call from `orig` to `dest` (E.164 digits): `rcd` is JSON object
    /// members (`"rcd":{...}`, and `"rcdi"`).
    pub fn rcd_identity(&self, orig: &str, dest: &str, iat: u64, x5u: &str, rcd: &str) -> String {
        let payload =
            format!(r#"{{"dest":{{"tn":["{dest}"]}},"iat":{iat},"orig":{{"tn":"{orig}"}},{rcd}}}"#);
        self.sign("rcd", &payload, x5u)
    }

    /// A PASSporT of type `ppt` with `payload`, signed ES256, as an
    /// Identity header value.
    fn sign(&self, ppt: &str, payload: &str, x5u: &str) -> String {
        let header = format!(r#"{{"alg":"ES256","ppt":"{ppt}","typ":"passport","x5u":"{x5u}"}}"#);
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let rng = ring::rand::SystemRandom::new();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &self.key.serialize_der(),
            &rng,
        )
        .expect("a P-256 PKCS#8 key");
        let sig = pair.sign(&rng, signing_input.as_bytes()).expect("signed");
        format!(
            "{signing_input}.{};info=<{x5u}>;alg=ES256;ppt={ppt}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        )
    }
}

fn ca(name: &str, issuer: Option<(&Certificate, &KeyPair)>) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().expect("a key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, name);
    let cert = match issuer {
        None => p.self_signed(&key),
        Some((c, k)) => p.signed_by(&key, c, k),
    }
    .expect("a CA certificate");
    (cert, key)
}

fn leaf(
    name: &str,
    issuer: (&Certificate, &KeyPair),
    chain_extra: &[&Certificate],
    tn_auth: bool,
    expired: bool,
) -> Signer {
    let key = KeyPair::generate().expect("a key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.distinguished_name.push(DnType::CommonName, name);
    if tn_auth {
        p.custom_extensions = vec![CustomExtension::from_oid_content(
            &TN_AUTH_LIST_OID,
            TN_AUTH_LIST.to_vec(),
        )];
    }
    if expired {
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = p.signed_by(&key, issuer.0, issuer.1).expect("a leaf");
    let mut chain_pem = cert.pem();
    for c in chain_extra {
        chain_pem.push_str(&c.pem());
    }
    Signer { chain_pem, key }
}

/// The test STI PKI, written into `dir`: `anchors/sti-ca.pem` (the root to
/// trust), `web-ca.pem` (the CA of the HTTPS server's certificate),
/// `https.pem`/`https.key` (for `localhost` and 127.0.0.1).
pub struct Pki {
    /// Chains to the root through the intermediate, with TNAuthList.
    pub good: Signer,
    pub no_tn_auth: Signer,
    pub expired: Signer,
    /// Chains to a root that is not a trust anchor.
    pub untrusted: Signer,
    pub https_cert: String,
    pub https_key: String,
    /// The root (the trust anchor; signs its intermediates' CRLs).
    pub root: (Certificate, KeyPair),
    /// The intermediate that issues the leaves (and signs their direct CRLs).
    pub inter: (Certificate, KeyPair),
    /// A Policy Administrator's CRL signer for indirect CRLs, written to
    /// `sti-pa/pa.pem` (the `crl_signers` directory).
    pub pa: (Certificate, KeyPair),
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let (root, root_key) = ca("Test STI-CA root", None);
        let (inter, inter_key) = ca("Test STI-CA intermediate", Some((&root, &root_key)));
        let issuer = (&inter, &inter_key);
        let good = leaf("SHAKEN 1234", issuer, &[&inter], true, false);
        let no_tn_auth = leaf("no TNAuthList", issuer, &[&inter], false, false);
        let expired = leaf("expired", issuer, &[&inter], true, true);
        let (other, other_key) = ca("Nobody's STI-CA", None);
        let untrusted = leaf("untrusted", (&other, &other_key), &[], true, false);
        std::fs::create_dir_all(dir.join("anchors")).expect("anchors dir");
        std::fs::write(dir.join("anchors/sti-ca.pem"), root.pem()).expect("anchor");
        let (web, web_key) = ca("Test web CA", None);
        let https_key = KeyPair::generate().expect("a key");
        let https = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("params")
            .signed_by(&https_key, &web, &web_key)
            .expect("https cert");
        std::fs::write(dir.join("web-ca.pem"), web.pem()).expect("web CA");
        std::fs::write(dir.join("https.pem"), https.pem()).expect("https cert");
        std::fs::write(dir.join("https.key"), https_key.serialize_pem()).expect("https key");
        let pa = ca("Test STI-PA CRL signer", None);
        std::fs::create_dir_all(dir.join("sti-pa")).expect("sti-pa dir");
        std::fs::write(dir.join("sti-pa/pa.pem"), pa.0.pem()).expect("pa");
        Pki {
            good,
            no_tn_auth,
            expired,
            untrusted,
            https_cert: https.pem(),
            https_key: https_key.serialize_pem(),
            inter: (inter, inter_key),
            root: (root, root_key),
            pa,
        }
    }

    /// A leaf of the intermediate whose CRL Distribution Point is `crl_url`,
    /// naming the Policy Administrator as its cRLIssuer when `indirect`
    /// (RFC 5280 §4.2.1.13); and its serial number.
    pub fn revocable(&self, name: &str, crl_url: &str, indirect: bool) -> (Signer, Vec<u8>) {
        let key = KeyPair::generate().expect("a key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(DnType::CommonName, name);
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(&TN_AUTH_LIST_OID, TN_AUTH_LIST.to_vec()),
            crl_distribution_point(crl_url, indirect.then_some(&self.pa.0)),
        ];
        let cert = p
            .signed_by(&key, &self.inter.0, &self.inter.1)
            .expect("a leaf");
        let chain_pem = format!("{}{}", cert.pem(), self.inter.0.pem());
        (Signer { chain_pem, key }, serial_of(&cert))
    }

    /// An intermediate of the root whose CRL Distribution Point is
    /// `crl_url` (the root's own CRL, [`Pki::root_crl`]), and a leaf it
    /// issues (with TNAuthList, naming no CRL): the leaf's signer, its
    /// chain the leaf and that intermediate; and the intermediate's serial.
    pub fn revocable_inter(&self, name: &str, crl_url: &str) -> (Signer, Vec<u8>) {
        let key = KeyPair::generate().expect("a key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        p.custom_extensions = vec![crl_distribution_point(crl_url, None)];
        let cert = p
            .signed_by(&key, &self.root.0, &self.root.1)
            .expect("an intermediate");
        let signer = leaf(
            &format!("{name}'s leaf"),
            (&cert, &key),
            &[&cert],
            true,
            false,
        );
        (signer, serial_of(&cert))
    }

    /// A leaf of the intermediate whose JWT Claim Constraints (RFC 8226
    /// §8, EXPLICIT tags) allow only `values` for the claim `claim`.
    pub fn constrained(&self, name: &str, claim: &str, values: &[&str]) -> Signer {
        let key = KeyPair::generate().expect("a key");
        let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
        p.distinguished_name.push(DnType::CommonName, name);
        let permitted: Vec<u8> = values
            .iter()
            .flat_map(|v| tlv(0x0c, v.as_bytes()))
            .collect();
        let one = tlv(
            0x30,
            &[tlv(0x16, claim.as_bytes()), tlv(0x30, &permitted)].concat(),
        );
        let constraints = tlv(0x30, &tlv(0xa1, &tlv(0x30, &one)));
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(&TN_AUTH_LIST_OID, TN_AUTH_LIST.to_vec()),
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 5, 5, 7, 1, 27], constraints),
        ];
        let cert = p
            .signed_by(&key, &self.inter.0, &self.inter.1)
            .expect("a leaf");
        let chain_pem = format!("{}{}", cert.pem(), self.inter.0.pem());
        Signer { chain_pem, key }
    }

    /// The intermediate's own CRL (direct, made by rcgen), revoking
    /// `serials`, due `next_update_secs` from now (past, when negative).
    pub fn direct_crl(&self, serials: &[&[u8]], next_update_secs: i64) -> String {
        crl_of(&self.inter, serials, next_update_secs)
    }

    /// The root's CRL (direct), revoking intermediates' `serials`.
    pub fn root_crl(&self, serials: &[&[u8]], next_update_secs: i64) -> String {
        crl_of(&self.root, serials, next_update_secs)
    }

    /// An indirect CRL (RFC 5280 §5.2.5) issued under `issuer`'s name and
    /// signed with `key`, marked indirectCRL, revoking `serials` of the
    /// intermediate (each entry names it, `certificateIssuer`), due
    /// `next_update_secs` from now. rcgen writes neither the mark nor the
    /// entry extension, so it is put together here and signed with ring.
    pub fn indirect_crl(
        &self,
        issuer: &Certificate,
        key: &KeyPair,
        serials: &[&[u8]],
        next_update_secs: u64,
    ) -> String {
        const ECDSA_SHA256: [u8; 12] = [
            0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
        ];
        let now = unix_now();
        let mut entries = Vec::new();
        for s in serials {
            let cert_issuer = tlv(0x30, &tlv(0xa4, &subject_der(&self.inter.0)));
            let ext = tlv(
                0x30,
                &[
                    tlv(0x06, &[0x55, 0x1d, 0x1d]),
                    vec![0x01, 0x01, 0xff],
                    tlv(0x04, &cert_issuer),
                ]
                .concat(),
            );
            entries.extend(tlv(
                0x30,
                &[integer(s), utc_time(now - 120), tlv(0x30, &ext)].concat(),
            ));
        }
        let idp = tlv(
            0x30,
            &[
                tlv(0x06, &[0x55, 0x1d, 0x1c]),
                vec![0x01, 0x01, 0xff],
                tlv(0x04, &tlv(0x30, &[0x84, 0x01, 0xff])),
            ]
            .concat(),
        );
        let mut tbs = [
            vec![0x02, 0x01, 0x01],
            ECDSA_SHA256.to_vec(),
            subject_der(issuer),
            utc_time(now - 60),
            utc_time(now + next_update_secs),
        ]
        .concat();
        if !entries.is_empty() {
            tbs.extend(tlv(0x30, &entries));
        }
        tbs.extend(tlv(0xa0, &tlv(0x30, &idp)));
        let tbs = tlv(0x30, &tbs);
        let rng = ring::rand::SystemRandom::new();
        let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &key.serialize_der(),
            &rng,
        )
        .expect("a P-256 key");
        let sig = pair.sign(&rng, &tbs).expect("signed");
        let mut bits = vec![0];
        bits.extend_from_slice(sig.as_ref());
        let der = tlv(
            0x30,
            &[tbs, ECDSA_SHA256.to_vec(), tlv(0x03, &bits)].concat(),
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = String::from("-----BEGIN X509 CRL-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64"));
            pem.push('\n');
        }
        pem.push_str("-----END X509 CRL-----\n");
        pem
    }
}

/// A certificate's subject, DER.
fn subject_der(c: &Certificate) -> Vec<u8> {
    x509_parser::parse_x509_certificate(c.der())
        .expect("parses")
        .1
        .subject()
        .as_raw()
        .to_vec()
}

/// A DER element: its tag, length and `body`.
fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let n = body.len();
    let mut out = vec![tag];
    match n {
        0..=127 => out.push(n as u8),
        128..=255 => out.extend([0x81, n as u8]),
        _ => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(body);
    out
}

/// A positive DER INTEGER of big-endian `bytes`.
fn integer(bytes: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    if bytes.first().is_none_or(|b| b & 0x80 != 0) {
        body.push(0);
    }
    body.extend_from_slice(bytes);
    tlv(0x02, &body)
}

/// A UTCTime (YYMMDDHHMMSSZ) of unix seconds `t` (years 2000-2049).
fn utc_time(t: u64) -> Vec<u8> {
    let (days, secs) = (t / 86_400, t % 86_400);
    // Days to a civil date (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = format!(
        "{:02}{m:02}{d:02}{:02}{:02}{:02}Z",
        y % 100,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    tlv(0x17, s.as_bytes())
}

impl Pki {
    /// A TLS server configuration with the HTTPS certificate (`localhost`,
    /// 127.0.0.1), for the test servers.
    pub fn https_server_config(&self) -> Arc<rustls::ServerConfig> {
        self.https_server_config_verifying(None)
    }

    /// The same, asking clients for a certificate that `clients` accepts.
    pub fn https_server_config_verifying(
        &self,
        clients: Option<Arc<dyn rustls::server::danger::ClientCertVerifier>>,
    ) -> Arc<rustls::ServerConfig> {
        let certs: Vec<_> =
            rustls_pki_types::pem::PemObject::pem_slice_iter(self.https_cert.as_bytes())
                .map(|c| c.expect("cert"))
                .collect();
        let key =
            <rustls_pki_types::PrivateKeyDer as rustls_pki_types::pem::PemObject>::from_pem_slice(
                self.https_key.as_bytes(),
            )
            .expect("key");
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_client_cert_verifier(
                clients.unwrap_or_else(rustls::server::WebPkiClientVerifier::no_client_auth),
            )
            .with_single_cert(certs, key)
            .expect("server config"),
        )
    }
}

/// The HTTPS server for `x5u`: `files` by path; `/slow/…` paths answer
/// after `slow` with the file of the rest of the path.
pub struct X5uServer {
    pub addr: SocketAddr,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    files: Arc<Mutex<HashMap<String, String>>>,
}

impl X5uServer {
    pub fn start(pki: &Pki, files: HashMap<String, String>, slow: Duration) -> X5uServer {
        let cfg = pki.https_server_config();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let hits = Arc::new(Mutex::new(HashMap::new()));
        let files = Arc::new(Mutex::new(files));
        let served = Arc::clone(&files);
        {
            let hits = Arc::clone(&hits);
            std::thread::spawn(move || {
                for s in listener.incoming() {
                    let Ok(s) = s else { continue };
                    let (cfg, files, hits) =
                        (Arc::clone(&cfg), Arc::clone(&files), Arc::clone(&hits));
                    std::thread::spawn(move || {
                        let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                        let conn = rustls::ServerConnection::new(cfg).expect("conn");
                        let mut tls = rustls::StreamOwned::new(conn, s);
                        let mut req = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                            match tls.read(&mut buf) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => req.extend_from_slice(&buf[..n]),
                            }
                        }
                        let text = String::from_utf8_lossy(&req).into_owned();
                        let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                        *hits.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                        let (path, wait) = match path.strip_prefix("/slow") {
                            Some(rest) => (rest.to_string(), slow),
                            None => (path, Duration::ZERO),
                        };
                        std::thread::sleep(wait);
                        let body = files.lock().unwrap().get(&path).cloned();
                        let resp = match (path.as_str(), body) {
                            ("/redirect.pem", _) => "HTTP/1.1 302 Found\r\nLocation: https://localhost/good.pem\r\nContent-Length: 0\r\n\r\n".to_string(),
                            ("/big.pem", _) => format!("HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n{}", "A".repeat(20000)),
                            (_, Some(body)) => format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/pem-certificate-chain\r\nCache-Control: max-age=3600\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            ),
                            (_, None) => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
                        };
                        let _ = tls.write_all(resp.as_bytes());
                        let _ = tls.flush();
                        tls.conn.send_close_notify();
                        let _ = tls.flush();
                    });
                }
            });
        }
        X5uServer {
            addr,
            hits,
            files: served,
        }
    }

    /// Serves `body` at `path` from now on.
    pub fn set(&self, path: &str, body: String) {
        self.files.lock().unwrap().insert(path.to_string(), body);
    }

    /// Requests seen for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }
}

/// The `[stir]` section for the test PKI in the daemon's directory.
pub fn stir_section(extra: &str) -> String {
    format!(
        "[stir]\ntrust_anchors = \"anchors\"\nx5u_ca_file = \"web-ca.pem\"\n\
         x5u_allow_networks = [\"127.0.0.0/8\", \"::1/128\"]\nbudget_ms = 400\nfetch_timeout_ms = 3000\n{extra}"
    )
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The SIP PKI in `dir`: `sip-ca.pem`; `sip.pem`/`sip.key` (callscreen, for
/// 127.0.0.1); client certificates `sbc` (sbc.example.net) and `intruder`
/// (intruder.example.net).
pub fn sip_pki(dir: &Path) {
    let ca_key = KeyPair::generate().expect("SIP PKI");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("SIP PKI");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "SIP test CA");
    let ca = ca.self_signed(&ca_key).expect("SIP PKI");
    std::fs::write(dir.join("sip-ca.pem"), ca.pem()).expect("SIP PKI");
    for (file, names) in [
        ("sip", vec!["127.0.0.1".to_string()]),
        ("sbc", vec!["sbc.example.net".to_string()]),
        ("intruder", vec!["intruder.example.net".to_string()]),
    ] {
        let key = KeyPair::generate().expect("SIP PKI");
        let mut p = CertificateParams::new(names.clone()).expect("SIP PKI");
        p.distinguished_name
            .push(DnType::CommonName, names[0].clone());
        let cert = p.signed_by(&key, &ca, &ca_key).expect("SIP PKI");
        std::fs::write(dir.join(format!("{file}.pem")), cert.pem()).expect("SIP PKI");
        std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).expect("SIP PKI");
    }
}

/// A direct CRL of `issuer` (made by rcgen), revoking `serials`, due
/// `next_update_secs` from now (past, when negative).
fn crl_of(issuer: &(Certificate, KeyPair), serials: &[&[u8]], next_update_secs: i64) -> String {
    let now = unix_now();
    let at = |t: u64| rcgen::date_time_ymd(1970, 1, 1) + Duration::from_secs(t);
    let next = now.saturating_add_signed(next_update_secs);
    let params = rcgen::CertificateRevocationListParams {
        this_update: at(next.min(now) - 60),
        next_update: at(next),
        crl_number: rcgen::SerialNumber::from(now),
        issuing_distribution_point: None,
        revoked_certs: serials
            .iter()
            .map(|s| rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(s),
                revocation_time: at(now - 120),
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    params
        .signed_by(&issuer.0, &issuer.1)
        .expect("a CRL")
        .pem()
        .expect("PEM")
}

/// A CRL Distribution Points extension (RFC 5280 §4.2.1.13) of one point:
/// `url`, and `crl_issuer` as its cRLIssuer when given (an indirect CRL).
fn crl_distribution_point(url: &str, crl_issuer: Option<&Certificate>) -> CustomExtension {
    // fullName [0] { uniformResourceIdentifier [6] }, in distributionPoint [0].
    let uri = tlv(0x86, url.as_bytes());
    let mut point = tlv(0xa0, &tlv(0xa0, &uri));
    if let Some(issuer) = crl_issuer {
        // cRLIssuer [2] { directoryName [4] Name }
        point.extend(tlv(0xa2, &tlv(0xa4, &subject_der(issuer))));
    }
    CustomExtension::from_oid_content(&[2, 5, 29, 31], tlv(0x30, &tlv(0x30, &point)))
}

/// A certificate's serial number (big-endian, as CRLs list it).
fn serial_of(cert: &Certificate) -> Vec<u8> {
    x509_parser::parse_x509_certificate(cert.der())
        .expect("parses")
        .1
        .serial
        .to_bytes_be()
}
