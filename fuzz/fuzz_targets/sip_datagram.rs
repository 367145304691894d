//! One UDP datagram through everything callscreen does with it: the
//! scanner, the request checks of both modes, the caller identities, the
//! Request-URI's user part, a forwarded request and a relayed response.
#![no_main]

use std::net::SocketAddr;

use callscreen::sip::facts::{
    CallerIds, diverting_parties, identities, request_user, request_user_param, user_without_param,
};
use callscreen::sip::forward::{Edits, OwnVia, branch, write_request};
use callscreen::sip::relay::relay_response;
use callscreen::sip::request::{read, read_for_proxy};
use callscreen::sip::{Framing, Limits, Scan, Scanner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut scanner = Scanner::new(Limits::default());
    let Scan::Message(m) = scanner.scan(data, Framing::Datagram) else {
        return;
    };
    let src: SocketAddr = "192.0.2.7:5060".parse().unwrap();
    let mut out = Vec::new();
    let _ = relay_response(&mut out, &m, |_| true);
    if let Ok(req) = read(&m) {
        let ids = CallerIds::read(&req);
        let _ = ids.from.uri.len() + ids.pai.map_or(0, |p| p.uri.len());
        let _ = diverting_parties(&req).count() + identities(&req).count();
        let _ = request_user_param(&req, b"cs");
        let _ = request_user(&req).and_then(|u| user_without_param(u, b"cs"));
    }
    if let Ok(req) = read_for_proxy(&m) {
        let own = OwnVia {
            tls: false,
            tcp: false,
            host: "192.0.2.10",
            port: 5060,
            conn: Some(7),
        };
        let b = branch(&req);
        let mut e = Edits::plain(69, "X-Callscreen", true, true);
        e.reasons = Some(b"invalid-cli");
        e.anonymise = true;
        e.request_uri = Some(b"sip:warn@192.0.2.50;target=+31202621234;cause=302");
        write_request(&mut out, &m, src, &own, b.as_bytes(), &e);
        assert!(out.ends_with(m.body), "the body is carried whole");
    }
});
