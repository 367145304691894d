//! Bursts: how many calls each caller number, and each block of numbers,
//! made in a sliding window, in memory fixed at start.
//!
//! A fixed table, not a sketch: a count-min sketch overcounts (a caller
//! sharing cells with heavy callers would be flagged, and a flag can reject
//! a call), while a table undercounts only when it is full of busier keys.
//! The table is set-associative (4 slots a set, a set chosen by hash); a new
//! key takes an empty slot, else the slot with the fewest calls in the
//! window: a key pushed out starts again from one, so under a flood of
//! distinct callers a burst can be missed, never invented. Each slot keeps
//! two fixed windows (this one and the last); the sliding count weighs the
//! last by how much of it still lies within the window (Cloudflare's
//! sliding-window counter). 24 bytes a slot; 64 shards, each behind its own
//! mutex held for a few dozen nanoseconds.

use std::sync::Mutex;

use crate::config::BurstSettings;
use crate::number::E164;
use crate::screen::BurstCount;

const SHARDS: usize = 64;
const WAYS: usize = 4;
/// Keys of blocks carry this bit; numbers are below 10^15 < 2^50.
const BLOCK: u64 = 1 << 62;

#[derive(Clone, Copy, Default)]
struct Slot {
    /// 0: empty.
    key: u64,
    /// The fixed window `cur` counts (unix ms / window ms).
    window: u32,
    cur: u32,
    prev: u32,
}

impl Slot {
    /// Calls in the sliding window ending at `ms`, before this call.
    fn count(&self, w: u32, into: u64) -> u64 {
        let (cur, prev) = match w.wrapping_sub(self.window) {
            0 => (self.cur, self.prev),
            1 => (0, self.cur),
            _ => (0, 0),
        };
        // `into`: how far into window `w` (0..1024): the last window's
        // share still inside the sliding window.
        u64::from(cur) + (u64::from(prev) * (1024 - into)).div_ceil(1024)
    }

    fn add(&mut self, w: u32) {
        match w.wrapping_sub(self.window) {
            0 => self.cur = self.cur.saturating_add(1),
            1 => {
                self.prev = self.cur;
                self.cur = 1;
            }
            _ => {
                self.prev = 0;
                self.cur = 1;
            }
        }
        self.window = w;
    }
}

pub struct Bursts {
    settings: BurstSettings,
    window_ms: u64,
    sets_per_shard: usize,
    shards: Box<[Mutex<Box<[Slot]>>]>,
}

impl Bursts {
    pub fn new(settings: BurstSettings) -> Bursts {
        let sets_per_shard = (settings.table_slots / (SHARDS * WAYS)).max(1);
        Bursts {
            settings,
            window_ms: settings.window_secs.max(1) * 1000,
            sets_per_shard,
            shards: (0..SHARDS)
                .map(|_| Mutex::new(vec![Slot::default(); sets_per_shard * WAYS].into()))
                .collect(),
        }
    }

    pub fn settings(&self) -> BurstSettings {
        self.settings
    }

    /// Slots in the table (the memory: 24 bytes each).
    pub fn slots(&self) -> usize {
        SHARDS * self.sets_per_shard * WAYS
    }

    /// Counts a call from `caller` at `now_ms` (unix milliseconds): the
    /// calls from its number and from its block in the window, this one
    /// included.
    pub fn count(&self, caller: E164, now_ms: u64) -> BurstCount {
        let n = caller.as_u64();
        let block = caller.leading(self.settings.block_digits) | BLOCK;
        BurstCount {
            number: self.add(n, now_ms),
            block: self.add(block, now_ms),
        }
    }

    fn add(&self, key: u64, now_ms: u64) -> u32 {
        let w = (now_ms / self.window_ms) as u32;
        let into = (now_ms % self.window_ms) * 1024 / self.window_ms;
        // A multiplicative hash (Fibonacci): shard from the high bits, set
        // from the next ones.
        let h = key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let shard = (h >> 58) as usize % SHARDS;
        let set = ((h >> 20) as usize % self.sets_per_shard) * WAYS;
        let mut slots = self.shards[shard].lock().unwrap_or_else(|p| p.into_inner());
        let ways = &mut slots[set..set + WAYS];
        let i = match ways.iter().position(|s| s.key == key) {
            Some(i) => i,
            None => {
                let i = ways
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| if s.key == 0 { 0 } else { s.count(w, into) + 1 })
                    .map_or(0, |(i, _)| i);
                ways[i] = Slot {
                    key,
                    window: w,
                    cur: 0,
                    prev: 0,
                };
                i
            }
        };
        let before = ways[i].count(w, into);
        ways[i].add(w);
        u32::try_from(before + 1).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bursts(window_secs: u64, slots: usize) -> Bursts {
        Bursts::new(BurstSettings {
            window_secs,
            block_digits: 9,
            table_slots: slots,
        })
    }

    fn n(v: u64) -> E164 {
        E164::from_u64(v).unwrap()
    }

    #[test]
    fn calls_from_one_number_count_up_within_the_window_and_fade_after() {
        let b = bursts(60, 65_536);
        let t0 = 1_800_000_000_000u64; // a window boundary (60 000 divides it)
        for i in 1..=30u32 {
            assert_eq!(
                b.count(n(31_201_234_567), t0 + u64::from(i) * 1000).number,
                i
            );
        }
        // Another number of the same block: its own count 1, the block's 31.
        let c = b.count(n(31_201_234_599), t0 + 31_000);
        assert_eq!((c.number, c.block), (1, 31));
        // Another block.
        assert_eq!(b.count(n(31_201_299_999), t0 + 31_000).block, 1);
        // Half a window later the 30 calls of the last window weigh half.
        let c = b.count(n(31_201_234_567), t0 + 90_000);
        assert_eq!(c.number, 16, "15 of the last window's 30, and this one");
        // Two windows later nothing is left.
        assert_eq!(b.count(n(31_201_234_567), t0 + 250_000).number, 1);
    }

    #[test]
    fn a_burst_is_counted_exactly_at_its_threshold() {
        let b = bursts(60, 65_536);
        let t0 = 1_800_000_000_000u64;
        let counts: Vec<u32> = (0..5)
            .map(|i| b.count(n(31_612_345_678), t0 + i * 100).number)
            .collect();
        assert_eq!(counts, [1, 2, 3, 4, 5]);
    }

    /// A million distinct callers (each in a block of its own) in one
    /// window, through a table of 4096 slots: the table stays its size, and
    /// a caller that made two calls before them and one every 25 000 calls
    /// keeps its count (only keys with more calls push a key out; a new
    /// caller has one).
    #[test]
    fn memory_stays_bounded_under_a_million_distinct_callers() {
        let b = bursts(60, 4096);
        assert_eq!(b.slots(), 4096);
        let t0 = 1_800_000_000_000u64;
        let busy = n(31_201_234_567);
        b.count(busy, t0);
        let mut last = b.count(busy, t0).number;
        for i in 0..1_000_000u64 {
            let c = b.count(n(31_600_000_000 + i * 100 + i % 97), t0 + i / 100);
            assert_eq!((c.number, c.block), (1, 1), "caller {i}");
            if i % 25_000 == 0 {
                last = b.count(busy, t0 + i / 100).number;
            }
        }
        assert_eq!(last, 42, "the busy caller kept its slot");
        assert_eq!(b.slots(), 4096);
    }
}
