//! From the TOML schema to ready [`Settings`], section by section (one file
//! each), collecting every error before any is reported.

use std::path::Path;

use super::api::api_section;
use super::context::Ctx;
use super::error::ConfigErrors;
use super::settings::Settings;
use super::sip::{proxy_section, server_sections};
use super::{fleet, lists, numbering, peers, policy, redress, schema, warn};
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
    let (home, home_profile) = numbering::home(&mut cx, &raw);
    // The countries screened for: `[home]`'s first, then the peers' profiles'.
    let mut countries = vec![(home.clone(), home_profile)];
    let profiles = peers::profiles(&mut cx, &raw, &mut countries);
    let ccs: Vec<String> = countries
        .iter()
        .filter_map(|(c, _)| c.country_code.clone())
        .collect();
    let plans = numbering::plans(&mut cx, &raw, &ccs);
    let emergency = numbering::emergency(&mut cx, &raw, &home);
    let guard = lists::guard(&mut cx, &raw, &plans);
    let (lists, roles_by_name) = lists::lists(&mut cx, &raw, base);
    let rules = policy::rule_table(&mut cx, &raw.policy.rules, "policy.rules", &roles_by_name);
    let sbcs = peers::sbcs(&mut cx, &raw);
    let (peers, matches) = peers::peers(&mut cx, &raw, &countries, &profiles, &roles_by_name);
    let tags = policy::tags(&mut cx, &raw);
    let (mut sip, redirect, log) = server_sections(&mut cx, &raw);
    super::sip::sip_tls(&mut cx, &raw, base, &mut sip);
    let proxy = proxy_section(&mut cx, &raw, &sip, base);
    let api = api_section(&mut cx, &raw, base, &roles_by_name);
    let warn = warn::warn_section(&mut cx, &raw, base, &peers);
    let fleet = fleet::fleet_section(&mut cx, &raw, base);
    let redress = redress::redress_section(&mut cx, &raw, base);
    let (stir, a_lifts) = super::stir::stir_section(&mut cx, &raw, base);
    let roaming = super::roaming::roaming_section(&mut cx, &raw, base);
    let signing = super::signing::signing_section(&mut cx, &raw, base, sip.mode);
    let records = super::records::records_section(
        &mut cx,
        &raw,
        base,
        api.as_ref().map(|a| a.state_dir.as_path()),
    );
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
    if let Some(p) = home_profile {
        policy.set_home_profile(p);
    }
    for (ctx, profile) in countries.into_iter().skip(1) {
        policy.add_country(ctx, profile);
    }
    if let Some(a) = raw.shaken.max_age_secs {
        policy.shaken_max_age = a;
    }
    policy.stir_a_lifts = a_lifts;
    let burst = burst(&mut cx, &raw.bursts, &mut policy);
    let hits_slots = match &raw.hits.slots {
        None => 65_536,
        Some(v) if (1024..=16_777_216).contains(v.get_ref()) => *v.get_ref(),
        Some(v) => {
            cx.err::<()>(
                Some(v.span()),
                "hits.slots",
                "the table holds 1024 to 16777216 entries (default 65536, 56 bytes each)",
            );
            65_536
        }
    };
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
        burst,
        hits_slots,
        redress,
        stir,
        roaming,
        signing,
        records,
    })
}

/// `[bursts]`: the window, the block length and the table; the thresholds go
/// to the policy (0: that count is off).
fn burst(
    cx: &mut Ctx<'_>,
    raw: &schema::BurstSection,
    policy: &mut crate::screen::Policy,
) -> super::settings::BurstSettings {
    let mut out = super::settings::BurstSettings::default();
    if let Some(w) = &raw.window_secs {
        match *w.get_ref() {
            1..=3600 => out.window_secs = *w.get_ref(),
            _ => {
                cx.err::<()>(
                    Some(w.span()),
                    "bursts.window_secs",
                    "the window is 1 to 3600 seconds (default 60)",
                );
            }
        }
    }
    if let Some(d) = &raw.block_digits {
        match *d.get_ref() {
            4..=14 => out.block_digits = *d.get_ref(),
            _ => {
                cx.err::<()>(Some(d.span()), "bursts.block_digits", "a block is the numbers sharing their first 4 to 14 digits, country code included (default 9: +31 20 123 4xxx)");
            }
        }
    }
    if let Some(t) = &raw.table_slots {
        match *t.get_ref() {
            1024..=16_777_216 => out.table_slots = *t.get_ref(),
            _ => {
                cx.err::<()>(Some(t.span()), "bursts.table_slots", "the table holds 1024 to 16777216 callers and blocks (default 65536, 24 bytes each)");
            }
        }
    }
    if let Some(n) = raw.calls_per_number {
        policy.burst.per_number = n;
    }
    if let Some(n) = raw.calls_per_block {
        policy.burst.per_block = n;
    }
    out
}
