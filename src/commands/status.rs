//! `callscreen status` and `callscreen reload`: a running daemon on one
//! screen, and its configuration reloaded through the API with the answer
//! a signal cannot give (what changed, or every error).

use std::fmt::Write;
use std::process::ExitCode;

use serde_json::Value;

use super::lists::credentials;
use crate::cli::ApiArgs;

/// One request to the API, its JSON answer (or the status and text of a
/// refusal); on failure said on stderr, the exit code given back.
fn call(api: &ApiArgs, method: &str, path: &str) -> Result<(u16, Value, String), ExitCode> {
    let (token, tls) = credentials(api)?;
    match crate::api::client::request(&api.url, method, path, Some(&token), None, b"", None, tls) {
        Ok(a) => {
            let v = serde_json::from_str(&a.body).unwrap_or(Value::Null);
            Ok((a.status, v, a.body))
        }
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(2))
        }
    }
}

fn duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h {}m", s / 3600, s / 60 % 60),
        s => format!("{}d {}h", s / 86_400, s / 3600 % 24),
    }
}

/// The status as text for a terminal.
pub fn render(v: &Value) -> String {
    let mut o = String::new();
    let addrs = |k: &str| {
        v["sip"][k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let _ = writeln!(
        o,
        "callscreen {}, up {}, {} mode, {}",
        v["version"].as_str().unwrap_or("?"),
        duration(v["uptime_secs"].as_u64().unwrap_or(0)),
        v["mode"].as_str().unwrap_or("?"),
        if v["ready"].as_bool() == Some(true) {
            "ready"
        } else {
            "NOT READY"
        }
    );
    let _ = writeln!(o, "config:  {}", v["config"].as_str().unwrap_or("?"));
    let mut listen = format!("udp {}  tcp {}", addrs("udp"), addrs("tcp"));
    if !addrs("tls").is_empty() {
        let _ = write!(listen, "  tls {}", addrs("tls"));
    }
    let _ = writeln!(o, "sip:     {listen}");
    let _ = writeln!(o, "api:     {}", v["api"].as_str().unwrap_or("?"));
    let _ = writeln!(o, "lists:");
    for l in v["lists"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  {:<24} {:<14} version {:<6} {:>10} entries{}",
            l["name"].as_str().unwrap_or("?"),
            l["role"].as_str().unwrap_or("?"),
            l["version"].as_u64().unwrap_or(0),
            l["entries"].as_u64().unwrap_or(0),
            match l["expired"].as_u64() {
                Some(n) if n > 0 => format!(" ({n} expired)"),
                _ => String::new(),
            }
        );
    }
    for m in v["lists_missing"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "  {:<24} MISSING", m.as_str().unwrap_or("?"));
    }
    let _ = writeln!(o, "peers:");
    for p in v["peers"].as_array().into_iter().flatten() {
        let _ = writeln!(
            o,
            "  {:<24} {:>10} calls {:>8} shed",
            p["name"].as_str().unwrap_or("?"),
            p["calls"].as_u64().unwrap_or(0),
            p["shed"].as_u64().unwrap_or(0)
        );
    }
    let fleet = match &v["fleet"] {
        Value::Null => "not in a fleet".to_string(),
        f if f["connected"].as_bool() == Some(true) => {
            format!("node {}, connected", f["node"].as_str().unwrap_or("?"))
        }
        f => format!(
            "node {}, NATS UNREACHABLE: {}",
            f["node"].as_str().unwrap_or("?"),
            f["error"].as_str().unwrap_or("not connected")
        ),
    };
    let _ = writeln!(o, "fleet:   {fleet}");
    let _ = writeln!(
        o,
        "reloads: {} ({} refused); call stream viewers: {}",
        v["reloads"], v["reload_failures"], v["viewers"]
    );
    o
}

/// `callscreen status`.
pub fn status(api: &ApiArgs, json: bool) -> ExitCode {
    super::lists::shown(api, "/v1/status", json, render)
}

/// `callscreen reload`.
pub fn reload(api: &ApiArgs, json: bool) -> ExitCode {
    let (code, v, body) = match call(api, "POST", "/v1/reload") {
        Ok(x) => x,
        Err(c) => return c,
    };
    if json {
        println!("{}", body.trim_end());
        return if code == 200 {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        };
    }
    match code {
        200 => {
            let changed = v["lists"].as_array().cloned().unwrap_or_default();
            if changed.is_empty() {
                println!("reloaded: no list changed");
            } else {
                println!("reloaded:");
                for c in &changed {
                    let from = c["from"]
                        .as_u64()
                        .map_or("none".to_string(), |f| f.to_string());
                    println!(
                        "  {} version {from} -> {}",
                        c["list"].as_str().unwrap_or("?"),
                        c["to"]
                    );
                }
            }
            for r in v["refused"].as_array().into_iter().flatten() {
                println!("refused: {}", r.as_str().unwrap_or(""));
            }
            for n in v["notes"].as_array().into_iter().flatten() {
                println!("note:    {}", n.as_str().unwrap_or(""));
            }
            ExitCode::SUCCESS
        }
        422 => {
            eprintln!("reload refused: {}", v["error"].as_str().unwrap_or(""));
            for e in v["errors"].as_array().into_iter().flatten() {
                eprintln!("{}", e.as_str().unwrap_or(""));
            }
            ExitCode::from(1)
        }
        _ => {
            eprintln!("POST /v1/reload: {code} {}", body.trim_end());
            ExitCode::from(1)
        }
    }
}
