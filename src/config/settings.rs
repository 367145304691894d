//! What a validated configuration is: [`Settings`] and its sections, ready
//! to use (every value checked, every name resolved).

use std::path::PathBuf;

use crate::cidr::Cidr;
use crate::lists::{BloomParams, Guard, ListKind, Role};
use crate::screen::Policy;

/// A list to load.
#[derive(Clone, Debug, PartialEq)]
pub struct ListSpec {
    pub name: String,
    pub role: Role,
    pub kind: ListKind,
    /// The seed file (relative paths are taken from the config file's folder).
    pub file: PathBuf,
    /// Screening needs this list: the daemon is not ready without it.
    pub required: bool,
    pub bloom: BloomParams,
    /// How old the version in force may grow before `/metrics` shows it as
    /// overdue (the list's expected refresh; none: never).
    pub max_age_secs: Option<u64>,
    /// Its own shortest prefix (digits after the `+`), in place of
    /// `[list_guard]`'s: a list of international network prefixes such as
    /// `+882*` needs 3 while the blocklists keep 6.
    pub min_prefix_digits: Option<u8>,
}

impl ListSpec {
    /// The guard this list's bodies are checked with: `[list_guard]`'s,
    /// with this list's own `min_prefix_digits` where it has one.
    pub fn guard(&self, global: Guard) -> Guard {
        Guard {
            min_prefix_digits: self.min_prefix_digits.unwrap_or(global.min_prefix_digits),
            ..global
        }
    }
}

/// An SBC of the operator's: requests from its addresses may signal the
/// ingress trunk.
#[derive(Clone, Debug, PartialEq)]
pub struct Sbc {
    pub name: String,
    pub nets: Vec<Cidr>,
    /// Request-URI parameter carrying the trunk (RFC 4904 `tgrp`).
    pub trunk_param: Option<String>,
    /// Header carrying the trunk (e.g. `X-Ingress-Trunk`).
    pub trunk_header: Option<String>,
    /// The peer of calls that arrive from this SBC without a trunk id.
    pub default_peer: Option<usize>,
    /// Over TLS, a connection from its addresses must present a client
    /// certificate with one of these names (lower case; empty: any).
    pub tls_names: Vec<String>,
}

/// How an originating trunk's calls are signed (`sign`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMode {
    /// The operator knows the customer: A when the caller number is the
    /// operator's (`[signing] own_ranges`) and the trunk's (`assigned`),
    /// else B.
    Customer,
    /// Traffic the operator only carries: C.
    Gateway,
}

/// What callscreen does with an INVITE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Answer as a stateless UAS: 302 onwards, or a rejection (default).
    Redirect,
    /// Forward as a stateless proxy (RFC 3261 §16.11), rejections answered locally.
    Proxy,
}

/// A next hop of proxy mode: where forwarded requests go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NextHop {
    pub addr: std::net::SocketAddr,
    /// `transport=tcp`: every request over TCP (else UDP, and TCP above 1300 bytes).
    pub tcp: bool,
    /// `sips:` or `transport=tls`: over TLS (a stream, as TCP), the hop's
    /// certificate verified for its address.
    pub tls: bool,
}

/// Proxy mode (`[proxy]`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProxySettings {
    /// Tried in order: the first one not marked down gets the request.
    pub next_hops: Vec<NextHop>,
    /// The host callscreen writes in its Via (default: the listen address).
    pub via_host: Option<String>,
    /// OPTIONS to every next hop this often (zero: no probes).
    pub probe_interval: std::time::Duration,
    /// How long a hop stays down after a failure (a 503 without Retry-After,
    /// a refused TCP connection, an unanswered probe).
    pub down_for: std::time::Duration,
    /// The CA that TLS next hops' certificates chain to (default: the
    /// system's trust store).
    pub tls_ca: Option<PathBuf>,
}

/// What happens to a request from an address that is neither an SBC nor a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnknownSource {
    /// Answer 403 Forbidden.
    Reject,
    /// Say nothing.
    Drop,
}

/// The SIP listeners and their limits (`[sip]`).
#[derive(Clone, Debug, PartialEq)]
pub struct SipSettings {
    pub mode: Mode,
    pub udp: Vec<std::net::SocketAddr>,
    pub tcp: Vec<std::net::SocketAddr>,
    /// UDP receive threads per socket (0 in config: one per core).
    pub udp_threads: usize,
    pub limits: crate::sip::Limits,
    pub unknown_source: UnknownSource,
    pub tcp_max_connections: usize,
    pub tcp_idle_timeout: std::time::Duration,
    /// Connections one address may hold (SBCs and peers alike).
    pub tcp_max_per_source: usize,
    /// Connections one SBC or peer may hold, all the addresses of its
    /// networks together.
    pub tcp_max_per_peer: usize,
    /// How long a new connection may take to send its first whole message
    /// (a slowloris sends none).
    pub tcp_first_message: std::time::Duration,
    /// How long one write to a connection may wait for the other side to
    /// take the bytes (a client that never reads): then it is closed.
    pub tcp_write_timeout: std::time::Duration,
    /// Recent answers kept for retransmissions (entries).
    pub retransmission_cache: usize,
    /// 403 answers per second to one unknown address (beyond: dropped).
    pub unknown_source_per_sec: u32,
    /// A UDP datagram that waited longer than this in the socket's queue
    /// is shed: an INVITE gets the fail-open answer, an OPTIONS `503`.
    pub shed_queue_age: std::time::Duration,
    /// Each SBC and direct peer address gets a UDP socket of its own (a
    /// queue the kernel fills per sender), read in turn with the others.
    pub udp_queue_per_peer: bool,
    /// SIP over TLS (RFC 3261 §26.2): where it listens, and its certificate.
    pub tls: Vec<std::net::SocketAddr>,
    pub tls_files: Option<SipTls>,
}

/// The SIP TLS listener's certificate and key (PEM), and the CA that
/// client certificates must chain to (mutual TLS), if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
}

/// What an INVITE over its peer's rate limit gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverLimit {
    /// The fail-open answer: let through untagged, unscreened (the default).
    Pass,
    /// No answer (the peer's retransmissions come back later).
    Drop,
    /// A final answer with this code (4xx–6xx, never 503: RFC 3261 §21.5.4
    /// would take all of callscreen out of the sender's routing).
    Reject(u16),
}

/// A peer's call-rate limit: a token bucket (`per_sec` refill, `burst` size).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerLimit {
    /// Calls per second; 0: no limit.
    pub per_sec: u32,
    pub burst: u32,
    pub over: OverLimit,
}

/// Redirect mode (`[redirect]`).
#[derive(Clone, Debug, PartialEq)]
pub struct RedirectSettings {
    /// host[:port] the Contact of a 302 points at (the SBC's routing side).
    pub next_hop: String,
    /// The answer for a clean call (302 by default; some SBCs route on 404 or 503).
    pub clean_code: u16,
}

/// The NOC log (`[log]`).
#[derive(Clone, Debug, PartialEq)]
pub struct LogSettings {
    pub json: bool,
    /// A tracing filter directive (`info`, `callscreen=debug` …); `RUST_LOG` wins.
    pub level: String,
    pub mask_caller: bool,
    pub queue_lines: usize,
}

/// How a request is matched to a peer (same index as `Policy::peers`).
#[derive(Clone, Debug, PartialEq)]
pub struct PeerMatch {
    pub trunk_ids: Vec<String>,
    pub nets: Vec<Cidr>,
    /// Its INVITEs per second (keyed by ingress peer: the trunk id an SBC
    /// signals, or the source address of a direct peer).
    pub limit: PeerLimit,
    /// Over TLS, a connection from its addresses must present a client
    /// certificate with one of these names (lower case; empty: any).
    pub tls_names: Vec<String>,
    /// Its calls are signed (`sign`, an originating trunk in proxy mode).
    pub sign: Option<SignMode>,
}

/// How tags are written on a tagged call.
#[derive(Clone, Debug, PartialEq)]
pub struct TagSettings {
    pub header: String,
    pub display_prefix: String,
    pub in_contact_uri: bool,
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct Settings {
    pub path: PathBuf,
    pub policy: Policy,
    pub guard: Guard,
    pub lists: Vec<ListSpec>,
    pub sbcs: Vec<Sbc>,
    pub peers: Vec<PeerMatch>,
    pub tags: TagSettings,
    pub sip: SipSettings,
    pub redirect: RedirectSettings,
    pub proxy: ProxySettings,
    pub log: LogSettings,
    /// The control plane, when configured.
    pub api: Option<super::ApiSettings>,
    /// Where warned subscribers' calls go first (`[warn]`), when configured.
    pub warn: Option<WarnSettings>,
    /// The fleet this node shares its lists with (`[fleet]`), when configured.
    pub fleet: Option<super::FleetSettings>,
    /// How calls are counted for bursts (`[bursts]`; the thresholds are the
    /// policy's).
    pub burst: BurstSettings,
    /// Entries whose hits are counted at once (`[hits] slots`).
    pub hits_slots: usize,
    /// Redress for rejected callers (`[redress]`, RFC 8688), when configured.
    pub redress: Option<super::RedressSettings>,
    /// STIR/SHAKEN verification (`[stir]`), when configured.
    pub stir: Option<std::sync::Arc<crate::stir::StirConfig>>,
    /// The roaming check (`[roaming]`), when configured.
    pub roaming: Option<std::sync::Arc<crate::roaming::RoamingConfig>>,
    /// Call records (`[records]`), when configured.
    pub records: Option<super::records::RecordsSettings>,
    /// Signing (`[signing]`), when configured.
    pub signing: Option<std::sync::Arc<crate::stir::sign::Signer>>,
}

/// `[bursts]`: the sliding window and the table the calls are counted in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BurstSettings {
    pub window_secs: u64,
    /// A block is the numbers that share their first this many digits
    /// (country code included).
    pub block_digits: u32,
    /// Callers and blocks tracked at once (a fixed table).
    pub table_slots: usize,
}

impl Default for BurstSettings {
    fn default() -> Self {
        BurstSettings {
            window_secs: 60,
            block_digits: 9,
            table_slots: 65_536,
        }
    }
}

/// How the original target travels with a warned call (`[warn] carry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carry {
    /// A History-Info entry (RFC 7044) for the original target.
    HistoryInfo,
    /// A Diversion header (RFC 5806) naming the original target.
    Diversion,
    /// Only the `target` parameter of the announcement URI (RFC 4458).
    TargetOnly,
}

/// The announcement service that warns a subscriber before a listed number
/// (`[warn]`).
#[derive(Clone)]
pub struct WarnSettings {
    /// Its SIP URI as configured (`sip:warn@192.0.2.50:5062`, an IP: no DNS).
    pub uri: String,
    /// Where proxy mode forwards a warned call.
    pub hop: NextHop,
    /// The peer its reconnecting calls arrive as; only from it does a token
    /// let a call through.
    pub peer: Option<usize>,
    /// RFC 4458's `cause` on the announcement URI.
    pub cause: u16,
    pub carry: Carry,
    /// How long a subscriber may take to insist (seconds).
    pub token_ttl: u64,
    /// The tokens' key (`token_key_file`); none: a random key per start.
    pub token_key: Option<std::sync::Arc<crate::keys::TokenKey>>,
}

impl std::fmt::Debug for WarnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarnSettings")
            .field("uri", &self.uri)
            .field("peer", &self.peer)
            .field("cause", &self.cause)
            .field("carry", &self.carry)
            .field("token_ttl", &self.token_ttl)
            .field("token_key", &self.token_key.as_ref().map(|_| "(set)"))
            .finish()
    }
}

impl Settings {
    /// Whether an address may talk SIP to callscreen: a configured SBC or
    /// peer, a proxy next hop (its responses), the announcement service.
    /// Anyone else's requests are refused, and TCP connections closed at
    /// accept.
    pub fn knows(&self, ip: std::net::IpAddr) -> bool {
        self.sbcs
            .iter()
            .any(|s| s.nets.iter().any(|n| n.contains(ip)))
            || self
                .peers
                .iter()
                .any(|p| p.nets.iter().any(|n| n.contains(ip)))
            || self.proxy.next_hops.iter().any(|h| h.addr.ip() == ip)
            || self.warn.as_ref().is_some_and(|w| w.hop.addr.ip() == ip)
    }

    /// The peer a trunk id names.
    pub fn peer_by_trunk(&self, trunk: &[u8]) -> Option<usize> {
        self.peers
            .iter()
            .position(|p| p.trunk_ids.iter().any(|t| t.as_bytes() == trunk))
    }
}

impl Settings {
    /// The secret files the configuration names (keys, tokens), each with
    /// its key: what the service's own user must be able to read.
    pub fn secret_files(&self) -> Vec<(&'static str, std::path::PathBuf)> {
        let mut out = Vec::new();
        if let Some((_, key)) = self.api.as_ref().and_then(|a| a.tls.clone()) {
            out.push(("api.tls_key", key));
        }
        if let Some(t) = &self.sip.tls_files {
            out.push(("sip.tls_key", t.key.clone()));
        }
        if let Some(f) = &self.fleet {
            out.push(("fleet.key_file", f.key_file.clone()));
            if let Some(t) = &f.token_file {
                out.push(("fleet.token_file", t.clone()));
            }
            if let Some(c) = &f.creds_file {
                out.push(("fleet.creds_file", c.clone()));
            }
        }
        if let Some(k) = self.roaming.as_ref().and_then(|r| r.client_key.clone()) {
            out.push(("roaming.client_key", k));
        }
        if let Some(s) = &self.signing {
            out.push(("signing.key_file", s.key_file.clone()));
        }
        out
    }
}
