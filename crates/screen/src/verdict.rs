//! The outcome of screening: the action and every reason found.

use super::policy::Action;
use super::reason::Reason;
use lists::{EntryMeta, Target};
use number::E164;

/// Which part of the call a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The From number.
    From,
    /// The P-Asserted-Identity number.
    Pai,
    /// The called number.
    Callee,
    /// The source address.
    Source,
    /// The display name of the caller's verified Rich Call Data (RFC 9795).
    Rcd,
}

impl Subject {
    pub fn name(self) -> &'static str {
        match self {
            Subject::From => "from",
            Subject::Pai => "pai",
            Subject::Callee => "callee",
            Subject::Source => "source",
            Subject::Rcd => "rcd",
        }
    }
}

/// A list entry that matched.
#[derive(Clone, Copy, Debug)]
pub struct ListHit<'a> {
    pub list: &'a str,
    pub version: u64,
    pub target: Target,
    pub meta: &'a EntryMeta,
}

impl<'a> ListHit<'a> {
    /// A lookup's hit in `list`.
    pub fn of(list: &'a lists::List, h: lists::Hit<'a>) -> ListHit<'a> {
        ListHit {
            list: &list.name,
            version: list.version,
            target: h.target,
            meta: h.meta,
        }
    }
}

/// One reason found, with what its rule says.
#[derive(Clone, Copy, Debug)]
pub struct Finding<'a> {
    pub reason: Reason<'a>,
    pub subject: Subject,
    pub number: Option<E164>,
    pub hit: Option<ListHit<'a>>,
    /// The rule's action (for a monitored rule: what it would do).
    pub action: Action,
    pub monitor: bool,
    /// Lifted: a list block by the allowlist, or a warning by the
    /// subscriber who heard it and insisted.
    pub lifted: bool,
    /// Rejection text of the rule, if it has its own.
    pub text: Option<&'a str>,
    /// The rule rejects with 603+ (`603 Network Blocked`).
    pub network_blocked: bool,
    /// What else the finding names (the protected company, the PASSporT detail).
    pub note: Option<&'a str>,
}

impl Finding<'_> {
    /// Whether this finding takes part in the decision.
    pub fn enforced(&self) -> bool {
        !self.monitor && !self.lifted
    }
}

/// A fixed-capacity list, so a decision allocates nothing.
#[derive(Clone, Copy, Debug)]
pub struct Bounded<T: Copy, const N: usize> {
    items: [Option<T>; N],
    len: usize,
    /// Items that did not fit.
    pub overflow: usize,
}

impl<T: Copy, const N: usize> Default for Bounded<T, N> {
    fn default() -> Self {
        Bounded {
            items: [None; N],
            len: 0,
            overflow: 0,
        }
    }
}

impl<T: Copy, const N: usize> Bounded<T, N> {
    pub fn push(&mut self, t: T) {
        if self.len < N {
            self.items[self.len] = Some(t);
            self.len += 1;
        } else {
            self.overflow += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items[..self.len].iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items[..self.len].iter_mut().flatten()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Most findings kept per call; more are counted in `overflow`. Eight is more
/// than any real call has found; the verdict stays small enough to return
/// cheaply (BENCHMARKS.md).
pub const MAX_FINDINGS: usize = 8;

/// The decision for one call.
#[derive(Clone, Copy, Debug)]
pub struct Verdict<'a> {
    pub action: Action,
    /// The finding that decided a non-allow action.
    pub decided_by: Option<Finding<'a>>,
    /// `Reason` header text for a rejection (RFC 3326).
    pub reject_text: Option<&'a str>,
    pub findings: Bounded<Finding<'a>, MAX_FINDINGS>,
    /// Expired list entries passed over (reported, never acted on).
    pub expired: Bounded<(Subject, ListHit<'a>), 4>,
    /// The STIR/SHAKEN verification status, when `[stir]` verifies.
    pub verstat: Option<super::passport::Verstat>,
}

impl<'a> Verdict<'a> {
    /// The reasons to tag the call with: every enforced finding whose rule
    /// does more than allow, each code once, in the order found.
    pub fn tag_reasons(&self) -> impl Iterator<Item = Reason<'a>> + '_ {
        let enforced: Bounded<Reason<'a>, MAX_FINDINGS> = {
            let mut b = Bounded::default();
            for f in self.findings.iter() {
                if f.enforced() && f.action != Action::Allow && !b.iter().any(|r| *r == f.reason) {
                    b.push(f.reason);
                }
            }
            b
        };
        enforced.items.into_iter().take(enforced.len).flatten()
    }

    /// Every reason found (lifted and monitored ones included), each once.
    pub fn all_reasons(&self) -> impl Iterator<Item = Reason<'a>> + '_ {
        self.findings
            .iter()
            .enumerate()
            .filter(|(i, f)| !self.findings.iter().take(*i).any(|g| g.reason == f.reason))
            .map(|(_, f)| f.reason)
    }
}
