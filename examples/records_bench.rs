//! Call records measured (BENCHMARKS.md "Call records"): generates
//! records as a busy node writes them (random 16-byte Call-IDs in hex,
//! Dutch and foreign callers from a pool of a million, subscribers from a
//! pool of 200 000, five peers, one call in 50 rejected), seals them into
//! Parquet segments as the daemon does (`records::file::write`), and
//! reports bytes per record (data and Bloom filters apart), CPU per record
//! sealed, and the time to find a call by reference and by caller.
//!
//! cargo run --release --example records_bench -- DIR RECORDS [SEGMENT]
//! (RECORDS 0: only the searches, over what DIR holds)
//! cargo run --release --example records_bench -- DIR whatif NUMBERS
//! (what-if: a candidate scam-origins of NUMBERS numbers, one in OVERLAP
//! (100) a caller of the generated calls, against every call DIR holds,
//! decided with the example configuration on every core)

use std::time::Instant;

use callscreen::records::Record;
use callscreen::records::file::{self, Segment};

/// xorshift64*: reproducible, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn caller(i: u64) -> String {
    match i % 10 {
        0..=4 => format!("+316{:08}", 10_000_000 + i * 37 % 89_999_999),
        5..=7 => format!("+3120{:07}", 1_000_000 + i * 53 % 8_999_999),
        8 => format!("+4930{:08}", 10_000_000 + i * 71 % 89_999_999),
        _ => format!("+44207{:07}", 1_000_000 + i * 29 % 8_999_999),
    }
}

fn record(rng: &mut Rng, t: u64) -> Record {
    // The example configuration's peers (the what-if decides with it).
    let peers = [
        "kpn-interconnect",
        "intl-carrier-1",
        "intl-carrier-2",
        "roaming-hub",
        "business-trunk",
    ];
    let c = rng.below(1_000_000);
    let reject = rng.below(50) == 0;
    let call_id = format!("{:016x}{:016x}", rng.next(), rng.next());
    let reference = reject.then(|| format!("{:010X}", rng.next() % 0xFF_FFFF_FFFF));
    let peer = peers[rng.below(5) as usize];
    Record {
        time_ms: t,
        call_id,
        reference,
        peer: peer.into(),
        source: Some(format!("192.0.2.{}", 10 + rng.below(5))),
        direction: "terminating".into(),
        caller: caller(c),
        caller_name: (rng.below(4) == 0).then(|| "Caller".into()),
        pai: (rng.below(3) == 0).then(|| caller(c)),
        pai_name: None,
        callee: Some(format!("+3110{:07}", 1_000_000 + rng.below(200_000))),
        to: None,
        emergency: false,
        diverted: false,
        passport: None,
        stir: None,
        insisted: false,
        burst_number: 1 + rng.below(3) as u32,
        burst_block: 1 + rng.below(5) as u32,
        roaming: None,
        verdict: if reject { "reject" } else { "allow" }.into(),
        code: if reject { 608 } else { 302 },
        reasons: if reject { "list:scam-origins" } else { "-" }.into(),
        lists: if reject { "scam-origins@41" } else { "-" }.into(),
        verstat: None,
        latency_us: 10 + rng.below(40) as u32,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("DIR"));
    if args.get(2).map(String::as_str) == Some("whatif") {
        let k: u64 = args.get(3).and_then(|s| s.parse().ok()).expect("NUMBERS");
        return whatif(&dir, k);
    }
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).expect("RECORDS");
    let seg: u64 = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    std::fs::create_dir_all(&dir).expect("DIR");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // 100 000 calls/s: a record every 10 µs.
    let t0 = 1_796_000_000_000u64;
    let (mut made, mut gen_ns, mut seal_ns, mut bytes, mut bloom) =
        (0u64, 0u128, 0u128, 0u64, 0u64);
    let mut probe = Vec::new();
    let mut g = 0;
    while made < n {
        let k = seg.min(n - made);
        let s = Instant::now();
        let recs: Vec<Record> = (0..k)
            .map(|i| record(&mut rng, t0 + (made + i) / 100))
            .collect();
        gen_ns += s.elapsed().as_nanos();
        if let Some(r) = recs.iter().find(|r| r.reference.is_some()) {
            probe.push(r.clone());
        }
        g += 1;
        let name = format!(
            "seg-{g:010}-{}-{}.parquet",
            recs[0].time_ms,
            recs[recs.len() - 1].time_ms
        );
        // As the daemon has them: a staging log's bytes, sealed.
        let mut stage = Vec::new();
        for r in &recs {
            callscreen::records::row::encode_record(&mut stage, r);
        }
        let s = Instant::now();
        let (rows, _) = callscreen::records::row::Stage::parse(stage);
        let f = file::write(&dir.join(&name), &rows).expect("write");
        f.sync_all().expect("sync");
        seal_ns += s.elapsed().as_nanos();
        bytes += f.metadata().map(|m| m.len()).unwrap_or(0);
        let seg = Segment::open(&dir.join(&name)).expect("open");
        bloom += seg.bloom_bytes();
        made += k;
    }
    if n == 0 {
        // Only the searches: a rejected call from the middle of what DIR holds.
        let l = callscreen::records::store::list(&dir).expect("DIR");
        let s = &l.segments[l.segments.len() / 2];
        let seg = Segment::open(&s.path).expect("a segment");
        let rows = seg.read(seg.row_groups() / 2).expect("a row group");
        probe.extend(rows.into_iter().find(|r| r.reference.is_some()));
        println!("searching {} segments", l.segments.len());
    } else {
        let per = |x: f64| x / n as f64;
        println!(
            "records {n} in {g} segments: {:.1} bytes/record on disk ({:.1} data, {:.1} Bloom filters); sealing {:.2} µs/record (one core)",
            per(bytes as f64),
            per((bytes - bloom) as f64),
            per(bloom as f64),
            per(seal_ns as f64) / 1000.0,
        );
    }
    let _ = gen_ns;
    // Finding: by reference and by caller, over every segment.
    let p = probe.last().expect("a rejected call");
    for (what, q) in [
        (
            "ref",
            format!("ref={}", p.reference.clone().unwrap_or_default()),
        ),
        ("caller", format!("caller={}", p.caller.replace('+', "%2B"))),
        ("call_id", format!("call_id={}", p.call_id)),
    ] {
        let s = Instant::now();
        let search = callscreen::records::query::search(Some(&q), u64::MAX).expect("a query");
        let found = callscreen::records::query::run(
            &dir,
            &callscreen::records::query::Search {
                limit: 1000,
                ..search
            },
        )
        .expect("found");
        println!(
            "find by {what}: {} calls in {:.3} s ({} row groups read)",
            found.records.len(),
            s.elapsed().as_secs_f64(),
            found.groups_read
        );
    }
}

fn whatif(dir: &std::path::Path, k: u64) {
    let root = env!("CARGO_MANIFEST_DIR");
    let settings = callscreen::config::load(std::path::Path::new(&format!(
        "{root}/config/callscreen.toml"
    )))
    .expect("the example configuration");
    let loaded = callscreen::loader::Loaded::start(settings, None)
        .expect("the example lists")
        .loaded;
    let spec = loaded
        .settings
        .lists
        .iter()
        .find(|s| s.name == "scam-origins")
        .expect("scam-origins")
        .clone();
    // Of the candidate, one number in `overlap` is a caller of the
    // generated calls; the rest are numbers nobody called.
    let overlap: u64 = std::env::var("OVERLAP")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let mut body = String::from("# callscreen list v1 name=scam-origins version=999\n");
    for i in 0..k {
        let n = if i % overlap == 0 {
            caller(i)
        } else {
            format!("+3185{:08}", i)
        };
        body.push_str(&n);
        body.push('\n');
    }
    let s = Instant::now();
    let cand = callscreen::loader::build_list(&spec, body.as_bytes(), loaded.settings.guard)
        .expect("the candidate");
    let built = s.elapsed().as_secs_f64();
    let set = loaded.lists.with_list(std::sync::Arc::new(cand));
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let s = Instant::now();
    let r = callscreen::records::whatif::whatif(
        dir,
        &loaded.settings.policy,
        &loaded.lists,
        &set,
        0,
        u64::MAX,
        threads,
    )
    .expect("the what-if");
    println!(
        "whatif: {} numbers (built in {built:.2} s) against {} calls on {threads} threads: {:.1} s; newly rejected {} calls from {} callers, newly passed {}, other changes {}, undecidable {}",
        k,
        r.calls,
        s.elapsed().as_secs_f64(),
        r.newly_rejected.calls,
        r.newly_rejected.callers,
        r.newly_passed.calls,
        r.other_changes,
        r.undecidable,
    );
}
