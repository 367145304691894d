//! `callscreen lists …`: `push`, `show`, `export` and `rollback` against a
//! running daemon's control API; `verify` a list file offline.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::ApiArgs;
use crate::lists::{Guard, ListKind, parse};

/// `lists push NAME FILE`: replace a list whole (signed with `--sign-key`).
pub fn push(
    name: &str,
    file: &Path,
    sign_key: Option<PathBuf>,
    allow_shrink: bool,
    api: &ApiArgs,
) -> ExitCode {
    let body = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let ctype = if body.trim_ascii_start().starts_with(b"{") {
        "application/json"
    } else if file.extension().is_some_and(|e| e == "toml") {
        "application/toml"
    } else {
        "text/plain"
    };
    let signature = match sign_key.map(|k| std::fs::read_to_string(&k).map(|s| (k, s))) {
        None => None,
        Some(Ok((k, secret))) => match crate::keys::sign(&secret, &body) {
            Some(s) => Some(s),
            None => {
                eprintln!("{}: not an Ed25519 secret key (64 hex digits)", k.display());
                return ExitCode::from(2);
            }
        },
        Some(Err(e)) => {
            eprintln!("cannot read the signing key: {e}");
            return ExitCode::from(2);
        }
    };
    api_call_signed(
        api,
        "PUT",
        &format!(
            "/v1/lists/{name}{}",
            if allow_shrink {
                "?allow_shrink=true"
            } else {
                ""
            }
        ),
        Some(ctype),
        &body,
        signature.as_deref(),
    )
}

/// `lists show`: every list of a running daemon (`--fleet`: `fleet show`).
pub fn show(api: &ApiArgs, json: bool) -> ExitCode {
    shown(api, "/v1/lists", json, lists_table)
}

/// `GET path` printed as the API gives it (`json`), or as `render` writes
/// it for people; a refusal or a failure said on stderr.
pub(super) fn shown(
    api: &ApiArgs,
    path: &str,
    json: bool,
    render: impl Fn(&serde_json::Value) -> String,
) -> ExitCode {
    sent(api, "GET", path, b"", json, render)
}

/// `method path` with `body`, printed as the API gives it (`json`), or as
/// `render` writes it for people; a refusal or a failure said on stderr.
pub(super) fn sent(
    api: &ApiArgs,
    method: &str,
    path: &str,
    body: &[u8],
    json: bool,
    render: impl Fn(&serde_json::Value) -> String,
) -> ExitCode {
    if json {
        return api_call(api, method, path, None, body);
    }
    let (token, tls) = match credentials(api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let a = match crate::api::client::request(
        &api.url,
        method,
        path,
        Some(&token),
        None,
        body,
        None,
        tls,
    ) {
        Ok(a) if (200..300).contains(&a.status) => a,
        Ok(a) => {
            eprintln!("{method} {path}: {} {}", a.status, a.body.trim_end());
            return ExitCode::from(1);
        }
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match serde_json::from_str::<serde_json::Value>(&a.body) {
        Ok(v) => {
            print!("{}", render(&v));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{method} {path}: the answer is not JSON ({e})");
            ExitCode::from(2)
        }
    }
}

/// `GET /v1/lists` as a table for a terminal.
pub fn lists_table(v: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<22} {:<9} {:<14} {:>7} {:>10} {:>7} {:<6} {:>9}  sha256",
        "list", "kind", "role", "version", "entries", "expired", "source", "age"
    );
    for l in v["lists"].as_array().into_iter().flatten() {
        let s = |k: &str| l[k].as_str().unwrap_or("-").to_string();
        let n = |k: &str| l[k].as_u64().map_or("-".to_string(), |x| x.to_string());
        let age = l["age_secs"].as_u64().map_or("-".to_string(), |a| match a {
            a if a < 120 => format!("{a}s"),
            a if a < 7200 => format!("{}m", a / 60),
            a if a < 172_800 => format!("{}h", a / 3600),
            a => format!("{}d", a / 86_400),
        });
        let sha = l["sha256"]
            .as_str()
            .map_or("-".to_string(), |h| h.chars().take(12).collect());
        let _ = writeln!(
            o,
            "{:<22} {:<9} {:<14} {:>7} {:>10} {:>7} {:<6} {:>9}  {sha}",
            s("name"),
            s("kind"),
            s("role"),
            n("version"),
            n("entries"),
            n("expired"),
            s("source"),
            age
        );
    }
    o
}

/// `lists export NAME`: a list in the v1 format.
pub fn export(name: &str, api: &ApiArgs) -> ExitCode {
    api_call(api, "GET", &format!("/v1/lists/{name}"), None, b"")
}

/// `lists whatif NAME FILE`: the candidate against the recorded calls.
pub fn whatif(
    name: &str,
    file: &Path,
    since: &str,
    until: Option<&str>,
    json: bool,
    api: &ApiArgs,
) -> ExitCode {
    let body = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let mut path = format!(
        "/v1/lists/{name}/whatif?since={}",
        super::query_value(since)
    );
    if let Some(u) = until {
        path.push_str(&format!("&until={}", super::query_value(u)));
    }
    sent(api, "POST", &path, &body, json, whatif_text)
}

/// A what-if report for a terminal.
pub fn whatif_text(v: &serde_json::Value) -> String {
    let r = &v["report"];
    let n = |x: &serde_json::Value| x.as_u64().unwrap_or(0);
    let when = |x: &serde_json::Value| crate::lists::format_expiry(n(x) / 1000);
    let mut out = format!(
        "list {} version {} (in force: {}), nothing installed\n\
         calls {} to {}: {} calls{}\n",
        v["list"].as_str().unwrap_or("?"),
        v["candidate_version"],
        v["current_version"],
        when(&r["since_ms"]),
        when(&r["until_ms"]),
        n(&r["calls"]),
        match n(&r["undecidable"]) {
            0 => String::new(),
            u => format!(" ({u} not decided again: their peer is gone from the configuration)"),
        },
    );
    for (key, title) in [
        ("newly_rejected", "would be rejected, let through now"),
        ("newly_passed", "would be let through, rejected now"),
    ] {
        let c = &r[key];
        out.push_str(&format!(
            "\n{}: {} calls, {} callers\n",
            title,
            n(&c["calls"]),
            n(&c["callers"])
        ));
        if n(&c["calls"]) == 0 {
            continue;
        }
        let pairs = |x: &serde_json::Value| -> String {
            let items: Vec<String> = x
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|p| format!("{} ({})", p[0].as_str().unwrap_or("?"), p[1]))
                        .collect()
                })
                .unwrap_or_default();
            items.join(", ")
        };
        let by_peer: Vec<String> = c["by_peer"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k} ({v})")).collect())
            .unwrap_or_default();
        out.push_str(&format!("  by peer:     {}\n", by_peer.join(", ")));
        out.push_str(&format!("  top callers: {}\n", pairs(&c["top_callers"])));
        out.push_str(&format!("  top callees: {}\n", pairs(&c["top_callees"])));
        for e in c["examples"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "  e.g. {} {} -> {} via {}: {} now, {} with it ({}){}\n",
                when(&e["time_ms"]),
                e["caller"].as_str().unwrap_or("?"),
                e["callee"].as_str().unwrap_or("-"),
                e["peer"].as_str().unwrap_or("?"),
                e["now"].as_str().unwrap_or("?"),
                e["candidate"].as_str().unwrap_or("?"),
                e["reasons"].as_str().unwrap_or(""),
                e["ref"]
                    .as_str()
                    .map(|r| format!(" ref {r}"))
                    .unwrap_or_else(|| format!(
                        " call_id {}",
                        e["call_id"].as_str().unwrap_or("?")
                    )),
            ));
        }
    }
    if n(&r["other_changes"]) > 0 {
        out.push_str(&format!(
            "\nother changes of verdict (allow, tag, anonymise, warn): {}\n",
            n(&r["other_changes"])
        ));
    }
    out
}

/// `lists rollback NAME`: back to the previous version.
pub fn rollback(name: &str, api: &ApiArgs) -> ExitCode {
    api_call(
        api,
        "POST",
        &format!("/v1/lists/{name}/rollback"),
        None,
        b"",
    )
}

/// `lists verify FILE`: the errors a push would get, offline.
pub fn verify(file: &Path, kind: &str, min_prefix_digits: u8) -> ExitCode {
    let body = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let kind = ListKind::from_name(kind).unwrap_or(ListKind::Numbers);
    let guard = Guard {
        min_prefix_digits,
        ..Guard::default()
    };
    // A companies file (TOML) is known by its form: what `lists push`
    // takes as application/toml.
    if is_companies(&body) {
        return match crate::lists::companies::parse(&body, guard) {
            Ok(c) => {
                println!(
                    "{}: ok; companies file {} version {}, {} companies",
                    file.display(),
                    c.name,
                    c.version,
                    c.companies.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => report(file, &errors, None),
        };
    }
    match parse(&body, kind, guard) {
        Ok(l) => {
            println!(
                "{}: ok; list {} version {}, {} entries",
                file.display(),
                l.name,
                l.version,
                l.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            // Addresses in a numbers list: the list is of networks.
            let hint = (kind == ListKind::Numbers
                && errors
                    .errors
                    .iter()
                    .any(|e| e.message.contains("not in E.164 form"))
                && looks_like_networks(&body))
            .then_some(
                "this looks like a list of networks (addresses): verify it with --kind networks",
            );
            report(file, &errors, hint)
        }
    }
}

/// `lists hits NAME`: the list's entries by calls matched.
pub fn hits(
    name: &str,
    top: usize,
    since: Option<&str>,
    csv: bool,
    fleet: bool,
    api: &ApiArgs,
) -> ExitCode {
    let mut path = format!("/v1/lists/{name}/hits?top={top}");
    if let Some(s) = since {
        path.push_str(&format!("&since={}", super::query_value(s)));
    }
    if csv {
        path.push_str("&format=csv");
    }
    if fleet {
        path.push_str("&fleet=1");
    }
    api_call(api, "GET", &path, None, b"")
}

pub(super) fn api_call(
    api: &ApiArgs,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    body: &[u8],
) -> ExitCode {
    api_call_signed(api, method, path, ctype, body, None)
}

/// The token (from its file) and the TLS settings of `--ca`/`--cert`/`--key`;
/// on failure, said on stderr and the exit code given back.
#[allow(clippy::type_complexity)]
pub(super) fn credentials(
    api: &ApiArgs,
) -> Result<(String, Option<std::sync::Arc<rustls::ClientConfig>>), ExitCode> {
    let token = match std::fs::read_to_string(&api.token_file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        Ok(_) => {
            eprintln!("{}: the token file is empty", api.token_file.display());
            return Err(ExitCode::from(2));
        }
        Err(e) => {
            eprintln!(
                "{}: cannot read the token file: {e}",
                api.token_file.display()
            );
            return Err(ExitCode::from(2));
        }
    };
    let tls = match &api.ca {
        None => None,
        Some(ca) => {
            let identity = api.cert.as_deref().zip(api.key.as_deref());
            match crate::api::tls::client_config(ca, identity) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("{e}");
                    return Err(ExitCode::from(2));
                }
            }
        }
    };
    Ok((token, tls))
}

/// One API request; the body is printed (stdout on success, stderr on failure).
fn api_call_signed(
    api: &ApiArgs,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    body: &[u8],
    signature: Option<&str>,
) -> ExitCode {
    let (token, tls) = match credentials(api) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match crate::api::client::request(
        &api.url,
        method,
        path,
        Some(&token),
        ctype,
        body,
        signature,
        tls,
    ) {
        Ok(a) if (200..300).contains(&a.status) => {
            print!("{}", a.body);
            if !a.body.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Ok(a) => {
            eprintln!("{method} {path}: {} {}", a.status, a.body.trim_end());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

/// A companies file: TOML with `[[company]]` tables.
fn is_companies(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    text.lines().any(|l| l.trim() == "[[company]]")
}

/// Whether a list's entries are mostly addresses (a dot or a colon, a `/`).
fn looks_like_networks(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let entries: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split(',').next().unwrap_or("").trim())
        .collect();
    let addresses = entries
        .iter()
        .filter(|e| e.parse::<crate::cidr::Cidr>().is_ok() || e.parse::<std::net::IpAddr>().is_ok())
        .count();
    !entries.is_empty() && addresses * 2 >= entries.len()
}

/// A file's errors, one per line (file:line: message), then the hint.
fn report(file: &Path, errors: &crate::lists::ListErrors, hint: Option<&str>) -> ExitCode {
    for e in &errors.errors {
        match (e.line, e.entry) {
            (Some(l), None) => eprintln!("{}:{l}: {}", file.display(), e.message),
            _ => eprintln!("{}: {e}", file.display()),
        }
    }
    if errors.total > errors.errors.len() {
        eprintln!(
            "{}: … and {} more",
            file.display(),
            errors.total - errors.errors.len()
        );
    }
    if let Some(h) = hint {
        eprintln!("{}: {h}", file.display());
    }
    ExitCode::from(1)
}
