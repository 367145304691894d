//! The fleet (README "Fleet"): nodes that share their lists through NATS
//! JetStream. A push accepted by any node is checked as on one node, its
//! body stored as an object and the list's head written with
//! compare-and-set in a key-value bucket; every node watches the heads and
//! applies each new one off the call path (fetch, check sha256 and
//! signature, build, swap, store locally). While NATS is unreachable calls
//! are screened with the lists in force, pushes are refused with `503`
//! (never accepted locally only, which would split the fleet), and the node
//! catches up once NATS is back. Each node publishes a heartbeat with the
//! versions it serves.
//!
//! - `node`: the fleet's state on this node;
//! - `head`: a list's head and how a push is decided against it;
//! - `link`: the connection, the buckets, the server version check;
//! - `publish`: a push, a patch or a rollback made a head;
//! - `apply`: heads watched and applied here;
//! - `view`: the heartbeat, and the fleet as `GET /v1/fleet` shows it;
//! - `hits`: hits per list entry summed over the nodes (asked live).

mod apply;
mod calls;
mod head;
mod hits;
mod link;
mod member;
mod node;
mod publish;
mod seed;
mod view;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;

pub use head::{Head, PatchRef};
pub use hits::FleetHits;
pub use node::{Applied, Body, Fleet};
pub use publish::{Publish, PublishError, Published};
pub use view::{ForgetError, SOFTWARE};

use crate::config::FleetSettings;
use crate::state::Shared;
use crate::store::Store;
use link::Link;

impl Fleet {
    /// Starts the fleet side: connects in the background (with backoff; the
    /// node is ready without NATS), watches the heads, beats.
    pub fn start(settings: FleetSettings, shared: Arc<Shared>, store: Store) -> Arc<Fleet> {
        let fleet = Arc::new(Fleet {
            settings,
            shared,
            store,
            link: ArcSwapOption::empty(),
            heads: Mutex::new(HashMap::new()),
            applied: Mutex::new(HashMap::new()),
            seqs: Mutex::new(HashMap::new()),
            seed_shas: Mutex::new(HashMap::new()),
            members: Mutex::new(Default::default()),
            failed: Mutex::new(Default::default()),
            applied_tx: tokio::sync::watch::channel(0).0,
            pending: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            nats_timed_out: std::sync::atomic::AtomicBool::new(false),
            last_error: Mutex::new(None),
            apply_failures: AtomicU64::new(0),
            applies: AtomicU64::new(0),
            last_sweep: AtomicU64::new(0),
            apply_micros: AtomicU64::new(0),
            apply_lock: tokio::sync::Mutex::new(()),
            reconnected: Arc::new(tokio::sync::Notify::new()),
        });
        tokio::spawn(run(Arc::clone(&fleet)));
        tokio::spawn(view::beat(Arc::clone(&fleet)));
        fleet
    }
}

/// A new connection put in use: hit requests answered and this node's
/// heartbeat written first, so that once the node says it is connected the
/// others count on it and it answers them.
async fn connected(fleet: &Arc<Fleet>, link: &Arc<Link>) {
    // Revisions count within one stream: a new JetStream starts them
    // again, so those seen on the last connection say nothing here (heads
    // are ordered across it by their sequence numbers).
    fleet.forget_revisions();
    let sub = hits::subscribe(fleet, link).await;
    let calls_sub = hits::subscribe_to(link, fleet.calls_subject()).await;
    fleet.beat_on(link).await;
    fleet.link.store(Some(Arc::clone(link)));
    if let Some(sub) = sub {
        tokio::spawn(hits::serve(Arc::clone(fleet), Arc::clone(link), sub));
    }
    if let Some(sub) = calls_sub {
        tokio::spawn(calls::serve(Arc::clone(fleet), Arc::clone(link), sub));
    }
    let (f, l) = (Arc::clone(fleet), Arc::clone(link));
    tokio::spawn(async move { seed::seed_all(&f, &l).await });
}

/// Connects (retrying with backoff up to 30 s; the node serves meanwhile),
/// then watches the heads for as long as the daemon runs.
async fn run(fleet: Arc<Fleet>) {
    let mut backoff = Duration::from_millis(500);
    let link = loop {
        match link::connect(&fleet.settings, Arc::clone(&fleet.reconnected)).await {
            Ok(l) => break Arc::new(l),
            Err(e) => {
                if fleet.last_error().as_deref() != Some(e.as_str()) {
                    tracing::error!("fleet: {e}; serving the lists in force, retrying");
                }
                fleet.set_error(Some(e));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    };
    tracing::info!(
        node = %fleet.settings.node,
        server = %link.client.server_info().version,
        "fleet: connected to NATS"
    );
    fleet.set_error(None);
    connected(&fleet, &link).await;
    let mut link = link;
    let mut timeouts = 0;
    loop {
        // The watch says when NATS timed out, and so does an apply whose
        // object was not fetched in time.
        let timed_out = apply::watch(&fleet, &link).await == apply::WatchEnd::TimedOut
            || fleet
                .nats_timed_out
                .swap(false, std::sync::atomic::Ordering::Relaxed);
        timeouts = if timed_out { timeouts + 1 } else { 0 };
        tokio::time::sleep(Duration::from_secs(if timed_out { 2 } else { 1 })).await;
        // Requests that time out after a server left the cluster: a new
        // connection (the old one's consumers may sit on the lost server).
        if timeouts >= 1
            && let Ok(l) = link::connect(&fleet.settings, Arc::clone(&fleet.reconnected)).await
        {
            tracing::warn!("fleet: NATS requests timed out: connected anew");
            link = Arc::new(l);
            connected(&fleet, &link).await;
            timeouts = 0;
        }
    }
}
