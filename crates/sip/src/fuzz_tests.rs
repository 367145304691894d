//! Robustness: every RFC 4475 and carrier message, mutated many times (bytes
//! flipped, inserted, deleted; cut short; CRLFs and separators injected),
//! goes through the whole SIP path: framing as datagram and stream, the
//! request checks, caller facts and a response. Nothing may panic, and a
//! stream scan must never claim more bytes than it was given.
//! Deterministic (seeded), so a failure reproduces.

use std::net::SocketAddr;

use super::facts::CallerIds;
use super::request::read;
use super::response::{copy_dialog_headers, finish, status_line, udp_destination};
use super::scan::{Framing, Limits, Scan, Scanner};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const INTERESTING: [&[u8]; 12] = [
    b"\r\n",
    b"\r\n\r\n",
    b";",
    b",",
    b"<",
    b">",
    b"\"",
    b"\\",
    b"%",
    b":",
    b" \r\n ",
    b"\xff",
];

fn mutate(r: &mut Rng, m: &mut Vec<u8>) {
    for _ in 0..1 + r.below(4) {
        match r.below(6) {
            0 if !m.is_empty() => {
                let i = r.below(m.len());
                m[i] = r.next() as u8;
            }
            1 if !m.is_empty() => {
                let i = r.below(m.len());
                m.remove(i);
            }
            2 => {
                let i = r.below(m.len() + 1);
                let ins = INTERESTING[r.below(INTERESTING.len())];
                m.splice(i..i, ins.iter().copied());
            }
            3 => {
                let n = r.below(m.len() + 1);
                m.truncate(n);
            }
            4 if !m.is_empty() => {
                // Duplicate a slice (repeated headers, long values).
                let a = r.below(m.len());
                let b = (a + r.below(64)).min(m.len());
                let chunk = m[a..b].to_vec();
                let at = r.below(m.len() + 1);
                m.splice(at..at, chunk);
            }
            _ => {
                let i = r.below(m.len() + 1);
                m.splice(i..i, b"Content-Length: 99999999\r\n".iter().copied());
            }
        }
    }
}

static RELAYED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn exercise(scanner: &mut Scanner, bytes: &[u8], out: &mut Vec<u8>) {
    let src: SocketAddr = "192.0.2.1:5060".parse().unwrap();
    for framing in [Framing::Datagram, Framing::Stream] {
        if let Scan::Message(m) = scanner.scan(bytes, framing) {
            assert!(
                m.len <= bytes.len(),
                "a scan claimed more bytes than it had"
            );
            let _ = udp_destination(&m, src);
            status_line(out, 400, "Bad Request");
            copy_dialog_headers(out, &m, None, src, Some(1));
            finish(out);
            // Proxy mode's paths: a relayed response, a forwarded request.
            if let super::relay::Relay::Forward(_) = super::relay::relay_response(out, &m, |_| true)
            {
                RELAYED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            let _ = super::forward::route_is_own(&m, |_, _| true);
            if let Ok(req) = super::request::read_for_proxy(&m) {
                let own = super::forward::OwnVia {
                    tls: false,
                    tcp: false,
                    host: "192.0.2.10",
                    port: 5060,
                    conn: Some(7),
                };
                let b = super::forward::branch(&req);
                let mut e = super::forward::Edits::plain(69, "X-Callscreen", false, true);
                e.reasons = Some(b"invalid-cli");
                e.pai_prefix = Some("[SCAM?] ");
                e.add_pai = Some(b"<sip:x@y;verstat=a>");
                e.anonymise = true;
                super::forward::write_request(
                    out,
                    &m,
                    Some(&req.top_via),
                    src,
                    &own,
                    b.as_bytes(),
                    &e,
                );
                assert!(out.ends_with(m.body), "the body is carried whole");
                let mut parsed = Vec::new();
                super::forward::write_request(&mut parsed, &m, None, src, &own, b.as_bytes(), &e);
                assert_eq!(
                    *out, parsed,
                    "the read top Via forwards as one parsed again"
                );
            }
            if let Ok(req) = read(&m) {
                // The top Via as the request read it gives the same answer
                // and destination as one parsed again.
                let mut again = Vec::new();
                copy_dialog_headers(&mut again, &m, Some(&req.top_via), src, Some(1));
                let mut parsed = Vec::new();
                copy_dialog_headers(&mut parsed, &m, None, src, Some(1));
                assert_eq!(again, parsed);
                assert_eq!(
                    super::response::udp_destination_of(Some(&req.top_via), src),
                    udp_destination(&m, src)
                );
                let ids = CallerIds::read(&req);
                let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                let ctx = number::NumberContext::national("31");
                let _ = number::normalise(&text(ids.from.uri), &ctx);
                if let Some(p) = &ids.pai {
                    let _ = number::normalise(&text(p.uri), &ctx);
                }
                for uri in super::facts::diverting_parties(&req) {
                    let _ = number::normalise(&text(uri), &ctx);
                }
                let _ = super::facts::identities(&req).count();
                let _ = number::emergency::EmergencyNumbers::default().is_emergency(&text(req.uri));
            }
        }
    }
}

#[test]
// The test reads its corpus from the repository's fixtures; the scanner
// itself never touches a file (crates/clippy.toml).
#[allow(clippy::disallowed_methods)]
fn mutated_messages_never_panic() {
    let corpus: Vec<Vec<u8>> = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/rfc4475"
    ))
    .unwrap()
    .chain(
        std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/invites"
        ))
        .unwrap(),
    )
    .filter_map(|e| e.ok().map(|e| e.path()))
    .filter(|p| p.extension().is_some_and(|x| x == "dat" || x == "sip"))
    .map(|p| std::fs::read(p).unwrap())
    .collect();
    assert!(corpus.len() >= 58, "the corpus is there: {}", corpus.len());
    let mut scanner = Scanner::new(Limits::default());
    let mut out = Vec::new();
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    // Debug builds are slow; the count keeps `cargo test` in seconds.
    let rounds = if cfg!(debug_assertions) { 300 } else { 5000 };
    // Each request also as a response (its Vias, headers and body kept), so
    // the relay path meets every Via form of the corpus.
    let responses: Vec<Vec<u8>> = corpus
        .iter()
        .filter_map(|m| {
            let nl = m.iter().position(|&c| c == b'\n')?;
            let ours = b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-csfx;i=3\r";
            Some([&ours[..], &m[nl..]].concat())
        })
        .collect();
    for original in corpus.iter().chain(&responses) {
        exercise(&mut scanner, original, &mut out);
        for _ in 0..rounds {
            let mut m = original.clone();
            mutate(&mut r, &mut m);
            exercise(&mut scanner, &m, &mut out);
        }
    }
    assert!(
        RELAYED.load(std::sync::atomic::Ordering::Relaxed) > corpus.len(),
        "the relay path was exercised"
    );
}
