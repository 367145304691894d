//! The `[api]` section: the control plane's listener, state directory, body
//! limit and clients.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::context::Ctx;
use super::schema;
use crate::lists::Role;

/// What a client may do to a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// GET a list or the summary.
    Read,
    /// PUT a whole list.
    Replace,
    /// PATCH a list (not served yet).
    Patch,
    /// Roll a list back (not served yet).
    Rollback,
    /// Watch the live call stream (`GET /v1/calls/stream`).
    Calls,
    /// Read a list's hits per entry (`GET /v1/lists/{name}/hits`).
    Hits,
    /// Manage the fleet's members: forget a missing node
    /// (`DELETE /v1/fleet/nodes/{node}`).
    Fleet,
    /// Reload the configuration and seed lists (`POST /v1/reload`).
    Reload,
    /// Read past calls' records (`GET /v1/calls`: traceback data, full
    /// numbers) and decide them again with a candidate list
    /// (`POST /v1/lists/{name}/whatif`).
    Records,
}

impl Operation {
    pub fn from_name(s: &str) -> Option<Operation> {
        match s {
            "read" => Some(Operation::Read),
            "replace" => Some(Operation::Replace),
            "patch" => Some(Operation::Patch),
            "rollback" => Some(Operation::Rollback),
            "calls" => Some(Operation::Calls),
            "hits" => Some(Operation::Hits),
            "fleet" => Some(Operation::Fleet),
            "reload" => Some(Operation::Reload),
            "records" => Some(Operation::Records),
            _ => None,
        }
    }
}

/// An API client (`[[api.clients]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    pub token_sha256: [u8; 32],
    /// List names it may touch; `*` for all.
    pub lists: Vec<String>,
    pub operations: Vec<Operation>,
    /// Its Ed25519 public key: when set, every body it pushes must be signed.
    pub sign_key: Option<[u8; 32]>,
}

impl Client {
    pub fn may(&self, op: Operation, list: Option<&str>) -> bool {
        self.operations.contains(&op)
            && list.is_none_or(|l| self.lists.iter().any(|x| x == "*" || x == l))
    }
}

/// The API's settings.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    pub listen: SocketAddr,
    /// Where pushed lists are stored.
    pub state_dir: PathBuf,
    pub max_body_bytes: usize,
    pub clients: Vec<Client>,
    /// TLS: certificate chain and key (PEM); none: plain HTTP.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Client certificates must chain to this CA (PEM); needs `tls`.
    pub client_ca: Option<PathBuf>,
    /// Connections open at once, in all and from one address (a TLS
    /// handshake in progress counts): the control plane can never take the
    /// descriptors the SIP side needs.
    pub max_connections: usize,
    pub max_connections_per_source: usize,
    /// A connection that neither sends nor receives a byte for this long is
    /// closed (the call stream sends an empty line every 20 s).
    pub idle_timeout: std::time::Duration,
    /// Viewers of the call stream at once; more are answered 503.
    pub max_viewers: usize,
}

/// Default body limit: room for 10 million numbers in the text form.
pub const DEFAULT_MAX_BODY: usize = 512 << 20;

/// Parses a 64-hex-digit SHA-256.
pub fn parse_sha256(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// One `[[api.clients]]` entry, checked (its errors in `cx`, keyed `key`).
pub(super) fn client(
    cx: &mut Ctx<'_>,
    c: &toml::Spanned<schema::ApiClient>,
    key: &str,
    lists: &HashMap<String, Role>,
) -> Option<super::Client> {
    let cv = c.get_ref();
    if cv.name.is_empty()
        || !cv
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        return cx.err(
            Some(c.span()),
            format!("{key}.name"),
            format!(
                "{:?} is not a client name; use letters, digits, '-', '_' and '.'",
                cv.name
            ),
        );
    }
    let Some(token_sha256) = super::parse_sha256(&cv.token_sha256.to_ascii_lowercase()) else {
        return cx.err(Some(c.span()), format!("{key}.token_sha256"), "must be the SHA-256 of the token, 64 hex digits (callscreen api hash-token prints it); never the token itself");
    };
    let mut operations = Vec::new();
    for o in &cv.operations {
        match super::Operation::from_name(o) {
            Some(op) => operations.push(op),
            None => {
                cx.err::<()>(
                    Some(c.span()),
                    format!("{key}.operations"),
                    format!(
                        "{o:?} is not an operation; use read, replace, patch, rollback, calls, hits, fleet or reload"
                    ),
                );
            }
        }
    }
    for l in &cv.lists {
        if l != "*" && !lists.contains_key(l) {
            cx.err::<()>(
                Some(c.span()),
                format!("{key}.lists"),
                format!("there is no list named {l:?} in [[lists]]"),
            );
        }
    }
    let sign_key = match &cv.sign_key {
        None => None,
        Some(k) => match crate::keys::public_key(k) {
            Some(k) => Some(k),
            None => {
                return cx.err(Some(c.span()), format!("{key}.sign_key"), "must be an Ed25519 public key, 64 hex digits (callscreen api keygen prints one)");
            }
        },
    };
    Some(super::Client {
        name: cv.name.clone(),
        token_sha256,
        lists: cv.lists.clone(),
        operations,
        sign_key,
    })
}

pub(super) fn api_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
    lists: &HashMap<String, Role>,
) -> Option<ApiSettings> {
    let a = raw.api.as_ref()?;
    let listen = match a.listen.get_ref().parse() {
        Ok(l) => l,
        Err(_) => {
            return cx.err(
                Some(a.listen.span()),
                "api.listen",
                format!(
                    "{:?} is not an address to listen on; write IP:PORT, e.g. \"127.0.0.1:8080\"",
                    a.listen.get_ref()
                ),
            );
        }
    };
    // systemd's StateDirectory= sets $STATE_DIRECTORY; else next to the config.
    let state_dir = match &a.state_dir {
        Some(d) => base.join(d),
        None => std::env::var_os("STATE_DIRECTORY")
            .map(PathBuf::from)
            .unwrap_or_else(|| base.join("state")),
    };
    let mut clients = Vec::new();
    for (i, c) in a.clients.iter().enumerate() {
        if let Some(c) = client(cx, c, &format!("api.clients[{i}]"), lists) {
            clients.push(c);
        }
    }
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some((
            super::context::secret_path(base, c),
            super::context::secret_path(base, k),
        )),
        (None, None) => None,
        _ => {
            cx.err::<()>(
                Some(a.listen.span()),
                "api.tls_cert",
                "tls_cert and tls_key go together (PEM files)",
            );
            None
        }
    };
    if a.client_ca.is_some() && tls.is_none() {
        cx.err::<()>(
            Some(a.listen.span()),
            "api.client_ca",
            "client certificates need TLS: set tls_cert and tls_key too",
        );
    }
    let client_ca = a.client_ca.as_ref().map(|c| base.join(c));
    Some(ApiSettings {
        listen,
        state_dir,
        max_body_bytes: a.max_body_bytes.unwrap_or(super::DEFAULT_MAX_BODY),
        clients,
        tls,
        client_ca,
        max_connections: a.max_connections.unwrap_or(256).clamp(1, 16_384),
        max_connections_per_source: a.max_connections_per_source.unwrap_or(32).max(1),
        idle_timeout: std::time::Duration::from_secs(
            a.idle_timeout_secs.unwrap_or(60).clamp(1, 86_400),
        ),
        max_viewers: a.max_viewers.unwrap_or(32).clamp(1, 1024),
    })
}
