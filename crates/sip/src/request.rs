//! A request as a stateless UAS reads it (RFC 3261 §8.2): the method, the
//! headers every response copies, and the checks that decide between
//! screening it and answering 400, 405, 416, 420, 501 or 505.

use super::addr::{NameAddr, Uri, parse_name_addr, split_list, trim_lws, uri_bytes_ok};
use super::header::HeaderName;
use super::scan::{Fault, Message};
use super::via::{Via, parse_vias};

/// Methods, as far as callscreen tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Invite,
    Ack,
    Cancel,
    Options,
    /// Defined by RFC 3261 or its extensions, but not served here: 405.
    NotAllowed,
    /// Not a method callscreen knows: 501.
    Unknown,
}

/// Methods of RFC 3261 and its extensions that a UAS recognises.
const KNOWN: [&[u8]; 10] = [
    b"BYE",
    b"REGISTER",
    b"PRACK",
    b"SUBSCRIBE",
    b"NOTIFY",
    b"PUBLISH",
    b"INFO",
    b"REFER",
    b"MESSAGE",
    b"UPDATE",
];

impl Method {
    /// Methods are case-sensitive (RFC 3261 §7.1).
    pub fn classify(m: &[u8]) -> Method {
        match m {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            _ if KNOWN.contains(&m) => Method::NotAllowed,
            _ => Method::Unknown,
        }
    }
}

/// The `Allow` header value of every 405/501 and OPTIONS answer.
pub const ALLOW: &str = "INVITE, ACK, CANCEL, OPTIONS";

/// What to do with a request that is not screened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal<'a> {
    /// Answer with this status (and reason detail).
    Status(u16, &'static str),
    /// 420 Bad Extension, with the Require value for `Unsupported`.
    BadExtension(&'a [u8]),
}

/// A request checked far enough to be answered by a stateless UAS.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    pub msg: Message<'a>,
    pub method: Method,
    pub uri: &'a [u8],
    /// The Request-URI, parsed (none when it is no URI callscreen reads).
    pub ruri: Option<Uri<'a>>,
    pub call_id: &'a [u8],
    pub cseq: u32,
    pub from: NameAddr<'a>,
    pub to: NameAddr<'a>,
    pub top_via: Via<'a>,
    pub max_forwards: Option<u32>,
}

fn bad(why: &'static str) -> Refusal<'static> {
    Refusal::Status(400, why)
}

/// Checks a request in the order RFC 3261 and RFC 4475 call for; ACK and
/// CANCEL are checked like the others (the caller ignores them).
pub fn read<'a>(msg: &Message<'a>) -> Result<Request<'a>, Refusal<'a>> {
    read_as(msg, false)
}

/// The checks of a proxy (RFC 3261 §16.3): any method is forwarded (an
/// unknown one as a non-INVITE request), `Require` is the endpoints'
/// business, and `Proxy-Require` names an extension callscreen does not have.
pub fn read_for_proxy<'a>(msg: &Message<'a>) -> Result<Request<'a>, Refusal<'a>> {
    read_as(msg, true)
}

fn read_as<'a>(msg: &Message<'a>, proxy: bool) -> Result<Request<'a>, Refusal<'a>> {
    if let Some(Fault {
        status: Some(s),
        why,
    }) = msg.fault
    {
        return Err(Refusal::Status(s, why));
    }
    let (method_raw, uri) = match (msg.method(), msg.request_uri()) {
        (Some(m), Some(u)) => (m, u),
        _ => return Err(bad("not a request")),
    };
    let method = Method::classify(method_raw);
    let call_id = trim_lws(msg.get(HeaderName::CallId).ok_or(bad("missing Call-ID"))?);
    let from_raw = msg.get(HeaderName::From).ok_or(bad("missing From"))?;
    let to_raw = msg.get(HeaderName::To).ok_or(bad("missing To"))?;
    let cseq_raw = msg.get(HeaderName::CSeq).ok_or(bad("missing CSeq"))?;
    if msg.get(HeaderName::Via).is_none() {
        return Err(bad("missing Via"));
    }
    if call_id.is_empty() || call_id.iter().any(|&c| c.is_ascii_whitespace()) {
        return Err(bad("malformed Call-ID"));
    }
    // CSeq: 32-bit number, LWS, method (RFC 3261 §8.1.1.5).
    let cseq_raw = trim_lws(cseq_raw);
    let n_end = cseq_raw
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(cseq_raw.len());
    let cseq = std::str::from_utf8(&cseq_raw[..n_end])
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .ok_or(bad("CSeq number missing or above 2^32-1"))?;
    let cseq_method = trim_lws(&cseq_raw[n_end..]);
    if n_end == 0 || cseq_method.is_empty() || n_end == cseq_raw.len() {
        return Err(bad("malformed CSeq"));
    }
    if method == Method::Unknown && !proxy {
        return Err(Refusal::Status(501, "method not implemented"));
    }
    if cseq_method != method_raw {
        return Err(bad("CSeq method does not match the request method"));
    }
    if method == Method::NotAllowed && !proxy {
        return Err(Refusal::Status(405, "method not allowed"));
    }
    let max_forwards = match msg.get(HeaderName::MaxForwards).map(trim_lws) {
        None => None,
        Some(v) => Some(
            std::str::from_utf8(v)
                .ok()
                .filter(|s| !s.is_empty() && s.len() <= 10 && s.bytes().all(|c| c.is_ascii_digit()))
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or(bad("malformed Max-Forwards"))?,
        ),
    };
    if !call_id.iter().all(u8::is_ascii_graphic) {
        return Err(bad("malformed Call-ID"));
    }
    let from = parse_name_addr(from_raw).map_err(|_| bad("malformed From"))?;
    let to = parse_name_addr(to_raw).map_err(|_| bad("malformed To"))?;
    // Bytes outside the URI grammar are refused, never screened or echoed
    // (RFC 3261 §25.1: they must be escaped).
    if !uri_bytes_ok(uri) {
        return Err(bad(
            "unescaped bytes outside the URI grammar in the Request-URI",
        ));
    }
    if !uri_bytes_ok(from.uri) {
        return Err(bad("unescaped bytes outside the URI grammar in From"));
    }
    if !uri_bytes_ok(to.uri) {
        return Err(bad("unescaped bytes outside the URI grammar in To"));
    }
    for v in msg.all(HeaderName::PAssertedIdentity) {
        for e in split_list(v) {
            // An unreadable PAI is not screened (as before); one with bytes
            // outside the grammar is refused.
            let Ok(a) = parse_name_addr(e) else { continue };
            if !uri_bytes_ok(a.uri) {
                return Err(bad(
                    "unescaped bytes outside the URI grammar in P-Asserted-Identity",
                ));
            }
        }
    }
    let mut top_via = None;
    for v in msg.all(HeaderName::Via) {
        for via in parse_vias(v) {
            let via = via.map_err(bad)?;
            top_via.get_or_insert(via);
        }
    }
    let top_via = top_via.ok_or(bad("missing Via"))?;
    for c in msg.all(HeaderName::Contact) {
        for e in split_list(c) {
            if e != b"*" {
                let a = parse_name_addr(e).map_err(|_| bad("malformed Contact"))?;
                if !uri_bytes_ok(a.uri) {
                    return Err(bad("unescaped bytes outside the URI grammar in Contact"));
                }
            }
        }
    }
    // The Request-URI must be a URI whose scheme callscreen serves (RFC 3261 §8.2.2.1).
    let ruri = Uri::parse(uri);
    let scheme = ruri.map(|u| u.scheme);
    let is_sip =
        scheme.is_some_and(|s| s.eq_ignore_ascii_case(b"sip") || s.eq_ignore_ascii_case(b"sips"));
    let scheme_ok = is_sip
        || scheme.is_some_and(|s| {
            s.eq_ignore_ascii_case(b"tel")
                || (s.eq_ignore_ascii_case(b"urn")
                    && uri.len() >= 15
                    && uri[..15].eq_ignore_ascii_case(b"urn:service:sos"))
        });
    if !scheme_ok {
        return Err(Refusal::Status(416, "unsupported URI scheme"));
    }
    if is_sip && uri.contains(&b'?') {
        // Headers are not allowed in a Request-URI (RFC 3261 §19.1.1).
        return Err(bad("headers in the Request-URI"));
    }
    // A UAS must refuse extensions it does not support (RFC 3261 §8.2.2.3);
    // ACK and CANCEL are exempt.
    let must_know = if proxy {
        HeaderName::ProxyRequire
    } else {
        HeaderName::Require
    };
    if !matches!(method, Method::Ack | Method::Cancel)
        && let Some(req) = msg.all(must_know).map(trim_lws).find(|v| !v.is_empty())
    {
        return Err(Refusal::BadExtension(req));
    }
    Ok(Request {
        msg: *msg,
        method,
        uri,
        ruri,
        call_id,
        cseq,
        from,
        to,
        top_via,
        max_forwards,
    })
}
