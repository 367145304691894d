//! From the TOML schema to ready [`Settings`], section by section (one file
//! each), collecting every error before any is reported.

use std::path::Path;

use super::api::api_section;
use super::context::Ctx;
use super::error::ConfigErrors;
use super::settings::Settings;
use super::sip::{proxy_section, server_sections};
use super::{fleet, lists, numbering, peers, policy, schema, warn};
use crate::screen::{Policy, ReasonKind};

pub(super) fn validate(
    raw: schema::Config,
    text: &str,
    path: &Path,
    base: &Path,
) -> Result<Settings, ConfigErrors> {
    let mut cx = Ctx {
        text,
        path,
        errors: Vec::new(),
    };
    let home = numbering::home(&mut cx, &raw);
    let plans = numbering::plans(&mut cx, &raw, &home);
    let emergency = numbering::emergency(&mut cx, &raw, &home);
    let guard = lists::guard(&mut cx, &raw, &plans);
    let (lists, roles_by_name) = lists::lists(&mut cx, &raw, base);
    let rules = policy::rule_table(&mut cx, &raw.policy.rules, "policy.rules", &roles_by_name);
    let sbcs = peers::sbcs(&mut cx, &raw);
    let (peers, matches) = peers::peers(&mut cx, &raw, &home, &roles_by_name);
    let tags = policy::tags(&mut cx, &raw);
    let (sip, redirect, log) = server_sections(&mut cx, &raw);
    let proxy = proxy_section(&mut cx, &raw, &sip);
    let api = api_section(&mut cx, &raw, base, &roles_by_name);
    let warn = warn::warn_section(&mut cx, &raw, base, &peers);
    let fleet = fleet::fleet_section(&mut cx, &raw, base);
    let dialled_lists: Vec<(ReasonKind, String)> = lists
        .iter()
        .filter_map(|l| {
            let kind = ReasonKind::ALL
                .into_iter()
                .find(|k| k.list_role() == Some(l.role) && l.role.is_dialled())?;
            Some((kind, l.name.clone()))
        })
        .collect();

    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    let mut policy = Policy::new(
        home,
        plans,
        emergency,
        peers,
        rules,
        raw.policy
            .reject_text
            .as_deref()
            .unwrap_or("Network blocked"),
    );
    if let Some(a) = raw.shaken.max_age_secs {
        policy.shaken_max_age = a;
    }
    warn::check_warn_has_a_service(&mut cx, &policy, &dialled_lists, warn.as_ref());
    if !cx.errors.is_empty() {
        return Err(ConfigErrors(cx.errors));
    }
    Ok(Settings {
        path: path.to_path_buf(),
        policy,
        guard,
        lists,
        sbcs,
        peers: matches,
        tags,
        sip,
        redirect,
        proxy,
        log,
        api,
        warn,
        fleet,
    })
}
