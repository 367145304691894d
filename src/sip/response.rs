//! Building responses by copying bytes from the request (RFC 3261 §8.2.6):
//! every Via in order (the top one with `received` and `rport` added, RFC
//! 3581), From, To (with our tag), Call-ID and CSeq; then the answer's own
//! headers. Written into a buffer the caller reuses, so answering allocates
//! nothing once warm.

use std::hash::BuildHasher;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};

use super::addr::{param, split_list, trim_lws};
use super::header::HeaderName;
use super::scan::Message;
use super::via::parse_via;

/// Reason phrases (RFC 3261 §21, RFC 8688 for 608).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        483 => "Too Many Hops",
        486 => "Busy Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        607 => "Unwanted",
        608 => "Rejected",
        _ => match code / 100 {
            3 => "Redirection",
            4 => "Request Failure",
            5 => "Server Error",
            6 => "Global Failure",
            _ => "Unknown",
        },
    }
}

/// A To-tag derived from the request alone (a keyed hash of Call-ID,
/// From-tag and top Via branch), so a retransmission gets the same tag
/// without any state. The key is random per process.
#[derive(Clone, Debug, Default)]
pub struct TagKey(std::collections::hash_map::RandomState);

impl TagKey {
    pub fn tag(&self, call_id: &[u8], from_tag: &[u8], branch: &[u8]) -> u64 {
        self.0.hash_one((call_id, from_tag, branch))
    }

    /// The key of a transaction's answer in the retransmission cache.
    pub fn transaction(&self, call_id: &[u8], from_tag: &[u8], branch: &[u8], cseq: u32) -> u64 {
        self.0.hash_one((call_id, from_tag, branch, cseq))
    }
}

/// Starts a response: the status line.
pub fn status_line(out: &mut Vec<u8>, code: u16, reason: &str) {
    out.clear();
    let _ = write!(out, "SIP/2.0 {code} {reason}\r\n");
}

fn same_ip(host: &[u8], ip: IpAddr) -> bool {
    std::str::from_utf8(host)
        .ok()
        .and_then(|h| h.parse::<IpAddr>().ok())
        == Some(ip)
}

/// Copies Via (top one annotated), From, To (tagged unless it has a tag or
/// `to_tag` is `None`), Call-ID and CSeq from the request.
pub fn copy_dialog_headers(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    src: SocketAddr,
    to_tag: Option<u64>,
) {
    let mut first = true;
    for v in msg.all(HeaderName::Via) {
        out.extend_from_slice(b"Via: ");
        if first {
            first = false;
            annotated_via(out, v, src);
        } else {
            out.extend_from_slice(v);
        }
        out.extend_from_slice(b"\r\n");
    }
    for (name, h) in [
        ("From", HeaderName::From),
        ("To", HeaderName::To),
        ("Call-ID", HeaderName::CallId),
        ("CSeq", HeaderName::CSeq),
    ] {
        if let Some(v) = msg.get(h) {
            let _ = write!(out, "{name}: ");
            out.extend_from_slice(v);
            if h == HeaderName::To
                && let Some(tag) = to_tag
                && !has_tag(v)
            {
                let _ = write!(out, ";tag={tag:016x}");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Writes the first Via header's value with its top element annotated for
/// the way back (RFC 3261 §18.2.1, RFC 3581): `received` when the sent-by
/// host is not the source address (or `rport` was asked for), `rport` filled
/// with the source port. Other elements of the same header are kept.
pub fn annotated_via(out: &mut Vec<u8>, v: &[u8], src: SocketAddr) {
    let top = split_list(v).next().unwrap_or_default();
    // The rest of this header value after the top element, if any.
    let rest_at = top.as_ptr() as usize - v.as_ptr() as usize + top.len();
    match parse_via(top) {
        Ok(via) => {
            let _ = write!(out, "SIP/2.0/");
            out.extend_from_slice(via.transport);
            out.push(b' ');
            out.extend_from_slice(via.host);
            if let Some(p) = via.port {
                let _ = write!(out, ":{p}");
            }
            let params = trim_lws(via.params);
            let mut has_rport = false;
            for p in params.split(|&c| c == b';').skip(1) {
                let name = trim_lws(&p[..p.iter().position(|&c| c == b'=').unwrap_or(p.len())]);
                if name.eq_ignore_ascii_case(b"rport") {
                    has_rport = true;
                    continue;
                }
                if name.eq_ignore_ascii_case(b"received") {
                    continue;
                }
                out.push(b';');
                out.extend_from_slice(trim_lws(p));
            }
            if !same_ip(via.host_bare(), src.ip()) || has_rport {
                let _ = write!(out, ";received={}", src.ip());
            }
            if has_rport {
                let _ = write!(out, ";rport={}", src.port());
            }
        }
        Err(_) => out.extend_from_slice(top),
    }
    out.extend_from_slice(&v[rest_at.min(v.len())..]);
}

/// Whether a From/To value carries a tag parameter (outside its URI).
pub fn has_tag(v: &[u8]) -> bool {
    tag_of(v).is_some()
}

/// The `tag` parameter of a From/To value.
pub fn tag_of(v: &[u8]) -> Option<&[u8]> {
    let params = match v.iter().rposition(|&c| c == b'>') {
        Some(gt) => &v[gt + 1..],
        None => &v[v.iter().position(|&c| c == b';').unwrap_or(v.len())..],
    };
    param(params, "tag")
}

/// Adds one header line.
pub fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Ends the header block of a response without a body.
pub fn finish(out: &mut Vec<u8>) {
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
}

/// Where a UDP response goes (RFC 3261 §18.2.2 with RFC 3581): the source
/// address of the request, at the source port when the top Via asked for
/// `rport`, else at the Via's port (5060 by default).
pub fn udp_destination(msg: &Message<'_>, src: SocketAddr) -> SocketAddr {
    let via = msg
        .get(HeaderName::Via)
        .and_then(|v| split_list(v).next())
        .and_then(|v| parse_via(v).ok());
    match via {
        Some(v) if v.param("rport").is_none() => SocketAddr::new(src.ip(), v.port.unwrap_or(5060)),
        _ => src,
    }
}

/// Escapes a header value for use inside a SIP URI's headers part
/// (RFC 3261 §19.1.1: `hvalue = *( hnv-unreserved / unreserved / escaped )`).
pub fn escape_uri_header(out: &mut Vec<u8>, v: &[u8]) {
    escape(out, v, b"-_.!~*'()[]/?:+$");
}

/// Escapes, from `start` on, every byte outside printable ASCII (CR, LF
/// and TAB aside) as `%HH`: what a refused request carried in its copied
/// headers is never sent back raw.
pub fn escape_raw_bytes(out: &mut Vec<u8>, start: usize) {
    let Some(tail) = out.get(start..) else {
        return;
    };
    if tail
        .iter()
        .all(|&c| (0x20..0x7f).contains(&c) || matches!(c, b'\r' | b'\n' | b'\t'))
    {
        return;
    }
    let tail = tail.to_vec();
    out.truncate(start);
    for c in tail {
        if (0x20..0x7f).contains(&c) || matches!(c, b'\r' | b'\n' | b'\t') {
            out.push(c);
        } else {
            let _ = write!(out, "%{c:02X}");
        }
    }
}

/// Escapes a URI parameter's value (RFC 3261 `pvalue`: unreserved and
/// param-unreserved characters stay, `;`, `=`, `@` … are escaped).
pub fn escape_uri_param(out: &mut Vec<u8>, v: &[u8]) {
    escape(out, v, b"-_.!~*'()[]/:&+$");
}

fn escape(out: &mut Vec<u8>, v: &[u8], keep: &[u8]) {
    for &c in v {
        if c.is_ascii_alphanumeric() || keep.contains(&c) {
            out.push(c);
        } else {
            let _ = write!(out, "%{c:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::scan::{Framing, Limits, Scan, Scanner};

    #[test]
    fn copies_dialog_headers_and_annotates_the_top_via() {
        let req = b"OPTIONS sip:cs SIP/2.0\r\n\
            Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKa;rport, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\n\
            Via: SIP/2.0/TCP 10.0.0.8;branch=z9hG4bKc\r\n\
            From: <sip:a@b>;tag=f1\r\nTo: <sip:cs>\r\nCall-ID: c1\r\nCSeq: 2 OPTIONS\r\n\r\n";
        let mut s = Scanner::new(Limits::default());
        let Scan::Message(m) = s.scan(req, Framing::Datagram) else {
            panic!()
        };
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let mut out = Vec::new();
        status_line(&mut out, 200, "OK");
        copy_dialog_headers(&mut out, &m, src, Some(0xabc));
        finish(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "SIP/2.0 200 OK\r\n\
             Via: SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKa;received=192.0.2.7;rport=40000, SIP/2.0/UDP 10.0.0.9;branch=z9hG4bKb\r\n\
             Via: SIP/2.0/TCP 10.0.0.8;branch=z9hG4bKc\r\n\
             From: <sip:a@b>;tag=f1\r\nTo: <sip:cs>;tag=0000000000000abc\r\nCall-ID: c1\r\nCSeq: 2 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n"
        );
        assert_eq!(
            udp_destination(&m, src),
            src,
            "rport: back to the source port"
        );
    }

    #[test]
    fn without_rport_the_via_port_is_used() {
        let req =
            b"OPTIONS sip:cs SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bKa\r\n\r\n";
        let mut s = Scanner::new(Limits::default());
        let Scan::Message(m) = s.scan(req, Framing::Datagram) else {
            panic!()
        };
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        assert_eq!(udp_destination(&m, src), "192.0.2.7:5070".parse().unwrap());
        let mut out = Vec::new();
        copy_dialog_headers(&mut out, &m, src, None);
        assert_eq!(
            out, b"Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bKa\r\n",
            "same host: no received"
        );
    }

    #[test]
    fn tags_and_escaping() {
        assert_eq!(tag_of(b"<sip:a@b;tag=x>;tag=y"), Some(&b"y"[..]));
        assert_eq!(tag_of(b"sip:a@b;tag=z"), Some(&b"z"[..]));
        assert!(!has_tag(b"<sip:a@b;tag=x>"));
        let mut out = Vec::new();
        escape_uri_header(&mut out, b"\"[SCAM?] Bob\" <sip:+31@h>");
        assert_eq!(out, b"%22[SCAM?]%20Bob%22%20%3Csip:+31%40h%3E");
    }
}
