//! The closed set of reason codes (DESIGN.md "Screening semantics"). They are
//! an interface: NOC alerts and policy keys depend on them. A new code is
//! added here and to the README's table, never invented ad hoc.

use std::fmt;

/// The kind of a reason, without the list name (what policy keys name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ReasonKind {
    Allowlist,
    Blocklist,
    Withdrawn,
    InvalidCli,
    CliPremium,
    SpoofDno,
    SpoofUnauthorisedPeer,
    SpoofDomesticCliIntl,
    SpoofDomesticMobileIntl,
    SpoofDisplayName,
    SpoofPaiFromMismatch,
    ShakenNone,
    ShakenAttestC,
    ShakenOrigMismatch,
    ShakenStale,
    Emergency,
}

pub const KIND_COUNT: usize = 16;

impl ReasonKind {
    pub const ALL: [ReasonKind; KIND_COUNT] = [
        ReasonKind::Allowlist,
        ReasonKind::Blocklist,
        ReasonKind::Withdrawn,
        ReasonKind::InvalidCli,
        ReasonKind::CliPremium,
        ReasonKind::SpoofDno,
        ReasonKind::SpoofUnauthorisedPeer,
        ReasonKind::SpoofDomesticCliIntl,
        ReasonKind::SpoofDomesticMobileIntl,
        ReasonKind::SpoofDisplayName,
        ReasonKind::SpoofPaiFromMismatch,
        ReasonKind::ShakenNone,
        ReasonKind::ShakenAttestC,
        ReasonKind::ShakenOrigMismatch,
        ReasonKind::ShakenStale,
        ReasonKind::Emergency,
    ];

    /// The code as written in logs, headers and policy keys.
    pub fn code(self) -> &'static str {
        match self {
            ReasonKind::Allowlist => "allowlist",
            ReasonKind::Blocklist => "blocklist",
            ReasonKind::Withdrawn => "withdrawn",
            ReasonKind::InvalidCli => "invalid-cli",
            ReasonKind::CliPremium => "cli-premium",
            ReasonKind::SpoofDno => "spoof:dno",
            ReasonKind::SpoofUnauthorisedPeer => "spoof:unauthorised-peer",
            ReasonKind::SpoofDomesticCliIntl => "spoof:domestic-cli-intl",
            ReasonKind::SpoofDomesticMobileIntl => "spoof:domestic-mobile-intl",
            ReasonKind::SpoofDisplayName => "spoof:display-name",
            ReasonKind::SpoofPaiFromMismatch => "spoof:pai-from-mismatch",
            ReasonKind::ShakenNone => "shaken:none",
            ReasonKind::ShakenAttestC => "shaken:attest-c",
            ReasonKind::ShakenOrigMismatch => "shaken:orig-mismatch",
            ReasonKind::ShakenStale => "shaken:stale",
            ReasonKind::Emergency => "emergency",
        }
    }

    /// True for the kinds that name a list (`blocklist:<list>`, `withdrawn:<list>`).
    pub fn names_list(self) -> bool {
        matches!(self, ReasonKind::Blocklist | ReasonKind::Withdrawn)
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
            "{s:?} is not a reason code; the codes are: allowlist, blocklist:<list> or blocklist:*, withdrawn:<list> or withdrawn:*, {}",
            ReasonKind::ALL
                .iter()
                .filter(|k| !k.names_list() && **k != ReasonKind::Allowlist)
                .map(|k| k.code())
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
            Reason::of_list(ReasonKind::Withdrawn, "acm").to_string(),
            "withdrawn:acm"
        );
    }
}
