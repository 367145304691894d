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

use crate::config::{Mode, Settings};
use crate::lists::ListSet;
use crate::loader::{FromStore, LoadError, Loaded};
use crate::server::{ListenError, Sip};
use crate::state::{Metrics, Runtime, Shared};

/// Why the daemon could not start.
#[derive(Debug)]
pub enum StartError {
    Load(LoadError),
    Listen(ListenError),
    Api(crate::api::StartError),
    Runtime(std::io::Error),
    State { dir: PathBuf, error: std::io::Error },
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
            let addr = crate::api::serve(api, Arc::clone(&shared), store, fleet)
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
                let path = config.to_path_buf();
                let running = shared.runtime.load().lists.clone();
                let loaded = tokio::task::spawn_blocking(move || {
                    crate::loader::background_priority();
                    Loaded::reload(&path, &running)
                })
                .await;
                match loaded {
                    Ok(Ok(loaded)) => reload(shared, store, loaded).await,
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

/// Swaps in a reloaded configuration and lists. With a state directory,
/// each seed list goes through the ledger as any other version does: a
/// seed older than the list in force is not put in force (a newer version
/// was pushed); one naming the version in force with other content is
/// refused and reported; a seed naming a version that was rolled back stays
/// out (a reload is not a push of it); a newer one is recorded in the
/// list's history and swapped in with the hits of its removed entries
/// forgotten. Without one (no `[api]`), a seed newer than the list in
/// force replaces it.
async fn reload(shared: &Arc<Shared>, store: Option<&crate::store::Store>, loaded: Loaded) {
    let Loaded {
        settings,
        lists: seeds,
        kept,
        seed_sha,
        ..
    } = loaded;
    for (name, seed, kept) in &kept {
        tracing::warn!(list = %name, seed, current = kept, "seed file is older than the list in force; keeping the newer version (the seed was not parsed)");
    }
    let ledger = store.map(|s| crate::ledger::Ledger::new(s.clone(), Arc::clone(shared)));
    // Lists taken from the seeds as they are (without a ledger).
    let mut taken = Vec::new();
    for new in seeds.lists() {
        let name = &new.name;
        let served = shared.runtime.load().lists.get(name).cloned();
        if served.as_ref().is_some_and(|old| Arc::ptr_eq(old, new)) {
            continue;
        }
        if served.as_ref().is_some_and(|old| old.version > new.version) {
            let current = served.as_ref().map_or(0, |o| o.version);
            tracing::warn!(list = %name, seed = new.version, current, "seed file is older than the list in force; keeping the newer version");
            continue;
        }
        let Some(ledger) = &ledger else {
            taken.push(Arc::clone(new));
            continue;
        };
        let history = ledger.history(name);
        let sha = seed_sha.get(name.as_str()).cloned().unwrap_or_default();
        if let Some(old) = served.as_ref().filter(|o| o.version == new.version) {
            // The text in force: its sha256 when stored or recorded, else
            // compared entry by entry.
            let known = ledger.store.sha256_of(name, old.version).or_else(|| {
                history
                    .entries()
                    .iter()
                    .rev()
                    .find(|e| e.version == old.version)
                    .map(|e| e.sha256.clone())
            });
            let same = match known {
                Some(h) => h == sha,
                None => old.diff_counts(new) == (0, 0),
            };
            if !same {
                Metrics::inc(&shared.metrics.reload_failures);
                tracing::error!(list = %name, version = new.version, "seed file names the version in force with other content: the version in force stays; give the seed file a higher version");
            }
            continue;
        }
        if history.is_rolled_back(new.version) {
            tracing::warn!(list = %name, seed = new.version, current = served.as_ref().map_or(0, |o| o.version), "seed file names a version that was rolled back: it stays out (push it, or give the seed a higher version)");
            continue;
        }
        let done = ledger
            .install(crate::ledger::Install {
                list: Arc::clone(new),
                body: crate::ledger::Body::Kept,
                sha256: sha,
                snapshot: None,
                event: crate::store::Event::Reload,
                rollback_of: None,
                head_seq: None,
            })
            .await;
        match done {
            Ok(i) => {
                tracing::info!(list = %name, old_version = i.old_version.unwrap_or(0), new_version = i.list.version, added = i.added, removed = i.removed, "seed file's version put in force")
            }
            Err(e) => {
                Metrics::inc(&shared.metrics.reload_failures);
                tracing::error!(list = %name, seed = new.version, "seed file's version not put in force, the list in force stays: {e}");
            }
        }
    }
    // The configuration is swapped with the lists in force now (a change
    // made meanwhile is kept): one change of versions at a time.
    let _one = shared.versions.lock().await;
    let current = shared.runtime.load_full();
    let mut lists = Vec::new();
    for spec in &settings.lists {
        let l = taken
            .iter()
            .find(|l| l.name == spec.name)
            .filter(|l| {
                current
                    .lists
                    .get(&spec.name)
                    .is_none_or(|o| o.version <= l.version)
            })
            .or_else(|| current.lists.get(&spec.name));
        if let Some(l) = l {
            lists.push(Arc::clone(l));
        }
    }
    if settings.sip.udp != current.settings.sip.udp || settings.sip.tcp != current.settings.sip.tcp
    {
        tracing::warn!(
            "listen addresses changed in the config: they take effect at the next restart"
        );
    }
    let addresses = |s: &Settings| {
        let sbcs = s.sbcs.iter().flat_map(|b| b.nets.clone());
        sbcs.chain(s.peers.iter().flat_map(|p| p.nets.clone()))
            .collect::<Vec<_>>()
    };
    if addresses(&settings) != addresses(&current.settings) && settings.sip.udp_queue_per_peer {
        tracing::warn!(
            "SBC or peer addresses changed: they are in force now, and their own UDP queues ([sip] udp_queue_per_peer) follow at the next restart (until then a new address shares the listener's queue)"
        );
    }
    if settings.proxy.via_host != current.settings.proxy.via_host {
        tracing::warn!(
            "[proxy] via_host changed in the config: it takes effect at the next restart"
        );
    }
    let summary: Vec<String> = lists
        .iter()
        .map(|l| format!("{}@{}", l.name, l.version))
        .collect();
    shared.replace(Runtime {
        settings,
        lists: ListSet::new(lists),
    });
    Metrics::inc(&shared.metrics.reloads);
    tracing::info!(lists = %summary.join(","), "reloaded configuration and lists");
    // The old snapshot is freed here, on the signal task, not on a call.
    drop(current);
}
