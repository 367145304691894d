//! The monitoring kit in `contrib/`: the Prometheus alert rules and the
//! Grafana dashboard, against a real Prometheus (Debian's `prometheus`
//! package) scraping a real daemon that screens real SIP calls.
//!
//! Needs `prometheus` and `promtool`; `.ci/run` installs them and runs this.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;
use serde_json::Value;

const RULES: &str = "contrib/prometheus/callscreen.rules.yml";
const DASHBOARD: &str = "contrib/grafana/callscreen.json";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Prometheus {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Starts Prometheus scraping the daemon's API every second (job
    /// "callscreen", as the rules expect) with the rules loaded, and waits
    /// until it says it is ready.
    fn start(dir: &Path, target: SocketAddr) -> Prometheus {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
        let cfg = dir.join("prometheus.yml");
        std::fs::write(
            &cfg,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 rule_files:\n  - {}\n\
                 scrape_configs:\n  - job_name: callscreen\n    static_configs:\n      - targets: [\"{target}\"]\n",
                root().join(RULES).display()
            ),
        )
        .expect("the Prometheus config");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("a log file"))
            .spawn()
            .expect("prometheus (apt-get install prometheus)");
        let p = Prometheus { child, addr };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http(addr, "GET", "/-/ready", None, None, b"").0 != 200 {
            assert!(
                Instant::now() < deadline,
                "Prometheus not ready within 60 s: {}",
                std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    /// GET over HTTP/1.0, so that the body comes whole (not chunked).
    fn get(&self, path: &str) -> Value {
        let mut s = TcpStream::connect(self.addr).expect("Prometheus");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a timeout");
        write!(s, "GET {path} HTTP/1.0\r\n\r\n").expect("a request");
        let mut text = String::new();
        s.read_to_string(&mut text).expect("an answer");
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "GET {path}: {text}"
        );
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// An instant query's result vector (the query must be valid).
    fn query(&self, q: &str) -> Vec<Value> {
        let v = self.get(&format!("/api/v1/query?query={}", encode(q)));
        assert_eq!(v["status"], "success", "{q}: {v}");
        v["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("{q}: no result vector: {v}"))
    }
}

/// Percent-encoding for a query string.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a dashboard query asks once Grafana has filled in its variables.
fn as_grafana_sends(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$instance", ".*")
}

/// The left side of an alert's top-level comparison (`x > y`, `x == 1`):
/// the series the alert watches, which exist whether or not it fires.
fn watched(query: &str) -> &str {
    let mut depth = 0i32;
    let b = query.as_bytes();
    for i in 0..b.len() {
        match b[i] {
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            b'>' | b'=' | b'<' if depth == 0 && i > 0 && b[i - 1] == b' ' => {
                return query[..i].trim();
            }
            _ => {}
        }
    }
    query
}

/// Sends one round of calls: from the SBC's default peer `dom` clean,
/// listed (rejected), withdrawn (rejected) and clean again; two from peer
/// `direct`.
fn calls(d: &Daemon, round: u32) {
    let sock = udp_client("127.0.0.1:0");
    let direct = udp_client("127.0.0.2:0");
    for i in 0..2 {
        let id = format!("monitoring-direct-{round}-{i}");
        let answer = udp_ask(&direct, d.udp, &invite(&id, "+31612345670", ""));
        assert!(answer.is_some(), "call {id} unanswered");
    }
    for (i, from) in [
        "+31612345678",
        "+31201234567",
        "+31852081234",
        "+31612345679",
    ]
    .iter()
    .enumerate()
    {
        let id = format!("monitoring-{round}-{i}");
        let answer = udp_ask(&sock, d.udp, &invite(&id, from, ""));
        assert!(answer.is_some(), "call {id} unanswered");
    }
}

#[test]
#[ignore = "needs prometheus and promtool (apt-get install prometheus); run by .ci/run"]
fn the_alert_rules_load_and_every_dashboard_query_returns_data() {
    let check = Command::new("promtool")
        .args(["check", "rules"])
        .arg(root().join(RULES))
        .output()
        .expect("promtool (apt-get install prometheus)");
    assert!(
        check.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );

    let dir = temp_dir("monitoring");
    // One list is due for its refresh after a second; peer `direct` may
    // send one call a second (each round below sends two); bursts off.
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         [bursts]\ncalls_per_number = 0\ncalls_per_block = 0\n",
        dir.join("state").display()
    );
    let cfg = config(&dir, &extra);
    let text = std::fs::read_to_string(&cfg).expect("the config");
    std::fs::write(
        &cfg,
        text.replacen(
            "file = \"acm.txt\"\n",
            "file = \"acm.txt\"\nmax_age_secs = 1\n",
            1,
        )
        .replacen(
            "addresses = [\"127.0.0.2/32\"]\n",
            "addresses = [\"127.0.0.2/32\"]\ncalls_per_sec = 1\nburst = 1\n",
            1,
        ),
    )
    .expect("the config");
    let d = Daemon::start_config(dir.clone(), cfg, &[]);
    let api = api_addr(&d);
    let prom = Prometheus::start(&dir, api);

    // Calls until Prometheus has seen the counters move between scrapes
    // (rate() needs two samples of a counter that grew).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut round = 0;
    loop {
        calls(&d, round);
        round += 1;
        let moved = prom.query(
            "increase(callscreen_peer_calls_total{job=\"callscreen\",peer=\"dom\",verdict=\"reject\"}[1m]) > 0",
        );
        if !moved.is_empty() && round > 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not see the calls within 90 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // Every dashboard query, as Grafana sends it, returns data.
    let dash: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join(DASHBOARD)).expect("the dashboard"),
    )
    .expect("the dashboard is JSON");
    let mut asked = 0;
    for panel in dash["panels"].as_array().expect("panels") {
        for t in panel["targets"].as_array().into_iter().flatten() {
            let expr = as_grafana_sends(t["expr"].as_str().expect("an expr"));
            let got = prom.query(&expr);
            assert!(
                !got.is_empty(),
                "panel {:?}: no data for {expr}",
                panel["title"]
            );
            asked += 1;
        }
    }
    assert!(asked >= 15, "only {asked} dashboard queries");
    // The reject share is a share: dom's rejects over dom's calls.
    let share = prom.query(&as_grafana_sends(
        dash["panels"]
            .as_array()
            .and_then(|p| p.iter().find(|p| p["title"] == "Reject share per peer"))
            .and_then(|p| p["targets"][0]["expr"].as_str())
            .expect("the reject share panel"),
    ));
    let dom = share
        .iter()
        .find(|s| s["metric"]["peer"] == "dom")
        .and_then(|s| s["value"][1].as_str())
        .and_then(|v| v.parse::<f64>().ok())
        .expect("dom's reject share");
    assert!(dom > 0.2 && dom < 0.8, "dom's reject share {dom}");

    // Every rule evaluated without error, and the series each alert
    // watches exist (a misspelt metric name would watch nothing). The
    // fleet's exist only on a fleet node: tests/e2e/fleet.rs reads them.
    let deadline = Instant::now() + Duration::from_secs(30);
    let rules = loop {
        let v = prom.get("/api/v1/rules");
        let rules: Vec<Value> = v["data"]["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        if rules.iter().all(|r| {
            !r["lastEvaluation"]
                .as_str()
                .unwrap_or("0001")
                .starts_with("0001")
        }) {
            break rules;
        }
        assert!(Instant::now() < deadline, "rules not evaluated: {v}");
        std::thread::sleep(Duration::from_millis(200));
    };
    // Every alert of the file is loaded and evaluated.
    let in_file = std::fs::read_to_string(root().join(RULES))
        .expect("the rules")
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert_eq!(in_file, 14, "the rules file's alerts");
    assert_eq!(rules.len(), in_file, "{rules:?}");
    for r in &rules {
        let name = r["name"].as_str().expect("a rule name");
        assert_eq!(r["health"], "ok", "{name}: {r}");
        let q = r["query"].as_str().expect("a query");
        if name.starts_with("CallscreenFleet") {
            continue;
        }
        assert!(
            !prom.query(watched(q)).is_empty(),
            "{name} watches nothing: {}",
            watched(q)
        );
    }

    // What is wrong here fires: acm-withdrawn is past its max_age_secs
    // (pending: the rule waits 10 minutes), direct is over its limit; what is
    // right does not.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = prom.get("/api/v1/alerts");
        let alerts = v["data"]["alerts"].as_array().cloned().unwrap_or_default();
        let has = |name: &str, label: &str, value: &str| {
            alerts
                .iter()
                .any(|a| a["labels"]["alertname"] == name && a["labels"][label] == value)
        };
        assert!(
            !alerts.iter().any(|a| a["labels"]["alertname"]
                .as_str()
                .is_some_and(|n| n.contains("FailOpen") || n.contains("Down"))),
            "{v}"
        );
        assert!(
            !has("CallscreenListOverdue", "list", "scam-origins"),
            "scam-origins has no max age: {v}"
        );
        if has("CallscreenListOverdue", "list", "acm-withdrawn")
            && has("CallscreenPeerOverLimit", "peer", "direct")
        {
            let overdue = alerts
                .iter()
                .find(|a| a["labels"]["alertname"] == "CallscreenListOverdue")
                .expect("the overdue alert");
            assert_eq!(overdue["state"], "pending", "{overdue}");
            assert!(
                overdue["annotations"]["runbook"]
                    .as_str()
                    .is_some_and(|r| r.contains("max_age_secs")),
                "{overdue}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "alerts not raised: {v}");
        calls(&d, round);
        round += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
}
