//! TCP connections under pressure, with the real daemon: an address that
//! holds as many idle connections as it can (10 000) leaves another
//! address's calls answered; a connection that trickles bytes and never
//! sends a whole message is closed in time; an unknown address is closed at
//! accept.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::support::*;

/// A TCP connection from `from` (a loopback address of the test's choice).
fn connect_from(from: &str, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&SocketAddr::new(from.parse().unwrap(), 0).into())?;
    s.connect(&to.into())?;
    Ok(s.into())
}

/// Whether the daemon closed the connection: EOF (or a reset) within `wait`.
fn closed_within(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
    }
}

fn start(name: &str, first_message_secs: u64) -> Daemon {
    Daemon::start(
        name,
        &format!(
            "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
             tcp_max_connections = 200\ntcp_max_per_source = 50\n\
             tcp_first_message_secs = {first_message_secs}\n"
        ),
    )
}

#[test]
fn ten_thousand_idle_connections_from_one_address_leave_another_calling() {
    let d = start("tcp-exhaust", 60);
    // The SBC's address (127.0.0.1) opens 10 000 connections and sends nothing.
    let mut held = Vec::new();
    for _ in 0..10_000 {
        match connect_from("127.0.0.1", d.tcp) {
            Ok(s) => held.push(s),
            Err(e) => panic!("connect {}: {e}", held.len()),
        }
    }
    // The first 50 are kept; the 51st and later are closed at once.
    assert!(!closed_within(&mut held[0], Duration::from_millis(200)));
    assert!(
        closed_within(&mut held[9_999], TIMEOUT),
        "beyond the per-source limit"
    );
    // Another configured address (the peer "direct", 127.0.0.2) still calls.
    let mut other = connect_from("127.0.0.2", d.tcp).unwrap();
    other
        .write_all(&invite("tcp-other-1", "+31201234568", ""))
        .unwrap();
    let r = tcp_read_response(&mut other).expect("an answer");
    assert_eq!(status(&r), 302, "{r}");
    assert!(d.noc_line("tcp-other-1").contains("peer=direct"));
}

#[test]
fn a_connection_that_never_sends_a_whole_message_is_closed_in_time() {
    let d = start("tcp-slowloris", 1);
    let t0 = Instant::now();
    let mut slow = connect_from("127.0.0.1", d.tcp).unwrap();
    // A whole message, then idle: kept past the first-message time.
    let mut good = connect_from("127.0.0.1", d.tcp).unwrap();
    good.write_all(&options("tcp-good-1")).unwrap();
    assert_eq!(status(&tcp_read_response(&mut good).unwrap()), 200);
    // Trickle a few bytes of a request, never finishing it.
    let mut closed = false;
    for b in b"INVITE sip:+3110456".chunks(2) {
        if slow.write_all(b).is_err() || closed_within(&mut slow, Duration::from_millis(300)) {
            closed = true;
            break;
        }
    }
    assert!(
        closed || closed_within(&mut slow, TIMEOUT),
        "the slow connection stays open"
    );
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "closed before its time: {took:?}"
    );
    assert!(
        !closed_within(&mut good, Duration::from_millis(500)),
        "a good connection is kept"
    );
}

#[test]
fn an_unknown_address_is_closed_at_accept() {
    let d = start("tcp-unknown", 60);
    // 127.0.0.99 is neither an SBC (127.0.0.1, 127.0.0.8/29) nor a peer.
    let mut s = connect_from("127.0.0.99", d.tcp).unwrap();
    assert!(closed_within(&mut s, TIMEOUT));
    let _ = s.write_all(&invite("tcp-unknown-1", "+31201234568", ""));
    let mut b = [0u8; 16];
    assert!(matches!(s.read(&mut b), Ok(0) | Err(_)), "nothing answered");
}

/// Issue #30, item 2: a client that sends CRLF keep-alive pings and never
/// reads its pongs. Its pongs fill the connection's buffers and queue; the
/// write that waits on it gives up after `tcp_write_timeout_secs` and the
/// connection is closed, before the first-message limit (300 s here, so
/// that only the write timeout can close it) and however long the client
/// keeps sending. The connection's send buffer is fixed (128 KiB), so the
/// writes stall soon: 1.4–3.7 s while a release build ran beside it (the
/// kernel's autotuned 4 MB took 17–30 s); the bound, 120 s, is for a
/// machine under the whole suite's load (one CI run took over 25 s).
#[test]
fn a_client_that_never_reads_is_closed_after_the_write_timeout() {
    let d = Daemon::start(
        "tcp-never-reads",
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         tcp_first_message_secs = 300\ntcp_write_timeout_secs = 1\n",
    );
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // A small receive window, so that the pongs back up soon.
    s.set_recv_buffer_size(4096).unwrap();
    s.bind(&SocketAddr::new("127.0.0.1".parse().unwrap(), 0).into())
        .unwrap();
    s.connect(&d.tcp.into()).unwrap();
    let mut s: TcpStream = s.into();
    s.set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let pings = b"\r\n\r\n".repeat(16 * 1024);
    let t0 = Instant::now();
    let closed = loop {
        match s.write(&pings) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break true,
        }
        if t0.elapsed() > Duration::from_secs(120) {
            break false;
        }
    };
    assert!(closed, "still open after {:?}", t0.elapsed());
    println!("closed after {:?}", t0.elapsed());
}

/// Issue #30, item 1: one peer's network cannot take every connection. A
/// /24 peer's addresses, each within its own per-address limit, together
/// hold at most `tcp_max_per_peer`; the SBC still calls over TCP.
#[test]
fn one_peers_network_cannot_take_every_connection() {
    let d = Daemon::start(
        "tcp-per-peer",
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         tcp_max_connections = 12\ntcp_max_per_source = 4\ntcp_max_per_peer = 8\n\
         tcp_first_message_secs = 60\n\
         [[peers]]\nname = \"wide\"\naddresses = [\"127.0.1.0/24\"]\nscope = \"domestic\"\n",
    );
    // Four idle connections from each of three addresses of the /24.
    let mut held = Vec::new();
    for host in 1..=3 {
        for _ in 0..4 {
            held.push(connect_from(&format!("127.0.1.{host}"), d.tcp).unwrap());
        }
    }
    let closed: Vec<bool> = held
        .iter_mut()
        .map(|s| closed_within(s, Duration::from_millis(300)))
        .collect();
    assert_eq!(
        closed.iter().filter(|c| !**c).count(),
        8,
        "the peer holds its share only: {closed:?}"
    );
    // The SBC's share is untouched: its TCP call is answered.
    let mut sbc = connect_from("127.0.0.1", d.tcp).unwrap();
    sbc.write_all(&invite("tcp-sbc-1", "+31201234568", ""))
        .unwrap();
    let r = tcp_read_response(&mut sbc).expect("an answer");
    assert_eq!(status(&r), 302, "{r}");
}
