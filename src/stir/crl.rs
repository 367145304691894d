//! Revocation (RFC 5280 §6.3, in the part STIR/SHAKEN uses): where a
//! certificate's CRL is published (its CRL Distribution Points, §4.2.1.13),
//! and a fetched CRL checked before it is believed: its issuer the one the
//! point names, its signature by that issuer's key, its dates, and whether
//! it lists the certificate.
//!
//! Two kinds of CRL, both checked with x509-parser (parsing, and the
//! signature through ring); none of the cryptography is ours:
//! - **direct**: the point names no `cRLIssuer`; the CRL is the
//!   certificate's issuer's, signed with the key of the issuing certificate
//!   found in the chain that passed;
//! - **indirect** (§5.2.5): the point names a `cRLIssuer`, as SHAKEN's STI
//!   Policy Administrator does; the CRL must be that issuer's, say so
//!   (`indirectCRL` in its issuing distribution point), and be signed by a
//!   certificate of that name configured as a CRL signer (`[stir]
//!   crl_signers`, or a trust anchor). Its entries name the issuer of the
//!   certificates they revoke (`certificateIssuer`, §5.3.3; until the first
//!   one, the CRL's issuer).
//!
//! rustls-webpki checks direct CRLs but refuses indirect ones; one path for
//! both keeps what is believed the same. Delta CRLs and unknown critical
//! extensions are refused. Only the end-entity certificate (the one that
//! signs PASSporTs) is looked up.

use std::collections::HashSet;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{
    DistributionPointName, GeneralName, IssuerAlternativeName, ParsedExtension,
};
use x509_parser::oid_registry::{
    OID_X509_EXT_CRL_DISTRIBUTION_POINTS, OID_X509_EXT_CRL_NUMBER,
    OID_X509_EXT_ISSUER_DISTRIBUTION_POINT,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// The CRL entry extension naming the issuer of the revoked certificate
/// (RFC 5280 §5.3.3): 2.5.29.29.
const CERTIFICATE_ISSUER: &str = "2.5.29.29";
/// CRL entry extensions that may be critical and are understood: reason
/// code (2.5.29.21), invalidity date (2.5.29.24), certificate issuer.
const ENTRY_KNOWN: [&str; 3] = ["2.5.29.21", "2.5.29.24", CERTIFICATE_ISSUER];

/// Where a certificate's revocation is published: one distribution point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Point {
    /// Its https URI.
    pub url: String,
    /// The CRL's issuer (DER `Name`) when the point names one (an indirect
    /// CRL); none: the certificate's issuer (a direct CRL).
    pub crl_issuer: Option<Vec<u8>>,
}

/// What a certificate that passed needs for its revocation check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocable {
    /// Its serial number (big-endian, without leading zeros).
    pub serial: Vec<u8>,
    /// Its issuer (DER `Name`).
    pub issuer: Vec<u8>,
    /// The issuing certificate's SubjectPublicKeyInfo (DER), for a direct CRL.
    pub issuer_key: Option<Vec<u8>>,
    /// Its distribution points with an https URI (others cannot be fetched
    /// under the `x5u` guards and are not looked at).
    pub points: Vec<Point>,
    /// When it names distribution points and none has an https URI: the
    /// first it names (its CRL cannot be had: `crl_unavailable` decides).
    pub unfetchable: Option<String>,
    /// An intermediate of the path, not the leaf.
    pub intermediate: bool,
}

/// Reads what the revocation check needs of `leaf`, whose chain passed
/// through `chain` (the certificates served with it) to one of `anchors`;
/// `None` when it names no distribution point.
pub fn revocable(
    leaf: &X509Certificate<'_>,
    chain: &[CertificateDer<'_>],
    anchors: &[CertificateDer<'_>],
) -> Option<Revocable> {
    let ext = leaf
        .extensions()
        .iter()
        .find(|e| e.oid == OID_X509_EXT_CRL_DISTRIBUTION_POINTS)?;
    let ParsedExtension::CRLDistributionPoints(dps) = ext.parsed_extension() else {
        return None;
    };
    let mut points = Vec::new();
    let mut unfetchable = None;
    for dp in dps.iter() {
        let Some(DistributionPointName::FullName(names)) = &dp.distribution_point else {
            unfetchable.get_or_insert_with(|| "a distribution point without a URI".to_string());
            continue;
        };
        unfetchable.get_or_insert_with(|| {
            names
                .iter()
                .find_map(|n| match n {
                    GeneralName::URI(u) => Some(u.to_string()),
                    _ => None,
                })
                .unwrap_or_else(|| "a distribution point without a URI".to_string())
        });
        let url = names.iter().find_map(|n| match n {
            GeneralName::URI(u) if u.starts_with("https://") => Some(u.to_string()),
            _ => None,
        });
        let crl_issuer = dp.crl_issuer.as_ref().and_then(|names| {
            names.iter().find_map(|n| match n {
                GeneralName::DirectoryName(name) => Some(name.as_raw().to_vec()),
                _ => None,
            })
        });
        if let Some(url) = url {
            points.push(Point { url, crl_issuer });
        }
    }
    if points.is_empty() && unfetchable.is_none() {
        return None;
    }
    let issuer = leaf.issuer().as_raw();
    let issuer_key = chain.iter().chain(anchors).find_map(|der| {
        let (_, c) = x509_parser::parse_x509_certificate(der).ok()?;
        (c.subject().as_raw() == issuer && leaf.verify_signature(Some(c.public_key())).is_ok())
            .then(|| c.public_key().raw.to_vec())
    });
    Some(Revocable {
        serial: leaf.serial.to_bytes_be(),
        issuer: issuer.to_vec(),
        unfetchable: points.is_empty().then_some(unfetchable).flatten(),
        issuer_key,
        points,
        intermediate: false,
    })
}

/// The certificates trusted to sign indirect CRLs (`[stir] crl_signers`,
/// and the trust anchors): their names and keys.
#[derive(Debug, Default)]
pub struct Signers {
    keys: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Signers {
    /// The signers `configured` (`crl_signers`' certificates) and the
    /// anchors.
    pub fn new(
        configured: &[CertificateDer<'_>],
        anchors: &[CertificateDer<'_>],
    ) -> Result<Signers, String> {
        let mut keys = Vec::new();
        for d in configured.iter().chain(anchors) {
            let (_, c) = x509_parser::parse_x509_certificate(d)
                .map_err(|e| format!("a CRL signer certificate does not parse: {e}"))?;
            keys.push((c.subject().as_raw().to_vec(), c.public_key().raw.to_vec()));
        }
        Ok(Signers { keys })
    }

    fn key_of(&self, name: &[u8]) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, k)| k.as_slice())
    }
}

/// A CRL that passed: when it was issued and is next due, and what it
/// revokes, by issuer and serial.
#[derive(Debug)]
pub struct Crl {
    pub this_update: u64,
    /// Unix seconds of its nextUpdate (none: it gives none).
    pub next_update: Option<u64>,
    revoked: HashSet<(Vec<u8>, Vec<u8>)>,
}

impl Crl {
    /// Whether it lists the certificate.
    pub fn lists(&self, cert: &Revocable) -> bool {
        self.revoked
            .contains(&(cert.issuer.clone(), cert.serial.clone()))
    }

    /// Whether it is past its nextUpdate at `now`.
    pub fn expired(&self, now: u64) -> bool {
        self.next_update.is_some_and(|n| n < now)
    }
}

/// Why a fetched CRL is not believed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CrlError {
    /// Not a DER (or PEM) CRL.
    Unreadable,
    /// Its issuer is not the one the distribution point names (or the
    /// certificate's issuer, for a direct CRL).
    WrongIssuer,
    /// No key to check it with: the issuing certificate is not in the
    /// chain, or no CRL signer of the `cRLIssuer`'s name is configured.
    NoSigner,
    /// Its signature does not verify with the issuer's key.
    BadSignature,
    /// An indirect CRL's issuing distribution point does not say indirectCRL.
    NotIndirect,
    /// A delta CRL, or an unknown critical extension.
    Unsupported,
    /// Issued in the future.
    NotYetValid,
}

impl std::fmt::Display for CrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CrlError::Unreadable => "not a CRL (DER or PEM)",
            CrlError::WrongIssuer => "issued by another than the distribution point names",
            CrlError::NoSigner => "no key to check it with (issuer not in the chain, or no crl_signers certificate of the cRLIssuer's name)",
            CrlError::BadSignature => "its signature does not verify with its issuer's key",
            CrlError::NotIndirect => "named by a cRLIssuer, but not marked indirectCRL",
            CrlError::Unsupported => "a delta CRL or an unknown critical extension",
            CrlError::NotYetValid => "its thisUpdate is in the future",
        })
    }
}

/// Checks a CRL fetched from `point` for `cert` (DER, or PEM `X509 CRL`)
/// at `now` (unix seconds): its issuer, signature, extensions and
/// thisUpdate. A CRL past its nextUpdate passes here ([`Crl::expired`]
/// says so): what that gives is the caller's setting.
pub fn check(
    body: &[u8],
    point: &Point,
    cert: &Revocable,
    signers: &Signers,
    now: u64,
) -> Result<Crl, CrlError> {
    let der: Vec<u8> = match CertificateRevocationListDer::from_pem_slice(body) {
        Ok(d) => d.as_ref().to_vec(),
        Err(_) => body.to_vec(),
    };
    let (rest, crl) = x509_parser::parse_x509_crl(&der).map_err(|_| CrlError::Unreadable)?;
    if !rest.is_empty() {
        return Err(CrlError::Unreadable);
    }
    let expected = point.crl_issuer.as_deref().unwrap_or(&cert.issuer);
    if crl.issuer().as_raw() != expected {
        return Err(CrlError::WrongIssuer);
    }
    let key = match &point.crl_issuer {
        Some(name) => signers.key_of(name),
        None => cert.issuer_key.as_deref(),
    }
    .ok_or(CrlError::NoSigner)?;
    let (_, spki) = SubjectPublicKeyInfo::from_der(key).map_err(|_| CrlError::NoSigner)?;
    crl.verify_signature(&spki)
        .map_err(|_| CrlError::BadSignature)?;
    let mut indirect = false;
    for e in crl.extensions() {
        if e.oid == OID_X509_EXT_ISSUER_DISTRIBUTION_POINT {
            match e.parsed_extension() {
                ParsedExtension::IssuingDistributionPoint(idp) => indirect = idp.indirect_crl,
                _ => return Err(CrlError::Unreadable),
            }
        } else if e.critical && e.oid != OID_X509_EXT_CRL_NUMBER {
            // Delta CRL indicator (2.5.29.27) included: not supported.
            return Err(CrlError::Unsupported);
        }
    }
    if point.crl_issuer.is_some() && !indirect {
        return Err(CrlError::NotIndirect);
    }
    let this_update = u64::try_from(crl.last_update().timestamp()).unwrap_or(0);
    // A few minutes' clock skew between the CRL's issuer and this node.
    if this_update > now + 300 {
        return Err(CrlError::NotYetValid);
    }
    let mut revoked = HashSet::new();
    let mut issuer = crl.issuer().as_raw().to_vec();
    for entry in crl.iter_revoked_certificates() {
        for e in entry.extensions() {
            let oid = e.oid.to_id_string();
            if oid == CERTIFICATE_ISSUER {
                if !indirect {
                    return Err(CrlError::Unsupported);
                }
                let (_, names) =
                    IssuerAlternativeName::from_der(e.value).map_err(|_| CrlError::Unreadable)?;
                issuer = names
                    .general_names
                    .iter()
                    .find_map(|n| match n {
                        GeneralName::DirectoryName(name) => Some(name.as_raw().to_vec()),
                        _ => None,
                    })
                    .ok_or(CrlError::Unreadable)?;
            } else if e.critical && !ENTRY_KNOWN.contains(&oid.as_str()) {
                return Err(CrlError::Unsupported);
            }
        }
        revoked.insert((issuer.clone(), entry.serial().to_bytes_be()));
    }
    Ok(Crl {
        this_update,
        next_update: crl
            .next_update()
            .map(|t| u64::try_from(t.timestamp()).unwrap_or(0)),
        revoked,
    })
}
