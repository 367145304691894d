//! What the call path and the control plane share: the configuration and
//! lists in force (one `Runtime`, swapped whole on a reload or a push),
//! readiness, and the counters that `/metrics` shows. Below both `server`
//! and `api`, which read it and never each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use arc_swap::ArcSwap;

pub mod bursts;
pub mod calls;
pub mod hits;

pub use bursts::Bursts;
pub use calls::{CallEvent, CallStream};
pub use hits::Hits;

use crate::config::Settings;
use crate::lists::{List, ListSet};

/// The settings and lists in force, consistent: a call uses the one it started with.
pub struct Runtime {
    pub settings: Settings,
    pub lists: ListSet,
}

/// Counters by index, of any length (`Default` for arrays ends at 32).
#[derive(Debug)]
pub struct Counters<const N: usize>(pub [AtomicU64; N]);

impl<const N: usize> Default for Counters<N> {
    fn default() -> Counters<N> {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> std::ops::Deref for Counters<N> {
    type Target = [AtomicU64; N];
    fn deref(&self) -> &[AtomicU64; N] {
        &self.0
    }
}

/// Counters: the daemon's periodic log lines and `/metrics` read them.
#[derive(Default, Debug)]
pub struct Metrics {
    pub calls_allow: AtomicU64,
    pub calls_tag: AtomicU64,
    pub calls_anonymise: AtomicU64,
    pub calls_warn: AtomicU64,
    pub calls_reject: AtomicU64,
    pub retransmissions: AtomicU64,
    /// INVITEs with another transaction's Call-ID, From-tag and CSeq but
    /// not its branch, sent-by or source (RFC 3261 §8.2.2.2, §17.2.3):
    /// answered 482 in redirect mode, screened on their own in proxy mode.
    pub merged: AtomicU64,
    /// UDP receive errors that an ICMP error from a peer caused (its port
    /// closed: `ECONNREFUSED`; unreachable): counted, never slept on.
    pub udp_icmp_errors: AtomicU64,
    /// Connections to the API (or the redress card) over its limits,
    /// closed at accept.
    pub api_connections_refused: AtomicU64,
    pub malformed: AtomicU64,
    pub unknown_source: AtomicU64,
    pub unknown_trunk: AtomicU64,
    pub fail_open: AtomicU64,
    /// INVITEs let through unscreened (or answered as configured) because
    /// their peer was over its rate limit (per peer: [`PeerLoads`]).
    pub shed_limit: AtomicU64,
    /// Requests that waited in the UDP queue longer than `[sip]
    /// shed_queue_age_ms`: INVITEs let through unscreened, OPTIONS 503.
    pub shed_queue_age: AtomicU64,
    /// Datagrams the kernel dropped because a UDP queue was full (every
    /// queue; the server logs them per queue).
    pub udp_queue_drops: AtomicU64,
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
    pub reasons: Counters<{ crate::screen::reason_kind_count() }>,
    /// Decision latency (receipt to answer): counts per bucket of
    /// [`LATENCY_BUCKETS_US`] and above, and the sum in µs.
    pub latency_buckets: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    pub latency_sum_us: AtomicU64,
    /// STIR/SHAKEN verification (`[stir]`): fetches, cache hits, calls
    /// over budget or passed busy, and calls by `verstat`.
    pub stir: std::sync::Arc<crate::stir::StirCounts>,
    /// The roaming check (`[roaming]`): requests, cache hits, failures,
    /// calls over budget, over the limit or in the backoff, answers by kind.
    pub roaming: std::sync::Arc<crate::roaming::RoamingCounts>,
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

/// A token bucket as a GCRA (generic cell rate algorithm): the
/// theoretical arrival time of the next event, in ns since an epoch the
/// owner keeps. One atomic, no lock.
#[derive(Default)]
pub struct Gcra(AtomicU64);

impl Gcra {
    /// Takes one token: false when the bucket (`per_sec` refill, `burst`
    /// size) is empty. `per_sec` 0: no limit.
    pub fn admit(&self, now_ns: u64, per_sec: u32, burst: u32) -> bool {
        if per_sec == 0 {
            return true;
        }
        let interval = 1_000_000_000 / u64::from(per_sec);
        let tolerance = interval * u64::from(burst.max(1) - 1);
        let mut cur = self.0.load(Ordering::Relaxed);
        loop {
            let tat = cur.max(now_ns);
            if tat - now_ns > tolerance {
                return false;
            }
            match self.0.compare_exchange_weak(
                cur,
                tat + interval,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(x) => cur = x,
            }
        }
    }
}

/// One peer's call rate against its limit, and what was shed.
pub struct PeerLoad {
    pub name: String,
    bucket: Gcra,
    /// INVITEs over the limit (answered as `over_limit` says).
    pub shed: AtomicU64,
    /// Screened calls from this peer by verdict, in [`VERDICTS`]' order.
    pub calls: [AtomicU64; VERDICTS.len()],
}

/// The verdicts, as the NOC line, the call stream, the hits and `/metrics`
/// name them. An emergency call is `allow` with the reason `emergency`
/// (`callscreen_reasons_total{reason="emergency"}` counts them).
pub use hits::VERDICTS;

/// Every peer's [`PeerLoad`], by the peer index of the settings in force
/// (rebuilt on a reload, carried over by name).
pub struct PeerLoads {
    epoch: Instant,
    pub peers: Vec<PeerLoad>,
}

impl PeerLoads {
    fn new(settings: &Settings, before: Option<&PeerLoads>) -> PeerLoads {
        let epoch = before.map_or_else(Instant::now, |b| b.epoch);
        let peers = settings
            .policy
            .peers
            .iter()
            .map(|p| {
                let old = before.and_then(|b| b.peers.iter().find(|o| o.name == p.name));
                let get = |c: Option<&AtomicU64>| c.map_or(0, |c| c.load(Ordering::Relaxed));
                PeerLoad {
                    name: p.name.clone(),
                    bucket: Gcra(AtomicU64::new(get(old.map(|o| &o.bucket.0)))),
                    shed: AtomicU64::new(get(old.map(|o| &o.shed))),
                    calls: std::array::from_fn(|i| AtomicU64::new(get(old.map(|o| &o.calls[i])))),
                }
            })
            .collect();
        PeerLoads { epoch, peers }
    }

    /// Counts a screened call of `peer`'s (index into [`VERDICTS`]).
    pub fn count(&self, peer: usize, verdict: usize) {
        if let Some(c) = self.peers.get(peer).and_then(|p| p.calls.get(verdict)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Takes one call from `peer`'s bucket: false when it is over `per_sec`
    /// (refilled continuously, `burst` at most). `per_sec` 0: no limit.
    pub fn admit(&self, peer: usize, per_sec: u32, burst: u32, now: Instant) -> bool {
        let Some(p) = self.peers.get(peer) else {
            return true;
        };
        let now_ns = now.saturating_duration_since(self.epoch).as_nanos() as u64;
        p.bucket.admit(now_ns, per_sec, burst)
    }
}

/// The state of one running daemon, shared by its SIP side and its API.
pub struct Shared {
    pub runtime: ArcSwap<Runtime>,
    /// Each peer's rate against its limit.
    pub loads: ArcSwap<PeerLoads>,
    /// Calls by caller number and block in the burst window (made anew when
    /// a reload changes `[bursts]`'s window, blocks or table).
    pub bursts: ArcSwap<Bursts>,
    /// Every screened call, to whoever watches.
    pub calls: CallStream,
    /// Calls by list entry (a fixed table, sized at start).
    pub hits: Arc<Hits>,
    /// OPTIONS answers 200 only once this is set (lists loaded, listening).
    pub ready: AtomicBool,
    pub stop: AtomicBool,
    pub metrics: Metrics,
    /// One change of a list's version at a time on this node (held by
    /// `ledger::Ledger` while it checks and installs, and by a reload
    /// while it swaps the configuration).
    pub versions: tokio::sync::Mutex<()>,
    /// One reload at a time (SIGHUP and `POST /v1/reload`).
    pub reloading: tokio::sync::Mutex<()>,
    /// When the daemon started (its uptime).
    pub started: std::time::Instant,
    /// Call records (`[records]`), once the daemon opened them.
    pub records: std::sync::OnceLock<Arc<crate::records::Recorder>>,
}

impl Shared {
    pub fn new(runtime: Runtime) -> Arc<Shared> {
        Arc::new(Shared {
            loads: ArcSwap::from_pointee(PeerLoads::new(&runtime.settings, None)),
            bursts: ArcSwap::from_pointee(Bursts::new(runtime.settings.burst)),
            calls: CallStream::default(),
            hits: Arc::new(Hits::new(runtime.settings.hits_slots)),
            runtime: ArcSwap::from_pointee(runtime),
            ready: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            metrics: Metrics::default(),
            versions: tokio::sync::Mutex::new(()),
            reloading: tokio::sync::Mutex::new(()),
            started: std::time::Instant::now(),
            records: std::sync::OnceLock::new(),
        })
    }

    /// Swaps one list in with one atomic store (calls in flight keep the
    /// runtime they started with) and hands back the runtime it replaced,
    /// for the caller to free off the call path.
    pub fn swap_list(&self, list: Arc<List>) -> Arc<Runtime> {
        let before = self.runtime.load_full();
        self.runtime.store(Arc::new(Runtime {
            settings: before.settings.clone(),
            lists: before.lists.with_list(list),
        }));
        before
    }

    /// Swaps a list in (as [`Shared::swap_list`]) and frees the runtime it
    /// replaced two seconds later, on the runtime's side, once calls that may
    /// still hold it are long done; never on a call's thread. Inside tokio.
    pub fn install(&self, list: Arc<List>) {
        let before = self.swap_list(Arc::clone(&list));
        let removed = before
            .lists
            .get(&list.name)
            .map(|old| old.changes(&list).1)
            .unwrap_or_default();
        self.retire(before, &list.name, removed);
    }

    /// After a swap: the entries that left the list lose their hit counts,
    /// now, so that a version right after cannot race with it; the replaced
    /// runtime is freed later. A caller of [`Shared::swap_list`] that
    /// computes the entries after the swap (with the counts of its audit
    /// line, off the runtime's threads: one merge of ten million numbers,
    /// not two) hands them here.
    pub fn retire(&self, before: Arc<Runtime>, name: &str, removed: Vec<crate::lists::Target>) {
        for t in removed {
            self.hits.forget(name, &t);
        }
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            drop(before);
        });
    }

    /// Puts a new configuration and its lists in force (a reload); the
    /// peers' rates and shed counts carry over by name.
    pub fn replace(&self, runtime: Runtime) {
        let loads = PeerLoads::new(&runtime.settings, Some(&self.loads.load()));
        self.loads.store(Arc::new(loads));
        if self.bursts.load().settings() != runtime.settings.burst {
            self.bursts
                .store(Arc::new(Bursts::new(runtime.settings.burst)));
        }
        self.runtime.store(Arc::new(runtime));
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loads() -> PeerLoads {
        let settings = crate::config::from_str(
            "[home]\ncountry_code = \"31\"\n[[peers]]\nname = \"a\"\naddresses = [\"192.0.2.1/32\"]\nscope = \"domestic\"\n",
            std::path::Path::new("t.toml"),
        )
        .expect("config");
        PeerLoads::new(&settings, None)
    }

    #[test]
    fn a_bucket_admits_its_burst_then_its_rate() {
        let l = loads();
        let t0 = l.epoch + std::time::Duration::from_secs(10);
        // Burst 5 at 100/s: five at once, the sixth refused.
        for i in 0..5 {
            assert!(l.admit(0, 100, 5, t0), "call {i} of the burst");
        }
        assert!(!l.admit(0, 100, 5, t0));
        // 10 ms later one more token (1/100 s), and only one.
        let t1 = t0 + std::time::Duration::from_millis(10);
        assert!(l.admit(0, 100, 5, t1));
        assert!(!l.admit(0, 100, 5, t1));
        // Idle for a second: the whole burst again, not more.
        let t2 = t1 + std::time::Duration::from_secs(1);
        assert_eq!((0..10).filter(|_| l.admit(0, 100, 5, t2)).count(), 5);
        // No limit, and an index from another configuration: always admitted.
        assert!((0..1000).all(|_| l.admit(0, 0, 1, t2)));
        assert!(l.admit(7, 1, 1, t2));
    }

    #[test]
    fn a_reload_carries_rates_and_counts_by_name() {
        let l = loads();
        let t = l.epoch + std::time::Duration::from_secs(1);
        assert!(l.admit(0, 1, 1, t));
        l.peers[0].shed.store(3, Ordering::Relaxed);
        let settings = crate::config::from_str(
            "[home]\ncountry_code = \"31\"\n[[peers]]\nname = \"b\"\naddresses = [\"192.0.2.2/32\"]\nscope = \"domestic\"\n[[peers]]\nname = \"a\"\naddresses = [\"192.0.2.1/32\"]\nscope = \"domestic\"\n",
            std::path::Path::new("t.toml"),
        )
        .expect("config");
        let r = PeerLoads::new(&settings, Some(&l));
        assert_eq!(r.peers[1].name, "a");
        assert_eq!(r.peers[1].shed.load(Ordering::Relaxed), 3);
        assert!(!r.admit(1, 1, 1, t), "a's bucket is still empty");
        assert!(r.admit(0, 1, 1, t), "b starts full");
    }
}
