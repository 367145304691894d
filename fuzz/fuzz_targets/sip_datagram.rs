//! One UDP datagram through everything callscreen does with it: the
//! scanner, the request checks of both modes, the caller identities, the
//! Request-URI's user part, an answer's copied headers and its UDP
//! destination (the same whether the top Via comes from the read request
//! or is parsed again), a forwarded request (likewise) and a relayed
//! response.
#![no_main]

use std::net::SocketAddr;

use callscreen::sip::facts::{
    CallerIds, diverting_parties, identities, request_user, request_user_param, user_without_param,
};
use callscreen::sip::forward::{Edits, OwnVia, branch, write_request};
use callscreen::sip::relay::relay_response;
use callscreen::sip::request::{read, read_for_proxy};
use callscreen::sip::response::{copy_dialog_headers, udp_destination, udp_destination_of};
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
        let mut read_via = Vec::new();
        copy_dialog_headers(&mut read_via, &m, Some(&req.top_via), src, Some(1));
        let mut parsed = Vec::new();
        copy_dialog_headers(&mut parsed, &m, None, src, Some(1));
        assert_eq!(
            read_via, parsed,
            "the answer's headers depend on where the Via was read"
        );
        assert_eq!(
            udp_destination_of(Some(&req.top_via), src),
            udp_destination(&m, src)
        );
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
        write_request(
            &mut out,
            &m,
            Some(&req.top_via),
            src,
            &own,
            b.as_bytes(),
            &e,
        );
        assert!(out.ends_with(m.body), "the body is carried whole");
        let mut parsed = Vec::new();
        write_request(&mut parsed, &m, None, src, &own, b.as_bytes(), &e);
        assert_eq!(
            out, parsed,
            "the forwarded request depends on where the Via was read"
        );
    }
});
