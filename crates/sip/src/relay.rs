//! Proxy mode's relayed responses (RFC 3261 §16.11 with §16.7 step 3): the
//! incoming response without callscreen's Via, sent where the next Via says;
//! a health probe's answer told apart by its branch. Written into a buffer
//! the caller reuses; nothing here does I/O or keeps state.

use std::net::{IpAddr, SocketAddr};

use super::addr::split_list;
use super::forward::{BRANCH_PREFIX, PROBE_MARK};
use super::header::HeaderName;
use super::scan::{Message, StartLine};
use super::via::{Via, parse_via};

/// Where a relayed response goes: the Via below callscreen's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Back {
    /// Over UDP to this address (`received`/`rport`, else sent-by).
    Udp(SocketAddr),
    /// Over TCP: on inbound connection `conn` if it is still open, else to `addr`.
    Tcp {
        conn: Option<u64>,
        addr: Option<SocketAddr>,
    },
}

/// What a response is to callscreen in proxy mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relay<'a> {
    /// Written to the buffer; send it here.
    Forward(Back),
    /// The answer to health probe `branch`.
    Probe(&'a [u8]),
    /// The top Via is not callscreen's (RFC 3261 §16.7 step 2: drop it... a
    /// stateless proxy can only drop what it cannot place).
    NotOurs,
    /// Nowhere to send it (no Via below ours, or an address that cannot be read).
    Nowhere,
}

/// Reads the top Via of a response: callscreen's own?
pub fn top_via<'a>(msg: &Message<'a>) -> Option<Via<'a>> {
    let v = msg.get(HeaderName::Via)?;
    parse_via(split_list(v).next()?).ok()
}

fn via_addr(v: &Via<'_>, default_port: u16) -> Option<SocketAddr> {
    let host = v.param("received").unwrap_or(v.host_bare());
    let ip: IpAddr = std::str::from_utf8(host).ok()?.parse().ok()?;
    let port = match v.param("rport") {
        Some(p) if !p.is_empty() => std::str::from_utf8(p).ok()?.parse().ok()?,
        _ => v.port.unwrap_or(default_port),
    };
    Some(SocketAddr::new(ip, port))
}

/// Relays a response (RFC 3261 §16.11 with §16.7 step 3): callscreen's Via
/// removed, the rest copied; the destination read from the next Via.
/// `is_own` tells callscreen's sent-by.
pub fn relay_response<'a>(
    out: &mut Vec<u8>,
    msg: &Message<'a>,
    is_own: impl Fn(&Via<'_>) -> bool,
) -> Relay<'a> {
    let Some(StartLine::Response { .. }) = msg.start else {
        return Relay::NotOurs;
    };
    let Some(top) = top_via(msg) else {
        return Relay::NotOurs;
    };
    let branch = top.param("branch").unwrap_or_default();
    if !branch.starts_with(BRANCH_PREFIX) || !is_own(&top) {
        return Relay::NotOurs;
    }
    if branch.get(BRANCH_PREFIX.len()) == Some(&PROBE_MARK) {
        return Relay::Probe(branch);
    }
    let conn = top
        .param("i")
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| u64::from_str_radix(c, 16).ok());
    // A call forwarded although its verification failed: the originating
    // side learns why in each response (RFC 9410).
    let stir = top
        .param("stir")
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.parse::<u16>().ok())
        .and_then(|c| Some((c, super::forward::stir_cause_text(c)?)));
    let ppi = top
        .param("stirppi")
        .filter(|p| super::forward::ppi_token(p));
    out.clear();
    out.extend_from_slice(msg.start_line());
    out.extend_from_slice(b"\r\n");
    let mut next: Option<Via<'a>> = None;
    let mut first = true;
    for (name, raw, value) in msg.headers() {
        if name == HeaderName::Via {
            let mut elements = split_list(value).peekable();
            if first {
                first = false;
                elements.next();
            }
            let Some(&head) = elements.peek() else {
                continue;
            };
            if next.is_none() {
                next = parse_via(head).ok();
                if next.is_none() {
                    return Relay::Nowhere;
                }
            }
            out.extend_from_slice(b"Via: ");
            for (i, r) in elements.enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(r);
            }
            out.extend_from_slice(b"\r\n");
            continue;
        }
        if name == HeaderName::ContentLength {
            continue;
        }
        out.extend_from_slice(raw);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some((cause, text)) = stir {
        out.extend_from_slice(b"Reason: STIR;cause=");
        super::response::push_decimal(out, u32::from(cause));
        out.extend_from_slice(b";text=\"");
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
        if let Some(p) = ppi {
            out.extend_from_slice(b";ppi=\"..");
            out.extend_from_slice(p);
            out.push(b'"');
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    super::response::push_decimal(out, u32::try_from(msg.body.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(msg.body);
    let Some(next) = next else {
        return Relay::Nowhere;
    };
    let udp = next.transport.eq_ignore_ascii_case(b"UDP");
    if udp {
        match via_addr(&next, 5060) {
            Some(a) => Relay::Forward(Back::Udp(a)),
            None => Relay::Nowhere,
        }
    } else {
        let addr = via_addr(&next, 5060);
        if conn.is_none() && addr.is_none() {
            return Relay::Nowhere;
        }
        Relay::Forward(Back::Tcp { conn, addr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scanned;

    #[test]
    fn responses_lose_our_via() {
        let resp = b"SIP/2.0 180 Ringing\r\n\
            Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-csfabc, SIP/2.0/UDP sbc.example:5062;branch=z9hG4bKabc;received=198.51.100.7;rport=40000\r\n\
            Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKz\r\n\
            From: <sip:a@h>;tag=f\r\nTo: <sip:u@cs>;tag=t\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
            Content-Length: 0\r\n\r\n";
        scanned(resp, |m| {
            let mut out = Vec::new();
            let r = relay_response(&mut out, m, |v| v.host == b"192.0.2.10");
            assert_eq!(
                r,
                Relay::Forward(Back::Udp("198.51.100.7:40000".parse().unwrap()))
            );
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.starts_with("SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP sbc.example:5062;"),
                "{text}"
            );
            assert_eq!(text.matches("Via:").count(), 2);
            let mut out = Vec::new();
            assert_eq!(
                relay_response(&mut out, m, |v| v.host == b"other"),
                Relay::NotOurs
            );
        });
        let tcp = b"SIP/2.0 200 OK\r\n\
            Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK-csfabc;i=1f\r\n\
            Via: SIP/2.0/TCP 198.51.100.7:5060;branch=z9hG4bKabc\r\n\
            From: <sip:a@h>;tag=f\r\nTo: <sip:u@cs>;tag=t\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n";
        scanned(tcp, |m| {
            let mut out = Vec::new();
            let r = relay_response(&mut out, m, |_| true);
            assert_eq!(
                r,
                Relay::Forward(Back::Tcp {
                    conn: Some(0x1f),
                    addr: Some("198.51.100.7:5060".parse().unwrap())
                })
            );
        });
        let probe = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-csp0x1\r\n\
            From: <sip:a@h>;tag=f\r\nTo: <sip:u@cs>;tag=t\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
        scanned(probe, |m| {
            let mut out = Vec::new();
            assert_eq!(
                relay_response(&mut out, m, |_| true),
                Relay::Probe(b"z9hG4bK-csp0x1")
            );
        });
    }

    /// A response to a call forwarded although its verification failed
    /// carries the STIR Reason; with `stirppi` on callscreen's Via, the
    /// failed PASSporT named by its signature (RFC 9410 `ppi`). What the
    /// next hop echoes is checked: anything but base64url is not written.
    #[test]
    fn the_stir_reason_names_the_failed_passport() {
        let relayed = |own_via: &str| {
            let resp = format!(
                "SIP/2.0 180 Ringing\r\nVia: {own_via}\r\n\
                 Via: SIP/2.0/UDP sbc.example:5062;branch=z9hG4bKabc\r\n\
                 From: <sip:a@h>;tag=f\r\nTo: <sip:u@cs>;tag=t\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\r\n"
            );
            let mut text = String::new();
            scanned(resp.as_bytes(), |m| {
                let mut out = Vec::new();
                relay_response(&mut out, m, |_| true);
                text = String::from_utf8(out).unwrap();
            });
            text.lines()
                .find(|l| l.starts_with("Reason:"))
                .map(str::to_string)
        };
        let own = "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-csfabc;stir=437";
        assert_eq!(
            relayed(&format!("{own};stirppi=AbC-_9")).as_deref(),
            Some("Reason: STIR;cause=437;text=\"Unsupported Credential\";ppi=\"..AbC-_9\"")
        );
        assert_eq!(
            relayed(own).as_deref(),
            Some("Reason: STIR;cause=437;text=\"Unsupported Credential\"")
        );
        // A next hop that writes a quoted ppi of its own gets none relayed.
        assert_eq!(
            relayed(&format!("{own};stirppi=\"x\\\"y\"")).as_deref(),
            Some("Reason: STIR;cause=437;text=\"Unsupported Credential\"")
        );
    }
}
