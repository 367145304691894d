//! `[fleet]`: the NATS servers a node shares its lists through (JetStream),
//! its credentials (read from files, never given on the command line), this
//! node's name and the buckets it uses. Without `[fleet]` a node is on its
//! own, as before.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::context::Ctx;
use super::schema;
use crate::keys::SealKey;

/// A fleet's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetSettings {
    /// `nats://host:port` or `tls://host:port`, tried in turn.
    pub servers: Vec<String>,
    /// A file holding the server's token (one line).
    pub token_file: Option<PathBuf>,
    /// A NATS `.creds` file (JWT and NKey seed).
    pub creds_file: Option<PathBuf>,
    /// The CA that signs the servers' TLS certificates (PEM).
    pub ca_file: Option<PathBuf>,
    /// This node's name in the fleet (default: the host name).
    pub node: String,
    /// Key-value bucket of the lists' heads (one key per list).
    pub heads_bucket: String,
    /// Object store bucket of the pushed bodies.
    pub objects_bucket: String,
    /// Key-value bucket of the nodes' heartbeats (entries expire).
    pub nodes_bucket: String,
    /// Key-value bucket of the fleet's members: every node's last
    /// heartbeat, kept (a node gone quiet is shown missing, with when it was
    /// last seen, until an operator forgets it).
    pub members_bucket: String,
    /// Copies JetStream keeps of each bucket (1 for one server, 3 for a
    /// three-server cluster).
    pub replicas: usize,
    pub heartbeat: Duration,
    /// Versions of each list kept in the object store (older ones deleted).
    pub keep_versions: usize,
    /// Bytes of each list's versions kept in the object store (the newest
    /// version always, and what the heads' chains name).
    pub keep_bytes: u64,
    /// This node's key: it seals every head it publishes.
    pub key: SealKey,
    /// The file it was read from.
    pub key_file: std::path::PathBuf,
    /// The public keys whose seal a head must carry to be applied here:
    /// this node's own and those of `trusted_keys`.
    pub trusted: Vec<[u8; 32]>,
}

/// Bucket and node names: what NATS accepts as a bucket or key.
fn name_ok(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
}

/// The host name (for the node's default name).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "callscreen".into())
}

pub(super) fn fleet_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
) -> Option<FleetSettings> {
    let f = raw.fleet.as_ref()?;
    if raw.api.is_none() {
        cx.err::<()>(
            None,
            "fleet",
            "a fleet node needs [api] too: pushes arrive there, and its state_dir keeps what the node applied",
        );
    }
    if f.servers.is_empty() {
        cx.err::<()>(
            None,
            "fleet.servers",
            "name at least one NATS server, e.g. [\"nats://10.0.0.5:4222\"]",
        );
    }
    let mut servers = Vec::new();
    for (i, s) in f.servers.iter().enumerate() {
        let v = s.get_ref().trim();
        let rest = v
            .strip_prefix("nats://")
            .or_else(|| v.strip_prefix("tls://"));
        let ok = rest.is_some_and(|r| {
            r.rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
        });
        if ok {
            servers.push(v.to_string());
        } else {
            cx.err::<()>(
                Some(s.span()),
                format!("fleet.servers[{i}]"),
                format!("{v:?} must be nats://HOST:PORT or tls://HOST:PORT, e.g. \"nats://10.0.0.5:4222\""),
            );
        }
    }
    let file = |cx: &mut Ctx<'_>, v: &Option<toml::Spanned<String>>, key: &str, what: &str| {
        let v = v.as_ref()?;
        let p = super::context::secret_path(base, v.get_ref());
        if std::fs::metadata(&p).is_err() {
            return cx.err(
                Some(v.span()),
                format!("fleet.{key}"),
                format!(
                    "cannot read {} ({what}): create it, or fix the path",
                    p.display()
                ),
            );
        }
        Some(p)
    };
    let token_file = file(
        cx,
        &f.token_file,
        "token_file",
        "a file holding the NATS token",
    );
    let creds_file = file(cx, &f.creds_file, "creds_file", "a NATS .creds file");
    let ca_file = file(
        cx,
        &f.ca_file,
        "ca_file",
        "the CA of the servers' TLS certificates, PEM",
    );
    if token_file.is_some() && creds_file.is_some() {
        cx.err::<()>(
            None,
            "fleet.token_file",
            "give a token_file or a creds_file, not both",
        );
    }
    let key = seal_key(cx, f, base);
    let mut trusted: Vec<[u8; 32]> = key.iter().map(|k| *k.public()).collect();
    for (i, t) in f.trusted_keys.iter().enumerate() {
        match crate::keys::public_key(t.get_ref()) {
            Some(k) => trusted.push(k),
            None => {
                cx.err::<()>(
                    Some(t.span()),
                    format!("fleet.trusted_keys[{i}]"),
                    "must be an Ed25519 public key, 64 hex digits (callscreen api keygen prints one)",
                );
            }
        }
    }
    let node = f.node.clone().unwrap_or_else(host_name);
    let names = [
        ("node", &node),
        ("heads_bucket", &f.heads_bucket.clone().unwrap_or_default()),
        (
            "objects_bucket",
            &f.objects_bucket.clone().unwrap_or_default(),
        ),
        ("nodes_bucket", &f.nodes_bucket.clone().unwrap_or_default()),
        (
            "members_bucket",
            &f.members_bucket.clone().unwrap_or_default(),
        ),
    ];
    for (key, v) in names {
        if (key == "node" || !v.is_empty()) && !name_ok(v) {
            cx.err::<()>(
                None,
                format!("fleet.{key}"),
                format!("{v:?} must be 1 to 64 letters, digits, '-' or '_'"),
            );
        }
    }
    let replicas = f.replicas.unwrap_or(1);
    if !(1..=5).contains(&replicas) {
        cx.err::<()>(
            None,
            "fleet.replicas",
            "must be from 1 to 5 (3 for a three-server cluster)",
        );
    }
    Some(FleetSettings {
        servers,
        token_file,
        creds_file,
        ca_file,
        node,
        heads_bucket: f
            .heads_bucket
            .clone()
            .unwrap_or_else(|| "callscreen-heads".into()),
        objects_bucket: f
            .objects_bucket
            .clone()
            .unwrap_or_else(|| "callscreen-lists".into()),
        nodes_bucket: f
            .nodes_bucket
            .clone()
            .unwrap_or_else(|| "callscreen-nodes".into()),
        members_bucket: f
            .members_bucket
            .clone()
            .unwrap_or_else(|| "callscreen-members".into()),
        replicas,
        heartbeat: Duration::from_secs(f.heartbeat_secs.unwrap_or(5).clamp(1, 300)),
        keep_versions: f.keep_versions.unwrap_or(5).clamp(1, 100),
        keep_bytes: f.keep_bytes.unwrap_or(4 << 30),
        key: key?,
        key_file: f
            .key_file
            .as_ref()
            .map(|v| super::context::secret_path(base, v.get_ref()))
            .unwrap_or_default(),
        trusted,
    })
}

/// `[fleet] key_file`: the node's secret key, which seals every head it
/// publishes. Required: without it a writer to NATS could publish a head
/// every node would apply.
fn seal_key(cx: &mut Ctx<'_>, f: &schema::FleetSection, base: &Path) -> Option<SealKey> {
    const HOW: &str = "make one with `callscreen api keygen fleet.key` (the same key on every node, or each node its own with the others' public keys in trusted_keys)";
    let Some(v) = &f.key_file else {
        return cx.err(
            None,
            "fleet.key_file",
            format!("a fleet node seals every head it publishes, and applies only heads sealed by a trusted key: name its secret key file; {HOW}"),
        );
    };
    let p = super::context::secret_path(base, v.get_ref());
    match std::fs::read_to_string(&p) {
        Err(e) => cx.err(
            Some(v.span()),
            "fleet.key_file",
            format!(
                "cannot read {} ({e}): {}",
                p.display(),
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    super::context::CREDENTIAL_HINT
                } else {
                    HOW
                }
            ),
        ),
        Ok(text) => match SealKey::from_secret_hex(&text) {
            Some(k) => Some(k),
            None => cx.err(
                Some(v.span()),
                "fleet.key_file",
                format!(
                    "{} is not an Ed25519 secret key (64 hex digits): {HOW}",
                    p.display()
                ),
            ),
        },
    }
}
