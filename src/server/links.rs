//! Where proxy mode sends what it did not receive on the same socket (the
//! bottom of the call path: it calls nothing above itself): the
//! UDP sockets (for forwarding from a TCP task, or relaying to a UDP client
//! from one), the open inbound TCP connections (responses go back on the
//! connection the request came on, RFC 3261 §18.2.2), and one reused
//! outbound TCP connection per next hop (opened on first use, reopened when
//! it closes, never one per call).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::mpsc;

use crate::state::Metrics;

/// Queued messages per TCP connection before sends are dropped (and counted).
const QUEUE: usize = 4096;

/// A connection's queue: the messages its writer sends, in order.
pub type Queue = mpsc::Sender<Vec<u8>>;

/// Starts the task of a new outbound connection: where to, the sender that
/// the map holds for it, and the receiving end its writer reads. The layer
/// above (the TCP transport, which runs the handler on what comes back)
/// provides it, so that this module calls nothing above itself.
pub type Connect = Box<dyn Fn(SocketAddr, Queue, mpsc::Receiver<Vec<u8>>) + Send + Sync>;

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    Udp(SocketAddr),
    /// Over UDP from callscreen's socket bound to `from` (else as `Udp`).
    UdpFrom {
        from: SocketAddr,
        to: SocketAddr,
    },
    /// The outbound connection to this address (opened if needed).
    Tcp(SocketAddr),
    /// Inbound connection `id` if still open, else a new connection to `fallback`.
    Conn {
        id: Option<u64>,
        fallback: Option<SocketAddr>,
    },
}

impl Dest {
    /// Over UDP to `to`, from `from` (the address a request came in on)
    /// when it is of `to`'s family.
    pub fn udp_from(from: Option<SocketAddr>, to: SocketAddr) -> Dest {
        match from {
            Some(from) if from.is_ipv4() == to.is_ipv4() => Dest::UdpFrom { from, to },
            _ => Dest::Udp(to),
        }
    }
}

/// callscreen's own addresses, as written in its Via.
#[derive(Clone, Debug)]
pub struct Local {
    pub host: String,
    pub udp_port: Option<u16>,
    pub tcp_port: Option<u16>,
    /// Every bound address (for telling a Route that names callscreen).
    pub bound: Vec<SocketAddr>,
}

impl Local {
    /// The sent-by port of callscreen's Via, the same for both transports:
    /// an INVITE that went over TCP (above 1300 bytes) and its CANCEL or ACK
    /// that go over UDP must carry the same sent-by to match one downstream
    /// transaction (RFC 3261 §17.2.3). The UDP port when UDP listens.
    pub fn sent_by_port(&self) -> u16 {
        self.udp_port.or(self.tcp_port).unwrap_or(5060)
    }

    /// Whether host and port name callscreen.
    pub fn is_own(&self, host: &[u8], port: Option<u16>) -> bool {
        let bare = host
            .strip_prefix(b"[")
            .and_then(|h| h.strip_suffix(b"]"))
            .unwrap_or(host);
        let host_ok = bare.eq_ignore_ascii_case(self.host.as_bytes())
            || std::str::from_utf8(bare)
                .ok()
                .and_then(|h| h.parse::<std::net::IpAddr>().ok())
                .is_some_and(|ip| self.bound.iter().any(|b| b.ip() == ip));
        let port = port.unwrap_or(5060);
        host_ok && (Some(port) == self.udp_port || Some(port) == self.tcp_port)
    }
}

thread_local! {
    /// UDP datagrams this thread holds back until its run of work ends
    /// (`Links::hold`).
    static HELD: std::cell::RefCell<Vec<(Dest, Vec<u8>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[derive(Default)]
pub struct Links {
    /// The UDP sockets, each with its address (read once: not a
    /// `getsockname` per datagram sent).
    udp: OnceLock<Vec<(SocketAddr, Arc<UdpSocket>)>>,
    connect: OnceLock<Connect>,
    pub local: OnceLock<Local>,
    inbound: Mutex<HashMap<u64, Queue>>,
    outbound: Mutex<HashMap<SocketAddr, Queue>>,
    next_conn: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold plain data; a panic elsewhere does not make them wrong.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Links {
    pub fn init(&self, udp: Vec<Arc<UdpSocket>>, connect: Connect, local: Local) {
        let udp = udp
            .into_iter()
            .filter_map(|s| Some((s.local_addr().ok()?, s)))
            .collect();
        let _ = self.udp.set(udp);
        let _ = self.connect.set(connect);
        let _ = self.local.set(local);
    }

    /// Registers an inbound TCP connection; its id goes into forwarded Vias.
    pub fn register(&self, tx: Queue) -> u64 {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.inbound).insert(id, tx);
        id
    }

    pub fn unregister(&self, id: u64) {
        lock(&self.inbound).remove(&id);
    }

    /// The socket to send to `to` from: the one bound to `from` when
    /// given, else the first of `to`'s address family.
    fn udp_for(&self, to: SocketAddr, from: Option<SocketAddr>) -> Option<&Arc<UdpSocket>> {
        let socks = self.udp.get()?;
        from.and_then(|f| socks.iter().find(|(a, _)| *a == f))
            .or_else(|| socks.iter().find(|(a, _)| a.is_ipv4() == to.is_ipv4()))
            .map(|(_, s)| s)
    }

    /// Sends `bytes` to `dest` (a UDP one later, with the others this
    /// thread holds, when `last`); see [`Links::send_held`].
    pub fn hold(&self, m: &Metrics, dest: Dest, bytes: Vec<u8>, last: bool) {
        match dest {
            Dest::Udp(_) | Dest::UdpFrom { .. } => {
                HELD.with(|h| h.borrow_mut().push((dest, bytes)))
            }
            _ => self.send(m, dest, &bytes),
        }
        if last {
            self.send_held(m);
        }
    }

    /// Sends what this thread holds (a verification thread's answers of
    /// one run of jobs, `crate::stir::Job`).
    pub fn send_held(&self, m: &Metrics) {
        // Drained in place: the list keeps its room for the next run.
        HELD.with(|h| {
            for (dest, bytes) in h.borrow_mut().drain(..) {
                self.send(m, dest, &bytes);
            }
        });
    }

    /// Sends `bytes` to `dest` without blocking the caller for long: UDP is
    /// sent at once, TCP is queued to the connection's writer.
    pub fn send(&self, m: &Metrics, dest: Dest, bytes: &[u8]) {
        match dest {
            Dest::Udp(to) | Dest::UdpFrom { to, .. } => {
                let from = match dest {
                    Dest::UdpFrom { from, .. } => Some(from),
                    _ => None,
                };
                let sent = self.udp_for(to, from).map(|s| s.send_to(bytes, to));
                match sent {
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        Metrics::inc(&m.send_failures);
                        tracing::debug!(to = %to, error = %e, "UDP send failed");
                    }
                    None => {
                        Metrics::inc(&m.send_failures);
                        tracing::debug!(to = %to, "no UDP socket of this address family to send from");
                    }
                }
            }
            Dest::Conn { id, fallback } => {
                let tx = id.and_then(|id| lock(&self.inbound).get(&id).cloned());
                match (tx, fallback) {
                    (Some(tx), _) => queue(m, &tx, bytes),
                    (None, Some(addr)) => self.send(m, Dest::Tcp(addr), bytes),
                    (None, None) => Metrics::inc(&m.send_failures),
                }
            }
            Dest::Tcp(to) => match self.outbound_to(to) {
                Some(tx) => queue(m, &tx, bytes),
                None => Metrics::inc(&m.send_failures),
            },
        }
    }

    fn outbound_to(&self, to: SocketAddr) -> Option<Queue> {
        let mut map = lock(&self.outbound);
        if let Some(tx) = map.get(&to).filter(|t| !t.is_closed()) {
            return Some(tx.clone());
        }
        let connect = self.connect.get()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        map.insert(to, tx.clone());
        connect(to, tx.clone(), rx);
        Some(tx)
    }

    /// Forgets an outbound connection that closed (unless a newer one
    /// already took its place).
    pub fn forget_outbound(&self, to: SocketAddr, tx: &Queue) {
        let mut map = lock(&self.outbound);
        if map.get(&to).is_some_and(|t| t.same_channel(tx)) {
            map.remove(&to);
        }
    }
}

fn queue(m: &Metrics, tx: &Queue, bytes: &[u8]) {
    if tx.try_send(bytes.to_vec()).is_err() {
        Metrics::inc(&m.send_failures);
    }
}
