//! Keeping what was read: a request, scanned and read from a receive
//! buffer that is about to be reused, moved onto a copy of its bytes, its
//! views pointing into the copy. Nothing is scanned or read again (a signed
//! INVITE waiting for its verification keeps its request this way).
//!
//! A view is moved by its offset in the message; one that does not lie in
//! the message's bytes (none does today) makes the move fail rather than
//! point elsewhere.

use std::borrow::Cow;

use super::addr::{NameAddr, Uri};
use super::facts::CallerIds;
use super::request::Request;
use super::scan::{Hdr, Message, StartLine};
use super::via::Via;

/// A message's bytes and its header index, owned.
#[derive(Debug)]
pub struct OwnedMessage {
    buf: Box<[u8]>,
    hdrs: Box<[Hdr]>,
}

impl OwnedMessage {
    /// A copy of `msg`'s bytes (this message's only: a stream's buffer may
    /// hold the next) and of its header index.
    pub fn copy(msg: &Message<'_>) -> OwnedMessage {
        OwnedMessage {
            buf: msg.raw().into(),
            hdrs: msg.index().into(),
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Moves views from a message's buffer onto its copy.
pub struct Mover<'b> {
    from: usize,
    to: &'b [u8],
}

impl<'b> Mover<'b> {
    /// Views of `msg` moved onto `copy`, which must be `OwnedMessage::copy(msg)`.
    pub fn new(msg: &Message<'_>, copy: &'b OwnedMessage) -> Mover<'b> {
        Mover {
            from: msg.raw().as_ptr() as usize,
            to: &copy.buf,
        }
    }

    /// The same bytes in the copy.
    pub fn bytes(&self, s: &[u8]) -> Option<&'b [u8]> {
        if s.is_empty() {
            return Some(&self.to[..0]);
        }
        let at = (s.as_ptr() as usize).checked_sub(self.from)?;
        self.to.get(at..at.checked_add(s.len())?)
    }

    pub fn str(&self, s: &str) -> Option<&'b str> {
        std::str::from_utf8(self.bytes(s.as_bytes())?).ok()
    }

    /// A borrowed text moved, an owned one (an unescaped display name) copied:
    /// the `Cow` itself, not the text, says which.
    #[allow(clippy::ptr_arg)]
    fn cow(&self, c: &Cow<'_, str>) -> Option<Cow<'b, str>> {
        Some(match c {
            Cow::Borrowed(s) => Cow::Borrowed(self.str(s)?),
            Cow::Owned(s) => Cow::Owned(s.clone()),
        })
    }

    fn opt(&self, s: Option<&[u8]>) -> Option<Option<&'b [u8]>> {
        match s {
            None => Some(None),
            Some(s) => self.bytes(s).map(Some),
        }
    }

    pub fn message(&self, m: &Message<'_>, copy: &'b OwnedMessage) -> Option<Message<'b>> {
        let start = match m.start {
            None => None,
            Some(StartLine::Request { method, uri }) => Some(StartLine::Request {
                method: self.bytes(method)?,
                uri: self.bytes(uri)?,
            }),
            Some(StartLine::Response { code }) => Some(StartLine::Response { code }),
        };
        Some(m.moved(&copy.buf, &copy.hdrs, start, self.bytes(m.body)?))
    }

    pub fn uri(&self, u: &Uri<'_>) -> Option<Uri<'b>> {
        Some(Uri {
            scheme: self.bytes(u.scheme)?,
            user: self.opt(u.user)?,
            host: self.bytes(u.host)?,
            params: self.bytes(u.params)?,
        })
    }

    pub fn name_addr(&self, a: &NameAddr<'_>) -> Option<NameAddr<'b>> {
        Some(NameAddr {
            display: match &a.display {
                None => None,
                Some(d) => Some(self.cow(d)?),
            },
            uri: self.bytes(a.uri)?,
            params: self.bytes(a.params)?,
        })
    }

    pub fn via(&self, v: &Via<'_>) -> Option<Via<'b>> {
        Some(Via {
            transport: self.bytes(v.transport)?,
            host: self.bytes(v.host)?,
            port: v.port,
            params: self.bytes(v.params)?,
        })
    }

    /// `req`, read from the message this mover was made for, on the copy.
    pub fn request(&self, req: &Request<'_>, copy: &'b OwnedMessage) -> Option<Request<'b>> {
        Some(Request {
            msg: self.message(&req.msg, copy)?,
            method: req.method,
            uri: self.bytes(req.uri)?,
            ruri: match &req.ruri {
                None => None,
                Some(u) => Some(self.uri(u)?),
            },
            call_id: self.bytes(req.call_id)?,
            cseq: req.cseq,
            from: self.name_addr(&req.from)?,
            to: self.name_addr(&req.to)?,
            top_via: self.via(&req.top_via)?,
            max_forwards: req.max_forwards,
        })
    }

    pub fn caller_ids(&self, ids: &CallerIds<'_>) -> Option<CallerIds<'b>> {
        Some(CallerIds {
            from: self.name_addr(&ids.from)?,
            pai: match &ids.pai {
                None => None,
                Some(p) => Some(self.name_addr(p)?),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::{Framing, Scan, Scanner};

    const INVITE: &[u8] = b"INVITE sip:+31201234567@sbc.example;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1\r\n\
Max-Forwards: 70\r\n\
From: \"Micr\\\"0soft\" <sip:+31612345678@peer.example>;tag=a\r\n\
To: <sip:+31201234567@sbc.example>\r\n\
Call-ID: moved-1\r\n\
CSeq: 1 INVITE\r\n\
P-Asserted-Identity: \"Bank\" <tel:+31201111111>\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn a_request_moved_onto_its_copy_reads_the_same_and_points_into_the_copy() {
        let mut s = Scanner::new(Default::default());
        let mut buf = INVITE.to_vec();
        buf.extend_from_slice(b"NEXT MESSAGE");
        let Scan::Message(msg) = s.scan(&buf, Framing::Stream) else {
            panic!("incomplete")
        };
        let req = crate::request::read(&msg).expect("a request");
        let ids = CallerIds::read(&req);
        let copy = OwnedMessage::copy(&msg);
        assert_eq!(copy.len(), INVITE.len(), "the next message is not copied");
        let m = Mover::new(&msg, &copy);
        let moved = m.request(&req, &copy).expect("moved");
        let moved_ids = m.caller_ids(&ids).expect("moved");
        // What reading the copy afresh would give.
        let again = crate::request::read(&moved.msg).expect("a request");
        assert_eq!(format!("{again:?}"), format!("{moved:?}"));
        assert_eq!(
            format!("{:?}", CallerIds::read(&again)),
            format!("{moved_ids:?}")
        );
        assert_eq!(format!("{ids:?}"), format!("{moved_ids:?}"));
        let inside = |s: &[u8]| {
            let (a, b) = (copy.buf.as_ptr() as usize, s.as_ptr() as usize);
            b >= a && b + s.len() <= a + copy.buf.len()
        };
        assert!(inside(moved.call_id) && inside(moved.top_via.params) && inside(moved.msg.body));
        assert!(inside(moved_ids.pai.as_ref().map_or(&[][..], |p| p.uri)));
        // The header index moved with it.
        assert_eq!(
            moved.msg.get(crate::HeaderName::CallId),
            Some(&b"moved-1"[..])
        );
        // The unescaped display name is owned, and kept.
        assert_eq!(moved.from.display.as_deref(), Some("Micr\"0soft"));
        drop(buf);
        assert_eq!(moved.msg.raw(), INVITE);
    }

    #[test]
    fn a_view_outside_the_message_is_not_moved() {
        let mut s = Scanner::new(Default::default());
        let Scan::Message(msg) = s.scan(INVITE, Framing::Datagram) else {
            panic!("incomplete")
        };
        let copy = OwnedMessage::copy(&msg);
        let m = Mover::new(&msg, &copy);
        let elsewhere = b"sip:+31201234567".to_vec();
        assert_eq!(m.bytes(&elsewhere), None);
        assert_eq!(m.bytes(&INVITE[7..23]), Some(&copy.buf[7..23]));
    }
}
