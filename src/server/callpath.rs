//! What the call path keeps beside the shared state: the retransmission
//! cache, the key of callscreen's own tags, and proxy mode's links and
//! next-hop health. One per daemon, read by every receive thread and task.

use std::sync::Arc;

use super::admit::Unknowns;
use super::cache::RetransmitCache;
use super::hops::Hops;
use super::links::Links;
use crate::keys::TokenKey;
use crate::sip::response::TagKey;
use crate::state::Shared;

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
        }))
    }
}
