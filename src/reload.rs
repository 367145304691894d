//! A reload of the configuration and its seed lists: on SIGHUP (`daemon`)
//! and on `POST /v1/reload` (`api`, which can answer with what changed or
//! with every error, as a signal cannot). The whole is loaded and checked
//! first: any error, and nothing changes. Seed lists go through the ledger
//! (see [`apply`]); the configuration is swapped with the lists in force.
//! One reload at a time.

use std::path::Path;
use std::sync::Arc;

use crate::config::Settings;
use crate::lists::ListSet;
use crate::loader::{LoadError, Loaded};
use crate::state::{Metrics, Runtime, Shared};
use crate::store::Store;

/// A list whose version the reload changed.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Changed {
    pub list: String,
    pub from: Option<u64>,
    pub to: u64,
}

/// What a reload did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    /// Lists whose version changed.
    pub lists: Vec<Changed>,
    /// Seed versions refused (the version in force stays).
    pub refused: Vec<String>,
    /// What was kept, and what takes effect only at a restart.
    pub notes: Vec<String>,
    /// Every list in force after it, `name@version`.
    pub in_force: Vec<String>,
}

/// Why a reload changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum Failed {
    /// The configuration or a list does not load: every error.
    #[error("{0}")]
    Load(LoadError),
    #[error("the reload did not finish: {0}")]
    Task(String),
}

/// Reloads `config` (see the module's comment); the outcome is logged and
/// counted as well as returned.
pub async fn reload(
    config: &Path,
    shared: &Arc<Shared>,
    store: Option<&Store>,
) -> Result<Report, Failed> {
    let _one = shared.reloading.lock().await;
    let path = config.to_path_buf();
    let running = shared.runtime.load().lists.clone();
    let loaded = crate::loader::background(move || Loaded::reload(&path, &running)).await;
    match loaded {
        Ok(Ok(loaded)) => Ok(apply(shared, store, loaded).await),
        Ok(Err(e)) => {
            Metrics::inc(&shared.metrics.reload_failures);
            tracing::error!(
                "reload refused, the previous configuration and lists stay in force:\n{e}"
            );
            Err(Failed::Load(e))
        }
        Err(e) => {
            tracing::error!("reload failed: {e}");
            Err(Failed::Task(e.to_string()))
        }
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
async fn apply(shared: &Arc<Shared>, store: Option<&Store>, loaded: Loaded) -> Report {
    let mut report = Report::default();
    let Loaded {
        settings,
        lists: seeds,
        kept,
        seed_sha,
        ..
    } = loaded;
    for (name, seed, kept) in &kept {
        tracing::warn!(list = %name, seed, current = kept, "seed file is older than the list in force; keeping the newer version (the seed was not parsed)");
        report.notes.push(format!(
            "{name}: the seed file's version {seed} is older than version {kept} in force: kept"
        ));
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
            report.notes.push(format!(
                "{name}: the seed file's version {} is older than version {current} in force: kept",
                new.version
            ));
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
                report.refused.push(format!("{name}: the seed file names version {}, in force with other content: the version in force stays; give the seed file a higher version", new.version));
            }
            continue;
        }
        if history.is_rolled_back(new.version) {
            tracing::warn!(list = %name, seed = new.version, current = served.as_ref().map_or(0, |o| o.version), "seed file names a version that was rolled back: it stays out (push it, or give the seed a higher version)");
            report.notes.push(format!(
                "{name}: the seed file names version {}, which was rolled back: it stays out",
                new.version
            ));
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
                tracing::info!(list = %name, old_version = i.old_version.unwrap_or(0), new_version = i.list.version, added = i.added, removed = i.removed, "seed file's version put in force");
                report.lists.push(Changed {
                    list: name.clone(),
                    from: i.old_version,
                    to: i.list.version,
                });
            }
            Err(e) => {
                Metrics::inc(&shared.metrics.reload_failures);
                tracing::error!(list = %name, seed = new.version, "seed file's version not put in force, the list in force stays: {e}");
                report.refused.push(format!(
                    "{name}: the seed file's version {} was not put in force: {e}",
                    new.version
                ));
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
            let before = current.lists.get(&spec.name).map(|o| o.version);
            if taken.iter().any(|t| Arc::ptr_eq(t, l)) && before != Some(l.version) {
                report.lists.push(Changed {
                    list: spec.name.clone(),
                    from: before,
                    to: l.version,
                });
            }
            lists.push(Arc::clone(l));
        }
    }
    // Settings read only at start: said in the log and in the answer.
    let mut later = |note: &str| {
        tracing::warn!("{note}");
        report.notes.push(note.to_string());
    };
    if settings.sip.udp != current.settings.sip.udp || settings.sip.tcp != current.settings.sip.tcp
    {
        later("listen addresses changed in the config: they take effect at the next restart");
    }
    let addresses = |s: &Settings| {
        let sbcs = s.sbcs.iter().flat_map(|b| b.nets.clone());
        sbcs.chain(s.peers.iter().flat_map(|p| p.nets.clone()))
            .collect::<Vec<_>>()
    };
    if addresses(&settings) != addresses(&current.settings) && settings.sip.udp_queue_per_peer {
        later(
            "SBC or peer addresses changed: they are in force now, and their own UDP queues ([sip] udp_queue_per_peer) follow at the next restart (until then a new address shares the listener's queue)",
        );
    }
    if settings.proxy.via_host != current.settings.proxy.via_host {
        later("[proxy] via_host changed in the config: it takes effect at the next restart");
    }
    if settings.records != current.settings.records {
        later(
            "[records] changed in the config: call records go on as they were started until the next restart",
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
    report.in_force = summary;
    // The old snapshot is freed here, on the reloading task, not on a call.
    drop(current);
    report
}
