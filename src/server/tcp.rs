//! TCP: a stream framed by Content-Length (RFC 3261 §18.3), pipelined
//! messages, CRLFs between messages skipped and RFC 5626 CRLFCRLF keep-alive
//! pings answered with a CRLF pong; a connection limit and an idle timeout.
//! Inbound connections, and proxy mode's outbound ones to next hops (whose
//! responses come back through a handler like any message).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;

use super::answer::Outcome;
use super::callpath::CallPath;
use super::handler::Handler;
use super::links::{Connect, Dest, Queue};
use crate::sip::Framing;
use crate::state::Metrics;

/// The send buffer of an accepted SIP TCP connection (the kernel doubles
/// it for its bookkeeping).
const SEND_BUFFER: usize = 128 * 1024;
/// Most bytes of queued messages an inbound connection's writer puts in one write.
const WRITE_BATCH: usize = 64 * 1024;

/// How long opening a TCP connection to a next hop may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Connections held per key: a source address, or the SBC or peer whose
/// networks hold it.
struct Held<K: std::hash::Hash + Eq + Clone>(std::sync::Mutex<HashMap<K, usize>>);

impl<K: std::hash::Hash + Eq + Clone> Default for Held<K> {
    fn default() -> Self {
        Held(std::sync::Mutex::new(HashMap::new()))
    }
}

/// One of a key's connections; released when the connection ends.
struct Slot<K: std::hash::Hash + Eq + Clone> {
    held: Arc<Held<K>>,
    key: K,
}

impl<K: std::hash::Hash + Eq + Clone> Held<K> {
    fn take(self: &Arc<Self>, key: K, max: usize) -> Option<Slot<K>> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(key.clone()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot {
            held: Arc::clone(self),
            key,
        })
    }
}

impl<K: std::hash::Hash + Eq + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut m = self.held.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.key);
            }
        }
    }
}

/// Whose share a connection from `ip` takes: the SBC or peer whose
/// networks hold it, else the address alone (a next hop, the announcement
/// service).
fn share_of(s: &crate::config::Settings, ip: IpAddr) -> String {
    if let Some(b) = s
        .sbcs
        .iter()
        .find(|b| b.nets.iter().any(|n| n.contains(ip)))
    {
        return format!("sbc:{}", b.name);
    }
    // (Peers by index: the same as the policy's, which carries the names.)
    if let Some(i) = s
        .peers
        .iter()
        .position(|p| p.nets.iter().any(|n| n.contains(ip)))
    {
        return format!("peer:{i}");
    }
    format!("address:{ip}")
}

/// Accepts connections: only from addresses that may talk SIP to
/// callscreen (others are closed at once, counted), at most
/// `tcp_max_per_source` per address, `tcp_max_per_peer` per SBC or peer
/// (all the addresses of its networks together) and `tcp_max_connections`
/// in all, so that no one source, and no one peer's network, can lock the
/// others out. A TLS handshake in progress holds its slots. Refusals are counted and
/// summed up in the periodic log, not logged one by one (a flood would
/// flood the log too).
pub async fn serve(listener: TcpListener, cp: Arc<CallPath>, tls: Option<TlsAcceptor>) {
    let max = cp.shared.runtime.load().settings.sip.tcp_max_connections;
    let slots = Arc::new(Semaphore::new(max));
    let sources: Arc<Held<IpAddr>> = Arc::default();
    let shares: Arc<Held<String>> = Arc::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let (per_source, share, per_share, limits) = {
            let rt = cp.shared.runtime.load();
            let s = &rt.settings.sip;
            if !rt.settings.knows(peer.ip()) {
                Metrics::inc(&cp.shared.metrics.unknown_source);
                tracing::debug!(source = %peer, "TCP connection from an unknown source closed");
                continue;
            }
            (
                s.tcp_max_per_source,
                share_of(&rt.settings, peer.ip()),
                s.tcp_max_per_peer,
                (s.tcp_first_message, s.tcp_idle_timeout, s.tcp_write_timeout),
            )
        };
        let Some(source_slot) = sources.take(peer.ip(), per_source) else {
            Metrics::inc(&cp.shared.metrics.tcp_refused);
            tracing::debug!(source = %peer, limit = per_source, "TCP connections per source at the limit: closed");
            continue;
        };
        let Some(share_slot) = shares.take(share.clone(), per_share) else {
            Metrics::inc(&cp.shared.metrics.tcp_refused);
            tracing::debug!(source = %peer, %share, limit = per_share, "TCP connections of this SBC or peer at the limit: closed");
            continue;
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            Metrics::inc(&cp.shared.metrics.tcp_refused);
            tracing::debug!(source = %peer, limit = max, "TCP connection limit reached: closed");
            continue;
        };
        let cp = Arc::clone(&cp);
        let tls = tls.clone();
        tokio::spawn(async move {
            let _slots = (permit, source_slot, share_slot);
            let _ = stream.set_nodelay(true);
            // A fixed send buffer (the kernel's autotuning takes it to 4 MB):
            // SIP messages are kilobytes, so this bounds the kernel memory a
            // client that never reads can hold (a connection's worth, times
            // tcp_max_connections), and its writes stall, and time out, soon.
            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER);
            let Some(acceptor) = tls else {
                let (rd, wr) = stream.into_split();
                return connection(rd, wr, peer, cp, limits).await;
            };
            // The handshake counts against the time for the first message.
            let tls = match tokio::time::timeout(limits.0, acceptor.accept(stream)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    Metrics::inc(&cp.shared.metrics.tcp_refused);
                    tracing::info!(source = %peer, "SIP TLS handshake refused: {e}");
                    return;
                }
                Err(_) => {
                    Metrics::inc(&cp.shared.metrics.tcp_refused);
                    tracing::info!(source = %peer, "SIP TLS handshake timed out");
                    return;
                }
            };
            if let Err(why) = names_ok(&cp, peer.ip(), tls.get_ref().1.peer_certificates()) {
                Metrics::inc(&cp.shared.metrics.tcp_refused);
                tracing::warn!(source = %peer, "SIP TLS connection closed: {why}");
                return;
            }
            let (rd, wr) = tokio::io::split(tls);
            connection(rd, wr, peer, cp, limits).await;
        });
    }
}

/// One inbound connection: a reader that handles each message and a writer
/// fed by a queue, so that responses relayed from elsewhere (proxy mode)
/// can be written on it too.
/// `limits`: how long the first whole message may take from the accept (a
/// slowloris trickling bytes is closed then), and how long the connection
/// may stay idle after that, and how long one write may wait for the
/// client to take the bytes (one that never reads is closed then: its
/// queue full, the reader would otherwise wait on it past every timeout).
async fn connection<R, W>(
    mut rd: R,
    mut wr: W,
    peer: SocketAddr,
    cp: Arc<CallPath>,
    (first, idle, write): (Duration, Duration, Duration),
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    let id = cp.links.register(tx.clone());
    let writer = tokio::spawn(async move {
        let mut batch = Vec::new();
        while let Some(msg) = rx.recv().await {
            // What else is queued goes in the same write (pipelined answers,
            // keep-alive pongs): one syscall, not one per message.
            let bytes: &[u8] = if rx.is_empty() {
                &msg
            } else {
                batch.clear();
                batch.extend_from_slice(&msg);
                while batch.len() < WRITE_BATCH {
                    match rx.try_recv() {
                        Ok(m) => batch.extend_from_slice(&m),
                        Err(_) => break,
                    }
                }
                &batch
            };
            match tokio::time::timeout(write, wr.write_all(bytes)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => {
                    tracing::debug!(source = %peer, "TCP client took no bytes within tcp_write_timeout_secs: closed");
                    break;
                }
            }
        }
        // Closing the queue ends the reader's wait for room in it.
        rx.close();
        let _ = tokio::time::timeout(write, wr.shutdown()).await;
    });
    let mut handler = Handler::new(Arc::clone(&cp));
    handler.conn = Some(id);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    let first_by = tokio::time::Instant::now() + first;
    let mut messages = 0u64;
    loop {
        let deadline = if messages == 0 {
            first_by
        } else {
            tokio::time::Instant::now() + idle
        };
        let n = match tokio::time::timeout_at(deadline, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Err(_) if messages == 0 => {
                Metrics::inc(&cp.shared.metrics.tcp_refused);
                tracing::debug!(source = %peer, "TCP connection sent no whole message in time: closed");
                break;
            }
            Err(_) => {
                tracing::debug!(source = %peer, "TCP connection idle: closed");
                break;
            }
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if !drain(&mut handler, &mut buf, peer, &cp, &tx, &mut messages).await {
            break;
        }
    }
    // The writer sends what is queued, then closes.
    cp.links.unregister(id);
    drop(tx);
    let _ = writer.await;
}

/// Whether a TLS client may speak for the peers at its address: a peer
/// with `tls_names` wants a client certificate carrying one of them (a
/// DNS name of its subjectAltName, or its common name).
fn names_ok(
    cp: &CallPath,
    ip: IpAddr,
    certs: Option<&[rustls_pki_types::CertificateDer<'_>]>,
) -> Result<(), String> {
    let rt = cp.shared.runtime.load();
    let s = &rt.settings;
    let by_peer = s
        .peers
        .iter()
        .filter(|p| p.nets.iter().any(|n| n.contains(ip)))
        .flat_map(|p| &p.tls_names);
    let by_sbc = s
        .sbcs
        .iter()
        .filter(|b| b.nets.iter().any(|n| n.contains(ip)))
        .flat_map(|b| &b.tls_names);
    let wanted: Vec<&String> = by_peer.chain(by_sbc).collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let Some(leaf) = certs.and_then(|c| c.first()) else {
        return Err(format!(
            "no client certificate; the peer wants one of {wanted:?}"
        ));
    };
    let names = crate::tls::names(leaf);
    if names.iter().any(|n| wanted.iter().any(|w| **w == *n)) {
        Ok(())
    } else {
        Err(format!(
            "client certificate names {names:?}, the peer wants one of {wanted:?} (tls_names)"
        ))
    }
}

/// How the links open an outbound connection: a task on this runtime. It
/// holds the call path weakly (the call path holds the links).
pub fn connector(cp: &Arc<CallPath>, rt: tokio::runtime::Handle) -> Connect {
    let cp: Weak<CallPath> = Arc::downgrade(cp);
    Box::new(move |to, tx, rx| {
        if let Some(cp) = cp.upgrade() {
            rt.spawn(outbound(cp, to, tx, rx));
        }
    })
}

/// One outbound connection: connect, then write what is queued while the
/// messages that come back (responses, mostly) go through a `Handler`.
async fn outbound(cp: Arc<CallPath>, to: SocketAddr, tx: Queue, rx: mpsc::Receiver<Vec<u8>>) {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(to)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return unreachable(&cp, to, &tx, rx, &e.to_string()),
        Err(_) => return unreachable(&cp, to, &tx, rx, "connect timed out"),
    };
    let _ = stream.set_nodelay(true);
    let Some(tls) = hop_tls(&cp, to) else {
        tracing::debug!(to = %to, "TCP connection to next hop opened");
        let (rd, wr) = stream.into_split();
        return outbound_io(cp, to, tx, rx, rd, wr).await;
    };
    let cfg = match tls {
        Ok(cfg) => cfg,
        Err(e) => return unreachable(&cp, to, &tx, rx, &format!("TLS: {e}")),
    };
    // The next hop is named by its address: its certificate must carry it.
    let name = rustls_pki_types::ServerName::IpAddress(to.ip().into());
    let connector = tokio_rustls::TlsConnector::from(cfg);
    match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, stream)).await {
        Ok(Ok(s)) => {
            tracing::debug!(to = %to, "TLS connection to next hop opened");
            let (rd, wr) = tokio::io::split(s);
            outbound_io(cp, to, tx, rx, rd, wr).await;
        }
        Ok(Err(e)) => unreachable(&cp, to, &tx, rx, &format!("TLS handshake: {e}")),
        Err(_) => unreachable(&cp, to, &tx, rx, "TLS handshake timed out"),
    }
}

/// The TLS client for a next hop configured `sips:` or `transport=tls`
/// (trusting `[proxy] tls_ca_file` or the system's store, presenting
/// `[sip] tls_cert` when set); none for a plain TCP one.
fn hop_tls(cp: &CallPath, to: SocketAddr) -> Option<Result<Arc<rustls::ClientConfig>, String>> {
    let rt = cp.shared.runtime.load();
    let s = &rt.settings;
    s.proxy.next_hops.iter().find(|h| h.addr == to && h.tls)?;
    let identity = s
        .sip
        .tls_files
        .as_ref()
        .map(|f| (f.cert.as_path(), f.key.as_path()));
    Some(crate::tls::trusting(s.proxy.tls_ca.as_deref(), identity))
}

/// Writes what is queued for a next hop while what comes back goes through
/// a `Handler`; when either side ends, what is still queued goes out on a
/// new connection.
async fn outbound_io<R, W>(
    cp: Arc<CallPath>,
    to: SocketAddr,
    tx: Queue,
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut rd: R,
    mut wr: W,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let reader = {
        let (cp, tx) = (Arc::clone(&cp), tx.clone());
        tokio::spawn(async move {
            let mut handler = Handler::new(Arc::clone(&cp));
            let mut buf: Vec<u8> = Vec::with_capacity(8192);
            let mut chunk = vec![0u8; 16 * 1024];
            loop {
                let n = match rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                if !drain(&mut handler, &mut buf, to, &cp, &tx, &mut 0).await {
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
                    let write = cp.shared.runtime.load().settings.sip.tcp_write_timeout;
                    if !matches!(tokio::time::timeout(write, wr.write_all(&msg)).await, Ok(Ok(()))) {
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
    cp.links.forget_outbound(to, &tx);
    rx.close();
    while let Ok(msg) = rx.try_recv() {
        cp.links.send(&cp.shared.metrics, Dest::Tcp(to), &msg);
    }
    tracing::debug!(to = %to, "TCP connection to next hop closed");
}

/// Handles every whole message in `buf` (CRLF keep-alives skipped, counted
/// in `messages`: a keep-alive is no message); false when the connection
/// must close. Answers on this connection wait for room
/// in its queue (back-pressure on the sender, nothing dropped).
async fn drain(
    handler: &mut Handler,
    buf: &mut Vec<u8>,
    peer: SocketAddr,
    cp: &CallPath,
    tx: &Queue,
    messages: &mut u64,
) -> bool {
    let mut at = 0;
    let mut open = true;
    loop {
        let rest = &buf[at..];
        if rest.starts_with(b"\r\n\r\n") {
            // RFC 5626 §4.4.1 ping: a CRLF pong (dropped when the queue is
            // full: a client that does not read its pongs gets no more).
            match tx.try_send(b"\r\n".to_vec()) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
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
                *messages += 1;
                if close {
                    open = false;
                    break;
                }
            }
            Outcome::Reply {
                consumed, close, ..
            } => {
                // A copy of exactly its size: `out` keeps its capacity for the
                // next answer (taking it left an empty buffer that grew again,
                // six reallocations per answer).
                if tx.send(handler.out.clone()).await.is_err() {
                    return false;
                }
                at += consumed.max(1);
                *messages += 1;
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
                cp.links.send(&cp.shared.metrics, dest, &handler.out);
                at += consumed.max(1);
                *messages += 1;
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
    cp: &CallPath,
    to: SocketAddr,
    tx: &Queue,
    mut rx: mpsc::Receiver<Vec<u8>>,
    why: &str,
) {
    cp.links.forget_outbound(to, tx);
    rx.close();
    let mut lost = 0u64;
    while rx.try_recv().is_ok() {
        lost += 1;
    }
    let m = &cp.shared.metrics.send_failures;
    m.fetch_add(lost, std::sync::atomic::Ordering::Relaxed);
    let rt = cp.shared.runtime.load();
    if rt.settings.proxy.next_hops.iter().any(|h| h.addr == to) {
        let down_for = rt.settings.proxy.down_for;
        cp.hops.unreachable(to, &cp.shared.metrics, why, down_for);
    } else {
        // A caller's own address (a response whose connection had closed).
        Metrics::inc(m);
        tracing::debug!(to = %to, why, "TCP connection for a response failed");
    }
}
