//! STIR/SHAKEN: reading the PASSporT of an Identity header (RFC 8224, RFC
//! 8225, RFC 8588): attestation, originating and destination numbers, `iat`
//! and `x5u`. The signature is not verified here: that is the `stir` room's
//! work (certificates, HTTPS), given to screening as a [`StirCheck`]. What
//! is read here without one can only raise suspicion (`shaken:*` reasons).

use serde_json::Value;

use number::E164;

/// What an Identity header says, unverified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Passport {
    /// `A`, `B` or `C` (RFC 8588 §4).
    pub attest: Option<u8>,
    /// The originating number (`orig.tn`).
    pub orig: Option<E164>,
    /// Issued-at, unix seconds.
    pub iat: Option<u64>,
    /// Number of destination numbers (`dest.tn`).
    pub dests: usize,
    /// The first destination number.
    pub dest: Option<E164>,
    /// The header names a certificate URL (`x5u`).
    pub x5u: bool,
    /// Compact form (RFC 8224 §7.3): no payload, nothing to compare.
    pub compact: bool,
}

/// Decodes base64url, also accepting the standard alphabet and padding
/// (some implementations send those).
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

fn json(part: &str) -> Option<Value> {
    serde_json::from_slice(&base64_decode(part)?).ok()
}

fn tn(v: &Value) -> Option<E164> {
    let s = v.as_str()?;
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_digit).collect();
    E164::from_digits(&digits)
}

/// The `ppt` of an Identity header: from its `ppt=` parameter, else from the
/// PASSporT header; `None` when neither says.
pub fn ppt(value: &str) -> Option<String> {
    let lower = value.to_ascii_lowercase();
    if let Some(i) = lower.find("ppt=") {
        let rest = &value[i + 4..];
        let end = rest.find([';', ' ', ',']).unwrap_or(rest.len());
        return Some(rest[..end].trim_matches('"').to_ascii_lowercase());
    }
    let token = value.split(';').next()?.trim();
    let header = json(token.split('.').next()?)?;
    header
        .get("ppt")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase)
}

/// The verification status written as `verstat` (3GPP TS 24.229 §7.2A.20).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verstat {
    Passed,
    Failed,
    NoValidation,
}

impl Verstat {
    pub fn name(self) -> &'static str {
        match self {
            Verstat::Passed => "TN-Validation-Passed",
            Verstat::Failed => "TN-Validation-Failed",
            Verstat::NoValidation => "No-TN-Validation",
        }
    }

    /// Every status, in the order the metrics give them.
    pub const ALL: [Verstat; 3] = [Verstat::Passed, Verstat::Failed, Verstat::NoValidation];
}

/// Why a PASSporT failed verification (each its own reason code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StirFailure {
    /// Not a full PASSporT this verifier can check: not three parts, not
    /// base64url JSON, `alg` not ES256, `ppt` not shaken, no `x5u`.
    Malformed,
    /// The signature does not verify with the certificate's key.
    BadSignature,
    /// The certificate does not chain to a configured STI-CA trust anchor.
    Untrusted,
    /// The certificate (or one in its chain) is expired or not yet valid.
    CertExpired,
    /// The certificate carries no TNAuthList extension (RFC 8226).
    NoTnAuthList,
}

/// What became of verifying a call's PASSporT: a fact for screening, found
/// where certificates and clocks live (the server and the `stir` room).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StirCheck {
    /// Not verified (`No-TN-Validation`): the certificate not fetched within
    /// the budget, the verification pool full, a compact-form Identity.
    Unverified(Unverified),
    /// The signature verified with a certificate that chains to an STI-CA
    /// anchor, is valid and has TNAuthList. The PASSporT's claims (`iat`,
    /// `orig`, `dest`) are compared by screening.
    Signed,
    Failed(StirFailure),
}

impl StirCheck {
    /// Every outcome, for [`StirCheck::name`] and [`StirCheck::from_name`].
    pub const ALL: [StirCheck; 9] = [
        StirCheck::Signed,
        StirCheck::Unverified(Unverified::NoCertificate),
        StirCheck::Unverified(Unverified::Busy),
        StirCheck::Unverified(Unverified::Compact),
        StirCheck::Failed(StirFailure::Malformed),
        StirCheck::Failed(StirFailure::BadSignature),
        StirCheck::Failed(StirFailure::Untrusted),
        StirCheck::Failed(StirFailure::CertExpired),
        StirCheck::Failed(StirFailure::NoTnAuthList),
    ];

    /// A stable name (call records keep it): `signed`, `unverified:busy`,
    /// `failed:bad-signature`, ...
    pub fn name(self) -> &'static str {
        match self {
            StirCheck::Signed => "signed",
            StirCheck::Unverified(Unverified::NoCertificate) => "unverified:no-certificate",
            StirCheck::Unverified(Unverified::Busy) => "unverified:busy",
            StirCheck::Unverified(Unverified::Compact) => "unverified:compact",
            StirCheck::Failed(StirFailure::Malformed) => "failed:malformed",
            StirCheck::Failed(StirFailure::BadSignature) => "failed:bad-signature",
            StirCheck::Failed(StirFailure::Untrusted) => "failed:untrusted",
            StirCheck::Failed(StirFailure::CertExpired) => "failed:cert-expired",
            StirCheck::Failed(StirFailure::NoTnAuthList) => "failed:no-tnauthlist",
        }
    }

    pub fn from_name(s: &str) -> Option<StirCheck> {
        StirCheck::ALL.into_iter().find(|c| c.name() == s)
    }
}

/// Why a PASSporT was not verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unverified {
    /// The certificate could not be had in time (fetch failed, timed out,
    /// or the fetch limits were reached).
    NoCertificate,
    /// The verification pool was full.
    Busy,
    /// Compact form (RFC 8224 §7.3): no payload travelled with it.
    Compact,
}

/// The longest `x5u` URL taken (longer ones are `stir:malformed`).
pub const MAX_X5U: usize = 1024;

/// The token and `x5u` of a full-form SHAKEN Identity header, checked for
/// what a verifier needs (`alg` ES256, `ppt` shaken when given, an https
/// `x5u`); `Err(None)` for the compact form, `Err(Some(Malformed))` else.
pub fn verifiable(value: &str) -> Result<(&str, String), Option<StirFailure>> {
    let token = value.split(';').next().unwrap_or_default().trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Some(StirFailure::Malformed));
    };
    if p.is_empty() {
        return Err(None);
    }
    let header = json(h).ok_or(Some(StirFailure::Malformed))?;
    let field = |k: &str| header.get(k).and_then(Value::as_str);
    if field("alg") != Some("ES256") || field("ppt").is_some_and(|p| p != "shaken") {
        return Err(Some(StirFailure::Malformed));
    }
    match field("x5u") {
        // A URL is a cache key: a caller's 60 KiB URLs must not fill memory.
        Some(u) if u.starts_with("https://") && u.len() <= MAX_X5U => Ok((token, u.to_string())),
        _ => Err(Some(StirFailure::Malformed)),
    }
}

/// Reads an Identity header value; `None` when it is no PASSporT at all.
pub fn parse(value: &str) -> Option<Passport> {
    let token = value.split(';').next()?.trim();
    let mut parts = token.split('.');
    let (header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    let header = json(header)?;
    let mut p = Passport {
        x5u: header.get("x5u").and_then(Value::as_str).is_some(),
        ..Passport::default()
    };
    if payload.is_empty() {
        p.compact = true;
        return Some(p);
    }
    let payload = json(payload)?;
    p.attest = payload
        .get("attest")
        .and_then(Value::as_str)
        .and_then(|a| a.bytes().next())
        .map(|a| a.to_ascii_uppercase())
        .filter(|a| matches!(a, b'A' | b'B' | b'C'));
    p.orig = payload.get("orig").and_then(|o| o.get("tn")).and_then(tn);
    (p.dests, p.dest) = match payload.get("dest").and_then(|d| d.get("tn")) {
        Some(Value::Array(a)) => (a.len(), a.first().and_then(tn)),
        Some(v @ Value::String(_)) => (1, tn(v)),
        _ => (0, None),
    };
    p.iat = payload.get("iat").and_then(Value::as_u64);
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Identity header of the PortSIP sample (fixtures/invites; as
    /// published, without the ';' before alg=).
    fn portsip() -> &'static str {
        include_str!("../../../fixtures/invites/portsip-stir-shaken-identity.sip")
            .lines()
            .find_map(|l| l.strip_prefix("Identity: "))
            .unwrap()
    }

    #[test]
    fn reads_a_full_passport() {
        let p = parse(portsip()).unwrap();
        assert_eq!(p.attest, Some(b'A'));
        assert_eq!(p.orig, E164::parse_plus("+14045266060"));
        assert_eq!(p.iat, Some(1_548_859_982));
        assert_eq!(p.dests, 1);
        assert!(p.x5u && !p.compact);
        assert_eq!(ppt(portsip()).as_deref(), Some("shaken"));
    }

    #[test]
    fn compact_form_and_junk() {
        let header = "eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0In0";
        let p = parse(&format!("{header}..c2lnbmF0dXJl;info=<https://x/c.pem>")).unwrap();
        assert!(p.compact && p.attest.is_none());
        assert_eq!(ppt(&format!("{header}..c2ln")).as_deref(), Some("shaken"));
        assert_eq!(
            parse("tokenA;info=<https://cert.example.org/a.pem>;alg=ES256;ppt=shaken"),
            None
        );
        assert_eq!(
            ppt("tokenB;info=<https://cert.example.org/b.pem>;alg=ES256;ppt=div").as_deref(),
            Some("div")
        );
        assert_eq!(parse(""), None);
    }

    #[test]
    fn standard_base64_with_padding_is_accepted() {
        // {"attest":"C"} in standard base64 with padding.
        let payload = "eyJhdHRlc3QiOiJDIn0=";
        let header = "eyJhbGciOiJFUzI1NiJ9";
        assert_eq!(
            parse(&format!("{header}.{payload}.c2ln")).unwrap().attest,
            Some(b'C')
        );
        assert_eq!(base64_decode("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(base64_decode("a b"), None);
    }
}

#[cfg(test)]
mod verifiable_tests {
    use super::*;

    fn b64(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    fn header(x5u: &str, alg: &str, ppt: &str) -> String {
        format!(
            "{}.{}.c2ln",
            b64(&format!(
                r#"{{"alg":"{alg}","ppt":"{ppt}","typ":"passport","x5u":"{x5u}"}}"#
            )),
            b64(r#"{"attest":"A"}"#)
        )
    }

    #[test]
    fn what_a_verifier_can_check() {
        let ok = header("https://cert.example/a.pem", "ES256", "shaken");
        assert_eq!(
            verifiable(&format!("{ok};info=<https://cert.example/a.pem>")).map(|(_, u)| u),
            Ok("https://cert.example/a.pem".to_string())
        );
        for bad in [
            header("http://cert.example/a.pem", "ES256", "shaken"),
            header("https://cert.example/a.pem", "RS256", "shaken"),
            header("https://cert.example/a.pem", "ES256", "div"),
            header(
                &format!("https://cert.example/{}", "a".repeat(MAX_X5U)),
                "ES256",
                "shaken",
            ),
            "only.two".to_string(),
            "a.b.c.d".to_string(),
        ] {
            assert_eq!(verifiable(&bad), Err(Some(StirFailure::Malformed)), "{bad}");
        }
        // Compact form: nothing to verify here.
        let compact = format!("{}..c2ln", b64(r#"{"alg":"ES256"}"#));
        assert_eq!(verifiable(&compact), Err(None));
    }
}
