//! Policy: what to do for each reason code, per peer; and what screening
//! needs to know of peers, numbering plans and emergency numbers.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::profile::{Profile, ProfileRule};
use super::reason::{KIND_COUNT, Reason, ReasonKey, ReasonKind};
use number::emergency::EmergencyNumbers;
use number::plan::NumberingPlan;
use number::{E164, NumberContext};

/// What happens to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Through, untouched.
    Allow,
    /// Through, with the tags (`X-Callscreen`, display-name prefix).
    Tag,
    /// Through, with the caller's number withheld from the callee.
    Anonymise,
    /// To the announcement service first (`[warn]`): it tells the subscriber
    /// what the dialled number is reported as, and reconnects only if the
    /// subscriber insists (redirect mode: a 302 there; proxy mode: forwarded
    /// there).
    Warn,
    /// Refused with this SIP final response code (6xx or 4xx).
    Reject { code: u16 },
}

impl Action {
    /// Order of strength: the strongest action among a call's reasons wins.
    pub fn strength(self) -> u8 {
        match self {
            Action::Allow => 0,
            Action::Tag => 1,
            Action::Anonymise => 2,
            Action::Warn => 3,
            Action::Reject { .. } => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Tag => "tag",
            Action::Anonymise => "anonymise",
            Action::Warn => "warn",
            Action::Reject { .. } => "reject",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Reject { code } => write!(f, "reject {code}"),
            a => f.write_str(a.name()),
        }
    }
}

/// The network's default rejection: `608 Rejected` (RFC 8688).
pub const DEFAULT_REJECT_CODE: u16 = 608;

/// What one reason code does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    /// Log what the rule would do without doing it.
    pub monitor: bool,
    /// Text of the `Reason` header on a rejection (RFC 3326); the policy's
    /// default text when `None`.
    pub text: Option<Arc<str>>,
    /// A 603 sent as "603+" (ATIS-1000099): `603 Network Blocked`, for
    /// analytics-based blocks ([`ReasonKind::analytics`]).
    pub network_blocked: bool,
}

impl Rule {
    pub const fn new(action: Action) -> Rule {
        Rule {
            action,
            monitor: false,
            text: None,
            network_blocked: false,
        }
    }
}

/// The built-in action of each reason code (README, "Policy").
pub fn default_rule(kind: ReasonKind) -> Rule {
    use ReasonKind::*;
    let reject = Action::Reject {
        code: DEFAULT_REJECT_CODE,
    };
    Rule::new(match kind {
        Allowlist | RegisteredCli | Roaming | Emergency | ShakenNone | CalleeWarnedInsisted => {
            Action::Allow
        }
        Blocklist
        | Withdrawn
        | SpoofDno
        | SpoofUnauthorisedPeer
        | SpoofCliNotAssigned
        | StirFailedProtected => reject,
        CalleeFakeHelpdesk | CalleeWarn => Action::Warn,
        SpoofDomesticCliIntl => Action::Anonymise,
        InvalidCli
        | CliPremium
        | SpoofDomesticMobileIntl
        | SpoofDomesticMobileUnchecked
        | SpoofDisplayName
        | SpoofPaiFromMismatch
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
        | Burst
        | BurstBlock => Action::Tag,
    })
}

/// Rules by reason kind, and by list for the list families.
#[derive(Clone, Debug)]
pub struct RuleTable {
    kinds: [Option<Rule>; KIND_COUNT],
    /// Per kind that names a list: the rule of each named list.
    by_list: [HashMap<String, Rule>; KIND_COUNT],
}

impl Default for RuleTable {
    fn default() -> RuleTable {
        RuleTable {
            kinds: std::array::from_fn(|_| None),
            by_list: std::array::from_fn(|_| HashMap::new()),
        }
    }
}

impl RuleTable {
    pub fn set(&mut self, key: ReasonKey, rule: Rule) {
        match key.list {
            Some(l) if key.kind.names_list() => {
                self.by_list[key.kind as usize].insert(l, rule);
            }
            _ => self.kinds[key.kind as usize] = Some(rule),
        }
    }

    fn get(&self, r: &Reason<'_>) -> Option<&Rule> {
        let by_list = r.list.and_then(|l| self.by_list[r.kind as usize].get(l));
        by_list.or(self.kinds[r.kind as usize].as_ref())
    }
}

/// Index of a peer in [`Policy::peers`].
pub type PeerId = usize;

/// What screening needs to know of an ingress peer.
#[derive(Clone, Debug)]
pub struct Peer {
    pub name: String,
    /// Hands over calls from abroad (`scope = "international"`).
    pub international: bool,
    /// Its P-Asserted-Identity is believed (RFC 3325 trust domain).
    pub pai_trusted: bool,
    /// How it writes numbers not in `+` form.
    pub context: NumberContext,
    /// It may hand over home-country caller IDs from abroad (no
    /// `spoof:domestic-*-intl`): e.g. a carrier of roaming subscribers.
    pub domestic_cli_allowed: bool,
    /// It signs its calls (STIR/SHAKEN): a call without Identity is `shaken:none`.
    pub shaken_signs: bool,
    /// It signs the calls it diverts (RFC 8946 `div` PASSporTs): a call
    /// counts as diverted by a home-country line only with a verified one,
    /// not on its Diversion or History-Info headers.
    pub div_signs: bool,
    /// It carries the operator's own subscribers' calls out (`direction =
    /// "originating"`): the dialled number is screened, the rules about
    /// where a call arrives from are not.
    pub originating: bool,
    /// The number blocks assigned to this trunk (`assigned`): a caller ID
    /// outside them is `spoof:cli-not-assigned`. Empty: not checked.
    pub assigned: Vec<NumberBlock>,
    /// The country its calls are screened for (an index into
    /// [`Policy::countries`]; 0 is `[home]`'s): whose numbers are
    /// "domestic", and under which profile.
    pub country: usize,
    /// Its policy overrides.
    pub rules: RuleTable,
}

/// A country the operator screens calls for: `[home]`, or a peer's
/// `profile`. Its rule table is the built-in defaults, under its profile's
/// rules, under the operator's `[policy.rules]`, every kind filled.
#[derive(Clone, Debug)]
pub struct Country {
    /// How its national numbers are written (the callee is read so).
    pub home: NumberContext,
    pub profile: Option<&'static Profile>,
    rules: RuleTable,
}

/// Where the rule a reason got comes from (`check` names it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleSource {
    /// The peer's own `rules`.
    Peer,
    /// The operator's `[policy.rules]`.
    Config,
    /// A country profile's rule.
    Profile(&'static Profile, &'static ProfileRule),
    /// The built-in default (README, "Policy").
    Builtin,
}

/// A number block assigned to a trunk: one number, or every number that
/// starts with some digits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NumberBlock {
    Number(E164),
    /// Digits of the E.164 form, without the `+`.
    Prefix(String),
}

impl NumberBlock {
    /// Reads `+31201234567` or `+3120123*`.
    pub fn parse(s: &str) -> Option<NumberBlock> {
        match s.strip_suffix('*') {
            Some(p) => {
                let digits = p.strip_prefix('+')?;
                (!digits.is_empty()
                    && digits.len() <= 15
                    && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| NumberBlock::Prefix(digits.to_string()))
            }
            None => E164::parse_plus(s).map(NumberBlock::Number),
        }
    }

    pub fn holds(&self, n: E164) -> bool {
        match self {
            NumberBlock::Number(m) => *m == n,
            NumberBlock::Prefix(p) => n.starts_with(p.as_bytes()),
        }
    }
}

/// Everything screening decides with, apart from the lists.
#[derive(Clone, Debug)]
pub struct Policy {
    /// `[home]`'s number context (the first country's).
    pub home: NumberContext,
    /// The countries screened for; `[home]`'s first. A peer names its own.
    pub countries: Vec<Country>,
    pub plans: Vec<NumberingPlan>,
    pub emergency: EmergencyNumbers,
    pub peers: Vec<Peer>,
    /// The operator's own rules (`[policy.rules]`), as written.
    explicit: RuleTable,
    /// `Reason` header text when a rule gives none.
    pub reject_text: Arc<str>,
    /// A PASSporT older (or further in the future) than this is `shaken:stale`.
    pub shaken_max_age: u64,
    /// The reasons a verified attestation `A` lifts (`[stir] a_lifts`):
    /// none unless the operator names them.
    pub stir_a_lifts: Vec<ReasonKind>,
    /// Calls in the burst window from one number (`burst`) or one block
    /// (`burst-block`) at which a call is a burst's.
    pub burst: BurstThresholds,
}

/// `[bursts] calls_per_number` / `calls_per_block`: 0 turns a count off.
/// The defaults: a scam call centre on fresh numbers makes tens of calls a
/// minute from each; a person calls a few times an hour, and a company
/// switchboard's outgoing calls rarely reach 30 a minute on one number
/// (those that do are tagged, not rejected, by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BurstThresholds {
    pub per_number: u32,
    pub per_block: u32,
}

impl Default for BurstThresholds {
    fn default() -> Self {
        BurstThresholds {
            per_number: 30,
            per_block: 60,
        }
    }
}

impl Policy {
    /// A policy with the built-in rules; `rules` overrides them.
    pub fn new(
        home: NumberContext,
        plans: Vec<NumberingPlan>,
        emergency: EmergencyNumbers,
        peers: Vec<Peer>,
        rules: RuleTable,
        reject_text: &str,
    ) -> Policy {
        let mut p = Policy {
            home: home.clone(),
            countries: Vec::new(),
            plans,
            emergency,
            peers,
            explicit: rules,
            reject_text: reject_text.into(),
            shaken_max_age: 60,
            stir_a_lifts: Vec::new(),
            burst: BurstThresholds::default(),
        };
        let first = p.country_of(home, None);
        p.countries.push(first);
        p
    }

    /// Adds a country (a profile's) and gives its index for
    /// [`Peer::country`].
    pub fn add_country(&mut self, home: NumberContext, profile: Option<&'static Profile>) -> usize {
        let c = self.country_of(home, profile);
        self.countries.push(c);
        self.countries.len() - 1
    }

    /// Puts `[home]`'s country (the first) under a profile.
    pub fn set_home_profile(&mut self, profile: &'static Profile) {
        let c = self.country_of(self.home.clone(), Some(profile));
        self.countries[0] = c;
    }

    /// A country's table: the built-in default of each kind, the profile's
    /// rule over it, the operator's over both.
    fn country_of(&self, home: NumberContext, profile: Option<&'static Profile>) -> Country {
        let mut rules = self.explicit.clone();
        for k in ReasonKind::ALL {
            if rules.kinds[k as usize].is_none() {
                let preset = profile.and_then(|p| p.rule(k)).map(|r| Rule::new(r.action));
                rules.kinds[k as usize] = Some(preset.unwrap_or_else(|| default_rule(k)));
            }
        }
        Country {
            home,
            profile,
            rules,
        }
    }

    /// The country a peer's calls are screened for.
    pub fn country(&self, peer: PeerId) -> &Country {
        let i = self.peers.get(peer).map_or(0, |p| p.country);
        &self.countries[i.min(self.countries.len() - 1)]
    }

    /// The rule for `reason` in country `country` (peers' own rules aside),
    /// and whether the operator's `[policy.rules]` set it.
    pub fn country_rule(&self, country: usize, reason: &Reason<'_>) -> Option<(&Rule, bool)> {
        let rule = self.countries.get(country)?.rules.get(reason)?;
        Some((rule, self.explicit.get(reason).is_some()))
    }

    /// Where the rule for `reason` on `peer` comes from.
    pub fn rule_source(&self, reason: &Reason<'_>, peer: PeerId) -> RuleSource {
        if self
            .peers
            .get(peer)
            .and_then(|p| p.rules.get(reason))
            .is_some()
        {
            return RuleSource::Peer;
        }
        if self.explicit.get(reason).is_some() {
            return RuleSource::Config;
        }
        let country = self.country(peer);
        match country
            .profile
            .and_then(|p| Some((p, p.rule(reason.kind)?)))
        {
            Some((p, r)) => RuleSource::Profile(p, r),
            None => RuleSource::Builtin,
        }
    }

    pub fn peer(&self, id: PeerId) -> &Peer {
        &self.peers[id]
    }

    pub fn peer_by_name(&self, name: &str) -> Option<PeerId> {
        self.peers.iter().position(|p| p.name == name)
    }

    /// The rule for a reason on a peer: the peer's own rule for that list or
    /// kind, else the operator's for that list or kind.
    pub fn rule(&self, reason: &Reason<'_>, peer: PeerId) -> &Rule {
        self.peers
            .get(peer)
            .and_then(|p| p.rules.get(reason))
            .or_else(|| self.country(peer).rules.get(reason))
            .unwrap_or_else(|| {
                // Unreachable: `new` fills every kind. Fail towards allowing.
                static ALLOW: Rule = Rule::new(Action::Allow);
                &ALLOW
            })
    }
}
