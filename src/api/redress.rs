//! `[redress] listen`: the signed contact card (RFC 8688), alone, read-only,
//! on a listener of its own: rejected callers and their operators fetch it
//! from the open network, which must never reach the control API. Any other
//! path is 404. The card is read from its file at each request, so a new
//! `callscreen redress build` is served without a restart.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::StartError;
use crate::config::RedressSettings;

/// The path of the card's public URL (`/` when it has none).
pub fn url_path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.find('/').map_or("/", |i| &rest[i..]);
    path.split(['?', '#']).next().unwrap_or("/")
}

/// The card's path and file.
struct Card {
    path: String,
    file: PathBuf,
}

/// GET (or HEAD) of the card's path: the card; anything else: 404 or 405.
async fn card(State(c): State<Arc<Card>>, method: Method, uri: Uri) -> Response {
    if uri.path() != c.path {
        return (StatusCode::NOT_FOUND, "not found\n").into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
            "read-only\n",
        )
            .into_response();
    }
    let file = &c.file;
    match tokio::fs::read(file).await {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/jose"),
                (header::CACHE_CONTROL, "max-age=3600"),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(file = %file.display(), "the redress card cannot be served: {e}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the card is not there yet\n",
            )
                .into_response()
        }
    }
}

/// Starts the card's listener; its bound address.
pub async fn serve(r: &RedressSettings) -> Result<Option<SocketAddr>, StartError> {
    let Some(addr) = r.listen else {
        return Ok(None);
    };
    let l = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Redress(format!("cannot listen on {addr}: {e}")))?;
    let bound = l.local_addr().unwrap_or(addr);
    let tls =
        match &r.tls {
            Some((cert, key)) => Some(super::tls::server_config(cert, key, None).map_err(|e| {
                StartError::Redress(format!("TLS: {e}; check tls_cert and tls_key"))
            })?),
            None => None,
        };
    // One path, compared as it is: no route syntax for a URL to trip.
    let app = Router::new().fallback(card).with_state(Arc::new(Card {
        path: url_path(&r.url).to_string(),
        file: r.card.clone(),
    }));
    // The card's listener: the API's default limits, its own counts.
    let limits = super::listen::Limits {
        max: 256,
        per_source: 32,
        idle: std::time::Duration::from_secs(60),
    };
    let l = super::listen::Limited::new(l, limits, None);
    super::spawn_server(l, app, tls, "the redress card's listener")
        .map_err(|e| StartError::Redress(e.to_string()))?;
    Ok(Some(bound))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_card_is_served_at_its_url_path() {
        use super::url_path;
        assert_eq!(
            url_path("https://www.example.net/callscreen/redress.jws"),
            "/callscreen/redress.jws"
        );
        assert_eq!(url_path("https://www.example.net"), "/");
        assert_eq!(url_path("https://www.example.net/c.jws?v=2"), "/c.jws");
    }
}
