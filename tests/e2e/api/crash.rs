//! A crash in the middle of a stream of pushes loses no acknowledged
//! version and tears no file.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::support::*;

const TOKEN: &str = "ops-token-for-load-tests";

#[test]
fn a_kill_during_pushes_loses_no_acknowledged_version_and_tears_no_file() {
    let dir = temp_dir("api-crash");
    let state = dir.join("state");
    let cfg = config(&dir, &ops_api_config(&state, 1, TOKEN));
    let mut d = Daemon::start_config(dir.clone(), cfg.clone(), &[]);
    let api = api_addr(&d);
    let acked = Arc::new(AtomicU64::new(1));
    let pusher = {
        let acked = Arc::clone(&acked);
        std::thread::spawn(move || {
            // Bounded: at most 200 versions; it stops when the daemon is gone.
            for v in 2..200u64 {
                match put_list(api, TOKEN, "scam-origins", &scam_list(v, 2000, v)) {
                    200 => acked.store(v, Ordering::SeqCst),
                    0 => break,
                    other => panic!("push {v}: {other}"),
                }
            }
        })
    };
    // Kill -9 once a few versions are in, while the next ones are in flight.
    let deadline = Instant::now() + TIMEOUT;
    while acked.load(Ordering::SeqCst) < 6 {
        assert!(Instant::now() < deadline, "pushes did not progress");
        std::thread::yield_now();
    }
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    pusher.join().unwrap();
    let last_acked = acked.load(Ordering::SeqCst);
    // Every stored file is whole: it parses, and its header names its version.
    for e in std::fs::read_dir(&state).unwrap() {
        let p = e.unwrap().path();
        let f = p.file_name().unwrap().to_string_lossy().into_owned();
        if f.starts_with('.') {
            continue; // a temporary file of an unacknowledged push: never loaded
        }
        if let Some(v) = f
            .strip_prefix("scam-origins.")
            .and_then(|r| r.strip_suffix(".sha256"))
        {
            // A checksum is whole (it names a version whose text may not have
            // been renamed into place yet: then it is unused).
            let sum = std::fs::read_to_string(&p).unwrap();
            assert!(
                sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()),
                "{f} is torn"
            );
            assert!(v.parse::<u64>().is_ok(), "{f}");
            continue;
        }
        if f == "scam-origins.history" {
            // The history: every line whole, the acknowledged versions in it.
            let h = callscreen::store::History::read(&state, "scam-origins").unwrap();
            assert_eq!(h.damaged(), 0, "a line of the history is torn");
            let last = h.last().map_or(0, |e| e.version);
            assert!(last >= acked.load(Ordering::SeqCst), "{last} recorded");
            continue;
        }
        if let Some(v) = f
            .strip_prefix("scam-origins.")
            .and_then(|r| r.strip_suffix(".snap"))
        {
            // A snapshot, when there is one, is whole too.
            let l = callscreen::lists::snapshot::decode(&std::fs::read(&p).unwrap())
                .unwrap_or_else(|| panic!("{f} is torn"));
            assert_eq!(l.version.to_string(), v);
            continue;
        }
        let v: u64 = f
            .strip_prefix("scam-origins.")
            .and_then(|r| r.strip_suffix(".list"))
            .unwrap()
            .parse()
            .unwrap();
        let body = std::fs::read(&p).unwrap();
        let parsed = callscreen::lists::parse(
            &body,
            callscreen::lists::ListKind::Numbers,
            Default::default(),
        )
        .unwrap_or_else(|e| panic!("{f} is torn: {e}"));
        assert_eq!(parsed.version, v, "{f}");
    }
    let temp_files = || -> Vec<String> {
        std::fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".tmp"))
            .collect()
    };
    let left_by_the_kill = temp_files();
    // After a restart, the newest acknowledged version (or a later one) is in force.
    let d = Daemon::start_config(dir.clone(), cfg, &[]);
    let c = udp_client("127.0.0.1:0");
    let r = udp_ask(&c, d.udp, &invite("crash-1", "+31201234567", "")).unwrap();
    assert_eq!(status(&r), 608);
    let line = d.noc_line("crash-1");
    let v: u64 = line
        .split("lists=scam-origins@")
        .nth(1)
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        v >= last_acked,
        "version {v} in force, {last_acked} was acknowledged"
    );
    // The temporary files the kill left are gone after the restart (the
    // restart may be writing a snapshot of its own meanwhile).
    let now = temp_files();
    let kept: Vec<&String> = left_by_the_kill
        .iter()
        .filter(|f| now.contains(f))
        .collect();
    assert!(
        kept.is_empty(),
        "temporary files of the kill left: {kept:?} (of {left_by_the_kill:?})"
    );
}
