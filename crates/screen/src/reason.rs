//! The closed set of reason codes (DESIGN.md "Screening semantics"). They are
//! an interface: NOC alerts and policy keys depend on them. A new code is
//! added here and to the README's table, never invented ad hoc.

use std::fmt;

use lists::Role;

/// Declares the closed set once: each row gives the variant and its code;
/// the enum, [`ReasonKind::ALL`], [`KIND_COUNT`] and [`ReasonKind::code`]
/// all come from it.
macro_rules! reason_kinds {
    ($( $(#[$doc:meta])* $kind:ident => $code:literal, )*) => {
        /// The kind of a reason, without the list name (what policy keys name).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ReasonKind {
            $( $(#[$doc])* $kind, )*
        }

        pub const KIND_COUNT: usize = [$( ReasonKind::$kind ),*].len();

        impl ReasonKind {
            pub const ALL: [ReasonKind; KIND_COUNT] = [$( ReasonKind::$kind ),*];

            /// The code as written in logs, headers and policy keys.
            pub fn code(self) -> &'static str {
                match self {
                    $( ReasonKind::$kind => $code, )*
                }
            }
        }
    };
}

reason_kinds! {
    /// The caller is on the allowlist (lifts its list blocks).
    Allowlist => "allowlist",
    /// A home-country caller ID from abroad that a `registered-cli` list
    /// registers to be presented from abroad: the domestic-CLI-from-abroad
    /// signal is lifted (nothing else).
    RegisteredCli => "registered-cli",
    /// A home mobile number from abroad whose subscriber the roaming check
    /// (`[roaming]`) says is roaming: the domestic-CLI-from-abroad signal
    /// is lifted.
    Roaming => "roaming",
    /// The caller is on a blocklist of scam origins (`blocklist:<list>`).
    Blocklist => "blocklist",
    /// The caller is in a range the regulator withdrew (`withdrawn:<list>`).
    Withdrawn => "withdrawn",
    InvalidCli => "invalid-cli",
    CliPremium => "cli-premium",
    SpoofDno => "spoof:dno",
    SpoofUnauthorisedPeer => "spoof:unauthorised-peer",
    SpoofDomesticCliIntl => "spoof:domestic-cli-intl",
    /// A home mobile number from abroad: the roaming check says the
    /// subscriber is not roaming, or there is no roaming check and the
    /// peer's profile has no roaming rule.
    SpoofDomesticMobileIntl => "spoof:domestic-mobile-intl",
    /// A home mobile number from abroad under a profile whose rule depends
    /// on roaming, without a roaming answer: none configured, none in time,
    /// or the endpoint does not know the number (another network's).
    SpoofDomesticMobileUnchecked => "spoof:domestic-mobile-unchecked",
    SpoofDisplayName => "spoof:display-name",
    SpoofPaiFromMismatch => "spoof:pai-from-mismatch",
    /// An originating trunk's caller ID outside the number blocks assigned to it.
    SpoofCliNotAssigned => "spoof:cli-not-assigned",
    ShakenNone => "shaken:none",
    ShakenAttestC => "shaken:attest-c",
    ShakenOrigMismatch => "shaken:orig-mismatch",
    ShakenStale => "shaken:stale",
    /// Verification (`[stir]`): the Identity header is no PASSporT this
    /// verifier can check (not ES256, not `ppt=shaken`, no https `x5u`).
    StirMalformed => "stir:malformed",
    /// Verification: the signature does not verify with the `x5u` certificate.
    StirBadSignature => "stir:bad-signature",
    /// Verification: the `x5u` certificate does not chain to an STI-CA anchor.
    StirUntrusted => "stir:untrusted-cert",
    /// Verification: the `x5u` certificate is expired or not yet valid.
    StirCertExpired => "stir:cert-expired",
    /// Verification: the `x5u` certificate has no TNAuthList (RFC 8226).
    StirNoTnAuthList => "stir:no-tnauthlist",
    /// Verification: the `x5u` certificate's CRL lists it as revoked.
    StirRevoked => "stir:revoked",
    /// Verification: the certificate's CRL could not be had or is past its
    /// nextUpdate, and `[stir] crl_unavailable = "fail"`.
    StirCrlUnavailable => "stir:crl-unavailable",
    /// Verification: the PASSporT claims what its certificate's JWT Claim
    /// Constraints do not allow (RFC 8226 §8, RFC 9118).
    StirClaimConstraints => "stir:claim-constraints",
    /// Verification: `dest.tn` is not the number in the To header (RFC 8224
    /// §4.1, canonicalised as §8 says).
    StirDestMismatch => "stir:dest-mismatch",
    /// Verification failed on a call presenting a protected company's number.
    StirFailedProtected => "stir:failed-protected",
    /// As many calls as `[bursts] calls_per_number` from the caller's number
    /// within the window (this one included).
    Burst => "burst",
    /// As many calls as `[bursts] calls_per_block` from the caller's block
    /// (the numbers sharing its first `block_digits` digits).
    BurstBlock => "burst-block",
    /// A subscriber dials a number on a fake-helpdesk list (`callee:fake-helpdesk:<list>`).
    CalleeFakeHelpdesk => "callee:fake-helpdesk",
    /// A subscriber dials a number in a range to warn about (`callee:warn:<list>`).
    CalleeWarn => "callee:warn",
    /// A warned subscriber insisted: the announcement service reconnects the
    /// call with callscreen's token.
    CalleeWarnedInsisted => "callee:warned-insisted",
    Emergency => "emergency",
}

impl ReasonKind {
    /// Analytics-based signals (bursts, spoofing, STIR/SHAKEN): what a
    /// 603+ (`603 Network Blocked`, ATIS-1000099) may answer; never a list
    /// hit or a do-not-originate number, which stay 608 (RFC 8688).
    pub fn analytics(self) -> bool {
        use ReasonKind::*;
        matches!(
            self,
            Burst
                | BurstBlock
                | SpoofUnauthorisedPeer
                | SpoofDomesticCliIntl
                | SpoofDomesticMobileIntl
                | SpoofDomesticMobileUnchecked
                | SpoofDisplayName
                | SpoofPaiFromMismatch
                | ShakenNone
                | ShakenAttestC
                | ShakenOrigMismatch
                | ShakenStale
                | StirMalformed
                | StirBadSignature
                | StirUntrusted
                | StirCertExpired
                | StirNoTnAuthList
                | StirRevoked
                | StirCrlUnavailable
                | StirClaimConstraints
                | StirDestMismatch
                | StirFailedProtected
        )
    }

    /// True for the kinds that name a list (`blocklist:<list>`,
    /// `withdrawn:<list>`, `callee:fake-helpdesk:<list>`, `callee:warn:<list>`).
    pub fn names_list(self) -> bool {
        self.list_role().is_some()
    }

    /// The role of the lists whose hits this kind reports.
    pub fn list_role(self) -> Option<Role> {
        match self {
            ReasonKind::Blocklist => Some(Role::Blocklist),
            ReasonKind::Withdrawn => Some(Role::Withdrawn),
            ReasonKind::CalleeFakeHelpdesk => Some(Role::FakeHelpdesk),
            ReasonKind::CalleeWarn => Some(Role::DialledWarn),
            _ => None,
        }
    }
}

/// A reason found for a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reason<'a> {
    pub kind: ReasonKind,
    /// The list, for `blocklist:<list>` and `withdrawn:<list>`.
    pub list: Option<&'a str>,
}

impl<'a> Reason<'a> {
    pub fn new(kind: ReasonKind) -> Reason<'a> {
        Reason { kind, list: None }
    }

    pub fn of_list(kind: ReasonKind, list: &'a str) -> Reason<'a> {
        Reason {
            kind,
            list: Some(list),
        }
    }
}

impl fmt::Display for Reason<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.list {
            Some(l) => write!(f, "{}:{l}", self.kind.code()),
            None => f.write_str(self.kind.code()),
        }
    }
}

/// A policy key: a reason code, or a list family with `*` (or no suffix) for
/// every list of that role.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReasonKey {
    pub kind: ReasonKind,
    pub list: Option<String>,
}

impl ReasonKey {
    /// Parses `invalid-cli`, `blocklist:*`, `blocklist`, `withdrawn:acm-withdrawn` …
    pub fn parse(s: &str) -> Result<ReasonKey, String> {
        for kind in ReasonKind::ALL {
            let code = kind.code();
            if s == code {
                return Ok(ReasonKey { kind, list: None });
            }
            if kind.names_list()
                && let Some(rest) = s.strip_prefix(code).and_then(|r| r.strip_prefix(':'))
            {
                let list = (rest != "*").then(|| rest.to_string());
                if rest.is_empty() {
                    break;
                }
                return Ok(ReasonKey { kind, list });
            }
        }
        Err(format!(
            "{s:?} is not a reason code; the codes are: {}",
            ReasonKind::ALL
                .iter()
                .map(|k| match k.names_list() {
                    true => format!("{c}:<list> or {c}:*", c = k.code()),
                    false => k.code().to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_parse_back() {
        for k in ReasonKind::ALL {
            assert_eq!(
                ReasonKey::parse(k.code()).unwrap(),
                ReasonKey {
                    kind: k,
                    list: None
                }
            );
        }
        assert_eq!(
            ReasonKey::parse("blocklist:scam-origins").unwrap(),
            ReasonKey {
                kind: ReasonKind::Blocklist,
                list: Some("scam-origins".into())
            }
        );
        assert_eq!(ReasonKey::parse("withdrawn:*").unwrap().list, None);
        assert!(ReasonKey::parse("blocklist:").is_err());
        assert!(
            ReasonKey::parse("spoof:everything")
                .unwrap_err()
                .contains("spoof:dno")
        );
        assert!(ReasonKey::parse("invalid-cli:x").is_err());
        assert_eq!(
            ReasonKey::parse("callee:fake-helpdesk:fraudehelpdesk").unwrap(),
            ReasonKey {
                kind: ReasonKind::CalleeFakeHelpdesk,
                list: Some("fraudehelpdesk".into())
            }
        );
        assert_eq!(
            ReasonKey::parse("callee:warned-insisted").unwrap().kind,
            ReasonKind::CalleeWarnedInsisted
        );
        assert_eq!(
            Reason::of_list(ReasonKind::Withdrawn, "acm").to_string(),
            "withdrawn:acm"
        );
    }
}
