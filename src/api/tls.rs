//! TLS for the control API (rustls, ring), and optional client-certificate
//! authentication against a configured CA (the configurations are
//! `crate::tls`'s). Handshakes run in their own tasks, so a slow or silent
//! client never holds up the others.

pub use crate::tls::{client_config, server_config};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::net::TcpStream;

use super::listen::{Guarded, Limited};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A listener that hands axum finished TLS connections.
pub struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(TlsStream<Guarded<TcpStream>>, SocketAddr)>,
    local: SocketAddr,
}

/// Accepts TCP connections and runs each handshake in a task of its own.
/// Handshakes count against the listener's limits (the connection's slot
/// is taken at the TCP accept) and are subject to its idle timeout.
pub fn listener(mut tcp: Limited, cfg: Arc<ServerConfig>) -> std::io::Result<TlsListener> {
    let local = tcp.local_addr()?;
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = TlsAcceptor::from(cfg);
    tokio::spawn(async move {
        loop {
            let (stream, peer) = tcp.accept().await;
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::info!(source = %peer, "API TLS handshake refused: {e}"),
                    Err(_) => tracing::info!(source = %peer, "API TLS handshake timed out"),
                }
            });
        }
    });
    Ok(TlsListener { rx, local })
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<Guarded<TcpStream>>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            // The acceptor task never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
