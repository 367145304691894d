//! A number list: exact numbers behind a Bloom filter, prefixes and ranges in
//! an [`IntervalMap`].
//!
//! Most calls are clean. For them the Bloom filter (about 1.2 bytes a number
//! at a 1% false-positive rate) answers "not listed" without touching the
//! exact store. A Bloom hit is only a hint: it is confirmed by binary search in
//! the sorted exact store before anything counts, so a false positive can
//! never change a verdict.

use bloomfilter::Bloom;

use super::entry::{EntryMeta, Target};
use super::intervals::IntervalMap;
use crate::number::E164;
use crate::number::e164::POW10;

/// Prefix and range keys: the digit count above the value, so that numbers of
/// different lengths never share a segment (10^15 < 2^50).
#[inline]
fn span_key(len: u32, value: u64) -> u64 {
    (u64::from(len) << 50) | value
}

/// Lists with at most this many exact numbers get no Bloom filter: a binary
/// search of a few thousand numbers (in cache) costs less than the filter's
/// hashing (BENCHMARKS.md, "lookup-1k-clean").
pub const BLOOM_MIN_NUMBERS: usize = 4096;

/// How the Bloom filter is sized.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BloomParams {
    /// Sized for the list at this false-positive rate (default 1%); none
    /// for lists of up to [`BLOOM_MIN_NUMBERS`] numbers.
    FalsePositiveRate(f64),
    /// A fixed bitmap size in bytes: only for tests that force false positives.
    Bytes(usize),
    /// No filter: every lookup searches the exact store (benchmarks).
    Off,
}

impl Default for BloomParams {
    fn default() -> Self {
        BloomParams::FalsePositiveRate(0.01)
    }
}

/// A confirmed match.
#[derive(Clone, Copy, Debug)]
pub struct Hit<'a> {
    pub target: Target,
    pub meta: &'a EntryMeta,
}

/// The result of a lookup: the live match, if any, and an expired entry
/// passed over on the way (reported, never acted on).
#[derive(Clone, Copy, Debug, Default)]
pub struct Lookup<'a> {
    pub hit: Option<Hit<'a>>,
    pub expired: Option<Hit<'a>>,
}

impl<'a> Lookup<'a> {
    /// Takes the first live entry of `covers` (most specific first) as the
    /// hit, noting the first expired one passed over.
    pub(crate) fn first_live(
        &mut self,
        covers: &[u32],
        entries: &'a [(Target, u32)],
        metas: &'a [EntryMeta],
        now: u64,
    ) {
        for &ix in covers {
            let (target, m) = entries[ix as usize];
            let hit = Hit {
                target,
                meta: &metas[m as usize],
            };
            if hit.meta.is_expired(now) {
                self.expired.get_or_insert(hit);
            } else {
                self.hit = Some(hit);
                return;
            }
        }
    }
}

pub struct NumberList {
    bloom: Option<Bloom<u64>>,
    /// Exact numbers, ascending, unique.
    numbers: Vec<u64>,
    /// Meta index per number; empty when every number has none (saves 4 bytes
    /// a number on plain lists).
    number_meta: Vec<u32>,
    spans: IntervalMap<u64>,
    span_entries: Vec<(Target, u32)>,
    metas: Vec<EntryMeta>,
    prefixes: usize,
    ranges: usize,
}

impl std::fmt::Debug for NumberList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumberList")
            .field("numbers", &self.numbers.len())
            .field("prefixes", &self.prefixes)
            .field("ranges", &self.ranges)
            .finish()
    }
}

/// The intervals of prefix and range entries, and how many of each.
fn span_intervals(span_entries: &[(Target, u32)]) -> (IntervalMap<u64>, usize, usize) {
    let mut spans = Vec::new();
    let (mut prefixes, mut ranges) = (0, 0);
    for (ix, (target, _)) in span_entries.iter().enumerate() {
        let ix = ix as u32;
        match *target {
            Target::Prefix { digits, len } => {
                for l in u32::from(len)..=15 {
                    let scale = POW10[(l - u32::from(len)) as usize];
                    let lo = digits * scale;
                    spans.push((span_key(l, lo), span_key(l, lo + scale - 1), ix));
                }
                prefixes += 1;
            }
            Target::Range { lo, hi } => {
                spans.push((
                    span_key(lo.len(), lo.as_u64()),
                    span_key(hi.len(), hi.as_u64()),
                    ix,
                ));
                ranges += 1;
            }
            Target::Number(_) | Target::Network(_) => {}
        }
    }
    (IntervalMap::build(spans), prefixes, ranges)
}

/// What a snapshot stores of a number list.
pub(crate) struct Parts {
    pub numbers: Vec<u64>,
    pub number_meta: Vec<u32>,
    pub span_entries: Vec<(Target, u32)>,
    pub metas: Vec<EntryMeta>,
    pub bloom: Option<Vec<u8>>,
}

impl NumberList {
    /// The parts to snapshot.
    #[allow(clippy::type_complexity)]
    pub(crate) fn parts(
        &self,
    ) -> (
        &[u64],
        &[u32],
        &[(Target, u32)],
        &[EntryMeta],
        Option<Vec<u8>>,
    ) {
        (
            &self.numbers,
            &self.number_meta,
            &self.span_entries,
            &self.metas,
            self.bloom.as_ref().map(|b| b.to_bytes()),
        )
    }

    /// Rebuilds a list from snapshot parts, checking what must hold (sorted
    /// unique numbers, meta indices in range); `None` if anything does not.
    pub(crate) fn from_parts(p: Parts) -> Option<NumberList> {
        let sorted = p.numbers.windows(2).all(|w| w[0] < w[1])
            && p.numbers.iter().all(|&n| E164::from_u64(n).is_some());
        let metas_ok = p
            .number_meta
            .iter()
            .chain(p.span_entries.iter().map(|e| &e.1))
            .all(|&m| (m as usize) < p.metas.len());
        if !sorted
            || !metas_ok
            || p.metas.is_empty()
            || !(p.number_meta.is_empty() || p.number_meta.len() == p.numbers.len())
        {
            return None;
        }
        let bloom = match p.bloom {
            Some(b) => Some(Bloom::from_bytes(b).ok()?),
            None => None,
        };
        let (spans, prefixes, ranges) = span_intervals(&p.span_entries);
        Some(NumberList {
            bloom,
            numbers: p.numbers,
            number_meta: p.number_meta,
            spans,
            span_entries: p.span_entries,
            metas: p.metas,
            prefixes,
            ranges,
        })
    }

    /// Builds from parsed entries (`metas[0]` must be the empty meta). Where a
    /// number is listed twice, the later line wins.
    pub fn build(
        entries: Vec<(Target, u32)>,
        metas: Vec<EntryMeta>,
        bloom: BloomParams,
    ) -> NumberList {
        let mut exact: Vec<(u64, u32)> = Vec::new();
        let mut span_entries = Vec::new();
        for (target, meta) in entries {
            match target {
                Target::Number(n) => exact.push((n.as_u64(), meta)),
                Target::Prefix { .. } | Target::Range { .. } => span_entries.push((target, meta)),
                // The parser gives number lists no networks.
                Target::Network(_) => {}
            }
        }
        NumberList::from_split(exact, span_entries, metas, bloom)
    }

    /// Builds from exact numbers (in line order, 16 bytes each: the compact
    /// form the parser collects) and prefix/range entries. The exact numbers
    /// are sorted and deduplicated in place, so a 10-million-number list
    /// never exists twice in its wide form.
    pub fn from_split(
        mut exact: Vec<(u64, u32)>,
        span_entries: Vec<(Target, u32)>,
        metas: Vec<EntryMeta>,
        bloom: BloomParams,
    ) -> NumberList {
        let (spans, prefixes, ranges) = span_intervals(&span_entries);
        // Stable sort keeps line order, so the last duplicate is the later line.
        exact.sort_by_key(|e| e.0);
        exact.dedup_by(|later, kept| {
            if later.0 == kept.0 {
                *kept = *later;
                true
            } else {
                false
            }
        });
        let deduped = exact;
        let mut bloom_filter = match bloom {
            BloomParams::FalsePositiveRate(p) if deduped.len() > BLOOM_MIN_NUMBERS => {
                Bloom::new_for_fp_rate(deduped.len(), p).ok()
            }
            BloomParams::Bytes(b) => Bloom::new(b.max(1), deduped.len().max(1)).ok(),
            BloomParams::FalsePositiveRate(_) | BloomParams::Off => None,
        };
        let numbers: Vec<u64> = deduped.iter().map(|e| e.0).collect();
        if let Some(b) = bloom_filter.as_mut() {
            for n in &numbers {
                b.set(n);
            }
        }
        let number_meta = if deduped.iter().all(|e| e.1 == 0) {
            Vec::new()
        } else {
            deduped.iter().map(|e| e.1).collect()
        };
        NumberList {
            bloom: bloom_filter,
            numbers,
            number_meta,
            spans,
            span_entries,
            metas,
            prefixes,
            ranges,
        }
    }

    /// Looks a number up at time `now` (unix seconds): the exact entry first,
    /// then prefixes and ranges, most specific first; expired entries are
    /// passed over.
    #[inline]
    pub fn lookup(&self, n: E164, now: u64) -> Lookup<'_> {
        let mut out = Lookup::default();
        let v = n.as_u64();
        if !self.numbers.is_empty()
            && self.bloom.as_ref().is_none_or(|b| b.check(&v))
            && let Ok(i) = self.numbers.binary_search(&v)
        {
            let meta = &self.metas[self.number_meta.get(i).copied().unwrap_or(0) as usize];
            let hit = Hit {
                target: Target::Number(n),
                meta,
            };
            if !meta.is_expired(now) {
                out.hit = Some(hit);
                return out;
            }
            out.expired = Some(hit);
        }
        out.first_live(
            self.spans.lookup(span_key(n.len(), v)),
            &self.span_entries,
            &self.metas,
            now,
        );
        out
    }

    /// Entries: exact numbers (after removing duplicates), prefixes, ranges.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.numbers.len(), self.prefixes, self.ranges)
    }

    /// Entries whose expiry has passed at `now`.
    pub fn expired(&self, now: u64) -> usize {
        let exp = |m: u32| self.metas[m as usize].is_expired(now);
        let exact = if self.number_meta.is_empty() {
            0
        } else {
            self.number_meta.iter().filter(|&&m| exp(m)).count()
        };
        exact + self.span_entries.iter().filter(|e| exp(e.1)).count()
    }

    /// Heap bytes held (Bloom bitmap, exact store, spans): what residency costs.
    pub fn heap_bytes(&self) -> usize {
        self.bloom.as_ref().map_or(0, |b| b.as_slice().len())
            + self.numbers.capacity() * 8
            + self.number_meta.capacity() * 4
            + self.spans.heap_bytes()
            + self.span_entries.capacity() * std::mem::size_of::<(Target, u32)>()
    }

    /// Entries in `new` and not here (added), and here and not in `new`
    /// (removed): a merge of the sorted exact stores, a set for the rest.
    pub fn diff_counts(&self, new: &NumberList) -> (usize, usize) {
        let (a, b) = (&self.numbers, &new.numbers);
        let (mut i, mut j, mut added, mut removed) = (0, 0, 0, 0);
        while i < a.len() || j < b.len() {
            match (a.get(i), b.get(j)) {
                (Some(x), Some(y)) if x == y => {
                    i += 1;
                    j += 1;
                }
                (Some(x), Some(y)) if x < y => {
                    removed += 1;
                    i += 1;
                }
                (Some(_), None) => {
                    removed += 1;
                    i += 1;
                }
                _ => {
                    added += 1;
                    j += 1;
                }
            }
        }
        let old: std::collections::HashSet<Target> =
            self.span_entries.iter().map(|e| e.0).collect();
        let new_spans: std::collections::HashSet<Target> =
            new.span_entries.iter().map(|e| e.0).collect();
        (
            added + new_spans.difference(&old).count(),
            removed + old.difference(&new_spans).count(),
        )
    }

    /// Every entry, for export (exact numbers first, then prefixes and ranges).
    pub fn entries(&self) -> impl Iterator<Item = (Target, &EntryMeta)> + '_ {
        let exact = self.numbers.iter().enumerate().filter_map(|(i, &v)| {
            let m = self.number_meta.get(i).copied().unwrap_or(0);
            E164::from_u64(v).map(|n| (Target::Number(n), &self.metas[m as usize]))
        });
        exact.chain(
            self.span_entries
                .iter()
                .map(|&(t, m)| (t, &self.metas[m as usize])),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lists::format::{Guard, parse};
    use crate::lists::kind::ListKind;

    fn list(body: &str, bloom: BloomParams) -> NumberList {
        let p = parse(body.as_bytes(), ListKind::Numbers, Guard::default()).unwrap();
        NumberList::from_split(p.numbers, p.entries, p.metas, bloom)
    }

    fn n(s: &str) -> E164 {
        E164::parse_plus(s).unwrap()
    }

    const NOW: u64 = 1_800_000_000; // 2027-01-15

    #[test]
    fn numbers_prefixes_and_ranges() {
        let l = list(
            "# callscreen list v1 name=t version=1\n\
             +31201234567,scam\n\
             +3185208*\n\
             +31852081000-+31852081999,block\n",
            BloomParams::default(),
        );
        assert_eq!(l.counts(), (1, 1, 1));
        let h = l.lookup(n("+31201234567"), NOW).hit.unwrap();
        assert_eq!(h.meta.reason.as_deref(), Some("scam"));
        assert!(l.lookup(n("+31201234568"), NOW).hit.is_none());
        // The range is more specific than the prefix.
        assert_eq!(
            l.lookup(n("+31852081500"), NOW)
                .hit
                .unwrap()
                .target
                .to_string(),
            "+31852081000-+31852081999"
        );
        assert_eq!(
            l.lookup(n("+31852082000"), NOW)
                .hit
                .unwrap()
                .target
                .to_string(),
            "+3185208*"
        );
        // A prefix matches every length, the prefix itself included.
        assert!(l.lookup(n("+3185208"), NOW).hit.is_some());
        assert!(l.lookup(n("+318520812345678"), NOW).hit.is_some());
        assert!(l.lookup(n("+3185209"), NOW).hit.is_none());
        assert!(l.lookup(n("+318520"), NOW).hit.is_none());
        // A range matches its own length only.
        assert!(
            l.lookup(n("+3185208100"), NOW)
                .hit
                .unwrap()
                .target
                .to_string()
                .ends_with('*')
        );
    }

    #[test]
    fn expired_entries_stop_matching_and_are_reported() {
        let l = list(
            "# callscreen list v1 name=t version=1\n\
             +31201234567,old,,2026-01-01\n\
             +3120123*,wide\n\
             +31301234567,,,2026-01-01\n",
            BloomParams::default(),
        );
        let r = l.lookup(n("+31201234567"), NOW);
        assert_eq!(r.expired.unwrap().meta.reason.as_deref(), Some("old"));
        assert_eq!(
            r.hit.unwrap().target.to_string(),
            "+3120123*",
            "the prefix still covers it"
        );
        let r = l.lookup(n("+31301234567"), NOW);
        assert!(r.hit.is_none() && r.expired.is_some());
        // Before its expiry it matched.
        assert!(l.lookup(n("+31301234567"), 1_700_000_000).hit.is_some());
        assert_eq!(l.expired(NOW), 2);
        assert_eq!(l.expired(1_700_000_000), 0);
    }

    #[test]
    fn duplicates_keep_the_later_line() {
        let l = list(
            "# callscreen list v1 name=t version=1\n+31201234567,first\n+31201234567,second\n",
            BloomParams::default(),
        );
        assert_eq!(l.counts().0, 1);
        assert_eq!(
            l.lookup(n("+31201234567"), NOW)
                .hit
                .unwrap()
                .meta
                .reason
                .as_deref(),
            Some("second")
        );
        assert_eq!(l.entries().count(), 1);
    }

    /// The Bloom filter's guarantee: a tiny filter says "maybe" to nearly
    /// everything, and still only listed numbers match.
    #[test]
    fn bloom_false_positives_never_match() {
        let mut body = String::from("# callscreen list v1 name=t version=1\n");
        for i in 0..1000u64 {
            body.push_str(&format!("+316{:08}\n", i * 7));
        }
        let tiny = list(&body, BloomParams::Bytes(1));
        let sized = list(&body, BloomParams::default());
        let mut bloom_maybe = 0;
        for i in 0..20_000u64 {
            let x = n(&format!("+316{i:08}"));
            if tiny.bloom.as_ref().is_some_and(|b| b.check(&x.as_u64())) {
                bloom_maybe += 1;
            }
            let listed = i % 7 == 0 && i < 7000;
            assert_eq!(tiny.lookup(x, NOW).hit.is_some(), listed, "{x}");
            assert_eq!(sized.lookup(x, NOW).hit.is_some(), listed, "{x}");
        }
        assert!(
            bloom_maybe > 19_000,
            "the tiny filter must say maybe almost always: {bloom_maybe}"
        );
    }
}
