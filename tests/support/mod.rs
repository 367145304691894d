//! Starts the real `callscreen` binary on loopback ports and talks to it.
//! Tests wait for the daemon's own "ready" line and for log lines, never for
//! a fixed time.

#![allow(dead_code)]

pub mod example;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Log lines as they arrive, with a condition variable to wait on.
#[derive(Default)]
pub struct Lines {
    lines: Mutex<Vec<String>>,
    cv: Condvar,
}

impl Lines {
    fn push(&self, l: String) {
        self.lines.lock().unwrap().push(l);
        self.cv.notify_all();
    }

    /// Waits until a line satisfies `pred`; returns it.
    pub fn wait_for(&self, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut g = self.lines.lock().unwrap();
        loop {
            if let Some(l) = g.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            g = self.cv.wait_timeout(g, left).unwrap().0;
        }
    }

    /// Waits until `n` lines satisfy `pred` (the `n`-th reload, say);
    /// returns the last of them.
    pub fn wait_count(&self, n: usize, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + TIMEOUT;
        let mut g = self.lines.lock().unwrap();
        loop {
            let found: Vec<&String> = g.iter().filter(|l| pred(l)).collect();
            if found.len() >= n {
                return found.last().map(|l| l.to_string());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            g = self.cv.wait_timeout(g, left).unwrap().0;
        }
    }

    pub fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }
}

pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub udp: SocketAddr,
    pub tcp: SocketAddr,
    pub udp6: Option<SocketAddr>,
    pub tcp6: Option<SocketAddr>,
    pub stdout: Arc<Lines>,
    pub stderr: Arc<Lines>,
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("callscreen-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The test configuration: the SBC is 127.0.0.1 and 127.0.0.8/29 (trunk in `X-Ingress-Trunk`
/// or `tgrp`, default peer `dom`), peer `direct` is 127.0.0.2, and anyone else
/// (127.0.0.3) is unknown. `extra` is appended.
pub fn config(dir: &Path, extra: &str) -> PathBuf {
    std::fs::write(
        dir.join("scam.txt"),
        "# callscreen list v1 name=scam-origins version=1\n+31201234567,tech-support-scam,REF-1\n+4930901820*\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("acm.txt"),
        "# callscreen list v1 name=acm-withdrawn version=1\n+3185208*,withdrawn,ACM-1\n",
    )
    .unwrap();
    let cfg = dir.join("callscreen.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[lists]]
name = "scam-origins"
role = "blocklist"
file = "scam.txt"

[[lists]]
name = "acm-withdrawn"
role = "withdrawn"
file = "acm.txt"

[[sbcs]]
name = "edge"
addresses = ["127.0.0.1/32", "127.0.0.8/29", "::1/128"]
trunk_param = "tgrp"
trunk_header = "X-Ingress-Trunk"
default_peer = "dom"

[[peers]]
name = "dom"
trunk_ids = ["dom"]
scope = "domestic"
pai_trusted = true

[[peers]]
name = "intl"
trunk_ids = ["intl"]
scope = "international"

[[peers]]
name = "direct"
addresses = ["127.0.0.2/32"]
scope = "domestic"

{redirect}
{extra}
"#,
            redirect = if extra.contains("[redirect]") {
                ""
            } else {
                "[redirect]\nnext_hop = \"192.0.2.10:5060\"\n"
            },
        ),
    )
    .unwrap();
    cfg
}

const LISTEN: &str = "[sip]\nudp = [\"127.0.0.1:0\", \"[::1]:0\"]\ntcp = [\"127.0.0.1:0\", \"[::1]:0\"]\nudp_threads = 1\n";

impl Daemon {
    /// Starts the daemon with the test config plus `extra` (which may replace `[sip]`).
    pub fn start(name: &str, extra: &str) -> Daemon {
        Daemon::start_with(name, extra, &[])
    }

    pub fn start_with(name: &str, extra: &str, args: &[&str]) -> Daemon {
        let dir = temp_dir(name);
        let extra = if extra.contains("[sip]") {
            extra.to_string()
        } else {
            format!("{LISTEN}\n{extra}")
        };
        let cfg = config(&dir, &extra);
        Daemon::start_config(dir, cfg, args)
    }

    pub fn start_config(dir: PathBuf, config: PathBuf, args: &[&str]) -> Daemon {
        Daemon::spawn(dir, config, args, &[])
    }

    /// Starts with extra environment variables (systemd's NOTIFY_SOCKET …).
    pub fn start_env(dir: PathBuf, config: PathBuf, env: &[(&str, &str)]) -> Daemon {
        Daemon::spawn(dir, config, &[], env)
    }

    fn spawn(dir: PathBuf, config: PathBuf, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        Daemon::spawn_in(dir, config, args, env, &[])
    }

    /// Starts the daemon through `wrapper` (a command and its arguments,
    /// the daemon's command line appended), e.g. in a mount namespace.
    pub fn start_wrapped(dir: PathBuf, config: PathBuf, wrapper: &[&str]) -> Daemon {
        Daemon::spawn_in(dir, config, &[], &[], wrapper)
    }

    fn spawn_in(
        dir: PathBuf,
        config: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Daemon {
        let bin = env!("CARGO_BIN_EXE_callscreen");
        let mut cmd = match wrapper.split_first() {
            Some((w, rest)) => {
                let mut c = Command::new(w);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .arg("run")
            .arg("--config")
            .arg(&config)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("callscreen starts");
        let stdout = Arc::new(Lines::default());
        let stderr = Arc::new(Lines::default());
        for (pipe, lines) in [
            (
                Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
                Arc::clone(&stdout),
            ),
            (
                Box::new(child.stderr.take().unwrap()) as Box<dyn Read + Send>,
                Arc::clone(&stderr),
            ),
        ] {
            std::thread::spawn(move || {
                for l in BufReader::new(pipe).lines() {
                    match l {
                        Ok(l) => lines.push(l),
                        Err(_) => break,
                    }
                }
            });
        }
        let ready = stderr
            .wait_for(|l| l.starts_with("callscreen ready:") || l.starts_with("callscreen:"))
            .unwrap_or_else(|| panic!("no ready line; stderr: {:?}", stderr.all()));
        assert!(
            ready.starts_with("callscreen ready:"),
            "daemon failed: {ready}"
        );
        let field = |k: &str| -> Vec<SocketAddr> {
            ready
                .split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{k}=")))
                .map(|v| {
                    v.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| s.parse().unwrap())
                        .collect()
                })
                .unwrap_or_default()
        };
        let (udp, tcp) = (field("udp"), field("tcp"));
        Daemon {
            child,
            dir,
            config,
            udp: udp[0],
            tcp: tcp[0],
            udp6: udp.get(1).copied(),
            tcp6: tcp.get(1).copied(),
            stdout,
            stderr,
        }
    }

    /// The NOC line of a call, by Call-ID.
    pub fn noc_line(&self, call_id: &str) -> String {
        let needle = format!("call_id={call_id} ");
        self.stdout
            .wait_for(|l| l.contains(&needle) || l.contains(&format!("\"call_id\":\"{call_id}\"")))
            .unwrap_or_else(|| {
                panic!(
                    "no NOC line for {call_id}; stdout: {:#?}",
                    self.stdout.all()
                )
            })
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP client on a given loopback address, with room for a burst of
/// answers: the default receive buffer (208 KiB) holds about a hundred
/// answers, and a test that sends 200 INVITEs before reading lost some
/// there (the kernel's `RcvbufErrors`), not in callscreen.
pub fn udp_client(bind: &str) -> UdpSocket {
    let s = UdpSocket::bind(bind).unwrap();
    let _ = socket2::SockRef::from(&s).set_recv_buffer_size(4 << 20);
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// Sends `msg` and returns the first answer (or None on timeout).
pub fn udp_ask(sock: &UdpSocket, to: SocketAddr, msg: &[u8]) -> Option<String> {
    sock.send_to(msg, to).unwrap();
    let mut buf = vec![0u8; 65536];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(_) => None,
    }
}

pub fn tcp_connect(to: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(to).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    s
}

/// Reads one SIP response (headers; these responses have no body) from a stream.
pub fn tcp_read_response(s: &mut impl Read) -> Option<String> {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while !out.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => out.push(b[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

pub fn tcp_send(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).unwrap();
}

/// The status code of a response.
pub fn status(resp: &str) -> u16 {
    resp.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// A header's value in a response (first one).
pub fn header<'a>(resp: &'a str, name: &str) -> Option<&'a str> {
    resp.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// An INVITE from `from` (a URI user part), with optional extra header lines.
pub fn invite(call_id: &str, from: &str, extra: &str) -> Vec<u8> {
    format!(
        "INVITE sip:+31104567890@cs.example;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Caller\" <sip:{from}@carrier.example;user=phone>;tag=ft-{call_id}\r\n\
         To: <sip:+31104567890@cs.example>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         {extra}\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

pub fn options(call_id: &str) -> Vec<u8> {
    format!(
        "OPTIONS sip:cs.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@example.net>;tag=p-{call_id}\r\n\
         To: <sip:cs.example>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Answers that follow the Via (RFC 3261 §18.2.2): the torture messages name
/// ports without `rport`, so answers go to the source address at those
/// ports. A catcher owns one loopback address (of the SBC's 127.0.0.8/29) at
/// every port a message names and sends from its port 5060.
pub struct Catcher {
    ip: &'static str,
    socks: Vec<(u16, UdpSocket)>,
}

impl Catcher {
    /// `ip`: a distinct address per test, 127.0.0.9 to 127.0.0.14.
    pub fn new(ip: &'static str) -> Catcher {
        let mut c = Catcher {
            ip,
            socks: Vec::new(),
        };
        c.port(5060);
        c
    }

    fn port(&mut self, p: u16) -> &UdpSocket {
        if let Some(i) = self.socks.iter().position(|(q, _)| *q == p) {
            return &self.socks[i].1;
        }
        let s =
            UdpSocket::bind((self.ip, p)).unwrap_or_else(|e| panic!("bind {}:{p}: {e}", self.ip));
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        self.socks.push((p, s));
        &self.socks.last().unwrap().1
    }

    /// Sends `msg` and then an OPTIONS probe. With one receive thread the
    /// daemon answers in order, so once the probe's answer is in, any answer
    /// to `msg` has been sent already: returns it, or None if it was dropped.
    pub fn ask(&mut self, to: SocketAddr, msg: &[u8], probe_id: &str) -> Option<String> {
        // Bind the port the top Via names, so its answer can land.
        let port = {
            let text = String::from_utf8_lossy(msg);
            let via = text.lines().find(|l| {
                let l = l.to_ascii_lowercase();
                l.starts_with("via") || l.starts_with("v ") || l.starts_with("v:")
            });
            via.and_then(|v| {
                let v = v.split_once(':')?.1;
                let first = v.split(',').next()?.split(';').next()?;
                let host = first.split_whitespace().last()?;
                host.rsplit_once(':').and_then(|(_, p)| p.parse().ok())
            })
            .unwrap_or(5060)
        };
        self.port(port);
        let main = &self.socks[0].1;
        main.send_to(msg, to).unwrap();
        main.send_to(&options(probe_id), to).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut got = None;
        loop {
            let (n, _) = main.recv_from(&mut buf).expect("the probe's answer");
            let r = String::from_utf8_lossy(&buf[..n]).into_owned();
            if header(&r, "Call-ID") == Some(probe_id) {
                break;
            }
            got = Some(r);
        }
        for (_, s) in &self.socks[1..] {
            s.set_nonblocking(true).unwrap();
            if let Ok((n, _)) = s.recv_from(&mut buf) {
                got = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            s.set_nonblocking(false).unwrap();
        }
        got
    }
}

/// The control API's address, from the daemon's ready line (`api=…`).
pub fn api_addr(d: &Daemon) -> SocketAddr {
    let ready = d
        .stderr
        .wait_for(|l| l.starts_with("callscreen ready:"))
        .expect("a ready line");
    ready
        .split_whitespace()
        .find_map(|w| w.strip_prefix("api="))
        .expect("an api= address")
        .parse()
        .unwrap()
}

/// One HTTP/1.1 request; (status, body). Status 0: the connection failed
/// (the daemon is gone).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    ctype: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(c) = ctype {
        req.push_str(&format!("Content-Type: {c}\r\n"));
    }
    req.push_str("\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    // A body the server refuses early may not be read at all: ignore a reset.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The [api] section the load and crash tests use: one client with every
/// list and read/replace.
/// An API with one all-lists client. These tests replace lists wholesale on
/// purpose, so the shrink guard is off (`tests/e2e/api/store.rs` tests it).
pub fn ops_api_config(state: &Path, udp_threads: usize, token: &str) -> String {
    format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = {udp_threads}\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         [[api.clients]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\", \"replace\"]\n\
         [list_guard]\nmax_shrink_percent = 100\n",
        state.display(),
        callscreen::api::hash_token(token)
    )
}

/// A scam-origins list of `numbers` Dutch mobiles (varied by `salt`).
pub fn scam_list(version: u64, numbers: usize, salt: u64) -> String {
    let mut b = format!("# callscreen list v1 name=scam-origins version={version}\n+31201234567\n");
    for i in 0..numbers as u64 {
        b.push_str(&format!("+316{:08}\n", (i * 7919 + salt) % 100_000_000));
    }
    b
}

/// POST a rollback of `list`; (status, body).
pub fn rollback(addr: SocketAddr, token: &str, list: &str) -> (u16, String) {
    http(
        addr,
        "POST",
        &format!("/v1/lists/{list}/rollback"),
        Some(token),
        None,
        b"",
    )
}

/// PUT a v1 list with a bearer token; the status, 0 when the connection
/// failed (the daemon is gone).
pub fn put_list(addr: SocketAddr, token: &str, list: &str, body: &str) -> u16 {
    http(
        addr,
        "PUT",
        &format!("/v1/lists/{list}"),
        Some(token),
        Some("text/plain"),
        body.as_bytes(),
    )
    .0
}

/// A daemon for the NOC's live views (`tail`, `top`): an API with a client
/// `noc` that may watch calls (`noc_token`) and one `ro` that may only read
/// (`read_token`); the calls come as fast as the tests send them (no peer
/// limit, no bursts). The daemon and its API's address.
pub fn noc_view_daemon(name: &str, noc_token: &str, read_token: &str) -> (Daemon, SocketAddr) {
    noc_view_daemon_with(name, noc_token, read_token, "listen = \"127.0.0.1:0\"\n")
}

/// [`noc_view_daemon`] with more `[api]` lines (its `listen` among them).
pub fn noc_view_daemon_with(
    name: &str,
    noc_token: &str,
    read_token: &str,
    api: &str,
) -> (Daemon, SocketAddr) {
    let dir = temp_dir(name);
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\npeer_calls_per_sec = 0\n\
         [api]\n{api}state_dir = \"{}\"\n\
         [[api.clients]]\nname = \"noc\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"calls\"]\n\
         [[api.clients]]\nname = \"ro\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\"]\n\
         [bursts]\ncalls_per_number = 0\ncalls_per_block = 0\n",
        dir.join("state").display(),
        callscreen::api::hash_token(noc_token),
        callscreen::api::hash_token(read_token),
    );
    let cfg = config(&dir, &extra);
    let d = Daemon::start_config(dir, cfg, &[]);
    let api = api_addr(&d);
    (d, api)
}

/// The daemon on the example configuration (`config/callscreen.toml`),
/// its listeners and API on ephemeral ports, its state in a temporary
/// directory.
pub fn example_daemon(name: &str) -> Daemon {
    let root = env!("CARGO_MANIFEST_DIR");
    let dir = temp_dir(name);
    let text = std::fs::read_to_string(format!("{root}/config/callscreen.toml"))
        .unwrap()
        .replace("file = \"lists/", &format!("file = \"{root}/config/lists/"))
        .replace(
            "udp = [\"127.0.0.1:5060\", \"[::1]:5060\"]",
            "udp = [\"127.0.0.1:0\"]",
        )
        .replace(
            "tcp = [\"127.0.0.1:5060\", \"[::1]:5060\"]",
            "tcp = [\"127.0.0.1:0\"]",
        )
        .replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"");
    assert!(
        text.contains("udp = [\"127.0.0.1:0\"]") && !text.contains(":8080"),
        "the example config's [sip] listeners moved: update this test"
    );
    let cfg = dir.join("callscreen.toml");
    std::fs::write(&cfg, text).unwrap();
    Daemon::start_config(dir, cfg, &[])
}
