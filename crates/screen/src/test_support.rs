//! What the screening tests share: a peer as the tests need one.

use super::{Peer, RuleTable};
use number::NumberContext;

/// A peer with the home number context (domestic) or E.164 only
/// (international), terminating, no rules of its own.
pub fn peer(name: &str, international: bool, pai_trusted: bool) -> Peer {
    Peer {
        name: name.into(),
        international,
        pai_trusted,
        context: if international {
            NumberContext::e164_only()
        } else {
            NumberContext::national("31")
        },
        domestic_cli_allowed: false,
        shaken_signs: false,
        div_signs: false,
        originating: false,
        assigned: Vec::new(),
        country: 0,
        rules: RuleTable::default(),
    }
}
