//! callscreen's own SIP load generator (issue #13), std and libc only:
//! INVITEs over UDP or TCP from one address and port per simulated SBC
//! (never a port per call, which would flatter any per-socket spreading),
//! closed loop with a fixed window of calls in flight, or open loop at a
//! fixed rate; unique Call-IDs; a caller mix (a share from a file of listed
//! numbers, the rest clean). Reports answered calls/s, answer codes, and
//! latency from send to final answer (p50, p99, p99.9) as one JSON line;
//! `answered_all` counts the warm-up's answers too (a daemon's CPU time over
//! the whole run is divided by it). A call unanswered after a second is
//! lost: counted in `timeouts`, its place in the window freed.
//!
//! Over UDP each SBC is one thread on one connected socket that sends and
//! takes answers in batches (`sendmmsg`/`recvmmsg`) and sleeps only when no
//! answer waits: the generator shares the machine with what it measures, so
//! it spends as little of it as it can (bench/run.sh's ceiling rose from
//! 80 000 to 157 000 calls/s at window 8 with this and a one-thread
//! responder; BENCHMARKS.md).
//!
//! Also the trivial responder that answers every INVITE with a fixed 302:
//! the harness's ceiling, measured in the same run.
//!
//!   loadgen run --target 127.0.0.1:5060 [--transport udp|tcp] [--window 8 | --rate 20000]
//!               [--seconds 10] [--warmup 1] [--sbcs 1] [--listed FILE] [--listed-share 0.01]
//!               [--trunk kpn] [--identities FILE] [--caller-prefix +4420] [--caller-pool N]
//!
//! `--identities FILE`: every call signed (STIR/SHAKEN), its caller and
//! Identity header value from the file's lines (`CALLER IDENTITY`, taken
//! in turn; examples/sti_fixture.rs writes one).
//!
//! `--caller-prefix P`: clean callers are P and eight digits (default
//! +4420); `--caller-pool N`: drawn from N such numbers (default: every
//! call its own).
//!   loadgen responder --listen 127.0.0.1:5070 [--threads 1] [--seconds 600]
//!
//! bench/run.sh runs it against the responder, callscreen and Kamailio.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    arg(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("responder") => responder(&args),
        Some("run") => run(&args),
        _ => {
            eprintln!("usage: loadgen run --target ADDR … | loadgen responder --listen ADDR …");
            std::process::exit(2);
        }
    }
}

/// Datagrams taken or sent per system call (`recvmmsg`/`sendmmsg`).
const BATCH: usize = 32;
/// Room for one datagram: INVITEs and answers here are well under 4 KB.
const DGRAM: usize = 8192;

/// The trivial responder: every INVITE answered 302 with a fixed Contact,
/// copying every Via (in order: as a next hop behind a proxy it must), From,
/// To (a tag added), Call-ID and CSeq; nothing else. Its threads share one
/// socket and take and answer datagrams in batches, so that the ceiling is
/// what the kernel and the generator allow, not this responder.
fn responder(args: &[String]) {
    let listen: SocketAddr = arg(args, "--listen")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:5070".parse().expect("an address"));
    let threads: usize = num(args, "--threads", 1);
    let seconds: u64 = num(args, "--seconds", 600);
    let sock = UdpSocket::bind(listen).expect("bind the responder's address");
    big_buffers(&sock);
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("a timeout");
    eprintln!("responder ready on {listen}");
    let end = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let s = sock.try_clone().expect("a socket");
            std::thread::spawn(move || {
                let mut io = Batch::new();
                while Instant::now() < end {
                    let n = io.recv(s.as_raw_fd(), libc::MSG_WAITFORONE);
                    for i in 0..n {
                        let from = io.from[i];
                        let mut out = std::mem::take(&mut io.out[i]);
                        out.clear();
                        if answer_302(io.datagram(i), &mut out) {
                            io.queue(out, Some(from));
                        } else {
                            io.out[i] = out;
                        }
                    }
                    io.send(s.as_raw_fd());
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

/// Socket buffers for bursts (up to the system's `rmem_max`/`wmem_max`):
/// the default 208 KiB holds only about a hundred datagrams, which a
/// generator descheduled for a few milliseconds would lose.
fn big_buffers(sock: &UdpSocket) {
    let s = socket2::SockRef::from(sock);
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
}

/// The lines of a message's header, without the start line.
fn header_lines(msg: &[u8]) -> impl Iterator<Item = &[u8]> {
    msg.split(|&b| b == b'\n')
        .skip(1)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .take_while(|l| !l.is_empty())
}

/// A header line's name and value (both trimmed), when `names` has the name.
fn named<'a>(line: &'a [u8], names: &[&str]) -> Option<&'a [u8]> {
    let colon = line.iter().position(|&b| b == b':')?;
    let name = line[..colon].trim_ascii();
    names
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        .then(|| line[colon + 1..].trim_ascii())
}

/// The responder's 302 to an INVITE, into `out`; false for anything else.
fn answer_302(msg: &[u8], out: &mut Vec<u8>) -> bool {
    if !msg.starts_with(b"INVITE ") {
        return false;
    }
    out.extend_from_slice(b"SIP/2.0 302 Moved Temporarily\r\n");
    for l in header_lines(msg) {
        if named(l, &["via", "v"]).is_some() {
            out.extend_from_slice(l);
            out.extend_from_slice(b"\r\n");
        }
    }
    for (names, full, tail) in [
        (&["from", "f"][..], "From: ", ""),
        (&["to", "t"][..], "To: ", ";tag=resp"),
        (&["call-id", "i"][..], "Call-ID: ", ""),
        (&["cseq"][..], "CSeq: ", ""),
    ] {
        if let Some(v) = header_lines(msg).find_map(|l| named(l, names)) {
            out.extend_from_slice(full.as_bytes());
            out.extend_from_slice(v);
            out.extend_from_slice(tail.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Contact: <sip:next-hop.invalid>\r\nContent-Length: 0\r\n\r\n");
    true
}

/// Buffers for `recvmmsg` and `sendmmsg` on one socket: `BATCH` datagrams
/// in, `BATCH` out.
struct Batch {
    bufs: Vec<u8>,
    lens: [usize; BATCH],
    from: [SocketAddr; BATCH],
    /// Datagrams queued to send, and where to (None: a connected socket).
    out: Vec<Vec<u8>>,
    to: Vec<Option<SocketAddr>>,
    queued: usize,
}

impl Batch {
    fn new() -> Batch {
        let any: SocketAddr = "0.0.0.0:0".parse().expect("an address");
        Batch {
            bufs: vec![0u8; BATCH * DGRAM],
            lens: [0; BATCH],
            from: [any; BATCH],
            out: (0..BATCH).map(|_| Vec::with_capacity(1024)).collect(),
            to: vec![None; BATCH],
            queued: 0,
        }
    }

    fn datagram(&self, i: usize) -> &[u8] {
        &self.bufs[i * DGRAM..i * DGRAM + self.lens[i]]
    }

    /// Takes up to `BATCH` datagrams (`flags`: `MSG_DONTWAIT` not to wait,
    /// `MSG_WAITFORONE` to wait for the first up to the socket's timeout).
    fn recv(&mut self, fd: i32, flags: i32) -> usize {
        // SAFETY: plain C structs; all-zero is a valid value for each.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
        let mut iovs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..BATCH {
            iovs[i] = libc::iovec {
                iov_base: self.bufs[i * DGRAM..].as_mut_ptr().cast(),
                iov_len: DGRAM,
            };
            hdrs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            hdrs[i].msg_hdr.msg_namelen =
                std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at live buffers of the stated sizes.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as u32,
                flags,
                std::ptr::null_mut(),
            )
        };
        let n = n.max(0) as usize;
        for i in 0..n {
            self.lens[i] = (hdrs[i].msg_len as usize).min(DGRAM);
            self.from[i] = to_addr(&addrs[i]).unwrap_or(self.from[i]);
        }
        n
    }

    /// Queues a datagram for the next `send`.
    fn queue(&mut self, msg: Vec<u8>, to: Option<SocketAddr>) {
        let i = self.queued;
        self.out[i] = msg;
        self.to[i] = to;
        self.queued += 1;
    }

    /// Whether another datagram fits before `send`.
    fn room(&self) -> bool {
        self.queued < BATCH
    }

    /// A cleared buffer to write the next datagram into.
    fn take_buf(&mut self) -> Vec<u8> {
        let mut b = std::mem::take(&mut self.out[self.queued]);
        b.clear();
        b
    }

    /// Sends the queued datagrams; returns how many went.
    fn send(&mut self, fd: i32) -> usize {
        let n = self.queued;
        if n == 0 {
            return 0;
        }
        // SAFETY: plain C structs; all-zero is a valid value for each.
        let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { std::mem::zeroed() };
        let mut iovs: [libc::iovec; BATCH] = unsafe { std::mem::zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for i in 0..n {
            iovs[i] = libc::iovec {
                iov_base: self.out[i].as_mut_ptr().cast(),
                iov_len: self.out[i].len(),
            };
            hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
            if let Some(a) = self.to[i] {
                let sa = socket2::SockAddr::from(a);
                // SAFETY: `sa` holds `len` valid bytes; the storage is large enough for any address.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        sa.as_ptr().cast::<u8>(),
                        (&mut addrs[i] as *mut libc::sockaddr_storage).cast::<u8>(),
                        sa.len() as usize,
                    )
                };
                hdrs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
                hdrs[i].msg_hdr.msg_namelen = sa.len();
            }
        }
        let mut sent = 0;
        let mut tries = 0;
        while sent < n && tries < 100 {
            tries += 1;
            // SAFETY: the headers point at live buffers and addresses.
            let r = unsafe { libc::sendmmsg(fd, hdrs[sent..n].as_mut_ptr(), (n - sent) as u32, 0) };
            if r > 0 {
                sent += r as usize;
            } else {
                // A full send buffer: wait for room.
                let mut p = libc::pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(&mut p, 1, 10) };
            }
        }
        self.queued = 0;
        sent
    }
}

fn to_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    let len = match i32::from(s.ss_family) {
        libc::AF_INET => std::mem::size_of::<libc::sockaddr_in>(),
        libc::AF_INET6 => std::mem::size_of::<libc::sockaddr_in6>(),
        _ => return None,
    };
    // SAFETY: the storage holds an address of the family it names, `len` bytes long.
    let sa = unsafe {
        socket2::SockAddr::try_init(|st, l| {
            std::ptr::copy_nonoverlapping(
                (s as *const libc::sockaddr_storage).cast::<u8>(),
                st.cast::<u8>(),
                len,
            );
            *l = len as libc::socklen_t;
            Ok(())
        })
    };
    sa.ok().and_then(|((), a)| a.as_socket())
}

/// What one simulated SBC saw.
#[derive(Default)]
struct Tally {
    /// Calls sent while measuring.
    sent: u64,
    /// Send-to-final-answer times of the calls answered while measuring.
    latencies_us: Vec<u32>,
    codes: BTreeMap<u16, u64>,
    /// Calls never answered (within [`TIMEOUT`]), warm-up included.
    timeouts: u64,
    /// Final answers over the whole run, warm-up included (the daemon's CPU
    /// time over the run is divided by these).
    answered_all: u64,
}

/// A call unanswered this long is lost: counted, its slot in the window freed.
const TIMEOUT: Duration = Duration::from_secs(1);

struct Plan {
    target: SocketAddr,
    tcp: bool,
    window: usize,
    rate: f64,
    seconds: f64,
    listed: Arc<Vec<String>>,
    listed_share: f64,
    trunk: String,
    /// Signed calls: (caller, Identity header value), taken in turn.
    identities: Arc<Vec<(String, String)>>,
    /// Clean callers: this prefix and eight digits (`--caller-prefix`,
    /// default +4420: London numbers).
    caller_prefix: String,
    /// Clean callers drawn from this many numbers (`--caller-pool`; 0:
    /// every call its own number, as far as eight digits go).
    caller_pool: u64,
}

/// Appends `v` in decimal.
fn push_num(out: &mut Vec<u8>, mut v: u64) {
    let mut d = [0u8; 20];
    let mut i = d.len();
    loop {
        i -= 1;
        d[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&d[i..]);
}

/// What one SBC's INVITEs share, written once: the Via's transport and
/// sent-by, and the start of its branch, tags and Call-IDs (the process id,
/// unique across generators run side by side: bench/stir.sh runs two, and
/// the SBC's number).
struct Sender {
    via: Vec<u8>,
    ids: Vec<u8>,
}

impl Sender {
    fn new(p: &Plan, sbc: usize, local: SocketAddr) -> Sender {
        let transport = if p.tcp { "TCP" } else { "UDP" };
        Sender {
            via: format!("Via: SIP/2.0/{transport} {local}").into_bytes(),
            ids: format!("{}-{sbc}-", std::process::id()).into_bytes(),
        }
    }
}

/// Appends call `seq`'s INVITE: every n-th caller a listed number (cycling
/// the file), else a clean number of its own (UK, never listed by the bench
/// lists); signed calls take their caller and Identity from the plan.
fn invite(out: &mut Vec<u8>, p: &Plan, sbc: usize, seq: u64, me: &Sender) {
    let tag = |out: &mut Vec<u8>| {
        out.extend_from_slice(&me.ids);
        push_num(out, seq);
    };
    out.extend_from_slice(b"INVITE sip:+31104567890@callscreen.invalid;user=phone SIP/2.0\r\n");
    out.extend_from_slice(&me.via);
    out.extend_from_slice(b";branch=z9hG4bK-lg");
    tag(out);
    out.extend_from_slice(b";rport\r\nMax-Forwards: 70\r\nFrom: <sip:");
    let signed = (!p.identities.is_empty())
        .then(|| &p.identities[(seq as usize + sbc * 7919) % p.identities.len()]);
    let every = if p.listed_share > 0.0 {
        (1.0 / p.listed_share).round().max(1.0) as u64
    } else {
        0
    };
    match signed {
        Some((c, _)) => out.extend_from_slice(c.as_bytes()),
        None if every > 0 && seq.is_multiple_of(every) && !p.listed.is_empty() => {
            let c = &p.listed[((seq / every) as usize + sbc * 7) % p.listed.len()];
            out.extend_from_slice(c.as_bytes());
        }
        None => {
            out.extend_from_slice(p.caller_prefix.as_bytes());
            let mut n = (sbc as u64 * 10_000_019 + seq * 7919) % 100_000_000;
            if p.caller_pool > 0 {
                n %= p.caller_pool;
            }
            for k in (0..8).rev() {
                out.push(b'0' + (n / 10u64.pow(k) % 10) as u8);
            }
        }
    }
    out.extend_from_slice(b"@sbc.invalid;user=phone>;tag=lg");
    push_num(out, seq);
    out.extend_from_slice(b"\r\nTo: <sip:+31104567890@callscreen.invalid>\r\nCall-ID: lg-");
    tag(out);
    out.extend_from_slice(b"\r\nCSeq: 1 INVITE\r\nX-Ingress-Trunk: ");
    out.extend_from_slice(p.trunk.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some((_, i)) = signed {
        out.extend_from_slice(b"Identity: ");
        out.extend_from_slice(i.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
}

/// (seq, status code) of a response, from its Call-ID and status line.
fn answer_of(msg: &[u8]) -> Option<(u64, u16)> {
    let code: u16 = std::str::from_utf8(msg.strip_prefix(b"SIP/2.0 ")?.get(..3)?)
        .ok()?
        .parse()
        .ok()?;
    let id = header_lines(msg).find_map(|l| named(l, &["call-id", "i"]))?;
    let digits = &id[id.iter().rposition(|&b| b == b'-')? + 1..];
    let seq = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((seq, code))
}

/// The calls in flight: their send times by sequence number, a ring as
/// large as any window or a second of the highest rate.
struct InFlight {
    seq: Vec<u64>,
    at: Vec<u64>,
    /// The lowest sequence number that may still be in flight.
    oldest: u64,
    count: usize,
}

const RING: usize = 1 << 19;

impl InFlight {
    fn new() -> InFlight {
        InFlight {
            seq: vec![u64::MAX; RING],
            at: vec![0; RING],
            oldest: 0,
            count: 0,
        }
    }

    fn sent(&mut self, seq: u64, at: u64) {
        let i = seq as usize % RING;
        if self.seq[i] != u64::MAX {
            // Its slot's earlier call is lost (a ring's worth of calls later).
            self.count -= 1;
        }
        self.seq[i] = seq;
        self.at[i] = at;
        self.count += 1;
    }

    /// The send time of call `seq`, if it was in flight (it is no longer).
    fn answered(&mut self, seq: u64) -> Option<u64> {
        let i = seq as usize % RING;
        (self.seq[i] == seq).then(|| {
            self.seq[i] = u64::MAX;
            self.count -= 1;
            self.at[i]
        })
    }

    /// Frees the calls sent before `before` and still unanswered; returns
    /// how many.
    fn expire(&mut self, next: u64, before: u64) -> u64 {
        let mut lost = 0;
        while self.oldest < next {
            let i = self.oldest as usize % RING;
            if self.seq[i] == self.oldest {
                if self.at[i] >= before {
                    break;
                }
                self.seq[i] = u64::MAX;
                self.count -= 1;
                lost += 1;
            }
            self.oldest += 1;
        }
        lost
    }
}

/// One SBC over UDP: one thread and one socket (connected to the target),
/// sending and taking answers in batches, so that the generator spends as
/// little of the machine as it can and wakes only when answers wait.
fn sbc_udp(p: &Plan, n: usize, measuring: &AtomicBool) -> Tally {
    let epoch = Instant::now();
    let now_ns = || epoch.elapsed().as_nanos() as u64;
    let bind = if p.target.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let sock = UdpSocket::bind(bind).expect("a UDP socket");
    sock.connect(p.target).expect("the target's address");
    sock.set_nonblocking(true).expect("non-blocking");
    big_buffers(&sock);
    let fd = sock.as_raw_fd();
    let me = Sender::new(p, n, sock.local_addr().expect("a local address"));
    let mut t = Tally::default();
    let mut io = Batch::new();
    let mut flight = InFlight::new();
    let end = epoch + Duration::from_secs_f64(p.seconds);
    let timeout = TIMEOUT.as_nanos() as u64;
    let mut seq: u64 = 0;
    let mut sending = true;
    let mut drain_until = None;
    loop {
        let now = now_ns();
        if sending && Instant::now() >= end {
            sending = false;
            drain_until = Some(now + timeout);
        }
        // Sends: closed loop, while the window has room; open loop, the
        // calls due by now at the rate.
        if sending {
            let due = if p.rate > 0.0 {
                ((now as f64 / 1e9) * p.rate) as u64 + 1
            } else {
                seq + (p.window.saturating_sub(flight.count)) as u64
            };
            while seq < due && io.room() {
                let mut buf = io.take_buf();
                invite(&mut buf, p, n, seq, &me);
                io.queue(buf, None);
                flight.sent(seq, now);
                seq += 1;
            }
            let sent = io.send(fd) as u64;
            if measuring.load(Ordering::Relaxed) {
                t.sent += sent;
            }
        }
        // Answers: whatever is there, without waiting.
        let got = io.recv(fd, libc::MSG_DONTWAIT);
        let at = now_ns();
        for i in 0..got {
            let Some((s, code)) = answer_of(io.datagram(i)) else {
                continue;
            };
            // Provisional answers (100 Trying) are not the final answer.
            if code < 200 {
                continue;
            }
            let Some(sent_at) = flight.answered(s) else {
                continue;
            };
            t.answered_all += 1;
            if measuring.load(Ordering::Relaxed) {
                t.latencies_us.push(((at - sent_at) / 1000) as u32);
                *t.codes.entry(code).or_default() += 1;
            }
        }
        t.timeouts += flight.expire(seq, at.saturating_sub(timeout));
        if !sending && (flight.count == 0 || drain_until.is_some_and(|d| at >= d)) {
            break;
        }
        if got == BATCH {
            continue;
        }
        // Nothing more to take: wait for an answer (closed loop, or the
        // window full) or until the next call is due (open loop).
        let room = p.rate <= 0.0 && flight.count < p.window && sending;
        if got == 0 && !room {
            let wait_ns: i64 = if p.rate > 0.0 && sending {
                let next = (seq as f64 / p.rate * 1e9) as u64;
                next.saturating_sub(now_ns()).min(1_000_000) as i64
            } else {
                10_000_000
            };
            let mut pfd = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: wait_ns,
            };
            // SAFETY: one valid pollfd and a valid timeout.
            unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        }
    }
    t.timeouts += flight.count as u64;
    t
}

/// One SBC over TCP: a sender and a receiver on one connection.
fn sbc_tcp(p: &Plan, n: usize, measuring: &AtomicBool) -> Tally {
    let epoch = Instant::now();
    let now_ns = move || epoch.elapsed().as_nanos() as u64;
    let stop = AtomicBool::new(false);
    let flight = Mutex::new(InFlight::new());
    let (credit_tx, credit_rx) = mpsc::channel::<()>();
    let tally = Mutex::new(Tally::default());
    let mut s = TcpStream::connect(p.target).expect("connect over TCP");
    s.set_nodelay(true).expect("nodelay");
    let me = Sender::new(p, n, s.local_addr().expect("a local address"));
    let r = s.try_clone().expect("a reader");
    r.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("a timeout");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut r = BufReader::new(r);
            let mut msg = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                // Headers up to the blank line, then Content-Length bytes.
                let mut line = Vec::new();
                match r.read_until(b'\n', &mut line) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(_) => continue,
                }
                msg.extend_from_slice(&line);
                if line != b"\r\n" {
                    continue;
                }
                if msg.len() > 2 {
                    let len: usize = header_lines(&msg)
                        .find_map(|l| named(l, &["content-length", "l"]))
                        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    let _ = r.read_exact(&mut body);
                    if let Some((seq, code)) = answer_of(&msg)
                        && code >= 200
                        && let Some(at) = flight.lock().ok().and_then(|mut f| f.answered(seq))
                        && let Ok(mut t) = tally.lock()
                    {
                        t.answered_all += 1;
                        if measuring.load(Ordering::Relaxed) {
                            t.latencies_us.push(((now_ns() - at) / 1000) as u32);
                            *t.codes.entry(code).or_default() += 1;
                        }
                        let _ = credit_tx.send(());
                    }
                }
                msg.clear();
            }
        });
        let end = epoch + Duration::from_secs_f64(p.seconds);
        let gap = (p.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / p.rate));
        let mut next = Instant::now();
        let mut seq = 0;
        let mut buf = Vec::with_capacity(1024);
        let in_flight = || flight.lock().map(|f| f.count).unwrap_or(0);
        while Instant::now() < end {
            if let Some(gap) = gap {
                // Open loop: at the rate, whatever the answers do.
                let now = Instant::now();
                if now < next {
                    std::thread::sleep(next - now);
                }
                next += gap;
            } else {
                // Closed loop: a new call when an answer frees the window
                // (or a call is given up as lost).
                while in_flight() >= p.window && Instant::now() < end {
                    if credit_rx.recv_timeout(Duration::from_millis(100)).is_err()
                        && let Ok(mut f) = flight.lock()
                        && let Ok(mut t) = tally.lock()
                    {
                        t.timeouts +=
                            f.expire(seq, now_ns().saturating_sub(TIMEOUT.as_nanos() as u64));
                    }
                }
                if Instant::now() >= end {
                    break;
                }
            }
            buf.clear();
            invite(&mut buf, p, n, seq, &me);
            if let Ok(mut f) = flight.lock() {
                f.sent(seq, now_ns());
            }
            if s.write_all(&buf).is_ok()
                && measuring.load(Ordering::Relaxed)
                && let Ok(mut t) = tally.lock()
            {
                t.sent += 1;
            }
            seq += 1;
        }
        // Answers still on their way: a second at most.
        let drain = Instant::now() + TIMEOUT;
        while Instant::now() < drain && in_flight() > 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let mut t = tally.into_inner().unwrap_or_default();
    t.timeouts += flight.into_inner().map(|f| f.count as u64).unwrap_or(0);
    t
}

fn run(args: &[String]) {
    let target: SocketAddr = arg(args, "--target")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:5060".parse().expect("an address"));
    let listed: Vec<String> = arg(args, "--listed")
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| l.starts_with('+'))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let plan = Arc::new(Plan {
        target,
        tcp: arg(args, "--transport").as_deref() == Some("tcp"),
        window: num(args, "--window", 8),
        rate: num(args, "--rate", 0.0),
        seconds: num(args, "--seconds", 10.0),
        listed: Arc::new(listed),
        listed_share: num(args, "--listed-share", 0.01),
        trunk: arg(args, "--trunk").unwrap_or_else(|| "kpn".into()),
        caller_prefix: arg(args, "--caller-prefix").unwrap_or_else(|| "+4420".into()),
        caller_pool: num(args, "--caller-pool", 0),
        identities: Arc::new(
            arg(args, "--identities")
                .map(|f| std::fs::read_to_string(&f).expect("the identities file"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(c, i)| (c.to_string(), i.to_string()))
                .collect(),
        ),
    });
    let sbcs: usize = num(args, "--sbcs", 1);
    let warmup: f64 = num(args, "--warmup", 1.0);
    let measuring = Arc::new(AtomicBool::new(warmup <= 0.0));
    let handles: Vec<_> = (0..sbcs)
        .map(|n| {
            let (p, m) = (Arc::clone(&plan), Arc::clone(&measuring));
            std::thread::spawn(move || {
                if p.tcp {
                    sbc_tcp(&p, n, &m)
                } else {
                    sbc_udp(&p, n, &m)
                }
            })
        })
        .collect();
    // Measured from the end of the warm-up.
    std::thread::sleep(Duration::from_secs_f64(warmup.max(0.0)));
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    let tallies: Vec<Tally> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    // The senders stop at `seconds` after they started; measured: the rest.
    let measured = (plan.seconds - warmup.max(0.0))
        .max(0.001)
        .min(t0.elapsed().as_secs_f64());
    let mut lat: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let pct = |q: f64| -> u32 {
        if lat.is_empty() {
            return 0;
        }
        lat[(((lat.len() as f64) * q).ceil() as usize).clamp(1, lat.len()) - 1]
    };
    let mut codes: BTreeMap<u16, u64> = BTreeMap::new();
    for t in &tallies {
        for (c, n) in &t.codes {
            *codes.entry(*c).or_default() += n;
        }
    }
    let answered = lat.len() as u64;
    let codes_json: Vec<String> = codes.iter().map(|(c, n)| format!("\"{c}\":{n}")).collect();
    println!(
        "{{\"target\":\"{}\",\"transport\":\"{}\",\"sbcs\":{sbcs},\"window\":{},\"rate\":{},\"seconds\":{measured:.2},\"sent\":{},\"answered\":{answered},\"answered_all\":{},\"timeouts\":{},\"calls_per_sec\":{:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"codes\":{{{}}}}}",
        plan.target,
        if plan.tcp { "tcp" } else { "udp" },
        if plan.rate > 0.0 { 0 } else { plan.window },
        plan.rate,
        tallies.iter().map(|t| t.sent).sum::<u64>(),
        tallies.iter().map(|t| t.answered_all).sum::<u64>(),
        tallies.iter().map(|t| t.timeouts).sum::<u64>(),
        answered as f64 / measured,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        codes_json.join(",")
    );
}
