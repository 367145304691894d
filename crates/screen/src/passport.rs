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
    /// Its payload has an `rcd` claim (Rich Call Data, RFC 9795; read by
    /// [`rcd`] only then).
    pub rcd: bool,
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
    /// The certificate's CRL (its CRL Distribution Points, RFC 5280
    /// §4.2.1.13) lists it as revoked.
    Revoked,
    /// Its CRL could not be had, or is past its nextUpdate, and `[stir]
    /// crl_unavailable = "fail"` says that fails.
    CrlUnavailable,
    /// The PASSporT claims what its certificate's JWT Claim Constraints
    /// (RFC 8226 §8, RFC 9118) do not allow.
    ClaimConstraints,
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
    pub const ALL: [StirCheck; 13] = [
        StirCheck::Signed,
        StirCheck::Unverified(Unverified::NoCertificate),
        StirCheck::Unverified(Unverified::Busy),
        StirCheck::Unverified(Unverified::Compact),
        StirCheck::Unverified(Unverified::NoCrl),
        StirCheck::Failed(StirFailure::Malformed),
        StirCheck::Failed(StirFailure::BadSignature),
        StirCheck::Failed(StirFailure::Untrusted),
        StirCheck::Failed(StirFailure::CertExpired),
        StirCheck::Failed(StirFailure::NoTnAuthList),
        StirCheck::Failed(StirFailure::Revoked),
        StirCheck::Failed(StirFailure::CrlUnavailable),
        StirCheck::Failed(StirFailure::ClaimConstraints),
    ];

    /// A stable name (call records keep it): `signed`, `unverified:busy`,
    /// `failed:bad-signature`, ...
    pub fn name(self) -> &'static str {
        match self {
            StirCheck::Signed => "signed",
            StirCheck::Unverified(Unverified::NoCertificate) => "unverified:no-certificate",
            StirCheck::Unverified(Unverified::Busy) => "unverified:busy",
            StirCheck::Unverified(Unverified::Compact) => "unverified:compact",
            StirCheck::Unverified(Unverified::NoCrl) => "unverified:crl-unavailable",
            StirCheck::Failed(StirFailure::Malformed) => "failed:malformed",
            StirCheck::Failed(StirFailure::BadSignature) => "failed:bad-signature",
            StirCheck::Failed(StirFailure::Untrusted) => "failed:untrusted",
            StirCheck::Failed(StirFailure::CertExpired) => "failed:cert-expired",
            StirCheck::Failed(StirFailure::NoTnAuthList) => "failed:no-tnauthlist",
            StirCheck::Failed(StirFailure::Revoked) => "failed:revoked",
            StirCheck::Failed(StirFailure::CrlUnavailable) => "failed:crl-unavailable",
            StirCheck::Failed(StirFailure::ClaimConstraints) => "failed:claim-constraints",
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
    /// The certificate's CRL could not be had, or is past its nextUpdate
    /// (`[stir] crl_unavailable = "no-validation"`, the default).
    NoCrl,
}

/// The longest `x5u` URL taken (longer ones are `stir:malformed`).
pub const MAX_X5U: usize = 1024;

/// The token and `x5u` of a full-form SHAKEN Identity header, checked for
/// what a verifier needs (`alg` ES256, `ppt` shaken when given, an https
/// `x5u`); `Err(None)` for the compact form, `Err(Some(Malformed))` else.
pub fn verifiable(value: &str) -> Result<(&str, String), Option<StirFailure>> {
    verifiable_as(value, Ppt::Shaken)
}

/// The PASSporT types callscreen verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ppt {
    /// SHAKEN (RFC 8588); a PASSporT without `ppt` is taken as one.
    Shaken,
    /// A diversion PASSporT (RFC 8946 §3): `ppt` must say `div`.
    Div,
    /// A Rich Call Data PASSporT of its own (RFC 9795 §5): `ppt` must say
    /// `rcd`.
    Rcd,
}

/// [`verifiable`] for a PASSporT of type `ppt`. A `div` PASSporT must be in
/// full form (RFC 8946 §3): its compact form is malformed.
pub fn verifiable_as(value: &str, ppt: Ppt) -> Result<(&str, String), Option<StirFailure>> {
    let token = value.split(';').next().unwrap_or_default().trim();
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Some(StirFailure::Malformed));
    };
    if p.is_empty() {
        return Err((ppt != Ppt::Shaken).then_some(StirFailure::Malformed));
    }
    let header = json(h).ok_or(Some(StirFailure::Malformed))?;
    let field = |k: &str| header.get(k).and_then(Value::as_str);
    let ppt_ok = match ppt {
        Ppt::Shaken => field("ppt").is_none_or(|p| p == "shaken"),
        Ppt::Div => field("ppt") == Some("div"),
        Ppt::Rcd => field("ppt") == Some("rcd"),
    };
    if field("alg") != Some("ES256") || !ppt_ok {
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
    (p.orig, p.dests, p.dest, p.iat) = claims(&payload);
    p.rcd = payload.get("rcd").is_some();
    p.attest = payload
        .get("attest")
        .and_then(Value::as_str)
        .and_then(|a| a.bytes().next())
        .map(|a| a.to_ascii_uppercase())
        .filter(|a| matches!(a, b'A' | b'B' | b'C'));
    Some(p)
}

/// The claims every PASSporT has (RFC 8225 §5): `orig.tn`, the number of
/// `dest.tn`s and the first, `iat`.
fn claims(payload: &Value) -> (Option<E164>, usize, Option<E164>, Option<u64>) {
    let orig = payload.get("orig").and_then(|o| o.get("tn")).and_then(tn);
    let (dests, dest) = match payload.get("dest").and_then(|d| d.get("tn")) {
        Some(Value::Array(a)) => (a.len(), a.first().and_then(tn)),
        Some(v @ Value::String(_)) => (1, tn(v)),
        _ => (0, None),
    };
    (
        orig,
        dests,
        dest,
        payload.get("iat").and_then(Value::as_u64),
    )
}

/// What a diversion PASSporT (`ppt=div`, RFC 8946) claims, unverified: a
/// retargeting entity's signed word that it diverted the call from the
/// number in `div` to the one in `dest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DivPassport {
    /// The previous destination, the line that diverted the call (`div.tn`).
    pub div: Option<E164>,
    /// The new target (the first `dest.tn`).
    pub dest: Option<E164>,
    /// The caller, as the SHAKEN PASSporT it was made from says (`orig.tn`).
    pub orig: Option<E164>,
    pub iat: Option<u64>,
}

/// Reads a `div` PASSporT's claims; `None` when the value is no full-form
/// PASSporT.
pub fn parse_div(value: &str) -> Option<DivPassport> {
    let token = value.split(';').next()?.trim();
    let mut parts = token.split('.');
    let (_header, payload, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    let payload = json(payload)?;
    let (orig, _, dest, iat) = claims(&payload);
    Some(DivPassport {
        div: payload.get("div").and_then(|d| d.get("tn")).and_then(tn),
        dest,
        orig,
        iat,
    })
}

/// The most diversions followed from the SHAKEN PASSporT's `dest` to the
/// call's current target (a call diverted more often is `failed:target`).
pub const MAX_DIVS: usize = 3;

/// The chain of `div` PASSporTs (RFC 8946 §4) by their claims, unverified:
/// from `start` (the SHAKEN PASSporT's `dest`), the PASSporT whose `div` is
/// the number reached so far, then its `dest`, until `target` (the current
/// Request-URI). The indices into `divs`, in order, and how many.
pub fn div_chain(
    start: Option<E164>,
    target: Option<E164>,
    divs: &[Option<DivPassport>],
) -> Result<([usize; MAX_DIVS], usize), DivFailure> {
    let (mut chain, mut n) = ([0; MAX_DIVS], 0);
    let mut at = start.ok_or(DivFailure::Unlinked)?;
    while Some(at) != target || n == 0 {
        let next = divs
            .iter()
            .enumerate()
            .position(|(i, d)| !chain[..n].contains(&i) && d.is_some_and(|d| d.div == Some(at)));
        let Some(i) = next else {
            return Err(if n == 0 {
                DivFailure::Unlinked
            } else {
                DivFailure::Target
            });
        };
        if n == MAX_DIVS {
            return Err(DivFailure::Target);
        }
        chain[n] = i;
        n += 1;
        at = divs[i].and_then(|d| d.dest).ok_or(DivFailure::Target)?;
    }
    Ok((chain, n))
}

/// The signatures of a call's `div` PASSporTs, by the index of their
/// Identity header (the first [`MAX_PARTS`](crate::facts::MAX_PARTS)):
/// what verifying each gave (none: not verified, not in the chain).
pub type DivSigs = [Option<StirCheck>; crate::facts::MAX_PARTS];

/// What verifying a call's diversion PASSporTs found: a fact for screening
/// (the "diverted by a home-country line" exemption), found by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DivCheck {
    /// A chain of `div` PASSporTs, each signed by a certificate that passed
    /// and with the SHAKEN PASSporT's `orig` and a fresh `iat`, leads from
    /// the SHAKEN PASSporT's `dest` to the current target; `domestic`: one
    /// of the diverting lines (`div`) is a home-country number.
    Verified {
        domestic: bool,
    },
    Failed(DivFailure),
    /// Not verified: a certificate not had within the budget, the pool
    /// full, the SHAKEN PASSporT itself not verified.
    Unverified,
}

/// Why a call's diversion PASSporTs do not prove its diversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DivFailure {
    /// A `div` PASSporT of the chain failed verification (as a SHAKEN one
    /// fails: malformed, bad signature, untrusted, expired, no TNAuthList).
    Stir(StirFailure),
    /// No verified SHAKEN PASSporT to chain to (none, or it failed).
    NoShaken,
    /// No `div` PASSporT's `div` is the SHAKEN PASSporT's `dest`.
    Unlinked,
    /// The chain does not reach the current target (the Request-URI).
    Target,
    /// A `div` PASSporT's `orig` is not the SHAKEN PASSporT's.
    Orig,
    /// A `div` PASSporT's `iat` is outside the freshness window.
    Stale,
}

impl DivCheck {
    /// Every outcome, for [`DivCheck::name`] and [`DivCheck::from_name`].
    pub const ALL: [DivCheck; 16] = [
        DivCheck::Verified { domestic: true },
        DivCheck::Verified { domestic: false },
        DivCheck::Unverified,
        DivCheck::Failed(DivFailure::Stir(StirFailure::Malformed)),
        DivCheck::Failed(DivFailure::Stir(StirFailure::BadSignature)),
        DivCheck::Failed(DivFailure::Stir(StirFailure::Untrusted)),
        DivCheck::Failed(DivFailure::Stir(StirFailure::CertExpired)),
        DivCheck::Failed(DivFailure::Stir(StirFailure::NoTnAuthList)),
        DivCheck::Failed(DivFailure::Stir(StirFailure::Revoked)),
        DivCheck::Failed(DivFailure::Stir(StirFailure::CrlUnavailable)),
        DivCheck::Failed(DivFailure::Stir(StirFailure::ClaimConstraints)),
        DivCheck::Failed(DivFailure::NoShaken),
        DivCheck::Failed(DivFailure::Unlinked),
        DivCheck::Failed(DivFailure::Target),
        DivCheck::Failed(DivFailure::Orig),
        DivCheck::Failed(DivFailure::Stale),
    ];

    /// A stable name (call records keep it, after `div=`).
    pub fn name(self) -> &'static str {
        match self {
            DivCheck::Verified { domestic: true } => "verified:domestic",
            DivCheck::Verified { domestic: false } => "verified:foreign",
            DivCheck::Unverified => "unverified",
            DivCheck::Failed(DivFailure::Stir(f)) => StirCheck::Failed(f).name(),
            DivCheck::Failed(DivFailure::NoShaken) => "failed:no-shaken",
            DivCheck::Failed(DivFailure::Unlinked) => "failed:unlinked",
            DivCheck::Failed(DivFailure::Target) => "failed:target",
            DivCheck::Failed(DivFailure::Orig) => "failed:orig",
            DivCheck::Failed(DivFailure::Stale) => "failed:stale",
        }
    }

    pub fn from_name(s: &str) -> Option<DivCheck> {
        DivCheck::ALL.into_iter().find(|c| c.name() == s)
    }

    /// What a reason's note says when a peer that signs diversions
    /// (`div_signs`) names a home-country diverting line in its headers and
    /// this (or no `div` PASSporT at all) does not prove it.
    pub fn note(check: Option<DivCheck>) -> &'static str {
        match check {
            None => "diverted by a home line per its headers, without a div PASSporT",
            Some(DivCheck::Verified { .. }) => {
                "diverted by a home line per its headers; its div PASSporT names none"
            }
            Some(DivCheck::Unverified) => {
                "diverted by a home line per its headers; its div PASSporT not verified"
            }
            Some(DivCheck::Failed(_)) => {
                "diverted by a home line per its headers; its div PASSporT failed"
            }
        }
    }
}

/// Decides what a call's `div` PASSporTs prove (RFC 8946 §5): `divs` are
/// their claims and `sigs` what verifying each gave, by their index among
/// the call's `div` Identity headers; `shaken` and `shaken_check` are the
/// SHAKEN PASSporT and its verification; `target` the current Request-URI
/// number; `home_cc` the country code whose lines count as domestic.
/// `None` when the call has no `div` PASSporT.
#[allow(clippy::too_many_arguments)]
pub fn check_diversion(
    divs: &[Option<DivPassport>],
    sigs: &DivSigs,
    shaken: Option<&Passport>,
    shaken_check: Option<StirCheck>,
    target: Option<E164>,
    now: u64,
    max_age: u64,
    home_cc: &[u8],
) -> Option<DivCheck> {
    if divs.iter().all(Option::is_none) {
        return None;
    }
    let shaken = match (shaken, shaken_check) {
        (Some(p), Some(StirCheck::Signed)) => p,
        (Some(_), Some(StirCheck::Unverified(_)) | None) => return Some(DivCheck::Unverified),
        _ => return Some(DivCheck::Failed(DivFailure::NoShaken)),
    };
    let (chain, n) = match div_chain(shaken.dest, target, divs) {
        Ok(c) => c,
        Err(f) => return Some(DivCheck::Failed(f)),
    };
    let mut domestic = false;
    for &i in &chain[..n] {
        let Some(d) = divs[i] else {
            return Some(DivCheck::Failed(DivFailure::Unlinked));
        };
        match sigs.get(i).copied().flatten() {
            Some(StirCheck::Signed) => {}
            Some(StirCheck::Failed(f)) => return Some(DivCheck::Failed(DivFailure::Stir(f))),
            Some(StirCheck::Unverified(_)) | None => return Some(DivCheck::Unverified),
        }
        if d.orig.is_none() || d.orig != shaken.orig {
            return Some(DivCheck::Failed(DivFailure::Orig));
        }
        if d.iat.is_none_or(|iat| now.abs_diff(iat) > max_age) {
            return Some(DivCheck::Failed(DivFailure::Stale));
        }
        domestic |= !home_cc.is_empty() && d.div.is_some_and(|n| n.starts_with(home_cc));
    }
    Some(DivCheck::Verified { domestic })
}

/// What a PASSporT's Rich Call Data (RFC 9795: the `rcd` claim, and its
/// integrity claim `rcdi`) comes to: a fact for screening, found by the
/// server (which knows whether the signature, and the certificate's JWT
/// Claim Constraints, passed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RcdCheck {
    /// Signed by a PASSporT that verified (its certificate's claim
    /// constraints included), well formed, every URL covered by `rcdi`:
    /// its `nam` is shown and screened.
    Verified,
    /// The PASSporT carrying it did not verify (or was not verified).
    Unverified,
    Failed(RcdFailure),
}

/// Why a signed `rcd` claim is not believed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RcdFailure {
    /// Not an object; `nam` not a string, too long, or with control characters.
    Malformed,
    /// It refers to URLs (`icn`, `jcl`, or inside `jcd`) and has no `rcdi`
    /// (RFC 9795 §6 requires one then).
    NoRcdi,
    /// `rcdi` does not give a digest (`sha256-`, `sha384-`, `sha512-`) for
    /// every URL the `rcd` claim refers to.
    Rcdi,
}

impl RcdCheck {
    pub const ALL: [RcdCheck; 5] = [
        RcdCheck::Verified,
        RcdCheck::Unverified,
        RcdCheck::Failed(RcdFailure::Malformed),
        RcdCheck::Failed(RcdFailure::NoRcdi),
        RcdCheck::Failed(RcdFailure::Rcdi),
    ];

    /// A stable name (call records keep it, after `rcd=`).
    pub fn name(self) -> &'static str {
        match self {
            RcdCheck::Verified => "verified",
            RcdCheck::Unverified => "unverified",
            RcdCheck::Failed(RcdFailure::Malformed) => "failed:malformed",
            RcdCheck::Failed(RcdFailure::NoRcdi) => "failed:no-rcdi",
            RcdCheck::Failed(RcdFailure::Rcdi) => "failed:rcdi",
        }
    }

    pub fn from_name(s: &str) -> Option<RcdCheck> {
        RcdCheck::ALL.into_iter().find(|c| c.name() == s)
    }

    /// What RCD claims read as [`rcd`] said (`claims`) come to, given what
    /// verifying their PASSporT gave (`stir`; its certificate's claim
    /// constraints included).
    pub fn of(stir: Option<StirCheck>, claims: Result<(), RcdFailure>) -> RcdCheck {
        match (stir, claims) {
            (Some(StirCheck::Signed), Ok(())) => RcdCheck::Verified,
            (Some(StirCheck::Signed), Err(f)) => RcdCheck::Failed(f),
            _ => RcdCheck::Unverified,
        }
    }
}

/// The longest RCD `nam` taken (a longer one is malformed).
pub const MAX_RCD_NAME: usize = 256;

/// Which of a call's Identity header `values` is the Rich Call Data
/// PASSporT (`ppt=rcd`, RFC 9795 §5) that goes with its SHAKEN PASSporT
/// `shaken`, read unverified: the first in full form with an `rcd` claim,
/// the same `orig` and first `dest` as the SHAKEN PASSporT, and an `iat`
/// within `max_age` seconds of `now`. One for another call, or stale, is
/// not this call's and is passed over. Its signature is for the server to
/// verify.
pub fn separate_rcd(
    values: &[Option<&str>],
    shaken: &Passport,
    now: u64,
    max_age: u64,
) -> Option<usize> {
    let (orig, dest) = (shaken.orig?, shaken.dest?);
    values.iter().position(|v| {
        v.filter(|v| ppt(v).as_deref() == Some("rcd"))
            .and_then(parse)
            .is_some_and(|p| {
                p.rcd
                    && p.orig == Some(orig)
                    && p.dest == Some(dest)
                    && p.iat.is_some_and(|t| t.abs_diff(now) <= max_age)
            })
    })
}

/// The Rich Call Data of an Identity header's PASSporT, read (unverified):
/// its display name, and whether the claims are well formed and cover
/// their URLs with `rcdi`. `None` when the PASSporT has no `rcd` claim.
pub fn rcd(value: &str) -> Option<(Option<String>, Result<(), RcdFailure>)> {
    let token = value.split(';').next()?.trim();
    let payload = json(token.split('.').nth(1)?)?;
    let rcd = payload.get("rcd")?;
    let Some(obj) = rcd.as_object() else {
        return Some((None, Err(RcdFailure::Malformed)));
    };
    let name = match obj.get("nam") {
        None => None,
        Some(Value::String(n))
            if n.chars().count() <= MAX_RCD_NAME && !n.chars().any(char::is_control) =>
        {
            Some(n.clone())
        }
        Some(_) => return Some((None, Err(RcdFailure::Malformed))),
    };
    // The JSON pointers (RFC 6901) of the URLs the claim refers to.
    let mut urls = Vec::new();
    for key in ["icn", "jcl"] {
        if let Some(v) = obj.get(key) {
            if !v.is_string() {
                return Some((name, Err(RcdFailure::Malformed)));
            }
            urls.push(format!("/{key}"));
        }
    }
    if let Some(jcd) = obj.get("jcd") {
        urls_in(jcd, "/jcd".to_string(), &mut |at, _| urls.push(at));
    }
    if urls.is_empty() {
        return Some((name, Ok(())));
    }
    let Some(rcdi) = payload.get("rcdi").and_then(Value::as_object) else {
        return Some((name, Err(RcdFailure::NoRcdi)));
    };
    let digest = |d: &Value| {
        d.as_str().is_some_and(|d| {
            ["sha256-", "sha384-", "sha512-"].iter().any(|p| {
                d.strip_prefix(p)
                    .is_some_and(|b| base64_decode(b).is_some_and(|b| !b.is_empty()))
            })
        })
    };
    let covered = urls
        .iter()
        .all(|u| rcdi.get(u.as_str()).is_some_and(digest));
    Some((
        name,
        if covered {
            Ok(())
        } else {
            Err(RcdFailure::Rcdi)
        },
    ))
}

/// Each string in `v` that is a URL, with its JSON pointer (RFC 6901; `v`
/// is at `at`).
fn urls_in(v: &Value, at: String, found: &mut impl FnMut(String, &str)) {
    match v {
        Value::String(s) if s.starts_with("http://") || s.starts_with("https://") => found(at, s),
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                urls_in(x, format!("{at}/{i}"), found);
            }
        }
        Value::Object(o) => {
            for (k, x) in o {
                let k = k.replace('~', "~0").replace('/', "~1");
                urls_in(x, format!("{at}/{k}"), found);
            }
        }
        _ => {}
    }
}

/// A URL an `rcd` claim refers to, with the digest its `rcdi` claim gives
/// for what the URL holds (RFC 9795 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RcdRef {
    pub url: String,
    /// The digest's algorithm: 0 SHA-256, 1 SHA-384, 2 SHA-512.
    pub alg: usize,
    pub digest: Vec<u8>,
}

/// The URLs an Identity header's `rcd` claim refers to (`icn`, `jcl`, and
/// those inside `jcd`) that its `rcdi` claim gives a digest for: what a
/// Rich Call Data `Call-Info` header (RFC 9796) passed on with it may
/// point to, once what the URL holds has that digest.
pub fn rcd_refs(value: &str) -> Vec<RcdRef> {
    let mut urls = Vec::new();
    let payload = value
        .split(';')
        .next()
        .and_then(|t| t.trim().split('.').nth(1))
        .and_then(json);
    let Some(payload) = payload else {
        return Vec::new();
    };
    let Some(rcd) = payload.get("rcd") else {
        return Vec::new();
    };
    for key in ["icn", "jcl"] {
        if let Some(Value::String(u)) = rcd.get(key) {
            urls.push((format!("/{key}"), u.clone()));
        }
    }
    if let Some(jcd) = rcd.get("jcd") {
        urls_in(jcd, "/jcd".to_string(), &mut |at, u| {
            urls.push((at, u.to_string()))
        });
    }
    let rcdi = payload.get("rcdi").and_then(Value::as_object);
    urls.into_iter()
        .filter_map(|(at, url)| {
            let d = rcdi?.get(&at)?.as_str()?;
            let (alg, b64) = ["sha256-", "sha384-", "sha512-"]
                .iter()
                .enumerate()
                .find_map(|(i, p)| Some((i, d.strip_prefix(p)?)))?;
            let digest = base64_decode(b64).filter(|d| d.len() == [32, 48, 64][alg])?;
            Some(RcdRef { url, alg, digest })
        })
        .collect()
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

#[cfg(test)]
mod div_tests {
    use super::*;

    fn n(s: &str) -> Option<E164> {
        E164::parse_plus(s)
    }

    fn b64(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    /// A div PASSporT from `div` to `dest` for a call from `orig`.
    fn div(div: &str, dest: &str, orig: &str, iat: u64) -> DivPassport {
        DivPassport {
            div: n(div),
            dest: n(dest),
            orig: n(orig),
            iat: Some(iat),
        }
    }

    const NOW: u64 = 1_800_000_000;
    const CALLER: &str = "+4930111111";
    /// The Dutch line called, the mobile it forwards to, a second forward.
    const A: &str = "+31104567890";
    const B: &str = "+31612345678";
    const C: &str = "+4915112345678";

    fn shaken() -> Passport {
        Passport {
            orig: n(CALLER),
            dest: n(A),
            dests: 1,
            iat: Some(NOW),
            ..Passport::default()
        }
    }

    fn check(divs: &[Option<DivPassport>], sigs: &DivSigs, target: &str) -> Option<DivCheck> {
        check_diversion(
            divs,
            sigs,
            Some(&shaken()),
            Some(StirCheck::Signed),
            n(target),
            NOW,
            60,
            b"31",
        )
    }

    const SIGNED: Option<StirCheck> = Some(StirCheck::Signed);

    #[test]
    fn reads_a_div_passport_and_its_type() {
        let header =
            b64(r#"{"alg":"ES256","ppt":"div","typ":"passport","x5u":"https://c.example/d.pem"}"#);
        let payload = b64(
            r#"{"dest":{"tn":["31612345678"]},"div":{"tn":"31104567890"},"iat":1800000000,"orig":{"tn":"4930111111"}}"#,
        );
        let value = format!("{header}.{payload}.c2ln;info=<https://c.example/d.pem>;ppt=div");
        assert_eq!(parse_div(&value), Some(div(A, B, CALLER, NOW)));
        assert_eq!(ppt(&value).as_deref(), Some("div"));
        assert!(verifiable_as(&value, Ppt::Div).is_ok());
        // A div PASSporT is never taken for a SHAKEN one, nor the other way round;
        // its compact form is malformed (RFC 8946 §3: full form only).
        assert_eq!(verifiable(&value), Err(Some(StirFailure::Malformed)));
        let compact = format!("{header}..c2ln");
        assert_eq!(
            verifiable_as(&compact, Ppt::Div),
            Err(Some(StirFailure::Malformed))
        );
        let shaken_header =
            b64(r#"{"alg":"ES256","ppt":"shaken","x5u":"https://c.example/d.pem"}"#);
        assert_eq!(
            verifiable_as(&format!("{shaken_header}.{payload}.c2ln"), Ppt::Div),
            Err(Some(StirFailure::Malformed))
        );
    }

    #[test]
    fn a_chain_from_the_called_line_to_the_current_target() {
        let one = [Some(div(A, B, CALLER, NOW)), None, None, None];
        assert_eq!(div_chain(n(A), n(B), &one), Ok(([0, 0, 0], 1)));
        // Two diversions, given in any order.
        let two = [
            Some(div(B, C, CALLER, NOW)),
            Some(div(A, B, CALLER, NOW)),
            None,
            None,
        ];
        assert_eq!(div_chain(n(A), n(C), &two), Ok(([1, 0, 0], 2)));
        // Not from the called line; not to the target; a loop.
        assert_eq!(div_chain(n(B), n(C), &one), Err(DivFailure::Unlinked));
        assert_eq!(div_chain(n(A), n(C), &one), Err(DivFailure::Target));
        let looped = [
            Some(div(A, B, CALLER, NOW)),
            Some(div(B, A, CALLER, NOW)),
            None,
            None,
        ];
        assert_eq!(div_chain(n(A), n(C), &looped), Err(DivFailure::Target));
        // Undiverted (the target is the called line): a div PASSporT links nothing.
        assert_eq!(
            div_chain(n(A), n(A), &[None, None]),
            Err(DivFailure::Unlinked)
        );
    }

    #[test]
    fn what_a_diversion_proves() {
        let one = [Some(div(A, B, CALLER, NOW)), None, None, None];
        let mut sigs: DivSigs = [SIGNED, None, None, None];
        assert_eq!(
            check(&one, &sigs, B),
            Some(DivCheck::Verified { domestic: true })
        );
        // Diverted by a German line: proven, but not domestic.
        let german = [Some(div(C, B, CALLER, NOW)), None, None, None];
        let from_c = check_diversion(
            &german,
            &sigs,
            Some(&Passport {
                dest: n(C),
                ..shaken()
            }),
            SIGNED,
            n(B),
            NOW,
            60,
            b"31",
        );
        assert_eq!(from_c, Some(DivCheck::Verified { domestic: false }));
        // Each claim that breaks the proof.
        assert_eq!(
            check(&one, &sigs, C),
            Some(DivCheck::Failed(DivFailure::Target))
        );
        let other_caller = [Some(div(A, B, "+4930222222", NOW)), None, None, None];
        assert_eq!(
            check(&other_caller, &sigs, B),
            Some(DivCheck::Failed(DivFailure::Orig))
        );
        let stale = [Some(div(A, B, CALLER, NOW - 61)), None, None, None];
        assert_eq!(
            check(&stale, &sigs, B),
            Some(DivCheck::Failed(DivFailure::Stale))
        );
        // Its signature.
        sigs[0] = Some(StirCheck::Failed(StirFailure::BadSignature));
        assert_eq!(
            check(&one, &sigs, B),
            Some(DivCheck::Failed(DivFailure::Stir(
                StirFailure::BadSignature
            )))
        );
        sigs[0] = None;
        assert_eq!(check(&one, &sigs, B), Some(DivCheck::Unverified));
        // The SHAKEN PASSporT it hangs on.
        sigs[0] = SIGNED;
        let failed = Some(StirCheck::Failed(StirFailure::Untrusted));
        let f = check_diversion(&one, &sigs, Some(&shaken()), failed, n(B), NOW, 60, b"31");
        assert_eq!(f, Some(DivCheck::Failed(DivFailure::NoShaken)));
        let f = check_diversion(&one, &sigs, None, None, n(B), NOW, 60, b"31");
        assert_eq!(f, Some(DivCheck::Failed(DivFailure::NoShaken)));
        // No div PASSporT: nothing to say.
        assert_eq!(check(&[None; 4], &sigs, B), None);
    }

    #[test]
    fn names_are_stable_and_read_back() {
        for c in DivCheck::ALL {
            assert_eq!(DivCheck::from_name(c.name()), Some(c));
        }
        let mut names: Vec<_> = DivCheck::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DivCheck::ALL.len());
    }
}

#[cfg(test)]
mod rcd_tests {
    use super::*;

    fn value(payload: &str) -> String {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.c2ln",
            b(r#"{"alg":"ES256","ppt":"shaken"}"#),
            b(payload)
        )
    }

    const DIGEST: &str = "sha256-47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU";

    #[test]
    fn rich_call_data_is_read_and_its_urls_need_rcdi() {
        assert_eq!(rcd(&value(r#"{"attest":"A"}"#)), None);
        assert_eq!(
            rcd(&value(r#"{"rcd":{"nam":"Acme Bank"}}"#)),
            Some((Some("Acme Bank".into()), Ok(())))
        );
        for bad in [
            r#"{"rcd":"Acme"}"#,
            r#"{"rcd":{"nam":42}}"#,
            r#"{"rcd":{"nam":"Acme\r\nVia: x"}}"#,
        ] {
            assert_eq!(
                rcd(&value(bad)).map(|r| r.1),
                Some(Err(RcdFailure::Malformed)),
                "{bad}"
            );
        }
        let long = format!(r#"{{"rcd":{{"nam":"{}"}}}}"#, "a".repeat(MAX_RCD_NAME + 1));
        assert_eq!(
            rcd(&value(&long)).map(|r| r.1),
            Some(Err(RcdFailure::Malformed))
        );
        // URLs: an icon, a jCard link, a URL inside an inline jCard.
        let icn = r#""rcd":{"nam":"A","icn":"https://a.example/i.png"}"#;
        assert_eq!(
            rcd(&value(&format!("{{{icn}}}"))).map(|r| r.1),
            Some(Err(RcdFailure::NoRcdi))
        );
        let ok = format!(r#"{{{icn},"rcdi":{{"/icn":"{DIGEST}"}}}}"#);
        assert_eq!(rcd(&value(&ok)).map(|r| r.1), Some(Ok(())));
        let wrong = format!(r#"{{{icn},"rcdi":{{"/jcl":"{DIGEST}"}}}}"#);
        assert_eq!(
            rcd(&value(&wrong)).map(|r| r.1),
            Some(Err(RcdFailure::Rcdi))
        );
        let junk = format!(r#"{{{icn},"rcdi":{{"/icn":"md5-abc"}}}}"#);
        assert_eq!(rcd(&value(&junk)).map(|r| r.1), Some(Err(RcdFailure::Rcdi)));
        let jcd = format!(
            r#"{{"rcd":{{"jcd":["vcard",[["logo",{{}},"uri","https://a.example/l.png"]]]}},"rcdi":{{"/jcd/1/0/3":"{DIGEST}"}}}}"#
        );
        assert_eq!(rcd(&value(&jcd)).map(|r| r.1), Some(Ok(())));
        // The URLs a Rich Call Data Call-Info header may point to, with
        // what their content must hash to.
        let d384 = format!("sha384-{}", "A".repeat(64));
        let all = format!(
            r#"{{"rcd":{{"nam":"A","icn":"https://a.example/i.png","jcl":"https://a.example/c.json","jcd":["vcard",[["logo",{{}},"uri","https://a.example/l.png"],["fn",{{}},"text","A"]]]}},"rcdi":{{"/icn":"{DIGEST}","/jcl":"{d384}","/jcd/1/0/3":"sha256-short"}}}}"#
        );
        let refs = rcd_refs(&value(&all));
        let empty_sha256 = base64_decode(&DIGEST[7..]).unwrap();
        assert_eq!(
            refs,
            [
                RcdRef {
                    url: "https://a.example/i.png".into(),
                    alg: 0,
                    digest: empty_sha256
                },
                RcdRef {
                    url: "https://a.example/c.json".into(),
                    alg: 1,
                    digest: vec![0; 48]
                },
            ]
        );
        assert!(rcd_refs(&value(r#"{"attest":"A"}"#)).is_empty());
        // What it comes to with the PASSporT's verification.
        let signed = Some(StirCheck::Signed);
        assert_eq!(RcdCheck::of(signed, Ok(())), RcdCheck::Verified);
        assert_eq!(
            RcdCheck::of(signed, Err(RcdFailure::NoRcdi)),
            RcdCheck::Failed(RcdFailure::NoRcdi)
        );
        let failed = Some(StirCheck::Failed(StirFailure::BadSignature));
        assert_eq!(RcdCheck::of(failed, Ok(())), RcdCheck::Unverified);
        assert_eq!(RcdCheck::of(None, Ok(())), RcdCheck::Unverified);
        for c in RcdCheck::ALL {
            assert_eq!(RcdCheck::from_name(c.name()), Some(c));
        }
    }

    /// A PASSporT of type `ppt` with `payload` (unsigned: the server verifies).
    fn typed(ppt: &str, payload: &str) -> String {
        use base64::Engine;
        let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let h = format!(r#"{{"alg":"ES256","ppt":"{ppt}","x5u":"https://c.example/a.pem"}}"#);
        format!("{}.{}.c2ln;ppt={ppt}", b(&h), b(payload))
    }

    #[test]
    fn the_separate_rcd_passport_is_the_one_for_the_same_call() {
        let now = 1_700_000_000;
        let claims = |orig: &str, dest: &str, iat: u64| {
            format!(
                r#"{{"dest":{{"tn":["{dest}"]}},"iat":{iat},"orig":{{"tn":"{orig}"}},"rcd":{{"nam":"Acme"}}}}"#
            )
        };
        let shaken_value = typed(
            "shaken",
            &format!(
                r#"{{"attest":"A","dest":{{"tn":["31104567890"]}},"iat":{now},"orig":{{"tn":"31201234568"}}}}"#
            ),
        );
        let shaken = parse(&shaken_value).expect("parses");
        let good = typed("rcd", &claims("31201234568", "31104567890", now - 5));
        let other_caller = typed("rcd", &claims("31201234999", "31104567890", now));
        let other_callee = typed("rcd", &claims("31201234568", "31104567999", now));
        let stale = typed("rcd", &claims("31201234568", "31104567890", now - 600));
        let not_rcd = typed("div", &claims("31201234568", "31104567890", now));
        let no_claim = typed(
            "rcd",
            &format!(
                r#"{{"dest":{{"tn":["31104567890"]}},"iat":{now},"orig":{{"tn":"31201234568"}}}}"#
            ),
        );
        let at = |values: &[&str]| {
            let v: Vec<Option<&str>> = values.iter().map(|v| Some(*v)).collect();
            separate_rcd(&v, &shaken, now, 60)
        };
        assert_eq!(at(&[&shaken_value, &good]), Some(1));
        // None of these is the call's.
        let mut others = vec![
            shaken_value.as_str(),
            &other_caller,
            &other_callee,
            &stale,
            &not_rcd,
            &no_claim,
        ];
        assert_eq!(at(&others), None);
        others.push(&good);
        assert_eq!(at(&others), Some(6));
        assert_eq!(
            verifiable_as(&good, Ppt::Rcd).map(|(_, u)| u),
            Ok("https://c.example/a.pem".to_string())
        );
        assert_eq!(
            verifiable_as(&good, Ppt::Div).map(|(_, u)| u),
            Err(Some(StirFailure::Malformed))
        );
    }
}
