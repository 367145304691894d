//! One named list and the immutable [`ListSet`] every call reads.
//!
//! A `ListSet` is never changed: a list update builds a new one (reusing the
//! unchanged lists through their `Arc`) and swaps it in whole, so a call sees
//! one consistent set from start to end. ("Snapshot" in callscreen is only
//! the binary file of one list, `snapshot.rs`.)

use std::net::IpAddr;
use std::sync::Arc;

use super::companies::{CompanyList, ParsedCompanies};
use super::entry::{EntryMeta, Target};
use super::format::ParsedList;
use super::kind::{ListKind, Role};
use super::networks::NetworkList;
use super::numbers::{BloomParams, Lookup, NumberList};
use number::E164;

/// Few lists exist, each built once: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum ListBody {
    Numbers(NumberList),
    Networks(NetworkList),
    Companies(CompanyList),
}

/// A loaded list.
#[derive(Debug)]
pub struct List {
    pub name: String,
    pub version: u64,
    pub role: Role,
    pub body: ListBody,
}

/// Sizes for reports and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListStats {
    pub numbers: usize,
    pub prefixes: usize,
    pub ranges: usize,
    pub networks: usize,
    pub expired: usize,
}

impl ListStats {
    pub fn entries(&self) -> usize {
        self.numbers + self.prefixes + self.ranges + self.networks
    }
}

impl List {
    pub fn from_companies(p: ParsedCompanies) -> List {
        List {
            name: p.name.clone(),
            version: p.version,
            role: Role::Protected,
            body: ListBody::Companies(CompanyList::build(p)),
        }
    }

    pub fn from_parsed(p: ParsedList, kind: ListKind, role: Role, bloom: BloomParams) -> List {
        let body = match kind {
            ListKind::Numbers => ListBody::Numbers(NumberList::from_split(
                p.numbers,
                p.number_metas,
                p.entries,
                p.metas,
                bloom,
            )),
            // Network and company lists are not built from number entries.
            ListKind::Networks | ListKind::Companies => {
                ListBody::Networks(NetworkList::build(p.entries, p.metas))
            }
        };
        List {
            name: p.name,
            version: p.version,
            role,
            body,
        }
    }

    pub fn kind(&self) -> ListKind {
        match self.body {
            ListBody::Numbers(_) => ListKind::Numbers,
            ListBody::Networks(_) => ListKind::Networks,
            ListBody::Companies(_) => ListKind::Companies,
        }
    }

    /// The company data of a protected list.
    pub fn companies(&self) -> Option<&CompanyList> {
        match &self.body {
            ListBody::Companies(c) => Some(c),
            _ => None,
        }
    }

    /// A number lookup (a network list never matches a number).
    #[inline]
    pub fn lookup_number(&self, n: E164, now: u64) -> Lookup<'_> {
        match &self.body {
            ListBody::Numbers(l) => l.lookup(n, now),
            ListBody::Networks(_) | ListBody::Companies(_) => Lookup::default(),
        }
    }

    /// An address lookup (a number list never matches an address).
    pub fn lookup_ip(&self, ip: IpAddr, now: u64) -> Lookup<'_> {
        match &self.body {
            ListBody::Networks(l) => l.lookup(ip, now),
            ListBody::Numbers(_) | ListBody::Companies(_) => Lookup::default(),
        }
    }

    pub fn stats(&self, now: u64) -> ListStats {
        match &self.body {
            ListBody::Numbers(l) => {
                let (numbers, prefixes, ranges) = l.counts();
                ListStats {
                    numbers,
                    prefixes,
                    ranges,
                    networks: 0,
                    expired: l.expired(now),
                }
            }
            ListBody::Networks(l) => ListStats {
                numbers: 0,
                prefixes: 0,
                ranges: 0,
                networks: l.len(),
                expired: l.expired(now),
            },
            ListBody::Companies(c) => ListStats {
                numbers: c.entries(),
                prefixes: 0,
                ranges: 0,
                networks: 0,
                expired: 0,
            },
        }
    }

    /// Entries added and removed going from this list to `new` (for the audit line).
    pub fn diff_counts(&self, new: &List) -> (usize, usize) {
        match (&self.body, &new.body) {
            (ListBody::Numbers(a), ListBody::Numbers(b)) => a.diff_counts(b),
            _ => {
                let set = |l: &List| {
                    l.entries()
                        .map(|(t, _)| t)
                        .collect::<std::collections::HashSet<_>>()
                };
                let (a, b) = (set(self), set(new));
                (b.difference(&a).count(), a.difference(&b).count())
            }
        }
    }

    /// What going to `new` changes: how many entries it adds, and the
    /// entries of this version that it no longer holds.
    pub fn changes(&self, new: &List) -> (usize, Vec<Target>) {
        match (&self.body, &new.body) {
            (ListBody::Numbers(a), ListBody::Numbers(b)) => a.changes(b),
            _ => {
                let set = |l: &List| {
                    l.entries()
                        .map(|(t, _)| t)
                        .collect::<std::collections::HashSet<_>>()
                };
                let (old, kept) = (set(self), set(new));
                let added = kept.difference(&old).count();
                let removed = self
                    .entries()
                    .map(|e| e.0)
                    .filter(|t| !kept.contains(t))
                    .collect();
                (added, removed)
            }
        }
    }

    /// Every entry, for export.
    pub fn entries(&self) -> Box<dyn Iterator<Item = (Target, &EntryMeta)> + '_> {
        match &self.body {
            ListBody::Numbers(l) => Box::new(l.entries()),
            ListBody::Networks(l) => Box::new(l.entries()),
            ListBody::Companies(_) => Box::new(std::iter::empty()),
        }
    }
}

/// An immutable set of every list, cheap to share between threads.
#[derive(Debug, Default, Clone)]
pub struct ListSet {
    lists: Vec<Arc<List>>,
    by_role: [Vec<Arc<List>>; Role::ALL.len()],
}

impl ListSet {
    pub fn new(lists: Vec<Arc<List>>) -> ListSet {
        let by_role = Role::ALL.map(|r| lists.iter().filter(|l| l.role == r).cloned().collect());
        ListSet { lists, by_role }
    }

    /// All lists, in configuration order.
    pub fn lists(&self) -> &[Arc<List>] {
        &self.lists
    }

    pub fn get(&self, name: &str) -> Option<&Arc<List>> {
        self.lists.iter().find(|l| l.name == name)
    }

    /// The lists of one role, in configuration order.
    #[inline]
    pub fn with_role(&self, role: Role) -> &[Arc<List>] {
        &self.by_role[role as usize]
    }

    /// A new set with `list` in place of the list of the same name (or added).
    pub fn with_list(&self, list: Arc<List>) -> ListSet {
        let mut lists = self.lists.clone();
        match lists.iter_mut().find(|l| l.name == list.name) {
            Some(slot) => *slot = list,
            None => lists.push(list),
        }
        ListSet::new(lists)
    }
}
