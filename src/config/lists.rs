//! `[list_guard]` and `[[lists]]`: the guard every list is checked with,
//! and the lists to load with their roles and kinds.

use std::collections::HashMap;
use std::path::Path;

use super::context::Ctx;
use super::schema;
use super::settings::ListSpec;
use crate::lists::format::valid_name;
use crate::lists::{BloomParams, Guard, ListKind, Role};
use crate::number::plan::NumberingPlan;

/// `[list_guard]`.
pub(super) fn guard(cx: &mut Ctx<'_>, raw: &schema::Config, plans: &[NumberingPlan]) -> Guard {
    let mut guard = Guard::default();
    // A listed number is no shorter than its country's shortest.
    for p in plans {
        if let Some(min) = p.shortest() {
            guard.plan_minimums.add(&p.country_code, min);
        }
    }
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
    if let Some(m) = &raw.list_guard.max_shrink_percent {
        match u8::try_from(*m.get_ref()) {
            Ok(v) if v <= 100 => guard.max_shrink_percent = v,
            _ => {
                cx.err::<()>(
                    Some(m.span()),
                    "list_guard.max_shrink_percent",
                    "must be a share in percent from 0 to 100 (default 50; 100: no limit)",
                );
            }
        }
    }
    guard
}

/// `[[lists]]`: the lists, and each list's role by name (rules name lists).
pub(super) fn lists(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
) -> (Vec<ListSpec>, HashMap<String, Role>) {
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
                    "{:?} is not a role; use blocklist, withdrawn, allowlist, protected, fake-helpdesk, dialled-warn or registered-cli",
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
        if kind == ListKind::Networks && role.is_dialled() {
            cx.err::<()>(
                span,
                format!("{key}.kind"),
                "a dialled-number list holds numbers, not networks",
            );
            continue;
        }
        if kind == ListKind::Networks && role == Role::Allowlist {
            cx.err::<()>(span, format!("{key}.kind"), "an allowlist holds numbers; a network allowlist would lift blocks for a whole network");
            continue;
        }
        if kind == ListKind::Networks && role == Role::RegisteredCli {
            cx.err::<()>(span, format!("{key}.kind"), "a registered-cli list holds the numbers registered to be presented from abroad, not networks");
            continue;
        }
        let bloom = match lv.bloom_fp_rate {
            None => BloomParams::default(),
            Some(p) if p > 0.0 && p <= 0.5 => BloomParams::FalsePositiveRate(p),
            Some(p) => {
                cx.err::<()>(
                    span,
                    format!("{key}.bloom_fp_rate"),
                    format!("{p} must be a rate above 0 and at most 0.5 (0.01 is usual; leave it out for no filter)"),
                );
                continue;
            }
        };
        if lv.max_age_secs == Some(0) {
            cx.err::<()>(
                span,
                format!("{key}.max_age_secs"),
                "must be above 0: the age (seconds) after which the list counts as overdue for its refresh; leave it out for none",
            );
            continue;
        }
        let min_prefix_digits = match &lv.min_prefix_digits {
            None => None,
            Some(m) => match u8::try_from(*m.get_ref()) {
                Ok(v) if (1..=15).contains(&v) => Some(v),
                _ => {
                    cx.err::<()>(
                        Some(m.span()),
                        format!("{key}.min_prefix_digits"),
                        "must be a number of digits from 1 to 15: this list's shortest prefix, in place of [list_guard] min_prefix_digits (leave it out to use that)",
                    );
                    continue;
                }
            },
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
            max_age_secs: lv.max_age_secs,
            min_prefix_digits,
        });
    }
    (lists, roles_by_name)
}
