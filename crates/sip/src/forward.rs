//! Proxy mode's forwarded requests (RFC 3261 §16.6 and §16.11): the incoming
//! request with callscreen's Via on top (its branch derived from the incoming
//! one), the incoming top Via annotated for the way back, Max-Forwards
//! decremented, untrusted identity headers stripped and the tags added; and
//! the health probes. Written into a buffer the caller reuses; nothing here
//! does I/O or keeps state. Responses coming back: `relay`.

use std::io::Write;
use std::net::SocketAddr;

use sha2::{Digest, Sha256};

use super::addr::{is_lws, parse_name_addr, split_list, trim_lws};
use super::header::HeaderName;
use super::request::Request;
use super::response::{annotated_via, push_decimal, tag_of};
use super::scan::Message;
use super::via::Via;

/// Every branch callscreen writes starts with this (RFC 3261 magic cookie included).
pub const BRANCH_PREFIX: &[u8] = b"z9hG4bK-cs";
/// The branch of a forwarded request: `z9hG4bK-csf` and 24 hex digits.
const FORWARD_MARK: u8 = b'f';
/// The branch of a health probe: `z9hG4bK-csp` and the hop's index.
pub(super) const PROBE_MARK: u8 = b'p';
/// RFC 3261 §18.1.1: above this a request goes over a congestion-controlled transport.
pub const UDP_MAX_REQUEST: usize = 1300;

/// A forwarded request's branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Branch([u8; 35]);

impl Branch {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The branch for a forwarded request (RFC 3261 §16.11): derived from the
/// incoming top Via's branch and sent-by when the branch carries the magic
/// cookie, else from the Call-ID, From tag, Request-URI, top Via and CSeq
/// number. The method is left out, so an INVITE, its CANCEL and the ACK of a
/// non-2xx answer (same incoming branch, RFC 3261 §9.1 and §17.1.1.3) get the
/// same branch downstream; an ACK for a 2xx has a branch of its own and so
/// gets another. Stable across restarts and across instances.
pub fn branch(req: &Request<'_>) -> Branch {
    let mut h = Sha256::new();
    let via = &req.top_via;
    let incoming = via.param("branch").unwrap_or_default();
    h.update(via.host);
    h.update(via.port.unwrap_or(0).to_be_bytes());
    if incoming.starts_with(b"z9hG4bK") {
        h.update(b"b");
        h.update(incoming);
    } else {
        h.update(b"c");
        for part in [
            req.call_id,
            req.from.param("tag").unwrap_or_default(),
            req.uri,
            incoming,
        ] {
            h.update((part.len() as u32).to_be_bytes());
            h.update(part);
        }
        h.update(req.cseq.to_be_bytes());
    }
    let digest = h.finalize();
    let mut b = [0u8; 35];
    b[..10].copy_from_slice(BRANCH_PREFIX);
    b[10] = FORWARD_MARK;
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in digest.iter().take(12).enumerate() {
        b[11 + 2 * i] = HEX[(byte >> 4) as usize];
        b[12 + 2 * i] = HEX[(byte & 15) as usize];
    }
    Branch(b)
}

/// The branch of a health probe to next hop `hop`.
pub fn probe_branch(hop: usize, seq: u64) -> String {
    format!(
        "{}{}{hop}x{seq}",
        String::from_utf8_lossy(BRANCH_PREFIX),
        PROBE_MARK as char
    )
}

/// A health probe: an OPTIONS to a next hop (RFC 3261 §11), which any
/// answer but 503 shows alive.
pub fn write_probe(out: &mut Vec<u8>, hop: SocketAddr, own: &OwnVia<'_>, index: usize, seq: u64) {
    out.clear();
    let target = match hop {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    };
    let t = match (own.tls, own.tcp) {
        (true, _) => ";transport=tls",
        (false, true) => ";transport=tcp",
        _ => "",
    };
    let _ = write!(out, "OPTIONS sip:{target}{t} SIP/2.0\r\n");
    write_own_via(out, own, probe_branch(index, seq).as_bytes(), None, None);
    let _ = write!(
        out,
        "Max-Forwards: 70\r\n\
         From: <sip:callscreen@{host}>;tag=probe{seq:x}\r\n\
         To: <sip:{target}>\r\n\
         Call-ID: probe-{index}-{seq:x}@{host}\r\n\
         CSeq: {cseq} OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        host = own.host,
        cseq = seq % (1 << 31)
    );
}

/// callscreen's own Via on a forwarded request.
#[derive(Clone, Copy, Debug)]
pub struct OwnVia<'a> {
    pub tcp: bool,
    /// Over TLS (`tcp` is set too: a stream).
    pub tls: bool,
    pub host: &'a str,
    pub port: u16,
    /// The inbound TCP connection the request came on (`;i=`), so that the
    /// responses go back on it.
    pub conn: Option<u64>,
}

/// callscreen's Via; `stir`: the STIR cause of a call forwarded although its
/// verification failed, carried as `;stir=` so that the stateless proxy
/// can tell the originating side in the responses it relays (RFC 9410).
fn write_own_via(
    out: &mut Vec<u8>,
    v: &OwnVia<'_>,
    branch: &[u8],
    stir: Option<u16>,
    ppi: Option<&[u8]>,
) {
    let t = match (v.tls, v.tcp) {
        (true, _) => "TLS",
        (false, true) => "TCP",
        _ => "UDP",
    };
    out.extend_from_slice(b"Via: SIP/2.0/");
    out.extend_from_slice(t.as_bytes());
    out.push(b' ');
    out.extend_from_slice(v.host.as_bytes());
    out.push(b':');
    push_decimal(out, u32::from(v.port));
    out.extend_from_slice(b";branch=");
    out.extend_from_slice(branch);
    if let Some(c) = v.conn {
        let _ = write!(out, ";i={c:x}");
    }
    if let Some(c) = stir {
        out.extend_from_slice(b";stir=");
        push_decimal(out, u32::from(c));
        if let Some(p) = ppi.filter(|p| ppi_token(p)) {
            out.extend_from_slice(b";stirppi=");
            out.extend_from_slice(p);
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Whether `p` can name a PASSporT by its signature in a Via parameter and
/// a Reason's `ppi` (RFC 9410: the compact form, `..` and the signature):
/// base64url, at most 128 characters (an ES256 signature is 86). What a
/// next hop echoes back is checked with this too.
pub fn ppi_token(p: &[u8]) -> bool {
    (1..=128).contains(&p.len())
        && p.iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

/// The text of a STIR cause (RFC 9410 §3; RFC 8224 §13's codes).
pub fn stir_cause_text(cause: u16) -> Option<&'static str> {
    match cause {
        403 => Some("Stale Date"),
        428 => Some("Use Identity Header"),
        436 => Some("Bad Identity Info"),
        437 => Some("Unsupported Credential"),
        438 => Some("Invalid Identity Header"),
        _ => None,
    }
}

/// What changes on the way through, decided by the caller.
#[derive(Clone, Copy, Debug)]
pub struct Edits<'a> {
    /// The Max-Forwards value to write (already decremented).
    pub max_forwards: u32,
    /// Drop every P-Asserted-Identity (the peer is not `pai_trusted`, RFC 3325).
    pub drop_pai: bool,
    /// callscreen's tag header: an inbound one is always dropped.
    pub tag_header: &'a str,
    /// The tag header's value to add (the reasons).
    pub reasons: Option<&'a [u8]>,
    /// Prefix the display name of every kept PAI with this (idempotently).
    pub pai_prefix: Option<&'a str>,
    /// A PAI to add (tagged calls without a trusted PAI).
    pub add_pai: Option<&'a [u8]>,
    /// From becomes anonymous and `Privacy: id` is set (RFC 3323).
    pub anonymise: bool,
    /// Drop the first element of the first Route header (it names callscreen).
    pub pop_route: bool,
    /// A new Request-URI (a warned call goes to the announcement service).
    pub request_uri: Option<&'a [u8]>,
    /// A header to add: its name and value.
    pub add_header: Option<(&'a str, &'a [u8])>,
    /// The verification status callscreen found (`[stir]`), written as
    /// `verstat` on From and every P-Asserted-Identity (3GPP TS 24.229
    /// §7.2A.20); any received `verstat` is always removed.
    pub verstat: Option<&'a str>,
    /// The STIR cause of a call forwarded although its verification
    /// failed (RFC 9410), carried on callscreen's Via for the responses.
    pub stir_cause: Option<u16>,
    /// The signature of the PASSporT that failed, when the request has
    /// several Identity headers (RFC 9410's `ppi`), carried the same way.
    pub stir_ppi: Option<&'a [u8]>,
    /// The Identity header callscreen signed (`[signing]`, RFC 8224): it
    /// replaces every received Identity header (a subscriber's own would
    /// claim what the operator did not attest).
    pub identity: Option<&'a [u8]>,
    /// What becomes of the `Call-Info` headers that carry Rich Call Data
    /// (RFC 9796: `purpose=icon` or `purpose=jcard`).
    pub rcd_call_info: RcdCallInfo<'a>,
}

/// What becomes of a forwarded request's `Call-Info` headers that carry
/// Rich Call Data (RFC 9796: an element with `purpose=icon` or
/// `purpose=jcard`); other `Call-Info` headers always stay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RcdCallInfo<'a> {
    /// Passed on as they came.
    Keep,
    /// Removed: no verified RCD vouches for them.
    Drop,
    /// Kept when each of their RCD elements points to a URL the verified
    /// RCD claim refers to (`icn`, `jcl`, inside `jcd`); removed otherwise
    /// (a signed logo must not carry a caller's other picture along).
    Vouched(&'a [String]),
}

impl RcdCallInfo<'_> {
    /// Whether the `Call-Info` value stays.
    fn keeps(self, value: &[u8]) -> bool {
        match self {
            RcdCallInfo::Keep => true,
            RcdCallInfo::Drop => !carries_rcd(value),
            RcdCallInfo::Vouched(urls) => {
                split_list(value).filter(|el| carries_rcd(el)).all(|el| {
                    let uri = el
                        .trim_ascii()
                        .strip_prefix(b"<")
                        .and_then(|r| r.split(|&b| b == b'>').next());
                    uri.is_some_and(|u| urls.iter().any(|x| x.as_bytes() == u))
                })
            }
        }
    }
}

impl Edits<'_> {
    /// Only the mandatory changes.
    pub fn plain(
        max_forwards: u32,
        tag_header: &str,
        drop_pai: bool,
        pop_route: bool,
    ) -> Edits<'_> {
        Edits {
            max_forwards,
            drop_pai,
            tag_header,
            reasons: None,
            pai_prefix: None,
            add_pai: None,
            anonymise: false,
            pop_route,
            request_uri: None,
            add_header: None,
            verstat: None,
            stir_cause: None,
            stir_ppi: None,
            identity: None,
            rcd_call_info: RcdCallInfo::Keep,
        }
    }
}

/// Writes the forwarded request. `src` is where it came from (for the
/// annotation of the incoming top Via; `top`, that Via as the request was
/// read, if it was). Content-Length is written from the
/// body actually carried.
pub fn write_request(
    out: &mut Vec<u8>,
    msg: &Message<'_>,
    top: Option<&Via<'_>>,
    src: SocketAddr,
    own: &OwnVia<'_>,
    branch: &[u8],
    e: &Edits<'_>,
) {
    out.clear();
    match (e.request_uri, msg.method()) {
        (Some(uri), Some(method)) => {
            out.extend_from_slice(method);
            out.push(b' ');
            out.extend_from_slice(uri);
            out.extend_from_slice(b" SIP/2.0");
        }
        _ => out.extend_from_slice(msg.start_line()),
    }
    out.extend_from_slice(b"\r\n");
    write_own_via(out, own, branch, e.stir_cause, e.stir_ppi);
    let (mut via_seen, mut mf_seen, mut route_seen, mut pai_kept) = (false, false, false, false);
    for (name, raw, value) in msg.headers() {
        match name {
            HeaderName::Via if !via_seen => {
                via_seen = true;
                out.extend_from_slice(b"Via: ");
                annotated_via(out, value, top, src);
                out.extend_from_slice(b"\r\n");
                continue;
            }
            HeaderName::MaxForwards => {
                if !mf_seen {
                    mf_seen = true;
                    max_forwards(out, e.max_forwards);
                }
                continue;
            }
            HeaderName::ContentLength => continue,
            HeaderName::PAssertedIdentity => {
                if e.drop_pai {
                    continue;
                }
                pai_kept = true;
                out.extend_from_slice(b"P-Asserted-Identity: ");
                identities(out, value, e.pai_prefix, e.verstat);
                out.extend_from_slice(b"\r\n");
                continue;
            }
            HeaderName::From => {
                out.extend_from_slice(b"From: ");
                if e.anonymise {
                    out.extend_from_slice(b"\"Anonymous\" <sip:anonymous@anonymous.invalid>");
                    if let Some(tag) = tag_of(value) {
                        out.extend_from_slice(b";tag=");
                        out.extend_from_slice(tag);
                    }
                } else {
                    identities(out, value, None, e.verstat);
                }
                out.extend_from_slice(b"\r\n");
                continue;
            }
            HeaderName::Privacy if e.anonymise => continue,
            HeaderName::Identity if e.identity.is_some() => continue,
            HeaderName::Other
                if raw.eq_ignore_ascii_case(b"Call-Info") && !e.rcd_call_info.keeps(value) =>
            {
                continue;
            }
            HeaderName::Route if e.pop_route && !route_seen => {
                route_seen = true;
                let mut rest = split_list(value).skip(1).peekable();
                if rest.peek().is_some() {
                    out.extend_from_slice(b"Route: ");
                    for (i, r) in rest.enumerate() {
                        if i > 0 {
                            out.extend_from_slice(b", ");
                        }
                        out.extend_from_slice(r);
                    }
                    out.extend_from_slice(b"\r\n");
                }
                continue;
            }
            HeaderName::Other if raw.eq_ignore_ascii_case(e.tag_header.as_bytes()) => continue,
            _ => {}
        }
        out.extend_from_slice(raw);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if !mf_seen {
        max_forwards(out, e.max_forwards);
    }
    if let Some(r) = e.reasons {
        out.extend_from_slice(e.tag_header.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(r);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(p) = e.add_pai.filter(|_| !pai_kept) {
        out.extend_from_slice(b"P-Asserted-Identity: ");
        identities(out, p, None, e.verstat);
        out.extend_from_slice(b"\r\n");
    }
    if e.anonymise {
        out.extend_from_slice(b"Privacy: id\r\n");
    }
    if let Some(id) = e.identity {
        out.extend_from_slice(b"Identity: ");
        out.extend_from_slice(id);
        out.extend_from_slice(b"\r\n");
    }
    if let Some((name, value)) = e.add_header {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, u32::try_from(msg.body.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(msg.body);
}

fn max_forwards(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(b"Max-Forwards: ");
    push_decimal(out, n);
    out.extend_from_slice(b"\r\n");
}

/// A display name with the tag prefix, never twice ("[SCAM?] [SCAM?] …"),
/// written into `out` without trailing white space, `"` or `\\` (to be
/// quoted).
pub fn push_display(out: &mut Vec<u8>, display: &str, prefix: &str) {
    let start = out.len();
    let shown = display.trim_end();
    if !display.starts_with(prefix.trim_end()) {
        // Trailing white space is the display's, or the prefix's when the
        // display is all white space.
        let p = if shown.is_empty() {
            prefix.trim_end()
        } else {
            prefix
        };
        out.extend_from_slice(p.as_bytes());
    }
    out.extend_from_slice(shown.as_bytes());
    unquoted(out, start);
}

/// Removes `"` and `\\` from `out[start..]` (ASCII bytes never occur inside
/// a UTF-8 sequence, so UTF-8 stays UTF-8).
fn unquoted(out: &mut Vec<u8>, start: usize) {
    let mut w = start;
    for r in start..out.len() {
        let c = out[r];
        if c != b'"' && c != b'\\' {
            out[w] = c;
            w += 1;
        }
    }
    out.truncate(w);
}

/// Whether a Call-Info value carries Rich Call Data (RFC 9796): an element
/// with `purpose=icon` or `purpose=jcard`.
fn carries_rcd(value: &[u8]) -> bool {
    value
        .split(|&b| b == b';' || b == b',')
        .map(<[u8]>::trim_ascii)
        .any(|p| {
            p.eq_ignore_ascii_case(b"purpose=icon") || p.eq_ignore_ascii_case(b"purpose=jcard")
        })
}

/// Every identity of a From or PAI value without any received `verstat`;
/// with the display prefix and callscreen's own `verstat` when given.
fn identities(out: &mut Vec<u8>, value: &[u8], prefix: Option<&str>, verstat: Option<&str>) {
    if prefix.is_none() && verstat.is_none() {
        return without_param(out, value, b"verstat");
    }
    for (i, el) in split_list(value).enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        match parse_name_addr(el) {
            Ok(na) => {
                match (prefix, na.display.as_deref()) {
                    (Some(p), d) => {
                        out.push(b'"');
                        push_display(out, d.unwrap_or_default(), p);
                        out.extend_from_slice(b"\" ");
                    }
                    (None, Some(d)) => {
                        out.push(b'"');
                        let start = out.len();
                        out.extend_from_slice(d.as_bytes());
                        unquoted(out, start);
                        out.extend_from_slice(b"\" ");
                    }
                    (None, None) => {}
                }
                out.push(b'<');
                let start = out.len();
                without_param(out, na.uri, b"verstat");
                if let Some(v) = verstat {
                    add_verstat(out, start, v);
                }
                out.push(b'>');
                without_param(out, na.params, b"verstat");
            }
            Err(_) => without_param(out, el, b"verstat"),
        }
    }
}

/// A From or PAI value with `verstat` set to `v` (redirect mode's answer
/// carries it on the identity it asserts).
pub fn with_verstat(out: &mut Vec<u8>, value: &[u8], v: &str) {
    identities(out, value, None, Some(v));
}

/// Adds `;verstat=<v>` to the URI written at `out[start..]`: a tel URI's
/// parameter at its end; in a sip(s) URI with `user=phone`, a parameter of
/// the telephone number in the user part (RFC 3261 §19.1.6); other URIs
/// carry no telephone number and get none.
fn add_verstat(out: &mut Vec<u8>, start: usize, v: &str) {
    let uri = &out[start..];
    if uri
        .get(..4)
        .is_some_and(|s| s.eq_ignore_ascii_case(b"tel:"))
    {
        out.extend_from_slice(b";verstat=");
        out.extend_from_slice(v.as_bytes());
        return;
    }
    let Some(u) = super::addr::Uri::parse(uri) else {
        return;
    };
    if u.param("user")
        .is_none_or(|p| !p.eq_ignore_ascii_case(b"phone"))
    {
        return;
    }
    let Some(at) = uri.iter().position(|&c| c == b'@') else {
        return;
    };
    let at = start + at;
    out.splice(at..at, b";verstat=".iter().chain(v.as_bytes()).copied());
}

/// Copies `v` without any `;name[=value]` parameter (in or outside `<>`):
/// `verstat` may only come from a verifier callscreen trusts, and there is none.
fn without_param(out: &mut Vec<u8>, v: &[u8], name: &[u8]) {
    let mut i = 0;
    let mut quoted = false;
    while i < v.len() {
        let c = v[i];
        if c == b'"' {
            quoted = !quoted;
        }
        if c == b';' && !quoted {
            let after = &v[i + 1..];
            let n = after
                .iter()
                .position(|&c| !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
                .unwrap_or(after.len());
            if after[..n].eq_ignore_ascii_case(name)
                && matches!(after.get(n), None | Some(b'=' | b';' | b'>' | b',' | b'?'))
                || (after[..n].eq_ignore_ascii_case(name)
                    && after.get(n).is_some_and(|&c| is_lws(c)))
            {
                // Skip the parameter and its value.
                let mut j = i + 1 + n;
                if v.get(j) == Some(&b'=') {
                    j += 1;
                    while j < v.len()
                        && !matches!(v[j], b';' | b'>' | b',' | b'?' | b'@')
                        && !is_lws(v[j])
                    {
                        j += 1;
                    }
                }
                i = j;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
}

/// Whether a Route value's first element names callscreen (its host and port).
pub fn route_is_own(msg: &Message<'_>, is_own: impl Fn(&[u8], Option<u16>) -> bool) -> bool {
    let Some(first) = msg
        .get(HeaderName::Route)
        .and_then(|v| split_list(v).next())
    else {
        return false;
    };
    let Ok(na) = parse_name_addr(first) else {
        return false;
    };
    let Some(u) = super::addr::Uri::parse(na.uri) else {
        return false;
    };
    let hp = trim_lws(u.host);
    let (host, port) = match hp.iter().rposition(|&c| c == b':') {
        Some(i) if !hp[i..].contains(&b']') => (
            &hp[..i],
            std::str::from_utf8(&hp[i + 1..])
                .ok()
                .and_then(|p| p.parse().ok()),
        ),
        _ => (hp, None),
    };
    is_own(host, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_display_prefix_is_added_once_without_quotes_or_trailing_space() {
        // The former `format!` and `replace` version, as the reference.
        let reference = |display: &str, prefix: &str| {
            let shown = if display.starts_with(prefix.trim_end()) {
                display.to_string()
            } else {
                format!("{prefix}{display}")
            };
            shown.trim_end().replace(['"', '\\'], "")
        };
        for (d, p) in [
            ("Micr0soft Support", "[SCAM?] "),
            ("[SCAM?] Micr0soft", "[SCAM?] "),
            ("", "[SCAM?] "),
            ("   ", "[SCAM?] "),
            ("a \"b\" \\c  ", "[SCAM?] "),
            ("Zoë\u{a0}", "[?] "),
            ("x", ""),
        ] {
            let mut out = b"<".to_vec();
            push_display(&mut out, d, p);
            assert_eq!(out[1..], *reference(d, p).as_bytes(), "{d:?} {p:?}");
        }
    }
    use crate::scan::scanned;

    const INVITE: &[u8] = b"INVITE sip:+31104567890@cs;user=phone SIP/2.0\r\n\
        Via: SIP/2.0/UDP sbc.example:5062;branch=z9hG4bKabc;rport\r\n\
        Max-Forwards: 70\r\n\
        From: \"Bob\" <sip:+31201234567@sbc;user=phone;verstat=TN-Validation-Passed>;tag=f1\r\n\
        To: <sip:+31104567890@cs>\r\n\
        Call-ID: c1@sbc\r\n\
        CSeq: 1 INVITE\r\n\
        P-Asserted-Identity: \"[SCAM?] Bob\" <sip:+31201234567@sbc;user=phone>\r\n\
        X-Callscreen: blocklist:forged\r\n\
        Content-Type: application/sdp\r\n\
        Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn forwarded_invite() {
        scanned(INVITE, |m| {
            let req = crate::request::read_for_proxy(m).unwrap();
            let b = branch(&req);
            let own = OwnVia {
                tls: false,
                tcp: false,
                host: "192.0.2.10",
                port: 5060,
                conn: None,
            };
            let mut e = Edits::plain(69, "X-Callscreen", false, false);
            e.reasons = Some(b"spoof:display-name");
            e.pai_prefix = Some("[SCAM?] ");
            let mut out = Vec::new();
            let src: SocketAddr = "198.51.100.7:40000".parse().unwrap();
            write_request(&mut out, m, None, src, &own, b.as_bytes(), &e);
            let text = String::from_utf8(out).unwrap();
            let want = format!(
                "INVITE sip:+31104567890@cs;user=phone SIP/2.0\r\n\
                 Via: SIP/2.0/UDP 192.0.2.10:5060;branch={}\r\n\
                 Via: SIP/2.0/UDP sbc.example:5062;branch=z9hG4bKabc;received=198.51.100.7;rport=40000\r\n\
                 Max-Forwards: 69\r\n\
                 From: \"Bob\" <sip:+31201234567@sbc;user=phone>;tag=f1\r\n\
                 To: <sip:+31104567890@cs>\r\n\
                 Call-ID: c1@sbc\r\n\
                 CSeq: 1 INVITE\r\n\
                 P-Asserted-Identity: \"[SCAM?] Bob\" <sip:+31201234567@sbc;user=phone>\r\n\
                 Content-Type: application/sdp\r\n\
                 X-Callscreen: spoof:display-name\r\n\
                 Content-Length: 4\r\n\r\nv=0\n",
                String::from_utf8_lossy(b.as_bytes())
            );
            assert_eq!(text, want);
        });
    }

    #[test]
    fn anonymised_and_stripped() {
        scanned(INVITE, |m| {
            let own = OwnVia {
                tls: false,
                tcp: true,
                host: "cs",
                port: 5070,
                conn: Some(0x2a),
            };
            let mut e = Edits::plain(0, "x-callscreen", true, false);
            e.anonymise = true;
            e.add_pai = Some(b"\"[SCAM?] Bob\" <sip:+31201234567@sbc>");
            let mut out = Vec::new();
            let src: SocketAddr = "198.51.100.7:40000".parse().unwrap();
            write_request(&mut out, m, None, src, &own, b"z9hG4bK-csfX", &e);
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains("Via: SIP/2.0/TCP cs:5070;branch=z9hG4bK-csfX;i=2a\r\n"),
                "{text}"
            );
            assert!(
                text.contains("From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=f1\r\n"),
                "{text}"
            );
            assert!(text.contains("Privacy: id\r\n"));
            assert_eq!(text.matches("P-Asserted-Identity").count(), 1, "{text}");
            assert!(
                text.contains("P-Asserted-Identity: \"[SCAM?] Bob\" <sip:+31201234567@sbc>\r\n")
            );
            assert!(
                !text.to_ascii_lowercase().contains("x-callscreen"),
                "{text}"
            );
            assert!(!text.contains("verstat"));
        });
    }

    /// Rich Call Data in Call-Info (RFC 9796) is dropped when the call has
    /// no verified RCD to vouch for it, and kept when it has and points to
    /// what the RCD refers to; other Call-Info headers stay.
    #[test]
    fn call_info_with_rich_call_data_is_dropped_unless_vouched_for() {
        let msg = String::from_utf8_lossy(INVITE).replace(
            "Content-Type:",
            "Call-Info: <https://scam.example/microsoft.png>;purpose=icon\r\n\
             call-info: <https://x.example/a.json> ; PURPOSE=jcard, <https://x.example/b>;purpose=info\r\n\
             Call-Info: <https://www.example.com/alice/>;purpose=info\r\n\
             Content-Type:",
        );
        scanned(msg.as_bytes(), |m| {
            let own = OwnVia {
                tls: false,
                tcp: false,
                host: "cs",
                port: 5060,
                conn: None,
            };
            let src: SocketAddr = "198.51.100.7:40000".parse().unwrap();
            let jcard = ["https://x.example/a.json".to_string()];
            let both = [
                "https://x.example/a.json".to_string(),
                "https://scam.example/microsoft.png".to_string(),
            ];
            // What stays: the number of Call-Info headers, the icon's, the jCard's.
            for (rule, count, icon, card) in [
                (RcdCallInfo::Drop, 1, false, false),
                (RcdCallInfo::Keep, 3, true, true),
                (RcdCallInfo::Vouched(&jcard), 2, false, true),
                (RcdCallInfo::Vouched(&both), 3, true, true),
                (RcdCallInfo::Vouched(&[]), 1, false, false),
            ] {
                let mut e = Edits::plain(69, "X-Callscreen", false, false);
                e.rcd_call_info = rule;
                let mut out = Vec::new();
                write_request(&mut out, m, None, src, &own, b"z9hG4bK-x", &e);
                let text = String::from_utf8(out).unwrap().to_ascii_lowercase();
                assert_eq!(text.matches("call-info:").count(), count, "{rule:?} {text}");
                assert!(text.contains("alice"), "{text}");
                assert_eq!(text.contains("microsoft.png"), icon, "{rule:?} {text}");
                assert_eq!(text.contains("a.json"), card, "{rule:?} {text}");
            }
        });
        assert!(!carries_rcd(b"<https://a/purpose=icon>;purpose=info"));
    }

    #[test]
    fn branches_map_cancel_and_ack_to_the_invite() {
        let with = |method: &str, branch: &str, to_tag: &str| {
            let msg = format!(
                "{method} sip:u@cs SIP/2.0\r\nVia: SIP/2.0/UDP h:5060;branch={branch}\r\n\
                 From: <sip:a@h>;tag=f\r\nTo: <sip:u@cs>{to_tag}\r\nCall-ID: c\r\nCSeq: 1 {method}\r\n\r\n"
            );
            let mut out = None;
            scanned(msg.as_bytes(), |m| {
                out = Some(branch_of(m));
            });
            out.unwrap()
        };
        fn branch_of(m: &Message<'_>) -> Branch {
            branch(&crate::request::read_for_proxy(m).unwrap())
        }
        let invite = with("INVITE", "z9hG4bK1", "");
        assert_eq!(invite, with("CANCEL", "z9hG4bK1", ""));
        assert_eq!(invite, with("ACK", "z9hG4bK1", ";tag=t"));
        assert_ne!(invite, with("ACK", "z9hG4bK2", ";tag=t"), "ACK for a 2xx");
        // RFC 2543 branches: the hash of the transaction's fields.
        let old = with("INVITE", "1", "");
        assert_eq!(old, with("CANCEL", "1", ""));
        assert_eq!(old, with("ACK", "1", ";tag=t"));
        assert!(invite.as_bytes().starts_with(b"z9hG4bK-csf"));
    }

    #[test]
    fn verstat_is_removed_wherever_it_is() {
        let mut out = Vec::new();
        without_param(
            &mut out,
            b"<sip:+31@h;verstat=TN-Validation-Passed;user=phone>;tag=x",
            b"verstat",
        );
        assert_eq!(out, b"<sip:+31@h;user=phone>;tag=x");
        out.clear();
        without_param(
            &mut out,
            b"\"a;verstat=x\" <tel:+31;VERSTAT=No-TN-Validation>",
            b"verstat",
        );
        assert_eq!(out, b"\"a;verstat=x\" <tel:+31>");
        out.clear();
        without_param(&mut out, b"<sip:h;verstatus=1>", b"verstat");
        assert_eq!(out, b"<sip:h;verstatus=1>");
        // In the user part, where 3GPP puts it: the host stays.
        out.clear();
        without_param(
            &mut out,
            b"<sip:+31201234567;verstat=TN-Validation-Passed@h;user=phone>;tag=x",
            b"verstat",
        );
        assert_eq!(out, b"<sip:+31201234567@h;user=phone>;tag=x");
    }

    #[test]
    fn verstat_goes_where_a_telephone_number_is() {
        let with = |v: &[u8]| {
            let mut out = Vec::new();
            with_verstat(&mut out, v, "TN-Validation-Passed");
            String::from_utf8(out).unwrap()
        };
        // A tel URI: its own parameter, at the end.
        assert_eq!(
            with(b"<tel:+31201234567>;tag=a"),
            "<tel:+31201234567;verstat=TN-Validation-Passed>;tag=a"
        );
        // A sip URI with user=phone: in the user part (RFC 3261 §19.1.6);
        // the display name and header parameters kept, a received one replaced.
        assert_eq!(
            with(b"\"Bob\" <sip:+31201234567;verstat=No-TN-Validation@h;user=phone>;tag=b"),
            "\"Bob\" <sip:+31201234567;verstat=TN-Validation-Passed@h;user=phone>;tag=b"
        );
        // Without user=phone a sip URI names no telephone number: none added
        // (and a received one still removed).
        assert_eq!(
            with(b"<sip:bob@h;verstat=TN-Validation-Passed>;tag=c"),
            "<sip:bob@h>;tag=c"
        );
        // Two identities in one PAI value: each gets it.
        assert_eq!(
            with(b"<sip:+31201234567@h;user=phone>, <tel:+31201234567>"),
            "<sip:+31201234567;verstat=TN-Validation-Passed@h;user=phone>, <tel:+31201234567;verstat=TN-Validation-Passed>"
        );
    }
}
