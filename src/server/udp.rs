//! UDP: dedicated receive threads, several on one set of sockets, so every
//! core serves even when all traffic comes from one SBC address
//! (SO_REUSEPORT would hash that one source to one socket). One thread
//! waits for datagrams; it wakes the others only when a read fills a whole
//! batch (more wait than one thread takes at once), and they read until
//! they find less: a light load costs no wake-ups of idle threads, a
//! backlog gets every core. Datagrams are received and answers sent in
//! batches (`recvmmsg`/`sendmmsg`, Linux).
//!
//! Queues (README "Security and reliability"): beside each listening socket,
//! every configured SBC and direct-peer address gets a socket of its own,
//! bound to the same address and port and connected to that address (port
//! 0: any port), which Linux prefers for that sender's datagrams. A flood
//! then fills only its sender's queue, and the kernel drops its excess
//! there; the threads read the ready queues in turn, at most one batch from
//! each per round (a small one while several are ready), so a quiet peer
//! waits for at most a few of the flood's datagrams. A network larger than
//! a /28 gets one queue for the whole network instead: the listener and
//! these queues are one `SO_REUSEPORT` group, and a classic BPF program
//! (`SO_ATTACH_REUSEPORT_CBPF`: no capability needed) steers each datagram
//! by its source address, before any thread reads it, to its network's
//! queue, or to the listener's when no such network holds it. So no
//! configured peer shares a queue with unknown sources, whatever the size
//! of its network. Each datagram carries the kernel's receive time
//! (`SO_TIMESTAMPNS`), so the handler knows how long it queued, and each
//! queue's drop count (`SO_RXQ_OVFL`).

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::answer::Outcome;
use super::callpath::CallPath;
use super::handler::Handler;
use super::links::Dest;
use super::stir;
use crate::config::Settings;
use crate::sip::Framing;
use crate::state::Metrics;
use cidr::Cidr;

/// Datagrams taken per system call.
const BATCH: usize = 32;
/// Taken from one queue per round while other queues are ready too, so
/// that a quiet queue waits for few of a busy one's.
const FAIR_BATCH: usize = 8;
/// Receive buffer per datagram: the largest UDP payload fits.
const DGRAM: usize = 65_536;
/// Control data per datagram: a timestamp and a drop count, aligned.
const CMSG: usize = 64;
/// Own queues at most, over all listeners.
const MAX_QUEUES: usize = 256;
/// A configured network gives each of its addresses a queue when it has
/// at most this many (a /28); larger ones share the listener's.
const MAX_NET_HOSTS: u128 = 16;

/// A socket the receive threads read: a listener, or a sender's own queue.
pub struct Queue {
    pub sock: Arc<UdpSocket>,
    /// For the log: "shared" or the sender's address and name.
    pub label: String,
    /// Whether every datagram on it is from a configured SBC or peer.
    known: bool,
    /// Its address family (answers of the other family go through `links`).
    v4: bool,
    /// The address it is bound to: a call answered later (a signed one,
    /// after its verification) is answered from it (RFC 3581 §4).
    local: Option<SocketAddr>,
    /// The kernel's drop count last seen on it.
    drops: AtomicU64,
    /// Drops already logged.
    pub logged: AtomicU64,
}

impl Queue {
    /// A sender's (or senders') own queue on `local`, labelled for the log.
    fn own(sock: UdpSocket, label: String, local: SocketAddr) -> Queue {
        Queue {
            sock: Arc::new(sock),
            label,
            known: true,
            v4: local.is_ipv4(),
            local: Some(local),
            drops: AtomicU64::new(0),
            logged: AtomicU64::new(0),
        }
    }

    pub fn drops(&self) -> u64 {
        self.drops.load(Ordering::Relaxed)
    }
}

/// Sets socket options (`SOL_SOCKET`) that take an int to 1.
fn switch_on(s: &Socket, opts: &[libc::c_int]) -> io::Result<()> {
    let on: libc::c_int = 1;
    for &opt in opts {
        // SAFETY: a plain int option on a socket we own.
        let r = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&on as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Asks the kernel for each datagram's receive time and the socket's drop count.
fn timestamps(s: &Socket) -> io::Result<()> {
    switch_on(s, &[libc::SO_TIMESTAMPNS, libc::SO_RXQ_OVFL])
}

/// The listener's queue and the own queues of its SBCs and direct peers
/// (`[sip] udp_queue_per_peer`). A queue that cannot be made (no route to
/// the peer from the listener's address, say) is logged and its sender
/// shares the listener's.
pub fn queues(listener: Arc<UdpSocket>, settings: &Settings, room: &mut usize) -> Vec<Queue> {
    let mut out = vec![Queue {
        v4: listener.local_addr().is_ok_and(|a| a.is_ipv4()),
        local: listener.local_addr().ok(),
        sock: listener.clone(),
        label: "shared".into(),
        known: false,
        drops: AtomicU64::new(0),
        logged: AtomicU64::new(0),
    }];
    let Ok(local) = listener.local_addr() else {
        return out;
    };
    if !settings.sip.udp_queue_per_peer {
        return out;
    }
    let named = settings
        .sbcs
        .iter()
        .map(|s| (format!("SBC {}", s.name), &s.nets))
        .chain(
            settings
                .peers
                .iter()
                .zip(&settings.policy.peers)
                .map(|(m, p)| (format!("peer {}", p.name), &m.nets)),
        );
    let named: Vec<(String, &Vec<Cidr>)> = named.collect();
    // Networks first: a connected queue bound later comes first in the
    // kernel's lookup, so its address's datagrams still reach it rather
    // than its network's queue (Linux stops at the first socket of a
    // reuseport group it meets).
    network_queues(&listener, local, &named, room, &mut out);
    let mut seen = std::collections::HashSet::new();
    for (name, nets) in named {
        for net in nets {
            if net.is_ipv4() != local.is_ipv4() || net.size() > MAX_NET_HOSTS {
                continue;
            }
            for ip in net.hosts() {
                if !seen.insert(ip) {
                    continue;
                }
                if *room == 0 {
                    tracing::warn!(
                        "more than {MAX_QUEUES} SBC and peer addresses: the others share the listener's UDP queue"
                    );
                    return out;
                }
                match own_queue(local, ip) {
                    Ok(sock) => {
                        *room -= 1;
                        out.push(Queue::own(sock, format!("{ip} ({name})"), local));
                    }
                    Err(e) => tracing::warn!(
                        "no UDP queue of its own for {ip} ({name}) on {local}: {e}; its datagrams share the listener's"
                    ),
                }
            }
        }
    }
    out
}

/// The queues of the SBCs' and peers' networks larger than a /28 (of the
/// listener's family): one socket each, bound to the listener's address
/// and port in its reuseport group, and the program that steers each
/// datagram to the first of them whose network holds its source (or to the
/// listener). A network over the budget shares the listener's queue, said
/// once; if the kernel refuses the program, the network queues are closed
/// (unsteered, the group would spread unknown sources over them) and said.
fn network_queues(
    listener: &UdpSocket,
    local: SocketAddr,
    named: &[(String, &Vec<Cidr>)],
    room: &mut usize,
    out: &mut Vec<Queue>,
) {
    let mut nets = Vec::new();
    let mut queues = Vec::new();
    for (name, list) in named {
        for &net in list.iter() {
            if net.is_ipv4() != local.is_ipv4() || net.size() <= MAX_NET_HOSTS {
                continue;
            }
            if nets.contains(&net) {
                continue;
            }
            if *room == 0 {
                tracing::warn!(
                    "more than {MAX_QUEUES} SBC and peer queues: {net} ({name}) shares the listener's UDP queue"
                );
                continue;
            }
            match bind(local) {
                Ok(sock) => {
                    *room -= 1;
                    nets.push(net);
                    queues.push(Queue::own(sock, format!("{net} ({name})"), local));
                }
                // Not in the group: the indices of those that are stay in step with `nets`.
                Err(e) => tracing::warn!(
                    "no UDP queue of its own for {net} ({name}) on {local}: {e}; its datagrams share the listener's"
                ),
            }
        }
    }
    if nets.is_empty() {
        return;
    }
    let program = steering(&nets);
    if let Err(e) = attach_steering(listener, &program) {
        *room += queues.len();
        tracing::warn!(
            "cannot steer datagrams by source on {local} (SO_ATTACH_REUSEPORT_CBPF: {e}): the networks {} share the listener's UDP queue",
            nets.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        return;
    }
    out.extend(queues);
}

/// The steering program: returns `i + 1` for a datagram whose source is in
/// `nets[i]` (the first that holds it), else 0: the index of the socket in
/// the reuseport group, in the order they were bound (the listener first).
/// The source is read at the network header (`SKF_NET_OFF`): IPv4's at
/// byte 12, IPv6's at byte 8, compared a 32-bit word at a time under the
/// network's mask. All of `nets` are of one family.
fn steering(nets: &[Cidr]) -> Vec<libc::sock_filter> {
    const LD: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const AND: u16 = (libc::BPF_ALU | libc::BPF_AND | libc::BPF_K) as u16;
    const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let op = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    let mut prog = Vec::new();
    for (i, net) in nets.iter().enumerate() {
        let (lo, _) = net.range();
        // Words of the address, and their masks (an IPv4 network is held
        // mapped into IPv6: its last word, with the prefix length past 96).
        let (offset, words, masks): (i32, Vec<u32>, Vec<u32>) = if net.is_ipv4() {
            let len = u32::from(net.prefix_len());
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            (12, vec![lo as u32], vec![mask])
        } else {
            let len = u32::from(net.prefix_len());
            let mask = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            let split = |v: u128| (0..4).map(|w| (v >> (96 - 32 * w)) as u32).collect();
            (8, split(lo), split(mask))
        };
        let compared: Vec<(usize, u32, u32)> = words
            .iter()
            .zip(&masks)
            .enumerate()
            .filter(|(_, (_, m))| **m != 0)
            .map(|(w, (a, m))| (w, *a, *m))
            .collect();
        // Each compared word: load, mask, compare (on a miss, past this
        // network's block); then the network's answer.
        let block = 3 * compared.len() + 1;
        for (j, (w, addr, mask)) in compared.iter().enumerate() {
            let at = libc::SKF_NET_OFF + offset + 4 * *w as i32;
            prog.push(op(LD, 0, 0, at as u32));
            prog.push(op(AND, 0, 0, *mask));
            let past = (block - 3 * j - 3) as u8;
            prog.push(op(JEQ, 0, past, addr & mask));
        }
        prog.push(op(RET, 0, 0, i as u32 + 1));
    }
    prog.push(op(RET, 0, 0, 0));
    prog
}

/// Attaches the steering program to the listener's reuseport group.
fn attach_steering(listener: &UdpSocket, prog: &[libc::sock_filter]) -> io::Result<()> {
    let fprog = libc::sock_fprog {
        len: u16::try_from(prog.len()).map_err(|_| io::Error::other("program too long"))?,
        filter: prog.as_ptr().cast_mut(),
    };
    // SAFETY: `fprog` points at `prog`, alive for the call; the kernel
    // copies (and checks) the program.
    let r = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_REUSEPORT_CBPF,
            (&fprog as *const libc::sock_fprog).cast(),
            size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A socket on `local` connected to `ip` (any port); not in the listener's
/// reuseport group (Linux prefers it for `ip`'s datagrams).
fn own_queue(local: SocketAddr, ip: std::net::IpAddr) -> io::Result<UdpSocket> {
    let s = bound(local, false)?;
    s.connect(&SocketAddr::new(ip, 0).into())?;
    Ok(s.into())
}

/// Own queues at most, over all listeners (the budget `queues` spends).
pub fn queue_budget() -> usize {
    MAX_QUEUES
}

/// Binds a UDP socket with a large receive buffer, non-blocking (the
/// threads wait in `epoll`, with a short timeout so that they notice a
/// stop), in the reuseport group of `addr`: a listener heads it, and its
/// networks' queues join it (`queues`); alone, a listener gets every
/// datagram as before.
pub fn bind(addr: SocketAddr) -> io::Result<UdpSocket> {
    Ok(bound(addr, true)?.into())
}

/// A UDP socket bound to `addr` as the receive threads want it (receive
/// times and drop counts, large buffers, non-blocking), in `addr`'s
/// reuseport group or not.
fn bound(addr: SocketAddr, group: bool) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    if group {
        switch_on(&s, &[libc::SO_REUSEPORT])?;
    }
    let _ = s.set_recv_buffer_size(8 << 20);
    let _ = s.set_send_buffer_size(8 << 20);
    timestamps(&s)?;
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Starts `threads` receive threads over the queues: one that waits for
/// datagrams, and helpers that it wakes when it finds more waiting than one
/// batch (a helper reads on until it finds less, then sleeps again). So a
/// light load is served by one thread with no wake-ups of the others, and a
/// backlog, even from one SBC address, by all of them.
pub fn spawn(
    queues: Arc<Vec<Queue>>,
    threads: usize,
    cp: Arc<CallPath>,
) -> io::Result<Vec<JoinHandle<()>>> {
    let mut handles = Vec::new();
    for i in 1..threads.max(1) {
        let (queues, cp) = (Arc::clone(&queues), Arc::clone(&cp));
        let ep = Epoll::new(&queues)?;
        handles.push(
            std::thread::Builder::new()
                .name(format!("udp-{i}"))
                .spawn(move || worker(&queues, &ep, cp, Role::Helper))?,
        );
    }
    let helpers: Vec<std::thread::Thread> = handles.iter().map(|h| h.thread().clone()).collect();
    let ep = Epoll::new(&queues)?;
    handles.push(
        std::thread::Builder::new()
            .name("udp-0".into())
            .spawn(move || worker(&queues, &ep, cp, Role::Waiter(helpers)))?,
    );
    Ok(handles)
}

/// A receive thread's part.
enum Role {
    /// Waits in `epoll_wait`; wakes the helpers (in turn) when a read
    /// fills a whole batch.
    Waiter(Vec<std::thread::Thread>),
    /// Sleeps until woken; then reads while reads fill whole batches.
    Helper,
}

/// An epoll instance watching every queue (level-triggered), one per thread.
struct Epoll(std::os::fd::OwnedFd);

impl Epoll {
    fn new(queues: &[Queue]) -> io::Result<Epoll> {
        use std::os::fd::FromRawFd;
        // SAFETY: epoll_create1 returns a new descriptor or -1.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let ep = Epoll(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
        for (i, q) in queues.iter().enumerate() {
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            // SAFETY: both descriptors are open; `ev` is a valid event.
            let r =
                unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, q.sock.as_raw_fd(), &mut ev) };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(ep)
    }

    /// The indexes of the ready queues (waits up to `ms`).
    fn wait(&self, ready: &mut Vec<usize>, ms: i32) {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 64];
        ready.clear();
        // SAFETY: `evs` has room for the 64 events asked for.
        let n =
            unsafe { libc::epoll_wait(self.0.as_raw_fd(), evs.as_mut_ptr(), evs.len() as i32, ms) };
        for e in evs.iter().take(n.max(0) as usize) {
            ready.push(e.u64 as usize);
        }
    }
}

/// The kernel's receive time and the socket's drop count, from a
/// datagram's control data.
fn control(h: &libc::msghdr) -> (Option<libc::timespec>, Option<u32>) {
    let (mut ts, mut drops) = (None, None);
    // SAFETY: the kernel wrote `msg_controllen` bytes of well-formed cmsgs
    // into the buffer `h` points at; the macros walk within it.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(h);
        while !c.is_null() {
            let data = libc::CMSG_DATA(c);
            match ((*c).cmsg_level, (*c).cmsg_type) {
                (libc::SOL_SOCKET, libc::SCM_TIMESTAMPNS) => {
                    ts = Some(std::ptr::read_unaligned(data.cast::<libc::timespec>()));
                }
                (libc::SOL_SOCKET, libc::SO_RXQ_OVFL) => {
                    drops = Some(std::ptr::read_unaligned(data.cast::<u32>()));
                }
                _ => {}
            }
            c = libc::CMSG_NXTHDR(h, c);
        }
    }
    (ts, drops)
}

fn realtime() -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    now
}

/// `now - then`, zero when the clock went back.
fn since(now: &libc::timespec, then: &libc::timespec) -> Duration {
    let ns =
        (now.tv_sec - then.tv_sec) as i128 * 1_000_000_000 + (now.tv_nsec - then.tv_nsec) as i128;
    Duration::from_nanos(ns.clamp(0, u64::MAX as i128) as u64)
}

fn to_std(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: ss_family says the storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: ss_family says the storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(s as *const libc::sockaddr_storage).cast() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

fn from_std(a: SocketAddr, s: &mut libc::sockaddr_storage) -> libc::socklen_t {
    let sa = socket2::SockAddr::from(a);
    let len = sa.len() as usize;
    // SAFETY: `sa` holds `len` valid bytes, and sockaddr_storage is large enough for any address.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sa.as_ptr().cast::<u8>(),
            (s as *mut libc::sockaddr_storage).cast::<u8>(),
            len,
        )
    };
    len as libc::socklen_t
}

/// Errors a UDP socket reports because a peer's ICMP error came back
/// (Linux queues them on the socket for the next receive).
fn icmp_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN)
    )
}

/// At most once per period (a log line that an attacker can trigger).
struct Every {
    period: Duration,
    last: Option<std::time::Instant>,
}

impl Every {
    fn new(period: Duration) -> Every {
        Every { period, last: None }
    }

    fn allow(&mut self) -> bool {
        let now = std::time::Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < self.period)
        {
            return false;
        }
        self.last = Some(now);
        true
    }
}

fn worker(queues: &[Queue], ep: &Epoll, cp: Arc<CallPath>, role: Role) {
    let mut bufs = vec![0u8; BATCH * DGRAM];
    let mut ctrl = vec![[0u64; CMSG / 8]; BATCH];
    // SAFETY: plain C structs; all-zero is a valid value for each.
    let mut addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    let mut iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut out_addrs: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
    let mut out_iovs: [libc::iovec; BATCH] = unsafe { zeroed() };
    let mut out_hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
    let mut replies: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(2048)).collect();
    let mut handler = Handler::new(Arc::clone(&cp));
    let mut ready = Vec::with_capacity(64);
    let mut round = 0usize;
    let mut next_helper = 0usize;
    // A helper goes back to sleep once a round finds no whole batch.
    let mut backlog = false;
    let mut icmp_log = Every::new(Duration::from_secs(10));
    while !cp.shared.stopping() {
        match &role {
            Role::Waiter(_) => ep.wait(&mut ready, 200),
            Role::Helper => {
                if !backlog {
                    std::thread::park_timeout(Duration::from_millis(200));
                }
                ep.wait(&mut ready, 0);
            }
        }
        backlog = false;
        // Start each round at another ready queue, so that none always goes first.
        round = round.wrapping_add(1);
        let k = ready.len().max(1);
        let take = if ready.len() > 1 { FAIR_BATCH } else { BATCH };
        for j in 0..ready.len() {
            let Some(q) = queues.get(ready[(j + round) % k]) else {
                continue;
            };
            let fd = q.sock.as_raw_fd();
            for i in 0..BATCH {
                iovs[i] = libc::iovec {
                    iov_base: bufs[i * DGRAM..].as_mut_ptr().cast(),
                    iov_len: DGRAM,
                };
                hdrs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
                hdrs[i].msg_hdr.msg_namelen =
                    size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
                hdrs[i].msg_hdr.msg_iovlen = 1;
                hdrs[i].msg_hdr.msg_control = ctrl[i].as_mut_ptr().cast();
                hdrs[i].msg_hdr.msg_controllen = CMSG;
                hdrs[i].msg_hdr.msg_flags = 0;
                hdrs[i].msg_len = 0;
            }
            // SAFETY: every header points at live buffers of the stated sizes.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    hdrs.as_mut_ptr(),
                    take as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if n <= 0 {
                let e = io::Error::last_os_error();
                if n < 0
                    && !matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    )
                {
                    if icmp_error(&e) {
                        // A peer's closed port or unreachable host, reported
                        // on the socket: counted; the thread goes on at once.
                        let m = &cp.shared.metrics;
                        let n = m.udp_icmp_errors.fetch_add(1, Ordering::Relaxed) + 1;
                        if icmp_log.allow() {
                            tracing::warn!(error = %e, queue = %q.label, total = n, "UDP: a peer's ICMP error (its port closed or unreachable); counted in callscreen_udp_icmp_errors_total, logged at most every 10 s");
                        }
                    } else {
                        tracing::warn!(error = %e, queue = %q.label, "UDP receive failed");
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                continue;
            }
            if n as usize == take {
                backlog = true;
                if let Role::Waiter(helpers) = &role
                    && !helpers.is_empty()
                {
                    next_helper = (next_helper + 1) % helpers.len();
                    helpers[next_helper].unpark();
                }
            }
            let now = realtime();
            let mut nrep = 0;
            // The batch's signed calls go to the verification threads
            // together: each thread woken once for its share.
            stir::gather();
            for i in 0..n as usize {
                let Some(src) = to_std(&addrs[i]) else {
                    continue;
                };
                let (ts, drops) = control(&hdrs[i].msg_hdr);
                if let Some(d) = drops {
                    let before = q.drops.swap(u64::from(d), Ordering::Relaxed);
                    if u64::from(d) > before {
                        cp.shared
                            .metrics
                            .udp_queue_drops
                            .fetch_add(u64::from(d) - before, Ordering::Relaxed);
                    }
                }
                if !q.known && handler.refuse_unknown(src) {
                    continue;
                }
                handler.queued = ts.map_or(Duration::ZERO, |t| since(&now, &t));
                handler.local = q.local;
                let len = (hdrs[i].msg_len as usize).min(DGRAM);
                let data = &bufs[i * DGRAM..i * DGRAM + len];
                let dest = match handler.handle(data, src, Framing::Datagram) {
                    Outcome::Reply { dest, .. } => dest,
                    Outcome::Send {
                        dest: Dest::Udp(dest),
                        ..
                    } if dest.is_ipv4() == q.v4 => dest,
                    Outcome::Send { dest, .. } => {
                        cp.links.send(&cp.shared.metrics, dest, &handler.out);
                        continue;
                    }
                    Outcome::Silent { .. } | Outcome::Incomplete => continue,
                };
                std::mem::swap(&mut handler.out, &mut replies[nrep]);
                let alen = from_std(dest, &mut out_addrs[nrep]);
                out_iovs[nrep] = libc::iovec {
                    iov_base: replies[nrep].as_mut_ptr().cast(),
                    iov_len: replies[nrep].len(),
                };
                out_hdrs[nrep].msg_hdr.msg_name =
                    (&mut out_addrs[nrep] as *mut libc::sockaddr_storage).cast();
                out_hdrs[nrep].msg_hdr.msg_namelen = alen;
                out_hdrs[nrep].msg_hdr.msg_iov = &mut out_iovs[nrep];
                out_hdrs[nrep].msg_hdr.msg_iovlen = 1;
                nrep += 1;
            }
            stir::hand_over();
            send_all(fd, &mut out_hdrs[..nrep], &cp.shared.metrics);
        }
    }
}

/// Sends the batch (on a queue's own socket too: a connected UDP socket
/// may still send to any address with an explicit one).
fn send_all(fd: i32, hdrs: &mut [libc::mmsghdr], m: &Metrics) {
    let (mut sent, mut waits) = (0, 0);
    while sent < hdrs.len() {
        // SAFETY: the headers point at live reply buffers and addresses.
        let r =
            unsafe { libc::sendmmsg(fd, hdrs[sent..].as_mut_ptr(), (hdrs.len() - sent) as u32, 0) };
        if r <= 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::Interrupted => continue,
                io::ErrorKind::WouldBlock if waits < 20 => {
                    waits += 1;
                    // The send buffer is full: wait for room rather than drop an answer.
                    let mut p = libc::pollfd {
                        fd,
                        events: libc::POLLOUT,
                        revents: 0,
                    };
                    // SAFETY: one valid pollfd.
                    unsafe { libc::poll(&mut p, 1, 50) };
                    continue;
                }
                _ => {}
            }
            tracing::debug!(error = %e, "UDP send failed");
            Metrics::inc(&m.send_failures);
            // Skip the one that failed (e.g. an unreachable address) and go on.
            sent += 1;
            continue;
        }
        sent += r as usize;
    }
}
