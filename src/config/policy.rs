//! `[policy]` rules (reason → action, per list, per family, per peer) and
//! `[tags]` (how a tagged call is marked).

use std::collections::{BTreeMap, HashMap};

use toml::Spanned;

use super::context::Ctx;
use super::schema;
use super::settings::TagSettings;
use crate::lists::Role;
use crate::screen::{Action, DEFAULT_REJECT_CODE, ReasonKey, ReasonKind, Rule, RuleTable};

/// `[tags]`.
pub(super) fn tags(cx: &mut Ctx<'_>, raw: &schema::Config) -> TagSettings {
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
    TagSettings {
        header: t.header.clone(),
        display_prefix: t.display_prefix.clone(),
        in_contact_uri: t.in_contact_uri,
    }
}

pub(super) fn rule_table(
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
        if let (Some(l), Some(want)) = (&rk.list, rk.kind.list_role())
            && lists.get(l) != Some(&want)
        {
            cx.err::<()>(
                Some(v.span()),
                &key,
                format!("there is no {} list named {l:?} in [[lists]]", want.name()),
            );
            continue;
        }
        if let Some(rule) = rule(cx, v, &key) {
            if rk.kind == ReasonKind::Emergency && rule.action != Action::Allow {
                cx.err::<()>(Some(v.span()), &key, "a call to an emergency number is never rejected, tagged or anonymised; remove this rule");
                continue;
            }
            if rule.action == Action::Warn
                && !matches!(
                    rk.kind,
                    ReasonKind::CalleeFakeHelpdesk | ReasonKind::CalleeWarn
                )
            {
                cx.err::<()>(Some(v.span()), &key, "warn sends a subscriber to the announcement service before a dialled number: only callee:fake-helpdesk and callee:warn rules may warn");
                continue;
            }
            if rule.network_blocked && !rk.kind.analytics() {
                cx.err::<()>(Some(v.span()), &key, "603+ (603 Network Blocked, ATIS-1000099) answers analytics-based blocks (bursts, spoofing signals, STIR/SHAKEN); a list hit or a do-not-originate number is answered 608 (RFC 8688)");
                continue;
            }
            table.set(rk, rule);
        }
    }
    table
}

fn rule(cx: &mut Ctx<'_>, v: &Spanned<toml::Value>, key: &str) -> Option<Rule> {
    const EXPECT: &str = "write \"allow\", \"tag\", \"anonymise\", \"warn\", \"reject\", or a table { action = \"reject\", code = 608 (or \"603+\"), text = \"…\", monitor = true }";
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
                // 603+ (ATIS-1000099): 603 with "Network Blocked".
                Some(toml::Value::String(c)) if c == "603+" => Some(PLUS_603),
                Some(_) => {
                    return cx.err(
                        span,
                        format!("{key}.code"),
                        "must be a SIP response code, e.g. 608, or \"603+\"",
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
        ("warn", None) => Action::Warn,
        ("reject", None) => Action::Reject {
            code: DEFAULT_REJECT_CODE,
        },
        ("reject", Some(PLUS_603)) => Action::Reject { code: 603 },
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
        ("allow" | "tag" | "anonymise" | "anonymize" | "warn", Some(_)) => {
            return cx.err(span, format!("{key}.code"), "only a reject takes a code");
        }
        (other, _) => return cx.err(span, key, format!("{other:?} is not an action; {EXPECT}")),
    };
    Some(Rule {
        action,
        monitor,
        text: text.map(Into::into),
        network_blocked: code == Some(PLUS_603),
    })
}

/// `code = "603+"`, as the parser holds it (no SIP code is this).
const PLUS_603: i64 = -603;
