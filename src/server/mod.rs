//! The SIP side of the daemon: its sockets, threads and tasks, and the call
//! path from a received message to the bytes sent. Business rules live in
//! `screen`, SIP bytes in `sip`, the state it shares with the API in
//! `state`; the daemon (`crate::daemon`) starts it beside the API.
//!
//! A message flows one way down these files, each calling only the ones
//! after it in the order `docs/layout.md` writes (and `tests/layering.rs`
//! checks): the transports, the handler, admission, the two modes, STIR,
//! the decision and the answer, then what they all use.
//!
//! This file starts it all: `start` binds and spawns, `Sip::report` logs
//! what is summed per interval, the health probes run here.

mod admit;
mod answer;
mod cache;
mod callpath;
mod decide;
mod handler;
mod hops;
mod ingress;
mod invite;
mod links;
mod noc;
mod proxy;
mod redirect;
mod stir;
mod tcp;
mod udp;
mod warn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;

pub use callpath::CallPath;
pub use handler::Handler;
pub use noc::{Dropped, init_logging};

use crate::config::{Mode, Settings};
use crate::state::Shared;

/// A SIP listener that could not be opened.
#[derive(Debug)]
pub enum ListenError {
    Bind {
        addr: SocketAddr,
        proto: &'static str,
        error: std::io::Error,
    },
    Thread(std::io::Error),
    Keys(std::io::Error),
    Tls(String),
}

impl std::fmt::Display for ListenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ListenError::Bind { addr, proto, error } => write!(
                f,
                "cannot listen on {proto} {addr}: {error}; check [sip] {} in the config (another process may hold the port, or a port below 1024 needs CAP_NET_BIND_SERVICE)",
                proto.to_lowercase()
            ),
            ListenError::Thread(e) => write!(f, "cannot start the UDP receive threads: {e}"),
            ListenError::Keys(e) => write!(f, "cannot make the key of the warn tokens: {e}"),
            ListenError::Tls(e) => write!(
                f,
                "cannot start SIP over TLS: {e}; check [sip] tls_cert, tls_key and tls_client_ca"
            ),
        }
    }
}

impl std::error::Error for ListenError {}

/// The running SIP side.
pub struct Sip {
    cp: Arc<CallPath>,
    threads: Vec<JoinHandle<()>>,
    /// The addresses it listens on.
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
    pub tls: Vec<SocketAddr>,
    /// Counts already logged by `report`.
    logged: Logged,
    /// The UDP queues of each listener (their drop counts are logged).
    queues: Vec<Arc<Vec<udp::Queue>>>,
}

#[derive(Default)]
struct Logged {
    unknown_trunk: u64,
    unknown_source: u64,
    shed_limit: u64,
    shed_queue_age: u64,
    send_failures: u64,
    tcp_refused: u64,
}

/// Binds every configured SIP listener and starts the receive threads and
/// tasks. Runs inside the daemon's tokio runtime.
pub fn start(shared: &Arc<Shared>) -> Result<Sip, ListenError> {
    let settings = shared.runtime.load().settings.clone();
    let threads = match settings.sip.udp_threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let mut udp_socks = Vec::new();
    let mut udp_bound = Vec::new();
    for &addr in &settings.sip.udp {
        let sock = udp::bind(addr).map_err(|error| ListenError::Bind {
            addr,
            proto: "UDP",
            error,
        })?;
        udp_bound.push(sock.local_addr().unwrap_or(addr));
        udp_socks.push(Arc::new(sock));
    }
    let mut tcp_bound = Vec::new();
    let mut tcp_listeners = Vec::new();
    for &addr in &settings.sip.tcp {
        let l = bind_tcp(addr).map_err(|error| ListenError::Bind {
            addr,
            proto: "TCP",
            error,
        })?;
        tcp_bound.push(l.local_addr().unwrap_or(addr));
        tcp_listeners.push(l);
    }
    let mut tls_bound = Vec::new();
    let mut tls_listeners = Vec::new();
    if let Some(files) = &settings.sip.tls_files {
        let cfg = crate::tls::server_config(&files.cert, &files.key, files.client_ca.as_deref())
            .map_err(ListenError::Tls)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
        for &addr in &settings.sip.tls {
            let l = bind_tcp(addr).map_err(|error| ListenError::Bind {
                addr,
                proto: "TLS",
                error,
            })?;
            tls_bound.push(l.local_addr().unwrap_or(addr));
            tls_listeners.push((l, acceptor.clone()));
        }
    }
    let local = local_addresses(&settings, &udp_bound, &tcp_bound);
    if let (Mode::Proxy, Some(u), Some(t)) = (settings.sip.mode, local.udp_port, local.tcp_port)
        && u != t
    {
        tracing::warn!(
            "proxy mode writes one sent-by port in its Via, UDP's {u}, also on requests it sends over TCP; TCP listens on {t}, so a next hop that opens a new connection for a response will not reach callscreen: listen on the same port for UDP and TCP"
        );
    }
    let cp = CallPath::new(Arc::clone(shared)).map_err(ListenError::Keys)?;
    let rt = tokio::runtime::Handle::current();
    let _ = cp.runtime.set(rt.clone());
    cp.links
        .init(udp_socks.clone(), tcp::connector(&cp, rt), local);
    let mut sip = Sip {
        cp: Arc::clone(&cp),
        threads: Vec::new(),
        udp: udp_bound,
        tcp: tcp_bound,
        tls: tls_bound,
        logged: Logged::default(),
        queues: Vec::new(),
    };
    let mut room = udp::queue_budget();
    for sock in &udp_socks {
        let queues = Arc::new(udp::queues(Arc::clone(sock), &settings, &mut room));
        tracing::debug!(
            listener = ?sock.local_addr().ok(),
            own_queues = queues.len() - 1,
            "UDP queues"
        );
        let h = udp::spawn(Arc::clone(&queues), threads, Arc::clone(&cp))
            .map_err(ListenError::Thread)?;
        sip.threads.extend(h);
        sip.queues.push(queues);
    }
    for l in tcp_listeners {
        tokio::spawn(tcp::serve(l, Arc::clone(&cp), None));
    }
    for (l, acceptor) in tls_listeners {
        tokio::spawn(tcp::serve(l, Arc::clone(&cp), Some(acceptor)));
    }
    // Probes run whenever proxy mode has two or more next hops (a
    // reload may switch modes or change the hops).
    tokio::spawn(probes(cp));
    Ok(sip)
}

impl Sip {
    /// Logs, once per interval, what would flood the log per call: refusals
    /// of unknown trunks and sources, failed sends, next hops going down.
    pub fn report(&mut self) {
        let m = &self.cp.shared.metrics;
        let t = m.unknown_trunk.load(Ordering::Relaxed);
        if t > self.logged.unknown_trunk {
            tracing::warn!(
                refused = t - self.logged.unknown_trunk,
                "INVITEs from an SBC without a known trunk id (and no default_peer) were refused with 403"
            );
            self.logged.unknown_trunk = t;
        }
        for line in self.cp.hops.report() {
            tracing::warn!("{line}");
        }
        let f = m.send_failures.load(Ordering::Relaxed);
        if f > self.logged.send_failures {
            tracing::warn!(
                failed = f - self.logged.send_failures,
                "messages could not be sent on (no route, queue full or connection refused)"
            );
            self.logged.send_failures = f;
        }
        let r = m.tcp_refused.load(Ordering::Relaxed);
        if r > self.logged.tcp_refused {
            tracing::warn!(
                refused = r - self.logged.tcp_refused,
                "TCP connections closed: a source at tcp_max_per_source, all at tcp_max_connections, or no whole message within tcp_first_message_secs"
            );
            self.logged.tcp_refused = r;
        }
        for q in self.queues.iter().flat_map(|l| l.iter()) {
            let (d, before) = (q.drops(), q.logged.load(Ordering::Relaxed));
            if d > before {
                tracing::warn!(
                    queue = %q.label,
                    dropped = d - before,
                    "the kernel dropped UDP datagrams: this sender sent faster than callscreen reads"
                );
                q.logged.store(d, Ordering::Relaxed);
            }
        }
        let loads = self.cp.shared.loads.load();
        let shed = m.shed_limit.load(Ordering::Relaxed);
        if shed > self.logged.shed_limit {
            let by_peer: Vec<String> = loads
                .peers
                .iter()
                .filter(|p| p.shed.load(Ordering::Relaxed) > 0)
                .map(|p| format!("{}={}", p.name, p.shed.load(Ordering::Relaxed)))
                .collect();
            tracing::warn!(
                shed = shed - self.logged.shed_limit,
                total_by_peer = %by_peer.join(","),
                "INVITEs over their peer's rate limit: answered as the peer's over_limit says (default: let through unscreened)"
            );
            self.logged.shed_limit = shed;
        }
        let aged = m.shed_queue_age.load(Ordering::Relaxed);
        if aged > self.logged.shed_queue_age {
            tracing::warn!(
                shed = aged - self.logged.shed_queue_age,
                "overload: requests waited longer than [sip] shed_queue_age_ms; INVITEs were let through unscreened, OPTIONS answered 503"
            );
            self.logged.shed_queue_age = aged;
        }
        let u = m.unknown_source.load(Ordering::Relaxed);
        if u > self.logged.unknown_source {
            tracing::warn!(
                refused = u - self.logged.unknown_source,
                "requests from unknown sources were refused"
            );
            self.logged.unknown_source = u;
        }
    }

    /// Waits for the receive threads, which end once `Shared::stop` is set.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// The address callscreen writes in its Via: `[proxy] via_host`, else the
/// first address it listens on.
fn local_addresses(settings: &Settings, udp: &[SocketAddr], tcp: &[SocketAddr]) -> links::Local {
    let first = udp.first().or(tcp.first());
    let host = match (&settings.proxy.via_host, first) {
        (Some(h), _) => h.clone(),
        (None, Some(SocketAddr::V6(a))) => format!("[{}]", a.ip()),
        (None, Some(a)) => a.ip().to_string(),
        (None, None) => "localhost".to_string(),
    };
    // The ports of the family of the Via host (the first listener's).
    let v4 = first.is_none_or(|a| a.is_ipv4());
    links::Local {
        host,
        udp_port: udp.iter().find(|a| a.is_ipv4() == v4).map(|a| a.port()),
        tcp_port: tcp.iter().find(|a| a.is_ipv4() == v4).map(|a| a.port()),
        bound: udp.iter().chain(tcp).copied().collect(),
    }
}

/// Health probes (proxy mode, more than one next hop): an OPTIONS to every
/// next hop each `[proxy] probe_interval_secs`.
async fn probes(cp: Arc<CallPath>) {
    let mut seq = 0u64;
    let mut out = Vec::new();
    loop {
        let (interval, hops, down_for, proxy) = {
            let rt = cp.shared.runtime.load();
            let p = &rt.settings.proxy;
            let proxy = rt.settings.sip.mode == Mode::Proxy;
            (p.probe_interval, p.next_hops.clone(), p.down_for, proxy)
        };
        if !proxy || interval.is_zero() || hops.len() < 2 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        if let Some(local) = cp.links.local.get() {
            for (i, hop) in hops.iter().enumerate() {
                seq += 1;
                let own = crate::sip::forward::OwnVia {
                    tls: hop.tls,
                    tcp: hop.tcp,
                    host: &local.host,
                    port: local.sent_by_port(),
                    conn: None,
                };
                crate::sip::forward::write_probe(&mut out, hop.addr, &own, i, seq);
                cp.hops
                    .probe_sent(hop.addr, seq, &cp.shared.metrics, down_for);
                let dest = if hop.tcp {
                    links::Dest::Tcp(hop.addr)
                } else {
                    links::Dest::Udp(hop.addr)
                };
                cp.links.send(&cp.shared.metrics, dest, &out);
            }
        }
        tokio::time::sleep(interval).await;
    }
}

fn bind_tcp(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let s = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    tokio::net::TcpListener::from_std(s.into())
}
