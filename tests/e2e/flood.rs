//! Floods (issue #11): one peer flooding as fast as one thread here can
//! send while another peer calls; and a flood through the SBC under one
//! trunk id while another trunk calls. The calm callers' calls must be
//! answered, and answered right (a listed caller rejected, a clean one
//! redirected); the share and the p99 are printed, not asserted (a speed
//! is a benchmark's business: `bench/flood.sh` on the release build).

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;

const CLEAN: &str = "+31201234568";
const LISTED: &str = "+31201234567";

fn start(name: &str) -> (Daemon, SocketAddr) {
    start_with(name, "")
}

fn start_with(name: &str, sip: &str) -> (Daemon, SocketAddr) {
    let dir = temp_dir(name);
    // The calls model load, not callers: hundreds a second from two numbers
    // would be bursts (`[bursts]`, tested in tests/e2e/burst.rs), so none are
    // counted here.
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 2\n{sip}\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         [[peers]]\nname = \"flooder\"\naddresses = [\"127.0.0.4/32\"]\nscope = \"domestic\"\ncalls_per_sec = 100\nburst = 100\n\
         [[peers]]\nname = \"calm\"\naddresses = [\"127.0.0.5/32\"]\nscope = \"domestic\"\n\
         [[peers]]\nname = \"wide\"\naddresses = [\"127.0.9.0/24\"]\nscope = \"domestic\"\n\
         [[peers]]\nname = \"t-flood\"\ntrunk_ids = [\"t-flood\"]\nscope = \"domestic\"\ncalls_per_sec = 100\nburst = 100\n\
         [[peers]]\nname = \"t-calm\"\ntrunk_ids = [\"t-calm\"]\nscope = \"domestic\"\n\
         [bursts]\ncalls_per_number = 0\ncalls_per_block = 0\n",
        dir.join("state").display()
    );
    let cfg = config(&dir, &extra);
    let d = Daemon::start_config(dir, cfg, &[]);
    let api = api_addr(&d);
    (d, api)
}

/// What the flooder saw come back.
#[derive(Default)]
struct Seen {
    sent: AtomicU64,
    answers: AtomicU64,
    /// 503s, and answers with Retry-After: an SBC must never get them.
    unavailable: AtomicU64,
}

/// Floods `to` from `from` with INVITEs (unique Call-IDs, `extra` headers)
/// until `stop`, at most `per_sec` a second (0: as fast as it can), and
/// reads what comes back.
fn flood(
    from: &str,
    to: SocketAddr,
    extra: &'static str,
    per_sec: u64,
    stop: Arc<AtomicBool>,
) -> (Arc<Seen>, Vec<std::thread::JoinHandle<()>>) {
    let seen = Arc::new(Seen::default());
    let sock = Arc::new(UdpSocket::bind(from).expect("a loopback address"));
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("a timeout");
    let sender = {
        let (sock, stop, seen) = (Arc::clone(&sock), Arc::clone(&stop), Arc::clone(&seen));
        std::thread::spawn(move || {
            let mut msg = invite("flood-0000000000", CLEAN, extra);
            let slots: Vec<usize> = msg
                .windows(10)
                .enumerate()
                .filter(|(_, w)| *w == b"0000000000")
                .map(|(i, _)| i)
                .collect();
            let t0 = Instant::now();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let digits = format!("{n:010}");
                for &s in &slots {
                    msg[s..s + 10].copy_from_slice(digits.as_bytes());
                }
                let _ = sock.send_to(&msg, to);
                if let Some(ns) = (n * 1_000_000_000).checked_div(per_sec) {
                    let due = t0 + Duration::from_nanos(ns);
                    if let Some(w) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(w);
                    }
                }
            }
            seen.sent.store(n, Ordering::Relaxed);
        })
    };
    let reader = {
        let (sock, stop, seen) = (sock, stop, Arc::clone(&seen));
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    let r = String::from_utf8_lossy(&buf[..n]);
                    seen.answers.fetch_add(1, Ordering::Relaxed);
                    if status(&r) == 503 || header(&r, "Retry-After").is_some() {
                        seen.unavailable.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    (seen, vec![sender, reader])
}

/// `calls` calls from `from`, one every `gap`, alternating a listed and a
/// clean caller; each retransmitted once after 500 ms (RFC 3261 T1) and
/// given 2 s in all. (answered right, latencies in µs.)
fn calm_calls(
    from: &str,
    to: SocketAddr,
    extra: &str,
    tag: &str,
    calls: usize,
    gap: Duration,
    give_up_after: usize,
) -> Calm {
    let c = udp_client(from);
    c.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a timeout");
    let mut right = 0;
    let mut wrong = 0;
    let mut attempted = 0;
    let mut lat = Vec::new();
    let t0 = Instant::now();
    let mut buf = vec![0u8; 65536];
    for i in 0..calls {
        let due = t0 + gap * i as u32;
        if let Some(w) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(w);
        }
        let (caller, want) = if i % 2 == 0 {
            (LISTED, 608)
        } else {
            (CLEAN, 302)
        };
        let call_id = format!("{tag}-{i}");
        attempted += 1;
        let msg = invite(&call_id, caller, extra);
        let start = Instant::now();
        let _ = c.send_to(&msg, to);
        let mut got = None;
        while got.is_none() && start.elapsed() < Duration::from_secs(2) {
            match c.recv_from(&mut buf) {
                Ok((n, _)) => {
                    let r = String::from_utf8_lossy(&buf[..n]).into_owned();
                    // An answer to an earlier call that came late is not this one's.
                    if header(&r, "Call-ID") == Some(call_id.as_str()) {
                        got = Some(r);
                    }
                }
                Err(_) => {
                    let _ = c.send_to(&msg, to);
                }
            }
        }
        if let Some(r) = got {
            lat.push(start.elapsed().as_micros() as u64);
            if status(&r) == want {
                right += 1;
            } else {
                wrong += 1;
                eprintln!("{call_id}: {} (wanted {want})", status(&r));
            }
        }
        if i + 1 - right > give_up_after {
            // Already failed: stop rather than wait 2 s for each of the rest.
            eprintln!("{tag}: stopped after {} calls, {right} right", i + 1);
            break;
        }
    }
    Calm {
        right,
        wrong,
        attempted,
        lat,
    }
}

/// What the calm caller saw: calls answered right, answered wrong (a
/// verdict other than the caller's), attempted, and each answer's latency.
struct Calm {
    right: usize,
    wrong: usize,
    attempted: usize,
    lat: Vec<u64>,
}

fn p99(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or(0)
}

fn shed(api: SocketAddr, peer: &str) -> u64 {
    let (_, text) = http(api, "GET", "/metrics", None, None, b"");
    let key = format!("callscreen_shed_limit_total{{peer=\"{peer}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in /metrics"))
}

#[test]
fn a_flooding_peer_does_not_starve_another() {
    let (d, api) = start("flood-peer");
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, threads) = flood("127.0.0.4:0", d.udp, "", 0, Arc::clone(&stop));
    // 400 calls at 100/s from the calm peer while the flood runs.
    let Calm {
        right, wrong, lat, ..
    } = calm_calls(
        "127.0.0.5:0",
        d.udp,
        "",
        "calm",
        400,
        Duration::from_millis(10),
        8,
    );
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let sent = seen.sent.load(Ordering::Relaxed);
    println!(
        "peer flood: {sent} INVITEs sent by the flooder ({} answered); calm peer: {right}/400 answered right, p99 {} µs",
        seen.answers.load(Ordering::Relaxed),
        p99(lat)
    );
    assert_eq!(wrong, 0, "calm calls answered wrong");
    assert!(
        right >= 396,
        "only {right} of 400 calm calls answered right"
    );
    assert!(shed(api, "flooder") > 0, "the flooder was over its limit");
    assert_eq!(shed(api, "calm"), 0);
    // Every calm call has its NOC line, screened as usual.
    assert!(d.noc_line("calm-0").contains("verdict=reject"));
    assert!(d.noc_line("calm-399").contains("verdict=allow"));
}

#[test]
fn a_flood_under_one_trunk_leaves_the_others_calling_and_the_sbc_is_never_told_503() {
    let (d, api) = start("flood-trunk");
    let stop = Arc::new(AtomicBool::new(false));
    // The SBC (127.0.0.1) passes on a surge of 5 000 calls/s under one trunk id.
    let (seen, threads) = flood(
        "127.0.0.1:0",
        d.udp,
        "X-Ingress-Trunk: t-flood\r\n",
        5_000,
        Arc::clone(&stop),
    );
    let Calm {
        right, wrong, lat, ..
    } = calm_calls(
        "127.0.0.1:0",
        d.udp,
        "X-Ingress-Trunk: t-calm\r\n",
        "trunk-calm",
        400,
        Duration::from_millis(10),
        40,
    );
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let (sent, answers) = (
        seen.sent.load(Ordering::Relaxed),
        seen.answers.load(Ordering::Relaxed),
    );
    println!(
        "trunk flood: {sent} INVITEs sent under t-flood ({answers} answered); t-calm: {right}/400 answered right, p99 {} µs",
        p99(lat)
    );
    // What load cannot change: no calm call is answered wrong or shed (its
    // trunk is under its limit), the SBC never gets a 503. Both trunks share
    // the SBC's one queue, so a machine too busy to read it in time drops
    // datagrams of either; retransmitted, nearly all calm calls still get
    // through (the rates are `bench/flood.sh`'s business).
    assert_eq!(wrong, 0, "calm calls answered wrong");
    assert!(right >= 360, "only {right} of 400 calm calls answered");
    assert!(answers > 0, "the flood's calls are answered too");
    assert_eq!(
        seen.unavailable.load(Ordering::Relaxed),
        0,
        "the SBC got a 503 or a Retry-After"
    );
    let flood_shed = shed(api, "t-flood");
    assert!(flood_shed > 0, "t-flood was over its limit");
    assert_eq!(shed(api, "t-calm"), 0);
    // Over the limit the calls were let through unscreened: a 302, no NOC line.
    assert!(d.noc_line("trunk-calm-1").contains("peer=t-calm"));
}

#[test]
fn over_limit_answers_as_the_peer_says_and_emergency_calls_are_never_limited() {
    let dir = temp_dir("flood-over");
    let extra = "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [[peers]]\nname = \"strict\"\naddresses = [\"127.0.0.4/32\"]\nscope = \"domestic\"\ncalls_per_sec = 1\nburst = 2\nover_limit = \"reject\"\nover_limit_code = 486\n\
         [[peers]]\nname = \"quiet\"\naddresses = [\"127.0.0.5/32\"]\nscope = \"domestic\"\ncalls_per_sec = 1\nburst = 1\nover_limit = \"drop\"\n\
         [[peers]]\nname = \"open\"\naddresses = [\"127.0.0.6/32\"]\nscope = \"domestic\"\ncalls_per_sec = 1\nburst = 1\n";
    let cfg = config(&dir, extra);
    let d = Daemon::start_config(dir, cfg, &[]);
    let ask = |c: &UdpSocket, id: &str, caller: &str| {
        udp_ask(c, d.udp, &invite(id, caller, "")).map(|r| status(&r))
    };
    let strict = udp_client("127.0.0.4:0");
    assert_eq!(ask(&strict, "strict-1", LISTED), Some(608));
    assert_eq!(ask(&strict, "strict-2", LISTED), Some(608));
    assert_eq!(
        ask(&strict, "strict-3", LISTED),
        Some(486),
        "over the limit"
    );
    // An emergency call is never limited.
    let sos = "INVITE sip:112@cs.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.4:5099;branch=z9hG4bK-sos1;rport\r\nMax-Forwards: 70\r\nFrom: <sip:+31201234568@carrier.example>;tag=f1\r\nTo: <sip:112@cs.example>\r\nCall-ID: sos-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let r = udp_ask(&strict, d.udp, sos.as_bytes()).expect("an answer");
    assert_eq!(status(&r), 302, "{r}");
    // One name (issue #31, item 8): allow, for the reason emergency.
    let line = d.noc_line("sos-1");
    assert!(
        line.contains("verdict=allow code=302 reasons=emergency"),
        "{line}"
    );
    // "drop": no answer at all.
    let quiet = udp_client("127.0.0.5:0");
    quiet
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("a timeout");
    assert_eq!(ask(&quiet, "quiet-1", LISTED), Some(608));
    assert_eq!(ask(&quiet, "quiet-2", LISTED), None, "dropped");
    // "pass" (the default): the fail-open answer, unscreened and untagged.
    let open = udp_client("127.0.0.6:0");
    assert_eq!(ask(&open, "open-1", LISTED), Some(608));
    let r = udp_ask(&open, d.udp, &invite("open-2", LISTED, "")).expect("an answer");
    assert_eq!(status(&r), 302, "let through unscreened: {r}");
    assert!(header(&r, "X-Callscreen").is_none(), "untagged: {r}");
}

#[test]
fn a_peer_limit_must_name_a_real_answer() {
    let dir = temp_dir("flood-config");
    let cfg = config(
        &dir,
        "[[peers]]\nname = \"p\"\naddresses = [\"127.0.0.4/32\"]\nscope = \"domestic\"\nover_limit = \"reject\"\nover_limit_code = 503\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .expect("callscreen runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("over_limit_code"), "{err}");
    assert!(err.contains("RFC 3261 §21.5.4"), "{err}");
}

/// Freezes the daemon so that what is sent waits in the kernel's queues:
/// returns once every thread of it is stopped (state T).
fn freeze(d: &Daemon) {
    d.signal("STOP");
    let stopped = || {
        std::fs::read_dir(format!("/proc/{}/task", d.child.id()))
            .map(|tasks| {
                tasks.flatten().all(|t| {
                    std::fs::read_to_string(t.path().join("stat"))
                        .ok()
                        .and_then(|st| st.rsplit_once(") ").map(|(_, r)| r.starts_with('T')))
                        .unwrap_or(false)
                })
            })
            .unwrap_or(false)
    };
    let t0 = std::time::Instant::now();
    while !stopped() {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the daemon never stopped"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn calls_that_queued_too_long_are_let_through_unscreened_and_options_get_503() {
    let (d, api) = start("flood-age");
    let c = udp_client("127.0.0.5:0");
    freeze(&d);
    let sos = "INVITE sip:112@cs.example SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.5:5099;branch=z9hG4bK-aged-sos;rport\r\nMax-Forwards: 70\r\nFrom: <sip:+31201234567@carrier.example>;tag=f1\r\nTo: <sip:112@cs.example>\r\nCall-ID: aged-sos\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    for m in [
        invite("aged-listed", LISTED, ""),
        options("aged-options"),
        sos.as_bytes().to_vec(),
    ] {
        c.send_to(&m, d.udp).expect("sent");
    }
    std::thread::sleep(Duration::from_millis(300));
    d.signal("CONT");
    let mut answers = std::collections::HashMap::new();
    let mut buf = vec![0u8; 65536];
    while answers.len() < 3 {
        let (n, _) = c.recv_from(&mut buf).expect("three answers");
        let r = String::from_utf8_lossy(&buf[..n]).into_owned();
        let id = header(&r, "Call-ID").unwrap_or_default().to_string();
        answers.insert(id, r);
    }
    // Over shed_queue_age_ms (100): the listed caller's INVITE is let
    // through unscreened (fail open), the OPTIONS says 503, no Retry-After.
    let listed = &answers["aged-listed"];
    assert_eq!(status(listed), 302, "{listed}");
    let opt = &answers["aged-options"];
    assert_eq!(status(opt), 503, "{opt}");
    assert!(header(opt, "Retry-After").is_none(), "{opt}");
    // The emergency call is never shed: screened, with its NOC line.
    assert_eq!(status(&answers["aged-sos"]), 302);
    assert!(d.noc_line("aged-sos").contains("verdict="));
    let (_, m) = http(api, "GET", "/metrics", None, None, b"");
    assert!(
        m.lines().any(|l| l == "callscreen_shed_queue_age_total 2"),
        "{m}"
    );
    // Fresh calls are screened again.
    let r = udp_ask(&c, d.udp, &invite("fresh-listed", LISTED, "")).expect("an answer");
    assert_eq!(status(&r), 608, "{r}");
}

#[test]
fn an_unknown_source_gets_a_few_403s_and_then_silence() {
    let (d, api) = start("flood-unknown");
    // 127.0.0.3 is neither an SBC nor a peer.
    let c = udp_client("127.0.0.3:0");
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("a timeout");
    for i in 0..200 {
        c.send_to(&invite(&format!("unknown-{i}"), CLEAN, ""), d.udp)
            .expect("sent");
    }
    let mut forbidden = 0;
    let mut buf = vec![0u8; 65536];
    while let Ok((n, _)) = c.recv_from(&mut buf) {
        let r = String::from_utf8_lossy(&buf[..n]);
        assert_eq!(status(&r), 403, "{r}");
        forbidden += 1;
    }
    // unknown_source_per_sec = 20 (the default), as many in a burst.
    // (Refilled at 20/s while the daemon reads the 200: a loaded machine may
    // take a second over them.)
    assert!((20..=40).contains(&forbidden), "{forbidden} answered");
    let (_, m) = http(api, "GET", "/metrics", None, None, b"");
    assert!(
        m.lines()
            .any(|l| l == "callscreen_unknown_source_total 200"),
        "every one counted: {m}"
    );
    // A configured peer still calls.
    let calm = udp_client("127.0.0.5:0");
    let r = udp_ask(&calm, d.udp, &invite("after-unknown", LISTED, "")).expect("an answer");
    assert_eq!(status(&r), 608);
}

/// The daemon for a figure: with its queues per peer and network, or
/// (`CALLSCREEN_FLOOD_QUEUES=off`) with one shared queue; and which.
fn figures_daemon(name: &str) -> (Daemon, SocketAddr, bool) {
    let shared = std::env::var("CALLSCREEN_FLOOD_QUEUES").is_ok_and(|v| v == "off");
    let sip = if shared {
        "udp_queue_per_peer = false\n"
    } else {
        ""
    };
    let (d, api) = start_with(name, sip);
    (d, api, shared)
}

/// The figures for BENCHMARKS.md and the README (`bench/flood.sh`, release
/// build): the aim is one peer flooding as fast as this machine can
/// send while another sends 2 000 calls (200/s for 10 s), at least 99.9 %
/// of those answered right and their p99 at most 5 ms.
/// `CALLSCREEN_FLOOD_QUEUES=off` measures the same with one shared queue.
#[test]
#[ignore = "a figure: bench/flood.sh runs it on the release build"]
fn flood_figures() {
    let (d, api, shared) = figures_daemon("flood-figures");
    let stop = Arc::new(AtomicBool::new(false));
    let (seen, threads) = flood("127.0.0.4:0", d.udp, "", 0, Arc::clone(&stop));
    let t0 = Instant::now();
    let Calm {
        right,
        attempted,
        lat,
        ..
    } = calm_calls(
        "127.0.0.5:0",
        d.udp,
        "",
        "calm",
        2000,
        Duration::from_millis(5),
        50,
    );
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let sent = seen.sent.load(Ordering::Relaxed);
    let mut sorted = lat.clone();
    sorted.sort_unstable();
    let pct = |p: usize| {
        sorted
            .get(sorted.len().saturating_sub(1) * p / 100)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "queues={} flood {:.0}/s sent ({} answered, {} shed by limit); calm: {right}/{attempted} answered right ({:.2} %; 2000 planned, given up after 50 failures), p50 {} µs, p99 {} µs, max {} µs (answered calls)",
        if shared { "shared" } else { "per-peer" },
        sent as f64 / took.as_secs_f64(),
        seen.answers.load(Ordering::Relaxed),
        shed(api, "flooder"),
        100.0 * right as f64 / attempted.max(1) as f64,
        pct(50),
        pct(99),
        sorted.last().copied().unwrap_or(0),
    );
}

/// Issue #30, item 4: a peer that sends from ports it closes at once makes
/// the kernel queue ICMP errors (`ECONNREFUSED`) on that peer's connected
/// UDP queue. Each is counted and the receive thread goes on; the log gets
/// at most one line per 10 s of them, and the other peers' calls are
/// answered right meanwhile.
#[test]
fn a_peer_closing_its_ports_is_counted_not_slept_on_nor_logged_per_error() {
    let (d, api) = start("icmp-refused");
    let icmp = || {
        let (_, m) = http(api, "GET", "/metrics", None, None, b"");
        m.lines()
            .find_map(|l| l.strip_prefix("callscreen_udp_icmp_errors_total "))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    assert_eq!(icmp(), Some(0));
    let calm = udp_client("127.0.0.5:0");
    for i in 0..200 {
        // From a new port each time, closed before the answer comes back.
        let s = UdpSocket::bind("127.0.0.4:0").expect("a port");
        s.send_to(&invite(&format!("icmp-{i}"), CLEAN, ""), d.udp)
            .expect("sent");
        drop(s);
        if i % 20 == 0 {
            let a = udp_ask(&calm, d.udp, &invite(&format!("calm-{i}"), LISTED, ""));
            assert!(
                a.is_some_and(|a| a.starts_with("SIP/2.0 608")),
                "the calm peer is answered right"
            );
        }
    }
    // An answer that reaches the port before it closes makes no ICMP error:
    // under load more sends may be needed (bounded: 10 s, 2 000 more).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut more = 0;
    while icmp().unwrap_or(0) < 10 {
        assert!(
            Instant::now() < deadline && more < 2000,
            "ICMP errors counted: {:?}",
            icmp()
        );
        let s = UdpSocket::bind("127.0.0.4:0").expect("a port");
        s.send_to(&invite(&format!("icmp-more-{more}"), CLEAN, ""), d.udp)
            .expect("sent");
        drop(s);
        more += 1;
    }
    let logged = d
        .stdout
        .all()
        .iter()
        .filter(|l| l.contains("a peer's ICMP error"))
        .count();
    assert!(
        (1..=2).contains(&logged),
        "{logged} log lines for {:?} errors",
        icmp()
    );
}

/// Issue #30, item 5: a peer configured as a network larger than a /28
/// (here a /24 and, second in the steering program, a /22) gets a queue of
/// its own (a reuseport group steered by source address),
/// so a flood from unknown sources that fills the listener's queue cannot
/// drop its calls; nor those of a /32 peer with its connected queue beside
/// the group. The daemon is frozen while the flood fills the shared queue
/// (the kernel drops the rest), then thawed: every call of both peers is
/// answered.
#[test]
fn a_peer_network_larger_than_a_28_does_not_share_a_queue_with_unknown_sources() {
    let dir = temp_dir("flood-wide");
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         [[peers]]\nname = \"wide\"\naddresses = [\"127.0.9.0/24\"]\nscope = \"domestic\"\n\
         [[peers]]\nname = \"wider\"\naddresses = [\"127.0.12.0/22\"]\nscope = \"domestic\"\n\
         [[peers]]\nname = \"calm\"\naddresses = [\"127.0.0.5/32\"]\nscope = \"domestic\"\n",
        dir.join("state").display()
    );
    let cfg = config(&dir, &extra);
    let d = Daemon::start_config(dir, cfg, &[]);
    let api = api_addr(&d);
    let wide = udp_client("127.0.9.7:0");
    let wider = udp_client("127.0.13.5:0");
    let calm = udp_client("127.0.0.5:0");
    freeze(&d);
    // 30 000 INVITEs of about 1 KB from 16 unknown addresses: far more than
    // the listener's queue holds (8 MiB at most).
    let pad = format!("X-Pad: {}\r\n", "p".repeat(600));
    let flooders: Vec<UdpSocket> = (1..=16)
        .map(|i| udp_client(&format!("127.0.10.{i}:0")))
        .collect();
    for n in 0..30_000 {
        let m = invite(&format!("unk-{n}"), CLEAN, &pad);
        let _ = flooders[n % flooders.len()].send_to(&m, d.udp);
    }
    for i in 0..20 {
        wide.send_to(&invite(&format!("wide-{i}"), CLEAN, ""), d.udp)
            .expect("sent");
        calm.send_to(&invite(&format!("calm-{i}"), CLEAN, ""), d.udp)
            .expect("sent");
        wider
            .send_to(&invite(&format!("wider-{i}"), CLEAN, ""), d.udp)
            .expect("sent");
    }
    d.signal("CONT");
    let answered = |s: &UdpSocket| {
        let mut ids = std::collections::HashSet::new();
        let mut buf = vec![0u8; 65536];
        while ids.len() < 20 {
            let Ok((n, _)) = s.recv_from(&mut buf) else {
                break;
            };
            let r = String::from_utf8_lossy(&buf[..n]).into_owned();
            ids.insert(header(&r, "Call-ID").unwrap_or_default().to_string());
        }
        ids.len()
    };
    assert_eq!(answered(&wide), 20, "the /24 peer's calls were dropped");
    assert_eq!(answered(&calm), 20, "the /32 peer's calls were dropped");
    assert_eq!(answered(&wider), 20, "the /22 peer's calls were dropped");
    // The flood did overflow the listener's queue: the kernel's drop count
    // comes with the next datagram queued there, a stranger's OPTIONS,
    // answered 403 once the flood's rest is read.
    let stranger = udp_client("127.0.11.1:0");
    let r = udp_ask(&stranger, d.udp, &options("wide-probe")).expect("a 403");
    assert_eq!(status(&r), 403, "{r}");
    let (_, m) = http(api, "GET", "/metrics", None, None, b"");
    let drops: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("callscreen_udp_queue_drops_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(drops > 0, "the flood never filled the shared queue: {m}");
}

/// The same steering over IPv6 (its source address is read at another
/// offset, in four words): loopback has one IPv6 address, so here it is a
/// /112 peer's, and its flood must fill that network's queue, which the
/// daemon names when it logs the kernel's drops.
#[test]
fn an_ipv6_peer_network_gets_its_own_queue_too() {
    let dir = temp_dir("flood-wide6");
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\", \"[::1]:0\"]\ntcp = [\"127.0.0.1:0\", \"[::1]:0\"]\nudp_threads = 1\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         [[peers]]\nname = \"wide6\"\naddresses = [\"::/112\"]\nscope = \"domestic\"\n",
        dir.join("state").display()
    );
    let cfg = config(&dir, &extra);
    // ::1 is the /112 peer's here, not the SBC's.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace(", \"::1/128\"]", "]");
    std::fs::write(&cfg, text).unwrap();
    let d = Daemon::start_config(dir, cfg, &[]);
    let to = d.udp6.expect("an IPv6 listener");
    let peer = udp_client("[::1]:0");
    freeze(&d);
    let pad = format!("X-Pad: {}\r\n", "p".repeat(600));
    for n in 0..30_000 {
        let _ = peer.send_to(&invite(&format!("w6-{n}"), CLEAN, &pad), to);
    }
    d.signal("CONT");
    // A call after the flood carries the kernel's drop count of its queue.
    let mut last = None;
    let t0 = Instant::now();
    while last.is_none() && t0.elapsed() < Duration::from_secs(20) {
        let _ = peer.send_to(&invite("w6-last", CLEAN, ""), to);
        let mut buf = vec![0u8; 65536];
        while let Ok((n, _)) = peer.recv_from(&mut buf) {
            let r = String::from_utf8_lossy(&buf[..n]).into_owned();
            if header(&r, "Call-ID") == Some("w6-last") {
                last = Some(r);
                break;
            }
        }
    }
    assert!(
        last.is_some(),
        "the call after the flood was never answered"
    );
    // The drops are logged every 10 s, naming the queue.
    let dropped = |l: &str| l.contains("the kernel dropped UDP datagrams");
    let mut line = None;
    for _ in 0..3 {
        line = d
            .stdout
            .wait_for(dropped)
            .or_else(|| d.stderr.wait_for(dropped));
        if line.is_some() {
            break;
        }
    }
    let line = line.expect("the drops logged");
    assert!(line.contains("::/112 (peer wide6)"), "{line}");
}

/// Floods `to` from 248 addresses no peer has (127.0.20.1–248, in turn,
/// as spoofed sources would), as fast as one thread can, until `stop`;
/// returns how many it sent.
fn spoofed_flood(to: SocketAddr, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let socks: Vec<UdpSocket> = (1..=248)
            .map(|i| UdpSocket::bind(format!("127.0.20.{i}:0")).expect("a loopback address"))
            .collect();
        let msg = invite("spoofed", CLEAN, "");
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let _ = socks[(n % 248) as usize].send_to(&msg, to);
            n += 1;
        }
        n
    })
}

/// Figures for `bench/flood.sh` (ignored; run with `--ignored`): a /24
/// peer makes 2 000 calls at 200/s while 248 unknown addresses flood the
/// listener; with its network's queue (`CALLSCREEN_FLOOD_QUEUES` unset) or
/// with every sender in one shared queue (`off`: as it was for any network
/// larger than a /28 before issue #30's item 5).
#[test]
#[ignore = "a figure: bench/flood.sh runs it on the release build"]
fn spoofed_flood_figures() {
    let (d, _api, shared) = figures_daemon("flood-spoofed");
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = spoofed_flood(d.udp, Arc::clone(&stop));
    let t0 = Instant::now();
    let Calm {
        right,
        attempted,
        lat,
        ..
    } = calm_calls(
        "127.0.9.7:0",
        d.udp,
        "",
        "wide",
        2000,
        Duration::from_millis(5),
        50,
    );
    let took = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    let sent = flooder.join().unwrap_or(0);
    println!(
        "queues={} spoofed flood from 248 addresses {:.0}/s; /24 peer: {right}/{attempted} answered right ({:.2} %; 2000 planned, given up after 50 failures), p99 {} µs",
        if shared { "shared" } else { "per-network" },
        sent as f64 / took.as_secs_f64(),
        100.0 * right as f64 / attempted.max(1) as f64,
        p99(lat),
    );
}
