//! What the call path keeps beside the shared state: the retransmission
//! cache, the key of callscreen's own tags, and proxy mode's links and
//! next-hop health. One per daemon, read by every receive thread and task.

use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, OnceLock};

use super::cache::RetransmitCache;
use super::hops::Hops;
use super::ingress::Unknowns;
use super::links::Links;
use crate::keys::TokenKey;
use crate::roaming::{Checker, RoamingConfig};
use crate::sip::response::TagKey;
use crate::state::Shared;
use crate::stir::{StirConfig, Verifier};

pub struct CallPath {
    /// The lists and settings in force, readiness, counters.
    pub shared: Arc<Shared>,
    pub cache: RetransmitCache,
    pub tag_key: TagKey,
    /// Proxy mode: sockets and connections, and next-hop health.
    pub links: Links,
    pub hops: Hops,
    /// The warn tokens' key when `[warn] token_key_file` names none: made
    /// at start, so tokens hold across reloads but not restarts.
    pub warn_key: TokenKey,
    /// The 403s unknown sources get, limited per address.
    pub unknowns: Unknowns,
    /// The daemon's runtime, for tasks started from the UDP threads.
    pub runtime: OnceLock<tokio::runtime::Handle>,
    /// STIR/SHAKEN: the verifier (started at the first signed call under
    /// `[stir]`) and the INVITEs parked for it.
    verifier: OnceLock<Option<Arc<Verifier>>>,
    /// INVITEs parked now (bounded by `[stir] queue`).
    pub parked: AtomicUsize,
    /// The roaming check of the `[roaming]` in force (a reload that
    /// changes it starts a new one, with an empty cache).
    roaming: std::sync::Mutex<Option<Arc<Checker>>>,
}

impl CallPath {
    pub fn new(shared: Arc<Shared>) -> std::io::Result<Arc<CallPath>> {
        let entries = shared.runtime.load().settings.sip.retransmission_cache;
        Ok(Arc::new(CallPath {
            shared,
            cache: RetransmitCache::new(entries),
            tag_key: TagKey::default(),
            links: Links::default(),
            hops: Hops::default(),
            warn_key: TokenKey::random()?,
            unknowns: Unknowns::default(),
            runtime: OnceLock::new(),
            verifier: OnceLock::new(),
            parked: AtomicUsize::new(0),
            roaming: std::sync::Mutex::new(None),
        }))
    }

    /// The roaming checker for `cfg` (the `[roaming]` in force).
    pub fn roaming(&self, cfg: &Arc<RoamingConfig>) -> Arc<Checker> {
        let mut c = self.roaming.lock().unwrap_or_else(|p| p.into_inner());
        match &*c {
            Some(k) if Arc::ptr_eq(&k.cfg, cfg) => Arc::clone(k),
            _ => {
                let k = Checker::new(Arc::clone(cfg), Arc::clone(&self.shared.metrics.roaming));
                *c = Some(Arc::clone(&k));
                k
            }
        }
    }

    /// The verifier, its pool started with `cfg`'s size the first time
    /// (a reload that changes `workers` or `queue` takes a restart).
    pub fn verifier(&self, cfg: &StirConfig) -> Option<Arc<Verifier>> {
        self.verifier
            .get_or_init(|| {
                let counts = Arc::clone(&self.shared.metrics.stir);
                match Verifier::start(cfg.workers, cfg.queue, counts) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start the STIR verification threads: signed calls pass unverified");
                        None
                    }
                }
            })
            .clone()
    }
}
