//! TCP: a stream framed by Content-Length (RFC 3261 §18.3), pipelined
//! messages, CRLFs between messages skipped and RFC 5626 CRLFCRLF keep-alive
//! pings answered with a CRLF pong; a connection limit and an idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};

use super::handler::Handler;
use super::links::drain;
use super::runtime::{Metrics, Shared};

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

/// One inbound connection: a reader that handles each message and a writer
/// fed by a queue, so that responses relayed from elsewhere (proxy mode)
/// can be written on it too.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    idle: std::time::Duration,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    let id = shared.links.register(tx.clone());
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if wr.write_all(&msg).await.is_err() {
                break;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut handler = Handler::new(Arc::clone(&shared));
    handler.conn = Some(id);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match tokio::time::timeout(idle, rd.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Err(_) => {
                tracing::debug!(source = %peer, "TCP connection idle: closed");
                break;
            }
            Ok(Ok(n)) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        if !drain(&mut handler, &mut buf, peer, &shared, &tx).await {
            break;
        }
    }
    // The writer sends what is queued, then closes.
    shared.links.unregister(id);
    drop(tx);
    let _ = writer.await;
}
