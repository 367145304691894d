//! The NOC log's queue: a journal that stops reading never slows a call;
//! the lines it could not take are dropped whole and counted.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn a_stalled_log_reader_loses_lines_not_calls() {
    let dir = temp_dir("noc-log");
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\npeer_calls_per_sec = 0\n\
         [log]\nqueue_lines = 1024\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         [bursts]\ncalls_per_number = 0\ncalls_per_block = 0\n",
        dir.join("state").display()
    );
    let cfg = config(&dir, &extra);
    // stdout is a pipe nobody reads (until the end): it fills at 64 KiB.
    let mut child = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("callscreen");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut ready = String::new();
    while !ready.starts_with("callscreen ready:") {
        ready.clear();
        assert!(
            err.read_line(&mut ready).expect("stderr") > 0,
            "no ready line"
        );
    }
    let field = |k: &str| {
        ready
            .split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse::<std::net::SocketAddr>().ok())
            .expect("an address")
    };
    let (udp, api) = (field("udp="), field("api="));
    let c = udp_client("127.0.0.1:0");
    let t = Instant::now();
    for i in 0..4000 {
        let a = udp_ask(
            &c,
            udp,
            &invite(&format!("stalled-{i}"), "+31201234567", ""),
        );
        assert!(
            a.is_some_and(|a| status(&a) == 608),
            "call {i} not answered"
        );
    }
    let took = t.elapsed();
    // Counted (the metric is refreshed every 10 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let dropped = loop {
        let (_, m) = http(api, "GET", "/metrics", None, None, b"");
        let d: u64 = m
            .lines()
            .find_map(|l| l.strip_prefix("callscreen_log_lines_dropped_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if d > 0 || Instant::now() > deadline {
            break d;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // 4000 lines, the pipe holds a few hundred and the queue 1024.
    assert!(dropped >= 2000, "{dropped} dropped");
    // What did reach the pipe is whole lines, in order.
    let _ = child.kill();
    let mut out = String::new();
    let _ = child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out);
    let _ = child.wait();
    // Whole lines (the kill may cut the one being written).
    let lines: Vec<&str> = out
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n') && l.contains(" call "))
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(
            l.contains("verdict=reject") && l.contains("direction="),
            "{l:?}"
        );
    }
    assert!(
        lines.len() as u64 + dropped <= 4000 + 10,
        "{} written, {dropped} dropped",
        lines.len()
    );
    eprintln!(
        "4000 calls in {took:?}: {} lines written, {dropped} dropped",
        lines.len()
    );
}
