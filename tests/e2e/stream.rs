//! The live call stream (`GET /v1/calls/stream`, scope `calls`) and
//! `callscreen tail`, against a real daemon.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const TOKEN: &str = "noc-token-for-stream-tests";
const READ_ONLY: &str = "read-only-token-for-stream-tests";

fn daemon(name: &str) -> (Daemon, SocketAddr) {
    noc_view_daemon(name, TOKEN, READ_ONLY)
}

/// A viewer: the stream opened (HTTP/1.0, so the body comes unchunked),
/// its status and first line (the stream saying it is open) read.
fn open(api: SocketAddr, query: &str, token: &str) -> (u16, BufReader<TcpStream>) {
    let mut s = TcpStream::connect(api).expect("the API");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("a timeout");
    write!(
        s,
        "GET /v1/calls/stream{query} HTTP/1.0\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .expect("a request");
    let mut r = BufReader::new(s);
    let mut head = String::new();
    r.read_line(&mut head).expect("a status line");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    (status, r)
}

fn next_json(r: &mut BufReader<TcpStream>) -> serde_json::Value {
    let mut l = String::new();
    // Empty lines are the stream's keep-alives.
    while l.trim().is_empty() {
        l.clear();
        if r.read_line(&mut l).expect("a line") == 0 {
            break;
        }
    }
    serde_json::from_str(&l).unwrap_or_else(|e| panic!("{e}: {l:?}"))
}

#[test]
fn the_stream_shows_the_calls_its_filters_let_through() {
    let (d, api) = daemon("stream-filters");
    let c = udp_client("127.0.0.1:0");
    // The scope: a read-only token may not watch calls; a bad filter is a 400.
    assert_eq!(open(api, "", READ_ONLY).0, 403);
    let (s, mut bad) = open(api, "?verdict=maybe", TOKEN);
    assert_eq!(s, 400);
    let mut msg = String::new();
    let _ = bad.read_to_string(&mut msg);
    assert!(msg.contains("allow, tag"), "{msg}");
    let (s, mut rejects) = open(api, "?verdict=reject&prefix=%2B3120", TOKEN);
    assert_eq!(s, 200);
    let hello = next_json(&mut rejects);
    assert_eq!(hello["stream"], "calls");
    assert_eq!(hello["filters"]["verdict"], "reject");
    let (_, mut all) = open(api, "", TOKEN);
    next_json(&mut all);
    // A clean call and a rejected one.
    assert_eq!(
        status(&udp_ask(&c, d.udp, &invite("s-clean", "+31201234568", "")).unwrap()),
        302
    );
    assert_eq!(
        status(&udp_ask(&c, d.udp, &invite("s-rej", "+31201234567", "")).unwrap()),
        608
    );
    let e = next_json(&mut rejects);
    assert_eq!(e["call_id"], "s-rej", "{e}");
    assert_eq!(e["verdict"], "reject");
    assert_eq!(e["code"], 608);
    assert_eq!(e["reasons"], "blocklist:scam-origins");
    assert_eq!(e["caller"], "+31201234567");
    assert_eq!(e["lists"], "scam-origins@1");
    assert!(e.get("caller_number").is_none());
    // The unfiltered viewer saw both, in order.
    assert_eq!(next_json(&mut all)["call_id"], "s-clean");
    assert_eq!(next_json(&mut all)["call_id"], "s-rej");
    let (_, m) = http(api, "GET", "/metrics", None, None, b"");
    assert!(m.contains("callscreen_stream_viewers 2"), "{m}");
}

/// A viewer that never reads: every call is still answered; the viewer,
/// once it reads, is told how many calls it lost, and the loss is counted.
/// (The calls' latency with and without it is printed, not asserted.)
#[test]
fn a_viewer_that_never_reads_loses_calls_and_slows_none() {
    let (d, api) = daemon("stream-stalled");
    let c = udp_client("127.0.0.1:0");
    c.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("a timeout");
    // Batches of 50 calls in flight; a batch's time, per call.
    let calls = |tag: &str, n: usize| {
        let mut per_call = Vec::with_capacity(n / 50);
        let mut buf = [0u8; 4096];
        for b in 0..n / 50 {
            let t = Instant::now();
            for i in 0..50 {
                let id = format!("{tag}-{}", b * 50 + i);
                c.send_to(&invite(&id, "+31201234568", ""), d.udp)
                    .expect("sent");
            }
            for _ in 0..50 {
                let (len, _) = c.recv_from(&mut buf).expect("every call answered");
                assert_eq!(status(&String::from_utf8_lossy(&buf[..len])), 302);
            }
            per_call.push(t.elapsed().as_micros() as u64 / 50);
        }
        per_call.sort_unstable();
        let k = per_call.len();
        (per_call[k / 2], per_call[k * 99 / 100])
    };
    let before = calls("free", 5000);
    let (s, mut stalled) = open(api, "", TOKEN);
    assert_eq!(s, 200);
    let with = calls("stalled", 30_000);
    println!(
        "time per call (batches of 50 in flight), p50/p99: without a viewer {}/{} µs, with one that never reads {}/{} µs",
        before.0, before.1, with.0, with.1
    );
    // Now it reads: the first calls, then a loss report.
    let (mut lost, mut seen, mut last) = (0, 0, String::new());
    // Bounded: 30 000 calls and the keep-alives between them at most.
    for _ in 0..40_000 {
        let mut l = String::new();
        if stalled.read_line(&mut l).unwrap_or(0) == 0 {
            break;
        }
        let e: serde_json::Value = serde_json::from_str(&l).unwrap_or_default();
        if let Some(n) = e.get("lost").and_then(|n| n.as_u64()) {
            lost = n;
            break;
        }
        last = e["call_id"].to_string();
        seen += 1;
    }
    println!("the stalled viewer read {seen} calls (the last {last}), then lost {lost}");
    assert!(lost > 0, "the viewer was told it lost calls");
    let (_, m) = http(api, "GET", "/metrics", None, None, b"");
    let counted: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("callscreen_stream_lost_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(counted >= lost, "{counted} counted, {lost} reported");
}

#[test]
fn callscreen_tail_prints_the_noc_line_of_each_call_its_filters_let_through() {
    let (d, api) = daemon("stream-tail");
    let dir = temp_dir("stream-tail-token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let mut tail = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["tail", "--verdict", "reject", "--url"])
        .arg(format!("http://{api}"))
        .arg("--token-file")
        .arg(&token_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("callscreen tail");
    let mut err = BufReader::new(tail.stderr.take().expect("stderr"));
    let mut l = String::new();
    err.read_line(&mut l).expect("a line");
    assert!(l.starts_with("following http://"), "{l}");
    let c = udp_client("127.0.0.1:0");
    udp_ask(&c, d.udp, &invite("t-clean", "+31201234568", "")).unwrap();
    udp_ask(&c, d.udp, &invite("t-rej", "+31201234567", "")).unwrap();
    let mut out = BufReader::new(tail.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("a NOC line");
    let _ = tail.kill();
    let _ = tail.wait();
    assert!(
        line.contains("verdict=reject code=608 reasons=blocklist:scam-origins caller=+31201234567")
            && line.contains("call_id=t-rej"),
        "{line}"
    );
    assert!(!line.contains('\x1b'), "no colour into a pipe: {line:?}");
}

/// `callscreen tail` on a terminal (tmux): the verdict coloured, the line
/// as in a pipe otherwise.
#[test]
fn callscreen_tail_colours_the_verdict_on_a_terminal() {
    if Command::new("tmux").arg("-V").output().is_err() {
        panic!("tmux is needed (apt-get install tmux; .ci/run installs it)");
    }
    let (d, api) = daemon("stream-tmux");
    let dir = temp_dir("stream-tmux-token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let session = format!("callscreen-tail-{}", std::process::id());
    let cmd = format!(
        "{} tail --url http://{api} --token-file {}",
        env!("CARGO_BIN_EXE_callscreen"),
        token_file.display()
    );
    let tmux = |args: &[&str]| {
        Command::new("tmux")
            .args(["-L", &session])
            .args(args)
            .output()
            .expect("tmux")
    };
    let started = tmux(&[
        "new-session",
        "-d",
        "-x",
        "200",
        "-y",
        "24",
        "-s",
        &session,
        &cmd,
    ]);
    assert!(started.status.success(), "{started:?}");
    let screen = |escapes: bool| {
        let mut a = vec!["capture-pane", "-p", "-t", &session];
        if escapes {
            a.push("-e");
        }
        String::from_utf8_lossy(&tmux(&a).stdout).into_owned()
    };
    let wait = |what: &str| {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let s = screen(false);
            if s.contains(what) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{what:?} never on the screen:\n{}", screen(false));
    };
    wait("following http://");
    let c = udp_client("127.0.0.1:0");
    udp_ask(&c, d.udp, &invite("tmux-rej", "+31201234567", "")).unwrap();
    udp_ask(&c, d.udp, &invite("tmux-ok", "+31201234568", "")).unwrap();
    let plain = wait("call_id=tmux-ok");
    assert!(
        plain.contains("verdict=reject code=608 reasons=blocklist:scam-origins"),
        "{plain}"
    );
    let coloured = screen(true);
    let _ = tmux(&["kill-server"]);
    // Red for the rejection, green for the clean call.
    assert!(
        coloured.contains("\x1b[1m\x1b[31mreject") || coloured.contains("\x1b[1;31mreject"),
        "{coloured:?}"
    );
    assert!(coloured.contains("\x1b[32mallow"), "{coloured:?}");
}

/// Issue #31, item 9: a filter that can never match here is refused with
/// what would (the stream and `callscreen tail` alike).
#[test]
fn filters_that_can_never_match_are_refused_with_what_would() {
    let (_d, api) = daemon("stream-never");
    for (q, want) in [
        (
            "?peer=nosuch",
            "peer=\"nosuch\": no such peer; the peers are: dom",
        ),
        (
            "?list=nosuch",
            "list=\"nosuch\": no such list; the lists are: scam-origins",
        ),
        (
            "?reason=nosuch",
            "reason=\"nosuch\": no such reason code or family",
        ),
        ("?reason=blocklist:nosuch", "no such reason code"),
    ] {
        let (s, mut r) = open(api, q, TOKEN);
        let mut m = String::new();
        let _ = r.read_to_string(&mut m);
        assert_eq!(s, 400, "{q}: {m}");
        assert!(error_of(&m).contains(want), "{q}: {m}");
    }
    for q in [
        "?reason=spoof",
        "?reason=blocklist",
        "?reason=blocklist:scam-origins",
        "?reason=spoof:dno",
        "?reason=emergency",
        "?peer=dom",
        "?list=acm-withdrawn",
    ] {
        assert_eq!(open(api, q, TOKEN).0, 200, "{q}");
    }
    // A trunk id where a peer is meant: the peer is named.
    let d = example_daemon("stream-trunk");
    let (s, mut r) = open(api_addr(&d), "?peer=kpn", "example-ops-token");
    let mut m = String::new();
    let _ = r.read_to_string(&mut m);
    assert_eq!(s, 400);
    assert!(
        error_of(&m)
            .contains("peer=\"kpn\" is a trunk id; calls on it are from peer \"kpn-interconnect\""),
        "{m}"
    );
    // tail says it and stops (status 2), without retrying.
    let dir = temp_dir("stream-never-token");
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["tail", "--reason", "nosuch", "--url"])
        .arg(format!("http://{api}"))
        .arg("--token-file")
        .arg(dir.join("token"))
        .output()
        .expect("callscreen tail");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such reason code"));
}

/// The `error` of a JSON answer.
fn error_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body).unwrap_or_default()["error"]
        .as_str()
        .unwrap_or(body)
        .to_string()
}

fn metric(api: SocketAddr, name: &str) -> u64 {
    let (_, m) = http(api, "GET", "/metrics", None, None, b"");
    m.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name}"))
}

fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Issue #30, item 8: viewers are capped (`[api] max_viewers`), and one
/// that never reads is dropped once its writes stall for the idle timeout,
/// every call it never read counted as lost.
#[test]
fn viewers_are_capped_and_one_that_never_reads_is_dropped_and_its_loss_counted() {
    let (d, api) = noc_view_daemon_with(
        "stream-cap",
        TOKEN,
        READ_ONLY,
        "listen = \"127.0.0.1:0\"\nmax_viewers = 2\nidle_timeout_secs = 2\n",
    );
    let (s1, one) = open(api, "", TOKEN);
    let (s2, _two) = open(api, "", TOKEN);
    assert_eq!((s1, s2), (200, 200));
    let (s3, mut third) = open(api, "", TOKEN);
    let mut m = String::new();
    let _ = third.read_to_string(&mut m);
    assert_eq!(s3, 503, "{m}");
    assert!(m.contains("max_viewers"), "{m}");
    // One leaves: its place is free again (noticed at its next keep-alive).
    drop(one);
    assert!(eventually(10, || open(api, "", TOKEN).0 == 200));
    drop(_two);
    assert!(eventually(10, || metric(api, "callscreen_stream_viewers") == 0));

    // A viewer that never reads, with a small receive window.
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    s.connect(&api.into()).unwrap();
    let mut s: TcpStream = s.into();
    write!(
        s,
        "GET /v1/calls/stream HTTP/1.0\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .unwrap();
    assert!(eventually(10, || metric(api, "callscreen_stream_viewers") == 1));
    let c = udp_client("127.0.0.1:0");
    c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 4096];
    for b in 0..600 {
        for i in 0..50 {
            c.send_to(
                &invite(&format!("never-{b}-{i}"), "+31201234568", ""),
                d.udp,
            )
            .unwrap();
        }
        for _ in 0..50 {
            c.recv_from(&mut buf).expect("every call answered");
        }
    }
    assert!(
        eventually(20, || metric(api, "callscreen_stream_viewers") == 0),
        "the stalled viewer is dropped"
    );
    let lost = metric(api, "callscreen_stream_lost_total");
    assert!(lost >= 4096, "{lost} of 30 000 calls counted lost");
    drop(s);
}

/// Issue #31, item 9: `callscreen tail` says when the daemon stops and
/// follows it again once it is back; with --once it ends (status 3).
#[test]
fn tail_follows_the_daemon_across_a_restart() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("listen = \"127.0.0.1:{port}\"\n");
    let (d, api) = noc_view_daemon_with("stream-restart", TOKEN, READ_ONLY, &listen);
    let dir = temp_dir("stream-restart-token");
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let tail = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_callscreen"))
            .args(["tail", "--verdict", "reject", "--url"])
            .arg(format!("http://{api}"))
            .arg("--token-file")
            .arg(dir.join("token"))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("callscreen tail")
    };
    let mut follows = tail(&[]);
    let mut once = tail(&["--once"]);
    let mut err = BufReader::new(follows.stderr.take().unwrap());
    let mut once_err = BufReader::new(once.stderr.take().unwrap());
    let mut l = String::new();
    err.read_line(&mut l).unwrap();
    assert!(l.starts_with("following"), "{l}");
    once_err.read_line(&mut l).unwrap();
    let (dir_d, cfg) = (d.dir.clone(), d.config.clone());
    d.signal("TERM");
    l.clear();
    err.read_line(&mut l).unwrap();
    assert!(
        l.contains("the stream ended: the daemon is stopping; following")
            && l.contains("again once it is back"),
        "{l}"
    );
    // --once ends, saying why.
    assert_eq!(once.wait().unwrap().code(), Some(3));
    let mut rest = String::new();
    once_err.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("the stream ended: the daemon is stopping"),
        "{rest}"
    );
    drop(d);
    // Back on the same port: tail follows it again, and prints its calls.
    let d = Daemon::start_config(dir_d, cfg, &[]);
    l.clear();
    err.read_line(&mut l).unwrap();
    assert!(l.starts_with("following"), "{l}");
    let c = udp_client("127.0.0.1:0");
    udp_ask(&c, d.udp, &invite("again-rej", "+31201234567", "")).unwrap();
    let mut out = BufReader::new(follows.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let _ = follows.kill();
    let _ = follows.wait();
    assert!(line.contains("call_id=again-rej"), "{line}");
}
