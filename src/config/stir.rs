//! `[stir]`: STIR/SHAKEN verification (the `stir` room does it). The trust
//! anchors and the HTTPS trust for `x5u` are read here, so a missing or
//! broken file is refused at start with its key and line, not at the first
//! signed call.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::context::Ctx;
use super::schema;
use crate::screen::{ReasonKey, ReasonKind};
use crate::stir::crl::Signers;
use crate::stir::{Anchors, CrlConfig, CrlUnavailable, FetchRules, StirConfig};

/// The verifier's configuration, and the reasons a verified `A` lifts.
pub(super) fn stir_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
) -> (Option<Arc<StirConfig>>, Vec<ReasonKind>) {
    let Some(s) = raw.stir.as_ref() else {
        return (None, Vec::new());
    };
    let dir = base.join(s.trust_anchors.get_ref());
    let anchors = match Anchors::load(&dir) {
        Ok(a) => Some(a),
        Err(e) => cx.err(
            Some(s.trust_anchors.span()),
            "stir.trust_anchors",
            format!("{e}; name a directory of STI-CA root certificates (PEM)"),
        ),
    };
    let https = match crate::tls::trusting(
        s.x5u_ca_file
            .as_ref()
            .map(|f| base.join(f.get_ref()))
            .as_deref(),
        None,
    ) {
        Ok(c) => Some(c),
        Err(e) => cx.err(
            s.x5u_ca_file.as_ref().map(|f| f.span()),
            "stir.x5u_ca_file",
            format!("{e}; the CA certificates (PEM) that x5u HTTPS servers are checked against"),
        ),
    };
    let allow_networks = cx.cidrs(&s.x5u_allow_networks, "stir.x5u_allow_networks");
    let mut allow_hosts = Vec::new();
    for h in &s.x5u_allow_hosts {
        let v = h.get_ref().trim().to_ascii_lowercase();
        if v.is_empty() || v.contains(['/', ':', ' ', '@']) {
            cx.err::<()>(
                Some(h.span()),
                "stir.x5u_allow_hosts",
                format!("{v:?} must be a host name, e.g. \"cert.sti-ca.example\" (no scheme, port or path)"),
            );
        } else {
            allow_hosts.push(v);
        }
    }
    let mut lifts = Vec::new();
    for r in &s.a_lifts {
        match ReasonKey::parse(r.get_ref()) {
            Ok(k) if k.kind.names_list() || k.kind.code().starts_with("stir:") => {
                cx.err::<()>(
                    Some(r.span()),
                    "stir.a_lifts",
                    format!("{:?}: a verified attestation lifts spoofing signals only, never a list hit or a verification failure", r.get_ref()),
                );
            }
            Ok(k) => lifts.push(k.kind),
            Err(e) => {
                cx.err::<()>(Some(r.span()), "stir.a_lifts", e);
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let budget = cx.bounded(&s.budget_ms, "stir.budget_ms", (1, 10_000, 200), " ms");
    let timeout = cx.bounded(
        &s.fetch_timeout_ms,
        "stir.fetch_timeout_ms",
        (100, 60_000, 2_000),
        " ms",
    );
    let max_fetches = cx.bounded(&s.max_fetches, "stir.max_fetches", (1, 10_000, 64), "");
    let per_host = cx.bounded(
        &s.max_fetches_per_host,
        "stir.max_fetches_per_host",
        (1, 1_000, 4),
        "",
    );
    let cache_entries = cx.bounded(
        &s.cache_entries,
        "stir.cache_entries",
        (1, 1_000_000, 10_000),
        "",
    );
    let cache_max_age = cx.bounded(
        &s.cache_max_age_secs,
        "stir.cache_max_age_secs",
        (1, 604_800, 86_400),
        " s",
    );
    let negative = cx.bounded(
        &s.negative_cache_secs,
        "stir.negative_cache_secs",
        (1, 86_400, 60),
        " s",
    );
    let workers = cx.bounded(
        &s.workers,
        "stir.workers",
        (0, 256, 0),
        " (0: one per core)",
    );
    let queue = cx.bounded(&s.queue, "stir.queue", (1, 1_000_000, 1_024), "");
    let crl_max_bytes = cx.bounded(
        &s.crl_max_bytes,
        "stir.crl_max_bytes",
        (16 * 1024, 64 * 1024 * 1024, 1024 * 1024),
        " bytes",
    );
    let unavailable = match &s.crl_unavailable {
        None => Some(CrlUnavailable::NoValidation),
        Some(v) => CrlUnavailable::parse(v.get_ref()).or_else(|| {
            cx.err(
                Some(v.span()),
                "stir.crl_unavailable",
                format!("{:?}: use \"no-validation\" (the call is No-TN-Validation, the default), \"pass\" (the certificate passes as if not revoked) or \"fail\" (stir:crl-unavailable)", v.get_ref()),
            )
        }),
    };
    let (Some(anchors), Some(https)) = (anchors, https) else {
        return (None, lifts);
    };
    let signers = match s.crl_check.unwrap_or(true) {
        false => None,
        true => {
            let configured = match &s.crl_signers {
                None => Ok(Vec::new()),
                Some(d) => crate::stir::chain::pem_files(&base.join(d.get_ref()), |c| {
                    x509_parser::parse_x509_certificate(c)
                        .map(|_| ())
                        .map_err(|e| format!("a certificate does not parse: {e}"))
                }),
            };
            match configured.and_then(|c| Signers::new(&c, anchors.ders())) {
                Ok(signers) => Some(signers),
                Err(e) => cx.err(
                    s.crl_signers.as_ref().map(|d| d.span()),
                    "stir.crl_signers",
                    format!(
                        "{e}; name a directory of the certificates (PEM) that sign indirect CRLs"
                    ),
                ),
            }
        }
    };
    let crl = match (signers, unavailable) {
        (Some(signers), Some(unavailable)) => Some(CrlConfig {
            signers,
            max_bytes: crl_max_bytes,
            unavailable,
        }),
        _ => None,
    };
    let cfg = StirConfig {
        anchors: Arc::new(anchors),
        https,
        fetch: FetchRules {
            timeout: Duration::from_millis(timeout),
            allow_hosts,
            allow_networks,
        },
        budget: Duration::from_millis(budget),
        max_fetches,
        max_fetches_per_host: per_host,
        cache_entries,
        cache_max_age: Duration::from_secs(cache_max_age),
        negative: Duration::from_secs(negative),
        workers: if workers == 0 { cores } else { workers },
        queue,
        crl,
    };
    (Some(Arc::new(cfg)), lifts)
}
