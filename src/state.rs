//! What the call path and the control plane share: the configuration and
//! lists in force (one snapshot, swapped whole on a reload or a push),
//! readiness, and the counters that `/metrics` shows. Below both `server`
//! and `api`, which read it and never each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::config::Settings;
use crate::lists::{List, ListSet};

/// One consistent snapshot: a call uses the one it started with.
pub struct Runtime {
    pub settings: Settings,
    pub lists: ListSet,
}

/// Counters: the daemon's periodic log lines and `/metrics` read them.
#[derive(Default, Debug)]
pub struct Metrics {
    pub calls_allow: AtomicU64,
    pub calls_tag: AtomicU64,
    pub calls_anonymise: AtomicU64,
    pub calls_warn: AtomicU64,
    pub calls_reject: AtomicU64,
    pub calls_emergency: AtomicU64,
    pub retransmissions: AtomicU64,
    pub malformed: AtomicU64,
    pub unknown_source: AtomicU64,
    pub unknown_trunk: AtomicU64,
    pub fail_open: AtomicU64,
    pub options: AtomicU64,
    pub refused_methods: AtomicU64,
    pub tcp_refused: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    /// Stored list files passed over at start because they failed
    /// verification (checksum of the text or of the snapshot).
    pub store_rejected: AtomicU64,
    /// Proxy mode: requests forwarded, responses relayed, ACKs for
    /// callscreen's own answers absorbed, responses that were not ours or
    /// came from elsewhere than a next hop, failed sends, next-hop failures.
    pub forwarded: AtomicU64,
    pub relayed: AtomicU64,
    pub absorbed_acks: AtomicU64,
    pub stray_responses: AtomicU64,
    pub send_failures: AtomicU64,
    pub hop_unreachable: AtomicU64,
    /// NOC lines dropped by the log writer (copied from it periodically).
    pub dropped_log_lines: AtomicU64,
    /// Screened calls by reason kind found (a call counts once per kind).
    pub reasons: [AtomicU64; crate::screen::reason_kind_count()],
    /// Decision latency (receipt to answer): counts per bucket of
    /// [`LATENCY_BUCKETS_US`] and above, and the sum in µs.
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    pub latency_sum_us: AtomicU64,
}

/// Upper bounds (µs) of the decision-latency histogram's buckets.
pub const LATENCY_BUCKETS_US: [u64; 9] = [10, 25, 50, 100, 250, 500, 1000, 5000, 25000];

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn observe_latency(&self, us: u64) {
        let i = LATENCY_BUCKETS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(LATENCY_BUCKETS_US.len());
        Metrics::inc(&self.latency_buckets[i]);
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }
}

/// The state of one running daemon, shared by its SIP side and its API.
pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    /// OPTIONS answers 200 only once this is set (lists loaded, listening).
    pub ready: AtomicBool,
    pub stop: AtomicBool,
    pub metrics: Metrics,
}

impl Shared {
    pub fn new(runtime: Runtime) -> Arc<Shared> {
        Arc::new(Shared {
            runtime: ArcSwap::from_pointee(runtime),
            ready: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            metrics: Metrics::default(),
        })
    }

    /// Swaps one list in with one atomic store (calls in flight keep the
    /// snapshot they started with) and hands back the snapshot it replaced,
    /// for the caller to free off the call path.
    pub fn swap_list(&self, list: Arc<List>) -> Arc<Runtime> {
        let before = self.runtime.load_full();
        self.runtime.store(Arc::new(Runtime {
            settings: before.settings.clone(),
            lists: before.lists.with_list(list),
        }));
        before
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}
