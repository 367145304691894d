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
    for _ in 0..20_000 {
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
