//! The certificate side of STIR/SHAKEN verification (RFC 8224 §6.2.2, RFC
//! 8226, ATIS-1000074): the `x5u` certificate chained to the STI-CA trust
//! anchors (rustls-webpki), valid now, carrying the TNAuthList extension
//! (x509-parser); then the PASSporT's ES256 signature checked with the
//! certificate's key (ring). No cryptography here is our own.

use std::path::Path;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};

use crate::screen::passport::StirFailure;

/// The OID of the TNAuthList extension (RFC 8226 §9): 1.3.6.1.5.5.7.1.26.
pub const TN_AUTH_LIST_OID: &str = "1.3.6.1.5.5.7.1.26";

/// The STI-CA trust anchors (`[stir] trust_anchors`: a directory of PEM files).
#[derive(Debug, Default)]
pub struct Anchors {
    ders: Vec<CertificateDer<'static>>,
}

impl Anchors {
    /// Every certificate in every `*.pem` and `*.crt` file of `dir`. An
    /// unreadable file or one without a certificate is an error naming it.
    pub fn load(dir: &Path) -> Result<Anchors, String> {
        // Refused now rather than at the first call.
        let ders = pem_files(dir, |d| {
            webpki::anchor_from_trusted_cert(d)
                .map(|_| ())
                .map_err(|e| format!("not a usable CA certificate: {e}"))
        })?;
        if ders.is_empty() {
            return Err(format!(
                "{}: no *.pem or *.crt file: put the STI-CA root certificates there",
                dir.display()
            ));
        }
        Ok(Anchors { ders })
    }

    /// The anchors' certificates.
    pub fn ders(&self) -> &[CertificateDer<'static>] {
        &self.ders
    }

    fn anchors(&self) -> Vec<TrustAnchor<'_>> {
        self.ders
            .iter()
            .filter_map(|d| webpki::anchor_from_trusted_cert(d).ok())
            .collect()
    }
}

/// Every certificate in every `*.pem` and `*.crt` file of `dir`, in the
/// files' name order, each passing `check`. An unreadable file, one without
/// a certificate, or a certificate `check` refuses is an error naming the
/// file.
pub fn pem_files(
    dir: &Path,
    check: impl Fn(&CertificateDer<'_>) -> Result<(), String>,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("pem") || x.eq_ignore_ascii_case("crt"))
        })
        .collect();
    paths.sort();
    let mut ders = Vec::new();
    for p in &paths {
        let bytes = std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let before = ders.len();
        for c in CertificateDer::pem_slice_iter(&bytes) {
            ders.push(c.map_err(|e| format!("{}: not a PEM certificate: {e}", p.display()))?);
        }
        if ders.len() == before {
            return Err(format!("{}: holds no PEM certificate", p.display()));
        }
        for d in &ders[before..] {
            check(d).map_err(|e| format!("{}: {e}", p.display()))?;
        }
    }
    Ok(ders)
}

/// A certificate that passed: the leaf's public key (the uncompressed
/// P-256 point; read once, so that a call costs one ECDSA verification and
/// no certificate parsing), and until when it is valid.
#[derive(Debug)]
pub struct Checked {
    key: Vec<u8>,
    /// Unix seconds of the leaf's notAfter.
    pub not_after: u64,
    /// Where the revocation of each certificate of its path is published,
    /// the leaf first, then the intermediates the path went through
    /// (those that name no https CRL distribution point are not here; the
    /// trust anchor is trusted as configured).
    pub revocation: Vec<super::crl::Revocable>,
    /// What its PASSporTs may claim (JWT Claim Constraints).
    pub constraints: ClaimConstraints,
}

/// The OIDs of JWT Claim Constraints (RFC 8226 §9: id-pe 27) and Enhanced
/// JWT Claim Constraints (RFC 9118: id-pe 33).
const JWT_CLAIM_CONSTRAINTS: [&str; 2] = ["1.3.6.1.5.5.7.1.27", "1.3.6.1.5.5.7.1.33"];

/// What a certificate lets the PASSporTs it signs claim (RFC 8226 §8, RFC
/// 9118): claims each must carry, claims none may carry, and for some
/// claims the only values allowed. Read with der-parser (the modules use
/// EXPLICIT tags).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimConstraints {
    pub must_include: Vec<String>,
    pub must_exclude: Vec<String>,
    pub permitted: Vec<(String, Vec<String>)>,
}

impl ClaimConstraints {
    /// Reads the extension's value: `SEQUENCE { mustInclude [0] OPTIONAL,
    /// permittedValues [1] OPTIONAL, mustExclude [2] OPTIONAL }`.
    pub fn parse(der: &[u8]) -> Option<ClaimConstraints> {
        use x509_parser::der_parser::der::parse_der;
        let (rest, top) = parse_der(der).ok()?;
        if !rest.is_empty() {
            return None;
        }
        let mut out = ClaimConstraints::default();
        for field in top.as_sequence().ok()? {
            // EXPLICIT [n]: the content is one whole element.
            let (rest, inner) = parse_der(field.as_slice().ok()?).ok()?;
            if !rest.is_empty() {
                return None;
            }
            let names = |o: &x509_parser::der_parser::ber::BerObject<'_>| -> Option<Vec<String>> {
                o.as_sequence()
                    .ok()?
                    .iter()
                    .map(|n| n.as_str().ok().map(str::to_string))
                    .collect()
            };
            match field.tag().0 {
                0 => out.must_include = names(&inner)?,
                2 => out.must_exclude = names(&inner)?,
                1 => {
                    for pv in inner.as_sequence().ok()? {
                        let pv = pv.as_sequence().ok()?;
                        let (claim, values) = (pv.first()?, pv.get(1)?);
                        out.permitted
                            .push((claim.as_str().ok()?.to_string(), names(values)?));
                    }
                }
                _ => return None,
            }
        }
        Some(out)
    }

    pub fn is_empty(&self) -> bool {
        self.must_include.is_empty() && self.must_exclude.is_empty() && self.permitted.is_empty()
    }

    /// Whether a PASSporT's claims (its payload) keep within them: every
    /// claim of `mustInclude` there, none of `mustExclude`, and a claim
    /// with permitted values one of them (a string claim as the string; an
    /// object or other claim equal to the permitted value read as JSON).
    pub fn allow(&self, payload: &serde_json::Value) -> bool {
        let has = |c: &String| payload.get(c).is_some();
        self.must_include.iter().all(has)
            && !self.must_exclude.iter().any(has)
            && self
                .permitted
                .iter()
                .all(|(claim, values)| match payload.get(claim) {
                    None => true,
                    Some(serde_json::Value::String(s)) => values.iter().any(|v| v == s),
                    Some(v) => values.iter().any(|p| {
                        serde_json::from_str::<serde_json::Value>(p).is_ok_and(|p| &p == v)
                    }),
                })
    }
}

/// SHAKEN constrains no extended key usage (ATIS-1000080 defines none), so
/// any EKU the certificate carries is accepted.
struct AnyUsage;

impl ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// Checks what an `x5u` URL gave (PEM: the leaf first, then intermediates;
/// or one DER certificate) against the anchors at `now` (unix seconds).
pub fn check(body: &[u8], anchors: &Anchors, now: u64) -> Result<Checked, StirFailure> {
    let mut certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(body)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        // application/pkix-cert: one DER certificate.
        certs.push(CertificateDer::from(body.to_vec()));
    }
    let leaf = certs.remove(0);
    let parsed = x509_parser::parse_x509_certificate(&leaf)
        .map_err(|_| StirFailure::Untrusted)?
        .1;
    let ee = EndEntityCert::try_from(&leaf).map_err(|_| StirFailure::Untrusted)?;
    let anchors_v = anchors.anchors();
    let time = UnixTime::since_unix_epoch(std::time::Duration::from_secs(now));
    let algs: &[&dyn SignatureVerificationAlgorithm] = &[
        webpki::ring::ECDSA_P256_SHA256,
        webpki::ring::ECDSA_P384_SHA384,
        webpki::ring::ECDSA_P384_SHA256,
        webpki::ring::ECDSA_P256_SHA384,
        webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    ];
    let verified = ee.verify_for_usage(algs, &anchors_v, &certs, time, AnyUsage, None, None);
    let path = match verified {
        Ok(path) => path,
        Err(webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }) => {
            return Err(StirFailure::CertExpired);
        }
        Err(_) => return Err(StirFailure::Untrusted),
    };
    // The leaf, then the intermediates of the path that passed (not every
    // certificate served: only those the path went through).
    let mut revocation: Vec<_> = super::crl::revocable(&parsed, &certs, &anchors.ders)
        .into_iter()
        .collect();
    for inter in path.intermediate_certificates() {
        let der = inter.der();
        let Ok((_, c)) = x509_parser::parse_x509_certificate(&der) else {
            return Err(StirFailure::Untrusted);
        };
        revocation.extend(super::crl::revocable(&c, &certs, &anchors.ders).map(|r| {
            super::crl::Revocable {
                intermediate: true,
                ..r
            }
        }));
    }
    let has_tn_auth = parsed
        .extensions()
        .iter()
        .any(|e| e.oid.to_id_string() == TN_AUTH_LIST_OID);
    if !has_tn_auth {
        return Err(StirFailure::NoTnAuthList);
    }
    let not_after = u64::try_from(parsed.validity().not_after.timestamp()).unwrap_or(0);
    let key = parsed.public_key().subject_public_key.data.to_vec();
    let mut constraints = ClaimConstraints::default();
    for e in parsed.extensions() {
        if JWT_CLAIM_CONSTRAINTS.contains(&e.oid.to_id_string().as_str()) {
            // A constraint not understood is not a constraint to ignore.
            let c = ClaimConstraints::parse(e.value).ok_or(StirFailure::Untrusted)?;
            constraints.must_include.extend(c.must_include);
            constraints.must_exclude.extend(c.must_exclude);
            constraints.permitted.extend(c.permitted);
        }
    }
    Ok(Checked {
        key,
        not_after,
        revocation,
        constraints,
    })
}

impl Checked {
    /// Checks the signature of a PASSporT (`header.payload.signature`,
    /// base64url) with this certificate's key; `now` against its validity.
    pub fn verify(&self, token: &str, now: u64) -> Result<(), StirFailure> {
        if now > self.not_after {
            return Err(StirFailure::CertExpired);
        }
        let mut parts = token.rsplitn(2, '.');
        let (Some(sig), Some(signed)) = (parts.next(), parts.next()) else {
            return Err(StirFailure::Malformed);
        };
        let sig = crate::screen::passport::base64_decode(sig).ok_or(StirFailure::Malformed)?;
        if sig.len() != 64 || signed.split('.').count() != 2 {
            return Err(StirFailure::Malformed);
        }
        // ES256 as a JWS carries it (RFC 7518 §3.4): R and S, 32 bytes
        // each, not DER; ring's fixed-length P-256 verifier. A key of
        // another type or curve does not verify.
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::ECDSA_P256_SHA256_FIXED,
            &self.key,
        )
        .verify(signed.as_bytes(), &sig)
        .map_err(|_| StirFailure::BadSignature)?;
        if self.constraints.is_empty() {
            return Ok(());
        }
        // RFC 8226 §8: a PASSporT claiming what its certificate does not
        // allow fails, whatever its signature.
        let payload = signed
            .split('.')
            .nth(1)
            .and_then(crate::screen::passport::base64_decode)
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .ok_or(StirFailure::Malformed)?;
        if self.constraints.allow(&payload) {
            Ok(())
        } else {
            Err(StirFailure::ClaimConstraints)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DER element (short lengths only: these tests' values are small).
    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag, body.len() as u8];
        out.extend_from_slice(body);
        out
    }

    fn names(tag: u8, n: &[&str]) -> Vec<u8> {
        let items: Vec<u8> = n.iter().flat_map(|s| tlv(0x16, s.as_bytes())).collect();
        tlv(tag, &tlv(0x30, &items))
    }

    #[test]
    fn jwt_claim_constraints_are_read_and_kept_to() {
        // mustInclude ["rcd"], permittedValues [rcd: one object; attest: "A"], mustExclude ["div"].
        let pv = |claim: &str, values: &[&str]| {
            let vals: Vec<u8> = values
                .iter()
                .flat_map(|v| tlv(0x0c, v.as_bytes()))
                .collect();
            tlv(
                0x30,
                &[tlv(0x16, claim.as_bytes()), tlv(0x30, &vals)].concat(),
            )
        };
        let der = tlv(
            0x30,
            &[
                names(0xa0, &["rcd"]),
                tlv(
                    0xa1,
                    &tlv(
                        0x30,
                        &[pv("rcd", &[r#"{"nam":"Acme"}"#]), pv("attest", &["A"])].concat(),
                    ),
                ),
                names(0xa2, &["div"]),
            ]
            .concat(),
        );
        let c = ClaimConstraints::parse(&der).expect("parses");
        assert_eq!(c.must_include, ["rcd"]);
        assert_eq!(c.must_exclude, ["div"]);
        assert_eq!(c.permitted.len(), 2);
        let allow = |p: &str| c.allow(&serde_json::from_str(p).expect("json"));
        assert!(allow(r#"{"attest":"A","rcd":{"nam":"Acme"}}"#));
        assert!(!allow(r#"{"attest":"A","rcd":{"nam":"ING"}}"#));
        assert!(!allow(r#"{"attest":"B","rcd":{"nam":"Acme"}}"#));
        assert!(!allow(r#"{"attest":"A"}"#), "rcd must be there");
        assert!(!allow(r#"{"attest":"A","rcd":{"nam":"Acme"},"div":{}}"#));
        // Not what the modules say: refused (the certificate with it too).
        assert_eq!(
            ClaimConstraints::parse(&tlv(0x30, &names(0xa5, &["x"]))),
            None
        );
        assert_eq!(ClaimConstraints::parse(b"\x30\x05junk"), None);
        assert!(ClaimConstraints::parse(&tlv(0x30, &[])).is_some_and(|c| c.is_empty()));
    }
}
