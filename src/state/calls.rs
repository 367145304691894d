//! The live call stream: every screened call, as its NOC line says it, to
//! whoever watches (`GET /v1/calls/stream`, `callscreen tail`). The call
//! path only pays for it while someone watches (one atomic load otherwise),
//! and never waits for a viewer: a bounded broadcast ring, in which a viewer
//! that falls behind loses the oldest calls (counted, and told so).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::number::E164;

/// Calls kept for viewers that fall behind, before they lose some.
pub const RING: usize = 4096;

/// One screened call, with the NOC line's fields (and names).
#[derive(Clone, Debug, Serialize)]
pub struct CallEvent {
    /// Unix milliseconds.
    pub time_ms: u64,
    pub verdict: &'static str,
    pub code: u16,
    /// Comma-separated, `-` for none (as the NOC line).
    pub reasons: String,
    /// As logged (masked when `log.mask_caller` says so).
    pub caller: String,
    pub pai: String,
    pub callee: String,
    pub peer: String,
    pub call_id: String,
    pub lists: String,
    pub latency_us: u64,
    pub direction: &'static str,
    /// STIR/SHAKEN's outcome for a signed call, with `[stir]` (the NOC line's `verstat`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verstat: Option<&'static str>,
    /// A rejected call's reference, with `[redress]` (the NOC line's `ref`).
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The caller's number, for the prefix filter (never sent).
    #[serde(skip)]
    pub caller_number: Option<E164>,
}

pub struct CallStream {
    tx: tokio::sync::broadcast::Sender<Arc<CallEvent>>,
    /// Calls viewers lost by falling behind, all viewers together.
    pub lost: AtomicU64,
    /// Viewers dropped as too slow.
    pub dropped: AtomicU64,
    /// Set when the daemon stops: every viewer is told, then its stream ends.
    closing: tokio::sync::watch::Sender<bool>,
}

impl Default for CallStream {
    fn default() -> Self {
        CallStream {
            tx: tokio::sync::broadcast::Sender::new(RING),
            lost: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            closing: tokio::sync::watch::Sender::new(false),
        }
    }
}

impl CallStream {
    /// Whether anyone watches (then the call path makes the event).
    #[inline]
    pub fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn viewers(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Hands a call to the viewers; never waits.
    pub fn send(&self, e: CallEvent) {
        let _ = self.tx.send(Arc::new(e));
    }

    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<CallEvent>> {
        self.tx.subscribe()
    }

    pub fn note_lost(&self, n: u64) {
        self.lost.fetch_add(n, Ordering::Relaxed);
    }

    /// The daemon stops: viewers are told so and their streams end.
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// Resolves once [`CallStream::close`] was called.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }
}
