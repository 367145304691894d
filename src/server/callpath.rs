//! What the call path keeps beside the shared state: the retransmission
//! cache, the key of callscreen's own tags, and proxy mode's links and
//! next-hop health. One per daemon, read by every receive thread and task.

use std::sync::Arc;

use super::cache::RetransmitCache;
use super::hops::Hops;
use super::links::Links;
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
}

impl CallPath {
    pub fn new(shared: Arc<Shared>) -> Arc<CallPath> {
        let entries = shared.runtime.load().settings.sip.retransmission_cache;
        Arc::new(CallPath {
            shared,
            cache: RetransmitCache::new(entries),
            tag_key: TagKey::default(),
            links: Links::default(),
            hops: Hops::default(),
        })
    }
}
