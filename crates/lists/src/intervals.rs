//! A map from keys to the entries whose inclusive intervals contain them,
//! built once and read by binary search.
//!
//! Overlapping and nested intervals (a range inside a prefix, a `/24` inside
//! a `/16`) are flattened at build time into disjoint segments; each segment
//! keeps every entry that covers it, the narrowest first, so a lookup returns
//! the most specific entry first and the others behind it (needed when the
//! most specific one has expired).

use std::collections::BTreeSet;

/// Keys are `u64` (numbers) or `u128` (IP addresses).
pub trait Key: Copy + Ord {
    fn succ(self) -> Option<Self>;
    fn width(lo: Self, hi: Self) -> u128;
}

impl Key for u64 {
    fn succ(self) -> Option<u64> {
        self.checked_add(1)
    }
    fn width(lo: u64, hi: u64) -> u128 {
        u128::from(hi - lo)
    }
}

impl Key for u128 {
    fn succ(self) -> Option<u128> {
        self.checked_add(1)
    }
    fn width(lo: u128, hi: u128) -> u128 {
        hi - lo
    }
}

#[derive(Clone, Debug, Default)]
pub struct IntervalMap<K> {
    /// Start of each segment, ascending; a segment runs to the next start.
    starts: Vec<K>,
    /// `covers[cover_at[i]..cover_at[i + 1]]` are segment `i`'s entries.
    cover_at: Vec<u32>,
    covers: Vec<u32>,
}

impl<K: Key> IntervalMap<K> {
    /// Builds from `(lo, hi, entry)` with `lo <= hi`, both inclusive.
    pub fn build(mut intervals: Vec<(K, K, u32)>) -> IntervalMap<K> {
        let mut map = IntervalMap {
            starts: Vec::new(),
            cover_at: vec![0],
            covers: Vec::new(),
        };
        if intervals.is_empty() {
            return map;
        }
        intervals.sort_unstable_by_key(|a| a.0);
        // Ends as the first key after the interval; `None` runs to the end.
        // Intervals are identified by their index here: one entry (a prefix)
        // may own several intervals.
        let mut ends: Vec<(K, usize)> = intervals
            .iter()
            .enumerate()
            .filter_map(|(i, &(_, hi, _))| hi.succ().map(|k| (k, i)))
            .collect();
        ends.sort_unstable();
        let width = |i: usize| K::width(intervals[i].0, intervals[i].1);
        let mut active: BTreeSet<(u128, u32, usize)> = BTreeSet::new();
        let (mut si, mut ei) = (0, 0);
        loop {
            let next_start = intervals.get(si).map(|i| i.0);
            let next_end = ends.get(ei).map(|e| e.0);
            let at = match (next_start, next_end) {
                (Some(s), Some(e)) => s.min(e),
                (Some(s), None) => s,
                (None, Some(e)) => e,
                (None, None) => break,
            };
            while ei < ends.len() && ends[ei].0 == at {
                let i = ends[ei].1;
                active.remove(&(width(i), intervals[i].2, i));
                ei += 1;
            }
            while si < intervals.len() && intervals[si].0 == at {
                active.insert((width(si), intervals[si].2, si));
                si += 1;
            }
            map.starts.push(at);
            map.covers.extend(active.iter().map(|&(_, e, _)| e));
            map.cover_at.push(map.covers.len() as u32);
        }
        map.starts.shrink_to_fit();
        map.covers.shrink_to_fit();
        map
    }

    /// The entries covering `k`, most specific first (empty when none).
    #[inline]
    pub fn lookup(&self, k: K) -> &[u32] {
        let i = self.starts.partition_point(|&s| s <= k);
        if i == 0 {
            return &[];
        }
        let (a, b) = (self.cover_at[i - 1] as usize, self.cover_at[i] as usize);
        &self.covers[a..b]
    }

    pub fn heap_bytes(&self) -> usize {
        self.starts.capacity() * std::mem::size_of::<K>()
            + (self.cover_at.capacity() + self.covers.capacity()) * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_adjacent_intervals() {
        let m =
            IntervalMap::<u64>::build(vec![(10, 100, 0), (20, 30, 1), (30, 40, 2), (101, 101, 3)]);
        assert_eq!(m.lookup(9), &[] as &[u32]);
        assert_eq!(m.lookup(10), &[0]);
        assert_eq!(m.lookup(25), &[1, 0]);
        assert_eq!(m.lookup(30), &[1, 2, 0]);
        assert_eq!(m.lookup(31), &[2, 0]);
        assert_eq!(m.lookup(41), &[0]);
        assert_eq!(m.lookup(100), &[0]);
        assert_eq!(m.lookup(101), &[3]);
        assert_eq!(m.lookup(102), &[] as &[u32]);
    }

    #[test]
    fn an_interval_to_the_end_of_the_key_space() {
        let m = IntervalMap::<u128>::build(vec![(0, u128::MAX, 0), (5, 5, 1)]);
        assert_eq!(m.lookup(u128::MAX), &[0]);
        assert_eq!(m.lookup(5), &[1, 0]);
        assert!(IntervalMap::<u64>::build(vec![]).lookup(3).is_empty());
    }
}
