//! `[home]`, `[[numbering]]` and `[emergency]`: the operator's own number
//! context, the numbering plans, the emergency numbers; and a peer's
//! `number_context`.

use toml::Spanned;

use super::context::Ctx;
use super::schema;
use crate::number::NumberContext;
use crate::number::emergency::EmergencyNumbers;
use crate::number::plan::{NumberType, NumberingPlan, PlanRange};
use crate::screen::Profile;

/// A `profile` setting: the named country profile.
pub(super) fn profile(
    cx: &mut Ctx<'_>,
    v: &Spanned<String>,
    key: &str,
) -> Option<&'static Profile> {
    crate::screen::profile::profile(v.get_ref()).or_else(|| {
        cx.err(
            Some(v.span()),
            key,
            format!(
                "{:?} is not a country profile; the profiles are: {} (README, \"Country profiles\")",
                v.get_ref(),
                Profile::codes().join(", ")
            ),
        )
    })
}

/// `[home]`: the number context of the operator's own network, and its
/// country profile. A profile gives the country code and prefixes that
/// are not written; a country code that is written must be the profile's.
pub(super) fn home(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
) -> (NumberContext, Option<&'static Profile>) {
    let h = &raw.home;
    let profile = h
        .profile
        .as_ref()
        .and_then(|p| profile(cx, p, "home.profile"));
    let cc = match (&h.country_code, profile) {
        (Some(v), _) => {
            let cc = cx.digits(
                v,
                "home.country_code",
                "a country code: 1 to 3 digits, e.g. \"31\"",
                false,
            );
            let cc = cc
                .filter(|c| c.len() <= 3 && !c.starts_with('0'))
                .or_else(|| {
                    if cx.errors.is_empty() {
                        cx.err(
                        Some(v.span()),
                        "home.country_code",
                        "a country code has 1 to 3 digits and does not start with 0, e.g. \"31\"",
                    )
                    } else {
                        None
                    }
                });
            if let (Some(c), Some(p)) = (&cc, profile)
                && c != p.country_code
            {
                cx.err::<()>(
                    Some(v.span()),
                    "home.country_code",
                    format!(
                        "profile {:?} is {}'s (+{}), not +{c}; remove country_code or change the profile",
                        p.code, p.country, p.country_code
                    ),
                );
            }
            cc
        }
        (None, Some(p)) => Some(p.country_code.to_string()),
        (None, None) => {
            if h.trunk_prefix.is_some() || h.international_prefix.is_some() {
                cx.err::<()>(
                    None,
                    "home.country_code",
                    "[home] needs country_code (e.g. \"31\") or a profile (e.g. profile = \"nl\")",
                );
            }
            Some("31".to_string())
        }
    };
    let mut prefix =
        |v: &Option<Spanned<String>>, key: &str, what: &str, empty, default: &str| match v {
            Some(v) => cx.digits(v, key, what, empty),
            None => Some(default.to_string()),
        };
    let trunk = prefix(
        &h.trunk_prefix,
        "home.trunk_prefix",
        "digits (\"0\" in most of Europe; \"\" for none)",
        true,
        profile.map_or("0", |p| p.trunk_prefix),
    );
    let intl = prefix(
        &h.international_prefix,
        "home.international_prefix",
        "digits (\"00\" in most of the world)",
        false,
        profile.map_or("00", |p| p.international_prefix),
    );
    let ctx = NumberContext {
        country_code: Some(cc.unwrap_or_else(|| "31".into())),
        trunk_prefix: trunk.unwrap_or_else(|| "0".into()),
        international_prefix: intl.unwrap_or_else(|| "00".into()),
    };
    (ctx, profile)
}

/// A profile's country as a peer reads national numbers.
pub(super) fn profile_context(p: &Profile) -> NumberContext {
    NumberContext {
        country_code: Some(p.country_code.to_string()),
        trunk_prefix: p.trunk_prefix.to_string(),
        international_prefix: p.international_prefix.to_string(),
    }
}

/// `[[numbering]]`: the numbering plans (built in for the Netherlands and
/// the profiles' countries; a table given for a country replaces its own).
pub(super) fn plans(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    countries: &[String],
) -> Vec<NumberingPlan> {
    let mut plans = Vec::new();
    for (i, p) in raw.numbering.iter().enumerate() {
        let key = format!("numbering[{i}]");
        let pv = p.get_ref();
        if pv.country_code.is_empty()
            || pv.country_code.len() > 3
            || !pv.country_code.bytes().all(|c| c.is_ascii_digit())
        {
            cx.err::<()>(
                Some(p.span()),
                format!("{key}.country_code"),
                format!(
                    "{:?} must be a country code of 1 to 3 digits",
                    pv.country_code
                ),
            );
            continue;
        }
        let mut rows = Vec::new();
        for (j, r) in pv.ranges.iter().enumerate() {
            let rk = format!("{key}.ranges[{j}]");
            let rv = r.get_ref();
            let Some(kind) = NumberType::from_name(&rv.kind) else {
                let names: Vec<_> = NumberType::ALL.iter().map(|t| t.name()).collect();
                cx.err::<()>(
                    Some(r.span()),
                    format!("{rk}.type"),
                    format!(
                        "{:?} is not a number type; use one of: {}",
                        rv.kind,
                        names.join(", ")
                    ),
                );
                continue;
            };
            if rv.prefix.is_empty() || !rv.prefix.bytes().all(|c| c.is_ascii_digit()) {
                cx.err::<()>(Some(r.span()), format!("{rk}.prefix"), format!("{:?} must be the leading digits of the national significant number, e.g. \"6\"", rv.prefix));
                continue;
            }
            if rv.lengths.is_empty()
                || rv.lengths.iter().any(|&l| {
                    l == 0
                        || l as usize + pv.country_code.len() > 15
                        || (l as usize) < rv.prefix.len()
                })
            {
                cx.err::<()>(Some(r.span()), format!("{rk}.lengths"), "lengths must list the allowed lengths of the national significant number, each at least the prefix's length and at most 15 minus the country code's");
                continue;
            }
            rows.push(PlanRange {
                prefix: rv.prefix.clone(),
                lengths: rv.lengths.clone(),
                kind,
            });
        }
        plans.push(NumberingPlan::new(&pv.country_code, rows));
    }
    // Each country screened for (`[home]`'s, the peers' profiles') without
    // a table of its own gets its built-in plan, where there is one.
    for cc in countries {
        if !plans.iter().any(|p| &p.country_code == cc)
            && let Some(p) = NumberingPlan::builtin(cc)
        {
            plans.push(p);
        }
    }
    plans
}

/// `[emergency]`: numbers and routing prefixes that are never screened.
pub(super) fn emergency(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    home: &NumberContext,
) -> EmergencyNumbers {
    let mut emergency = EmergencyNumbers {
        numbers: Vec::new(),
        routing_prefixes: Vec::new(),
        country_code: home.country_code.clone(),
    };
    for (i, n) in raw.emergency.numbers.iter().enumerate() {
        if let Some(d) = cx.digits(
            n,
            &format!("emergency.numbers[{i}]"),
            "an emergency number in digits, e.g. \"112\"",
            false,
        ) {
            emergency.numbers.push(d);
        }
    }
    for (i, n) in raw.emergency.routing_prefixes.iter().enumerate() {
        if let Some(d) = cx.digits(
            n,
            &format!("emergency.routing_prefixes[{i}]"),
            "a routing prefix in digits",
            false,
        ) {
            emergency.routing_prefixes.push(d);
        }
    }
    emergency
}

pub(super) fn number_context(
    cx: &mut Ctx<'_>,
    v: &Spanned<toml::Value>,
    key: &str,
    home: &NumberContext,
) -> Option<NumberContext> {
    const EXPECT: &str = "use \"home\", \"e164\", or a table { country_code = \"49\", trunk_prefix = \"0\", international_prefix = \"00\" }";
    match v.get_ref() {
        toml::Value::String(s) if s == "home" => Some(home.clone()),
        toml::Value::String(s) if s == "e164" => Some(NumberContext::e164_only()),
        toml::Value::Table(t) => {
            let field = |name: &str, default: &str| -> Result<String, String> {
                match t.get(name) {
                    None => Ok(default.to_string()),
                    Some(toml::Value::String(s))
                        if s.bytes().all(|c| c.is_ascii_digit()) && s.len() <= 4 =>
                    {
                        Ok(s.clone())
                    }
                    Some(_) => Err(format!("{name} must be a string of digits")),
                }
            };
            if let Some(k) = t.keys().find(|k| {
                !["country_code", "trunk_prefix", "international_prefix"].contains(&k.as_str())
            }) {
                return cx.err(Some(v.span()), key, format!("unknown key {k:?}; {EXPECT}"));
            }
            let cc = match t.get("country_code") {
                Some(toml::Value::String(s))
                    if (1..=3).contains(&s.len())
                        && s.bytes().all(|c| c.is_ascii_digit())
                        && !s.starts_with('0') =>
                {
                    s.clone()
                }
                _ => {
                    return cx.err(
                        Some(v.span()),
                        format!("{key}.country_code"),
                        format!("a country code of 1 to 3 digits is required; {EXPECT}"),
                    );
                }
            };
            match (
                field("trunk_prefix", "0"),
                field("international_prefix", "00"),
            ) {
                (Ok(trunk_prefix), Ok(international_prefix)) => Some(NumberContext {
                    country_code: Some(cc),
                    trunk_prefix,
                    international_prefix,
                }),
                (Err(e), _) | (_, Err(e)) => cx.err(Some(v.span()), key, format!("{e}; {EXPECT}")),
            }
        }
        _ => cx.err(Some(v.span()), key, EXPECT),
    }
}
