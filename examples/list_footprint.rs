//! Memory and build time of a 10-million-number list, measured from the
//! process's own resident set (/proc/self/statm) around the build.
//!
//! cargo run --release --example list_footprint [NUMBERS]

use std::time::Instant;

#[path = "../benches/support/mod.rs"]
mod common;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    // Baseline before anything is allocated; the generated entries are
    // consumed (and freed) by the build, so what stays is the list.
    let before = rss_bytes();
    let entries = common::number_entries(n, 42);
    let spans = common::span_entries(100_000, 43);
    let mut all = entries;
    all.extend(spans);
    let t = Instant::now();
    let list =
        callscreen::lists::NumberList::build(all, vec![Default::default()], Default::default());
    let built = t.elapsed();
    let after = rss_bytes();
    let (numbers, prefixes, ranges) = list.counts();
    println!("numbers={numbers} prefixes={prefixes} ranges={ranges}");
    println!("build_time_s={:.2}", built.as_secs_f64());
    println!(
        "heap_bytes={} ({:.2} bytes per number)",
        list.heap_bytes(),
        list.heap_bytes() as f64 / numbers as f64
    );
    println!(
        "resident_bytes={} ({:.2} bytes per number: RSS after the build minus RSS before the entries were generated)",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / numbers as f64
    );
}
