//! A roaming-check endpoint for the tests: HTTPS (the test PKI's server
//! certificate), HTTP/1.1 with keep-alive, answering `POST` with
//! `{"number":"+…"}` as the README's JSON API says, by the number: roaming,
//! not roaming, unknown, slowly (after `slow`), never (the connection held
//! open), or with a 500; numbers not listed as the `"*"` entry says, or
//! unknown. Counts requests per number.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::sti::Pki;

/// What the endpoint does for a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Roaming,
    NotRoaming,
    Unknown,
    /// Answers roaming, after the server's `slow`.
    Slow,
    /// Never answers.
    Never,
    /// 500 Internal Server Error.
    Fails,
}

pub struct RoamingServer {
    pub addr: SocketAddr,
    asked: Arc<Mutex<HashMap<String, usize>>>,
}

fn read_request(tls: &mut impl Read, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let body = buf[end + 4..end + 4 + len].to_vec();
                buf.drain(..end + 4 + len);
                return Some(body);
            }
        }
        match tls.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A client CA and a certificate it issued, written into `dir` as
/// `client.pem` and `client.key` (for the daemon); the CA's PEM (for the
/// server).
pub fn client_identity(dir: &std::path::Path) -> String {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("a key");
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "Test client CA");
    let ca = p.self_signed(&ca_key).expect("the client CA");
    let key = KeyPair::generate().expect("a key");
    let mut p = CertificateParams::new(vec!["callscreen.example".into()]).expect("params");
    p.distinguished_name.push(DnType::CommonName, "callscreen");
    let cert = p
        .signed_by(&key, &ca, &ca_key)
        .expect("the client certificate");
    std::fs::write(dir.join("client.pem"), cert.pem()).expect("client.pem");
    std::fs::write(dir.join("client.key"), key.serialize_pem()).expect("client.key");
    ca.pem()
}

impl RoamingServer {
    pub fn start(pki: &Pki, answers: HashMap<String, Answer>, slow: Duration) -> RoamingServer {
        RoamingServer::serve(pki.https_server_config(), answers, slow)
    }

    /// The same, accepting only clients with a certificate from `client_ca` (PEM).
    pub fn start_requiring(
        pki: &Pki,
        client_ca: &str,
        answers: HashMap<String, Answer>,
    ) -> RoamingServer {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::pem::PemObject::pem_slice_iter(client_ca.as_bytes()) {
            roots.add(c.expect("the client CA")).expect("a root");
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .build()
        .expect("a client verifier");
        RoamingServer::serve(
            pki.https_server_config_verifying(Some(verifier)),
            answers,
            Duration::ZERO,
        )
    }

    fn serve(
        cfg: Arc<rustls::ServerConfig>,
        answers: HashMap<String, Answer>,
        slow: Duration,
    ) -> RoamingServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let asked = Arc::new(Mutex::new(HashMap::new()));
        let answers = Arc::new(answers);
        {
            let asked = Arc::clone(&asked);
            std::thread::spawn(move || {
                for s in listener.incoming() {
                    let Ok(s) = s else { continue };
                    let (cfg, answers, asked) =
                        (Arc::clone(&cfg), Arc::clone(&answers), Arc::clone(&asked));
                    std::thread::spawn(move || {
                        let conn = rustls::ServerConnection::new(cfg).expect("conn");
                        let mut tls = rustls::StreamOwned::new(conn, s);
                        let mut buf = Vec::new();
                        while let Some(body) = read_request(&mut tls, &mut buf) {
                            let text = String::from_utf8_lossy(&body);
                            let number = text.split('"').nth(3).unwrap_or_default().to_string();
                            *asked.lock().unwrap().entry(number.clone()).or_insert(0) += 1;
                            // "*": the answer for numbers not listed (the bench's endpoint).
                            let status = match answers.get(&number).or(answers.get("*")) {
                                Some(Answer::Roaming) => "roaming",
                                Some(Answer::NotRoaming) => "not-roaming",
                                Some(Answer::Unknown) | None => "unknown",
                                Some(Answer::Slow) => {
                                    std::thread::sleep(slow);
                                    "roaming"
                                }
                                Some(Answer::Never) => {
                                    std::thread::sleep(Duration::from_secs(30));
                                    return;
                                }
                                Some(Answer::Fails) => {
                                    let _ = tls.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
                                    let _ = tls.flush();
                                    continue;
                                }
                            };
                            let json = format!("{{\"status\":\"{status}\"}}");
                            let resp = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
                                json.len()
                            );
                            if tls.write_all(resp.as_bytes()).is_err() || tls.flush().is_err() {
                                return;
                            }
                        }
                    });
                }
            });
        }
        RoamingServer { addr, asked }
    }

    /// Requests seen for `number`.
    pub fn asked(&self, number: &str) -> usize {
        self.asked.lock().unwrap().get(number).copied().unwrap_or(0)
    }

    pub fn url(&self) -> String {
        format!("https://localhost:{}/v1/roaming", self.addr.port())
    }
}
