//! The one decision on a proposed version: accepted (new, or unchanged) or
//! refused with a [`Refusal`], the same for a push, a patch and a head of
//! the fleet. `api` turns a refusal into an HTTP answer in one table
//! (`api::commit::refused`).

use crate::lists::{Guard, List};
use crate::store::History;

/// The version a proposal is decided against: the one in force here, or
/// the fleet's head. `sha256` is `None` when not known (a seed file whose
/// text is not kept).
#[derive(Clone, Copy, Debug)]
pub struct Served<'a> {
    pub version: u64,
    pub sha256: Option<&'a str>,
}

/// What an accepted proposal is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// Above what is served: put in force.
    New,
    /// The same version with the same content: nothing to do.
    Unchanged,
}

/// Why a proposed version (or a rollback) is refused. Nothing of it was
/// applied; the version in force stays.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("version {version} is not above the current version {current}")]
    Stale { version: u64, current: u64 },
    #[error("version {current} is already in force with other content: push a higher version")]
    SameVersion { current: u64 },
    #[error(
        "version {version} was rolled back, and its number names the content it had: push that content again to bring it back, or another content as a version above {high_water}"
    )]
    RolledBack {
        version: u64,
        high_water: u64,
        current: u64,
    },
    #[error("base_version {base} is not the current version {current}")]
    StaleBase { base: u64, current: u64 },
    #[error(
        "this version removes {removed} of the {entries} entries of version {current} (more than list_guard.max_shrink_percent = {max_percent}%); nothing was applied. If that is meant, push again with ?allow_shrink=true (callscreen lists push --allow-shrink)"
    )]
    Shrink {
        removed: usize,
        entries: usize,
        current: u64,
        max_percent: u8,
    },
    #[error("no version of {list:?} below {current} is kept to roll back to")]
    NothingEarlier { list: String, current: u64 },
}

impl Refusal {
    /// The version in force (or the fleet's), when the refusal names it.
    pub fn current_version(&self) -> Option<u64> {
        match self {
            Refusal::Stale { current, .. }
            | Refusal::SameVersion { current }
            | Refusal::RolledBack { current, .. }
            | Refusal::StaleBase { current, .. }
            | Refusal::NothingEarlier { current, .. } => Some(*current),
            Refusal::Shrink { .. } => None,
        }
    }

    /// A short name for the audit line and the counters.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Stale { .. } => "stale version",
            Refusal::SameVersion { .. } => "same version, other content",
            Refusal::RolledBack { .. } => "rolled back",
            Refusal::StaleBase { .. } => "stale base",
            Refusal::Shrink { .. } => "shrink",
            Refusal::NothingEarlier { .. } => "nothing to roll back to",
        }
    }
}

/// A proposed `version` with text `sha256`, against what is `served` and
/// the list's `history` here. Versions never go down: a proposal at or
/// below what is served is refused (the same version with the same content
/// is `Unchanged`), and so is a rolled-back version's number with other
/// content than it had (its number names that content in every log and
/// every node's history). A rolled-back version pushed again with the same
/// content is new: it is back.
pub fn decide(
    served: Option<Served<'_>>,
    history: &History,
    version: u64,
    sha256: &str,
) -> Result<Accepted, Refusal> {
    if let Some(s) = served {
        if version < s.version {
            return Err(Refusal::Stale {
                version,
                current: s.version,
            });
        }
        if version == s.version {
            return match s.sha256 {
                Some(h) if h == sha256 => Ok(Accepted::Unchanged),
                _ => Err(Refusal::SameVersion { current: s.version }),
            };
        }
    }
    if let Some(had) = history.rolled_back().get(&version)
        && had != sha256
    {
        return Err(Refusal::RolledBack {
            version,
            high_water: history.high_water().unwrap_or(version),
            current: served.map_or(0, |s| s.version),
        });
    }
    Ok(Accepted::New)
}

/// A patch names its base: it must be what is served.
pub fn check_base(base: u64, served: u64) -> Result<(), Refusal> {
    if base == served {
        Ok(())
    } else {
        Err(Refusal::StaleBase {
            base,
            current: served,
        })
    }
}

/// The shrink guard: a replacement that removes more of a list than the
/// guard allows is refused, unless the change says it means it (`allowed`).
/// `now` (unix seconds) decides which entries have expired.
pub fn check_shrink(
    guard: &Guard,
    old: &List,
    new: &List,
    allowed: bool,
    now: u64,
) -> Result<(), Refusal> {
    if allowed {
        return Ok(());
    }
    let (_, removed) = old.diff_counts(new);
    let entries = old.stats(now).entries();
    if guard.shrinks_too_much(entries, removed) {
        return Err(Refusal::Shrink {
            removed,
            entries,
            current: old.version,
            max_percent: guard.max_shrink_percent,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Entry, Event};

    fn served(version: u64, sha: &str) -> Option<Served<'_>> {
        Some(Served {
            version,
            sha256: Some(sha),
        })
    }

    fn entry(version: u64, sha: &str, rollback_of: Option<u64>) -> Entry {
        Entry {
            seq: 0,
            version,
            sha256: sha.into(),
            event: if rollback_of.is_some() {
                Event::Rollback
            } else {
                Event::Push
            },
            at: 0,
            rollback_of,
            head_seq: None,
        }
    }

    #[test]
    fn versions_never_go_down() {
        let none = History::default();
        assert_eq!(decide(None, &none, 1, "x"), Ok(Accepted::New));
        assert_eq!(decide(served(43, "aa"), &none, 44, "bb"), Ok(Accepted::New));
        assert_eq!(
            decide(served(43, "aa"), &none, 43, "aa"),
            Ok(Accepted::Unchanged)
        );
        assert_eq!(
            decide(served(43, "aa"), &none, 43, "bb"),
            Err(Refusal::SameVersion { current: 43 })
        );
        assert_eq!(
            decide(served(43, "aa"), &none, 42, "aa"),
            Err(Refusal::Stale {
                version: 42,
                current: 43
            })
        );
        let seed = Some(Served {
            version: 1,
            sha256: None,
        });
        assert_eq!(
            decide(seed, &none, 1, "aa"),
            Err(Refusal::SameVersion { current: 1 })
        );
    }

    #[test]
    fn a_rolled_back_number_comes_back_only_with_its_content() {
        let h = History::of(vec![
            entry(18, "a", None),
            entry(19, "b", None),
            entry(18, "a", Some(19)),
        ]);
        assert_eq!(
            decide(served(18, "a"), &h, 19, "other"),
            Err(Refusal::RolledBack {
                version: 19,
                high_water: 19,
                current: 18
            })
        );
        assert_eq!(decide(served(18, "a"), &h, 19, "b"), Ok(Accepted::New));
        assert_eq!(decide(served(18, "a"), &h, 20, "c"), Ok(Accepted::New));
    }

    #[test]
    fn a_patch_is_on_the_version_served() {
        assert_eq!(check_base(4, 4), Ok(()));
        assert_eq!(
            check_base(3, 4),
            Err(Refusal::StaleBase {
                base: 3,
                current: 4
            })
        );
    }
}
