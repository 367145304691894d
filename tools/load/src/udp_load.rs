//! Whole-daemon load over UDP on loopback: closed-loop clients, each sending
//! an INVITE and waiting for its answer, for a bounded number of calls and
//! time. Prints calls/s and latency percentiles.
//!
//! cargo run --release -p callscreen-load --bin udp_load -- TARGET CALLS CLIENTS [TRUNK] [NEXT_HOP]
//! (bench/udp_load.sh starts a daemon and runs this against it.)
//!
//! With NEXT_HOP (proxy mode), a thread there plays the callee: it answers
//! every forwarded INVITE with 200 OK, which callscreen relays back; a
//! client's call is then INVITE out, forwarded, answered, relayed back.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let target: SocketAddr = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:5060".parse().unwrap());
    let calls: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let clients: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(4);
    let trunk = args.get(4).cloned().unwrap_or_else(|| "kpn".into());
    if let Some(hop) = args.get(5).and_then(|a| a.parse::<SocketAddr>().ok()) {
        let sink = UdpSocket::bind(hop).expect("bind the next hop's address");
        std::thread::spawn(move || callee(sink));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let trunk = trunk.clone();
            std::thread::spawn(move || {
                let s = UdpSocket::bind("127.0.0.1:0").unwrap();
                s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut lat = Vec::with_capacity(calls / clients + 1);
                let mut lost = 0usize;
                let mut buf = [0u8; 4096];
                for i in 0..calls / clients {
                    if Instant::now() > deadline {
                        break;
                    }
                    // Callers spread over the +3120 block; every 100th is blocklisted.
                    let caller = if i % 100 == 0 { "+31201234567".to_string() } else { format!("+3120{:07}", (c * 1_000_003 + i * 7919) % 10_000_000) };
                    let msg = format!(
                        "INVITE sip:+31104567890@cs;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-{c}-{i};rport\r\nFrom: <sip:{caller}@c;user=phone>;tag=t{c}-{i}\r\nTo: <sip:+31104567890@cs>\r\nCall-ID: load-{c}-{i}\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nX-Ingress-Trunk: {trunk}\r\nContent-Length: 0\r\n\r\n"
                    );
                    let t = Instant::now();
                    s.send_to(msg.as_bytes(), target).unwrap();
                    match s.recv_from(&mut buf) {
                        Ok(_) => lat.push(t.elapsed().as_micros() as u64),
                        Err(_) => lost += 1,
                    }
                }
                (lat, lost)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut lost = 0;
    for h in handles {
        let (l, x) = h.join().unwrap();
        lat.extend(l);
        lost += x;
    }
    let secs = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let p = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "calls={} lost={} seconds={:.2} calls_per_s={:.0} latency_us p50={} p90={} p99={} max={}",
        lat.len(),
        lost,
        secs,
        lat.len() as f64 / secs,
        p(0.5),
        p(0.9),
        p(0.99),
        lat.last().copied().unwrap_or(0)
    );
}

/// The next hop in proxy mode: answers each request 200 OK, to the top Via.
fn callee(sink: UdpSocket) {
    let mut buf = [0u8; 65536];
    let mut out = String::with_capacity(1024);
    while let Ok((n, from)) = sink.recv_from(&mut buf) {
        let Ok(req) = std::str::from_utf8(&buf[..n]) else {
            continue;
        };
        if !req.starts_with("INVITE ") {
            continue;
        }
        out.clear();
        out.push_str("SIP/2.0 200 OK\r\n");
        for l in req.split("\r\n") {
            let name = l.split(':').next().unwrap_or("").to_ascii_lowercase();
            match name.as_str() {
                "via" | "from" | "call-id" | "cseq" => {
                    out.push_str(l);
                    out.push_str("\r\n");
                }
                "to" => {
                    out.push_str(l);
                    out.push_str(";tag=callee\r\n");
                }
                _ => {}
            }
        }
        out.push_str("Content-Length: 0\r\n\r\n");
        // callscreen's Via names the UDP socket it forwarded from.
        let _ = sink.send_to(out.as_bytes(), from);
    }
}
