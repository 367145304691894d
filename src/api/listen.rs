//! The control API's connections, limited so that the control plane can
//! never starve the call path of descriptors or memory: at most
//! `[api] max_connections` open at once and `max_connections_per_source`
//! from one address (a TLS handshake in progress counts: the limit is taken
//! at the TCP accept), and a connection silent both ways for
//! `idle_timeout_secs` is closed. A connection over a limit is closed at
//! accept and counted (`callscreen_api_connections_refused_total`), its
//! refusals summed up in the log every 10 s.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

use crate::state::Shared;

/// The limits, from `[api]`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max: usize,
    pub per_source: usize,
    pub idle: Duration,
}

/// A TCP listener that hands out connections within the limits.
pub struct Limited {
    tcp: TcpListener,
    slots: Arc<Semaphore>,
    sources: Arc<Mutex<HashMap<IpAddr, usize>>>,
    limits: Limits,
    /// Where refusals are counted (the control API's; the redress card's
    /// listener only logs them).
    shared: Option<Arc<Shared>>,
    refused_since_report: u64,
    last_report: Option<Instant>,
}

impl Limited {
    pub fn new(tcp: TcpListener, limits: Limits, shared: Option<Arc<Shared>>) -> Limited {
        Limited {
            tcp,
            slots: Arc::new(Semaphore::new(limits.max)),
            sources: Arc::new(Mutex::new(HashMap::new())),
            limits,
            shared,
            refused_since_report: 0,
            last_report: None,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// The next connection within the limits (others are closed here).
    pub async fn accept(&mut self) -> (Guarded<TcpStream>, SocketAddr) {
        loop {
            let (stream, peer) = match self.tcp.accept().await {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match self.admit(peer.ip()) {
                Some(slot) => return (Guarded::new(stream, slot, self.limits.idle), peer),
                None => {
                    drop(stream);
                    self.refused(peer);
                }
            }
        }
    }

    fn admit(&self, ip: IpAddr) -> Option<Slot> {
        let permit = Arc::clone(&self.slots).try_acquire_owned().ok()?;
        let mut sources = lock(&self.sources);
        let n = sources.entry(ip).or_insert(0);
        if *n >= self.limits.per_source {
            return None;
        }
        *n += 1;
        Some(Slot {
            _permit: permit,
            sources: Arc::clone(&self.sources),
            ip,
        })
    }

    fn refused(&mut self, peer: SocketAddr) {
        if let Some(s) = &self.shared {
            s.metrics
                .api_connections_refused
                .fetch_add(1, Ordering::Relaxed);
        }
        self.refused_since_report += 1;
        let now = Instant::now();
        if self
            .last_report
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
        {
            tracing::warn!(
                refused = self.refused_since_report,
                last_source = %peer.ip(),
                max = self.limits.max,
                per_source = self.limits.per_source,
                "API connections over [api] max_connections or max_connections_per_source closed at accept"
            );
            self.refused_since_report = 0;
            self.last_report = Some(now);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection's place within the limits, given back when it closes.
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    sources: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut sources = lock(&self.sources);
        if let Some(n) = sources.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                sources.remove(&self.ip);
            }
        }
    }
}

/// A connection that holds its slot while it lives and fails with
/// `TimedOut` once it has been silent both ways for the idle timeout.
pub struct Guarded<T> {
    io: T,
    _slot: Slot,
    idle: Duration,
    timer: Pin<Box<Sleep>>,
}

impl<T> Guarded<T> {
    fn new(io: T, slot: Slot, idle: Duration) -> Guarded<T> {
        Guarded {
            io,
            _slot: slot,
            idle,
            timer: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn progressed(&mut self) {
        let at = Instant::now() + self.idle;
        self.timer.as_mut().reset(at);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.timer.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        "the connection was silent for [api] idle_timeout_secs",
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for Guarded<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Guarded<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.io).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed();
                }
                Poll::Ready(Ok(n))
            }
            // A viewer that never reads: its writes make no progress.
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(idle_error())),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl axum::serve::Listener for Limited {
    type Io = Guarded<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        Limited::accept(self).await
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Limited::local_addr(self)
    }
}
