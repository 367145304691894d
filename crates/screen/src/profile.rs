//! Country profiles: each regulator's anti-spoofing rule as a named preset
//! of actions (`profile = "be"`), with the country's number context and its
//! built-in numbering plan. A profile only sets what the built-in defaults
//! would otherwise give: the operator's `[policy.rules]` and a peer's own
//! `rules` still override each of its rules (README, "Country profiles").
//!
//! What each rule says and where it comes from is written here once: `config
//! check` lists it, and `check` names the rule that decided.

use super::policy::{Action, DEFAULT_REJECT_CODE};
use super::reason::ReasonKind;

/// One rule of a profile: what a reason does under it, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct ProfileRule {
    pub kind: ReasonKind,
    pub action: Action,
    /// The instrument and provision, e.g. "TKG §120".
    pub cites: &'static str,
    /// What the rule says, in a line.
    pub says: &'static str,
}

/// A country's preset.
#[derive(Debug, PartialEq, Eq)]
pub struct Profile {
    /// The setting's value: "de", "be", "uk" …
    pub code: &'static str,
    pub country: &'static str,
    pub country_code: &'static str,
    pub trunk_prefix: &'static str,
    pub international_prefix: &'static str,
    /// Its rule lets home mobile numbers from abroad through only when the
    /// subscriber is roaming: without a roaming answer (no `[roaming]`, or
    /// none in time) such a call is `spoof:domestic-mobile-unchecked`.
    pub roaming_rule: bool,
    pub rules: &'static [ProfileRule],
}

const REJECT: Action = Action::Reject {
    code: DEFAULT_REJECT_CODE,
};

use Action::{Allow, Anonymise, Tag};
use ReasonKind::*;

const fn rule(
    kind: ReasonKind,
    action: Action,
    cites: &'static str,
    says: &'static str,
) -> ProfileRule {
    ProfileRule {
        kind,
        action,
        cites,
        says,
    }
}

/// Where a rule's text says nothing of an unanswered roaming check:
/// anonymised, as Belgium's decree says.
const UNCHECKED_ANONYMISED: ProfileRule = rule(
    SpoofDomesticMobileUnchecked,
    Anonymise,
    "callscreen's choice (the rule's text on an unanswered check was not at hand)",
    "without a roaming answer the number is anonymised, as Belgium's decree says",
);

/// Every profile, in the order the docs list them.
pub static PROFILES: [Profile; 8] = [
    Profile {
        code: "de",
        country: "Germany",
        country_code: "49",
        trunk_prefix: "0",
        international_prefix: "00",
        roaming_rule: true,
        rules: &[
            rule(
                SpoofDomesticCliIntl,
                Anonymise,
                "TKG §120 (since 1 Dec 2022)",
                "a German number from a foreign network is suppressed: the call goes on without a displayed number",
            ),
            rule(
                SpoofDomesticMobileIntl,
                Anonymise,
                "TKG §120",
                "a German mobile number from abroad whose subscriber is not roaming is suppressed",
            ),
            rule(
                SpoofDomesticMobileUnchecked,
                Anonymise,
                "TKG §120",
                "a German mobile number from abroad not shown to be roaming is suppressed",
            ),
            rule(
                Roaming,
                Allow,
                "TKG §120",
                "a German mobile subscriber roaming abroad keeps the number",
            ),
            rule(
                CliPremium,
                REJECT,
                "TKG §120",
                "calls presenting 110, 112, 0900 or 0137 as caller ID are not put through",
            ),
        ],
    },
    Profile {
        code: "be",
        country: "Belgium",
        country_code: "32",
        trunk_prefix: "0",
        international_prefix: "00",
        roaming_rule: true,
        rules: &[
            rule(
                SpoofDomesticCliIntl,
                REJECT,
                "Royal Decree against spoofing (2024)",
                "calls from abroad presenting Belgian geographic (and other non-mobile) numbers are blocked",
            ),
            rule(
                SpoofDomesticMobileIntl,
                REJECT,
                "Royal Decree against spoofing (2024)",
                "a Belgian mobile number from abroad is blocked when the real-time check shows the subscriber is not roaming",
            ),
            rule(
                SpoofDomesticMobileUnchecked,
                Anonymise,
                "Royal Decree against spoofing (2024)",
                "where the roaming check is technically impossible the number is anonymised",
            ),
            rule(
                Roaming,
                Allow,
                "Royal Decree against spoofing (2024)",
                "a roaming Belgian subscriber keeps the number",
            ),
            rule(
                RegisteredCli,
                Allow,
                "Royal Decree against spoofing (2024)",
                "registered cloud numbers may be presented from abroad (a registered-cli list)",
            ),
            rule(
                InvalidCli,
                REJECT,
                "Royal Decree against spoofing (2024)",
                "numbers that do not follow the numbering plan are blocked",
            ),
        ],
    },
    Profile {
        code: "uk",
        country: "United Kingdom",
        country_code: "44",
        trunk_prefix: "0",
        international_prefix: "00",
        roaming_rule: false,
        rules: &[
            rule(
                SpoofDomesticCliIntl,
                REJECT,
                "Ofcom CLI guidance; GC C6.6 (since 29 Jan 2025)",
                "calls from abroad presenting UK landline numbers are blocked",
            ),
            rule(
                SpoofDomesticMobileIntl,
                Tag,
                "Ofcom consultation (closed Oct 2025)",
                "UK mobile numbers from abroad: no rule in force yet (a roaming check is proposed); tagged",
            ),
            rule(
                InvalidCli,
                REJECT,
                "GC C6.6",
                "caller IDs that are not dialable or of the wrong length are blocked",
            ),
            rule(
                CliPremium,
                REJECT,
                "GC C6.6",
                "09 premium-rate numbers (and emergency codes) as caller ID are blocked",
            ),
        ],
    },
    Profile {
        code: "fr",
        country: "France",
        country_code: "33",
        trunk_prefix: "0",
        international_prefix: "00",
        roaming_rule: true,
        rules: &[
            rule(
                SpoofDomesticCliIntl,
                REJECT,
                "Arcep, MAN (since 1 Oct 2024)",
                "calls presenting French fixed numbers without authentication are cut: from abroad they cannot carry it",
            ),
            rule(
                ShakenNone,
                REJECT,
                "Arcep, MAN (since 1 Oct 2024)",
                "an unauthenticated call on a peer that signs (shaken_signs) is cut",
            ),
            rule(
                SpoofDomesticMobileIntl,
                Anonymise,
                "Arcep (from 1 Jan 2026)",
                "French mobile numbers from abroad are shown as withheld unless the subscriber roams",
            ),
            rule(
                SpoofDomesticMobileUnchecked,
                Anonymise,
                "Arcep (from 1 Jan 2026)",
                "French mobile numbers from abroad not shown to be roaming are shown as withheld",
            ),
            rule(
                Roaming,
                Allow,
                "Arcep (from 1 Jan 2026)",
                "a roaming French subscriber keeps the number",
            ),
        ],
    },
    Profile {
        code: "fi",
        country: "Finland",
        country_code: "358",
        trunk_prefix: "0",
        international_prefix: "00",
        roaming_rule: true,
        rules: &[
            rule(
                SpoofDomesticCliIntl,
                REJECT,
                "Traficom Regulation 28 (fixed numbers from 1 Jul 2022)",
                "calls from abroad presenting Finnish landline numbers are blocked",
            ),
            rule(
                SpoofDomesticMobileIntl,
                REJECT,
                "Traficom Regulation 28 (mobile numbers from 2 Oct 2023)",
                "calls from abroad presenting Finnish mobile numbers are blocked unless the subscriber is roaming",
            ),
            UNCHECKED_ANONYMISED,
            rule(
                Roaming,
                Allow,
                "Traficom Regulation 28",
                "a roaming Finnish subscriber keeps the number",
            ),
        ],
    },
    Profile {
        code: "se",
        country: "Sweden",
        country_code: "46",
        trunk_prefix: "0",
        international_prefix: "00",
        roaming_rule: true,
        rules: &[
            rule(
                SpoofDomesticCliIntl,
                REJECT,
                "Swedish blocking (rule text not at hand; as reported)",
                "calls from abroad presenting Swedish landline numbers are blocked",
            ),
            rule(
                SpoofDomesticMobileIntl,
                REJECT,
                "Swedish blocking, mobile numbers from March 2025 (as reported)",
                "calls from abroad presenting Swedish mobile numbers are blocked unless the subscriber is roaming",
            ),
            UNCHECKED_ANONYMISED,
            rule(
                Roaming,
                Allow,
                "Swedish blocking (as reported)",
                "a roaming Swedish subscriber keeps the number",
            ),
        ],
    },
    Profile {
        code: "es",
        country: "Spain",
        country_code: "34",
        trunk_prefix: "",
        international_prefix: "00",
        roaming_rule: true,
        rules: &[
            rule(
                SpoofDomesticCliIntl,
                REJECT,
                "Orden TDF/149/2025 (from 7 Jun 2025)",
                "calls from abroad presenting Spanish landline numbers are blocked",
            ),
            rule(
                SpoofDomesticMobileIntl,
                REJECT,
                "Orden TDF/149/2025 (from 7 Jun 2025)",
                "calls from abroad presenting Spanish mobile numbers are blocked unless the subscriber is roaming",
            ),
            UNCHECKED_ANONYMISED,
            rule(
                Roaming,
                Allow,
                "Orden TDF/149/2025",
                "a roaming Spanish subscriber keeps the number",
            ),
            rule(
                InvalidCli,
                REJECT,
                "Orden TDF/149/2025 (from 7 Mar 2025)",
                "numbers not consistent with the national numbering plan are blocked",
            ),
        ],
    },
    Profile {
        code: "nl",
        country: "Netherlands",
        country_code: "31",
        trunk_prefix: "0",
        international_prefix: "00",
        roaming_rule: false,
        rules: &[],
    },
];

/// The profile named `code`.
pub fn profile(code: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| p.code == code)
}

impl Profile {
    /// The profile's own rule for a reason kind, if it has one.
    pub fn rule(&self, kind: ReasonKind) -> Option<&'static ProfileRule> {
        self.rules.iter().find(|r| r.kind == kind)
    }

    /// The codes of every profile, for error messages.
    pub fn codes() -> Vec<&'static str> {
        PROFILES.iter().map(|p| p.code).collect()
    }
}
