//! `[roaming]`: the roaming check (the `roaming` room asks it). The URL and
//! the TLS files are read here, so a broken one is refused at start with
//! its key and line, not at the first call from abroad.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::context::Ctx;
use super::schema;
use crate::roaming::RoamingConfig;
use crate::stir::fetch::Url;

pub(super) fn roaming_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
) -> Option<Arc<RoamingConfig>> {
    let s = raw.roaming.as_ref()?;
    let url = match Url::parse(s.url.get_ref()) {
        Ok(u) => Some(u),
        Err(_) => cx.err(
            Some(s.url.span()),
            "roaming.url",
            format!(
                "{:?} must be an https URL, e.g. \"https://hlr-gw.example.net/v1/roaming\" (the endpoint is asked over TLS only)",
                s.url.get_ref()
            ),
        ),
    };
    let file = |f: &Option<Spanned<String>>| f.as_ref().map(|f| base.join(f.get_ref()));
    let identity = match (file(&s.client_cert), file(&s.client_key)) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => {
            cx.err::<()>(
                s.client_cert
                    .as_ref()
                    .or(s.client_key.as_ref())
                    .map(|f| f.span()),
                "roaming.client_cert",
                "a client certificate needs both client_cert and client_key (PEM files)",
            );
            None
        }
    };
    let tls = match crate::tls::trusting(
        file(&s.ca_file).as_deref(),
        identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    ) {
        Ok(c) => Some(c),
        Err(e) => cx.err(
            s.ca_file.as_ref().or(s.client_cert.as_ref()).map(|f| f.span()),
            "roaming.ca_file",
            format!("{e}; ca_file: the CA certificates (PEM) the endpoint is checked against; client_cert/client_key: callscreen's own"),
        ),
    };
    let budget = cx.bounded(&s.budget_ms, "roaming.budget_ms", (1, 10_000, 150), " ms");
    let timeout = cx.bounded(
        &s.timeout_ms,
        "roaming.timeout_ms",
        (10, 60_000, 2_000),
        " ms",
    );
    let cache = cx.bounded(&s.cache_secs, "roaming.cache_secs", (0, 86_400, 300), " s");
    let cache_entries = cx.bounded(
        &s.cache_entries,
        "roaming.cache_entries",
        (1, 10_000_000, 100_000),
        "",
    );
    let max_in_flight = cx.bounded(
        &s.max_in_flight,
        "roaming.max_in_flight",
        (1, 100_000, 256),
        "",
    );
    let backoff = cx.bounded(
        &s.failure_backoff_secs,
        "roaming.failure_backoff_secs",
        (0, 3_600, 5),
        " s",
    );
    Some(Arc::new(RoamingConfig {
        url_text: s.url.get_ref().clone(),
        url: url?,
        tls: tls?,
        budget: Duration::from_millis(budget),
        timeout: Duration::from_millis(timeout.max(budget)),
        cache_entries,
        cache: Duration::from_secs(cache),
        max_in_flight,
        failure_backoff: Duration::from_secs(backoff),
        client_key: identity.map(|(_, k)| k),
    }))
}
