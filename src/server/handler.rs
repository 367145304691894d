//! One message in, at most one answer out, for both modes: the message is
//! scanned, a response goes to proxy mode's relay, what cannot be answered
//! is dropped, the ingress peer is found, the request is read (or refused
//! with its status), then handed to redirect or proxy mode. Shared by the UDP
//! threads and the TCP tasks; each owns a `Handler` (scanner and output
//! buffer reused, nothing allocated per call once warm, apart from the
//! retransmission cache's copy).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::admit::{Admit, admit};
use super::answer::{Cx, Outcome, reply, simple};
use super::callpath::CallPath;
use super::ingress::{self, Ingress};
use super::{proxy, redirect};
use crate::config::{Mode, UnknownSource};
use crate::sip::response::reason_phrase;
use crate::sip::{ALLOW, Framing, Refusal, Scan, Scanner, StartLine};
use crate::state::Metrics;

pub struct Handler {
    scanner: Scanner,
    pub out: Vec<u8>,
    cp: Arc<CallPath>,
    /// The inbound TCP connection this handler reads (proxy mode writes it
    /// into its Via, so that responses come back on it).
    pub conn: Option<u64>,
    /// How long the message waited in the kernel's queue (UDP; zero over
    /// TCP), set by the receiving thread before `handle`.
    pub queued: Duration,
    /// The UDP address the message came in on (set by the receiving thread).
    pub local: Option<SocketAddr>,
}

impl Handler {
    pub fn new(cp: Arc<CallPath>) -> Handler {
        let limits = cp.shared.runtime.load().settings.sip.limits;
        Handler {
            scanner: Scanner::new(limits),
            out: Vec::with_capacity(2048),
            cp,
            conn: None,
            queued: Duration::ZERO,
            local: None,
        }
    }

    /// Whether a datagram from `src` is refused before it is parsed: its
    /// address is no SBC, peer or next hop, and `[sip] unknown_source` says
    /// drop, or the address has had its share of 403s
    /// (`unknown_source_per_sec`). Counted; logged at debug.
    pub fn refuse_unknown(&self, src: SocketAddr) -> bool {
        let rt = self.cp.shared.runtime.load();
        let s = &rt.settings;
        if s.knows(src.ip()) {
            return false;
        }
        let refused = s.sip.unknown_source == UnknownSource::Drop
            || !self
                .cp
                .unknowns
                .admit(src.ip(), s.sip.unknown_source_per_sec, Instant::now());
        if refused {
            Metrics::inc(&self.cp.shared.metrics.unknown_source);
            tracing::debug!(source = %src, "datagram from an unknown source dropped unparsed");
        }
        refused
    }

    /// Handles the message at the start of `buf` from `src`.
    pub fn handle(&mut self, buf: &[u8], src: SocketAddr, framing: Framing) -> Outcome {
        let t0 = Instant::now();
        let cp = Arc::clone(&self.cp);
        let rt = cp.shared.runtime.load();
        self.scanner.limits = rt.settings.sip.limits;
        let msg = match self.scanner.scan(buf, framing) {
            Scan::Incomplete => return Outcome::Incomplete,
            Scan::Message(m) => m,
        };
        let consumed = msg.len;
        let close = framing == Framing::Stream && msg.fault.is_some_and(|f| f.breaks_framing());
        let m = &cp.shared.metrics;
        let proxy = rt.settings.sip.mode == Mode::Proxy;
        let mut cx = Cx {
            src,
            framing,
            consumed,
            close,
            conn: self.conn,
            rt: &rt,
            cp: &cp,
            t0,
            shed: false,
            local: self.local,
        };
        if let (true, Some(StartLine::Response { code }), None) = (proxy, msg.start, msg.fault) {
            return proxy::response(&mut self.out, &msg, code, &cx);
        }
        if matches!(msg.start, Some(StartLine::Response { .. }))
            || msg.fault.is_some_and(|f| f.status.is_none())
        {
            // A stateless UAS sends no requests, so no response is ours; and
            // a message that cannot be answered is dropped.
            return Outcome::Silent { consumed, close };
        }
        let ingress = ingress::resolve(&rt.settings, src.ip(), &msg);
        if ingress == Ingress::Unknown {
            Metrics::inc(&m.unknown_source);
            tracing::debug!(source = %src, "request from an unknown source refused");
            // An ACK is never answered (RFC 3261 §17.2.1).
            if rt.settings.sip.unknown_source == UnknownSource::Drop
                || msg.fault.is_some()
                || msg.start.is_none()
                || msg.method() == Some(b"ACK")
            {
                return Outcome::Silent { consumed, close };
            }
            simple(&mut self.out, &msg, src, 403, "Forbidden", &cp, &[]);
            return reply(&msg, src, framing, consumed, close);
        }
        let read = if proxy {
            crate::sip::request::read_for_proxy(&msg)
        } else {
            crate::sip::request::read(&msg)
        };
        let req = match read {
            Ok(r) => r,
            Err(Refusal::Status(code, why)) => {
                // Nothing to answer to, or an ACK (never answered, RFC 3261 §17.2.1).
                if (msg.start.is_none() && code == 400 && msg.header_count() == 0)
                    || msg.method() == Some(b"ACK")
                {
                    Metrics::inc(&m.malformed);
                    tracing::debug!(source = %src, reason = why, "malformed message dropped");
                    return Outcome::Silent { consumed, close };
                }
                if matches!(code, 400 | 505 | 513) {
                    Metrics::inc(&m.malformed);
                    tracing::debug!(source = %src, reason = why, code, "malformed request answered");
                } else {
                    Metrics::inc(&m.refused_methods);
                }
                let extra: &[(&str, &[u8])] = if matches!(code, 405 | 501) {
                    &[("Allow", ALLOW.as_bytes())]
                } else {
                    &[]
                };
                simple(
                    &mut self.out,
                    &msg,
                    src,
                    code,
                    reason_phrase(code),
                    &cp,
                    extra,
                );
                return reply(&msg, src, framing, consumed, close);
            }
            Err(Refusal::BadExtension(req)) => {
                simple(
                    &mut self.out,
                    &msg,
                    src,
                    420,
                    "Bad Extension",
                    &cp,
                    &[("Unsupported", req)],
                );
                return reply(&msg, src, framing, consumed, close);
            }
        };
        match admit(&req, ingress, self.queued, &rt.settings, &cp.shared, t0) {
            Admit::Screen => {}
            Admit::Shed => cx.shed = true,
            Admit::Drop => return cx.silent(),
            Admit::Answer(code) => {
                simple(
                    &mut self.out,
                    &msg,
                    src,
                    code,
                    reason_phrase(code),
                    &cp,
                    &[],
                );
                return cx.reply(&msg);
            }
        }
        if proxy {
            proxy::request(&mut self.out, &msg, &req, ingress, &cx)
        } else {
            redirect::request(&mut self.out, &msg, &req, ingress, &cx)
        }
    }
}
