//! `[[sbcs]]` and `[[peers]]`: the SBCs whose trunk ids are believed, and
//! the peers calls come from, with their scope, trust, number context and
//! rules.

use std::collections::{HashMap, HashSet};

use super::context::Ctx;
use super::numbering::number_context;
use super::policy::rule_table;
use super::schema;
use super::settings::{OverLimit, PeerLimit, PeerMatch, Sbc, SignMode};
use crate::lists::Role;
use crate::number::NumberContext;
use crate::screen::{NumberBlock, Peer, Profile};

/// `[[sbcs]]`.
pub(super) fn sbcs(cx: &mut Ctx<'_>, raw: &schema::Config) -> Vec<Sbc> {
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
            tls_names: sv
                .tls_names
                .iter()
                .map(|n| n.get_ref().trim().to_ascii_lowercase())
                .collect(),
        });
    }
    sbcs
}

/// Each peer's `profile`: the index of its country in `countries` (0,
/// `[home]`'s, when it names none or `[home]`'s own profile), the
/// countries of profiles not yet there added.
pub(super) fn profiles(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    countries: &mut Vec<(NumberContext, Option<&'static Profile>)>,
) -> Vec<usize> {
    let mut out = Vec::new();
    for (i, p) in raw.peers.iter().enumerate() {
        let Some(v) = &p.get_ref().profile else {
            out.push(0);
            continue;
        };
        let Some(profile) = super::numbering::profile(cx, v, &format!("peers[{i}].profile")) else {
            out.push(0);
            continue;
        };
        let ctx = super::numbering::profile_context(profile);
        let at = countries.iter().position(|(c, p)| {
            *p == Some(profile) || (p.is_none() && c.country_code == ctx.country_code)
        });
        match at {
            // `[home]` is this country without a profile: a peer can not
            // give it one of its own (its rules are the operator's).
            Some(0) if countries[0].1.is_none() => {
                cx.err::<()>(
                    Some(v.span()),
                    format!("peers[{i}].profile"),
                    format!(
                        "+{} is [home]'s country, which has no profile; set profile = {:?} in [home] instead",
                        profile.country_code, profile.code
                    ),
                );
                out.push(0);
            }
            Some(at) => out.push(at),
            None => {
                countries.push((ctx, Some(profile)));
                out.push(countries.len() - 1);
            }
        }
    }
    out
}

/// `[[peers]]`: each peer's screening attributes, and how its calls are
/// recognised (trunk ids, addresses). `countries` and `profiles`: the
/// countries screened for, and each peer's (`profiles`).
pub(super) fn peers(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    countries: &[(NumberContext, Option<&'static Profile>)],
    profiles: &[usize],
    roles_by_name: &HashMap<String, Role>,
) -> (Vec<Peer>, Vec<PeerMatch>) {
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
        // A domestic peer writes national numbers as its country does.
        let country = profiles.get(i).copied().unwrap_or(0);
        let home = &countries[country].0;
        let context = match &pv.number_context {
            None if international => NumberContext::e164_only(),
            None => home.clone(),
            Some(v) => number_context(cx, v, &format!("{key}.number_context"), home)
                .unwrap_or_else(|| home.clone()),
        };
        let rules = rule_table(cx, &pv.rules, &format!("{key}.rules"), roles_by_name);
        let originating = match pv
            .direction
            .as_ref()
            .map(|d| (d.get_ref().as_str(), d.span()))
        {
            None | Some(("terminating", _)) => false,
            Some(("originating", _)) => true,
            Some((other, span)) => {
                cx.err::<()>(
                    Some(span),
                    format!("{key}.direction"),
                    format!("{other:?} is not a direction; use \"terminating\" (calls into the operator's subscribers, the default) or \"originating\" (the subscribers' own calls)"),
                );
                false
            }
        };
        let mut assigned = Vec::new();
        for (j, a) in pv.assigned.iter().enumerate() {
            match NumberBlock::parse(a.get_ref()) {
                Some(b) => assigned.push(b),
                None => {
                    cx.err::<()>(
                        Some(a.span()),
                        format!("{key}.assigned[{j}]"),
                        format!("{:?} is not a number block; write an E.164 number (\"+31201234567\") or a prefix (\"+3120123*\")", a.get_ref()),
                    );
                }
            }
        }
        if !assigned.is_empty() && !originating {
            cx.err::<()>(
                Some(p.span()),
                format!("{key}.assigned"),
                "number blocks are checked on the caller IDs an originating trunk presents: set direction = \"originating\" too",
            );
        }
        let div_signs = match &pv.div_signs {
            Some(v) if *v.get_ref() => {
                if raw.stir.is_none() {
                    cx.err::<()>(
                        Some(v.span()),
                        format!("{key}.div_signs"),
                        "diversion PASSporTs (RFC 8946) are verified with [stir]: configure [stir] (its trust_anchors), or remove div_signs",
                    );
                }
                if !international {
                    cx.err::<()>(
                        Some(v.span()),
                        format!("{key}.div_signs"),
                        "div_signs decides whether a home-country caller ID from abroad was diverted by a home line: it applies to scope = \"international\" peers only",
                    );
                }
                true
            }
            _ => false,
        };
        peers.push(Peer {
            name: pv.name.clone(),
            international,
            pai_trusted: pv.pai_trusted,
            domestic_cli_allowed: pv.domestic_cli_allowed,
            shaken_signs: pv.shaken_signs,
            div_signs,
            originating,
            assigned,
            context,
            country,
            rules,
        });
        let limit = peer_limit(cx, raw, pv, &key, p.span());
        let sign = pv.sign.as_ref().and_then(|v| {
            let mode = match v.get_ref().as_str() {
                "customer" => SignMode::Customer,
                "gateway" => SignMode::Gateway,
                other => {
                    return cx.err(
                        Some(v.span()),
                        format!("{key}.sign"),
                        format!("{other:?}: use \"customer\" (attestation A for the operator's own numbers assigned to this trunk, else B) or \"gateway\" (C)"),
                    );
                }
            };
            if !originating {
                return cx.err(
                    Some(v.span()),
                    format!("{key}.sign"),
                    "only an originating trunk's calls are signed (the operator's own subscribers'): set direction = \"originating\"",
                );
            }
            if raw.signing.is_none() {
                return cx.err(
                    Some(v.span()),
                    format!("{key}.sign"),
                    "signing needs a [signing] section (key_file, x5u)",
                );
            }
            Some(mode)
        });
        matches.push(PeerMatch {
            trunk_ids: pv.trunk_ids.clone(),
            nets,
            limit,
            sign,
            tls_names: pv
                .tls_names
                .iter()
                .map(|n| n.get_ref().trim().to_ascii_lowercase())
                .collect(),
        });
    }
    (peers, matches)
}

/// A peer's rate limit: its own `calls_per_sec`/`burst`, else `[sip]`'s
/// `peer_calls_per_sec`/`peer_burst`; and what an INVITE over it gets.
fn peer_limit(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    pv: &schema::PeerEntry,
    key: &str,
    span: std::ops::Range<usize>,
) -> PeerLimit {
    let per_sec = pv
        .calls_per_sec
        .or(raw.sip.peer_calls_per_sec)
        .unwrap_or(DEFAULT_PEER_CALLS_PER_SEC);
    let burst = pv
        .burst
        .or(raw.sip.peer_burst)
        .unwrap_or(per_sec.saturating_mul(2))
        .max(1);
    let code = match &pv.over_limit_code {
        None => 480,
        Some(c) => match u16::try_from(*c.get_ref()) {
            Ok(n @ 400..=699) if n != 503 => n,
            _ => {
                cx.err::<()>(
                    Some(c.span()),
                    format!("{key}.over_limit_code"),
                    "must be a final answer from 400 to 699 other than 503 (a 503 makes an SBC stop sending anything to callscreen, RFC 3261 §21.5.4); e.g. 480 or 486",
                );
                480
            }
        },
    };
    let over = match pv
        .over_limit
        .as_ref()
        .map(|o| (o.get_ref().as_str(), o.span()))
    {
        None | Some(("pass", _)) => OverLimit::Pass,
        Some(("drop", _)) => OverLimit::Drop,
        Some(("reject", _)) => OverLimit::Reject(code),
        Some((other, sp)) => {
            cx.err::<()>(
                Some(sp),
                format!("{key}.over_limit"),
                format!("{other:?}: use \"pass\" (the fail-open answer, unscreened; the default), \"reject\" (answered with over_limit_code) or \"drop\" (no answer)"),
            );
            OverLimit::Pass
        }
    };
    if pv.over_limit_code.is_some() && !matches!(over, OverLimit::Reject(_)) {
        cx.err::<()>(
            Some(span),
            format!("{key}.over_limit_code"),
            "is the answer of over_limit = \"reject\"; set that too, or remove the code",
        );
    }
    PeerLimit {
        per_sec,
        burst,
        over,
    }
}

/// INVITEs per second a peer may send before its calls are shed (`[sip]
/// peer_calls_per_sec`): far above a busy interconnect's call rate, far
/// below what a flood sends.
pub const DEFAULT_PEER_CALLS_PER_SEC: u32 = 2000;
