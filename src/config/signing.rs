//! `[signing]`: the authentication service (`stir::sign` signs). The key
//! is read here, so a missing or wrong one is refused at start and at
//! reload with its key and line; a reload reads it again (key rotation).

use std::path::Path;
use std::sync::Arc;

use super::context::Ctx;
use super::schema;
use super::settings::Mode;
use crate::screen::NumberBlock;
use crate::stir::fetch::Url;
use crate::stir::sign::{CallerSource, Signer};

pub(super) fn signing_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
    mode: Mode,
) -> Option<Arc<Signer>> {
    let s = raw.signing.as_ref()?;
    if mode != Mode::Proxy {
        cx.err::<()>(
            Some(s.key_file.span()),
            "signing",
            "calls are signed in proxy mode only (sip.mode = \"proxy\"): in redirect mode the SBC builds the request that leaves, so the SBC must sign it",
        );
    }
    let x5u = s.x5u.get_ref();
    if Url::parse(x5u).is_err() || x5u.contains(['<', '>', '"', ';', ',']) {
        cx.err::<()>(
            Some(s.x5u.span()),
            "signing.x5u",
            format!("{x5u:?} must be the https URL of the certificate chain (PEM) verifiers fetch"),
        );
    }
    let mut ranges = Vec::new();
    for (i, r) in s.own_ranges.iter().enumerate() {
        match NumberBlock::parse(r.get_ref()) {
            Some(b) => ranges.push(b),
            None => {
                cx.err::<()>(
                    Some(r.span()),
                    format!("signing.own_ranges[{i}]"),
                    format!(
                        "{:?} is not a number block; write \"+31201234567\" or \"+3120123*\"",
                        r.get_ref()
                    ),
                );
            }
        }
    }
    let order = match &s.caller_order {
        None => vec![CallerSource::Pai, CallerSource::From],
        Some(v) => {
            let mut out = Vec::new();
            for c in v.get_ref() {
                match c.as_str() {
                    "from" => out.push(CallerSource::From),
                    "pai" => out.push(CallerSource::Pai),
                    other => {
                        cx.err::<()>(
                            Some(v.span()),
                            "signing.caller_order",
                            format!("{other:?}: list \"from\" and \"pai\" in the order the caller number is taken (France's MAN: [\"from\", \"pai\"])"),
                        );
                    }
                }
            }
            if out.is_empty() {
                cx.err::<()>(
                    Some(v.span()),
                    "signing.caller_order",
                    "name at least one of \"from\", \"pai\"",
                );
            }
            out
        }
    };
    match Signer::load(&base.join(s.key_file.get_ref()), x5u.clone(), ranges, order) {
        Ok(signer) => Some(Arc::new(signer)),
        Err(e) => cx.err(Some(s.key_file.span()), "signing.key_file", e),
    }
}
