//! The control plane over HTTP (axum), on its own listener, never on the
//! call path: list push and export, health, readiness and metrics.
//!
//! - `auth`: bearer tokens (stored as SHA-256 hashes, compared in constant
//!   time) and each client's scope;
//! - `push`: `PUT /v1/lists/{name}`: validated whole, stored durably,
//!   then swapped in; `GET /v1/lists[/{name}]`;
//! - `change`: `PATCH /v1/lists/{name}` and `POST /v1/lists/{name}/rollback`;
//! - `metrics`: `GET /metrics` in the Prometheus text format;
//! - `context`, `auth`, `commit`, `reply`: what every handler reads, who
//!   may do what, the end of every list change (refused or stored and
//!   swapped in), the shapes of the answers;
//! - `listen`: the listener's limits (connections in all and per address,
//!   the idle timeout); `tls`: the listener over TLS; `client`: the CLI's
//!   HTTP client.
//!
//! `serve` starts it on the daemon's runtime, beside (never inside) the SIP
//! side: both read `crate::state`, neither imports the other.

mod auth;
mod calls;
mod change;
pub mod client;
mod commit;
mod context;
mod fleet;
mod hits;
mod listen;
mod metrics;
mod push;
pub mod records;
pub mod redress;
mod reply;
mod status;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

pub use crate::config::{ApiSettings, Client, Operation};
pub use auth::hash_token;
pub use calls::Filters;
pub use context::ApiState;

use crate::state::Shared;
use crate::store::Store;

/// The control API could not be started.
#[derive(Debug)]
pub enum StartError {
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    Tls(String),
    /// `[redress] listen`: the card's own listener.
    Redress(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Bind { addr, error } => write!(
                f,
                "cannot listen on API {addr}: {error}; check [api] listen in the config (another process may hold the port)"
            ),
            StartError::Tls(e) => {
                write!(f, "[api] TLS: {e}; check tls_cert, tls_key and client_ca")
            }
            StartError::Redress(e) => write!(f, "[redress] listen: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Binds the control API's listener (plain HTTP or TLS) and serves it on
/// the current tokio runtime; returns the address it listens on.
pub async fn serve(
    settings: ApiSettings,
    shared: Arc<Shared>,
    store: Store,
    fleet: Option<Arc<crate::fleet::Fleet>>,
    config: &std::path::Path,
) -> Result<SocketAddr, StartError> {
    let addr = settings.listen;
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| StartError::Bind { addr, error })?;
    let bound = l.local_addr().unwrap_or(addr);
    let tls = match &settings.tls {
        Some((cert, key)) => Some(
            tls::server_config(cert, key, settings.client_ca.as_deref())
                .map_err(StartError::Tls)?,
        ),
        None => None,
    };
    let limits = listen::Limits {
        max: settings.max_connections,
        per_source: settings.max_connections_per_source,
        idle: settings.idle_timeout,
    };
    let l = listen::Limited::new(l, limits, Some(Arc::clone(&shared)));
    let state = Arc::new(ApiState {
        shared,
        store,
        settings,
        push_lock: tokio::sync::Mutex::new(()),
        metrics: Default::default(),
        file_cache: Default::default(),
        fleet,
        config: config.to_path_buf(),
    });
    spawn_server(l, router(state), tls, "the control API")
        .map_err(|error| StartError::Bind { addr, error })?;
    Ok(bound)
}

/// Serves `app` on `l` (over TLS when `tls` is given) in a task of its own.
fn spawn_server(
    l: listen::Limited,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    what: &'static str,
) -> std::io::Result<()> {
    match tls {
        None => {
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!("{what} stopped: {e}");
                }
            });
        }
        Some(cfg) => {
            let l = tls::listener(l, cfg)?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(l, app).await {
                    tracing::error!("{what} stopped: {e}");
                }
            });
        }
    }
    Ok(())
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
        .route("/v1/lists/{name}/hits", get(hits::hits))
        .route("/v1/fleet", get(fleet_view))
        .route(
            "/v1/fleet/nodes/{node}",
            axum::routing::delete(fleet_forget),
        )
        .route("/v1/calls/stream", get(calls::stream))
        .route("/v1/calls", get(records::find))
        .route("/v1/lists/{name}/whatif", post(records::whatif))
        .route("/v1/status", get(status::status))
        .route("/v1/reload", post(status::reload))
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
        let fleet = match &st.fleet {
            None => String::new(),
            Some(f) if f.connected() => " (fleet: connected)".into(),
            Some(f) => format!(
                " (fleet: NATS unreachable, serving the lists in force: {})",
                f.last_error().unwrap_or_else(|| "not connected".into())
            ),
        };
        (StatusCode::OK, format!("ready{fleet}\n"))
    }
}

/// `DELETE /v1/fleet/nodes/{node}`: forget a missing member (operation
/// `fleet`). `409` when the node still beats, `404` when there is no such
/// member, `503` when NATS is unreachable.
async fn fleet_forget(
    State(st): State<Arc<ApiState>>,
    axum::extract::Path(node): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    let who = match auth::authorise(&st, &headers, crate::config::Operation::Fleet, None) {
        Ok(c) => c.name.clone(),
        Err(r) => return *r,
    };
    let Some(f) = &st.fleet else {
        return reply::err(
            StatusCode::NOT_FOUND,
            "this node is in no fleet: no [fleet] in its config",
        );
    };
    match f.forget(&node).await {
        Ok(()) => {
            tracing::info!(target: "audit", client = %who, node = %node, outcome = "forgotten", "fleet member forgotten");
            Json(serde_json::json!({"node": node, "outcome": "forgotten"})).into_response()
        }
        Err(e) => {
            let status = match e {
                crate::fleet::ForgetError::Unknown(_) => StatusCode::NOT_FOUND,
                crate::fleet::ForgetError::Alive(..) => StatusCode::CONFLICT,
                crate::fleet::ForgetError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            reply::err(status, e.to_string())
        }
    }
}

/// `GET /v1/fleet`: every node of the fleet, the heads, which lists lag.
async fn fleet_view(State(st): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    if let Err(r) = auth::authorise(&st, &headers, crate::config::Operation::Read, None) {
        return *r;
    }
    match &st.fleet {
        Some(f) => Json(f.view().await).into_response(),
        None => reply::err(
            StatusCode::NOT_FOUND,
            "this node is in no fleet: no [fleet] in its config",
        ),
    }
}
