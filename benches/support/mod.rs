//! Shared by the benchmarks and the footprint example: generated lists of the
//! size the issue names (10 million numbers, 100 000 prefixes and ranges).

#![allow(dead_code)]

use std::sync::Arc;

use callscreen::lists::{
    BloomParams, EntryMeta, List, ListBody, ListSet, NumberList, Role, Target,
};
use callscreen::number::E164;

/// xorshift64*: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A listed number: Dutch mobile or geographic, 11 digits.
pub fn listed_number(r: &mut Rng) -> u64 {
    if r.next().is_multiple_of(2) {
        31_600_000_000 + r.next() % 100_000_000
    } else {
        31_100_000_000 + r.next() % 500_000_000
    }
}

/// Exact numbers only.
pub fn number_entries(n: usize, seed: u64) -> Vec<(Target, u32)> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            (
                Target::Number(E164::from_u64(listed_number(&mut r)).unwrap()),
                0,
            )
        })
        .collect()
}

/// Prefixes and ranges (half each) in the +3188 block, which the exact numbers never use.
pub fn span_entries(n: usize, seed: u64) -> Vec<(Target, u32)> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|i| {
            let block = 318_800_000 + r.next() % 10_000_000; // 9 digits
            if i % 2 == 0 {
                (
                    Target::Prefix {
                        digits: block,
                        len: 9,
                    },
                    0,
                )
            } else {
                let lo = block * 100;
                (
                    Target::Range {
                        lo: E164::from_u64(lo).unwrap(),
                        hi: E164::from_u64(lo + 49).unwrap(),
                    },
                    0,
                )
            }
        })
        .collect()
}

pub fn number_list(numbers: usize, spans: usize) -> NumberList {
    let mut entries = number_entries(numbers, 42);
    entries.extend(span_entries(spans, 43));
    NumberList::build(entries, vec![EntryMeta::default()], BloomParams::default())
}

/// The list set of the benchmarks: one big blocklist, a withdrawn list, an
/// allowlist, and the dialled-number lists (10 000 fake helpdesks, 1 000
/// ranges to warn about).
pub fn big_set(numbers: usize, spans: usize) -> ListSet {
    let list = |name: &str, role, body| {
        Arc::new(List {
            name: name.into(),
            version: 1,
            role,
            body,
        })
    };
    let withdrawn = NumberList::build(
        span_entries(1000, 44),
        vec![EntryMeta::default()],
        BloomParams::default(),
    );
    let allow = NumberList::build(
        number_entries(1000, 45),
        vec![EntryMeta::default()],
        BloomParams::default(),
    );
    ListSet::new(vec![
        list(
            "scam-origins",
            Role::Blocklist,
            ListBody::Numbers(number_list(numbers, spans)),
        ),
        list(
            "acm-withdrawn",
            Role::Withdrawn,
            ListBody::Numbers(withdrawn),
        ),
        list("allowlist", Role::Allowlist, ListBody::Numbers(allow)),
        // Dialled-number lists (consulted on originating trunks only).
        list(
            "fraudehelpdesk",
            Role::FakeHelpdesk,
            ListBody::Numbers(NumberList::build(
                number_entries(10_000, 46),
                vec![EntryMeta::default()],
                BloomParams::default(),
            )),
        ),
        list(
            "callback-ranges",
            Role::DialledWarn,
            ListBody::Numbers(NumberList::build(
                span_entries(1000, 47),
                vec![EntryMeta::default()],
                BloomParams::default(),
            )),
        ),
    ])
}

/// The first listed number of `number_entries(_, 42)`.
pub fn a_listed_number() -> String {
    let mut r = Rng::new(42);
    format!("+{}", listed_number(&mut r))
}
