//! The state every handler of the control plane reads: the daemon's shared
//! state (lists in force, counters), the list store, the API's settings and
//! its own counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::ApiSettings;
use crate::state::Shared;
use crate::store::{Store, sha256_hex};

/// Counters of the control plane.
#[derive(Default, Debug)]
pub struct ApiMetrics {
    pub pushes_accepted: AtomicU64,
    pub pushes_refused: AtomicU64,
    pub pushes_unchanged: AtomicU64,
}

pub struct ApiState {
    pub shared: Arc<Shared>,
    pub store: Store,
    pub settings: ApiSettings,
    /// One push at a time: versions are checked and swapped in order.
    pub push_lock: tokio::sync::Mutex<()>,
    pub metrics: ApiMetrics,
    /// sha256 and modification time of list files, by path and mtime.
    pub file_cache: std::sync::Mutex<std::collections::HashMap<(std::path::PathBuf, u64), String>>,
    /// The fleet this node belongs to: pushes are published there and
    /// applied by every node.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
    /// The configuration file the daemon runs on (what a reload reads).
    pub config: std::path::PathBuf,
}

impl ApiState {
    /// The owner of list versions, over this node's lists and store.
    pub fn ledger(&self) -> crate::ledger::Ledger {
        crate::ledger::Ledger::new(self.store.clone(), Arc::clone(&self.shared))
    }

    /// The sha256 (hex) and modification time (unix seconds) of a list file.
    pub fn file_facts(&self, f: &std::path::Path) -> (Option<String>, Option<u64>) {
        let mtime = std::fs::metadata(f)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let key = (f.to_path_buf(), mtime.unwrap_or(0));
        let mut cache = self.file_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.get(&key) {
            return (Some(s.clone()), mtime);
        }
        let sha = std::fs::read(f).ok().map(|b| sha256_hex(&b));
        if let Some(s) = &sha {
            cache.insert(key, s.clone());
        }
        (sha, mtime)
    }
}

impl ApiMetrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}
