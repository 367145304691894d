//! Policy: what to do for each reason code, per peer; and what screening
//! needs to know of peers, numbering plans and emergency numbers.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::reason::{KIND_COUNT, Reason, ReasonKey, ReasonKind};
use crate::number::NumberContext;
use crate::number::emergency::EmergencyNumbers;
use crate::number::plan::NumberingPlan;

/// What happens to a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Through, untouched.
    Allow,
    /// Through, with the tags (`X-Callscreen`, display-name prefix).
    Tag,
    /// Through, with the caller's number withheld from the callee.
    Anonymise,
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
            Action::Reject { .. } => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Tag => "tag",
            Action::Anonymise => "anonymise",
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
}

impl Rule {
    pub const fn new(action: Action) -> Rule {
        Rule {
            action,
            monitor: false,
            text: None,
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
        Allowlist | Emergency | ShakenNone => Action::Allow,
        Blocklist | Withdrawn | SpoofDno | SpoofUnauthorisedPeer => reject,
        SpoofDomesticCliIntl => Action::Anonymise,
        InvalidCli
        | CliPremium
        | SpoofDomesticMobileIntl
        | SpoofDisplayName
        | SpoofPaiFromMismatch
        | ShakenAttestC
        | ShakenOrigMismatch
        | ShakenStale => Action::Tag,
    })
}

/// Rules by reason kind, and by list for the list families.
#[derive(Clone, Debug, Default)]
pub struct RuleTable {
    kinds: [Option<Rule>; KIND_COUNT],
    blocklist: HashMap<String, Rule>,
    withdrawn: HashMap<String, Rule>,
}

impl RuleTable {
    pub fn set(&mut self, key: ReasonKey, rule: Rule) {
        match (key.kind, key.list) {
            (ReasonKind::Blocklist, Some(l)) => {
                self.blocklist.insert(l, rule);
            }
            (ReasonKind::Withdrawn, Some(l)) => {
                self.withdrawn.insert(l, rule);
            }
            (k, _) => self.kinds[k as usize] = Some(rule),
        }
    }

    fn get(&self, r: &Reason<'_>) -> Option<&Rule> {
        let by_list = match (r.kind, r.list) {
            (ReasonKind::Blocklist, Some(l)) => self.blocklist.get(l),
            (ReasonKind::Withdrawn, Some(l)) => self.withdrawn.get(l),
            _ => None,
        };
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
    /// Its policy overrides.
    pub rules: RuleTable,
}

/// Everything screening decides with, apart from the lists.
#[derive(Clone, Debug)]
pub struct Policy {
    pub home: NumberContext,
    pub plans: Vec<NumberingPlan>,
    pub emergency: EmergencyNumbers,
    pub peers: Vec<Peer>,
    /// Operator-wide rules; every kind has one (built-in defaults filled in).
    rules: RuleTable,
    /// `Reason` header text when a rule gives none.
    pub reject_text: Arc<str>,
    /// A PASSporT older (or further in the future) than this is `shaken:stale`.
    pub shaken_max_age: u64,
}

impl Policy {
    /// A policy with the built-in rules; `rules` overrides them.
    pub fn new(
        home: NumberContext,
        plans: Vec<NumberingPlan>,
        emergency: EmergencyNumbers,
        peers: Vec<Peer>,
        mut rules: RuleTable,
        reject_text: &str,
    ) -> Policy {
        for k in ReasonKind::ALL {
            if rules.kinds[k as usize].is_none() {
                rules.kinds[k as usize] = Some(default_rule(k));
            }
        }
        Policy {
            home,
            plans,
            emergency,
            peers,
            rules,
            reject_text: reject_text.into(),
            shaken_max_age: 60,
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
            .or_else(|| self.rules.get(reason))
            .unwrap_or_else(|| {
                // Unreachable: `new` fills every kind. Fail towards allowing.
                static ALLOW: Rule = Rule::new(Action::Allow);
                &ALLOW
            })
    }
}
