//! `calls find` (a running daemon's records, through its API) and `calls
//! export` (this node's records directory, read directly).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::FindArgs;
use crate::records::query::{CSV_HEADER, csv_line, when};

/// `calls find`: the matching calls as a table (or JSON, or CSV).
pub fn find(a: &FindArgs) -> ExitCode {
    let q = super::query_value;
    let mut path = format!("/v1/calls?limit={}&offset={}", a.limit, a.offset);
    for (k, v) in [
        ("ref", &a.reference),
        ("call_id", &a.call_id),
        ("caller", &a.caller),
        ("callee", &a.callee),
        ("peer", &a.peer),
        ("since", &a.since),
        ("until", &a.until),
    ] {
        if let Some(v) = v {
            path.push_str(&format!("&{k}={}", q(v)));
        }
    }
    if a.fleet {
        path.push_str("&fleet=1");
    }
    if a.csv {
        path.push_str("&format=csv");
        return super::lists::api_call(&a.api, "GET", &path, None, b"");
    }
    super::lists::shown(&a.api, &path, a.json, calls_table)
}

/// Recorded calls for a terminal, oldest first.
pub fn calls_table(v: &serde_json::Value) -> String {
    let calls = v["calls"].as_array().cloned().unwrap_or_default();
    if calls.is_empty()
        && v["fleet"]["missing"]
            .as_array()
            .is_none_or(|m| m.is_empty())
    {
        return "no recorded call matches\n".into();
    }
    let s = |x: &serde_json::Value| x.as_str().unwrap_or("-").to_string();
    let fleet = v.get("fleet").is_some();
    let mut rows = vec![[
        "time (UTC)".to_string(),
        "node".into(),
        "ref".into(),
        "peer".into(),
        "caller".into(),
        "pai".into(),
        "callee".into(),
        "verdict".into(),
        "code".into(),
        "reasons".into(),
        "call_id".into(),
    ]];
    for c in &calls {
        let ms = c["time_ms"].as_u64().unwrap_or(0);
        let t = format!(
            "{}.{:03}",
            crate::lists::format_expiry(ms / 1000).trim_end_matches('Z'),
            ms % 1000
        );
        rows.push([
            t,
            s(&c["node"]),
            s(&c["ref"]),
            s(&c["peer"]),
            s(&c["caller"]),
            s(&c["pai"]),
            s(&c["callee"]),
            s(&c["verdict"]),
            c["code"].to_string(),
            s(&c["reasons"]),
            s(&c["call_id"]),
        ]);
    }
    let mut widths = [0; 11];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        // The node column only over the fleet.
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .enumerate()
            .filter(|(i, _)| fleet || *i != 1)
            .map(|(_, (c, w))| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    let missing: Vec<&str> = v["fleet"]["missing"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
        .unwrap_or_default();
    if !missing.is_empty() {
        out.push_str(&format!(
            "nodes that did not answer (their calls are not above): {}\n",
            missing.join(", ")
        ));
    }
    if v["more"].as_bool() == Some(true) {
        out.push_str(&format!(
            "more calls match: --offset {} for the next page\n",
            v["next_offset"]
        ));
    }
    out
}

/// `calls seal`: the daemon's sealing process (hidden; `records::Sealing`).
pub fn seal(dir: &Path, generation: u64, parent: u32) -> ExitCode {
    match crate::records::seal_child(dir, generation, parent) {
        Ok(s) => {
            println!("records={} torn={}", s.records, u8::from(s.torn));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

/// `calls export`: the window's records as CSV on stdout or one Parquet file.
pub fn export(
    config: &Path,
    since: &str,
    until: Option<&str>,
    format: &str,
    output: Option<&PathBuf>,
) -> ExitCode {
    let settings = match crate::config::load(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Some(rs) = settings.records else {
        eprintln!(
            "{}: [records] is not configured: no call records to export",
            config.display()
        );
        return ExitCode::from(2);
    };
    let now = crate::clock::unix_now_ms();
    let window = |v: &str, what: &str| {
        when(v, now).ok_or_else(|| {
            format!("--{what} {v:?}: unix seconds, YYYY-MM-DD, or an age such as 90m, 24h or 7d")
        })
    };
    let (since_ms, until_ms) = match (window(since, "since"), until.map(|u| window(u, "until"))) {
        (Ok(s), None) => (s, u64::MAX),
        (Ok(s), Some(Ok(u))) => (s, u),
        (Err(e), _) | (_, Some(Err(e))) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let search = crate::records::query::Search {
        since_ms,
        until_ms,
        limit: usize::MAX,
        ..Default::default()
    };
    let found = match crate::records::query::run(&rs.dir, &search) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    match (format, output) {
        ("parquet", Some(out)) => {
            match crate::records::file::write(out, &found.records[..])
                .and_then(|f| Ok(f.sync_all()?))
            {
                Ok(()) => {
                    eprintln!("{} calls written to {}", found.records.len(), out.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("{}: {e}", out.display());
                    ExitCode::from(1)
                }
            }
        }
        ("parquet", None) => {
            eprintln!("--format parquet needs --output FILE");
            ExitCode::from(2)
        }
        _ => {
            use std::io::Write;
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            let mut ok = writeln!(w, "{CSV_HEADER}").is_ok();
            for r in &found.records {
                ok &= writeln!(w, "{}", csv_line(r)).is_ok();
            }
            if ok && w.flush().is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}
