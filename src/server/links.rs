//! Where proxy mode sends what it did not receive on the same socket: the
//! UDP sockets (for forwarding from a TCP task, or relaying to a UDP client
//! from one), the open inbound TCP connections (responses go back on the
//! connection the request came on, RFC 3261 §18.2.2), and one reused
//! outbound TCP connection per next hop (opened on first use, reopened when
//! it closes, never one per call).

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::handler::{Handler, Outcome};
use super::runtime::{Metrics, Shared};
use crate::sip::Framing;

/// Queued messages per TCP connection before sends are dropped (and counted).
const QUEUE: usize = 4096;
/// How long opening a TCP connection to a next hop may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    Udp(SocketAddr),
    /// The outbound connection to this address (opened if needed).
    Tcp(SocketAddr),
    /// Inbound connection `id` if still open, else a new connection to `fallback`.
    Conn {
        id: Option<u64>,
        fallback: Option<SocketAddr>,
    },
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

#[derive(Default)]
pub struct Links {
    udp: OnceLock<Vec<Arc<UdpSocket>>>,
    rt: OnceLock<tokio::runtime::Handle>,
    pub local: OnceLock<Local>,
    inbound: Mutex<HashMap<u64, mpsc::Sender<Vec<u8>>>>,
    outbound: Mutex<HashMap<SocketAddr, mpsc::Sender<Vec<u8>>>>,
    next_conn: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold plain data; a panic elsewhere does not make them wrong.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Links {
    pub fn init(&self, udp: Vec<Arc<UdpSocket>>, rt: tokio::runtime::Handle, local: Local) {
        let _ = self.udp.set(udp);
        let _ = self.rt.set(rt);
        let _ = self.local.set(local);
    }

    /// Registers an inbound TCP connection; its id goes into forwarded Vias.
    pub fn register(&self, tx: mpsc::Sender<Vec<u8>>) -> u64 {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed) + 1;
        lock(&self.inbound).insert(id, tx);
        id
    }

    pub fn unregister(&self, id: u64) {
        lock(&self.inbound).remove(&id);
    }

    fn udp_for(&self, to: SocketAddr) -> Option<&Arc<UdpSocket>> {
        self.udp
            .get()?
            .iter()
            .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv4() == to.is_ipv4()))
    }

    /// Sends `bytes` to `dest` without blocking the caller for long: UDP is
    /// sent at once, TCP is queued to the connection's writer.
    pub fn send(&self, shared: &Arc<Shared>, dest: Dest, bytes: &[u8]) {
        let m = &shared.metrics;
        match dest {
            Dest::Udp(to) => {
                let sent = self.udp_for(to).map(|s| s.send_to(bytes, to));
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
                    (None, Some(addr)) => self.send(shared, Dest::Tcp(addr), bytes),
                    (None, None) => Metrics::inc(&m.send_failures),
                }
            }
            Dest::Tcp(to) => match self.outbound_to(shared, to) {
                Some(tx) => queue(m, &tx, bytes),
                None => Metrics::inc(&m.send_failures),
            },
        }
    }

    fn outbound_to(&self, shared: &Arc<Shared>, to: SocketAddr) -> Option<mpsc::Sender<Vec<u8>>> {
        let mut map = lock(&self.outbound);
        if let Some(tx) = map.get(&to).filter(|t| !t.is_closed()) {
            return Some(tx.clone());
        }
        let rt = self.rt.get()?;
        let (tx, rx) = mpsc::channel(QUEUE);
        map.insert(to, tx.clone());
        rt.spawn(outbound(Arc::clone(shared), to, tx.clone(), rx));
        Some(tx)
    }

    fn forget_outbound(&self, to: SocketAddr, tx: &mpsc::Sender<Vec<u8>>) {
        let mut map = lock(&self.outbound);
        if map.get(&to).is_some_and(|t| t.same_channel(tx)) {
            map.remove(&to);
        }
    }
}

fn queue(m: &Metrics, tx: &mpsc::Sender<Vec<u8>>, bytes: &[u8]) {
    if tx.try_send(bytes.to_vec()).is_err() {
        Metrics::inc(&m.send_failures);
    }
}

/// One outbound connection: connect, then write what is queued while the
/// messages that come back (responses, mostly) go through a `Handler`.
async fn outbound(
    shared: Arc<Shared>,
    to: SocketAddr,
    tx: mpsc::Sender<Vec<u8>>,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return unreachable(&shared, to, &tx, rx, &e.to_string()),
        Err(_) => return unreachable(&shared, to, &tx, rx, "connect timed out"),
    };
    let _ = stream.set_nodelay(true);
    tracing::debug!(to = %to, "TCP connection to next hop opened");
    let (mut rd, mut wr) = stream.into_split();
    let reader = {
        let (shared, tx) = (Arc::clone(&shared), tx.clone());
        tokio::spawn(async move {
            let mut handler = Handler::new(Arc::clone(&shared));
            let mut buf: Vec<u8> = Vec::with_capacity(8192);
            let mut chunk = vec![0u8; 16 * 1024];
            loop {
                let n = match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                if !drain(&mut handler, &mut buf, to, &shared, &tx).await {
                    return;
                }
            }
        })
    };
    let mut reader = reader;
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(msg) => {
                    if wr.write_all(&msg).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = &mut reader => break,
        }
    }
    reader.abort();
    // Whatever is still queued goes out on a new connection.
    shared.links.forget_outbound(to, &tx);
    rx.close();
    while let Ok(msg) = rx.try_recv() {
        shared.links.send(&shared, Dest::Tcp(to), &msg);
    }
    tracing::debug!(to = %to, "TCP connection to next hop closed");
}

/// Handles every whole message in `buf` (CRLF keep-alives skipped); false
/// when the connection must close. Answers on this connection wait for room
/// in its queue (back-pressure on the sender, nothing dropped).
pub async fn drain(
    handler: &mut Handler,
    buf: &mut Vec<u8>,
    peer: SocketAddr,
    shared: &Arc<Shared>,
    tx: &mpsc::Sender<Vec<u8>>,
) -> bool {
    let mut at = 0;
    let mut open = true;
    loop {
        let rest = &buf[at..];
        if rest.starts_with(b"\r\n\r\n") {
            // RFC 5626 §4.4.1 ping: a CRLF pong.
            if tx.send(b"\r\n".to_vec()).await.is_err() {
                return false;
            }
            at += 4;
            continue;
        }
        if rest.starts_with(b"\r\n") && rest.len() > 2 {
            at += 2;
            continue;
        }
        if rest.is_empty() || rest == b"\r\n" || rest == b"\r" {
            break;
        }
        match handler.handle(rest, peer, Framing::Stream) {
            Outcome::Incomplete => break,
            Outcome::Silent { consumed, close } => {
                at += consumed.max(1);
                if close {
                    open = false;
                    break;
                }
            }
            Outcome::Reply {
                consumed, close, ..
            } => {
                if tx.send(std::mem::take(&mut handler.out)).await.is_err() {
                    return false;
                }
                at += consumed.max(1);
                if close {
                    open = false;
                    break;
                }
            }
            Outcome::Send {
                dest,
                consumed,
                close,
            } => {
                shared.links.send(shared, dest, &handler.out);
                at += consumed.max(1);
                if close {
                    open = false;
                    break;
                }
            }
        }
    }
    buf.drain(..at.min(buf.len()));
    open
}

fn unreachable(
    shared: &Arc<Shared>,
    to: SocketAddr,
    tx: &mpsc::Sender<Vec<u8>>,
    mut rx: mpsc::Receiver<Vec<u8>>,
    why: &str,
) {
    shared.links.forget_outbound(to, tx);
    rx.close();
    let mut lost = 0u64;
    while rx.try_recv().is_ok() {
        lost += 1;
    }
    let m = &shared.metrics.send_failures;
    m.fetch_add(lost, Ordering::Relaxed);
    let rt = shared.runtime.load();
    if rt.settings.proxy.next_hops.iter().any(|h| h.addr == to) {
        let down_for = rt.settings.proxy.down_for;
        shared.hops.unreachable(to, &shared.metrics, why, down_for);
    } else {
        // A caller's own address (a response whose connection had closed).
        Metrics::inc(m);
        tracing::debug!(to = %to, why, "TCP connection for a response failed");
    }
}
