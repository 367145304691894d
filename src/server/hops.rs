//! The health of proxy mode's next hops. Requests go to the first hop in
//! the configured order that is not marked down; a hop is marked down by a
//! refused or timed-out TCP connection, by an unanswered health probe
//! (OPTIONS, `[proxy] probe_interval_secs`) or by a 503 it sends (for its
//! Retry-After, else `[proxy] down_secs`), and up again by an answered probe
//! or when its time is over. With every hop down the first one still gets
//! the request (a probe can be wrong; the caller's SBC has its own timers).
//! Failures are counted, and logged once per interval by the daemon.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::NextHop;
use crate::state::Metrics;

#[derive(Default, Debug)]
struct State {
    down_until: Option<Instant>,
    /// The last probe sent and not answered: (sequence number, when).
    probe_out: Option<(u64, Instant)>,
    /// Failures since the daemon last logged them, with the last reason.
    failures: u64,
    why: String,
    /// Whether the hop was down at the last log (to log changes once).
    logged_down: bool,
}

#[derive(Default)]
pub struct Hops {
    state: Mutex<HashMap<SocketAddr, State>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hops {
    /// The hop a request goes to now, with its index.
    pub fn choose(&self, hops: &[NextHop], now: Instant) -> Option<(usize, NextHop)> {
        if hops.len() <= 1 {
            return hops.first().map(|h| (0, *h));
        }
        let s = lock(&self.state);
        hops.iter()
            .enumerate()
            .find(|(_, h)| {
                s.get(&h.addr)
                    .and_then(|st| st.down_until)
                    .is_none_or(|until| now >= until)
            })
            .or_else(|| hops.first().map(|h| (0, h)))
            .map(|(i, h)| (i, *h))
    }

    fn mark(&self, addr: SocketAddr, for_: Duration, why: &str) {
        let mut s = lock(&self.state);
        let st = s.entry(addr).or_default();
        let now = Instant::now();
        if st.down_until.is_none_or(|u| now >= u) {
            // Once per change from up to down; repeats are counted and
            // reported by the daemon once per interval.
            tracing::warn!("next hop {addr} down for {}s: {why}", for_.as_secs());
        }
        st.down_until = Some(now + for_);
        st.failures += 1;
        st.why.clear();
        st.why.push_str(why);
    }

    /// A hop could not be reached (TCP connect failed, probe unanswered).
    pub fn unreachable(&self, addr: SocketAddr, m: &Metrics, why: &str, down_for: Duration) {
        Metrics::inc(&m.hop_unreachable);
        self.mark(addr, down_for, why);
    }

    /// A hop answered 503: down for `retry_after` (or the configured time).
    pub fn overloaded(&self, addr: SocketAddr, down_for: Duration) {
        self.mark(addr, down_for, "503 Service Unavailable");
    }

    /// A probe was sent; an earlier one still unanswered makes the hop down.
    pub fn probe_sent(&self, addr: SocketAddr, seq: u64, m: &Metrics, down_for: Duration) {
        let unanswered = {
            let mut s = lock(&self.state);
            let st = s.entry(addr).or_default();
            st.probe_out.replace((seq, Instant::now())).is_some()
        };
        if unanswered {
            self.unreachable(addr, m, "health probe (OPTIONS) unanswered", down_for);
        }
    }

    /// A probe was answered: up again unless it said 503.
    pub fn probe_answered(&self, addr: SocketAddr, code: u16, down_for: Duration) {
        if code == 503 {
            let mut s = lock(&self.state);
            if let Some(st) = s.get_mut(&addr) {
                st.probe_out = None;
            }
            drop(s);
            self.overloaded(addr, down_for);
            return;
        }
        let mut s = lock(&self.state);
        let st = s.entry(addr).or_default();
        st.probe_out = None;
        st.down_until = None;
    }

    /// Lines to log once per interval: hops with failures, and hops back up.
    pub fn report(&self) -> Vec<String> {
        let now = Instant::now();
        let mut out = Vec::new();
        for (addr, st) in lock(&self.state).iter_mut() {
            let down = st.down_until.is_some_and(|u| now < u);
            if st.failures > 0 {
                out.push(format!(
                    "next hop {addr}: {} failure(s), last: {}; {}",
                    st.failures,
                    st.why,
                    if down {
                        "skipped while another hop is up"
                    } else {
                        "in use again"
                    }
                ));
                st.failures = 0;
            } else if st.logged_down && !down {
                out.push(format!("next hop {addr}: up again"));
            }
            st.logged_down = down;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(p: u16) -> NextHop {
        NextHop {
            tls: false,
            addr: SocketAddr::from(([127, 0, 0, 1], p)),
            tcp: false,
        }
    }

    #[test]
    fn the_first_hop_up_is_chosen() {
        let h = Hops::default();
        let hops = [hop(1), hop(2)];
        let now = Instant::now();
        assert_eq!(h.choose(&hops, now).map(|x| x.0), Some(0));
        let d = Duration::from_secs(60);
        h.overloaded(hops[0].addr, d);
        assert_eq!(h.choose(&hops, Instant::now()).map(|x| x.0), Some(1));
        h.overloaded(hops[1].addr, d);
        assert_eq!(
            h.choose(&hops, Instant::now()).map(|x| x.0),
            Some(0),
            "all down: the first"
        );
        h.probe_answered(hops[0].addr, 200, d);
        assert_eq!(h.choose(&hops, Instant::now()).map(|x| x.0), Some(0));
        assert!(
            h.choose(&hops, Instant::now() + Duration::from_secs(61))
                .is_some()
        );
        let m = Metrics::default();
        h.probe_answered(hops[1].addr, 200, d);
        h.probe_sent(hops[0].addr, 1, &m, d);
        h.probe_sent(hops[0].addr, 2, &m, d);
        assert_eq!(h.choose(&hops, Instant::now()).map(|x| x.0), Some(1));
        assert_eq!(
            m.hop_unreachable.load(std::sync::atomic::Ordering::Relaxed),
            1
        );
        assert_eq!(h.report().len(), 2);
    }
}
