//! Recent answers to INVITEs, so that a retransmission (same Call-ID,
//! From-tag, branch and CSeq) gets the same answer, byte for byte, and no
//! second NOC line, even if the lists changed in between. Bounded in time
//! (32 s: Timer B, 64*T1, RFC 3261 §17.1.1.2) and in entries.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an answer is kept: an INVITE client transaction gives up after 64*T1.
pub const TTL: Duration = Duration::from_secs(32);
const SHARDS: usize = 16;

struct Shard {
    map: HashMap<u64, (Instant, Box<[u8]>)>,
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
                        map: HashMap::new(),
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

    /// Copies the cached answer for `key` into `out`; false when there is none.
    pub fn get_into(&self, key: u64, now: Instant, out: &mut Vec<u8>) -> bool {
        if self.per_shard == 0 {
            return false;
        }
        let Some(s) = self.shard(key) else {
            return false;
        };
        match s.map.get(&key) {
            Some((at, bytes)) if now.duration_since(*at) < TTL => {
                out.clear();
                out.extend_from_slice(bytes);
                true
            }
            _ => false,
        }
    }

    pub fn insert(&self, key: u64, now: Instant, bytes: &[u8]) {
        if self.per_shard == 0 {
            return;
        }
        let Some(mut s) = self.shard(key) else { return };
        while let Some(&(k, at)) = s.order.front() {
            if now.duration_since(at) >= TTL || s.order.len() >= self.per_shard {
                s.order.pop_front();
                if s.map.get(&k).is_some_and(|e| e.0 == at) {
                    s.map.remove(&k);
                }
            } else {
                break;
            }
        }
        s.map.insert(key, (now, bytes.into()));
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
        c.insert(1, t0, b"SIP/2.0 302");
        assert!(c.get_into(1, t0 + Duration::from_secs(31), &mut out));
        assert_eq!(out, b"SIP/2.0 302");
        assert!(!c.get_into(1, t0 + TTL, &mut out));
        assert!(!c.get_into(2, t0, &mut out));
        // Capacity: per shard 2; the third insert into a shard evicts the oldest.
        for k in [16u64, 32, 48] {
            c.insert(k, t0, b"x");
        }
        assert!(!c.get_into(16, t0, &mut out));
        assert!(c.get_into(48, t0, &mut out));
    }
}
