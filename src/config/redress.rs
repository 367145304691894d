//! `[redress]` (RFC 8688 §5): a rejected caller's way to ask why. The 608
//! answers carry `Call-Info: <url>;purpose=jwscard`, the URL where the
//! operator publishes its contact card (a jCard, RFC 7095, signed as a JWS
//! by `callscreen redress build`); `listen` optionally serves that one file,
//! read-only, apart from the control API. The signing key is read by
//! `redress build` only, never by the daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::context::Ctx;
use super::schema;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedressSettings {
    /// The public `https://` URL of the signed card (the `Call-Info` URI).
    pub url: String,
    /// The signed card: written by `redress build`, served by `listen`.
    pub card: PathBuf,
    /// The ECDSA P-256 key that signs it (PKCS#8 PEM).
    pub key: PathBuf,
    /// Where the key's certificate is published (the JWS `x5u`).
    pub cert_url: String,
    /// The card: the formatted name (`fn`), organisation, telephone
    /// numbers (E.164), e-mail addresses, web page and a note.
    pub name: String,
    pub org: Option<String>,
    pub tel: Vec<String>,
    pub email: Vec<String>,
    pub web: Option<String>,
    pub note: Option<String>,
    /// The optional read-only listener for the card alone.
    pub listen: Option<SocketAddr>,
    /// Its TLS certificate and key (PEM); plain HTTP without them (behind
    /// the operator's HTTPS front).
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// An `https://` URL that fits in a `Call-Info` angle-bracket URI and in a
/// JSON string as it is (no spaces, quotes, angle brackets or controls).
fn https_url(v: &str) -> bool {
    v.strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        && v.bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'<' | b'>' | b'"' | b'\\'))
}

pub(super) fn redress_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
) -> Option<RedressSettings> {
    let section = raw.redress.as_ref()?;
    let span = Some(section.span());
    let r = section.get_ref();
    let url = r.url.get_ref().trim().to_string();
    if !https_url(&url) {
        cx.err::<()>(
            Some(r.url.span()),
            "redress.url",
            format!("{url:?} must be the https:// URL where the signed card is published (RFC 8688 wants HTTPS), e.g. \"https://www.example.net/callscreen/redress.jws\""),
        );
    }
    let cert_url = match &r.cert_url {
        Some(c) if https_url(c.get_ref().trim()) => c.get_ref().trim().to_string(),
        Some(c) => cx.err(
            Some(c.span()),
            "redress.cert_url",
            format!("{:?} must be the https:// URL of the signing key's certificate (PEM)", c.get_ref()),
        )?,
        None => cx.err(
            span.clone(),
            "redress.cert_url",
            "missing: the https:// URL of the signing key's certificate (the card's JWS names it in x5u)",
        )?,
    };
    let name = match &r.name {
        Some(n) if !n.get_ref().trim().is_empty() => n.get_ref().trim().to_string(),
        Some(n) => cx.err(Some(n.span()), "redress.name", "must not be empty")?,
        None => cx.err(
            span.clone(),
            "redress.name",
            "missing: who a rejected caller reaches, e.g. \"Example Telecom call screening desk\"",
        )?,
    };
    let mut tel = Vec::new();
    for t in &r.tel {
        let v = t.get_ref().trim();
        let digits = v.strip_prefix('+').unwrap_or("");
        if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
            tel.push(v.to_string());
        } else {
            cx.err::<()>(
                Some(t.span()),
                "redress.tel",
                format!("{v:?} must be an E.164 number, e.g. \"+31201234000\""),
            );
        }
    }
    let mut email = Vec::new();
    for e in &r.email {
        let v = e.get_ref().trim();
        let ok = v
            .split_once('@')
            .is_some_and(|(a, b)| !a.is_empty() && b.contains('.'))
            && v.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\');
        if ok {
            email.push(v.to_string());
        } else {
            cx.err::<()>(
                Some(e.span()),
                "redress.email",
                format!("{v:?} is not an e-mail address"),
            );
        }
    }
    if tel.is_empty() && email.is_empty() {
        cx.err::<()>(
            span.clone(),
            "redress.tel",
            "give a rejected caller a way to ask: at least one tel or email",
        );
    }
    let web = match &r.web {
        Some(w) if https_url(w.get_ref().trim()) => Some(w.get_ref().trim().to_string()),
        Some(w) => cx.err(
            Some(w.span()),
            "redress.web",
            format!("{:?} must be an https:// URL", w.get_ref()),
        )?,
        None => None,
    };
    let listen = match &r.listen {
        None => None,
        Some(l) => match l.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => cx.err(
                Some(l.span()),
                "redress.listen",
                format!("{:?} must be an address and port, e.g. \"0.0.0.0:8443\" (serves the card only)", l.get_ref()),
            )?,
        },
    };
    let tls = match (&r.tls_cert, &r.tls_key) {
        (Some(c), Some(k)) => Some((base.join(c), base.join(k))),
        (None, None) => None,
        _ => cx.err(
            span.clone(),
            "redress.tls_cert",
            "tls_cert and tls_key go together (PEM files)",
        )?,
    };
    if tls.is_some() && listen.is_none() {
        cx.err::<()>(
            span.clone(),
            "redress.tls_cert",
            "TLS is for the card's listener: set listen too",
        );
    }
    let Some(key) = &r.key else {
        return cx.err(
            span,
            "redress.key",
            "missing: the ECDSA P-256 key (PKCS#8 PEM) that `callscreen redress build` signs the card with; make one with `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out redress.key`",
        );
    };
    Some(RedressSettings {
        url,
        card: base.join(r.card.as_deref().unwrap_or("redress.jws")),
        key: base.join(key),
        cert_url,
        name,
        org: r.org.clone().filter(|o| !o.trim().is_empty()),
        tel,
        email,
        web,
        note: r.note.clone().filter(|n| !n.trim().is_empty()),
        listen,
        tls,
    })
}
