//! A list swap under SIP load fails no call, and the new list is in force
//! once the push is acknowledged. (Alone in its test binary, so no other
//! test competes for the 2 cores.)
//!
//! The latency during a swap is a figure, not a pass/fail here: `cargo
//! test` runs on a debug build next to other work. `bench/swap_latency.sh`
//! runs the ignored test below on the release build and prints the ratio
//! (BENCHMARKS.md records it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::support::*;

const TOKEN: &str = "ops-token-for-load-tests";
/// In the list of salt 2 (pushed during the load), not in that of salt 1.
const ONLY_IN_NEW: &str = "+31600000002";

fn p99(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[(v.len() - 1) * 99 / 100]
}

struct Swap {
    before: Vec<u64>,
    during: Vec<u64>,
}

/// 2 000 calls, then a 100 000-number push with calls running until it is
/// acknowledged; asserts that every call was answered and that the new list
/// is in force. Latencies in µs.
fn swap_under_load(name: &str) -> Swap {
    let dir = temp_dir(name);
    // A call shed is let through unscreened, with no NOC line: no test of
    // the list in force. Calls here come faster than the SBC's default
    // peer may make them (`peer_calls_per_sec` 2000, `peer_burst` 4000),
    // and may wait long in the kernel's queue while the push parses on a
    // busy machine; so neither sheds here (shedding has tests of its own).
    let api_config = ops_api_config(&dir.join("state"), 2, TOKEN).replace(
        "udp_threads = 2\n",
        "udp_threads = 2\nshed_queue_age_ms = 60000\npeer_calls_per_sec = 0\n",
    );
    let cfg = config(&dir, &api_config);
    let d = Daemon::start_config(dir.clone(), cfg, &[]);
    let api = api_addr(&d);
    // A list of some size, so that parsing and building take a while.
    assert_eq!(
        put_list(api, TOKEN, "scam-origins", &scam_list(2, 100_000, 1)),
        200
    );
    let to = d.udp;
    let c = udp_client("127.0.0.1:0");
    assert_eq!(
        status(&udp_ask(&c, to, &invite("old-list", ONLY_IN_NEW, "")).expect("an answer")),
        302,
        "not in the old list"
    );
    let calls = |n: usize, tag: &str, stop: Option<&AtomicBool>| {
        let c = udp_client("127.0.0.1:0");
        let mut lat = Vec::new();
        let mut failed = 0;
        for i in 0..n {
            if stop.is_some_and(|s| s.load(Ordering::SeqCst)) && i > 200 {
                break;
            }
            let t = Instant::now();
            match udp_ask(&c, to, &invite(&format!("{tag}-{i}"), "+31201234568", "")) {
                Some(r) if status(&r) == 302 => lat.push(t.elapsed().as_micros() as u64),
                _ => failed += 1,
            }
        }
        (lat, failed)
    };
    let (before, failed_before) = calls(2000, "before", None);
    assert_eq!(failed_before, 0);
    let done = Arc::new(AtomicBool::new(false));
    let pusher = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let s = put_list(api, TOKEN, "scam-origins", &scam_list(3, 100_000, 2));
            done.store(true, Ordering::SeqCst);
            s
        })
    };
    // Calls run until the push is acknowledged (at least 200, at most 100 000).
    let (during, failed_during) = calls(100_000, "during", Some(&done));
    assert_eq!(pusher.join().unwrap(), 200);
    assert_eq!(failed_during, 0, "no call failed during the swap");
    assert!(during.len() > 200, "calls ran during the swap");
    assert_eq!(
        status(&udp_ask(&c, to, &invite("new-list", ONLY_IN_NEW, "")).expect("an answer")),
        608,
        "the acknowledged list is in force"
    );
    Swap { before, during }
}

#[test]
fn a_swap_under_sip_load_fails_no_call() {
    swap_under_load("api-swap");
}

/// The figure for BENCHMARKS.md (`bench/swap_latency.sh`, release build).
#[test]
#[ignore = "a latency figure: bench/swap_latency.sh runs it on the release build"]
fn swap_latency_ratio() {
    let s = swap_under_load("api-swap-latency");
    let (p_before, p_during) = (p99(s.before), p99(s.during.clone()));
    println!(
        "p99 before {p_before} µs, during the swap {p_during} µs ({:.2}x), {} calls during",
        p_during as f64 / p_before.max(1) as f64,
        s.during.len()
    );
    // The bound (#2): at most twice the p99 before the swap. A floor
    // of 200 µs on the reference keeps scheduler noise out of a
    // sub-millisecond comparison.
    assert!(
        p_during <= 2 * p_before.max(200),
        "p99 during the swap {p_during} µs > 2 x {p_before} µs"
    );
}
