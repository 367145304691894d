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
use super::via::{Via, parse_via};

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
        482 => "Loop Detected",
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

    /// [`TagKey::tag`], and from the same pass over Call-ID and From-tag the
    /// key that files an INVITE transaction in the retransmission cache
    /// (Call-ID, From-tag, CSeq number: what a merged request shares with
    /// it, RFC 3261 §8.2.2.2).
    pub fn tag_and_filing(
        &self,
        call_id: &[u8],
        from_tag: &[u8],
        branch: &[u8],
        cseq: u32,
    ) -> (u64, u64) {
        use std::hash::{Hash, Hasher};
        let mut h = self.0.build_hasher();
        (call_id, from_tag).hash(&mut h);
        // A tuple hashes its parts in turn: these are `tag`'s bytes.
        let mut t = h.clone();
        branch.hash(&mut t);
        cseq.hash(&mut h);
        (t.finish(), h.finish())
    }

    /// A hasher keyed like the tags, for the keys of the retransmission
    /// cache (which hash parts of a request that are compared case-blind).
    pub fn hasher(&self) -> std::hash::DefaultHasher {
        self.0.build_hasher()
    }
}

/// Starts a response: the status line.
pub fn status_line(out: &mut Vec<u8>, code: u16, reason: &str) {
    out.clear();
    out.extend_from_slice(b"SIP/2.0 ");
    push_decimal(out, u32::from(code));
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes `n` in decimal (the status code, ports: no formatter on the call path).
pub fn push_decimal(out: &mut Vec<u8>, n: u32) {
    let mut digits = [0u8; 10];
    let mut i = digits.len();
    let mut n = n;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Writes an address as `Display` does (IPv4 by hand; IPv6 through the formatter).
fn push_ip(out: &mut Vec<u8>, ip: IpAddr) {
    let mut text = [0u8; 15];
    match v4_text(ip, &mut text) {
        0 => {
            let _ = write!(out, "{ip}");
        }
        n => out.extend_from_slice(&text[..n]),
    }
}

/// An IPv4 address's dotted text in `buf`, and its length (0 for IPv6).
fn v4_text(ip: IpAddr, buf: &mut [u8; 15]) -> usize {
    let IpAddr::V4(v4) = ip else { return 0 };
    let mut n = 0;
    for (i, b) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        for (d, keep) in [
            (b / 100, b >= 100),
            ((b / 10) % 10, b >= 10),
            (b % 10, true),
        ] {
            if keep {
                buf[n] = b'0' + d;
                n += 1;
            }
        }
    }
    n
}

fn same_ip(host: &[u8], ip: IpAddr) -> bool {
    if ip.is_ipv4() {
        // An IPv4 address reads back only from its one canonical form
        // (`Ipv4Addr` refuses leading zeros): comparing the bytes is the same test.
        let mut canonical = [0u8; 15];
        let n = v4_text(ip, &mut canonical);
        return host == &canonical[..n];
    }
    std::str::from_utf8(host)
        .ok()
        .and_then(|h| h.parse::<IpAddr>().ok())
        == Some(ip)
}

/// Copies Via (top one annotated), From, To (tagged unless it has a tag or
/// `to_tag` is `None`), Call-ID and CSeq from the request. `top` is the
/// request's top Via element when it was read already (it is not parsed
/// again).
pub fn copy_dialog_headers(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    top: Option<&Via<'_>>,
    src: SocketAddr,
    to_tag: Option<u64>,
) {
    let mut first = true;
    for v in msg.all(HeaderName::Via) {
        out.extend_from_slice(b"Via: ");
        if first {
            first = false;
            annotated_via(out, v, top, src);
        } else {
            out.extend_from_slice(v);
        }
        out.extend_from_slice(b"\r\n");
    }
    for (name, h) in [
        (&b"From: "[..], HeaderName::From),
        (b"To: ", HeaderName::To),
        (b"Call-ID: ", HeaderName::CallId),
        (b"CSeq: ", HeaderName::CSeq),
    ] {
        if let Some(v) = msg.get(h) {
            out.extend_from_slice(name);
            out.extend_from_slice(v);
            if h == HeaderName::To
                && let Some(tag) = to_tag
                && !has_tag(v)
            {
                // `{tag:016x}`
                out.extend_from_slice(b";tag=");
                for k in (0..16).rev() {
                    out.push(b"0123456789abcdef"[((tag >> (4 * k)) & 0xf) as usize]);
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Writes the first Via header's value with its top element annotated for
/// the way back (RFC 3261 §18.2.1, RFC 3581): `received` when the sent-by
/// host is not the source address (or `rport` was asked for), `rport` filled
/// with the source port. Other elements of the same header are kept.
/// `read` is the top element as the request was read (from this value), if
/// it was.
pub fn annotated_via(out: &mut Vec<u8>, v: &[u8], read: Option<&Via<'_>>, src: SocketAddr) {
    // The top element ends where its parameters end (both are trimmed);
    // one read from elsewhere is not used.
    let read = read.filter(|via| {
        let (start, end) = (v.as_ptr() as usize, v.as_ptr() as usize + v.len());
        let p = via.params.as_ptr() as usize;
        p >= start && p + via.params.len() <= end
    });
    let (parsed, top_end) = match read {
        Some(via) => (
            Ok(*via),
            via.params.as_ptr() as usize - v.as_ptr() as usize + via.params.len(),
        ),
        None => {
            let top = split_list(v).next().unwrap_or_default();
            (
                parse_via(top).map_err(|_| top),
                top.as_ptr() as usize - v.as_ptr() as usize + top.len(),
            )
        }
    };
    match parsed {
        Ok(via) => {
            out.extend_from_slice(b"SIP/2.0/");
            out.extend_from_slice(via.transport);
            out.push(b' ');
            out.extend_from_slice(via.host);
            if let Some(p) = via.port {
                out.push(b':');
                push_decimal(out, u32::from(p));
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
                out.extend_from_slice(b";received=");
                push_ip(out, src.ip());
            }
            if has_rport {
                out.extend_from_slice(b";rport=");
                push_decimal(out, u32::from(src.port()));
            }
        }
        Err(top) => out.extend_from_slice(top),
    }
    out.extend_from_slice(&v[top_end.min(v.len())..]);
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
    udp_destination_of(via.as_ref(), src)
}

/// [`udp_destination`] for a request whose top Via was read already.
pub fn udp_destination_of(top: Option<&Via<'_>>, src: SocketAddr) -> SocketAddr {
    match top {
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
    use crate::scan::{Framing, Limits, Scan, Scanner};

    #[test]
    fn the_tag_from_the_filing_pass_is_the_tag() {
        let k = TagKey::default();
        let (tag, filing) = k.tag_and_filing(b"call-1", b"ft-1", b"z9hG4bK-1", 7);
        assert_eq!(tag, k.tag(b"call-1", b"ft-1", b"z9hG4bK-1"));
        // The filing key leaves the branch out and takes the CSeq in.
        assert_eq!(
            filing,
            k.tag_and_filing(b"call-1", b"ft-1", b"z9hG4bK-2", 7).1
        );
        assert_ne!(
            filing,
            k.tag_and_filing(b"call-1", b"ft-1", b"z9hG4bK-1", 8).1
        );
    }

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
        copy_dialog_headers(&mut out, &m, None, src, Some(0xabc));
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
        copy_dialog_headers(&mut out, &m, None, src, None);
        assert_eq!(
            out, b"Via: SIP/2.0/UDP 192.0.2.7:5070;branch=z9hG4bKa\r\n",
            "same host: no received"
        );
    }

    #[test]
    fn numbers_and_addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "192.0.2.7",
            "10.100.9.255",
            "2001:db8::1",
            "::ffff:192.0.2.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            let mut out = Vec::new();
            push_ip(&mut out, ip);
            assert_eq!(out, ip.to_string().as_bytes());
            assert!(same_ip(ip.to_string().as_bytes(), ip));
        }
        assert!(!same_ip(b"192.0.2.07", "192.0.2.7".parse().unwrap()));
        assert!(!same_ip(b"192.0.2.70", "192.0.2.7".parse().unwrap()));
        for n in [0, 7, 10, 99, 302, 5060, 65535, u32::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
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
