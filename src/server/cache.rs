//! Recent INVITE transactions, so that a retransmission (same Call-ID,
//! From-tag, branch and CSeq) gets the same answer, byte for byte, and no
//! second NOC line, even if the lists changed in between; and, in proxy mode,
//! so that a CANCEL follows a warned INVITE to the announcement service. Bounded in time
//! (32 s: Timer B, 64*T1, RFC 3261 §17.1.1.2) and in entries.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an answer is kept: an INVITE client transaction gives up after 64*T1.
pub const TTL: Duration = Duration::from_secs(32);
const SHARDS: usize = 16;

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

/// The keys are already keyed hashes (`TagKey::transaction`): hashing
/// them again would only cost time. The low bits pick the shard (all keys
/// of a shard share them), so the high half is folded into the low one:
/// the table's bucket index comes from the low bits.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed here; any other input still spreads.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n ^ (n >> 32);
    }
}

type Keyed = std::hash::BuildHasherDefault<KeyHasher>;

struct Shard {
    map: HashMap<u64, (Instant, Kind, Vec<u8>), Keyed>,
    order: VecDeque<(u64, Instant)>,
}

pub struct RetransmitCache {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

impl RetransmitCache {
    pub fn new(capacity: usize) -> RetransmitCache {
        RetransmitCache {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::default(),
                        order: VecDeque::new(),
                    })
                })
                .collect(),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, key: u64) -> Option<std::sync::MutexGuard<'_, Shard>> {
        // A poisoned shard only held plain data; keep using it.
        let m = self.shards.get((key as usize) % SHARDS)?;
        Some(m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// What became of transaction `key`, its bytes copied into `out`; none
    /// when it is not (or no longer) known.
    pub fn get_into(&self, key: u64, now: Instant, out: &mut Vec<u8>) -> Option<Kind> {
        if self.per_shard == 0 {
            return None;
        }
        let s = self.shard(key)?;
        match s.map.get(&key) {
            Some((at, kind, bytes)) if now.duration_since(*at) < TTL => {
                out.clear();
                out.extend_from_slice(bytes);
                Some(*kind)
            }
            _ => None,
        }
    }

    pub fn insert(&self, key: u64, now: Instant, kind: Kind, bytes: &[u8]) {
        if self.per_shard == 0 {
            return;
        }
        let Some(mut s) = self.shard(key) else { return };
        // An evicted answer's buffer holds the new one: once full, a shard
        // allocates nothing per insert.
        let mut spare: Option<Vec<u8>> = None;
        while let Some(&(k, at)) = s.order.front() {
            if now.duration_since(at) >= TTL || s.order.len() >= self.per_shard {
                s.order.pop_front();
                if s.map.get(&k).is_some_and(|e| e.0 == at)
                    && let Some((_, _, buf)) = s.map.remove(&k)
                    && spare.as_ref().is_none_or(|b| b.capacity() < buf.capacity())
                {
                    spare = Some(buf);
                }
            } else {
                break;
            }
        }
        let mut buf = match s.map.remove(&key) {
            Some((_, _, old)) => old,
            None => spare.unwrap_or_default(),
        };
        buf.clear();
        buf.extend_from_slice(bytes);
        s.map.insert(key, (now, kind, buf));
        s.order.push_back((key, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_for_a_while_and_bounded() {
        let c = RetransmitCache::new(32);
        let t0 = Instant::now();
        let mut out = Vec::new();
        c.insert(1, t0, Kind::Answer, b"SIP/2.0 302");
        assert_eq!(
            c.get_into(1, t0 + Duration::from_secs(31), &mut out),
            Some(Kind::Answer)
        );
        assert_eq!(out, b"SIP/2.0 302");
        assert_eq!(c.get_into(1, t0 + TTL, &mut out), None);
        assert_eq!(c.get_into(2, t0, &mut out), None);
        c.insert(3, t0, Kind::Warned, b"sip:warn@192.0.2.50;target=x");
        assert_eq!(c.get_into(3, t0, &mut out), Some(Kind::Warned));
        assert_eq!(out, b"sip:warn@192.0.2.50;target=x");
        // Capacity: per shard 2; the third insert into a shard evicts the oldest.
        for k in [16u64, 32, 48] {
            c.insert(k, t0, Kind::Forwarded, b"");
        }
        assert_eq!(c.get_into(16, t0, &mut out), None);
        assert_eq!(c.get_into(48, t0, &mut out), Some(Kind::Forwarded));
    }
}
