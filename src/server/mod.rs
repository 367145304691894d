//! The daemon: sockets, threads and tasks, readiness, reload and shutdown,
//! the NOC line and counters. Business rules live in `screen`; SIP bytes in
//! `sip`. One file per concern:
//!
//! - `runtime`: the shared snapshot (settings + lists) and counters;
//! - `ingress`: which peer a request came from;
//! - `handler`: one message in, one answer out (redirect mode) or one
//!   message forwarded or relayed (proxy mode);
//! - `links`: proxy mode's sockets and TCP connections;
//! - `hops`: proxy mode's next-hop health;
//! - `cache`: recent answers, for retransmissions;
//! - `udp`, `tcp`: the transports;
//! - `noc`: the log line and the log writer.

mod cache;
mod handler;
mod hops;
mod ingress;
mod links;
mod noc;
mod proxy;
mod runtime;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

pub use handler::{Handler, Outcome};
pub use runtime::{LATENCY_BUCKETS_US, Metrics, Runtime, Shared};

use crate::engine::{Engine, LoadError};

/// Why the daemon could not start.
#[derive(Debug)]
pub enum StartError {
    Load(LoadError),
    Bind {
        addr: SocketAddr,
        proto: &'static str,
        error: std::io::Error,
    },
    Runtime(std::io::Error),
    State {
        dir: PathBuf,
        error: std::io::Error,
    },
    Tls(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Load(e) => write!(f, "{e}"),
            StartError::Bind { addr, proto, error } => write!(
                f,
                "cannot listen on {proto} {addr}: {error}; check [sip] {} in the config (another process may hold the port, or a port below 1024 needs CAP_NET_BIND_SERVICE)",
                proto.to_lowercase()
            ),
            StartError::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
            StartError::Tls(e) => {
                write!(f, "[api] TLS: {e}; check tls_cert, tls_key and client_ca")
            }
            StartError::State { dir, error } => write!(
                f,
                "cannot use the state directory {}: {error}; check [api] state_dir (or systemd's StateDirectory)",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for StartError {}

/// Options of `callscreen run`.
pub struct RunOptions {
    pub config: PathBuf,
    /// `Some(true)`: JSON log lines regardless of the config.
    pub json: Option<bool>,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(opts: RunOptions) -> Result<(), StartError> {
    let engine = Engine::load(&opts.config).map_err(StartError::Load)?;
    let json = opts.json.unwrap_or(engine.settings.log.json);
    let (_guard, dropped) = noc::init(&engine.settings.log, json);
    for s in &engine.skipped {
        tracing::warn!("optional list not loaded: {s}");
    }
    let settings = engine.settings;
    // Pushed lists newer than the seed files win.
    let store =
        match &settings.api {
            Some(api) => Some(crate::lists::store::Store::open(&api.state_dir).map_err(
                |error| StartError::State {
                    dir: api.state_dir.clone(),
                    error,
                },
            )?),
            None => None,
        };
    let lists = match &store {
        Some(s) => crate::engine::with_stored(&engine.lists, &settings, s),
        None => engine.lists,
    };
    let shared = Shared::new(Runtime {
        settings: settings.clone(),
        lists,
    });

    let threads = match settings.sip.udp_threads {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    let mut udp_socks = Vec::new();
    let mut udp_bound = Vec::new();
    for &addr in &settings.sip.udp {
        let sock = udp::bind(addr).map_err(|error| StartError::Bind {
            addr,
            proto: "UDP",
            error,
        })?;
        udp_bound.push(sock.local_addr().unwrap_or(addr));
        udp_socks.push(Arc::new(sock));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    let mut udp_threads = Vec::new();
    let result = rt.block_on(async {
        let mut tcp_bound = Vec::new();
        let mut tcp_listeners = Vec::new();
        for &addr in &settings.sip.tcp {
            let l = bind_tcp(addr).map_err(|error| StartError::Bind {
                addr,
                proto: "TCP",
                error,
            })?;
            tcp_bound.push(l.local_addr().unwrap_or(addr));
            tcp_listeners.push(l);
        }
        let local = local_addresses(&settings, &udp_bound, &tcp_bound);
        if let (crate::config::Mode::Proxy, Some(u), Some(t)) =
            (settings.sip.mode, local.udp_port, local.tcp_port)
            && u != t
        {
            tracing::warn!("proxy mode writes one sent-by port in its Via, UDP's {u}, also on requests it sends over TCP; TCP listens on {t}, so a next hop that opens a new connection for a response will not reach callscreen: listen on the same port for UDP and TCP");
        }
        shared.links.init(
            udp_socks.clone(),
            tokio::runtime::Handle::current(),
            local,
        );
        for sock in &udp_socks {
            let h = udp::spawn(Arc::clone(sock), threads, Arc::clone(&shared))
                .map_err(StartError::Runtime)?;
            udp_threads.extend(h);
        }
        for l in tcp_listeners {
            tokio::spawn(tcp::serve(l, Arc::clone(&shared)));
        }
        // Probes run whenever proxy mode has two or more next hops (a
        // reload may switch modes or change the hops).
        tokio::spawn(probes(Arc::clone(&shared)));
        let mut api_bound = String::new();
        if let (Some(api), Some(store)) = (settings.api.clone(), store.clone()) {
            let l = tokio::net::TcpListener::bind(api.listen)
                .await
                .map_err(|error| StartError::Bind {
                    addr: api.listen,
                    proto: "API",
                    error,
                })?;
            api_bound = format!(" api={}", l.local_addr().unwrap_or(api.listen));
            let tls = match &api.tls {
                Some((cert, key)) => Some(
                    crate::api::tls::server_config(cert, key, api.client_ca.as_deref())
                        .map_err(StartError::Tls)?,
                ),
                None => None,
            };
            let state = Arc::new(crate::api::ApiState {
                shared: Arc::clone(&shared),
                store,
                settings: api,
                push_lock: tokio::sync::Mutex::new(()),
                metrics: Default::default(),
                file_cache: Default::default(),
            });
            let app = crate::api::router(state);
            match tls {
                None => {
                    tokio::spawn(async move {
                        if let Err(e) = axum::serve(l, app).await {
                            tracing::error!("the control API stopped: {e}");
                        }
                    });
                }
                Some(cfg) => {
                    let l = crate::api::tls::listener(l, cfg).map_err(StartError::Runtime)?;
                    tokio::spawn(async move {
                        if let Err(e) = axum::serve(l, app).await {
                            tracing::error!("the control API stopped: {e}");
                        }
                    });
                }
            }
        }
        let signals = Signals::install().map_err(StartError::Runtime)?;
        shared.ready.store(true, Ordering::SeqCst);
        let lists: Vec<String> = shared
            .runtime
            .load()
            .lists
            .lists()
            .iter()
            .map(|l| format!("{}@{}", l.name, l.version))
            .collect();
        let names = |v: &[SocketAddr]| {
            v.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        let mode = match settings.sip.mode {
            crate::config::Mode::Redirect => "redirect".to_string(),
            crate::config::Mode::Proxy => format!(
                "proxy next_hops={}",
                settings
                    .proxy
                    .next_hops
                    .iter()
                    .map(|h| format!("{}{}", h.addr, if h.tcp { "/tcp" } else { "" }))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        };
        let line = format!(
            "callscreen ready: mode={mode} udp={} tcp={}{api_bound} lists={} config={}",
            names(&udp_bound),
            names(&tcp_bound),
            lists.join(","),
            opts.config.display()
        );
        // On stderr for people and tests (they wait for this line); in the log for the NOC.
        eprintln!("{line}");
        tracing::info!("{line}");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        lifecycle(&opts.config, &shared, &dropped, signals).await;
        Ok(())
    });
    shared.stop.store(true, Ordering::SeqCst);
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    for t in udp_threads {
        let _ = t.join();
    }
    tracing::info!("callscreen stopped");
    result
}

/// The address callscreen writes in its Via: `[proxy] via_host`, else the
/// first address it listens on.
fn local_addresses(
    settings: &crate::config::Settings,
    udp: &[SocketAddr],
    tcp: &[SocketAddr],
) -> links::Local {
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
async fn probes(shared: Arc<Shared>) {
    let mut seq = 0u64;
    let mut out = Vec::new();
    loop {
        let (interval, hops, down_for, proxy) = {
            let rt = shared.runtime.load();
            let p = &rt.settings.proxy;
            let proxy = rt.settings.sip.mode == crate::config::Mode::Proxy;
            (p.probe_interval, p.next_hops.clone(), p.down_for, proxy)
        };
        if !proxy || interval.is_zero() || hops.len() < 2 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            continue;
        }
        if let Some(local) = shared.links.local.get() {
            for (i, hop) in hops.iter().enumerate() {
                seq += 1;
                let own = crate::sip::forward::OwnVia {
                    tcp: hop.tcp,
                    host: &local.host,
                    port: local.sent_by_port(),
                    conn: None,
                };
                crate::sip::forward::write_probe(&mut out, hop.addr, &own, i, seq);
                shared
                    .hops
                    .probe_sent(hop.addr, seq, &shared.metrics, down_for);
                let dest = if hop.tcp {
                    links::Dest::Tcp(hop.addr)
                } else {
                    links::Dest::Udp(hop.addr)
                };
                shared.links.send(&shared, dest, &out);
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

/// Signals and the watchdog, until a stop is asked for.
/// The signals the daemon handles, installed before it says it is ready (a
/// SIGTERM right after "ready" must stop it gracefully, not kill it).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

async fn lifecycle(
    config: &Path,
    shared: &Arc<Shared>,
    dropped: &tracing_appender::non_blocking::ErrorCounter,
    signals: Signals,
) {
    let Signals {
        mut term,
        mut int,
        mut hup,
    } = signals;
    let watchdog = sd_notify::watchdog_enabled();
    let every = watchdog.map_or(std::time::Duration::from_secs(10), |d| {
        (d / 2).min(std::time::Duration::from_secs(10))
    });
    let mut tick = tokio::time::interval(every);
    let (mut last_dropped, mut last_trunk, mut last_unknown) = (0, 0, 0);
    let mut last_send_failures = 0;
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); return; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); return; }
            _ = hup.recv() => {
                // RELOADING=1 must come with MONOTONIC_USEC (systemd 253 and later).
                if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading, now]);
                }
                let path = config.to_path_buf();
                let loaded = tokio::task::spawn_blocking(move || {
                    crate::engine::background_priority();
                    Engine::load(&path)
                })
                .await;
                match loaded {
                    Ok(Ok(engine)) => reload(shared, engine),
                    Ok(Err(e)) => {
                        Metrics::inc(&shared.metrics.reload_failures);
                        tracing::error!("reload refused, the previous configuration and lists stay in force:\n{e}");
                    }
                    Err(e) => tracing::error!("reload failed: {e}"),
                }
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            }
            _ = tick.tick() => {
                if watchdog.is_some() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
                // Problems that would flood the log per call are reported once per interval.
                let d = dropped.dropped_lines();
                shared.metrics.dropped_log_lines.store(d as u64, Ordering::Relaxed);
                if d > last_dropped {
                    tracing::warn!(dropped_lines = d, "log queue full: lines were dropped");
                    last_dropped = d;
                }
                let t = shared.metrics.unknown_trunk.load(Ordering::Relaxed);
                if t > last_trunk {
                    tracing::warn!(refused = t - last_trunk, "INVITEs from an SBC without a known trunk id (and no default_peer) were refused with 403");
                    last_trunk = t;
                }
                for line in shared.hops.report() {
                    tracing::warn!("{line}");
                }
                let f = shared.metrics.send_failures.load(Ordering::Relaxed);
                if f > last_send_failures {
                    tracing::warn!(failed = f - last_send_failures, "messages could not be sent on (no route, queue full or connection refused)");
                    last_send_failures = f;
                }
                let u = shared.metrics.unknown_source.load(Ordering::Relaxed);
                if u > last_unknown {
                    tracing::warn!(refused = u - last_unknown, "requests from unknown sources were refused");
                    last_unknown = u;
                }
            }
        }
    }
}

/// Swaps in a reloaded configuration and lists. A seed list older than the
/// list now in force (a newer version was pushed) does not replace it.
fn reload(shared: &Shared, engine: Engine) {
    let current = shared.runtime.load();
    let mut lists = Vec::new();
    for new in engine.lists.lists() {
        match current.lists.get(&new.name) {
            Some(old) if old.version > new.version => {
                tracing::warn!(list = %new.name, seed = new.version, current = old.version, "seed file is older than the list in force; keeping the newer version");
                lists.push(Arc::clone(old));
            }
            _ => lists.push(Arc::clone(new)),
        }
    }
    if engine.settings.sip.udp != current.settings.sip.udp
        || engine.settings.sip.tcp != current.settings.sip.tcp
    {
        tracing::warn!(
            "listen addresses changed in the config: they take effect at the next restart"
        );
    }
    if engine.settings.proxy.via_host != current.settings.proxy.via_host {
        tracing::warn!(
            "[proxy] via_host changed in the config: it takes effect at the next restart"
        );
    }
    let summary: Vec<String> = lists
        .iter()
        .map(|l| format!("{}@{}", l.name, l.version))
        .collect();
    shared.runtime.store(Arc::new(Runtime {
        settings: engine.settings,
        lists: crate::lists::ListSet::new(lists),
    }));
    Metrics::inc(&shared.metrics.reloads);
    tracing::info!(lists = %summary.join(","), "reloaded configuration and lists");
    // The old snapshot is freed here, on the signal task, not on a call.
    drop(current);
}
