//! The TOML schema, as serde reads it. Unknown keys are refused (a typo must
//! not silently fall back to a default). Values that need checking beyond
//! their type keep their position (`Spanned`) so errors can name the line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub home: Home,
    #[serde(default)]
    pub numbering: Vec<Spanned<Plan>>,
    #[serde(default)]
    pub emergency: Emergency,
    #[serde(default)]
    pub list_guard: ListGuard,
    #[serde(default)]
    pub lists: Vec<Spanned<ListEntry>>,
    #[serde(default)]
    pub sbcs: Vec<Spanned<SbcEntry>>,
    #[serde(default)]
    pub peers: Vec<Spanned<PeerEntry>>,
    #[serde(default)]
    pub policy: PolicySection,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub warn: Option<WarnSection>,
    #[serde(default)]
    pub sip: SipSection,
    #[serde(default)]
    pub redirect: RedirectSection,
    #[serde(default)]
    pub proxy: ProxySection,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub shaken: ShakenSection,
    #[serde(default)]
    pub bursts: BurstSection,
    #[serde(default)]
    pub hits: HitsSection,
    #[serde(default)]
    pub api: Option<ApiSection>,
    #[serde(default)]
    pub fleet: Option<FleetSection>,
    #[serde(default)]
    pub redress: Option<Spanned<RedressSection>>,
    #[serde(default)]
    pub stir: Option<StirSection>,
    #[serde(default)]
    pub roaming: Option<RoamingSection>,
    #[serde(default)]
    pub signing: Option<SigningSection>,
    #[serde(default)]
    pub records: Option<RecordsSection>,
}

/// `[records]`: call records on the node.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsSection {
    pub dir: Option<Spanned<String>>,
    pub max_bytes: Option<Spanned<u64>>,
    pub max_age_days: Option<Spanned<u64>>,
    pub segment_records: Option<Spanned<u64>>,
    pub segment_secs: Option<Spanned<u64>>,
    pub seal_wait_secs: Option<Spanned<u64>>,
    pub queue_records: Option<Spanned<u64>>,
}

/// `[signing]`: the authentication service (STIR/SHAKEN signing).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningSection {
    pub key_file: Spanned<String>,
    pub x5u: Spanned<String>,
    #[serde(default)]
    pub own_ranges: Vec<Spanned<String>>,
    pub caller_order: Option<Spanned<Vec<String>>>,
}

/// `[roaming]`: the roaming check, asked of the operator's endpoint.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoamingSection {
    pub url: Spanned<String>,
    pub ca_file: Option<Spanned<String>>,
    pub client_cert: Option<Spanned<String>>,
    pub client_key: Option<Spanned<String>>,
    pub budget_ms: Option<Spanned<u64>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub cache_secs: Option<Spanned<u64>>,
    pub cache_entries: Option<Spanned<usize>>,
    pub max_in_flight: Option<Spanned<usize>>,
    pub failure_backoff_secs: Option<Spanned<u64>>,
}

/// `[stir]`: STIR/SHAKEN verification.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StirSection {
    pub trust_anchors: Spanned<String>,
    pub budget_ms: Option<Spanned<u64>>,
    pub fetch_timeout_ms: Option<Spanned<u64>>,
    #[serde(default)]
    pub x5u_allow_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub x5u_allow_networks: Vec<Spanned<String>>,
    pub x5u_ca_file: Option<Spanned<String>>,
    pub max_fetches: Option<Spanned<usize>>,
    pub max_fetches_per_host: Option<Spanned<usize>>,
    pub cache_entries: Option<Spanned<usize>>,
    pub cache_max_age_secs: Option<Spanned<u64>>,
    pub negative_cache_secs: Option<Spanned<u64>>,
    pub workers: Option<Spanned<usize>>,
    pub queue: Option<Spanned<usize>>,
    #[serde(default)]
    pub a_lifts: Vec<Spanned<String>>,
    /// Look certificates up in their CRLs (default true).
    pub crl_check: Option<bool>,
    /// A directory of the certificates that sign indirect CRLs.
    pub crl_signers: Option<Spanned<String>>,
    pub crl_max_bytes: Option<Spanned<usize>>,
    /// "pass", "no-validation" (default) or "fail".
    pub crl_unavailable: Option<Spanned<String>>,
}

/// `[redress]`: where a wrongly blocked caller learns whom to ask (RFC 8688).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedressSection {
    pub url: Spanned<String>,
    pub card: Option<String>,
    pub key: Option<String>,
    pub cert_url: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
    #[serde(default)]
    pub org: Option<String>,
    #[serde(default)]
    pub tel: Vec<Spanned<String>>,
    #[serde(default)]
    pub email: Vec<Spanned<String>>,
    #[serde(default)]
    pub web: Option<Spanned<String>>,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default)]
    pub listen: Option<Spanned<String>>,
    #[serde(default)]
    pub tls_cert: Option<String>,
    #[serde(default)]
    pub tls_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetSection {
    pub servers: Vec<Spanned<String>>,
    #[serde(default)]
    pub token_file: Option<Spanned<String>>,
    #[serde(default)]
    pub creds_file: Option<Spanned<String>>,
    #[serde(default)]
    pub ca_file: Option<Spanned<String>>,
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub heads_bucket: Option<String>,
    #[serde(default)]
    pub objects_bucket: Option<String>,
    #[serde(default)]
    pub nodes_bucket: Option<String>,
    #[serde(default)]
    pub members_bucket: Option<String>,
    #[serde(default)]
    pub replicas: Option<usize>,
    #[serde(default)]
    pub heartbeat_secs: Option<u64>,
    #[serde(default)]
    pub keep_versions: Option<usize>,
    #[serde(default)]
    pub keep_bytes: Option<u64>,
    #[serde(default)]
    pub key_file: Option<Spanned<String>>,
    #[serde(default)]
    pub trusted_keys: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    pub listen: Spanned<String>,
    #[serde(default)]
    pub state_dir: Option<String>,
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    #[serde(default)]
    pub max_connections: Option<usize>,
    #[serde(default)]
    pub max_connections_per_source: Option<usize>,
    #[serde(default)]
    pub idle_timeout_secs: Option<u64>,
    #[serde(default)]
    pub max_viewers: Option<usize>,
    #[serde(default)]
    pub tls_cert: Option<String>,
    #[serde(default)]
    pub tls_key: Option<String>,
    #[serde(default)]
    pub client_ca: Option<String>,
    #[serde(default)]
    pub clients: Vec<Spanned<ApiClient>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiClient {
    pub name: String,
    pub token_sha256: String,
    pub lists: Vec<String>,
    pub operations: Vec<String>,
    #[serde(default)]
    pub sign_key: Option<String>,
}

/// `[hits]`: the table of calls by list entry.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HitsSection {
    pub slots: Option<Spanned<usize>>,
}

/// `[bursts]`: calls from one number, or one block of numbers, in a
/// sliding window.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BurstSection {
    pub window_secs: Option<Spanned<u64>>,
    pub calls_per_number: Option<u32>,
    pub calls_per_block: Option<u32>,
    pub block_digits: Option<Spanned<u32>>,
    pub table_slots: Option<Spanned<usize>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ShakenSection {
    pub max_age_secs: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SipSection {
    pub mode: Option<Spanned<String>>,
    pub udp: Option<Vec<Spanned<String>>>,
    pub tcp: Option<Vec<Spanned<String>>>,
    pub udp_threads: Option<usize>,
    pub max_message_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub unknown_source: Option<Spanned<String>>,
    pub tcp_max_connections: Option<usize>,
    pub tcp_idle_timeout_secs: Option<u64>,
    pub tcp_max_per_source: Option<usize>,
    pub tcp_first_message_secs: Option<u64>,
    #[serde(default)]
    pub tcp_write_timeout_secs: Option<u64>,
    #[serde(default)]
    pub tcp_max_per_peer: Option<usize>,
    pub retransmission_cache: Option<usize>,
    pub unknown_source_per_sec: Option<u32>,
    pub peer_calls_per_sec: Option<u32>,
    pub peer_burst: Option<u32>,
    pub shed_queue_age_ms: Option<u64>,
    pub udp_queue_per_peer: Option<bool>,
    pub tls: Option<Vec<Spanned<String>>>,
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
    pub tls_client_ca: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RedirectSection {
    pub next_hop: Option<Spanned<String>>,
    pub clean_code: Option<Spanned<i64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    pub next_hops: Option<Vec<Spanned<String>>>,
    pub via_host: Option<Spanned<String>>,
    pub probe_interval_secs: Option<u64>,
    pub down_secs: Option<u64>,
    pub tls_ca_file: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    pub format: Option<Spanned<String>>,
    pub level: Option<Spanned<String>>,
    #[serde(default)]
    pub mask_caller: bool,
    pub queue_lines: Option<usize>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Home {
    /// Required unless a profile gives it.
    pub country_code: Option<Spanned<String>>,
    /// Default "0" (or the profile's).
    pub trunk_prefix: Option<Spanned<String>>,
    /// Default "00" (or the profile's).
    pub international_prefix: Option<Spanned<String>>,
    /// A country profile (`screen::profile`): "de", "be", "uk" …
    pub profile: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub country_code: String,
    pub ranges: Vec<Spanned<PlanRow>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRow {
    pub prefix: String,
    pub lengths: Vec<u8>,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Emergency {
    #[serde(default = "default_emergency")]
    pub numbers: Vec<Spanned<String>>,
    #[serde(default)]
    pub routing_prefixes: Vec<Spanned<String>>,
}

fn default_emergency() -> Vec<Spanned<String>> {
    ["112", "911", "999"]
        .map(|s| Spanned::new(0..0, s.to_string()))
        .to_vec()
}

impl Default for Emergency {
    fn default() -> Self {
        Emergency {
            numbers: default_emergency(),
            routing_prefixes: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ListGuard {
    pub min_prefix_digits: Option<Spanned<i64>>,
    #[serde(default)]
    pub max_shrink_percent: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListEntry {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub kind: Option<String>,
    pub file: String,
    #[serde(default = "yes")]
    pub required: bool,
    #[serde(default)]
    pub bloom_fp_rate: Option<f64>,
    #[serde(default)]
    pub max_age_secs: Option<u64>,
    /// This list's own `min_prefix_digits`, over `[list_guard]`'s.
    #[serde(default)]
    pub min_prefix_digits: Option<Spanned<i64>>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbcEntry {
    pub name: String,
    pub addresses: Vec<Spanned<String>>,
    #[serde(default)]
    pub trunk_param: Option<String>,
    #[serde(default)]
    pub trunk_header: Option<String>,
    #[serde(default)]
    pub default_peer: Option<String>,
    /// Over TLS, the names (SAN DNS or CN) its client certificate must carry.
    #[serde(default)]
    pub tls_names: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    pub name: String,
    #[serde(default)]
    pub trunk_ids: Vec<String>,
    #[serde(default)]
    pub addresses: Vec<Spanned<String>>,
    pub scope: Spanned<String>,
    #[serde(default)]
    pub pai_trusted: bool,
    #[serde(default)]
    pub domestic_cli_allowed: bool,
    #[serde(default)]
    pub shaken_signs: bool,
    /// It signs the calls it diverts (RFC 8946): a diversion counts only
    /// with a verified `div` PASSporT.
    #[serde(default)]
    pub div_signs: Option<Spanned<bool>>,
    /// Over TLS, the names (SAN DNS or CN) its client certificate must carry.
    #[serde(default)]
    pub tls_names: Vec<Spanned<String>>,
    #[serde(default)]
    pub number_context: Option<Spanned<toml::Value>>,
    /// The country (profile) its calls are screened for; `[home]`'s when absent.
    #[serde(default)]
    pub profile: Option<Spanned<String>>,
    /// Sign its calls (`[signing]`): "customer" (A or B) or "gateway" (C).
    #[serde(default)]
    pub sign: Option<Spanned<String>>,
    #[serde(default)]
    pub direction: Option<Spanned<String>>,
    #[serde(default)]
    pub assigned: Vec<Spanned<String>>,
    #[serde(default)]
    pub rules: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    pub calls_per_sec: Option<u32>,
    #[serde(default)]
    pub burst: Option<u32>,
    #[serde(default)]
    pub over_limit: Option<Spanned<String>>,
    #[serde(default)]
    pub over_limit_code: Option<Spanned<i64>>,
}

/// `[warn]`: where a warned subscriber's call goes first.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarnSection {
    pub announcement: Spanned<String>,
    #[serde(default)]
    pub peer: Option<Spanned<String>>,
    #[serde(default)]
    pub cause: Option<Spanned<i64>>,
    #[serde(default)]
    pub carry: Option<Spanned<String>>,
    #[serde(default)]
    pub token_ttl_secs: Option<u64>,
    #[serde(default)]
    pub token_key_file: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PolicySection {
    #[serde(default)]
    pub reject_text: Option<String>,
    #[serde(default)]
    pub rules: BTreeMap<String, Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tags {
    #[serde(default = "default_tag_header")]
    pub header: String,
    #[serde(default = "default_display_prefix")]
    pub display_prefix: String,
    #[serde(default)]
    pub in_contact_uri: bool,
}

fn default_tag_header() -> String {
    "X-Callscreen".into()
}

fn default_display_prefix() -> String {
    "[SCAM?] ".into()
}

impl Default for Tags {
    fn default() -> Self {
        Tags {
            header: default_tag_header(),
            display_prefix: default_display_prefix(),
            in_contact_uri: false,
        }
    }
}
