//! Framing and the one-pass header index.
//!
//! A message is scanned once: the start line is split, every header line is
//! located (folded continuation lines joined to their header, compact names
//! recognised) and recorded as byte offsets into the buffer, so nothing is
//! copied. Typed views (`addr`, `via`, …) parse a header only when asked.
//!
//! Scanning never stops at the first problem without recording what it could:
//! a malformed request is still indexed as far as possible, so that a `400`
//! can copy its Via, From, To, Call-ID and CSeq (RFC 3261 §8.2.6.1).

use super::header::HeaderName;

/// Size limits (config `[sip]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest message accepted, headers and body (default 64 KiB).
    pub max_message: usize,
    /// Most header lines accepted (default 128).
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message: 64 * 1024,
            max_headers: 128,
        }
    }
}

/// How message boundaries are found (RFC 3261 §18.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One message per UDP datagram; octets beyond Content-Length are
    /// ignored; without Content-Length the body runs to the datagram's end.
    Datagram,
    /// A TCP byte stream: Content-Length is required and ends the message.
    Stream,
}

/// Why a message is not acceptable, and the answer it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The response code (400, 505, 513 …); `None`: drop silently.
    pub status: Option<u16>,
    /// What is wrong, for the reason phrase's detail and the debug log.
    pub why: &'static str,
}

impl Fault {
    const fn bad(why: &'static str) -> Fault {
        Fault {
            status: Some(400),
            why,
        }
    }

    /// A framing error: on a stream, the next message cannot be found, so
    /// the connection is closed after the answer (RFC 3261 §18.3).
    pub fn breaks_framing(&self) -> bool {
        self.status == Some(513) || self.why.contains("Content-Length")
    }
}

/// One indexed header: its name and the byte ranges of name and value.
#[derive(Clone, Copy, Debug)]
pub struct Hdr {
    pub name: HeaderName,
    name_at: (u32, u32),
    value_at: (u32, u32),
}

/// The first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request { method: &'a [u8], uri: &'a [u8] },
    Response { code: u16 },
}

/// A scanned message, borrowing the buffer and the scanner's index.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    buf: &'a [u8],
    hdrs: &'a [Hdr],
    pub start: Option<StartLine<'a>>,
    pub body: &'a [u8],
    /// Bytes this message took from the buffer (a stream may hold more).
    pub len: usize,
    /// The first problem found, if any.
    pub fault: Option<Fault>,
}

/// The outcome of a scan.
#[derive(Debug)]
pub enum Scan<'a> {
    /// A message (check `fault`).
    Message(Message<'a>),
    /// A stream that does not yet hold a whole message.
    Incomplete,
}

/// Reusable scanning state: the header index, kept between messages so that
/// scanning allocates nothing once warm.
#[derive(Debug, Default)]
pub struct Scanner {
    hdrs: Vec<Hdr>,
    pub limits: Limits,
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

fn trim_end_ws(s: &[u8], mut end: usize, start: usize) -> usize {
    while end > start && matches!(s[end - 1], b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    end
}

/// Finds the end of the line starting at `at`: (index of '\n' or len, next line start).
fn line_end(buf: &[u8], at: usize) -> Option<usize> {
    memchr::memchr(b'\n', buf.get(at..)?).map(|i| at + i)
}

fn strip_cr(buf: &[u8], start: usize, nl: usize) -> usize {
    if nl > start && buf[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    }
}

impl Scanner {
    pub fn new(limits: Limits) -> Scanner {
        Scanner {
            hdrs: Vec::with_capacity(limits.max_headers.min(256)),
            limits,
        }
    }

    /// Scans one message from the start of `buf`.
    pub fn scan<'a>(&'a mut self, buf: &'a [u8], framing: Framing) -> Scan<'a> {
        self.hdrs.clear();
        let stream = framing == Framing::Stream;
        let mut fault: Option<Fault> = None;
        let note = |f: Fault, fault: &mut Option<Fault>| {
            fault.get_or_insert(f);
        };
        // CRLFs before the start line are ignored (RFC 3261 §7.5).
        let mut pos = 0;
        while pos < buf.len() && matches!(buf[pos], b'\r' | b'\n') {
            pos += 1;
        }
        if !stream && buf.len() > self.limits.max_message {
            note(
                Fault {
                    status: Some(513),
                    why: "message too large",
                },
                &mut fault,
            );
        }
        // Start line.
        let (sl_end, mut next) = match line_end(buf, pos) {
            Some(nl) => (strip_cr(buf, pos, nl), nl + 1),
            None if stream => return self.incomplete_or_too_large(buf),
            None => (buf.len(), buf.len()),
        };
        let start = parse_start_line(&buf[pos..sl_end]);
        let start = match start {
            Ok(s) => Some(s),
            Err(f) => {
                note(f, &mut fault);
                None
            }
        };
        // Header lines, up to the empty line.
        let headers_start = next;
        let mut headers_end = None;
        let mut too_many = false;
        while next < buf.len() {
            let at = next;
            let (end, after) = match line_end(buf, at) {
                Some(nl) => (strip_cr(buf, at, nl), nl + 1),
                None if stream => return self.incomplete_or_too_large(buf),
                None => (buf.len(), buf.len()),
            };
            next = after;
            if end == at {
                headers_end = Some(after);
                break;
            }
            if matches!(buf[at], b' ' | b'\t') {
                // A folded continuation of the previous header (RFC 3261 §7.3.1).
                match self.hdrs.last_mut() {
                    Some(h) => h.value_at.1 = trim_end_ws(buf, end, h.value_at.0 as usize) as u32,
                    None => note(
                        Fault::bad("continuation line before any header"),
                        &mut fault,
                    ),
                }
                continue;
            }
            let Some(colon) = memchr::memchr(b':', &buf[at..end]).map(|i| at + i) else {
                note(Fault::bad("header line without a colon"), &mut fault);
                continue;
            };
            let name_end = trim_end_ws(buf, colon, at);
            let name = &buf[at..name_end];
            if name.is_empty() || !name.iter().all(|&c| is_token(c)) {
                note(Fault::bad("malformed header name"), &mut fault);
                continue;
            }
            let mut v = colon + 1;
            while v < end && matches!(buf[v], b' ' | b'\t') {
                v += 1;
            }
            if self.hdrs.len() >= self.limits.max_headers {
                too_many = true;
                continue;
            }
            self.hdrs.push(Hdr {
                name: HeaderName::parse(name),
                name_at: (at as u32, name_end as u32),
                value_at: (v as u32, trim_end_ws(buf, end, v) as u32),
            });
        }
        if too_many {
            note(Fault::bad("too many header lines"), &mut fault);
        }
        let headers_end = match headers_end {
            Some(e) => e,
            // A datagram may end without the empty line (RFC 4475 baddn).
            None if !stream => buf.len(),
            None => return self.incomplete_or_too_large(buf),
        };
        // Every header value must be UTF-8 (a header is never skipped). A
        // header block of ASCII (the common case) needs no closer look.
        let ascii = buf
            .get(headers_start..headers_end)
            .is_some_and(<[u8]>::is_ascii);
        for h in self.hdrs.iter().filter(|_| !ascii) {
            if std::str::from_utf8(&buf[h.value_at.0 as usize..h.value_at.1 as usize]).is_err() {
                note(Fault::bad("header value is not UTF-8"), &mut fault);
                break;
            }
        }
        // Single-value headers given twice: refused, never one picked silently.
        for (i, h) in self.hdrs.iter().enumerate() {
            if h.name.single() && self.hdrs[..i].iter().any(|g| g.name == h.name) {
                note(
                    Fault::bad(match h.name {
                        HeaderName::From => "duplicate From header",
                        HeaderName::To => "duplicate To header",
                        HeaderName::CallId => "duplicate Call-ID header",
                        HeaderName::CSeq => "duplicate CSeq header",
                        HeaderName::MaxForwards => "duplicate Max-Forwards header",
                        HeaderName::ContentLength => "conflicting Content-Length headers",
                        _ => "duplicate single-value header",
                    }),
                    &mut fault,
                );
                break;
            }
        }
        // Content-Length frames the body.
        let cl = self
            .hdrs
            .iter()
            .find(|h| h.name == HeaderName::ContentLength)
            .map(|h| {
                let v = &buf[h.value_at.0 as usize..h.value_at.1 as usize];
                if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
                    None
                } else {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok())
                }
            });
        let (body, len) = match (cl, stream) {
            (Some(None), _) => {
                note(
                    Fault::bad("Content-Length is not a non-negative number"),
                    &mut fault,
                );
                (&buf[headers_end..headers_end], buf.len())
            }
            (None, true) => {
                note(
                    Fault::bad("Content-Length is required over TCP"),
                    &mut fault,
                );
                (&buf[headers_end..headers_end], headers_end)
            }
            (None, false) => (&buf[headers_end..], buf.len()),
            (Some(Some(n)), false) => {
                if headers_end + n > buf.len() {
                    note(
                        Fault::bad("Content-Length is larger than the message"),
                        &mut fault,
                    );
                    (&buf[headers_end..], buf.len())
                } else {
                    (&buf[headers_end..headers_end + n], buf.len())
                }
            }
            (Some(Some(n)), true) => {
                if headers_end + n > self.limits.max_message {
                    note(
                        Fault {
                            status: Some(513),
                            why: "message too large",
                        },
                        &mut fault,
                    );
                    (&buf[headers_end..headers_end], buf.len())
                } else if headers_end + n > buf.len() {
                    return Scan::Incomplete;
                } else {
                    (&buf[headers_end..headers_end + n], headers_end + n)
                }
            }
        };
        if stream && headers_end > self.limits.max_message {
            note(
                Fault {
                    status: Some(513),
                    why: "message too large",
                },
                &mut fault,
            );
        }
        Scan::Message(Message {
            buf,
            hdrs: &self.hdrs,
            start,
            body,
            len,
            fault,
        })
    }

    fn incomplete_or_too_large<'a>(&'a mut self, buf: &'a [u8]) -> Scan<'a> {
        if buf.len() > self.limits.max_message {
            self.hdrs.clear();
            return Scan::Message(Message {
                buf,
                hdrs: &self.hdrs,
                start: None,
                body: &[],
                len: buf.len(),
                fault: Some(Fault {
                    status: Some(513),
                    why: "message too large",
                }),
            });
        }
        Scan::Incomplete
    }
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, Fault> {
    if line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        // A response: SIP-Version SP Status-Code SP Reason-Phrase. One with a
        // bad code is dropped (RFC 4475 §3.1.2.19): nobody to answer.
        let mut parts = line.splitn(3, |&c| c == b' ');
        let _version = parts.next();
        let code = parts.next().unwrap_or_default();
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return Err(Fault {
                status: None,
                why: "response with a malformed status code",
            });
        }
        let code = u16::from(code[0] - b'0') * 100
            + u16::from(code[1] - b'0') * 10
            + u16::from(code[2] - b'0');
        if !(100..=699).contains(&code) {
            return Err(Fault {
                status: None,
                why: "response status code out of range",
            });
        }
        return Ok(StartLine::Response { code });
    }
    // Method SP Request-URI SP SIP-Version, single spaces (RFC 3261 §7.1).
    let mut parts = line.split(|&c| c == b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Fault::bad("malformed Request-Line"));
    };
    if method.is_empty() || uri.is_empty() || version.is_empty() {
        return Err(Fault::bad("malformed Request-Line"));
    }
    if !method.iter().all(|&c| is_token(c)) {
        return Err(Fault::bad("malformed method"));
    }
    if !version.eq_ignore_ascii_case(b"SIP/2.0") {
        if version.len() > 4 && version[..4].eq_ignore_ascii_case(b"SIP/") {
            return Err(Fault {
                status: Some(505),
                why: "SIP version not supported",
            });
        }
        return Err(Fault::bad("malformed SIP version"));
    }
    if uri
        .iter()
        .any(|&c| c == b'<' || c == b'>' || c == b'\t' || c < 0x21)
    {
        return Err(Fault::bad("malformed Request-URI"));
    }
    Ok(StartLine::Request { method, uri })
}

impl<'a> Message<'a> {
    /// Every header in order: (name, raw name, value). A folded value keeps
    /// its line breaks; the views treat them as white space.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, &'a [u8], &'a [u8])> + '_ {
        let buf = self.buf;
        self.hdrs.iter().map(move |h| {
            (
                h.name,
                &buf[h.name_at.0 as usize..h.name_at.1 as usize],
                &buf[h.value_at.0 as usize..h.value_at.1 as usize],
            )
        })
    }

    /// The value of the first header of that name.
    pub fn get(&self, name: HeaderName) -> Option<&'a [u8]> {
        let buf = self.buf;
        self.hdrs
            .iter()
            .find(|h| h.name == name)
            .map(|h| &buf[h.value_at.0 as usize..h.value_at.1 as usize])
    }

    /// The values of every header of that name, in order.
    pub fn all(&self, name: HeaderName) -> impl Iterator<Item = &'a [u8]> + '_ {
        let buf = self.buf;
        self.hdrs
            .iter()
            .filter(move |h| h.name == name)
            .map(move |h| &buf[h.value_at.0 as usize..h.value_at.1 as usize])
    }

    /// The value of the first header with this (non-standard) name, any case.
    pub fn get_named(&self, name: &str) -> Option<&'a [u8]> {
        self.headers()
            .find(|(_, n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, _, v)| v)
    }

    /// The whole header line (name to end of value) of header `i`, for copying.
    /// The message's own bytes (a stream's buffer may hold more).
    pub fn raw(&self) -> &'a [u8] {
        &self.buf[..self.len.min(self.buf.len())]
    }

    /// The header index (offsets into `raw()`), for a copy of the message
    /// (`moved::OwnedMessage`).
    pub(crate) fn index(&self) -> &'a [Hdr] {
        self.hdrs
    }

    /// This message on a copy of its bytes and index, its start line and
    /// body already moved there (`moved::Mover`).
    pub(crate) fn moved<'b>(
        &self,
        buf: &'b [u8],
        hdrs: &'b [Hdr],
        start: Option<StartLine<'b>>,
        body: &'b [u8],
    ) -> Message<'b> {
        Message {
            buf,
            hdrs,
            start,
            body,
            len: self.len,
            fault: self.fault,
        }
    }

    pub fn header_count(&self) -> usize {
        self.hdrs.len()
    }

    /// The first line as it arrived (without CRLF), for copying.
    pub fn start_line(&self) -> &'a [u8] {
        let end = self
            .hdrs
            .first()
            .map_or(self.len.min(self.buf.len()), |h| h.name_at.0 as usize);
        let s = &self.buf[..end.min(self.buf.len())];
        let a = s
            .iter()
            .position(|&c| !matches!(c, b'\r' | b'\n'))
            .unwrap_or(s.len());
        let line = &s[a..];
        let b = line
            .iter()
            .position(|&c| matches!(c, b'\r' | b'\n'))
            .unwrap_or(line.len());
        &line[..b]
    }

    pub fn method(&self) -> Option<&'a [u8]> {
        match self.start {
            Some(StartLine::Request { method, .. }) => Some(method),
            _ => None,
        }
    }

    pub fn request_uri(&self) -> Option<&'a [u8]> {
        match self.start {
            Some(StartLine::Request { uri, .. }) => Some(uri),
            _ => None,
        }
    }
}

/// Test help: `f` applied to `buf` scanned as one datagram.
#[cfg(test)]
pub fn scanned(buf: &[u8], f: impl FnOnce(&Message<'_>)) {
    let mut s = Scanner::new(Limits::default());
    let Scan::Message(m) = s.scan(buf, Framing::Datagram) else {
        panic!("no message")
    };
    f(&m)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Scanned = (Option<Fault>, usize, Vec<(HeaderName, Vec<u8>)>, Vec<u8>);

    fn scan(buf: &[u8], framing: Framing) -> Option<Scanned> {
        let mut s = Scanner::new(Limits::default());
        match s.scan(buf, framing) {
            Scan::Incomplete => None,
            Scan::Message(m) => Some((
                m.fault,
                m.len,
                m.headers().map(|(n, _, v)| (n, v.to_vec())).collect(),
                m.body.to_vec(),
            )),
        }
    }

    const INVITE: &[u8] = b"INVITE sip:+31104567890@cs SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\n\
        f: <sip:+31201234567@h>;tag=1\r\n\
        To: <sip:+31104567890@cs>\r\n\
        i: abc\r\n\
        CSeq: 1 INVITE\r\n\
        l: 4\r\n\
        \r\n\
        bodyINVITE sip:x SIP/2.0\r\n";

    #[test]
    fn a_datagram_ignores_octets_after_content_length() {
        let (fault, len, h, body) = scan(INVITE, Framing::Datagram).unwrap();
        assert_eq!(fault, None);
        assert_eq!(len, INVITE.len());
        assert_eq!(body, b"body");
        assert_eq!(
            h[1],
            (HeaderName::From, b"<sip:+31201234567@h>;tag=1".to_vec())
        );
        assert_eq!(h[3].0, HeaderName::CallId);
    }

    #[test]
    fn a_stream_is_framed_by_content_length() {
        let (fault, len, _, body) = scan(INVITE, Framing::Stream).unwrap();
        assert_eq!((fault, body.as_slice()), (None, &b"body"[..]));
        assert_eq!(&INVITE[len..], b"INVITE sip:x SIP/2.0\r\n");
        // Partial reads: every prefix short of the whole message is incomplete.
        let whole = INVITE.len() - b"INVITE sip:x SIP/2.0\r\n".len();
        for cut in 1..whole {
            assert!(
                scan(&INVITE[..cut], Framing::Stream).is_none(),
                "cut at {cut}"
            );
        }
        assert!(scan(&INVITE[..whole], Framing::Stream).is_some());
    }

    #[test]
    fn folded_headers_are_joined() {
        let m = b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n ;branch=z9hG4bK2\r\nSubject: a\r\n\tb\r\n\r\n";
        let (fault, _, h, _) = scan(m, Framing::Datagram).unwrap();
        assert_eq!(fault, None);
        assert_eq!(h[0].1, b"SIP/2.0/UDP h\r\n ;branch=z9hG4bK2".to_vec());
        assert_eq!(h[1].1, b"a\r\n\tb".to_vec());
    }

    #[test]
    fn framing_errors() {
        let cases: [(&[u8], Framing, &str); 7] = [
            (
                b"INVITE sip:a SIP/2.0\r\nl: 5\r\nl: 6\r\n\r\nhello!",
                Framing::Datagram,
                "conflicting Content-Length headers",
            ),
            (
                b"INVITE sip:a SIP/2.0\r\nl: -5\r\n\r\n",
                Framing::Datagram,
                "Content-Length is not a non-negative number",
            ),
            (
                b"INVITE sip:a SIP/2.0\r\nl: five\r\n\r\n",
                Framing::Datagram,
                "Content-Length is not a non-negative number",
            ),
            (
                b"INVITE sip:a SIP/2.0\r\nl: 50\r\n\r\nshort",
                Framing::Datagram,
                "Content-Length is larger than the message",
            ),
            (
                b"INVITE sip:a SIP/2.0\r\nFrom: a\r\n\r\n",
                Framing::Stream,
                "Content-Length is required over TCP",
            ),
            (
                b"INVITE sip:a SIP/2.0\r\nFrom: a\xff\r\n\r\n",
                Framing::Datagram,
                "header value is not UTF-8",
            ),
            (
                b"INVITE sip:a SIP/2.0\r\nFrom: a\r\nf: b\r\n\r\n",
                Framing::Datagram,
                "duplicate From header",
            ),
        ];
        for (m, framing, why) in cases {
            let (fault, ..) = scan(m, framing).unwrap();
            assert_eq!(
                fault,
                Some(Fault {
                    status: Some(400),
                    why
                }),
                "{}",
                String::from_utf8_lossy(m)
            );
        }
    }

    #[test]
    fn limits() {
        let mut s = Scanner::new(Limits {
            max_message: 64,
            max_headers: 2,
        });
        let Scan::Message(m) = s.scan(
            b"OPTIONS sip:a SIP/2.0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
            Framing::Datagram,
        ) else {
            panic!()
        };
        assert_eq!(m.fault.unwrap().why, "too many header lines");
        let big = [b'x'; 100];
        let Scan::Message(m) = s.scan(&big, Framing::Stream) else {
            panic!()
        };
        assert_eq!(m.fault.unwrap().status, Some(513));
    }

    #[test]
    fn start_lines() {
        for (line, status) in [
            (&b"INVITE  sip:a SIP/2.0"[..], Some(400)),
            (b"INVITE sip:a SIP/2.0 ", Some(400)),
            (b"INVITE sip:a; lr SIP/2.0", Some(400)),
            (b"INVITE <sip:a> SIP/2.0", Some(400)),
            (b"OPTIONS sip:a SIP/7.0", Some(505)),
            (b"INVITE sip:a", Some(400)),
            (b"SIP/2.0 4294967301 big", None),
        ] {
            let mut m = line.to_vec();
            m.extend_from_slice(b"\r\n\r\n");
            let (fault, ..) = scan(&m, Framing::Datagram).unwrap();
            assert_eq!(
                fault.map(|f| f.status),
                Some(status),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        let (fault, ..) = scan(b"SIP/2.0 200 OK\r\n\r\n", Framing::Datagram).unwrap();
        assert_eq!(fault, None);
    }
}
