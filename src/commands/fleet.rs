//! `fleet show` and `fleet forget`: the fleet a running node belongs to,
//! through its API.

use std::process::ExitCode;

use serde_json::Value;

use super::lists::api_call;
use crate::cli::ApiArgs;

/// `fleet show [--json]`: one line per member (state, software, last seen,
/// each list's version, `*` after a list that lags), then the heads.
pub fn show(api: &ApiArgs, json: bool) -> ExitCode {
    super::lists::shown(api, "/v1/fleet", json, render)
}

/// The view as people read it.
pub fn render(v: &Value) -> String {
    let s = |x: &Value| x.as_str().unwrap_or("").to_string();
    let mut out = String::new();
    let nats = if v["connected"] == Value::Bool(true) {
        "NATS connected".to_string()
    } else {
        format!(
            "NATS DOWN ({}): members as last read",
            s(&v["nats"]["error"])
        )
    };
    out.push_str(&format!(
        "fleet seen from {} (callscreen {}): {nats}\n",
        s(&v["node"]),
        s(&v["software"])
    ));
    let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
    let width = nodes
        .iter()
        .map(|n| s(&n["node"]).len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "{:<width$}  {:<8} {:<9} {:>9}  lists (* lagging)\n",
        "NODE", "STATE", "SOFTWARE", "SEEN"
    ));
    for n in &nodes {
        let lists: Vec<String> = n["lists"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|l| {
                let lag = if l["lagging"] == Value::Bool(true) {
                    "*"
                } else {
                    ""
                };
                format!("{}@{}{lag}", s(&l["name"]), l["version"])
            })
            .collect();
        let state = s(&n["state"]);
        let seen = format!("{} s ago", n["age_secs"].as_u64().unwrap_or(0));
        out.push_str(&format!(
            "{:<width$}  {:<8} {:<9} {:>9}  {}",
            s(&n["node"]),
            if state == "missing" {
                "MISSING".into()
            } else {
                state
            },
            s(&n["software"]),
            seen,
            lists.join(" ")
        ));
        if let Some(e) = n["last_error"].as_str() {
            out.push_str(&format!("  error: {e}"));
        }
        out.push('\n');
    }
    for h in v["heads"].as_array().cloned().unwrap_or_default() {
        let here = if h["configured_here"] == Value::Bool(false) {
            " (not configured here)"
        } else {
            ""
        };
        let rb = h["rollback_of"]
            .as_u64()
            .map_or(String::new(), |r| format!(", a rollback of {r}"));
        out.push_str(&format!(
            "head {}: version {} (seq {}, by {} through {}{rb}){here}\n",
            s(&h["list"]),
            h["version"],
            h["seq"],
            s(&h["client"]),
            s(&h["node"]),
        ));
    }
    for r in v["refused"].as_array().cloned().unwrap_or_default() {
        out.push_str(&format!(
            "refused in the heads bucket: {} at revision {}: {}\n",
            s(&r["list"]),
            r["revision"],
            s(&r["why"])
        ));
    }
    out
}

/// `fleet forget NODE`.
pub fn forget(node: &str, api: &ApiArgs) -> ExitCode {
    let path = format!("/v1/fleet/nodes/{}", super::query_value(node));
    api_call(api, "DELETE", &path, None, b"")
}
