//! `callscreen run`: the daemon's life. It loads the configuration and lists,
//! builds the shared state, starts the SIP side (`server`) and the control
//! API (`api`) side by side over it, says it is ready (stderr, the log,
//! systemd), then handles signals and the watchdog: SIGHUP reloads the
//! configuration and seed lists whole, SIGTERM and SIGINT stop it
//! gracefully.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::config::Mode;
use crate::loader::{FromStore, LoadError, Loaded};
use crate::server::{ListenError, Sip};
use crate::state::{Runtime, Shared};

/// Why the daemon could not start.
#[derive(Debug)]
pub enum StartError {
    Load(LoadError),
    Listen(ListenError),
    Api(crate::api::StartError),
    Runtime(std::io::Error),
    State { dir: PathBuf, error: std::io::Error },
    Records { dir: PathBuf, error: std::io::Error },
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Load(e) => write!(f, "{e}"),
            StartError::Listen(e) => write!(f, "{e}"),
            StartError::Api(e) => write!(f, "{e}"),
            StartError::Runtime(e) => write!(f, "cannot start the async runtime: {e}"),
            StartError::State { dir, error } => write!(
                f,
                "cannot use the state directory {}: {error}; check [api] state_dir (or systemd's StateDirectory)",
                dir.display()
            ),
            StartError::Records { dir, error } => write!(
                f,
                "cannot use the call records directory {}: {error}; check [records] dir (or [api] state_dir, which holds it by default)",
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
    let settings =
        crate::config::load(&opts.config).map_err(|e| StartError::Load(LoadError::Config(e)))?;
    let json = opts.json.unwrap_or(settings.log.json);
    let (_guard, dropped) = crate::server::init_logging(&settings.log, json);
    // Pushed lists newer than the seed files win (and spare their parsing).
    let store =
        match &settings.api {
            Some(api) => Some(crate::store::Store::open(&api.state_dir).map_err(|error| {
                StartError::State {
                    dir: api.state_dir.clone(),
                    error,
                }
            })?),
            None => None,
        };
    if let Some(s) = &store {
        match s.clean_temp() {
            Ok(0) => {}
            Ok(n) => {
                tracing::warn!(removed = n, dir = %s.dir().display(), "temporary files of interrupted writes removed from the state directory")
            }
            Err(e) => {
                tracing::warn!(dir = %s.dir().display(), "cannot clean the state directory: {e}")
            }
        }
    }
    let started = Loaded::start(settings, store.as_ref()).map_err(StartError::Load)?;
    for s in &started.loaded.skipped {
        tracing::warn!("optional list not loaded: {s}");
    }
    let (settings, lists) = (started.loaded.settings, started.loaded.lists);
    let FromStore {
        rejected,
        without_snapshot,
        text_to_check,
    } = started.from_store;
    let shared = Shared::new(Runtime {
        settings: settings.clone(),
        lists,
    });
    shared
        .metrics
        .store_rejected
        .store(rejected, Ordering::Relaxed);
    if let (Some(s), false) = (&store, text_to_check.is_empty()) {
        check_texts(s.clone(), Arc::clone(&shared), text_to_check);
    }
    if let (Some(s), false) = (&store, without_snapshot.is_empty()) {
        rebuild_snapshots(s.clone(), without_snapshot);
    }

    if let Some(r) = &settings.records {
        // Sealing in a process of its own: this executable, even once a
        // package upgrade replaced its file.
        let sealing = crate::records::Sealing::Child(PathBuf::from("/proc/self/exe"));
        let rec =
            crate::records::Recorder::start(r, sealing).map_err(|error| StartError::Records {
                dir: r.dir.clone(),
                error,
            })?;
        let _ = shared.records.set(Arc::new(rec));
    }
    if let Some(f) = hits_file(&shared) {
        match shared.hits.load(&f) {
            Ok(n) => {
                tracing::info!(entries = n, file = %f.display(), "hits per list entry read back")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(file = %f.display(), "hits per list entry not read back (counted anew): {e}")
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(StartError::Runtime)?;
    let mut sip: Option<Sip> = None;
    let result = rt.block_on(async {
        let started = sip.insert(crate::server::start(&shared).map_err(StartError::Listen)?);
        let mut api_bound = String::new();
        if let (Some(api), Some(store)) = (settings.api.clone(), store.clone()) {
            // The fleet connects in the background: ready without NATS.
            let fleet = settings.fleet.clone().map(|f| {
                api_bound.push_str(&format!(" fleet={}", f.node));
                crate::fleet::Fleet::start(f, Arc::clone(&shared), store.clone())
            });
            let addr = crate::api::serve(api, Arc::clone(&shared), store, fleet, &opts.config)
                .await
                .map_err(StartError::Api)?;
            api_bound = format!(" api={addr}{api_bound}");
        }
        if let Some(r) = &settings.redress
            && let Some(addr) = crate::api::redress::serve(r)
                .await
                .map_err(StartError::Api)?
        {
            api_bound.push_str(&format!(" redress={addr}"));
        }
        let signals = Signals::install().map_err(StartError::Runtime)?;
        shared.ready.store(true, Ordering::SeqCst);
        let line = ready_line(&shared, started, &api_bound, &opts.config);
        // In the log for the NOC; on stderr too for people and tests (they
        // wait for this line), unless stderr is the journal as the log is
        // (systemd sets JOURNAL_STREAM): journald would show it twice.
        if std::env::var_os("JOURNAL_STREAM").is_none() {
            eprintln!("{line}");
        }
        tracing::info!("{line}");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        lifecycle(
            &opts.config,
            &shared,
            store.as_ref(),
            started,
            &dropped,
            signals,
        )
        .await;
        Ok(())
    });
    shared.stop.store(true, Ordering::SeqCst);
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    save_hits(&shared);
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    if let Some(sip) = sip {
        sip.join();
    }
    // After the call path stopped: every call it screened is written.
    if let Some(r) = shared.records.get() {
        r.stop();
    }
    tracing::info!("callscreen stopped");
    result
}

/// Checks, after the start and at low priority, the stored texts of the
/// versions that a start put in force from their snapshots: a text cut
/// short or damaged (or without its checksum) is reported and counted
/// (`callscreen_store_rejected_total`). The version keeps serving from its
/// verified snapshot; its text is not served to the fleet (whose nodes
/// check it against the head's sha256); pushing the version again stores a
/// whole one.
fn check_texts(store: crate::store::Store, shared: Arc<Shared>, versions: Vec<(String, u64)>) {
    let spawned = std::thread::Builder::new()
        .name("texts".into())
        .spawn(move || {
            crate::loader::background_priority();
            for (name, v) in versions {
                let checked = store.read(&name, v).map(|b| store.verify(&name, v, &b));
                let bad = match checked {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        // Stored before its text (a patch's delta, a fleet
                        // node's snapshot) and stopped before the text came.
                        let rt = shared.runtime.load_full();
                        let spec = rt.settings.lists.iter().find(|s| s.name == name);
                        match spec.map(|s| crate::loader::rebuild_text(s, v, &store, rt.settings.guard)) {
                            Some(Ok(true)) => {
                                tracing::info!(list = %name, version = v, "the version's text, missing, was made again from its base and delta");
                                None
                            }
                            Some(Ok(false)) => {
                                tracing::info!(list = %name, version = v, "the version's text is not stored yet: it serves from its verified snapshot, and a fleet node fetches the text from the fleet");
                                None
                            }
                            Some(Err(e)) => Some(format!("is missing and cannot be made again ({e})")),
                            None => None,
                        }
                    }
                    Ok(Some(true)) => None,
                    Ok(Some(false)) => Some("does not match its checksum: cut short or damaged".to_string()),
                    Ok(None) => Some("has no checksum beside it (.sha256)".to_string()),
                    Err(e) => Some(format!("cannot be read: {e}")),
                };
                if let Some(why) = bad {
                    shared.metrics.store_rejected.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(list = %name, version = v, "stored text {why}; the version serves from its verified snapshot; push it again to store a whole text");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("stored texts not checked: {e}");
    }
}

/// Writes the snapshots a start had to do without (a version stored by a
/// process killed before its snapshot, or a damaged snapshot), on a
/// background thread at low priority, so that the next start is fast again.
fn rebuild_snapshots(store: crate::store::Store, lists: Vec<Arc<crate::lists::List>>) {
    let spawned = std::thread::Builder::new()
        .name("snapshots".into())
        .spawn(move || {
            crate::loader::background_priority();
            // Each was loaded from its text: its snapshot is missing or damaged.
            for l in lists {
                match crate::lists::snapshot::encode(&l).map(|b| store.write_snapshot(&l.name, l.version, &b)) {
                    Some(Ok(())) => tracing::info!(list = %l.name, version = l.version, "snapshot rebuilt"),
                    Some(Err(e)) => tracing::warn!(list = %l.name, version = l.version, "snapshot not rebuilt: {e}"),
                    None => {}
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("snapshots not rebuilt: {e}");
    }
}

/// `callscreen ready: mode=… udp=… tcp=… api=… lists=… config=…`
fn ready_line(shared: &Shared, sip: &Sip, api_bound: &str, config: &Path) -> String {
    let rt = shared.runtime.load();
    let lists: Vec<String> = rt
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
    let settings = &rt.settings;
    let mode = match settings.sip.mode {
        Mode::Redirect => "redirect".to_string(),
        Mode::Proxy => format!(
            "proxy next_hops={}",
            settings
                .proxy
                .next_hops
                .iter()
                .map(|h| {
                    let t = match (h.tls, h.tcp) {
                        (true, _) => "/tls",
                        (false, true) => "/tcp",
                        _ => "",
                    };
                    format!("{}{t}", h.addr)
                })
                .collect::<Vec<_>>()
                .join(",")
        ),
    };
    let tls = if sip.tls.is_empty() {
        String::new()
    } else {
        format!(" tls={}", names(&sip.tls))
    };
    format!(
        "callscreen ready: mode={mode} udp={} tcp={}{tls}{api_bound} lists={} config={}",
        names(&sip.udp),
        names(&sip.tcp),
        lists.join(","),
        config.display()
    )
}

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

/// Where the hits per list entry are kept: the state directory, when there
/// is one (`[api] state_dir`).
fn hits_file(shared: &Shared) -> Option<std::path::PathBuf> {
    let rt = shared.runtime.load();
    rt.settings
        .api
        .as_ref()
        .map(|a| a.state_dir.join("hits.bin"))
}

fn save_hits(shared: &Shared) {
    if let Some(f) = hits_file(shared)
        && let Err(e) = shared.hits.save(&f)
    {
        tracing::warn!(file = %f.display(), "hits per list entry not saved: {e}");
    }
}

/// Signals and the watchdog, until a stop is asked for.
async fn lifecycle(
    config: &Path,
    shared: &Arc<Shared>,
    store: Option<&crate::store::Store>,
    sip: &mut Sip,
    dropped: &crate::server::Dropped,
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
    let mut last_dropped = 0;
    // The hits are saved every minute (a restart loses at most that).
    let mut hits_saved = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: stopping"); break; }
            _ = hup.recv() => {
                // RELOADING=1 must come with MONOTONIC_USEC (systemd 253 and later).
                if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading, now]);
                }
                // Its outcome is logged there (what changed, or every error).
                let _ = crate::reload::reload(config, shared, store).await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
            }
            _ = tick.tick() => {
                if watchdog.is_some() {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
                // Problems that would flood the log per call are reported once per interval.
                let d = dropped.dropped_lines();
                shared.metrics.dropped_log_lines.store(d, Ordering::Relaxed);
                if d > last_dropped {
                    tracing::warn!(dropped_lines = d, "log queue full: lines were dropped");
                    last_dropped = d;
                }
                sip.report();
                if hits_saved.elapsed() >= std::time::Duration::from_secs(60) {
                    hits_saved = std::time::Instant::now();
                    let shared = Arc::clone(shared);
                    let _ = tokio::task::spawn_blocking(move || save_hits(&shared)).await;
                }
            }
        }
    }
    // Viewers of the call stream are told the daemon stops (their stream
    // ends with that line, not a cut connection); a moment for it to leave.
    shared.calls.close();
    if shared.calls.viewers() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
