//! Hits per list entry: how many calls each entry matched, by verdict, with
//! the first and last time; for the ACM (which withdrawn ranges still get
//! calls) and the operator. A fixed table apart from the lists (65 536
//! slots by default, 56 bytes each), written by the call path with atomics
//! only: no lock, no allocation. A slot is found by a hash of the list's
//! name and the entry; when its few candidate slots are taken, the hit is
//! counted as overflow. A report walks the list's entries and reads their
//! slots. Counts survive new versions of a list; an entry that leaves the
//! list has its slot freed. Saved in the state directory (`hits.bin`) every
//! minute and at stop, read back at start.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::lists::Target;
use crate::screen::Action;

/// Candidate slots of a key.
const PROBES: usize = 8;
/// The verdicts counted, in this order.
pub const VERDICTS: [&str; 5] = ["allow", "tag", "anonymise", "warn", "reject"];

#[derive(Default)]
struct Slot {
    /// 0: free.
    key: AtomicU64,
    first: AtomicU32,
    last: AtomicU32,
    counts: [AtomicU32; 5],
}

/// An entry's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Unix seconds.
    pub first: u32,
    pub last: u32,
    /// By verdict, as [`VERDICTS`].
    pub by_verdict: [u32; 5],
}

impl Count {
    pub fn total(&self) -> u64 {
        self.by_verdict.iter().map(|&c| u64::from(c)).sum()
    }
}

pub struct Hits {
    slots: Box<[Slot]>,
    /// Hits not counted because the table was full where they belong.
    pub overflow: AtomicU64,
}

/// FNV-1a, then a mix: the key of an entry of a list (never 0).
pub fn key(list: &str, t: &Target) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |b: &[u8]| {
        for &x in b {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(list.as_bytes());
    eat(&[0xff]);
    match *t {
        Target::Number(n) => {
            eat(&[1]);
            eat(&n.as_u64().to_le_bytes());
        }
        Target::Prefix { digits, len } => {
            eat(&[2, len]);
            eat(&digits.to_le_bytes());
        }
        Target::Range { lo, hi } => {
            eat(&[3]);
            eat(&lo.as_u64().to_le_bytes());
            eat(&hi.as_u64().to_le_bytes());
        }
        Target::Network(c) => {
            eat(&[4, c.prefix_len()]);
            eat(&c.range().0.to_le_bytes());
        }
    }
    let h = (h ^ (h >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h | 1
}

fn verdict_index(a: Action) -> usize {
    match a {
        Action::Allow => 0,
        Action::Tag => 1,
        Action::Anonymise => 2,
        Action::Warn => 3,
        Action::Reject { .. } => 4,
    }
}

impl Hits {
    pub fn new(slots: usize) -> Hits {
        Hits {
            slots: (0..slots.max(PROBES)).map(|_| Slot::default()).collect(),
            overflow: AtomicU64::new(0),
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn used(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.key.load(Ordering::Relaxed) != 0)
            .count()
    }

    fn candidates(&self, key: u64) -> impl Iterator<Item = &Slot> {
        let n = self.slots.len();
        let start = (key >> 16) as usize % n;
        (0..PROBES).map(move |i| &self.slots[(start + i) % n])
    }

    /// The slot of `key`, taken when free and `claim` says so.
    fn slot(&self, key: u64, claim: bool) -> Option<&Slot> {
        for s in self.candidates(key) {
            let k = s.key.load(Ordering::Acquire);
            if k == key {
                return Some(s);
            }
            if k == 0 && claim {
                // Taken now, or meanwhile by another call with this key.
                match s
                    .key
                    .compare_exchange(0, key, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => return Some(s),
                    Err(now) if now == key => return Some(s),
                    Err(_) => {}
                }
            }
        }
        None
    }

    /// Counts a call that matched `target` of `list` (the call path).
    pub fn record(&self, list: &str, target: &Target, action: Action, now: u64) {
        let now = u32::try_from(now).unwrap_or(u32::MAX);
        match self.slot(key(list, target), true) {
            Some(s) => {
                let _ = s
                    .first
                    .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
                s.last.fetch_max(now, Ordering::Relaxed);
                s.counts[verdict_index(action)].fetch_add(1, Ordering::Relaxed);
            }
            None => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The counts of an entry, if it was hit.
    pub fn get(&self, list: &str, target: &Target) -> Option<Count> {
        let s = self.slot(key(list, target), false)?;
        let c = Count {
            first: s.first.load(Ordering::Relaxed),
            last: s.last.load(Ordering::Relaxed),
            by_verdict: std::array::from_fn(|i| s.counts[i].load(Ordering::Relaxed)),
        };
        (c.total() > 0).then_some(c)
    }

    /// Frees the slot of an entry that left its list.
    pub fn forget(&self, list: &str, target: &Target) {
        if let Some(s) = self.slot(key(list, target), false) {
            s.first.store(0, Ordering::Relaxed);
            s.last.store(0, Ordering::Relaxed);
            for c in &s.counts {
                c.store(0, Ordering::Relaxed);
            }
            s.key.store(0, Ordering::Release);
        }
    }

    /// Writes every used slot to `path` (a temporary file, then renamed).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(b"CSHITS1\n");
        for s in self.slots.iter() {
            let k = s.key.load(Ordering::Acquire);
            if k == 0 {
                continue;
            }
            out.extend_from_slice(&k.to_le_bytes());
            out.extend_from_slice(&s.first.load(Ordering::Relaxed).to_le_bytes());
            out.extend_from_slice(&s.last.load(Ordering::Relaxed).to_le_bytes());
            for c in &s.counts {
                out.extend_from_slice(&c.load(Ordering::Relaxed).to_le_bytes());
            }
        }
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    /// Reads back what [`Self::save`] wrote (added to the counts here);
    /// how many entries. A file that is not one is refused whole.
    pub fn load(&self, path: &Path) -> std::io::Result<usize> {
        let mut b = Vec::new();
        std::fs::File::open(path)?.read_to_end(&mut b)?;
        let body = b
            .strip_prefix(b"CSHITS1\n".as_slice())
            .filter(|r| r.len() % 36 == 0)
            .ok_or_else(|| std::io::Error::other("not a hits file"))?;
        let mut n = 0;
        for r in body.chunks_exact(36) {
            let u32_at = |i: usize| u32::from_le_bytes([r[i], r[i + 1], r[i + 2], r[i + 3]]);
            let k = u64::from_le_bytes([r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]]);
            if k == 0 {
                continue;
            }
            let Some(s) = self.slot(k, true) else {
                continue;
            };
            let first = u32_at(8);
            let _ = s
                .first
                .compare_exchange(0, first, Ordering::Relaxed, Ordering::Relaxed);
            s.last.fetch_max(u32_at(12), Ordering::Relaxed);
            for (i, c) in s.counts.iter().enumerate() {
                c.fetch_add(u32_at(16 + i * 4), Ordering::Relaxed);
            }
            n += 1;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::E164;

    fn num(v: u64) -> Target {
        Target::Number(E164::from_u64(v).unwrap())
    }

    #[test]
    fn hits_are_counted_by_entry_and_verdict_saved_and_read_back() {
        let h = Hits::new(1024);
        let reject = Action::Reject { code: 608 };
        h.record("acm", &num(31_201_234_567), reject, 100);
        h.record("acm", &num(31_201_234_567), reject, 300);
        h.record("acm", &num(31_201_234_567), Action::Tag, 200);
        h.record("other", &num(31_201_234_567), reject, 50);
        let c = h.get("acm", &num(31_201_234_567)).unwrap();
        assert_eq!((c.first, c.last, c.total()), (100, 300, 3));
        assert_eq!(c.by_verdict, [0, 1, 0, 0, 2]);
        assert_eq!(h.get("other", &num(31_201_234_567)).unwrap().total(), 1);
        assert!(h.get("acm", &num(31_201_234_568)).is_none());
        let dir = std::env::temp_dir().join(format!("callscreen-hits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("hits.bin");
        h.save(&f).unwrap();
        let back = Hits::new(4096);
        assert_eq!(back.load(&f).unwrap(), 2);
        assert_eq!(back.get("acm", &num(31_201_234_567)), Some(c));
        // An entry that leaves its list starts again.
        back.forget("acm", &num(31_201_234_567));
        assert!(back.get("acm", &num(31_201_234_567)).is_none());
        std::fs::write(&f, b"junk").unwrap();
        assert!(Hits::new(8).load(&f).is_err());
    }

    #[test]
    fn a_full_table_counts_overflow_and_stays_its_size() {
        let h = Hits::new(64);
        for i in 0..1000u64 {
            h.record("acm", &num(31_600_000_000 + i), Action::Tag, 1);
        }
        assert_eq!(h.capacity(), 64);
        assert_eq!(h.used(), 64);
        assert_eq!(h.overflow.load(Ordering::Relaxed), 1000 - 64);
    }
}
