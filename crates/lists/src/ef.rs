//! The exact numbers of a list in Elias–Fano form: a sorted set of `u64`
//! in `log2(span / n)` + 2 to 3 bits a number (span = largest − smallest),
//! with lookups that touch three or four cache lines.
//!
//! Each number `v` is taken relative to the smallest, `d = v − min`, and
//! split into `l` low bits, stored packed, and the high part `d >> l`,
//! stored in unary in a bitvector: number `i` sets bit `(d_i >> l) + i`, so
//! the numbers whose high part is `h` are the set bits between the `h`-th
//! and the `h+1`-th clear bit. A sample of every [`SAMPLE`]-th clear bit's
//! position finds a bucket's start with a short scan. `l = ⌊log2(span/n)⌋`
//! puts one number in a bucket on average, so a lookup compares one or two
//! low parts; a crowded bucket (a clustered list) is searched by halves
//! after the first [`SCAN`]. Ten million Dutch mobile and geographic numbers (a span of
//! 6·10⁸) take about a byte each; ten million spread over the whole E.164
//! space, under four.
//!
//! The parts are plain words, so a snapshot stores them as they are and a
//! restart reads them back after [`EliasFano::from_raw`] has checked that
//! every lookup and iteration stays in bounds and the numbers are strictly
//! ascending.

/// Every this many clear bits of the high bitvector, a sampled position.
const SAMPLE: usize = 256;

/// Words of `high` per block of the clear-bit directory (`blocks`).
const BLOCK_WORDS: usize = 8;

/// Numbers of a bucket compared one by one before the rest is searched by
/// halves (a bucket holds one on average; a clustered list's, thousands).
const SCAN: usize = 8;

#[derive(Clone, Debug, Default)]
pub struct EliasFano {
    len: usize,
    min: u64,
    max: u64,
    /// Low bits per number (0 to 63).
    l: u32,
    /// Packed low parts, one spare word at the end so a read of two words
    /// never leaves the vector.
    low: Vec<u64>,
    /// The unary high parts: `len + buckets` bits.
    high: Vec<u64>,
    /// Bits used in `high`.
    high_bits: usize,
    /// The position of clear bit `k · SAMPLE`, for every k.
    zeros: Vec<u64>,
    /// Clear bits before each block of [`BLOCK_WORDS`] words: where two
    /// samples lie far apart (a dense run of numbers is a long run of set
    /// bits), select finds the block by halves instead of reading every
    /// word between them.
    blocks: Vec<u64>,
}

/// The raw parts a snapshot stores.
pub struct Raw {
    pub len: u64,
    pub min: u64,
    pub max: u64,
    pub l: u32,
    pub low: Vec<u64>,
    pub high: Vec<u64>,
}

#[inline]
fn low_mask(l: u32) -> u64 {
    if l == 0 { 0 } else { u64::MAX >> (64 - l) }
}

/// The position of the `r`-th set bit of `w` (r < popcount).
#[inline]
fn select_in_word(mut w: u64, r: u32) -> u32 {
    for _ in 0..r {
        w &= w - 1;
    }
    w.trailing_zeros()
}

/// `l` for `len` numbers over `span` (largest − smallest).
fn low_bits_for(len: usize, span: u64) -> u32 {
    let per = span / (len as u64).max(1);
    if per == 0 { 0 } else { per.ilog2() }
}

impl EliasFano {
    /// Builds from numbers in strictly ascending order (the caller sorts
    /// and removes duplicates).
    pub fn from_sorted(numbers: &[u64]) -> EliasFano {
        debug_assert!(numbers.windows(2).all(|w| w[0] < w[1]));
        let (Some(&min), Some(&max)) = (numbers.first(), numbers.last()) else {
            return EliasFano::default();
        };
        let len = numbers.len();
        let l = low_bits_for(len, max - min);
        let buckets = ((max - min) >> l) as usize + 1;
        let high_bits = len + buckets;
        let mut high = vec![0u64; high_bits.div_ceil(64)];
        let mut low = vec![0u64; (len * l as usize).div_ceil(64) + 1];
        let mask = low_mask(l);
        for (i, &v) in numbers.iter().enumerate() {
            let d = v - min;
            let p = (d >> l) as usize + i;
            high[p / 64] |= 1 << (p % 64);
            if l > 0 {
                let b = i * l as usize;
                let (w, s) = (b / 64, (b % 64) as u32);
                low[w] |= (d & mask) << s;
                if s + l > 64 {
                    low[w + 1] |= (d & mask) >> (64 - s);
                }
            }
        }
        let mut ef = EliasFano {
            len,
            min,
            max,
            l,
            low,
            high,
            high_bits,
            zeros: Vec::new(),
            blocks: Vec::new(),
        };
        (ef.zeros, ef.blocks) = ef.index();
        ef
    }

    /// The positions of every [`SAMPLE`]-th clear bit in `high`, and the
    /// clear bits before each block of [`BLOCK_WORDS`] words.
    fn index(&self) -> (Vec<u64>, Vec<u64>) {
        let mut out = Vec::with_capacity(self.high_bits / SAMPLE / 2 + 1);
        let mut blocks = Vec::with_capacity(self.high.len().div_ceil(BLOCK_WORDS));
        let mut seen = 0usize; // clear bits before the current word
        for (w, &word) in self.high.iter().enumerate() {
            if w % BLOCK_WORDS == 0 {
                blocks.push(seen as u64);
            }
            let valid = (self.high_bits - w * 64).min(64) as u32;
            let z = if valid == 64 {
                !word
            } else {
                !word & low_mask(valid)
            };
            let c = z.count_ones() as usize;
            // Sampled zeros that fall in this word: numbers k·SAMPLE in [seen, seen + c).
            let mut next = seen.div_ceil(SAMPLE) * SAMPLE;
            while next < seen + c {
                let bit = select_in_word(z, (next - seen) as u32);
                out.push((w * 64) as u64 + u64::from(bit));
                next += SAMPLE;
            }
            seen += c;
        }
        (out, blocks)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The smallest number.
    pub fn first(&self) -> Option<u64> {
        (self.len > 0).then_some(self.min)
    }

    /// The largest number.
    pub fn last(&self) -> Option<u64> {
        (self.len > 0).then_some(self.max)
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        (self.low.capacity()
            + self.high.capacity()
            + self.zeros.capacity()
            + self.blocks.capacity())
            * 8
    }

    #[inline]
    fn low_at(&self, i: usize) -> u64 {
        if self.l == 0 {
            return 0;
        }
        let b = i * self.l as usize;
        let (w, s) = (b / 64, (b % 64) as u32);
        // Two words, no branch: `<< 1 << (63 - s)` is `<< (64 - s)`, and 0
        // when s is 0 (the spare last word keeps `w + 1` in bounds).
        let lo = self.low[w] >> s;
        let hi = self.low[w + 1] << 1 << (63 - s);
        (lo | hi) & low_mask(self.l)
    }

    #[inline]
    fn bit(&self, p: usize) -> bool {
        p < self.high_bits && self.high[p / 64] >> (p % 64) & 1 == 1
    }

    /// The position of clear bit `k` (0-based) of `high`; `k` must be less
    /// than the number of buckets.
    #[inline]
    fn select0(&self, k: usize) -> usize {
        let j = k / SAMPLE;
        let pos = self.zeros[j] as usize;
        let next = self
            .zeros
            .get(j + 1)
            .map_or(self.high_bits, |&z| z as usize);
        let (mut w, mut z, mut r);
        if next - pos <= 2 * BLOCK_WORDS * 64 {
            // Samples close together (numbers spread evenly): read on
            // from the sample, a few words.
            r = (k - j * SAMPLE) as u64;
            w = pos / 64;
            z = !self.high[w] & (u64::MAX << (pos % 64));
        } else {
            // Far apart (a dense run between them): of the blocks between,
            // the last whose clear bits before it are at most k holds clear
            // bit k.
            let block_bits = BLOCK_WORDS * 64;
            let (from, to) = (pos / block_bits, next / block_bits + 1);
            let to = to.min(self.blocks.len());
            let b = from + self.blocks[from..to].partition_point(|&z| z as usize <= k) - 1;
            r = (k - self.blocks[b] as usize) as u64;
            w = b * BLOCK_WORDS;
            z = !self.high[w];
        }
        loop {
            let c = u64::from(z.count_ones());
            if r < c {
                return w * 64 + select_in_word(z, r as u32) as usize;
            }
            r -= c;
            w += 1;
            z = !self.high[w];
        }
    }

    /// The index of `v` if it is in the set.
    #[inline]
    pub fn position(&self, v: u64) -> Option<usize> {
        if self.len == 0 || v < self.min || v > self.max {
            return None;
        }
        let d = v - self.min;
        let h = (d >> self.l) as usize;
        let want = d & low_mask(self.l);
        let mut p = if h == 0 { 0 } else { self.select0(h - 1) + 1 };
        let mut i = p - h;
        // Most buckets hold a number or two: a short scan.
        for _ in 0..SCAN {
            if !self.bit(p) {
                return None;
            }
            let x = self.low_at(i);
            if x >= want {
                return (x == want).then_some(i);
            }
            p += 1;
            i += 1;
        }
        if !self.bit(p) {
            return None;
        }
        // A crowded bucket (clustered numbers: a block of an operator's
        // range): its end, then a binary search of its sorted low parts.
        let end = self.select0(h) - h;
        let (mut lo, mut hi) = (i, end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.low_at(mid) < want {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < end && self.low_at(lo) == want).then_some(lo)
    }

    #[inline]
    pub fn contains(&self, v: u64) -> bool {
        self.position(v).is_some()
    }

    /// The numbers, ascending.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            ef: self,
            word: self.high.first().copied().unwrap_or(0),
            w: 0,
            i: 0,
        }
    }

    /// The parts, for a snapshot.
    pub fn raw(&self) -> Raw {
        Raw {
            len: self.len as u64,
            min: self.min,
            max: self.max,
            l: self.l,
            low: self.low.clone(),
            high: self.high.clone(),
        }
    }

    /// Rebuilds from a snapshot's parts, checking everything a lookup and
    /// an iteration rely on (sizes, the count of set bits, strictly
    /// ascending numbers, the smallest and largest); `None` otherwise.
    pub fn from_raw(r: Raw) -> Option<EliasFano> {
        let len = usize::try_from(r.len).ok()?;
        if len == 0 {
            return (r.low.is_empty() && r.high.is_empty()).then(EliasFano::default);
        }
        if r.max < r.min || r.l != low_bits_for(len, r.max - r.min) {
            return None;
        }
        let buckets = usize::try_from((r.max - r.min) >> r.l)
            .ok()?
            .checked_add(1)?;
        let high_bits = len.checked_add(buckets)?;
        if r.high.len() != high_bits.div_ceil(64)
            || r.low.len() != (len.checked_mul(r.l as usize)?).div_ceil(64) + 1
        {
            return None;
        }
        // No bit set past the end, and exactly `len` set.
        let tail = high_bits % 64;
        if tail != 0 && r.high.last().is_some_and(|&w| w >> tail != 0) {
            return None;
        }
        let ones: usize = r.high.iter().map(|w| w.count_ones() as usize).sum();
        if ones != len {
            return None;
        }
        let mut ef = EliasFano {
            len,
            min: r.min,
            max: r.max,
            l: r.l,
            low: r.low,
            high: r.high,
            high_bits,
            zeros: Vec::new(),
            blocks: Vec::new(),
        };
        (ef.zeros, ef.blocks) = ef.index();
        ef.well_formed().then_some(ef)
    }

    /// Whether the numbers, less `min`, ascend strictly from 0 to
    /// `max − min`. One pass with no branch on the data (a restart checks
    /// ten million numbers in a few milliseconds).
    fn well_formed(&self) -> bool {
        // `prev` is the last offset plus one (0 before the first), so the
        // first offset must be 0 and each next one larger.
        let (mut i, mut prev, mut bad) = (0usize, 0u64, false);
        for (w, &word) in self.high.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                let h = (w * 64 + word.trailing_zeros() as usize - i) as u64;
                word &= word - 1;
                let d = (h << self.l | self.low_at(i)) + 1;
                bad |= d <= prev;
                prev = d;
                i += 1;
            }
        }
        !bad && self.len > 0
            && self.low_at(0) == 0
            && self.high[0] & 1 == 1
            && prev == self.max - self.min + 1
    }
}

/// The numbers of an [`EliasFano`] set, ascending.
pub struct Iter<'a> {
    ef: &'a EliasFano,
    /// The set bits of `high[w]` not yet taken.
    word: u64,
    w: usize,
    i: usize,
}

impl Iterator for Iter<'_> {
    type Item = u64;

    #[inline]
    fn next(&mut self) -> Option<u64> {
        if self.i >= self.ef.len {
            return None;
        }
        while self.word == 0 {
            self.w += 1;
            self.word = *self.ef.high.get(self.w)?;
        }
        let p = self.w * 64 + self.word.trailing_zeros() as usize;
        self.word &= self.word - 1;
        let h = (p - self.i) as u64;
        let v = self.ef.min + ((h << self.ef.l) | self.ef.low_at(self.i));
        self.i += 1;
        Some(v)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.ef.len - self.i;
        (n, Some(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut s = seed;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    fn check(numbers: &[u64]) {
        let ef = EliasFano::from_sorted(numbers);
        assert_eq!(ef.len(), numbers.len());
        assert_eq!(ef.iter().collect::<Vec<_>>(), numbers);
        for (i, &v) in numbers.iter().enumerate() {
            assert_eq!(ef.position(v), Some(i), "{v}");
            if v > 0 && (i == 0 || numbers[i - 1] != v - 1) {
                assert_eq!(ef.position(v - 1), None, "{}", v - 1);
            }
            if i + 1 == numbers.len() || numbers[i + 1] != v + 1 {
                assert_eq!(ef.position(v + 1), None, "{}", v + 1);
            }
        }
        let back = EliasFano::from_raw(ef.raw()).expect("its own parts read back");
        assert_eq!(back.iter().collect::<Vec<_>>(), numbers);
    }

    #[test]
    fn every_number_is_found_at_its_index_and_its_neighbours_are_not() {
        check(&[]);
        check(&[31_201_234_567]);
        check(&[5, 6, 7, 8]);
        check(&[1, 999_999_999_999_999]);
        let mut r = rng(7);
        for (n, base, span) in [
            (1000usize, 31_100_000_000u64, 1_000u64),
            (1000, 31_100_000_000, 600_000_000),
            (5000, 1, 999_999_999_999_998),
            (3000, 31_100_000_000, 3001),
            (100_000, 31_100_000_000, 600_000_000),
        ] {
            let mut v: Vec<u64> = (0..n).map(|_| base + r() % span).collect();
            v.sort_unstable();
            v.dedup();
            check(&v);
        }
        // Clustered: dense runs far apart (buckets empty and crowded).
        let mut v: Vec<u64> = (0..3000).map(|i| 31_600_000_000 + i).collect();
        v.extend((0..3000).map(|i| 449_000_000_000_000 + i * 3));
        check(&v);
        // A block of an operator's range listed number by number beside
        // numbers spread wide: clear bits far apart across the block
        // (select by the block directory) and close together elsewhere.
        let mut v: Vec<u64> = (0..200_000).map(|i| 318_500_000_000 + i).collect();
        v.extend((0..200_000).map(|i| 31_600_000_000 + i * 4_999));
        v.sort_unstable();
        check(&v);
        // Buckets of every size around the scan's length, searched by halves
        // past it: runs of 1 to 40 with gaps between.
        let mut v = Vec::new();
        let mut x = 31_600_000_000u64;
        for run in 1..=40u64 {
            v.extend((0..run).map(|i| x + i * 2));
            x += 1_000_000_000 + run * 7;
        }
        check(&v);
    }

    /// The size the module promises: `log2(span / n)` + 2 to 3 bits a
    /// number (low bits ⌊log2(span / n)⌋, high bits at most 3n), dense or
    /// spread.
    #[test]
    fn it_takes_two_to_three_bits_more_than_the_spacing() {
        let mut r = rng(3);
        for (n, span) in [
            (200_000usize, 600_000_000u64),
            (200_000, 999_999_999_999_998),
        ] {
            let mut v: Vec<u64> = (0..n).map(|_| 1 + r() % span).collect();
            v.sort_unstable();
            v.dedup();
            let ef = EliasFano::from_sorted(&v);
            let bits = (ef.heap_bytes() * 8) as f64 / v.len() as f64;
            let promised = 3.0 + (span as f64 / v.len() as f64).log2();
            assert!(
                bits <= promised + 0.1,
                "{bits:.2} bits a number, promised {promised:.2}"
            );
        }
    }

    #[test]
    fn damaged_parts_are_refused() {
        let v: Vec<u64> = (0..5000u64).map(|i| 31_600_000_000 + i * 97).collect();
        let ef = EliasFano::from_sorted(&v);
        let mut bad = ef.raw();
        bad.len += 1;
        assert!(EliasFano::from_raw(bad).is_none(), "count");
        let mut bad = ef.raw();
        bad.high[3] ^= 1 << 5;
        assert!(
            EliasFano::from_raw(bad).is_none(),
            "a set bit more or fewer"
        );
        let mut bad = ef.raw();
        bad.high.pop();
        assert!(EliasFano::from_raw(bad).is_none(), "short");
        let mut bad = ef.raw();
        bad.max += 1;
        assert!(EliasFano::from_raw(bad).is_none(), "largest");
        let mut bad = ef.raw();
        bad.l += 1;
        assert!(EliasFano::from_raw(bad).is_none(), "low bits");
        // Two numbers swapped in their low parts: no longer ascending.
        let mut bad = ef.raw();
        let l = bad.l as usize;
        let m = low_mask(bad.l);
        let get = |low: &[u64], i: usize| (low[i * l / 64] >> (i * l % 64)) & m;
        let (a, b) = (get(&bad.low, 0), get(&bad.low, 1));
        assert!(
            l <= 32 && a != b,
            "the data must give two different low parts"
        );
        bad.low[0] &= !(m | (m << l));
        bad.low[0] |= b | (a << l);
        // Same bucket or not, the two are now out of order or moved.
        let back = EliasFano::from_raw(bad);
        assert!(back.is_none_or(|e| e.iter().collect::<Vec<_>>() != v));
    }
}
