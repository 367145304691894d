//! TCP: a stream framed by Content-Length (RFC 3261 §18.3), pipelined
//! messages, CRLFs between messages skipped and RFC 5626 CRLFCRLF keep-alive
//! pings answered with a CRLF pong; a connection limit and an idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use super::handler::{Handler, Outcome};
use super::runtime::{Metrics, Shared};
use crate::sip::Framing;

pub async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let (max, idle) = {
        let rt = shared.runtime.load();
        (
            rt.settings.sip.tcp_max_connections,
            rt.settings.sip.tcp_idle_timeout,
        )
    };
    let slots = Arc::new(Semaphore::new(max));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            Metrics::inc(&shared.metrics.tcp_refused);
            tracing::warn!(source = %peer, limit = max, "TCP connection limit reached: connection closed");
            drop(stream);
            continue;
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            connection(stream, peer, shared, idle).await;
        });
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    idle: std::time::Duration,
) {
    let mut handler = Handler::new(Arc::clone(&shared));
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Err(_) => {
                tracing::debug!(source = %peer, "TCP connection idle: closed");
                return;
            }
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        loop {
            let rest = &buf[at..];
            // Keep-alive (RFC 5626 §4.4.1): CRLFCRLF is a ping, answered by CRLF.
            if rest.starts_with(b"\r\n\r\n") {
                if stream.write_all(b"\r\n").await.is_err() {
                    return;
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
                    if close {
                        return;
                    }
                    at += consumed.max(1);
                }
                Outcome::Reply {
                    consumed, close, ..
                } => {
                    if stream.write_all(&handler.out).await.is_err() || close {
                        let _ = stream.shutdown().await;
                        return;
                    }
                    at += consumed.max(1);
                }
            }
        }
        buf.drain(..at);
    }
}
