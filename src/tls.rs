//! rustls configurations from PEM files, shared by the control API, the
//! redress listener, SIP over TLS and the STIR certificate fetches (ring as
//! the provider everywhere).

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// What to do about a secret file the service's user cannot read.
pub const CREDENTIAL_HINT: &str = "the service runs as its own unprivileged user (DynamicUser=yes) and cannot read a root-only file: hand it over as a credential (`systemctl edit callscreen`, [Service] LoadCredential=NAME:/path/to/file) and name it NAME, a relative path, in the configuration (README \"Secrets as systemd credentials\")";

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let c: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect();
    let c = c.map_err(|e| format!("{}: {e}", path.display()))?;
    if c.is_empty() {
        return Err(format!(
            "{}: no PEM certificate in the file",
            path.display()
        ));
    }
    Ok(c)
}

/// A file this process can open, or why not (and, when it may not, how to
/// hand it over to the service).
fn readable(path: &Path) -> Result<(), String> {
    match std::fs::File::open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(format!("{}: {e}: {}", path.display(), CREDENTIAL_HINT))
        }
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// The server side: certificate chain and key, and (optionally) the CA that
/// client certificates must chain to.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, String> {
    readable(cert)?;
    readable(key)?;
    let chain = certs(cert)?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in certs(ca)? {
                roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| e.to_string())?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", cert.display()))?;
    Ok(Arc::new(cfg))
}

/// The client side, for the `lists` commands: trust `ca`, present
/// `cert`/`key` when given.
pub fn client_config(
    ca: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca)? {
        roots.add(c).map_err(|e| format!("{}: {e}", ca.display()))?;
    }
    client(roots, identity)
}

/// A client that trusts the CAs in `ca` (PEM), or, without one, the
/// system's trust store (Debian: `/etc/ssl/certs`); presenting `identity`
/// (certificate chain and key) when given.
pub fn trusting(
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    if let Some(ca) = ca {
        return client_config(ca, identity);
    }
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for c in found.certs {
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err(
            "the system has no trusted CA certificates (install ca-certificates, or name a CA file)"
                .into(),
        );
    }
    client(roots, identity)
}

fn client(
    roots: rustls::RootCertStore,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let b = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let cfg = match identity {
        None => b.with_no_client_auth(),
        Some((cert, key)) => {
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("{}: not a PEM private key: {e}", key.display()))?;
            b.with_client_auth_cert(certs(cert)?, key)
                .map_err(|e| e.to_string())?
        }
    };
    Ok(Arc::new(cfg))
}

/// The DNS names of a certificate's subjectAltName and its common names,
/// lower case (what `tls_names` on a peer is compared with).
pub fn names(der: &CertificateDer<'_>) -> Vec<String> {
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                out.push(d.to_ascii_lowercase());
            }
        }
    }
    for cn in cert.subject().iter_common_name() {
        if let Ok(s) = cn.as_str() {
            out.push(s.to_ascii_lowercase());
        }
    }
    out
}
