//! callscreen's own SIP load generator (issue #13), std only: INVITEs over
//! UDP or TCP from one address and port per simulated SBC (never a port per
//! call, which would flatter any per-socket spreading), closed loop with a
//! fixed window of calls in flight, or open loop at a fixed rate; unique
//! Call-IDs; a caller mix (a share from a file of listed numbers, the rest
//! clean). Reports answered calls/s, answer codes, and latency from send to
//! final answer (p50, p99, p99.9) as one JSON line.
//!
//! Also the trivial responder that answers every INVITE with a fixed 302:
//! the harness's ceiling, measured in the same run.
//!
//!   loadgen run --target 127.0.0.1:5060 [--transport udp|tcp] [--window 8 | --rate 20000]
//!               [--seconds 10] [--sbcs 1] [--listed FILE] [--listed-share 0.01] [--trunk kpn]
//!               [--identities FILE]
//!
//! `--identities FILE`: every call signed (STIR/SHAKEN), its caller and
//! Identity header value from the file's lines (`CALLER IDENTITY`, taken
//! in turn; examples/sti_fixture.rs writes one).
//!   loadgen responder --listen 127.0.0.1:5070 [--threads 2] [--seconds 600]
//!
//! bench/run.sh runs it against the responder, callscreen and Kamailio.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    arg(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("responder") => responder(&args),
        Some("run") => run(&args),
        _ => {
            eprintln!("usage: loadgen run --target ADDR … | loadgen responder --listen ADDR …");
            std::process::exit(2);
        }
    }
}

/// A header's value in a SIP message (first occurrence, full or compact name).
fn header<'a>(msg: &'a str, names: &[&str]) -> Option<&'a str> {
    msg.split("\r\n").skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        names
            .iter()
            .any(|x| n.trim().eq_ignore_ascii_case(x))
            .then(|| v.trim())
    })
}

/// The trivial responder: every INVITE answered 302 with a fixed Contact,
/// copying every Via (in order: as a next hop behind a proxy it must), From,
/// To (a tag added), Call-ID and CSeq; nothing else.
fn responder(args: &[String]) {
    let listen: SocketAddr = arg(args, "--listen")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:5070".parse().expect("an address"));
    let threads: usize = num(args, "--threads", 2);
    let seconds: u64 = num(args, "--seconds", 600);
    let sock = UdpSocket::bind(listen).expect("bind the responder's address");
    eprintln!("responder ready on {listen}");
    let end = Instant::now() + Duration::from_secs(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let s = sock.try_clone().expect("a socket");
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .expect("a timeout");
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let mut out = String::with_capacity(1024);
                while Instant::now() < end {
                    let Ok((n, from)) = s.recv_from(&mut buf) else {
                        continue;
                    };
                    let Ok(msg) = std::str::from_utf8(&buf[..n]) else {
                        continue;
                    };
                    if !msg.starts_with("INVITE ") {
                        continue;
                    }
                    out.clear();
                    out.push_str("SIP/2.0 302 Moved Temporarily\r\n");
                    for l in msg.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
                        let name = l.split(':').next().unwrap_or("").trim();
                        if name.eq_ignore_ascii_case("via") || name.eq_ignore_ascii_case("v") {
                            out.push_str(l);
                            out.push_str("\r\n");
                        }
                    }
                    for (names, full) in [
                        (&["from", "f"][..], "From"),
                        (&["call-id", "i"][..], "Call-ID"),
                        (&["cseq"][..], "CSeq"),
                    ] {
                        if let Some(v) = header(msg, names) {
                            out.push_str(full);
                            out.push_str(": ");
                            out.push_str(v);
                            out.push_str("\r\n");
                        }
                    }
                    if let Some(v) = header(msg, &["to", "t"]) {
                        out.push_str("To: ");
                        out.push_str(v);
                        out.push_str(";tag=resp\r\n");
                    }
                    out.push_str("Contact: <sip:next-hop.invalid>\r\nContent-Length: 0\r\n\r\n");
                    let _ = s.send_to(out.as_bytes(), from);
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}

/// What one simulated SBC saw.
#[derive(Default)]
struct Tally {
    sent: u64,
    latencies_us: Vec<u32>,
    codes: BTreeMap<u16, u64>,
    timeouts: u64,
}

struct Plan {
    target: SocketAddr,
    tcp: bool,
    window: usize,
    rate: f64,
    seconds: f64,
    listed: Arc<Vec<String>>,
    listed_share: f64,
    trunk: String,
    /// Signed calls: (caller, Identity header value), taken in turn.
    identities: Arc<Vec<(String, String)>>,
}

fn invite(
    sbc: usize,
    seq: u64,
    (caller, identity): (&str, Option<&str>),
    trunk: &str,
    local: SocketAddr,
    tcp: bool,
) -> String {
    let transport = if tcp { "TCP" } else { "UDP" };
    // Unique across generators run side by side (bench/stir.sh runs two).
    let pid = std::process::id();
    let identity = identity.map_or(String::new(), |i| format!("Identity: {i}\r\n"));
    format!(
        "INVITE sip:+31104567890@callscreen.invalid;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/{transport} {local};branch=z9hG4bK-lg{pid}x{sbc}-{seq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:{caller}@sbc.invalid;user=phone>;tag=lg{seq}\r\n\
         To: <sip:+31104567890@callscreen.invalid>\r\n\
         Call-ID: lg-{pid}-{sbc}-{seq}\r\n\
         CSeq: 1 INVITE\r\n\
         X-Ingress-Trunk: {trunk}\r\n\
         {identity}\
         Content-Length: 0\r\n\r\n"
    )
}

/// The caller of call `seq`: every n-th a listed number (cycling the file),
/// else a clean number of its own (UK, never listed by the bench lists).
fn caller(p: &Plan, sbc: usize, seq: u64) -> String {
    let every = if p.listed_share > 0.0 {
        (1.0 / p.listed_share).round().max(1.0) as u64
    } else {
        0
    };
    if every > 0 && seq.is_multiple_of(every) && !p.listed.is_empty() {
        p.listed[((seq / every) as usize + sbc * 7) % p.listed.len()].clone()
    } else {
        format!(
            "+4420{:08}",
            (sbc as u64 * 10_000_019 + seq * 7919) % 100_000_000
        )
    }
}

/// (seq, status code) of a response, from its Call-ID and status line.
fn answer_of(msg: &str) -> Option<(u64, u16)> {
    let code: u16 = msg.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()?;
    let id = header(msg, &["call-id", "i"])?;
    let seq = id.rsplit('-').next()?.parse().ok()?;
    Some((seq, code))
}

/// One SBC: a sender and a receiver on one socket (or one TCP connection).
fn sbc(p: Arc<Plan>, n: usize, stop: Arc<AtomicBool>, measuring: Arc<AtomicBool>) -> Tally {
    let epoch = Instant::now();
    // Send times (ns since epoch) by sequence number, for the receiver.
    let sent_at: Arc<Mutex<HashMap<u64, u64>>> = Arc::new(Mutex::new(HashMap::new()));
    let (credit_tx, credit_rx) = mpsc::channel::<()>();
    let tally = Arc::new(Mutex::new(Tally::default()));
    enum Conn {
        Udp(UdpSocket),
        Tcp(TcpStream),
    }
    let (conn, reader, local) = if p.tcp {
        let s = TcpStream::connect(p.target).expect("connect over TCP");
        s.set_nodelay(true).expect("nodelay");
        let local = s.local_addr().expect("a local address");
        let r = s.try_clone().expect("a reader");
        r.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("a timeout");
        (Conn::Tcp(s), Conn::Tcp(r), local)
    } else {
        let s = UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
        let local = s.local_addr().expect("a local address");
        let r = s.try_clone().expect("a reader");
        r.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("a timeout");
        (Conn::Udp(s), Conn::Udp(r), local)
    };
    let receiver = {
        let (sent_at, tally, stop) = (Arc::clone(&sent_at), Arc::clone(&tally), Arc::clone(&stop));
        let measuring = Arc::clone(&measuring);
        let target = p.target;
        std::thread::spawn(move || {
            let on_answer = |msg: &str| {
                let Some((seq, code)) = answer_of(msg) else {
                    return;
                };
                // Provisional answers (100 Trying) are not the final answer.
                if code < 200 {
                    return;
                }
                let now = epoch.elapsed().as_nanos() as u64;
                let Some(t) = sent_at.lock().ok().and_then(|mut m| m.remove(&seq)) else {
                    return;
                };
                if measuring.load(Ordering::Relaxed)
                    && let Ok(mut t2) = tally.lock()
                {
                    t2.latencies_us.push(((now - t) / 1000) as u32);
                    *t2.codes.entry(code).or_default() += 1;
                }
                let _ = credit_tx.send(());
            };
            match reader {
                Conn::Udp(s) => {
                    let mut buf = [0u8; 65536];
                    while !stop.load(Ordering::Relaxed) {
                        if let Ok((n, from)) = s.recv_from(&mut buf)
                            && from == target
                            && let Ok(m) = std::str::from_utf8(&buf[..n])
                        {
                            on_answer(m);
                        }
                    }
                }
                Conn::Tcp(s) => {
                    let mut r = BufReader::new(s);
                    let mut msg = String::new();
                    while !stop.load(Ordering::Relaxed) {
                        // Headers up to the blank line, then Content-Length bytes.
                        let mut line = String::new();
                        match r.read_line(&mut line) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(_) => continue,
                        }
                        msg.push_str(&line);
                        if line == "\r\n" && msg.len() > 2 {
                            let len: usize = header(&msg, &["content-length", "l"])
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(0);
                            let mut body = vec![0u8; len];
                            let _ = r.read_exact(&mut body);
                            on_answer(&msg);
                            msg.clear();
                        } else if line == "\r\n" {
                            msg.clear();
                        }
                    }
                }
            }
        })
    };
    let mut conn = conn;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(p.seconds);
    let mut seq: u64 = 0;
    let mut in_flight = 0usize;
    let gap = (p.rate > 0.0).then(|| Duration::from_secs_f64(1.0 / p.rate));
    let mut next = start;
    while Instant::now() < end {
        if let Some(gap) = gap {
            // Open loop: at the rate, whatever the answers do.
            let now = Instant::now();
            if now < next {
                std::thread::sleep(next - now);
            }
            next += gap;
            while credit_rx.try_recv().is_ok() {}
        } else {
            // Closed loop: a new call when an answer frees the window.
            while in_flight >= p.window {
                match credit_rx.recv_timeout(Duration::from_secs(1)) {
                    Ok(()) => in_flight -= 1,
                    Err(_) => {
                        // An answer that never came: counted, its slot reused.
                        if let Ok(mut t) = tally.lock() {
                            t.timeouts += 1;
                        }
                        in_flight -= 1;
                    }
                }
                if Instant::now() >= end {
                    break;
                }
            }
            if Instant::now() >= end {
                break;
            }
        }
        let signed = (!p.identities.is_empty())
            .then(|| &p.identities[(seq as usize + n * 7919) % p.identities.len()]);
        let c = match signed {
            Some((c, _)) => c.clone(),
            None => caller(&p, n, seq),
        };
        let id = signed.map(|(_, i)| i.as_str());
        let msg = invite(n, seq, (&c, id), &p.trunk, local, p.tcp);
        if let Ok(mut m) = sent_at.lock() {
            m.insert(seq, epoch.elapsed().as_nanos() as u64);
        }
        let ok = match &mut conn {
            Conn::Udp(s) => s.send_to(msg.as_bytes(), p.target).is_ok(),
            Conn::Tcp(s) => s.write_all(msg.as_bytes()).is_ok(),
        };
        if ok {
            in_flight += 1;
            if measuring.load(Ordering::Relaxed)
                && let Ok(mut t) = tally.lock()
            {
                t.sent += 1;
            }
        }
        seq += 1;
    }
    // Answers still on their way: a second at most.
    let drain = Instant::now() + Duration::from_secs(1);
    while Instant::now() < drain && sent_at.lock().map(|m| !m.is_empty()).unwrap_or(false) {
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = receiver.join();
    let unanswered = sent_at.lock().map(|m| m.len() as u64).unwrap_or(0);
    let mut t = std::mem::take(&mut *tally.lock().expect("the tally"));
    t.timeouts = t.timeouts.max(unanswered);
    t
}

fn run(args: &[String]) {
    let target: SocketAddr = arg(args, "--target")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| "127.0.0.1:5060".parse().expect("an address"));
    let listed: Vec<String> = arg(args, "--listed")
        .and_then(|f| std::fs::read_to_string(f).ok())
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| l.starts_with('+'))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    let plan = Arc::new(Plan {
        target,
        tcp: arg(args, "--transport").as_deref() == Some("tcp"),
        window: num(args, "--window", 8),
        rate: num(args, "--rate", 0.0),
        seconds: num(args, "--seconds", 10.0),
        listed: Arc::new(listed),
        listed_share: num(args, "--listed-share", 0.01),
        trunk: arg(args, "--trunk").unwrap_or_else(|| "kpn".into()),
        identities: Arc::new(
            arg(args, "--identities")
                .map(|f| std::fs::read_to_string(&f).expect("the identities file"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.split_once(' '))
                .map(|(c, i)| (c.to_string(), i.to_string()))
                .collect(),
        ),
    });
    let sbcs: usize = num(args, "--sbcs", 1);
    let warmup: f64 = num(args, "--warmup", 1.0);
    let measuring = Arc::new(AtomicBool::new(warmup <= 0.0));
    let handles: Vec<_> = (0..sbcs)
        .map(|n| {
            let (p, m) = (Arc::clone(&plan), Arc::clone(&measuring));
            std::thread::spawn(move || sbc(p, n, Arc::new(AtomicBool::new(false)), m))
        })
        .collect();
    // Measured from the end of the warm-up.
    std::thread::sleep(Duration::from_secs_f64(warmup.max(0.0)));
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    let tallies: Vec<Tally> = handles.into_iter().filter_map(|h| h.join().ok()).collect();
    // The senders stop at `seconds` after they started; measured: the rest.
    let measured = (plan.seconds - warmup.max(0.0))
        .max(0.001)
        .min(t0.elapsed().as_secs_f64());
    let mut lat: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.iter().copied())
        .collect();
    lat.sort_unstable();
    let pct = |q: f64| -> u32 {
        if lat.is_empty() {
            return 0;
        }
        lat[(((lat.len() as f64) * q).ceil() as usize).clamp(1, lat.len()) - 1]
    };
    let mut codes: BTreeMap<u16, u64> = BTreeMap::new();
    for t in &tallies {
        for (c, n) in &t.codes {
            *codes.entry(*c).or_default() += n;
        }
    }
    let answered = lat.len() as u64;
    let codes_json: Vec<String> = codes.iter().map(|(c, n)| format!("\"{c}\":{n}")).collect();
    println!(
        "{{\"target\":\"{}\",\"transport\":\"{}\",\"sbcs\":{sbcs},\"window\":{},\"rate\":{},\"seconds\":{measured:.2},\"sent\":{},\"answered\":{answered},\"timeouts\":{},\"calls_per_sec\":{:.0},\"p50_us\":{},\"p99_us\":{},\"p999_us\":{},\"codes\":{{{}}}}}",
        plan.target,
        if plan.tcp { "tcp" } else { "udp" },
        if plan.rate > 0.0 { 0 } else { plan.window },
        plan.rate,
        tallies.iter().map(|t| t.sent).sum::<u64>(),
        tallies.iter().map(|t| t.timeouts).sum::<u64>(),
        answered as f64 / measured,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        codes_json.join(",")
    );
}
