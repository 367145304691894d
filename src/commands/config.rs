//! `callscreen config check FILE`: the configuration, every list it names
//! (the companies file too) and the API's TLS files, loaded exactly as the
//! daemon loads them at start, including the pushed versions in the state
//! directory that a start would serve instead of older seed files. Prints
//! what a start would serve; exits 1 with every error (file, line, key).
//! The systemd unit runs it as `ExecStartPre=`, and configuration management
//! can run it before a restart.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::clock::unix_now;
use crate::loader::{Loaded, with_stored};
use crate::store::Store;

pub fn check(file: PathBuf) -> ExitCode {
    let e = match Loaded::load(&file) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    for s in &e.skipped {
        eprintln!("warning: optional list skipped: {s}");
    }
    for w in unreadable_by_the_service(&e.settings) {
        eprintln!("{}: warning: {w}", file.display());
    }
    if let Some(api) = &e.settings.api
        && let Some((cert, key)) = &api.tls
        && let Err(err) = crate::api::tls::server_config(cert, key, api.client_ca.as_deref())
    {
        eprintln!(
            "{}: [api] TLS: {err}; check tls_cert, tls_key and client_ca",
            file.display()
        );
        return ExitCode::from(1);
    }
    // What a start serves: a pushed version newer than the seed file wins.
    let store = e
        .settings
        .api
        .as_ref()
        .and_then(|api| Store::existing(&api.state_dir));
    let served = match &store {
        Some(s) => with_stored(&e.lists, &e.settings, s),
        None => e.lists.clone(),
    };
    let lists: Vec<String> = served
        .lists()
        .iter()
        .map(|l| {
            let seed = e.lists.get(&l.name).map(|s| s.version);
            let spec = e.settings.lists.iter().find(|s| s.name == l.name);
            // A list's own guard, where it differs from [list_guard]'s.
            let own = spec
                .and_then(|s| s.min_prefix_digits)
                .map(|m| format!(", prefixes of {m} digits or more"))
                .unwrap_or_default();
            let source = match (&store, spec) {
                (Some(st), _) if seed != Some(l.version) => {
                    format!("pushed, in {}", st.dir().display())
                }
                (_, Some(spec)) => format!("seed {}", spec.file.display()),
                (_, None) => "seed".to_string(),
            };
            format!(
                "{}@{} ({}, {} entries, {source}{own})",
                l.name,
                l.version,
                l.role,
                l.stats(unix_now()).entries()
            )
        })
        .collect();
    println!(
        "{}: ok; {} peers, {} SBCs, lists: {}",
        file.display(),
        e.settings.policy.peers.len(),
        e.settings.sbcs.len(),
        if lists.is_empty() {
            "none".into()
        } else {
            lists.join(", ")
        }
    );
    print!("{}", profiles(&e.settings));
    ExitCode::SUCCESS
}

/// What each country profile in use turns on: its rules with their
/// sources (and where the operator's own rule overrides one), the peers it
/// applies to, its numbering plan, and the roaming check.
fn profiles(settings: &crate::config::Settings) -> String {
    use crate::screen::Reason;
    use std::fmt::Write;
    let policy = &settings.policy;
    let mut s = String::new();
    for (i, country) in policy.countries.iter().enumerate() {
        let Some(p) = country.profile else { continue };
        let peers: Vec<&str> = policy
            .peers
            .iter()
            .filter(|peer| peer.country == i)
            .map(|peer| peer.name.as_str())
            .collect();
        let plan = if policy
            .plans
            .iter()
            .any(|pl| pl.country_code == p.country_code)
        {
            "numbering plan +".to_string() + p.country_code
        } else {
            "no numbering plan".to_string()
        };
        let _ = writeln!(
            s,
            "profile {} ({}, +{}){}: {}; {plan}",
            p.code,
            p.country,
            p.country_code,
            if i == 0 { ", [home]" } else { "" },
            if peers.is_empty() {
                "no peers".to_string()
            } else {
                format!("peers {}", peers.join(", "))
            },
        );
        if p.rules.is_empty() {
            let _ = writeln!(s, "  no rule of its own: the built-in defaults");
        }
        for r in p.rules {
            let reason = Reason::new(r.kind);
            let (action, overridden) = match policy.country_rule(i, &reason) {
                Some((rule, true)) => (rule.action, true),
                _ => (r.action, false),
            };
            let _ = write!(
                s,
                "  {:<33} {:<11} {}: {}",
                r.kind.code(),
                action.to_string(),
                r.cites,
                r.says
            );
            if overridden {
                let _ = write!(
                    s,
                    " (the profile says {}; [policy.rules] overrides it)",
                    r.action
                );
            }
            let _ = writeln!(s);
        }
        if p.roaming_rule {
            match &settings.roaming {
                Some(r) => {
                    let _ = writeln!(
                        s,
                        "  roaming check: {} (a call waits at most {} ms)",
                        r.url_text,
                        r.budget.as_millis()
                    );
                }
                None => {
                    let _ = writeln!(
                        s,
                        "  roaming check: not configured ([roaming]): every home mobile number from abroad is spoof:domestic-mobile-unchecked"
                    );
                }
            }
        }
    }
    s
}

/// The secret files the service's own user will not be able to read:
/// readable by their owner (or group) only, and not handed over as systemd
/// credentials. Told when run as root (the unit runs the service as a
/// dynamic user, so what root reads here is no proof).
fn unreadable_by_the_service(settings: &crate::config::Settings) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Vec::new();
    }
    let creds = std::env::var_os("CREDENTIALS_DIRECTORY").map(PathBuf::from);
    let mut out = Vec::new();
    for (key, path) in settings.secret_files() {
        if creds.as_ref().is_some_and(|c| path.starts_with(c)) {
            continue;
        }
        let Ok(m) = std::fs::metadata(&path) else {
            continue;
        };
        if m.mode() & 0o004 == 0 {
            out.push(format!(
                "{key}: {} is not readable by others (mode {:04o}, owner uid {}), so the service's user cannot read it: {}",
                path.display(),
                m.mode() & 0o7777,
                m.uid(),
                crate::config::CREDENTIAL_HINT
            ));
        }
    }
    out
}
