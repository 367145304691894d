//! The `[api]` section: the control plane's listener, state directory, body
//! limit and clients.

use std::net::SocketAddr;
use std::path::PathBuf;

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
}

impl Operation {
    pub fn from_name(s: &str) -> Option<Operation> {
        match s {
            "read" => Some(Operation::Read),
            "replace" => Some(Operation::Replace),
            "patch" => Some(Operation::Patch),
            "rollback" => Some(Operation::Rollback),
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
