//! The vocabulary every list module shares: what a list is used for
//! ([`Role`]) and what it holds ([`ListKind`]). It sits below the parsers
//! and the list set, which all speak it.

use std::fmt;

/// What a list is used for (config key `role`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Scam origins: a hit gives `blocklist:<name>`.
    Blocklist,
    /// Number ranges the regulator withdrew: `withdrawn:<name>`.
    Withdrawn,
    /// Numbers whose list-based blocks are lifted (never spoofing signals).
    Allowlist,
    /// Protected companies: their numbers, brands and allowed peers.
    Protected,
    /// Fake helpdesks: numbers a subscriber must not reach unwarned
    /// (`callee:fake-helpdesk:<name>`, on originating trunks only).
    FakeHelpdesk,
    /// Ranges to warn a subscriber about before connecting, e.g.
    /// international premium rate used in callback scams (`callee:warn:<name>`).
    DialledWarn,
    /// Home-country numbers registered to be presented from abroad (cloud
    /// numbers, call centres with a registration): the
    /// domestic-CLI-from-abroad signal is lifted for them (`registered-cli`),
    /// nothing else.
    RegisteredCli,
}

impl Role {
    pub const ALL: [Role; 7] = [
        Role::Blocklist,
        Role::Withdrawn,
        Role::Allowlist,
        Role::Protected,
        Role::FakeHelpdesk,
        Role::DialledWarn,
        Role::RegisteredCli,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Blocklist => "blocklist",
            Role::Withdrawn => "withdrawn",
            Role::Allowlist => "allowlist",
            Role::Protected => "protected",
            Role::FakeHelpdesk => "fake-helpdesk",
            Role::DialledWarn => "dialled-warn",
            Role::RegisteredCli => "registered-cli",
        }
    }

    pub fn from_name(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == s)
    }

    /// Lists of numbers dialled by subscribers (screened on originating
    /// trunks), not of callers.
    pub fn is_dialled(self) -> bool {
        matches!(self, Role::FakeHelpdesk | Role::DialledWarn)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a list holds (config key `kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ListKind {
    /// Numbers, prefixes and ranges.
    Numbers,
    /// IP networks (matched against the source address).
    Networks,
    /// Protected companies (their own TOML/JSON format).
    Companies,
}

impl ListKind {
    pub fn name(self) -> &'static str {
        match self {
            ListKind::Numbers => "numbers",
            ListKind::Networks => "networks",
            ListKind::Companies => "companies",
        }
    }

    pub fn from_name(s: &str) -> Option<ListKind> {
        [ListKind::Numbers, ListKind::Networks, ListKind::Companies]
            .into_iter()
            .find(|k| k.name() == s)
    }
}
