//! The control plane over HTTP (axum), on its own listener, never on the
//! call path: list push and export, health, readiness and metrics.
//!
//! - `auth`: bearer tokens (stored as SHA-256 hashes, compared in constant
//!   time) and each client's scope;
//! - `push`: `PUT /v1/lists/{name}`: validated whole, stored durably,
//!   then swapped in; `GET /v1/lists[/{name}]`;
//! - `change`: `PATCH /v1/lists/{name}` and `POST /v1/lists/{name}/rollback`;
//! - `metrics`: `GET /metrics` in the Prometheus text format.

mod auth;
mod change;
pub mod client;
mod metrics;
mod push;
pub mod sign;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};

pub use crate::config::{ApiSettings, Client, Operation};
pub use auth::hash_token;

use crate::lists::store::Store;
use crate::server::Shared;

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
}

impl ApiState {
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
        let sha = std::fs::read(f).ok().map(|b| push::sha256_hex(&b));
        if let Some(s) = &sha {
            cache.insert(key, s.clone());
        }
        (sha, mtime)
    }
}

pub fn router(state: Arc<ApiState>) -> Router {
    let limit = state.settings.max_body_bytes;
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/lists", get(push::list_all))
        .route(
            "/v1/lists/{name}",
            get(push::export).put(push::replace).patch(change::patch),
        )
        .route("/v1/lists/{name}/rollback", post(change::rollback))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Ready when every required list is loaded (and the SIP side is up).
async fn readyz(State(st): State<Arc<ApiState>>) -> (StatusCode, String) {
    let rt = st.shared.runtime.load();
    let missing: Vec<&str> = rt
        .settings
        .lists
        .iter()
        .filter(|s| s.required && rt.lists.get(&s.name).is_none())
        .map(|s| s.name.as_str())
        .collect();
    if !st.shared.ready.load(Ordering::Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: SIP listeners starting\n".into(),
        )
    } else if !missing.is_empty() {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: lists missing: {}\n", missing.join(", ")),
        )
    } else {
        (StatusCode::OK, "ready\n".into())
    }
}

impl ApiMetrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}
