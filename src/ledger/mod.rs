//! One owner for list versions. Every way a version of a list comes to be
//! in force — a push or a patch to the API, a rollback, a head of the
//! fleet — is decided by the same rules ([`rules`]: versions never go down,
//! a rolled-back number never returns with other content, the shrink
//! guard, a patch on the version served) and put in force in the same
//! order ([`install`]): verified by the caller (parsed, the body's sha256,
//! the ACM's signature, the fleet's seal), then stored durably, then
//! recorded in the list's history, then swapped in (the hits of removed
//! entries forgotten), then its snapshot written. A rollback goes to the
//! version in force before this one, per the history on disk
//! (`store::History`), and marks the version it leaves as rolled back.
//!
//! Below `api` and `fleet`, which use it; it knows neither HTTP nor NATS.

pub mod install;
pub mod rules;

use std::sync::Arc;

use crate::state::Shared;
use crate::store::Store;

pub use install::{Body, Install, Installed, Restored, Text};
pub use rules::{Accepted, Refusal, Served, check_base, check_shrink, decide};

/// The lists in force (`shared`) and the state directory they are kept in.
#[derive(Clone)]
pub struct Ledger {
    pub store: Store,
    pub shared: Arc<Shared>,
}

impl Ledger {
    pub fn new(store: Store, shared: Arc<Shared>) -> Ledger {
        Ledger { store, shared }
    }

    /// The list's history here (empty, and reported, when its file cannot
    /// be read: the rules then know only what is served).
    pub fn history(&self, name: &str) -> crate::store::History {
        match self.store.history(name) {
            Ok(h) => {
                if h.damaged() > 0 {
                    tracing::warn!(list = %name, lines = h.damaged(), "list history: lines that do not read were passed over");
                }
                h
            }
            Err(e) => {
                tracing::error!(list = %name, "list history cannot be read: {e}");
                crate::store::History::default()
            }
        }
    }

    /// Decides a proposed whole version against the version in force here
    /// (`served_sha`: the sha256 of its text, when known) and the history.
    pub fn decide_here(
        &self,
        name: &str,
        version: u64,
        sha256: &str,
        served_sha: Option<&str>,
    ) -> Result<Accepted, Refusal> {
        let served = self
            .shared
            .runtime
            .load()
            .lists
            .get(name)
            .map(|l| l.version);
        decide(
            served.map(|version| Served {
                version,
                sha256: served_sha,
            }),
            &self.history(name),
            version,
            sha256,
        )
    }
}
