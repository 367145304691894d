//! A verdict written out for people (`callscreen check`) and as JSON
//! (`--json`): the action, every reason with its rule, and for each list hit
//! the list, its version, the matching entry and its reason text.

use std::fmt::Write;

use serde_json::{Value, json};

use crate::lists::format_entry_expiry;
use crate::number::Cli;
use crate::screen::{Action, CallFacts, Finding, ListHit, Policy, RuleSource, Verdict};

fn cli_text(c: Option<Cli>) -> String {
    match c {
        None => "-".into(),
        Some(Cli::Number(n)) => n.to_string(),
        Some(Cli::Withheld) => "withheld".into(),
        Some(Cli::Invalid) => "invalid".into(),
    }
}

fn hit_json(h: &ListHit<'_>) -> Value {
    json!({
        "list": h.list,
        "version": h.version,
        "entry": h.target.to_string(),
        "reason": h.meta.reason,
        "reference": h.meta.reference,
        "expires": h.meta.expires.map(format_entry_expiry),
    })
}

fn finding_json(f: &Finding<'_>) -> Value {
    let mut v = json!({
        "code": f.reason.to_string(),
        "subject": f.subject.name(),
        "number": f.number.map(|n| n.to_string()),
        "action": f.action.name(),
        "monitor": f.monitor,
        "lifted_by_allowlist": f.lifted,
    });
    if let Action::Reject { code } = f.action {
        v["sip_code"] = json!(code);
        v["network_blocked"] = json!(f.network_blocked);
    }
    if let Some(h) = &f.hit {
        v["hit"] = hit_json(h);
    }
    if let Some(n) = f.note {
        v["note"] = json!(n);
    }
    v
}

/// Where the deciding finding's rule comes from, in words.
fn rule_text(f: &Finding<'_>, facts: &CallFacts<'_>, policy: &Policy) -> String {
    match policy.rule_source(&f.reason, facts.peer) {
        RuleSource::Peer => format!("peer {}'s rules", policy.peer(facts.peer).name),
        RuleSource::Config => "[policy.rules]".to_string(),
        RuleSource::Profile(p, r) => format!(
            "profile {} ({}): {}: {}",
            p.code, p.country, r.cites, r.says
        ),
        RuleSource::Builtin => "the built-in default".to_string(),
    }
}

fn rule_json(f: &Finding<'_>, facts: &CallFacts<'_>, policy: &Policy) -> Value {
    match policy.rule_source(&f.reason, facts.peer) {
        RuleSource::Peer => json!({"code": f.reason.to_string(), "rule": "peer"}),
        RuleSource::Config => json!({"code": f.reason.to_string(), "rule": "config"}),
        RuleSource::Profile(p, r) => json!({
            "code": f.reason.to_string(),
            "rule": "profile",
            "profile": p.code,
            "cites": r.cites,
            "says": r.says,
        }),
        RuleSource::Builtin => json!({"code": f.reason.to_string(), "rule": "builtin"}),
    }
}

/// The verdict as a JSON document.
pub fn json(v: &Verdict<'_>, facts: &CallFacts<'_>, policy: &Policy) -> Value {
    let mut out = json!({
        "verdict": v.action.name(),
        "peer": policy.peer(facts.peer).name,
        "direction": if facts.originating { "originating" } else { "terminating" },
        "caller": cli_text(Some(facts.from)),
        "pai": cli_text(facts.pai),
        "pai_trusted": policy.peer(facts.peer).pai_trusted,
        "callee": facts.callee.map(|n| n.to_string()),
        "emergency": facts.emergency,
        "reasons": v.findings.iter().map(finding_json).collect::<Vec<_>>(),
        // What the tag header carries: only a tagged or anonymised call has one.
        "tags": if matches!(v.action, Action::Tag | Action::Anonymise) {
            v.tag_reasons().map(|r| r.to_string()).collect::<Vec<_>>()
        } else {
            Vec::new()
        },
        "expired": v.expired.iter().map(|(s, h)| { let mut j = hit_json(h); j["subject"] = json!(s.name()); j }).collect::<Vec<_>>(),
    });
    if let Some(p) = policy.country(facts.peer).profile {
        out["profile"] = json!(p.code);
    }
    if let Some(r) = facts.roaming {
        out["roaming"] = json!(r.name());
    }
    if let Some(f) = &v.decided_by {
        out["decided_by"] = rule_json(f, facts, policy);
    }
    if let Action::Reject { code } = v.action {
        out["sip_code"] = json!(code);
        out["reason_header"] = json!(format!(
            "SIP;cause={code};text=\"{}\"",
            v.reject_text.unwrap_or_default()
        ));
    }
    out
}

/// What a finding is about: its subject and the number, address or text
/// it was found on (`from +3112`, `source 198.51.100.7`, `from "abc"`).
fn subject_text(f: &Finding<'_>, facts: &CallFacts<'_>) -> String {
    use crate::screen::Subject;
    let what = match (f.number, f.subject) {
        (Some(n), _) => n.to_string(),
        (None, Subject::Source) => facts
            .source
            .map_or_else(|| "-".to_string(), |a| a.to_string()),
        (None, Subject::From) => format!("{:?}", facts.from_raw),
        (None, Subject::Callee) => format!("{:?}", facts.callee_raw),
        (None, Subject::Pai) => cli_text(facts.pai),
        (None, Subject::Rcd) => format!("{:?}", facts.rcd_name.unwrap_or("-")),
    };
    format!("{} {what}", f.subject.name())
}

/// The verdict as text for a terminal.
pub fn text(v: &Verdict<'_>, facts: &CallFacts<'_>, policy: &Policy) -> String {
    let peer = policy.peer(facts.peer);
    let mut s = String::new();
    let _ = write!(s, "verdict: {}", v.action);
    if let Action::Reject { code } = v.action {
        let _ = write!(
            s,
            "  (Reason: SIP;cause={code};text=\"{}\")",
            v.reject_text.unwrap_or_default()
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "caller:  {} (as sent: {:?})",
        cli_text(Some(facts.from)),
        facts.from_raw
    );
    let trust = if peer.pai_trusted {
        "trusted"
    } else {
        "not trusted: ignored"
    };
    let _ = writeln!(
        s,
        "pai:     {}{}",
        cli_text(facts.pai),
        if facts.pai.is_some() {
            format!(" ({trust})")
        } else {
            String::new()
        }
    );
    let callee = facts
        .callee
        .map_or_else(|| format!("{:?}", facts.callee_raw), |n| n.to_string());
    let _ = writeln!(
        s,
        "callee:  {callee}{}",
        if facts.emergency { " (emergency)" } else { "" }
    );
    let _ = writeln!(
        s,
        "peer:    {} ({}, {})",
        peer.name,
        if peer.international {
            "international"
        } else {
            "domestic"
        },
        if facts.originating {
            "originating: the dialled number is screened"
        } else {
            "terminating"
        }
    );
    if let Some(p) = policy.country(facts.peer).profile {
        let _ = writeln!(
            s,
            "profile: {} ({}, +{})",
            p.code, p.country, p.country_code
        );
    }
    if let Some(r) = facts.roaming {
        let _ = writeln!(s, "roaming: {}", r.name());
    }
    if v.findings.is_empty() {
        let _ = writeln!(s, "reasons: none");
    } else {
        let _ = writeln!(s, "reasons:");
    }
    for f in v.findings.iter() {
        let mut status = f.action.to_string();
        if f.network_blocked {
            status.push_str("+ (Network Blocked)");
        }
        if f.monitor {
            status = format!("monitor: would {status}");
        }
        if f.lifted {
            status = format!("lifted by allowlist, was {status}");
        }
        let _ = write!(
            s,
            "  {:<28} {}  [{status}]",
            f.reason.to_string(),
            subject_text(f, facts)
        );
        if let Some(n) = f.note {
            let _ = write!(s, " ({n})");
        }
        if let Some(h) = &f.hit {
            let _ = write!(
                s,
                "\n      list {}@{} entry {}",
                h.list, h.version, h.target
            );
            if let Some(r) = &h.meta.reason {
                let _ = write!(s, " reason {r:?}");
            }
            if let Some(r) = &h.meta.reference {
                let _ = write!(s, " ref {r}");
            }
            if let Some(e) = h.meta.expires {
                let _ = write!(s, " expires {}", format_entry_expiry(e));
            }
        }
        let _ = writeln!(s);
    }
    for (subject, h) in v.expired.iter() {
        let _ = writeln!(
            s,
            "expired: {} entry {} of {}@{} (expired {}) no longer matches",
            subject.name(),
            h.target,
            h.list,
            h.version,
            h.meta.expires.map(format_entry_expiry).unwrap_or_default()
        );
    }
    if let Some(f) = &v.decided_by {
        let _ = writeln!(
            s,
            "decided by: {} under {}",
            f.reason,
            rule_text(f, facts, policy)
        );
    }
    let tags: Vec<String> = v.tag_reasons().map(|r| r.to_string()).collect();
    if matches!(v.action, Action::Tag | Action::Anonymise) && !tags.is_empty() {
        let _ = writeln!(s, "tags:    {}", tags.join(","));
    }
    s
}
