//! A number list: exact numbers in an Elias–Fano coded sorted set,
//! optionally behind a Bloom filter, prefixes and ranges in an
//! [`IntervalMap`].
//!
//! The exact store answers a clean lookup in 10 million numbers faster than
//! the Bloom filter did in front of it, and a listed one six times faster
//! than the filter and a binary search together (BENCHMARKS.md, "Elias–Fano
//! store"), in a byte or so a number; so by default there is no filter. A
//! list configured with `bloom_fp_rate` gets one (about 1.2 bytes a number
//! at 1%). A Bloom hit is only a hint: it is confirmed in the exact store
//! before anything counts, so a false positive can never change a verdict.

use bloomfilter::Bloom;

use super::ef::EliasFano;
use super::entry::{EntryMeta, Target};
use super::intervals::IntervalMap;
use number::E164;
use number::e164::POW10;

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

/// Whether a Bloom filter stands in front of the exact store, and its size.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum BloomParams {
    /// Sized for the list at this false-positive rate (`bloom_fp_rate`);
    /// none for lists of up to [`BLOOM_MIN_NUMBERS`] numbers.
    FalsePositiveRate(f64),
    /// A fixed bitmap size in bytes: only for tests that force false positives.
    Bytes(usize),
    /// No filter: every lookup searches the exact store (the default).
    #[default]
    Off,
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
    pub fn first_live(
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

/// The exact numbers of a built list: sorted, behind their Bloom filter.
/// Never changed once built: the versions patched from a list share it
/// (with the overlay of their changes) instead of copying it.
struct Exact {
    bloom: Option<Bloom<u64>>,
    /// How many numbers the Bloom filter was sized for: a list materialised
    /// from patches reuses the filter until it grows a tenth beyond this.
    bloom_items: usize,
    /// Ascending, unique: Elias–Fano coded (a byte or so a number for
    /// a country's numbers, under four for numbers spread worldwide).
    numbers: EliasFano,
    /// Meta index per number; empty when every number has none (saves 4 bytes
    /// a number on plain lists). Metas only grow across patches, so an index
    /// stays valid in every version that shares this store.
    number_meta: Vec<u32>,
}

/// The most overlay entries (added and removed numbers) a patched list
/// carries before a patch merges them into a new exact store: every
/// lookup searches the added numbers, so they stay few.
const OVERLAY_MAX: usize = 4096;

pub struct NumberList {
    exact: std::sync::Arc<Exact>,
    /// Numbers added by patches since `exact` was built, with their meta:
    /// sorted, unique, and winning over `exact`.
    added: Vec<(u64, u32)>,
    /// Numbers of `exact` removed by patches since: sorted.
    removed: Vec<u64>,
    /// Exact numbers in force.
    count: usize,
    spans: IntervalMap<u64>,
    span_entries: Vec<(Target, u32)>,
    metas: Vec<EntryMeta>,
    prefixes: usize,
    ranges: usize,
}

/// The exact numbers in force, ascending: the shared store less the removed
/// ones, merged with the added ones. `(number, meta index)`.
struct Merged<'a> {
    a: std::iter::Peekable<super::ef::Iter<'a>>,
    am: &'a [u32],
    i: usize,
    b: &'a [(u64, u32)],
    j: usize,
    removed: &'a [u64],
    r: usize,
}

impl Iterator for Merged<'_> {
    type Item = (u64, u32);

    #[inline]
    fn next(&mut self) -> Option<(u64, u32)> {
        loop {
            let x = self.a.peek().copied();
            let y = self.b.get(self.j).copied();
            match (x, y) {
                (Some(x), y) if y.is_none_or(|(y, _)| x < y) => {
                    let m = self.am.get(self.i).copied().unwrap_or(0);
                    self.a.next();
                    self.i += 1;
                    while self.removed.get(self.r).is_some_and(|&r| r < x) {
                        self.r += 1;
                    }
                    if self.removed.get(self.r) == Some(&x) {
                        continue;
                    }
                    return Some((x, m));
                }
                (Some(x), Some((y, m))) if x == y => {
                    self.a.next();
                    self.i += 1;
                    self.j += 1;
                    return Some((y, m));
                }
                (_, Some(e)) => {
                    self.j += 1;
                    return Some(e);
                }
                // (None, None); (Some, None) took the first arm.
                _ => return None,
            }
        }
    }
}

impl std::fmt::Debug for NumberList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NumberList")
            .field("numbers", &self.count)
            .field("added", &self.added.len())
            .field("removed", &self.removed.len())
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

/// Sorts exact numbers, keeping of each number its last entry (a stable
/// sort keeps line order, so the last duplicate is the later line).
fn sort_dedup(exact: &mut Vec<(u64, u32)>) {
    exact.sort_by_key(|e| e.0);
    exact.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            *kept = *later;
            true
        } else {
            false
        }
    });
}

/// Sorts numbers by LSD radix, a byte a pass over their offsets from the
/// smallest: four passes for ten million numbers of one country (a span of
/// under 2^32): 136 ms here, where 11- and 16-bit digits took 227 ms.
fn radix_sort(v: &mut Vec<u64>) {
    const BITS: u32 = 8;
    if v.len() < 1 << 16 {
        v.sort_unstable();
        return;
    }
    let (Some(&min), Some(&max)) = (v.iter().min(), v.iter().max()) else {
        return;
    };
    let span_bits = 64 - (max - min).leading_zeros();
    let mut buf = vec![0u64; v.len()];
    for pass in 0..span_bits.div_ceil(BITS) {
        let shift = pass * BITS;
        let digit = |x: u64| ((x - min) >> shift) as usize & ((1 << BITS) - 1);
        let mut at = vec![0usize; 1 << BITS];
        for &x in v.iter() {
            at[digit(x)] += 1;
        }
        let mut sum = 0;
        for c in &mut at {
            (*c, sum) = (sum, sum + *c);
        }
        for &x in v.iter() {
            let d = digit(x);
            buf[at[d]] = x;
            at[d] += 1;
        }
        std::mem::swap(v, &mut buf);
    }
}

/// A Bloom filter over `numbers` as `params` say (none for small lists).
fn make_bloom(numbers: &[u64], params: BloomParams) -> Option<Bloom<u64>> {
    let mut b = match params {
        BloomParams::FalsePositiveRate(p) if numbers.len() > BLOOM_MIN_NUMBERS => {
            Bloom::new_for_fp_rate(numbers.len(), p).ok()
        }
        BloomParams::Bytes(b) => Bloom::new(b.max(1), numbers.len().max(1)).ok(),
        BloomParams::FalsePositiveRate(_) | BloomParams::Off => None,
    }?;
    for n in numbers {
        b.set(n);
    }
    Some(b)
}

/// What a snapshot stores of a number list.
pub struct Parts {
    pub numbers: super::ef::Raw,
    pub number_meta: Vec<u32>,
    pub span_entries: Vec<(Target, u32)>,
    pub metas: Vec<EntryMeta>,
    pub bloom: Option<Vec<u8>>,
}

impl NumberList {
    /// The parts to snapshot (a patched list's merged first: its Bloom
    /// filter gets the added numbers).
    #[allow(clippy::type_complexity)]
    pub fn parts(
        &self,
    ) -> (
        std::borrow::Cow<'_, EliasFano>,
        std::borrow::Cow<'_, [u32]>,
        &[(Target, u32)],
        &[EntryMeta],
        Option<Vec<u8>>,
    ) {
        use std::borrow::Cow;
        let e = &*self.exact;
        let (numbers, number_meta, bloom) = if self.added.is_empty() && self.removed.is_empty() {
            (
                Cow::Borrowed(&e.numbers),
                Cow::Borrowed(&e.number_meta[..]),
                e.bloom.as_ref().map(|b| b.to_bytes()),
            )
        } else {
            let (n, m) = self.materialised();
            let bloom = e.bloom.as_ref().map(|b| {
                let mut b = b.clone();
                for (v, _) in &self.added {
                    b.set(v);
                }
                b.to_bytes()
            });
            (Cow::Owned(EliasFano::from_sorted(&n)), Cow::Owned(m), bloom)
        };
        (numbers, number_meta, &self.span_entries, &self.metas, bloom)
    }

    /// The exact numbers in force and their metas (empty when all are 0).
    fn materialised(&self) -> (Vec<u64>, Vec<u32>) {
        let with_meta = !self.exact.number_meta.is_empty() || self.added.iter().any(|e| e.1 != 0);
        let mut numbers = Vec::with_capacity(self.count);
        let mut metas = Vec::with_capacity(if with_meta { self.count } else { 0 });
        for (v, m) in self.merged() {
            numbers.push(v);
            if with_meta {
                metas.push(m);
            }
        }
        (numbers, metas)
    }

    fn merged(&self) -> Merged<'_> {
        Merged {
            a: self.exact.numbers.iter().peekable(),
            am: &self.exact.number_meta,
            i: 0,
            b: &self.added,
            j: 0,
            removed: &self.removed,
            r: 0,
        }
    }

    /// A list of its own exact store (no overlay).
    fn whole(exact: Exact, span_entries: Vec<(Target, u32)>, metas: Vec<EntryMeta>) -> NumberList {
        let (spans, prefixes, ranges) = span_intervals(&span_entries);
        NumberList {
            count: exact.numbers.len(),
            exact: std::sync::Arc::new(exact),
            added: Vec::new(),
            removed: Vec::new(),
            spans,
            span_entries,
            metas,
            prefixes,
            ranges,
        }
    }

    /// Rebuilds a list from snapshot parts, checking what must hold (sorted
    /// unique numbers, meta indices in range); `None` if anything does not.
    pub fn from_parts(p: Parts) -> Option<NumberList> {
        // Strictly ascending (checked by `from_raw`): every number lies
        // between the smallest and the largest.
        let numbers = EliasFano::from_raw(p.numbers)?;
        let valid = |v: Option<u64>| v.is_none_or(|v| E164::from_u64(v).is_some());
        let sorted = valid(numbers.first()) && valid(numbers.last());
        let metas_ok = p
            .number_meta
            .iter()
            .chain(p.span_entries.iter().map(|e| &e.1))
            .all(|&m| (m as usize) < p.metas.len());
        if !sorted
            || !metas_ok
            || p.metas.is_empty()
            || !(p.number_meta.is_empty() || p.number_meta.len() == numbers.len())
        {
            return None;
        }
        let bloom = match p.bloom {
            Some(b) => Some(Bloom::from_bytes(b).ok()?),
            None => None,
        };
        let exact = Exact {
            bloom,
            bloom_items: numbers.len(),
            numbers,
            number_meta: p.number_meta,
        };
        Some(NumberList::whole(exact, p.span_entries, p.metas))
    }

    /// Builds from parsed entries (`metas[0]` must be the empty meta). Where a
    /// number is listed twice, the later line wins.
    pub fn build(
        entries: Vec<(Target, u32)>,
        metas: Vec<EntryMeta>,
        bloom: BloomParams,
    ) -> NumberList {
        let (mut numbers, mut number_metas) = (Vec::new(), Vec::new());
        let mut span_entries = Vec::new();
        for (target, meta) in entries {
            match target {
                Target::Number(n) => {
                    numbers.push(n.as_u64());
                    number_metas.push(meta);
                }
                Target::Prefix { .. } | Target::Range { .. } => span_entries.push((target, meta)),
                // The parser gives number lists no networks.
                Target::Network(_) => {}
            }
        }
        NumberList::from_split(numbers, number_metas, span_entries, metas, bloom)
    }

    /// Builds from exact numbers (in line order, as the parser collects
    /// them: 8 bytes each, and their meta indices only when some are not 0)
    /// and prefix/range entries. A plain list's numbers are sorted in place
    /// by radix, so a 10-million-number list never exists twice in a wide
    /// form.
    pub fn from_split(
        numbers: Vec<u64>,
        number_metas: Vec<u32>,
        span_entries: Vec<(Target, u32)>,
        metas: Vec<EntryMeta>,
        bloom: BloomParams,
    ) -> NumberList {
        let (numbers, number_meta) = if number_metas.iter().all(|&m| m == 0) {
            // A plain list (the usual big one): duplicates are alike, so the
            // numbers alone are sorted, by radix.
            let mut numbers = numbers;
            radix_sort(&mut numbers);
            numbers.dedup();
            (numbers, Vec::new())
        } else {
            let mut exact: Vec<(u64, u32)> = numbers.into_iter().zip(number_metas).collect();
            sort_dedup(&mut exact);
            exact.into_iter().unzip()
        };
        let bloom_filter = make_bloom(&numbers, bloom);
        let exact = Exact {
            bloom: bloom_filter,
            bloom_items: numbers.len(),
            numbers: EliasFano::from_sorted(&numbers),
            number_meta,
        };
        NumberList::whole(exact, span_entries, metas)
    }

    /// The meta index of an exact number in force: an added one first, then
    /// the shared store (its filter, its numbers, unless removed).
    #[inline]
    fn exact_meta(&self, v: u64) -> Option<u32> {
        if !self.added.is_empty()
            && let Ok(i) = self.added.binary_search_by_key(&v, |e| e.0)
        {
            return Some(self.added[i].1);
        }
        let e = &*self.exact;
        if e.numbers.is_empty() || !e.bloom.as_ref().is_none_or(|b| b.check(&v)) {
            return None;
        }
        let i = e.numbers.position(v)?;
        if !self.removed.is_empty() && self.removed.binary_search(&v).is_ok() {
            return None;
        }
        Some(e.number_meta.get(i).copied().unwrap_or(0))
    }

    /// Looks a number up at time `now` (unix seconds): the exact entry first,
    /// then prefixes and ranges, most specific first; expired entries are
    /// passed over.
    #[inline]
    pub fn lookup(&self, n: E164, now: u64) -> Lookup<'_> {
        let mut out = Lookup::default();
        let v = n.as_u64();
        if let Some(m) = self.exact_meta(v) {
            let meta = &self.metas[m as usize];
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
        (self.count, self.prefixes, self.ranges)
    }

    /// Entries whose expiry has passed at `now`.
    pub fn expired(&self, now: u64) -> usize {
        let exp = |m: u32| self.metas[m as usize].is_expired(now);
        let exact = if self.exact.number_meta.is_empty() && self.added.iter().all(|e| e.1 == 0) {
            0
        } else {
            self.merged().filter(|&(_, m)| exp(m)).count()
        };
        exact + self.span_entries.iter().filter(|e| exp(e.1)).count()
    }

    /// Heap bytes held (Bloom bitmap, exact store, spans): what residency costs.
    pub fn heap_bytes(&self) -> usize {
        let e = &*self.exact;
        e.bloom.as_ref().map_or(0, |b| b.as_slice().len())
            + e.numbers.heap_bytes()
            + e.number_meta.capacity() * 4
            + self.added.capacity() * 8
            + self.removed.capacity() * 8
            + self.spans.heap_bytes()
            + self.span_entries.capacity() * std::mem::size_of::<(Target, u32)>()
    }

    /// Calls `f` with each exact number here that `other` does not hold,
    /// ascending: from the overlays alone when the two share their store (a
    /// version and its patch), by lookup when this list is far the smaller
    /// (a seed of a few numbers against a pushed ten million), else by
    /// merging the two.
    fn each_gone_in(&self, other: &NumberList, mut f: impl FnMut(u64)) {
        if std::sync::Arc::ptr_eq(&self.exact, &other.exact) {
            // One store, two overlays (a patch of the other, or patches of
            // the same base): only the numbers either overlay names can be
            // held here and not there; the rest are held by both.
            let (mut i, mut j) = (0, 0);
            let (gone, added) = (&other.removed, &self.added);
            while i < gone.len() || j < added.len() {
                let x = match (gone.get(i), added.get(j)) {
                    (Some(&g), Some(&(a, _))) if g == a => {
                        i += 1;
                        j += 1;
                        g
                    }
                    (Some(&g), a) if a.is_none_or(|&(a, _)| g < a) => {
                        i += 1;
                        g
                    }
                    (_, Some(&(a, _))) => {
                        j += 1;
                        a
                    }
                    _ => break,
                };
                if self.exact_meta(x).is_some() && other.exact_meta(x).is_none() {
                    f(x);
                }
            }
            return;
        }
        if self.count.saturating_mul(32) < other.count {
            for (x, _) in self.merged() {
                if other.exact_meta(x).is_none() {
                    f(x);
                }
            }
            return;
        }
        let plain = |l: &NumberList| l.added.is_empty() && l.removed.is_empty();
        if plain(self) && plain(other) {
            // No overlays: the two stores' numbers, merged directly.
            let mut b = other.exact.numbers.iter();
            let mut y = b.next();
            for x in self.exact.numbers.iter() {
                while let Some(q) = y
                    && q < x
                {
                    y = b.next();
                }
                if y != Some(x) {
                    f(x);
                }
            }
            return;
        }
        let mut b = other.merged();
        let mut y = b.next();
        for (x, _) in self.merged() {
            while let Some((q, _)) = y
                && q < x
            {
                y = b.next();
            }
            if y.is_none_or(|(q, _)| q != x) {
                f(x);
            }
        }
    }

    /// Entries in `new` and not here (added), and here and not in `new`
    /// (removed): a merge of the sorted exact stores, a set for the rest.
    pub fn diff_counts(&self, new: &NumberList) -> (usize, usize) {
        let mut removed = 0;
        self.each_gone_in(new, |_| removed += 1);
        let added = new.count - (self.count - removed);
        let old: std::collections::HashSet<Target> =
            self.span_entries.iter().map(|e| e.0).collect();
        let new_spans: std::collections::HashSet<Target> =
            new.span_entries.iter().map(|e| e.0).collect();
        (
            added + new_spans.difference(&old).count(),
            removed + old.difference(&new_spans).count(),
        )
    }

    /// What going to `new` changes, in one merge of the sorted numbers (a
    /// set for the prefixes and ranges): how many entries it adds, and the
    /// entries here that it does not hold.
    pub fn changes(&self, new: &NumberList) -> (usize, Vec<Target>) {
        let (mut out, mut gone) = (Vec::new(), 0);
        self.each_gone_in(new, |x| {
            gone += 1;
            if let Some(n) = E164::from_u64(x) {
                out.push(Target::Number(n));
            }
        });
        let spans = |l: &NumberList| -> std::collections::HashSet<Target> {
            l.span_entries.iter().map(|e| e.0).collect()
        };
        let (old, kept) = (spans(self), spans(new));
        out.extend(
            self.span_entries
                .iter()
                .map(|e| e.0)
                .filter(|t| !kept.contains(t)),
        );
        let added = new.count - (self.count - gone) + kept.difference(&old).count();
        (added, out)
    }

    /// Every entry, for export (exact numbers first, then prefixes and ranges).
    pub fn entries(&self) -> impl Iterator<Item = (Target, &EntryMeta)> + '_ {
        let exact = self.merged().filter_map(|(v, m)| {
            E164::from_u64(v).map(|n| (Target::Number(n), &self.metas[m as usize]))
        });
        exact.chain(
            self.span_entries
                .iter()
                .map(|&(t, m)| (t, &self.metas[m as usize])),
        )
    }
}

/// What a delta does to a number list: the entries it removes (exact
/// numbers sorted, and the prefixes and ranges) and the entries it adds,
/// parsed as list lines (their `metas[0]` is the empty meta).
pub struct Change<'a> {
    pub removed_numbers: &'a [u64],
    pub removed_spans: &'a std::collections::HashSet<Target>,
    pub added: crate::ParsedList,
}

impl NumberList {
    /// This list with a delta applied, as if its text (the entries kept,
    /// then the added lines) were parsed again, without parsing it: the
    /// sorted numbers merged with the added ones (an added number's entry
    /// wins, as the later line does), the Bloom filter copied with the new
    /// numbers set (a removed number's bits stay: a filter hit is only a
    /// hint, confirmed by the exact store) unless the list grew a tenth
    /// beyond what the filter was sized for, then built anew.
    pub fn patched(&self, c: Change<'_>, params: BloomParams) -> NumberList {
        let off = self.metas.len() as u32;
        let map = |m: u32| if m == 0 { 0 } else { off + m - 1 };
        let mut metas = self.metas.clone();
        metas.extend(c.added.metas.into_iter().skip(1));
        let mut add: Vec<(u64, u32)> = if c.added.number_metas.is_empty() {
            c.added.numbers.iter().map(|&v| (v, 0)).collect()
        } else {
            c.added
                .numbers
                .into_iter()
                .zip(c.added.number_metas)
                .collect()
        };
        sort_dedup(&mut add);
        for e in &mut add {
            e.1 = map(e.1);
        }
        let span_entries: Vec<(Target, u32)> = self
            .span_entries
            .iter()
            .copied()
            .filter(|(t, _)| !c.removed_spans.contains(t))
            .chain(c.added.entries.into_iter().map(|(t, m)| (t, map(m))))
            .collect();
        let gone = |v: u64| c.removed_numbers.binary_search(&v).is_ok();
        // The overlay: the added numbers less the removed, merged with the new
        // ones (which win); the removed numbers of the shared store.
        let mut added = Vec::with_capacity(self.added.len() + add.len());
        let (mut i, mut j) = (0, 0);
        while i < self.added.len() || j < add.len() {
            match (self.added.get(i), add.get(j)) {
                (Some(&x), y) if y.is_none_or(|y| x.0 < y.0) => {
                    i += 1;
                    if !gone(x.0) {
                        added.push(x);
                    }
                }
                (Some(x), Some(&y)) if x.0 == y.0 => {
                    i += 1;
                    j += 1;
                    added.push(y);
                }
                (_, Some(&y)) => {
                    j += 1;
                    added.push(y);
                }
                _ => break,
            }
        }
        let mut removed = self.removed.clone();
        removed.extend(
            c.removed_numbers
                .iter()
                .filter(|&&v| self.exact.numbers.contains(v)),
        );
        removed.sort_unstable();
        removed.dedup();
        let mut list = NumberList {
            count: 0,
            exact: std::sync::Arc::clone(&self.exact),
            added,
            removed,
            spans: IntervalMap::build(Vec::new()),
            span_entries: Vec::new(),
            metas,
            prefixes: 0,
            ranges: 0,
        };
        // The numbers in force: the store's, less the removed, plus the added
        // ones it does not hold (or holds removed).
        let e = &*list.exact;
        list.count = e.numbers.len() - list.removed.len()
            + list
                .added
                .iter()
                .filter(|a| !e.numbers.contains(a.0) || list.removed.binary_search(&a.0).is_ok())
                .count();
        if list.added.len() + list.removed.len() > OVERLAY_MAX {
            // Merged into a store of its own, the filter copied with the
            // added numbers set (a removed number's bits stay: a filter hit
            // is only a hint, confirmed by the exact store) unless the list
            // grew a tenth beyond what it was sized for, then built anew.
            let (numbers, number_meta) = list.materialised();
            let reuse = matches!(params, BloomParams::FalsePositiveRate(_))
                && numbers.len() <= e.bloom_items + e.bloom_items / 10;
            let (bloom, bloom_items) = match &e.bloom {
                Some(b) if reuse => {
                    let mut b = b.clone();
                    for (v, _) in &list.added {
                        b.set(v);
                    }
                    (Some(b), e.bloom_items)
                }
                _ => (make_bloom(&numbers, params), numbers.len()),
            };
            let exact = Exact {
                bloom,
                bloom_items,
                numbers: EliasFano::from_sorted(&numbers),
                number_meta,
            };
            return NumberList::whole(exact, span_entries, list.metas);
        }
        let (spans, prefixes, ranges) = span_intervals(&span_entries);
        list.spans = spans;
        list.span_entries = span_entries;
        list.prefixes = prefixes;
        list.ranges = ranges;
        list
    }

    /// Appends the v1 lines of the entries (as [`Self::entries`] orders
    /// them) to `out`, leaving out the removed ones: what export and a
    /// patched version's text are made of, without an allocation per entry.
    /// Writes the list's entries as v1 lines to `out`, calling `flush`
    /// whenever `out` holds `piece` bytes or more (it may empty `out`: a
    /// text written in pieces, never whole in memory).
    pub fn write_v1(
        &self,
        out: &mut Vec<u8>,
        removed_numbers: &[u64],
        removed_spans: &std::collections::HashSet<Target>,
        piece: usize,
        flush: &mut dyn FnMut(&mut Vec<u8>),
    ) {
        let mut buf = [0u8; 15];
        for (v, m) in self.merged() {
            if out.len() >= piece {
                flush(out);
            }
            if !removed_numbers.is_empty() && removed_numbers.binary_search(&v).is_ok() {
                continue;
            }
            let Some(n) = E164::from_u64(v) else { continue };
            let len = n.write_digits(&mut buf);
            out.push(b'+');
            out.extend_from_slice(&buf[..len]);
            write_meta(out, &self.metas[m as usize]);
            out.push(b'\n');
        }
        for &(t, m) in &self.span_entries {
            if !removed_spans.contains(&t) {
                out.extend_from_slice(t.to_string().as_bytes());
                write_meta(out, &self.metas[m as usize]);
                out.push(b'\n');
            }
        }
    }
}

/// `,reason,reference,expiry` when an entry has any of them.
pub fn write_meta(out: &mut Vec<u8>, m: &EntryMeta) {
    if m.reason.is_some() || m.reference.is_some() || m.expires.is_some() {
        out.push(b',');
        out.extend_from_slice(m.reason.as_deref().unwrap_or("").as_bytes());
        out.push(b',');
        out.extend_from_slice(m.reference.as_deref().unwrap_or("").as_bytes());
        out.push(b',');
        if let Some(e) = m.expires {
            out.extend_from_slice(super::entry::format_entry_expiry(e).as_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{Guard, parse};
    use crate::kind::ListKind;

    fn list(body: &str, bloom: BloomParams) -> NumberList {
        let p = parse(body.as_bytes(), ListKind::Numbers, Guard::default()).unwrap();
        NumberList::from_split(p.numbers, p.number_metas, p.entries, p.metas, bloom)
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

    /// The audit line's counts and the entries whose hits are forgotten
    /// agree with the plain diff, whether by lookups (a small old list) or
    /// by merging, with or without a patch overlay.
    #[test]
    fn changes_agree_with_the_diff() {
        let body = |from: u64, to: u64, extra: &str| {
            let mut b = String::from("# callscreen list v1 name=t version=1\n");
            for i in from..to {
                b.push_str(&format!("+316{:08}\n", i * 3));
            }
            b.push_str(extra);
            b
        };
        let big = list(&body(0, 6000, "+3185208*\n"), BloomParams::Off);
        let other = list(&body(100, 6100, "+3185209*\n"), BloomParams::Off);
        let small = list(&body(10, 20, ""), BloomParams::Off);
        for (a, b) in [
            (&big, &other),
            (&other, &big),
            (&small, &big),
            (&big, &small),
        ] {
            let (added, removed) = a.changes(b);
            assert_eq!((added, removed.len()), a.diff_counts(b));
        }
        let (added, removed) = big.changes(&other);
        assert_eq!(added, 101);
        assert!(removed.contains(&Target::Prefix {
            digits: 3185208,
            len: 7
        }));
        assert!(removed.contains(&Target::Number(n("+31600000000"))));
    }

    #[test]
    fn radix_sort_sorts_like_a_comparison_sort() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for (n, span) in [
            (200_000usize, 600_000_000u64),
            (70_000, 999_999_999_999_999),
            (100, 1000),
        ] {
            let mut v: Vec<u64> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    31_100_000_000 % span + x % span
                })
                .collect();
            v.extend_from_within(..n / 10);
            let mut want = v.clone();
            want.sort_unstable();
            radix_sort(&mut v);
            assert_eq!(v, want, "{n} numbers over {span}");
        }
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
            if tiny
                .exact
                .bloom
                .as_ref()
                .is_some_and(|b| b.check(&x.as_u64()))
            {
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
