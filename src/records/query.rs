//! Finding recorded calls: the search a query string asks for (the API's
//! `GET /v1/calls`, the fleet's fan-out, `calls find`), run over the
//! records directory, and records as CSV (`format=csv`, `calls export`).

use super::file::Find;
use super::row::Record;
use super::store::{self, Query};

/// Most calls one page gives.
pub const MAX_LIMIT: usize = 10_000;

/// A point in time: unix seconds, `YYYY-MM-DD` (its start, UTC), or an
/// age (`90m`, `24h`, `7d`) back from `now_ms`; in unix milliseconds.
pub fn when(v: &str, now_ms: u64) -> Option<u64> {
    let age = |n: &str, unit: u64| {
        n.parse::<u64>()
            .ok()
            .map(|n| now_ms.saturating_sub(n * unit))
    };
    if let Some(n) = v.strip_suffix('m') {
        return age(n, 60_000);
    }
    if let Some(n) = v.strip_suffix('h') {
        return age(n, 3_600_000);
    }
    if let Some(n) = v.strip_suffix('d') {
        return age(n, 86_400_000);
    }
    v.parse::<u64>()
        .ok()
        .map(|s| s * 1000)
        .or_else(|| crate::lists::parse_expiry(v).map(|t| t.saturating_sub(86_400) * 1000))
}

/// What `GET /v1/calls` asks.
#[derive(Debug, Default)]
pub struct Search {
    pub key: Option<(&'static str, String)>,
    pub peer: Option<String>,
    pub since_ms: u64,
    pub until_ms: u64,
    pub limit: usize,
    pub offset: usize,
    pub csv: bool,
    /// Every node of the fleet (`fleet=1`).
    pub fleet: bool,
}

const KEYS: &str =
    "ref, call_id, caller, callee, peer, since, until, limit, offset, format and fleet";

pub fn search(q: Option<&str>, now_ms: u64) -> Result<Search, String> {
    let mut s = Search {
        until_ms: u64::MAX,
        limit: 100,
        ..Search::default()
    };
    for pair in q.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        let key = |name: &'static str, s: &mut Search| -> Result<(), String> {
            if let Some((other, _)) = &s.key {
                return Err(format!(
                    "{other} and {name}: give one of ref, call_id, caller and callee"
                ));
            }
            s.key = Some((name, v.clone()));
            Ok(())
        };
        match k {
            "ref" | "call_id" => key(if k == "ref" { "ref" } else { "call_id" }, &mut s)?,
            "caller" | "callee" => {
                if crate::number::E164::parse_plus(&v).is_none() {
                    return Err(format!(
                        "{k}={v:?}: a number in E.164 form, e.g. +31201234567"
                    ));
                }
                key(if k == "caller" { "caller" } else { "callee" }, &mut s)?;
            }
            "peer" => s.peer = Some(v),
            "since" | "until" => {
                let t = when(&v, now_ms).ok_or_else(|| {
                    format!("{k}={v:?}: unix seconds, YYYY-MM-DD, or an age such as 90m, 24h or 7d")
                })?;
                if k == "since" {
                    s.since_ms = t;
                } else {
                    s.until_ms = t;
                }
            }
            "limit" => {
                s.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit={v:?}: 1 to {MAX_LIMIT} calls a page"))?;
            }
            "offset" => {
                s.offset = v
                    .parse()
                    .map_err(|_| format!("offset={v:?}: a number of calls to skip"))?;
            }
            "fleet" => match v.as_str() {
                "1" | "true" => s.fleet = true,
                "0" | "false" => s.fleet = false,
                _ => return Err(format!("fleet={v:?}: 1 (every node of the fleet) or 0")),
            },
            "format" => match v.as_str() {
                "csv" => s.csv = true,
                "json" => s.csv = false,
                _ => return Err(format!("format={v:?}: csv or json")),
            },
            _ => {
                return Err(format!(
                    "unknown parameter {k:?}; the parameters are {KEYS}"
                ));
            }
        }
    }
    if s.key.is_none() && s.peer.is_none() && s.since_ms == 0 && s.until_ms == u64::MAX {
        return Err(format!(
            "say what to find: one of ref, call_id, caller or callee, or a peer or a time window (the parameters are {KEYS})"
        ));
    }
    Ok(s)
}

fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(x) => {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Runs a search on the records directory.
pub fn run(dir: &std::path::Path, s: &Search) -> Result<store::Found, String> {
    let (columns, value): (&[&str], Option<&str>) = match &s.key {
        None => (&[], None),
        Some(("caller", v)) => (&["caller", "pai"], Some(v)),
        Some(("ref", v)) => (&["ref"], Some(v)),
        Some(("call_id", v)) => (&["call_id"], Some(v)),
        Some((_, v)) => (&["callee"], Some(v)),
    };
    let keep = |r: &Record| {
        let key = match &s.key {
            None => true,
            Some(("caller", v)) => &r.caller == v || r.pai.as_ref() == Some(v),
            Some(("ref", v)) => r.reference.as_ref() == Some(v),
            Some(("call_id", v)) => &r.call_id == v,
            Some((_, v)) => r.callee.as_ref() == Some(v),
        };
        key && s.peer.as_ref().is_none_or(|p| &r.peer == p)
    };
    store::find(
        dir,
        &Query {
            find: Find {
                columns,
                value,
                since_ms: s.since_ms,
                until_ms: s.until_ms,
            },
            keep: &keep,
            offset: s.offset,
            limit: s.limit,
        },
    )
}

/// The CSV columns (the Parquet columns' names).
pub const CSV_HEADER: &str = "time_ms,call_id,ref,peer,source,direction,caller,caller_name,pai,pai_name,callee,to,emergency,diverted,passport,stir,insisted,burst_number,burst_block,roaming,verdict,code,reasons,lists,verstat,latency_us";

/// A record as one CSV line (RFC 4180 quoting).
pub fn csv_line(r: &Record) -> String {
    fn q(s: &str) -> String {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    }
    let o = |s: &Option<String>| s.as_deref().map(q).unwrap_or_default();
    [
        r.time_ms.to_string(),
        q(&r.call_id),
        o(&r.reference),
        q(&r.peer),
        o(&r.source),
        q(&r.direction),
        q(&r.caller),
        o(&r.caller_name),
        o(&r.pai),
        o(&r.pai_name),
        o(&r.callee),
        o(&r.to),
        r.emergency.to_string(),
        r.diverted.to_string(),
        o(&r.passport),
        o(&r.stir),
        r.insisted.to_string(),
        r.burst_number.to_string(),
        r.burst_block.to_string(),
        o(&r.roaming),
        q(&r.verdict),
        r.code.to_string(),
        q(&r.reasons),
        q(&r.lists),
        o(&r.verstat),
        r.latency_us.to_string(),
    ]
    .join(",")
}
