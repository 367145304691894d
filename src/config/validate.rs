//! From the TOML schema to ready [`Settings`], collecting every error.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use toml::Spanned;

use super::error::{ConfigError, ConfigErrors, line_of};
use super::schema;
use crate::cidr::Cidr;
use crate::lists::format::valid_name;
use crate::lists::{BloomParams, Guard, ListKind, Role};
use crate::number::NumberContext;
use crate::number::emergency::EmergencyNumbers;
use crate::number::plan::{NumberType, NumberingPlan, PlanRange};
use crate::screen::{
    Action, DEFAULT_REJECT_CODE, Peer, Policy, ReasonKey, ReasonKind, Rule, RuleTable,
};

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
    /// Recent answers kept for retransmissions (entries).
    pub retransmission_cache: usize,
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
}

impl Settings {
    /// The peer a trunk id names.
    pub fn peer_by_trunk(&self, trunk: &[u8]) -> Option<usize> {
        self.peers
            .iter()
            .position(|p| p.trunk_ids.iter().any(|t| t.as_bytes() == trunk))
    }
}

struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
    errors: Vec<ConfigError>,
}

impl Ctx<'_> {
    fn err<T>(
        &mut self,
        span: Option<std::ops::Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> Option<T> {
        let line = span
            .filter(|s| s.end > 0)
            .map(|s| line_of(self.text, s.start));
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            key: key.into(),
            message: message.into(),
        });
        None
    }

    fn digits(
        &mut self,
        v: &Spanned<String>,
        key: &str,
        what: &str,
        allow_empty: bool,
    ) -> Option<String> {
        let s = v.get_ref();
        if (s.is_empty() && !allow_empty) || !s.bytes().all(|c| c.is_ascii_digit()) || s.len() > 15
        {
            return self.err(Some(v.span()), key, format!("{s:?} must be {what}"));
        }
        Some(s.clone())
    }

    fn cidrs(&mut self, v: &[Spanned<String>], key: &str) -> Vec<Cidr> {
        let mut out = Vec::new();
        for (i, a) in v.iter().enumerate() {
            match Cidr::from_str(a.get_ref()) {
                Ok(c) => out.push(c),
                Err(e) => {
                    self.err::<()>(Some(a.span()), format!("{key}[{i}]"), e.0);
                }
            }
        }
        out
    }
}

pub(super) fn validate(
    raw: schema::Config,
    text: &str,
    path: &Path,
    base: &Path,
) -> Result<Settings, ConfigErrors> {
    let mut cx = Ctx {
        text,
        path,
        errors: Vec::new(),
    };

    // [home]
    let cc = cx.digits(
        &raw.home.country_code,
        "home.country_code",
        "a country code: 1 to 3 digits, e.g. \"31\"",
        false,
    );
    let cc = cc
        .filter(|c| c.len() <= 3 && !c.starts_with('0'))
        .or_else(|| {
            if cx.errors.is_empty() {
                cx.err(
                    Some(raw.home.country_code.span()),
                    "home.country_code",
                    "a country code has 1 to 3 digits and does not start with 0, e.g. \"31\"",
                )
            } else {
                None
            }
        });
    let trunk = cx.digits(
        &raw.home.trunk_prefix,
        "home.trunk_prefix",
        "digits (\"0\" in most of Europe; \"\" for none)",
        true,
    );
    let intl = cx.digits(
        &raw.home.international_prefix,
        "home.international_prefix",
        "digits (\"00\" in most of the world)",
        false,
    );
    let home = NumberContext {
        country_code: Some(cc.clone().unwrap_or_else(|| "31".into())),
        trunk_prefix: trunk.clone().unwrap_or_else(|| "0".into()),
        international_prefix: intl.clone().unwrap_or_else(|| "00".into()),
    };

    // [[numbering]]
    let mut plans = Vec::new();
    for (i, p) in raw.numbering.iter().enumerate() {
        let key = format!("numbering[{i}]");
        let pv = p.get_ref();
        if pv.country_code.is_empty()
            || pv.country_code.len() > 3
            || !pv.country_code.bytes().all(|c| c.is_ascii_digit())
        {
            cx.err::<()>(
                Some(p.span()),
                format!("{key}.country_code"),
                format!(
                    "{:?} must be a country code of 1 to 3 digits",
                    pv.country_code
                ),
            );
            continue;
        }
        let mut rows = Vec::new();
        for (j, r) in pv.ranges.iter().enumerate() {
            let rk = format!("{key}.ranges[{j}]");
            let rv = r.get_ref();
            let Some(kind) = NumberType::from_name(&rv.kind) else {
                let names: Vec<_> = NumberType::ALL.iter().map(|t| t.name()).collect();
                cx.err::<()>(
                    Some(r.span()),
                    format!("{rk}.type"),
                    format!(
                        "{:?} is not a number type; use one of: {}",
                        rv.kind,
                        names.join(", ")
                    ),
                );
                continue;
            };
            if rv.prefix.is_empty() || !rv.prefix.bytes().all(|c| c.is_ascii_digit()) {
                cx.err::<()>(Some(r.span()), format!("{rk}.prefix"), format!("{:?} must be the leading digits of the national significant number, e.g. \"6\"", rv.prefix));
                continue;
            }
            if rv.lengths.is_empty()
                || rv.lengths.iter().any(|&l| {
                    l == 0
                        || l as usize + pv.country_code.len() > 15
                        || (l as usize) < rv.prefix.len()
                })
            {
                cx.err::<()>(Some(r.span()), format!("{rk}.lengths"), "lengths must list the allowed lengths of the national significant number, each at least the prefix's length and at most 15 minus the country code's");
                continue;
            }
            rows.push(PlanRange {
                prefix: rv.prefix.clone(),
                lengths: rv.lengths.clone(),
                kind,
            });
        }
        plans.push(NumberingPlan::new(&pv.country_code, rows));
    }
    if raw.numbering.is_empty() && home.country_code.as_deref() == Some("31") {
        plans.push(NumberingPlan::netherlands());
    }

    // [emergency]
    let mut emergency = EmergencyNumbers {
        numbers: Vec::new(),
        routing_prefixes: Vec::new(),
        country_code: home.country_code.clone(),
    };
    for (i, n) in raw.emergency.numbers.iter().enumerate() {
        if let Some(d) = cx.digits(
            n,
            &format!("emergency.numbers[{i}]"),
            "an emergency number in digits, e.g. \"112\"",
            false,
        ) {
            emergency.numbers.push(d);
        }
    }
    for (i, n) in raw.emergency.routing_prefixes.iter().enumerate() {
        if let Some(d) = cx.digits(
            n,
            &format!("emergency.routing_prefixes[{i}]"),
            "a routing prefix in digits",
            false,
        ) {
            emergency.routing_prefixes.push(d);
        }
    }

    // [list_guard]
    let mut guard = Guard::default();
    if let Some(m) = &raw.list_guard.min_prefix_digits {
        match u8::try_from(*m.get_ref()) {
            Ok(v) if (1..=15).contains(&v) => guard.min_prefix_digits = v,
            _ => {
                cx.err::<()>(
                    Some(m.span()),
                    "list_guard.min_prefix_digits",
                    "must be a number of digits from 1 to 15 (default 6)",
                );
            }
        }
    }

    // [[lists]]
    let mut lists = Vec::new();
    let mut roles_by_name: HashMap<String, Role> = HashMap::new();
    for (i, l) in raw.lists.iter().enumerate() {
        let key = format!("lists[{i}]");
        let lv = l.get_ref();
        let span = Some(l.span());
        if !valid_name(&lv.name) {
            cx.err::<()>(
                span.clone(),
                format!("{key}.name"),
                format!(
                    "{:?} must be 1 to 64 letters, digits, '.', '_' or '-'",
                    lv.name
                ),
            );
            continue;
        }
        if roles_by_name.contains_key(&lv.name) {
            cx.err::<()>(
                span,
                format!("{key}.name"),
                format!(
                    "list {:?} is configured twice; list names must be unique",
                    lv.name
                ),
            );
            continue;
        }
        let Some(role) = Role::from_name(&lv.role) else {
            cx.err::<()>(
                span,
                format!("{key}.role"),
                format!(
                    "{:?} is not a role; use blocklist, withdrawn, allowlist or protected",
                    lv.role
                ),
            );
            continue;
        };
        let kind = match lv.kind.as_deref() {
            None if role == Role::Protected => ListKind::Companies,
            None => ListKind::Numbers,
            Some(k) => match ListKind::from_name(k) {
                Some(k) => k,
                None => {
                    cx.err::<()>(
                        span,
                        format!("{key}.kind"),
                        format!("{k:?} is not a list kind; use numbers, networks or companies"),
                    );
                    continue;
                }
            },
        };
        if (kind == ListKind::Companies) != (role == Role::Protected) {
            cx.err::<()>(span, format!("{key}.kind"), "a protected list holds companies (kind \"companies\"), and only a protected list does");
            continue;
        }
        if kind == ListKind::Networks && role == Role::Allowlist {
            cx.err::<()>(span, format!("{key}.kind"), "an allowlist holds numbers; a network allowlist would lift blocks for a whole network");
            continue;
        }
        let bloom = match lv.bloom_fp_rate {
            None => BloomParams::default(),
            Some(p) if p > 0.0 && p <= 0.5 => BloomParams::FalsePositiveRate(p),
            Some(p) => {
                cx.err::<()>(
                    span,
                    format!("{key}.bloom_fp_rate"),
                    format!("{p} must be a rate above 0 and at most 0.5 (default 0.01)"),
                );
                continue;
            }
        };
        if lv.file.is_empty() {
            cx.err::<()>(
                span,
                format!("{key}.file"),
                "the seed file of the list is missing",
            );
            continue;
        }
        roles_by_name.insert(lv.name.clone(), role);
        lists.push(ListSpec {
            name: lv.name.clone(),
            role,
            kind,
            file: base.join(&lv.file),
            required: lv.required,
            bloom,
        });
    }

    // [policy]
    let rules = rule_table(&mut cx, &raw.policy.rules, "policy.rules", &roles_by_name);

    // [[sbcs]]
    let mut sbcs = Vec::new();
    for (i, s) in raw.sbcs.iter().enumerate() {
        let key = format!("sbcs[{i}]");
        let sv = s.get_ref();
        let nets = cx.cidrs(&sv.addresses, &format!("{key}.addresses"));
        if sv.addresses.is_empty() {
            cx.err::<()>(Some(s.span()), format!("{key}.addresses"), "an SBC needs at least one address (CIDR), or trunk ids it signals could come from anyone");
        }
        for (field, v) in [
            ("trunk_param", &sv.trunk_param),
            ("trunk_header", &sv.trunk_header),
        ] {
            if v.as_deref().is_some_and(|h| {
                h.is_empty()
                    || !h
                        .bytes()
                        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
            }) {
                cx.err::<()>(
                    Some(s.span()),
                    format!("{key}.{field}"),
                    "must be a parameter or header name (letters, digits, '-')",
                );
            }
        }
        let default_peer = sv.default_peer.as_ref().and_then(|d| {
            let found = raw.peers.iter().position(|p| &p.get_ref().name == d);
            if found.is_none() {
                cx.err::<()>(
                    Some(s.span()),
                    format!("{key}.default_peer"),
                    format!("there is no peer named {d:?} in [[peers]]"),
                );
            }
            found
        });
        sbcs.push(Sbc {
            name: sv.name.clone(),
            nets,
            trunk_param: sv.trunk_param.clone(),
            trunk_header: sv.trunk_header.clone(),
            default_peer,
        });
    }

    // [[peers]]
    let mut peers = Vec::new();
    let mut matches = Vec::new();
    let mut names = HashSet::new();
    let mut trunk_owner: HashMap<String, String> = HashMap::new();
    for (i, p) in raw.peers.iter().enumerate() {
        let key = format!("peers[{i}]");
        let pv = p.get_ref();
        if pv.name.is_empty() || !names.insert(pv.name.clone()) {
            cx.err::<()>(
                Some(p.span()),
                format!("{key}.name"),
                format!("peer name {:?} must be non-empty and unique", pv.name),
            );
        }
        let international = match pv.scope.get_ref().as_str() {
            "international" => true,
            "domestic" => false,
            other => {
                cx.err::<()>(
                    Some(pv.scope.span()),
                    format!("{key}.scope"),
                    format!("{other:?} is not a scope; use \"international\" or \"domestic\""),
                );
                false
            }
        };
        let nets = cx.cidrs(&pv.addresses, &format!("{key}.addresses"));
        if pv.trunk_ids.is_empty() && pv.addresses.is_empty() {
            cx.err::<()>(Some(p.span()), &key, "a peer needs trunk_ids (signalled by an SBC) or addresses (CIDRs), so that calls can be matched to it");
        }
        for t in &pv.trunk_ids {
            if let Some(other) = trunk_owner.insert(t.clone(), pv.name.clone()) {
                cx.err::<()>(
                    Some(p.span()),
                    format!("{key}.trunk_ids"),
                    format!(
                        "trunk id {t:?} is also given to peer {other:?}; a trunk id names one peer"
                    ),
                );
            }
        }
        let context = match &pv.number_context {
            None if international => NumberContext::e164_only(),
            None => home.clone(),
            Some(v) => number_context(&mut cx, v, &format!("{key}.number_context"), &home)
                .unwrap_or_else(|| home.clone()),
        };
        let rules = rule_table(&mut cx, &pv.rules, &format!("{key}.rules"), &roles_by_name);
        peers.push(Peer {
            name: pv.name.clone(),
            international,
            pai_trusted: pv.pai_trusted,
            domestic_cli_allowed: pv.domestic_cli_allowed,
            shaken_signs: pv.shaken_signs,
            context,
            rules,
        });
        matches.push(PeerMatch {
            trunk_ids: pv.trunk_ids.clone(),
            nets,
        });
    }

    // [tags]
    let t = &raw.tags;
    if t.header.is_empty()
        || !t
            .header
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    {
        cx.err::<()>(
            None,
            "tags.header",
            format!(
                "{:?} must be a SIP header name (letters, digits, '-')",
                t.header
            ),
        );
    }
    if t.display_prefix.contains(['"', '\\', '\r', '\n']) {
        cx.err::<()>(
            None,
            "tags.display_prefix",
            "must not contain quotes, backslashes or line breaks",
        );
    }

    let (sip, redirect, log) = server_sections(&mut cx, &raw);
    let proxy = proxy_section(&mut cx, &raw, &sip);
    let api = api_section(&mut cx, &raw, base, &roles_by_name);

    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    let mut policy = Policy::new(
        home,
        plans,
        emergency,
        peers,
        rules,
        raw.policy
            .reject_text
            .as_deref()
            .unwrap_or("Network blocked"),
    );
    if let Some(a) = raw.shaken.max_age_secs {
        policy.shaken_max_age = a;
    }
    Ok(Settings {
        path: path.to_path_buf(),
        policy,
        guard,
        lists,
        sbcs,
        peers: matches,
        tags: TagSettings {
            header: t.header.clone(),
            display_prefix: t.display_prefix.clone(),
            in_contact_uri: t.in_contact_uri,
        },
        sip,
        redirect,
        proxy,
        log,
        api,
    })
}

fn api_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
    lists: &HashMap<String, Role>,
) -> Option<super::ApiSettings> {
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
        let key = format!("api.clients[{i}]");
        let cv = c.get_ref();
        let Some(token_sha256) = super::parse_sha256(&cv.token_sha256.to_ascii_lowercase()) else {
            cx.err::<()>(Some(c.span()), format!("{key}.token_sha256"), "must be the SHA-256 of the token, 64 hex digits (callscreen api hash-token prints it); never the token itself");
            continue;
        };
        let mut operations = Vec::new();
        for o in &cv.operations {
            match super::Operation::from_name(o) {
                Some(op) => operations.push(op),
                None => {
                    cx.err::<()>(
                        Some(c.span()),
                        format!("{key}.operations"),
                        format!("{o:?} is not an operation; use read, replace, patch or rollback"),
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
            Some(k) => match crate::api::sign::public_key(k) {
                Some(k) => Some(k),
                None => {
                    cx.err::<()>(Some(c.span()), format!("{key}.sign_key"), "must be an Ed25519 public key, 64 hex digits (callscreen api keygen prints one)");
                    continue;
                }
            },
        };
        clients.push(super::Client {
            name: cv.name.clone(),
            token_sha256,
            lists: cv.lists.clone(),
            operations,
            sign_key,
        });
    }
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Some((base.join(c), base.join(k))),
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
    Some(super::ApiSettings {
        listen,
        state_dir,
        max_body_bytes: a.max_body_bytes.unwrap_or(super::DEFAULT_MAX_BODY),
        clients,
        tls,
        client_ca,
    })
}

fn addresses(
    cx: &mut Ctx<'_>,
    v: &Option<Vec<Spanned<String>>>,
    key: &str,
    default: &str,
) -> Vec<std::net::SocketAddr> {
    let Some(v) = v else {
        return default.parse().into_iter().collect();
    };
    let mut out = Vec::new();
    for (i, a) in v.iter().enumerate() {
        match a.get_ref().parse::<std::net::SocketAddr>() {
            Ok(s) => out.push(s),
            Err(_) => {
                cx.err::<()>(Some(a.span()), format!("{key}[{i}]"), format!("{:?} is not an address to listen on; write IP:PORT, e.g. \"0.0.0.0:5060\" or \"[::]:5060\"", a.get_ref()));
            }
        }
    }
    out
}

fn server_sections(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
) -> (SipSettings, RedirectSettings, LogSettings) {
    let s = &raw.sip;
    let mode = match s.mode.as_ref().map(|m| (m.get_ref().as_str(), m.span())) {
        None | Some(("redirect", _)) => Mode::Redirect,
        Some(("proxy", _)) => Mode::Proxy,
        Some((other, span)) => {
            cx.err::<()>(Some(span), "sip.mode", format!("{other:?} is not a mode; use \"redirect\" (answer 302 towards [redirect] next_hop) or \"proxy\" (forward to [proxy] next_hops)"));
            Mode::Redirect
        }
    };
    let unknown_source = match s
        .unknown_source
        .as_ref()
        .map(|m| (m.get_ref().as_str(), m.span()))
    {
        None | Some(("reject", _)) => UnknownSource::Reject,
        Some(("drop", _)) => UnknownSource::Drop,
        Some((other, span)) => {
            cx.err::<()>(
                Some(span),
                "sip.unknown_source",
                format!("{other:?}: use \"reject\" (403) or \"drop\""),
            );
            UnknownSource::Reject
        }
    };
    let udp = addresses(cx, &s.udp, "sip.udp", "127.0.0.1:5060");
    let tcp = addresses(cx, &s.tcp, "sip.tcp", "127.0.0.1:5060");
    let max_message = s.max_message_bytes.unwrap_or(65_536);
    if !(1024..=1 << 20).contains(&max_message) {
        cx.err::<()>(
            None,
            "sip.max_message_bytes",
            "must be from 1024 to 1048576 (default 65536)",
        );
    }
    let max_headers = s.max_headers.unwrap_or(128);
    if !(16..=1024).contains(&max_headers) {
        cx.err::<()>(
            None,
            "sip.max_headers",
            "must be from 16 to 1024 (default 128)",
        );
    }
    let sip = SipSettings {
        mode,
        udp,
        tcp,
        udp_threads: s.udp_threads.unwrap_or(0),
        limits: crate::sip::Limits {
            max_message,
            max_headers,
        },
        unknown_source,
        tcp_max_connections: s.tcp_max_connections.unwrap_or(1024).max(1),
        tcp_idle_timeout: std::time::Duration::from_secs(
            s.tcp_idle_timeout_secs.unwrap_or(300).max(1),
        ),
        retransmission_cache: s.retransmission_cache.unwrap_or(65_536),
    };

    let r = &raw.redirect;
    let next_hop = match &r.next_hop {
        None => "127.0.0.1:5080".to_string(),
        Some(h) => {
            let v = h.get_ref().trim();
            let v = v.strip_prefix("sip:").unwrap_or(v);
            if v.is_empty() || v.contains(['@', ' ', '<', '>', ';', '?']) {
                cx.err::<()>(Some(h.span()), "redirect.next_hop", format!("{:?} must be host[:port] of the SBC side that routes the call on, e.g. \"sbc.example.net:5060\"", h.get_ref()));
            } else if let Ok(a) = v.parse::<std::net::SocketAddr>()
                && (sip.udp.contains(&a) || sip.tcp.contains(&a))
            {
                cx.err::<()>(
                    Some(h.span()),
                    "redirect.next_hop",
                    "points back at callscreen's own listener: a 302 there would loop",
                );
            }
            v.to_string()
        }
    };
    let clean_code = match &r.clean_code {
        None => 302,
        Some(c) => match u16::try_from(*c.get_ref()) {
            Ok(v) if (300..=699).contains(&v) => v,
            _ => {
                cx.err::<()>(Some(c.span()), "redirect.clean_code", "must be a final response code from 300 to 699 (302 by default; some SBCs route on 404 or 503)");
                302
            }
        },
    };
    let redirect = RedirectSettings {
        next_hop,
        clean_code,
    };

    let l = &raw.log;
    let json = match l.format.as_ref().map(|f| (f.get_ref().as_str(), f.span())) {
        None | Some(("text", _)) => false,
        Some(("json", _)) => true,
        Some((other, span)) => {
            cx.err::<()>(
                Some(span),
                "log.format",
                format!("{other:?}: use \"text\" or \"json\""),
            );
            false
        }
    };
    let level = l
        .level
        .as_ref()
        .map_or_else(|| "info".to_string(), |v| v.get_ref().clone());
    if !["error", "warn", "info", "debug", "trace"].contains(&level.as_str()) {
        let span = l.level.as_ref().map(|v| v.span());
        cx.err::<()>(
            span,
            "log.level",
            format!(
                "{level:?}: use error, warn, info, debug or trace (RUST_LOG takes a full filter)"
            ),
        );
    }
    let log = LogSettings {
        json,
        level,
        mask_caller: l.mask_caller,
        queue_lines: l.queue_lines.unwrap_or(65_536).max(1024),
    };
    (sip, redirect, log)
}

fn proxy_section(cx: &mut Ctx<'_>, raw: &schema::Config, sip: &SipSettings) -> ProxySettings {
    let p = &raw.proxy;
    let mut next_hops = Vec::new();
    for (i, h) in p.next_hops.iter().flatten().enumerate() {
        let key = format!("proxy.next_hops[{i}]");
        match parse_next_hop(h.get_ref()) {
            Ok(hop) if sip.udp.contains(&hop.addr) || sip.tcp.contains(&hop.addr) => {
                cx.err::<()>(
                    Some(h.span()),
                    key,
                    "points back at callscreen's own listener: forwarding there would loop",
                );
            }
            Ok(hop) => next_hops.push(hop),
            Err(why) => {
                cx.err::<()>(Some(h.span()), key, format!("{:?}: {why}; write \"sip:IP:PORT\" or \"sip:IP:PORT;transport=tcp\", e.g. \"sip:192.0.2.20:5060\"", h.get_ref()));
            }
        }
    }
    if sip.mode == Mode::Proxy && next_hops.is_empty() && p.next_hops.iter().flatten().count() == 0
    {
        cx.err::<()>(
            None,
            "proxy.next_hops",
            "proxy mode needs at least one next hop: add [proxy] next_hops = [\"sip:IP:PORT\"] (the core or SBC side that routes calls on)",
        );
    }
    let via_host = p.via_host.as_ref().map(|h| h.get_ref().trim().to_string());
    if let (Some(h), Some(span)) = (&via_host, p.via_host.as_ref().map(|h| h.span()))
        && (h.is_empty()
            || h.contains([' ', ';', ',', '<', '>', '@', ':'])
                && h.parse::<std::net::Ipv6Addr>().is_err())
    {
        cx.err::<()>(
            Some(span),
            "proxy.via_host",
            format!("{h:?} must be a host name or IP address without a port, e.g. \"192.0.2.10\""),
        );
    }
    let unspecified = sip
        .udp
        .iter()
        .chain(&sip.tcp)
        .any(|a| a.ip().is_unspecified());
    if sip.mode == Mode::Proxy && via_host.is_none() && unspecified {
        cx.err::<()>(
            None,
            "proxy.via_host",
            "callscreen listens on an unspecified address (0.0.0.0 or ::), so it cannot tell which address to write in its Via: set [proxy] via_host = \"<the address the next hops reach callscreen on>\"",
        );
    }
    ProxySettings {
        next_hops,
        via_host,
        probe_interval: std::time::Duration::from_secs(p.probe_interval_secs.unwrap_or(5)),
        down_for: std::time::Duration::from_secs(p.down_secs.unwrap_or(30).max(1)),
    }
}

/// `sip:IP:PORT[;transport=udp|tcp]` (or without `sip:`); the port defaults to 5060.
pub fn parse_next_hop(v: &str) -> Result<NextHop, &'static str> {
    let v = v.trim();
    let v = v.strip_prefix("sip:").unwrap_or(v);
    let (addr, params) = v.split_once(';').unwrap_or((v, ""));
    let mut tcp = false;
    for p in params.split(';').filter(|p| !p.is_empty()) {
        match p.to_ascii_lowercase().as_str() {
            "transport=udp" => tcp = false,
            "transport=tcp" => tcp = true,
            _ => return Err("only the parameter transport=udp or transport=tcp is understood"),
        }
    }
    let addr = match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => a,
        Err(_) => match addr.parse::<std::net::IpAddr>() {
            Ok(ip) => std::net::SocketAddr::new(ip, 5060),
            Err(_) => match addr
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::Ipv6Addr>()
            {
                Ok(ip) => std::net::SocketAddr::new(ip.into(), 5060),
                Err(_) => {
                    return Err(
                        "not an IP address with an optional port (host names are not resolved: the call path does no DNS)",
                    );
                }
            },
        },
    };
    if addr.port() == 0 || addr.ip().is_unspecified() {
        return Err("needs a real address and port");
    }
    Ok(NextHop { addr, tcp })
}

fn number_context(
    cx: &mut Ctx<'_>,
    v: &Spanned<toml::Value>,
    key: &str,
    home: &NumberContext,
) -> Option<NumberContext> {
    const EXPECT: &str = "use \"home\", \"e164\", or a table { country_code = \"49\", trunk_prefix = \"0\", international_prefix = \"00\" }";
    match v.get_ref() {
        toml::Value::String(s) if s == "home" => Some(home.clone()),
        toml::Value::String(s) if s == "e164" => Some(NumberContext::e164_only()),
        toml::Value::Table(t) => {
            let field = |name: &str, default: &str| -> Result<String, String> {
                match t.get(name) {
                    None => Ok(default.to_string()),
                    Some(toml::Value::String(s))
                        if s.bytes().all(|c| c.is_ascii_digit()) && s.len() <= 4 =>
                    {
                        Ok(s.clone())
                    }
                    Some(_) => Err(format!("{name} must be a string of digits")),
                }
            };
            if let Some(k) = t.keys().find(|k| {
                !["country_code", "trunk_prefix", "international_prefix"].contains(&k.as_str())
            }) {
                return cx.err(Some(v.span()), key, format!("unknown key {k:?}; {EXPECT}"));
            }
            let cc = match t.get("country_code") {
                Some(toml::Value::String(s))
                    if (1..=3).contains(&s.len())
                        && s.bytes().all(|c| c.is_ascii_digit())
                        && !s.starts_with('0') =>
                {
                    s.clone()
                }
                _ => {
                    return cx.err(
                        Some(v.span()),
                        format!("{key}.country_code"),
                        format!("a country code of 1 to 3 digits is required; {EXPECT}"),
                    );
                }
            };
            match (
                field("trunk_prefix", "0"),
                field("international_prefix", "00"),
            ) {
                (Ok(trunk_prefix), Ok(international_prefix)) => Some(NumberContext {
                    country_code: Some(cc),
                    trunk_prefix,
                    international_prefix,
                }),
                (Err(e), _) | (_, Err(e)) => cx.err(Some(v.span()), key, format!("{e}; {EXPECT}")),
            }
        }
        _ => cx.err(Some(v.span()), key, EXPECT),
    }
}

fn rule_table(
    cx: &mut Ctx<'_>,
    rules: &BTreeMap<String, Spanned<toml::Value>>,
    prefix: &str,
    lists: &HashMap<String, Role>,
) -> RuleTable {
    let mut table = RuleTable::default();
    for (k, v) in rules {
        let key = format!("{prefix}.{k:?}");
        let rk = match ReasonKey::parse(k) {
            Ok(rk) => rk,
            Err(e) => {
                cx.err::<()>(Some(v.span()), &key, e);
                continue;
            }
        };
        if let Some(l) = &rk.list {
            let want = if rk.kind == ReasonKind::Blocklist {
                Role::Blocklist
            } else {
                Role::Withdrawn
            };
            if lists.get(l) != Some(&want) {
                cx.err::<()>(
                    Some(v.span()),
                    &key,
                    format!("there is no {} list named {l:?} in [[lists]]", want.name()),
                );
                continue;
            }
        }
        if let Some(rule) = rule(cx, v, &key) {
            if rk.kind == ReasonKind::Emergency && rule.action != Action::Allow {
                cx.err::<()>(Some(v.span()), &key, "a call to an emergency number is never rejected, tagged or anonymised; remove this rule");
                continue;
            }
            table.set(rk, rule);
        }
    }
    table
}

fn rule(cx: &mut Ctx<'_>, v: &Spanned<toml::Value>, key: &str) -> Option<Rule> {
    const EXPECT: &str = "write \"allow\", \"tag\", \"anonymise\", \"reject\", or a table { action = \"reject\", code = 608, text = \"…\", monitor = true }";
    let span = Some(v.span());
    let (action, code, text, monitor) = match v.get_ref() {
        toml::Value::String(s) => (s.as_str(), None, None, false),
        toml::Value::Table(t) => {
            if let Some(bad) = t
                .keys()
                .find(|k| !["action", "code", "text", "monitor"].contains(&k.as_str()))
            {
                return cx.err(span, key, format!("unknown key {bad:?}; {EXPECT}"));
            }
            let Some(toml::Value::String(a)) = t.get("action") else {
                return cx.err(span, key, format!("action is missing; {EXPECT}"));
            };
            let code = match t.get("code") {
                None => None,
                Some(toml::Value::Integer(c)) => Some(*c),
                Some(_) => {
                    return cx.err(
                        span,
                        format!("{key}.code"),
                        "must be a SIP response code, e.g. 608",
                    );
                }
            };
            let text = match t.get("text") {
                None => None,
                Some(toml::Value::String(s)) if !s.contains(['"', '\\', '\r', '\n']) => {
                    Some(s.clone())
                }
                Some(_) => {
                    return cx.err(
                        span,
                        format!("{key}.text"),
                        "must be a string without quotes, backslashes or line breaks",
                    );
                }
            };
            let monitor = match t.get("monitor") {
                None => false,
                Some(toml::Value::Boolean(b)) => *b,
                Some(_) => return cx.err(span, format!("{key}.monitor"), "must be true or false"),
            };
            (a.as_str(), code, text, monitor)
        }
        _ => return cx.err(span, key, EXPECT),
    };
    let action = match (action, code) {
        ("allow", None) => Action::Allow,
        ("tag", None) => Action::Tag,
        ("anonymise" | "anonymize", None) => Action::Anonymise,
        ("reject", None) => Action::Reject {
            code: DEFAULT_REJECT_CODE,
        },
        ("reject", Some(607)) => {
            return cx.err(span, format!("{key}.code"), "607 Unwanted is the called user's own verdict (RFC 8197), not the network's: use 608 (RFC 8688) or 603");
        }
        ("reject", Some(c)) if (400..=699).contains(&c) => Action::Reject { code: c as u16 },
        ("reject", Some(c)) => {
            return cx.err(
                span,
                format!("{key}.code"),
                format!(
                    "{c} is not a final error response: use a 6xx (608 or 603) or a 4xx such as 403"
                ),
            );
        }
        ("allow" | "tag" | "anonymise" | "anonymize", Some(_)) => {
            return cx.err(span, format!("{key}.code"), "only a reject takes a code");
        }
        (other, _) => return cx.err(span, key, format!("{other:?} is not an action; {EXPECT}")),
    };
    Some(Rule {
        action,
        monitor,
        text: text.map(Into::into),
    })
}
