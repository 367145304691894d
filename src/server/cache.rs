//! Recent INVITE transactions, so that a retransmission gets the same
//! answer, byte for byte, and no second NOC line, even if the lists changed
//! in between; and, in proxy mode, so that a CANCEL follows a warned INVITE
//! to the announcement service. Bounded in time (32 s: Timer B, 64*T1, RFC
//! 3261 §17.1.1.2) and in room.
//!
//! A transaction is filed under its Call-ID, From-tag and CSeq number and
//! known by its branch, sent-by and source ([`TxKey`], RFC 3261 §17.2.3): a
//! request filed with one but not known by it is another transaction
//! ([`Seen::Another`]: a merged request, §8.2.2.2), which never gets that
//! one's answer and never replaces it while it lasts.
//!
//! Laid out for the call path, which asks for every INVITE and stores
//! every answer: each shard appends its records (header and bytes) to a
//! ring of bytes, overwriting the oldest, and finds them through a
//! set-associative index of four places per 64-byte set. A lookup and the
//! insert that follows it touch one set (one cache line) and write at the
//! ring's head, in order; nothing is allocated or freed once warm. (A hash
//! map of buffers with an eviction queue, used before, touched four to six
//! cold lines per call: 14 % of the call path's time in `cargo bench
//! --bench screen -- call-path`, BENCHMARKS.md.)

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an answer is kept: an INVITE client transaction gives up after 64*T1.
pub const TTL: Duration = Duration::from_secs(32);
const SHARDS: usize = 16;
/// Ring bytes per entry of `[sip] retransmission_cache`: a 302 with its
/// dialog headers is 400–600 bytes.
const BYTES_PER_ENTRY: usize = 640;
/// A shard's ring at least: any answer to a request of the largest size
/// (64 KiB, `sip::Limits`) fits, however small the configured cache.
const MIN_RING: usize = 128 * 1024;
/// Places in a set of the index.
const WAYS: usize = 4;
/// A record's header in the ring: key, transaction id, time, kind, length.
const HEADER: usize = 32;
/// Cache lines of the ring fetched ahead of an insert (a typical answer
/// and its header: about 500 bytes).
const PREFETCH_LINES: usize = 8;

/// What became of an INVITE transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// callscreen answered it; the bytes are the answer.
    Answer,
    /// Proxy mode forwarded it to a next hop (no bytes).
    Forwarded,
    /// Proxy mode forwarded it to the announcement service; the bytes are
    /// the Request-URI it was sent with (a CANCEL must carry the same).
    Warned,
    /// Waiting for its PASSporT to be verified (`[stir]`): a retransmission
    /// is absorbed; the answer replaces this entry (no bytes).
    Parked,
    /// Parked, then CANCELled (answered 200): when its verification ends
    /// it is answered 487 and not screened or forwarded (RFC 3261 §9.2).
    Cancelled,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Answer,
        Kind::Forwarded,
        Kind::Warned,
        Kind::Parked,
        Kind::Cancelled,
    ];

    fn from_byte(b: u8) -> Option<Kind> {
        Kind::ALL.get(usize::from(b)).copied()
    }
}

/// What tells an INVITE transaction apart, for the retransmission cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxKey {
    /// Call-ID, From-tag and CSeq number: what a merged request (RFC 3261
    /// §8.2.2.2) shares with the transaction; where the cache files it.
    pub merge: u64,
    /// What makes a request part of the transaction (RFC 3261 §17.2.3):
    /// the top Via's branch and sent-by (for a branch without the
    /// `z9hG4bK` cookie, RFC 2543's rule: the Request-URI and the whole top
    /// Via), and the address it came from, where its answer goes (its IP
    /// address: a client may retransmit from another port, or over
    /// another TCP connection). A CANCEL or non-2xx ACK of the INVITE has
    /// the same key, the method aside (§9.2, §17.1.1.3).
    pub id: u64,
}

/// What the cache knows of a request's transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// It is the transaction filed there: what became of it.
    Ours(Kind),
    /// Another transaction is filed there (same Call-ID, From-tag and
    /// CSeq, another branch, sent-by or source): a merged request.
    Another,
}

/// A place in the index: a transaction's key and where its record starts
/// in the ring (its position plus one; zero is an empty place).
#[derive(Clone, Copy, Default)]
struct Place {
    key: u64,
    at: u64,
}

/// Four places in one cache line.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Set([Place; WAYS]);

/// Whether a record at position `p` is whole in a ring of `cap` bytes
/// whose head is at `head`.
fn intact(head: u64, cap: usize, p: u64) -> bool {
    head - p <= cap as u64
}

struct Shard {
    /// The ring: record `p` (a position that only grows) is at `p % cap`.
    /// Reserved whole, it grows as it is written (memory is touched only
    /// as answers fill it).
    ring: Vec<u8>,
    cap: usize,
    /// Where the next record goes.
    head: u64,
    sets: Vec<Set>,
}

impl Shard {
    /// Whether the record at position `p` is still whole in the ring.
    fn intact(&self, p: u64) -> bool {
        intact(self.head, self.cap, p)
    }

    /// The set `key` belongs to (the low bits picked the shard).
    fn set_of(&self, key: u64) -> usize {
        ((key >> 4) % self.sets.len() as u64) as usize
    }

    /// The record filed under `key`: its transaction id, time, kind and bytes.
    fn find(&self, key: u64) -> Option<(u64, u64, Kind, &[u8])> {
        let set = self.sets.get(self.set_of(key))?;
        let place = set.0.iter().find(|pl| pl.key == key && pl.at != 0)?;
        let p = place.at - 1;
        if !self.intact(p) {
            return None;
        }
        let start = (p % self.cap as u64) as usize;
        let h = self.ring.get(start..start + HEADER)?;
        let word = |i: usize| {
            h.get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_le_bytes)
        };
        if word(0)? != key {
            return None;
        }
        let id = word(8)?;
        let when = word(16)?;
        let kind = Kind::from_byte(*h.get(24)?)?;
        let len = u32::from_le_bytes(h.get(28..32)?.try_into().ok()?) as usize;
        let bytes = self.ring.get(start + HEADER..start + HEADER + len)?;
        Some((id, when, kind, bytes))
    }

    /// Appends `key`'s record at the head and points its place at it;
    /// unless another transaction's record, younger than [`TTL`], is filed
    /// under `key` (a merged request does not push out the transaction it
    /// collides with).
    fn insert(&mut self, key: TxKey, when: u64, kind: Kind, bytes: &[u8]) {
        if let Some((id, then, _, _)) = self.find(key.merge)
            && id != key.id
            && when.saturating_sub(then) < TTL.as_nanos() as u64
        {
            return;
        }
        let (key, id) = (key.merge, key.id);
        let cap = self.cap as u64;
        let need = (HEADER + bytes.len()).next_multiple_of(8) as u64;
        if need > cap || u32::try_from(bytes.len()).is_err() {
            // Larger than the ring (an answer to a request beyond the
            // largest size): not kept, and an older record of it forgotten.
            self.forget(key);
            return;
        }
        // A record is never split: one that would cross the ring's end
        // starts at its beginning.
        let off = self.head % cap;
        if off + need > cap {
            self.head += cap - off;
        }
        let p = self.head;
        self.head += need;
        let start = (p % cap) as usize;
        let end = start + HEADER + bytes.len();
        if self.ring.len() < end {
            // Still filling: within the reserved capacity, no reallocation.
            self.ring.resize(end, 0);
        }
        let Some(rec) = self.ring.get_mut(start..end) else {
            return;
        };
        rec[0..8].copy_from_slice(&key.to_le_bytes());
        rec[8..16].copy_from_slice(&id.to_le_bytes());
        rec[16..24].copy_from_slice(&when.to_le_bytes());
        rec[24..28].copy_from_slice(&[kind as u8, 0, 0, 0]);
        rec[28..32].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
        rec[HEADER..].copy_from_slice(bytes);
        let s = self.set_of(key);
        let (head, ring) = (self.head, self.cap);
        let Some(set) = self.sets.get_mut(s) else {
            return;
        };
        // Its own place, else an empty or overwritten one, else the oldest.
        let live = |pl: &Place| pl.at != 0 && intact(head, ring, pl.at - 1);
        let i = set
            .0
            .iter()
            .position(|pl| pl.key == key && pl.at != 0)
            .or_else(|| set.0.iter().position(|pl| !live(pl)))
            .unwrap_or_else(|| (0..WAYS).min_by_key(|&i| set.0[i].at).unwrap_or_default());
        set.0[i] = Place { key, at: p + 1 };
    }

    /// Asks the processor for the ring's next bytes (where an insert after
    /// this lookup will write: cold memory, the ring being larger than the
    /// caches), so that they arrive while the call is screened.
    fn prefetch_head(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            let start = (self.head % self.cap as u64) as usize;
            let base = self.ring.as_ptr().wrapping_add(start);
            for line in 0..PREFETCH_LINES {
                let p = base.wrapping_add(line * 64).cast::<i8>();
                // SAFETY: a prefetch is a hint: it reads nothing into the
                // program and cannot fault, whatever the address.
                unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p) };
            }
        }
    }

    fn forget(&mut self, key: u64) {
        let s = self.set_of(key);
        if let Some(set) = self.sets.get_mut(s) {
            for pl in set.0.iter_mut().filter(|pl| pl.key == key) {
                *pl = Place::default();
            }
        }
    }
}

pub struct RetransmitCache {
    shards: Vec<Mutex<Shard>>,
    /// When the cache began: records keep their time as nanoseconds since.
    epoch: Instant,
}

impl RetransmitCache {
    /// Room for about `capacity` answers (of [`BYTES_PER_ENTRY`] bytes, at
    /// least [`MIN_RING`] per shard), with twice as many places in the
    /// index; none when zero. The ring is
    /// reserved now but only touched as it fills.
    pub fn new(capacity: usize) -> RetransmitCache {
        let per_shard = capacity.div_ceil(SHARDS);
        let ring = (per_shard * BYTES_PER_ENTRY).max(MIN_RING);
        let shards = if per_shard == 0 {
            Vec::new()
        } else {
            (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        ring: Vec::with_capacity(ring),
                        cap: ring,
                        head: 0,
                        sets: vec![Set::default(); (2 * per_shard).div_ceil(WAYS)],
                    })
                })
                .collect()
        };
        RetransmitCache {
            shards,
            epoch: Instant::now(),
        }
    }

    fn shard(&self, key: u64) -> Option<std::sync::MutexGuard<'_, Shard>> {
        // A poisoned shard only held plain data; keep using it.
        let m = self.shards.get((key as usize) % SHARDS)?;
        Some(m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn nanos(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
    }

    /// What is known of transaction `key`: what became of it (its bytes
    /// copied into `out`), or that another transaction is filed under its
    /// Call-ID, From-tag and CSeq; none when nothing is (or is no longer).
    pub fn get_into(&self, key: TxKey, now: Instant, out: &mut Vec<u8>) -> Option<Seen> {
        let now = self.nanos(now);
        let s = self.shard(key.merge)?;
        s.prefetch_head();
        let (id, when, kind, bytes) = s.find(key.merge)?;
        if now.saturating_sub(when) >= TTL.as_nanos() as u64 {
            return None;
        }
        if id != key.id {
            return Some(Seen::Another);
        }
        out.clear();
        out.extend_from_slice(bytes);
        Some(Seen::Ours(kind))
    }

    /// What became of transaction `key` itself (none when it is unknown or
    /// another transaction is filed in its place).
    pub fn get_own(&self, key: TxKey, now: Instant, out: &mut Vec<u8>) -> Option<Kind> {
        match self.get_into(key, now, out)? {
            Seen::Ours(kind) => Some(kind),
            Seen::Another => None,
        }
    }

    /// Keeps what became of transaction `key` (replacing what was kept of
    /// it; never another transaction's record, while that lasts).
    pub fn insert(&self, key: TxKey, now: Instant, kind: Kind, bytes: &[u8]) {
        let now = self.nanos(now);
        if let Some(mut s) = self.shard(key.merge) {
            s.insert(key, now, kind, bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A transaction filed under `n` and known by it.
    fn tx(n: u64) -> TxKey {
        TxKey { merge: n, id: n }
    }

    #[test]
    fn answers_are_kept_for_a_while_and_bounded() {
        let c = RetransmitCache::new(32);
        let t0 = Instant::now();
        let mut out = Vec::new();
        c.insert(tx(1), t0, Kind::Answer, b"SIP/2.0 302");
        assert_eq!(
            c.get_own(tx(1), t0 + Duration::from_secs(31), &mut out),
            Some(Kind::Answer)
        );
        assert_eq!(out, b"SIP/2.0 302");
        assert_eq!(c.get_own(tx(1), t0 + TTL, &mut out), None);
        assert_eq!(c.get_own(tx(2), t0, &mut out), None);
        c.insert(tx(3), t0, Kind::Warned, b"sip:warn@192.0.2.50;target=x");
        assert_eq!(c.get_own(tx(3), t0, &mut out), Some(Kind::Warned));
        assert_eq!(out, b"sip:warn@192.0.2.50;target=x");
        // Replaced: the newest record of a key is the one found.
        c.insert(tx(3), t0, Kind::Forwarded, b"");
        assert_eq!(c.get_own(tx(3), t0, &mut out), Some(Kind::Forwarded));
        assert!(out.is_empty());
        // However small the cache, an answer to the largest request is kept.
        let small = RetransmitCache::new(1);
        let big = vec![b'z'; 64 * 1024];
        small.insert(tx(5), t0, Kind::Answer, &big);
        assert_eq!(small.get_own(tx(5), t0, &mut out), Some(Kind::Answer));
        assert_eq!(out, big);
        // No room at all: nothing kept, nothing found.
        let none = RetransmitCache::new(0);
        none.insert(tx(1), t0, Kind::Answer, b"x");
        assert_eq!(none.get_own(tx(1), t0, &mut out), None);
    }

    #[test]
    fn the_ring_keeps_the_newest_answers_and_loses_the_overwritten_ones() {
        // 200 entries per shard: 128 000 bytes, so the smallest ring, and
        // 400 places in 100 sets, room for every set's share of the records
        // the ring holds.
        let c = RetransmitCache::new(SHARDS * 200);
        let t0 = Instant::now();
        let mut out = Vec::new();
        let answer = |k: u64| format!("SIP/2.0 302 Moved Temporarily {k:08} {}", "x".repeat(400));
        // One record: header and answer, rounded up to 8 bytes.
        let record = (HEADER + answer(0).len()).next_multiple_of(8);
        let holds = MIN_RING / record;
        // Keys of shard 0 (low four bits zero), spread over the sets,
        // inserted in turn until the ring has gone round twice.
        let keys: Vec<u64> = (1..=2 * holds as u64 + 7).map(|i| i << 4).collect();
        for &k in &keys {
            c.insert(tx(k), t0, Kind::Answer, answer(k).as_bytes());
            // The one just kept is always found, whole.
            assert_eq!(c.get_own(tx(k), t0, &mut out), Some(Kind::Answer));
            assert_eq!(out, answer(k).as_bytes());
        }
        // The ring holds the newest `holds` records, except where the last
        // round's start overwrote the oldest of them.
        let found: Vec<bool> = keys
            .iter()
            .map(|&k| c.get_own(tx(k), t0, &mut out).is_some())
            .collect();
        let kept = found.iter().filter(|&&f| f).count();
        assert!(kept + 1 >= holds && kept <= holds, "{kept} of {holds}");
        assert!(
            found[keys.len() - kept..].iter().all(|&f| f),
            "the newest are the ones kept"
        );
        // Too big for the ring: not kept, and an older record of it is forgotten.
        let k = *keys.last().unwrap_or(&0);
        c.insert(tx(k), t0, Kind::Answer, &vec![b'y'; MIN_RING]);
        assert_eq!(c.get_own(tx(k), t0, &mut out), None);
    }

    #[test]
    fn a_full_set_gives_up_its_oldest_place() {
        // Room for many records, but keys of one set compete for four places.
        let c = RetransmitCache::new(64 * SHARDS);
        let t0 = Instant::now();
        let mut out = Vec::new();
        let sets = (2 * 64usize).div_ceil(WAYS) as u64;
        // Same shard (low bits zero) and same set: (key >> 4) % sets equal.
        let keys: Vec<u64> = (1..=5).map(|i| (i * sets) << 4).collect();
        for &k in &keys {
            c.insert(tx(k), t0, Kind::Forwarded, b"");
        }
        assert_eq!(c.get_own(tx(keys[0]), t0, &mut out), None);
        for &k in &keys[1..] {
            assert_eq!(c.get_own(tx(k), t0, &mut out), Some(Kind::Forwarded));
        }
    }

    #[test]
    fn another_transaction_filed_in_the_same_place_is_told_apart_and_kept_out() {
        let c = RetransmitCache::new(32);
        let t0 = Instant::now();
        let mut out = Vec::new();
        let first = TxKey { merge: 7, id: 1 };
        let merged = TxKey { merge: 7, id: 2 };
        c.insert(first, t0, Kind::Answer, b"SIP/2.0 302");
        // The same Call-ID, From-tag and CSeq, another branch, sent-by or
        // source: told apart, and not given the first one's answer.
        out.clear();
        assert_eq!(c.get_into(merged, t0, &mut out), Some(Seen::Another));
        assert!(out.is_empty());
        assert_eq!(c.get_own(merged, t0, &mut out), None);
        // Nor does it replace the first one's record while that lasts.
        c.insert(merged, t0, Kind::Answer, b"SIP/2.0 608");
        assert_eq!(
            c.get_into(first, t0, &mut out),
            Some(Seen::Ours(Kind::Answer))
        );
        assert_eq!(out, b"SIP/2.0 302");
        // The first one's own record is replaced as before.
        c.insert(first, t0, Kind::Forwarded, b"");
        assert_eq!(c.get_own(first, t0, &mut out), Some(Kind::Forwarded));
        // Once the first is gone (Timer B), the place is free.
        let later = t0 + TTL;
        assert_eq!(c.get_into(merged, later, &mut out), None);
        c.insert(merged, later, Kind::Answer, b"SIP/2.0 608");
        assert_eq!(
            c.get_into(merged, later, &mut out),
            Some(Seen::Ours(Kind::Answer))
        );
        assert_eq!(out, b"SIP/2.0 608");
        assert_eq!(c.get_into(first, later, &mut out), Some(Seen::Another));
    }
}
