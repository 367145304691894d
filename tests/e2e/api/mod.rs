//! The control API against the running daemon: the auth matrix, bad input,
//! a push that changes screening at once, persistence across a restart.

mod crash;
mod load;
mod store;
mod tls;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use crate::support::*;

const ACM_TOKEN: &str = "acm-token-for-tests";
const OPS_TOKEN: &str = "ops-token-for-tests";

fn sha(t: &str) -> String {
    callscreen::api::hash_token(t)
}

/// The test config with the API on an ephemeral port: ACM may replace
/// acm-withdrawn only; ops may read and replace every list.
/// These tests replace lists wholesale on purpose, so the shrink guard is
/// off (`tests/e2e/api/store.rs` tests it).
fn api_config(state: &std::path::Path, max_body: usize) -> String {
    format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\nmax_body_bytes = {max_body}\n\
         [[api.clients]]\nname = \"acm\"\ntoken_sha256 = \"{}\"\nlists = [\"acm-withdrawn\"]\noperations = [\"replace\"]\n\
         [[api.clients]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\", \"replace\", \"patch\", \"rollback\"]\n\
         [list_guard]\nmax_shrink_percent = 100\n",
        state.display(),
        sha(ACM_TOKEN),
        sha(OPS_TOKEN)
    )
}

fn push(addr: SocketAddr, token: Option<&str>, list: &str, body: &str) -> (u16, String) {
    http(
        addr,
        "PUT",
        &format!("/v1/lists/{list}"),
        token,
        Some("text/plain"),
        body.as_bytes(),
    )
}

#[test]
fn the_auth_matrix() {
    let dir = temp_dir("api-auth");
    let d = Daemon::start_config(
        dir.clone(),
        config(&dir, &api_config(&dir.join("state"), 1 << 20)),
        &[],
    );
    let api = api_addr(&d);
    let v2 = "# callscreen list v1 name=acm-withdrawn version=2\n+3185208*\n+31201230000\n";
    assert_eq!(push(api, None, "acm-withdrawn", v2).0, 401, "no token");
    assert_eq!(
        push(api, Some("wrong"), "acm-withdrawn", v2).0,
        401,
        "wrong token"
    );
    assert_eq!(
        push(
            api,
            Some(ACM_TOKEN),
            "scam-origins",
            "# callscreen list v1 name=scam-origins version=9\n"
        )
        .0,
        403,
        "outside ACM's scope"
    );
    assert_eq!(
        http(api, "GET", "/v1/lists", Some(ACM_TOKEN), None, b"").0,
        403,
        "ACM may not read"
    );
    let (s, body) = push(api, Some(ACM_TOKEN), "acm-withdrawn", v2);
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            v["version"].as_u64(),
            v["entries"].as_u64(),
            v["sha256"].as_str().map(str::len)
        ),
        (Some(2), Some(2), Some(64))
    );
    assert!(
        d.stdout
            .wait_for(|l| l.contains("list push")
                && l.contains("client=acm")
                && l.contains("new_version=2")
                && l.contains("added=1"))
            .is_some()
    );
    assert!(
        !d.stdout.all().iter().any(|l| l.contains(ACM_TOKEN)),
        "tokens never reach the log"
    );
    // The pushed entry screens at once.
    let c = udp_client("127.0.0.1:0");
    let r = udp_ask(&c, d.udp, &invite("api-1", "+31201230000", "")).unwrap();
    assert_eq!(status(&r), 608);
    assert!(
        d.noc_line("api-1")
            .contains("reasons=withdrawn:acm-withdrawn")
    );
    assert!(d.noc_line("api-1").contains("lists=acm-withdrawn@2"));
}

#[test]
fn bad_pushes_are_refused_whole_and_the_old_list_keeps_serving() {
    let dir = temp_dir("api-bad");
    let d = Daemon::start_config(
        dir.clone(),
        config(&dir, &api_config(&dir.join("state"), 4096)),
        &[],
    );
    let api = api_addr(&d);
    let ops = Some(OPS_TOKEN);
    let (s, body) = push(
        api,
        ops,
        "scam-origins",
        "# callscreen list v1 name=scam-origins version=2\n+31201234599\nnot-a-number\n+31*\n",
    );
    assert_eq!(s, 422, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["total"], 2);
    assert_eq!(v["errors"][0]["line"], 3);
    assert_eq!(v["errors"][1]["line"], 4);
    assert!(
        v["errors"][1]["message"]
            .as_str()
            .unwrap()
            .contains("would block a whole country")
    );
    assert_eq!(
        push(
            api,
            ops,
            "scam-origins",
            "# callscreen list v1 name=acm-withdrawn version=2\n"
        )
        .0,
        422,
        "name differs from the URL"
    );
    assert_eq!(
        push(
            api,
            ops,
            "scam-origins",
            "# callscreen list v1 name=scam-origins version=1\n+31201234599\n"
        )
        .0,
        409,
        "same version, other content"
    );
    assert_eq!(
        push(
            api,
            ops,
            "scam-origins",
            "# callscreen list v1 name=scam-origins version=0\n"
        )
        .0,
        409,
        "stale version"
    );
    let big = format!(
        "# callscreen list v1 name=scam-origins version=5\n{}",
        "+31201234567\n".repeat(1000)
    );
    assert_eq!(
        push(api, ops, "scam-origins", &big).0,
        413,
        "above max_body_bytes"
    );
    assert_eq!(
        http(
            api,
            "PUT",
            "/v1/lists/scam-origins",
            ops,
            Some("application/x-www-form-urlencoded"),
            b"x"
        )
        .0,
        415
    );
    assert_eq!(
        push(
            api,
            ops,
            "nosuch",
            "# callscreen list v1 name=nosuch version=1\n"
        )
        .0,
        404
    );
    // Nothing changed: still version 1, and its content still screens.
    let c = udp_client("127.0.0.1:0");
    udp_ask(&c, d.udp, &invite("bad-1", "+31201234567", "")).unwrap();
    assert!(d.noc_line("bad-1").contains("lists=scam-origins@1"));
    // Retrying the seed's own version with its own content is no change.
    let seed = std::fs::read_to_string(dir.join("scam.txt")).unwrap();
    let (s, body) = push(api, ops, "scam-origins", &seed);
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("\"outcome\":\"unchanged\""), "{body}");
}

#[test]
fn pushed_versions_survive_a_restart_and_outrank_the_seed() {
    let dir = temp_dir("api-persist");
    let cfg = config(&dir, &api_config(&dir.join("state"), 1 << 20));
    let v7 = "# callscreen list v1 name=scam-origins version=7\n+31201234599,pushed\n";
    {
        let d = Daemon::start_config(dir.clone(), cfg.clone(), &[]);
        assert_eq!(
            push(api_addr(&d), Some(OPS_TOKEN), "scam-origins", v7).0,
            200
        );
    }
    let d = Daemon::start_config(dir.clone(), cfg, &[]);
    let api = api_addr(&d);
    let (s, body) = http(api, "GET", "/v1/lists", Some(OPS_TOKEN), None, b"");
    assert_eq!(s, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let scam = v["lists"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "scam-origins")
        .unwrap()
        .clone();
    assert_eq!(
        (scam["version"].as_u64(), scam["source"].as_str()),
        (Some(7), Some("push"))
    );
    let (s, export) = http(
        api,
        "GET",
        "/v1/lists/scam-origins",
        Some(OPS_TOKEN),
        None,
        b"",
    );
    assert_eq!(
        (s, export.as_str()),
        (
            200,
            "# callscreen list v1 name=scam-origins version=7\n+31201234599,pushed,,\n"
        )
    );
    // A SIGHUP re-reads the (older) seed and keeps version 7.
    d.signal("HUP");
    d.stdout
        .wait_for(|l| l.contains("seed file is older than the list in force"))
        .expect("kept");
    let c = udp_client("127.0.0.1:0");
    let r = udp_ask(&c, d.udp, &invite("persist-1", "+31201234599", "")).unwrap();
    assert_eq!(status(&r), 608);
}

#[test]
fn health_readiness_and_metrics() {
    let dir = temp_dir("api-metrics");
    let d = Daemon::start_config(
        dir.clone(),
        config(&dir, &api_config(&dir.join("state"), 1 << 20)),
        &[],
    );
    let api = api_addr(&d);
    assert_eq!(http(api, "GET", "/healthz", None, None, b"").0, 200);
    assert_eq!(
        http(api, "GET", "/readyz", None, None, b""),
        (200, "ready\n".into())
    );
    let c = udp_client("127.0.0.1:0");
    udp_ask(&c, d.udp, &invite("m-1", "+31201234567", "")).unwrap();
    udp_ask(&c, d.udp, &invite("m-2", "+31201234568", "")).unwrap();
    let (s, m) = http(api, "GET", "/metrics", None, None, b"");
    assert_eq!(s, 200);
    for line in [
        "callscreen_calls_total{verdict=\"reject\"} 1",
        "callscreen_calls_total{verdict=\"allow\"} 1",
        "callscreen_list_entries{list=\"scam-origins\",role=\"blocklist\"} 2",
        "callscreen_list_version{list=\"acm-withdrawn\"} 1",
        "callscreen_list_pushes_total{outcome=\"accepted\"} 0",
        "callscreen_reasons_total{reason=\"blocklist\"} 1",
        "callscreen_reasons_total{reason=\"invalid-cli\"} 0",
        "callscreen_decision_latency_seconds_count 2",
        "callscreen_decision_latency_seconds_bucket{le=\"+Inf\"} 2",
    ] {
        assert!(m.lines().any(|l| l == line), "missing {line:?} in\n{m}");
    }
    let age: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("callscreen_list_age_seconds{list=\"scam-origins\"} "))
        .expect("a list age")
        .parse()
        .unwrap();
    assert!(age < 60, "the seed file was written just now: {age}");
}

#[test]
fn patch_and_rollback() {
    let dir = temp_dir("api-patch");
    let d = Daemon::start_config(
        dir.clone(),
        config(&dir, &api_config(&dir.join("state"), 1 << 20)),
        &[],
    );
    let api = api_addr(&d);
    let ops = Some(OPS_TOKEN);
    let json = |b: &str| (Some("application/json"), b.as_bytes().to_vec());
    let (ct, body) = json(
        r#"{"base_version": 1, "version": 2, "add": ["+31201234599,new,REF-9"], "remove": ["+31201234567"]}"#,
    );
    let (s, out) = http(api, "PATCH", "/v1/lists/scam-origins", ops, ct, &body);
    assert_eq!(s, 200, "{out}");
    assert!(
        d.stdout
            .wait_for(|l| l.contains("list push")
                && l.contains("new_version=2")
                && l.contains("added=1")
                && l.contains("removed=1"))
            .is_some()
    );
    let (_, export) = http(api, "GET", "/v1/lists/scam-origins", ops, None, b"");
    assert_eq!(
        export,
        "# callscreen list v1 name=scam-origins version=2\n+31201234599,new,REF-9,\n+4930901820*\n"
    );
    // A stale base and a bad added line are refused whole.
    let (ct, body) = json(r#"{"base_version": 1, "version": 3, "add": ["+31201234598"]}"#);
    assert_eq!(
        http(api, "PATCH", "/v1/lists/scam-origins", ops, ct, &body).0,
        409
    );
    let (ct, body) = json(r#"{"base_version": 2, "version": 3, "add": ["+31*"]}"#);
    assert_eq!(
        http(api, "PATCH", "/v1/lists/scam-origins", ops, ct, &body).0,
        422
    );
    // ACM may not patch (its scope is replace only).
    let (ct, body) = json(r#"{"base_version": 1, "version": 2}"#);
    assert_eq!(
        http(
            api,
            "PATCH",
            "/v1/lists/acm-withdrawn",
            Some(ACM_TOKEN),
            ct,
            &body
        )
        .0,
        403
    );
    // Rollback: back to version 1 (the seed), and it sticks across a restart.
    let (s, out) = http(
        api,
        "POST",
        "/v1/lists/scam-origins/rollback",
        ops,
        None,
        b"",
    );
    assert_eq!(s, 200, "{out}");
    assert!(out.contains("\"version\":1"), "{out}");
    let c = udp_client("127.0.0.1:0");
    assert_eq!(
        udp_ask(&c, d.udp, &invite("rb-1", "+31201234567", "")).map(|r| status(&r)),
        Some(608)
    );
    assert_eq!(
        http(
            api,
            "POST",
            "/v1/lists/scam-origins/rollback",
            ops,
            None,
            b""
        )
        .0,
        409,
        "nothing older to roll back to"
    );
    drop(d);
    let d = Daemon::start_config(dir.clone(), dir.join("callscreen.toml"), &[]);
    let c = udp_client("127.0.0.1:0");
    assert_eq!(
        udp_ask(&c, d.udp, &invite("rb-2", "+31201234599", "")).map(|r| status(&r)),
        Some(302),
        "version 2 is gone"
    );
}

#[test]
fn the_lists_commands_talk_to_the_api() {
    let dir = temp_dir("api-cli");
    let d = Daemon::start_config(
        dir.clone(),
        config(&dir, &api_config(&dir.join("state"), 1 << 20)),
        &[],
    );
    let url = format!("http://{}", api_addr(&d));
    std::fs::write(dir.join("token"), format!("{OPS_TOKEN}\n")).unwrap();
    let token = dir.join("token");
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--url", &url, "--token-file", token.to_str().unwrap()]);
        std::process::Command::new(env!("CARGO_BIN_EXE_callscreen"))
            .args(&all)
            .output()
            .unwrap()
    };
    let f = dir.join("v3.txt");
    std::fs::write(
        &f,
        "# callscreen list v1 name=acm-withdrawn version=3\n+3185208*\n+31201230000\n",
    )
    .unwrap();
    let o = run(&["lists", "push", "acm-withdrawn", f.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"version\":3"));
    std::fs::write(
        &f,
        "# callscreen list v1 name=acm-withdrawn version=4\nbad\n",
    )
    .unwrap();
    let o = run(&["lists", "push", "acm-withdrawn", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("422"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = run(&["lists", "show", "--json"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("\"name\":\"acm-withdrawn\""));
    // Issue #31, item 10: for people, a table (one row a list).
    let o = run(&["lists", "show"]);
    let table = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(table.starts_with("list "), "{table}");
    let row = table
        .lines()
        .find(|l| l.starts_with("acm-withdrawn "))
        .unwrap_or_else(|| panic!("no acm-withdrawn row:\n{table}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[1..5], ["numbers", "withdrawn", "3", "2"], "{row}");
    let o = run(&["lists", "export", "acm-withdrawn"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "# callscreen list v1 name=acm-withdrawn version=3\n+31201230000\n+3185208*\n"
    );
    let o = run(&["lists", "rollback", "acm-withdrawn"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(&token, "wrong\n").unwrap();
    let o = run(&["lists", "show"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("401"));
}

#[test]
fn signed_pushes_cannot_be_forged_or_replayed() {
    use callscreen::keys as sign;
    let dir = temp_dir("api-signed");
    let (secret, public) = sign::keygen().unwrap();
    let extra = format!(
        "{}[[api.clients]]\nname = \"acm-signed\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"replace\"]\nsign_key = \"{public}\"\n",
        api_config(&dir.join("state"), 1 << 20),
        sha("signed-token")
    );
    let d = Daemon::start_config(dir.clone(), config(&dir, &extra), &[]);
    let api = api_addr(&d);
    let put = |list: &str, body: &str, sig: Option<String>| {
        let mut s = TcpStream::connect(api).unwrap();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        let sig = sig
            .map(|x| format!("X-Callscreen-Signature: {x}\r\n"))
            .unwrap_or_default();
        let req = format!(
            "PUT /v1/lists/{list} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer signed-token\r\nContent-Type: text/plain\r\n{sig}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split(' ')
            .nth(1)
            .and_then(|c| c.parse::<u16>().ok())
            .unwrap_or(0)
    };
    let v2 = "# callscreen list v1 name=acm-withdrawn version=2\n+3185208*\n";
    let v3 = "# callscreen list v1 name=acm-withdrawn version=3\n+3185208*\n+31201230000\n";
    assert_eq!(put("acm-withdrawn", v2, None), 401, "unsigned");
    assert_eq!(
        put("acm-withdrawn", v2, sign::sign(&secret, v3.as_bytes())),
        401,
        "a signature of another body"
    );
    let (other, _) = sign::keygen().unwrap();
    assert_eq!(
        put("acm-withdrawn", v2, sign::sign(&other, v2.as_bytes())),
        401,
        "signed by another key"
    );
    assert_eq!(
        put("acm-withdrawn", v2, sign::sign(&secret, v2.as_bytes())),
        200,
        "signed by the issuer"
    );
    assert_eq!(
        put("acm-withdrawn", v3, sign::sign(&secret, v3.as_bytes())),
        200
    );
    assert_eq!(
        put("acm-withdrawn", v2, sign::sign(&secret, v2.as_bytes())),
        409,
        "a signed body replayed as an older version"
    );
    assert_eq!(
        put("scam-origins", v3, sign::sign(&secret, v3.as_bytes())),
        422,
        "a signed body replayed under another name"
    );
    // The CLI signs with --sign-key.
    let key = dir.join("acm.key");
    std::fs::write(&key, format!("{secret}\n")).unwrap();
    std::fs::write(dir.join("token"), "signed-token\n").unwrap();
    let f = dir.join("v4.txt");
    std::fs::write(
        &f,
        "# callscreen list v1 name=acm-withdrawn version=4\n+3185208*\n",
    )
    .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args([
            "lists",
            "push",
            "acm-withdrawn",
            f.to_str().unwrap(),
            "--sign-key",
            key.to_str().unwrap(),
        ])
        .args([
            "--url",
            &format!("http://{api}"),
            "--token-file",
            dir.join("token").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn a_restart_loads_the_binary_snapshot() {
    let dir = temp_dir("api-snapshot");
    let state = dir.join("state");
    let cfg = config(&dir, &api_config(&state, 1 << 20));
    {
        let d = Daemon::start_config(dir.clone(), cfg.clone(), &[]);
        let v5 =
            "# callscreen list v1 name=scam-origins version=5\n+31201234599,pushed\n+3185209*\n";
        assert_eq!(
            push(api_addr(&d), Some(OPS_TOKEN), "scam-origins", v5).0,
            200
        );
        // The snapshot is written right after the acknowledgement.
        let deadline = std::time::Instant::now() + TIMEOUT;
        while !state.join("scam-origins.5.snap").exists() {
            assert!(std::time::Instant::now() < deadline, "no snapshot written");
            std::thread::yield_now();
        }
    }
    // Damage the text version: only the snapshot can bring version 5 back.
    std::fs::write(state.join("scam-origins.5.list"), "garbage").unwrap();
    let d = Daemon::start_config(dir.clone(), cfg, &[]);
    let c = udp_client("127.0.0.1:0");
    assert_eq!(
        udp_ask(&c, d.udp, &invite("snap-1", "+31852090000", "")).map(|r| status(&r)),
        Some(608)
    );
    assert!(d.noc_line("snap-1").contains("lists=scam-origins@5"));
}

#[test]
fn a_streamed_body_over_the_limit_and_refused_pushes_leave_nothing_behind() {
    let dir = temp_dir("api-stream");
    let state = dir.join("state");
    let d = Daemon::start_config(dir.clone(), config(&dir, &api_config(&state, 4096)), &[]);
    let api = api_addr(&d);
    // Chunked, no Content-Length: the limit is enforced on what arrives.
    let mut s = TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut req = format!(
        "PUT /v1/lists/scam-origins HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {OPS_TOKEN}\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let line = "+31201234567\n".repeat(100);
    let head = "# callscreen list v1 name=scam-origins version=5\n";
    req.push_str(&format!("{:x}\r\n{head}\r\n", head.len()));
    for _ in 0..10 {
        req.push_str(&format!("{:x}\r\n{line}\r\n", line.len()));
    }
    req.push_str("0\r\n\r\n");
    let _ = s.write_all(req.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    // A refused push (bad line) and an accepted one: no temporary file stays.
    assert_eq!(
        push(
            api,
            Some(OPS_TOKEN),
            "scam-origins",
            "# callscreen list v1 name=scam-origins version=6\nbad\n"
        )
        .0,
        422
    );
    assert_eq!(
        push(
            api,
            Some(OPS_TOKEN),
            "scam-origins",
            "# callscreen list v1 name=scam-origins version=7\n+31201234567\n"
        )
        .0,
        200
    );
    let names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    // (A snapshot may be being written right now: only push files count.)
    assert!(names.iter().all(|n| !n.contains(".push-")), "{names:?}");
    assert!(
        names.contains(&"scam-origins.7.list".to_string()),
        "{names:?}"
    );
}

/// Issue #30, item 7: a body that is one long line of digits (a newline
/// missing) is refused with 422 and its line number, in time linear in
/// its size (the parser holds at most 4 KiB of a line), its answer short,
/// and the list in force keeps serving.
#[test]
fn a_line_without_its_newline_is_refused_with_its_number() {
    let dir = temp_dir("api-long-line");
    let d = Daemon::start_config(
        dir.clone(),
        config(&dir, &api_config(&dir.join("state"), 64 << 20)),
        &[],
    );
    let api = api_addr(&d);
    let mut body = String::from("# callscreen list v1 name=scam-origins version=2\n+");
    body.push_str(&"1".repeat(20 << 20));
    let (s, answer) = push(api, Some(OPS_TOKEN), "scam-origins", &body);
    assert_eq!(s, 422, "{}", &answer[..answer.len().min(500)]);
    assert!(
        answer.len() < 2048,
        "the answer does not echo the line: {} bytes",
        answer.len()
    );
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(v["errors"][0]["line"], 2);
    assert!(
        v["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 4096 bytes"),
        "{answer}"
    );
    let c = udp_client("127.0.0.1:0");
    let a = udp_ask(&c, d.udp, &invite("long-line", "+31201234567", "")).unwrap();
    assert!(a.starts_with("SIP/2.0 608"), "the seed list serves: {a}");
}

/// Issue #30, item 3: the API's connections are capped in all and per
/// address (others are closed at accept and counted), a silent one is
/// closed after the idle timeout, and a quiet call stream stays open (its
/// keep-alive lines count as traffic). Idle connections from one address
/// can no longer take the daemon's descriptors.
#[test]
fn api_connections_are_capped_per_address_and_idle_ones_closed() {
    let dir = temp_dir("api-limits");
    let extra = format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         max_connections = 6\nmax_connections_per_source = 3\nidle_timeout_secs = 2\n\
         [[api.clients]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\", \"calls\"]\n",
        dir.join("state").display(),
        sha(OPS_TOKEN)
    );
    let d = Daemon::start_config(dir.clone(), config(&dir, &extra), &[]);
    let api = api_addr(&d);
    let connect_from = |ip: &str| {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.bind(&format!("{ip}:0").parse::<SocketAddr>().unwrap().into())
            .unwrap();
        s.connect(&api.into()).unwrap();
        let s: TcpStream = s.into();
        s.set_read_timeout(Some(TIMEOUT)).unwrap();
        s
    };
    // Closed by the daemon: the read ends (EOF or reset) without an answer.
    let closed = |s: &mut TcpStream| {
        let mut b = [0u8; 64];
        matches!(s.read(&mut b), Ok(0) | Err(_))
    };
    // Three silent connections from 127.0.0.1: a fourth is closed at once.
    let mut idle: Vec<TcpStream> = (0..3).map(|_| connect_from("127.0.0.1")).collect();
    let mut fourth = connect_from("127.0.0.1");
    let _ = fourth.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
    assert!(closed(&mut fourth), "over the per-address limit");
    // Another address is served meanwhile.
    let mut other = connect_from("127.0.0.2");
    other.write_all(b"GET /healthz HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    other.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"),
        "{answer}"
    );
    // (From a fourth address: 127.0.0.1 is at its limit.)
    let mut q = connect_from("127.0.0.4");
    q.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut m = String::new();
    q.read_to_string(&mut m).unwrap();
    let refused = m
        .lines()
        .find_map(|l| l.strip_prefix("callscreen_api_connections_refused_total "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    assert!(refused.is_some_and(|n| n >= 1), "{refused:?}");
    // A quiet call stream outlives the idle timeout (keep-alive lines) ...
    let mut stream = connect_from("127.0.0.3");
    write!(
        stream,
        "GET /v1/calls/stream HTTP/1.0\r\nAuthorization: Bearer {OPS_TOKEN}\r\n\r\n"
    )
    .unwrap();
    // ... while the silent ones are closed by it.
    for s in idle.iter_mut() {
        let t = std::time::Instant::now();
        assert!(closed(s), "a silent connection is closed");
        assert!(t.elapsed() < TIMEOUT);
    }
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(4) {
        match stream.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        t0.elapsed() >= std::time::Duration::from_secs(4),
        "the stream was closed: {text}"
    );
    assert!(
        text.contains("\"stream\":\"calls\"") && text.ends_with("\n\n"),
        "{text}"
    );
    // Slots come back: the address that was refused is served again.
    assert_eq!(http(api, "GET", "/healthz", None, None, b"").0, 200);
}

/// Issue #31, item 5: the README's curl push, as written, is accepted by
/// the daemon on the example configuration.
#[test]
fn the_readmes_curl_push_is_accepted() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let from = readme
        .find("or with curl, here version 2")
        .expect("the README's curl example");
    let block = &readme[from..];
    let start = block.find("```sh\n").expect("its block") + 6;
    let script = &block[start..start + block[start..].find("```").expect("its end")];
    assert!(script.contains("http://127.0.0.1:8080"), "{script}");
    let d = example_daemon("readme-curl");
    let script = script.replace("http://127.0.0.1:8080", &format!("http://{}", api_addr(&d)));
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .current_dir(root)
        .output()
        .expect("sh and curl run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("\"outcome\":\"accepted\""),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\"version\":2"), "{text}");
}

/// Issue #31, item 11: `/metrics` has the build information and the
/// process series of the Prometheus conventions, with values that hold.
#[test]
fn metrics_have_build_info_and_the_process_series() {
    let d = example_daemon("process-metrics");
    let (s, text) = http(api_addr(&d), "GET", "/metrics", None, None, b"");
    assert_eq!(s, 200);
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
    };
    assert!(text.contains(&format!(
        "callscreen_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(
        started > now - 120.0 && started <= now + 1.0,
        "{started} {now}"
    );
    assert!(value("callscreen_uptime_seconds") < 120.0);
    assert!(value("process_resident_memory_bytes") > 1e6);
    assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
    let fds = value("process_open_fds");
    assert!(fds >= 4.0 && fds <= value("process_max_fds"), "{fds}");
    assert!(value("process_cpu_seconds_total") >= 0.0);
    assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
}

/// Issue #31, item 8: an emergency call has one name everywhere: the
/// verdict `allow` for the reason `emergency` (the NOC line, the stream's
/// verdicts, `/metrics`).
#[test]
fn an_emergency_call_is_allow_for_the_reason_emergency_everywhere() {
    let d = example_daemon("emergency-name");
    let c = udp_client("127.0.0.1:0");
    let msg = String::from_utf8(invite(
        "sos-name",
        "+31201234568",
        "X-Ingress-Trunk: kpn\r\n",
    ))
    .unwrap()
    .replace("+31104567890@cs.example", "112@cs.example");
    let r = udp_ask(&c, d.udp, msg.as_bytes()).expect("an answer");
    assert_eq!(status(&r), 302, "{r}");
    let line = d.noc_line("sos-name");
    assert!(
        line.contains("verdict=allow code=302 reasons=emergency"),
        "{line}"
    );
    let (_, text) = http(api_addr(&d), "GET", "/metrics", None, None, b"");
    assert!(
        text.contains("callscreen_calls_total{verdict=\"allow\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("callscreen_reasons_total{reason=\"emergency\"} 1"),
        "{text}"
    );
    assert!(!text.contains("verdict=\"emergency\""), "{text}");
}

/// Issue #31, item 2: `callscreen api add-client` makes a client (a token
/// shown once or written to a file, its hash in `conf.d/NAME.toml`), which
/// a reload puts in force; drop-ins hold clients only, and a name defined
/// twice is an error with both places.
#[test]
fn add_client_makes_a_client_that_a_reload_puts_in_force() {
    let d = example_daemon("add-client");
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_callscreen"))
            .args(args)
            .output()
            .expect("callscreen runs")
    };
    let cfg = d.config.to_str().unwrap().to_string();
    let token_file = d.dir.join("noc.token");
    let o = cli(&[
        "api",
        "add-client",
        "noc",
        "--operations",
        "read,calls",
        "--config",
        &cfg,
        "--token-file",
        token_file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("systemctl reload callscreen"));
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(token.len(), 64);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let drop_in = std::fs::read_to_string(d.dir.join("conf.d/noc.toml")).unwrap();
    assert!(
        drop_in.contains(&callscreen::api::hash_token(&token)),
        "{drop_in}"
    );
    assert!(!drop_in.contains(&token));
    // Not in force before a reload; in force after.
    let api = api_addr(&d);
    assert_eq!(
        http(api, "GET", "/v1/lists", Some(&token), None, b"").0,
        401
    );
    d.signal("HUP");
    d.stdout
        .wait_for(|l| l.contains("reloaded configuration and lists"))
        .expect("reloaded");
    assert_eq!(
        http(api, "GET", "/v1/lists", Some(&token), None, b"").0,
        200
    );
    let (s, _) = http(
        api,
        "PUT",
        "/v1/lists/scam-origins",
        Some(&token),
        Some("text/plain"),
        b"x",
    );
    assert_eq!(s, 403, "read and calls only");
    // The same name again, or a bad operation: refused, nothing written.
    let o = cli(&[
        "api",
        "add-client",
        "noc",
        "--operations",
        "read",
        "--config",
        &cfg,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("exists already"));
    let o = cli(&[
        "api",
        "add-client",
        "ops2",
        "--operations",
        "steal",
        "--config",
        &cfg,
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"steal\" is not an operation"));
    assert!(!d.dir.join("conf.d/ops2.toml").exists());
    // A drop-in naming a client of the main file, or holding other keys.
    std::fs::write(
        d.dir.join("conf.d/dup.toml"),
        format!(
            "[[api.clients]]\nname = \"acm\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\"]\n",
            callscreen::api::hash_token("another")
        ),
    )
    .unwrap();
    std::fs::write(d.dir.join("conf.d/sip.toml"), "[sip]\nudp = []\n").unwrap();
    let o = cli(&["config", "check", &cfg]);
    let err = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert!(!o.status.success());
    assert!(
        err.contains(
            "conf.d/dup.toml:1: api.clients[0].name: a client named \"acm\" is already defined at "
        ) && err.contains("callscreen.toml:"),
        "{err}"
    );
    assert!(
        err.contains("conf.d/sip.toml:1:") && err.contains("holds [[api.clients]] only"),
        "{err}"
    );
}

/// Issue #31, item 12: `callscreen status` shows the daemon on one screen;
/// `callscreen reload` reloads it through the API and says what changed,
/// or every error with its file and line (nothing changes then).
#[test]
fn status_and_reload_through_the_api() {
    const TOKEN: &str = "ops-token-for-status-tests";
    let dir = temp_dir("status-reload");
    let cfg = config(
        &dir,
        &format!(
            "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n\
             [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
             [[api.clients]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\", \"reload\"]\n\
             [[api.clients]]\nname = \"ro\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\"]\n",
            dir.join("state").display(),
            callscreen::api::hash_token(TOKEN),
            callscreen::api::hash_token("read-only")
        ),
    );
    let d = Daemon::start_config(dir.clone(), cfg.clone(), &[]);
    let api = api_addr(&d);
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_callscreen"))
            .args(args)
            .arg("--url")
            .arg(format!("http://{api}"))
            .arg("--token-file")
            .arg(dir.join("token"))
            .output()
            .expect("callscreen runs")
    };
    let text = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
    };
    let o = cli(&["status"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = text(&o);
    let version = format!("callscreen {}, up ", env!("CARGO_PKG_VERSION"));
    for want in [
        version.as_str(),
        "redirect mode, ready",
        "scam-origins",
        "version 1",
        "peers:",
        "dom ",
        "fleet:   not in a fleet",
        "reloads: 0 (0 refused)",
    ] {
        assert!(out.contains(want), "{want:?} in\n{out}");
    }
    let (s, _) = http(api, "POST", "/v1/reload", Some("read-only"), None, b"");
    assert_eq!(s, 403, "reload is an operation of its own");

    // Nothing to change; then a newer seed.
    let o = cli(&["reload"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("reloaded: no list changed"),
        "{}",
        text(&o)
    );
    std::fs::write(
        dir.join("scam.txt"),
        "# callscreen list v1 name=scam-origins version=2\n+31201234567\n+31201239999\n",
    )
    .unwrap();
    let o = cli(&["reload"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("scam-origins version 1 -> 2"),
        "{}",
        text(&o)
    );
    let c = udp_client("127.0.0.1:0");
    let r = udp_ask(&c, d.udp, &invite("status-1", "+31201239999", "")).unwrap();
    assert_eq!(status(&r), 608);

    // A broken configuration: refused with its file and line; nothing changed.
    let good = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, format!("{good}\n[bursts]\nwindow_secs = \"soon\"\n")).unwrap();
    let o = cli(&["reload"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let said = text(&o);
    assert!(
        said.contains("reload refused") && said.contains("callscreen.toml:"),
        "{said}"
    );
    let r = udp_ask(&c, d.udp, &invite("status-2", "+31201239999", "")).unwrap();
    assert_eq!(status(&r), 608, "version 2 still serves");
    std::fs::write(&cfg, good).unwrap();
    let out = text(&cli(&["status"]));
    assert!(out.contains("reloads: 2 (1 refused)"), "{out}");
}

/// A list with its own `min_prefix_digits` (international network
/// prefixes such as `+882*`, three digits) takes such prefixes from its
/// seed, a push, a patch and the store at a restart, while the other lists
/// keep `[list_guard]`'s six: the same lines pushed to them are refused
/// whole, with their line numbers, and the version before keeps serving.
#[test]
fn a_list_with_its_own_shortest_prefix_takes_what_the_others_refuse() {
    let dir = temp_dir("api-own-guard");
    std::fs::write(
        dir.join("intl.txt"),
        "# callscreen list v1 name=intl-networks version=1\n+882*,international-network\n",
    )
    .unwrap();
    let extra = format!(
        "{}[[lists]]\nname = \"intl-networks\"\nrole = \"blocklist\"\nfile = \"intl.txt\"\nmin_prefix_digits = 3\n",
        api_config(&dir.join("state"), 1 << 20)
    );
    let d = Daemon::start_config(dir.clone(), config(&dir, &extra), &[]);
    let api = api_addr(&d);
    let ops = Some(OPS_TOKEN);
    let c = udp_client("127.0.0.1:0");
    let code = |d: &Daemon, id: &str, from: &str| {
        udp_ask(&c, d.udp, &invite(id, from, "")).map(|r| status(&r))
    };
    assert_eq!(
        code(&d, "og-1", "+88212345678"),
        Some(608),
        "the seed's +882*"
    );
    // A push: taken by the list with its own guard, refused by the other.
    let body =
        "# callscreen list v1 name=intl-networks version=2\n+882*\n+883*,international-network\n";
    let (s, out) = push(api, ops, "intl-networks", body);
    assert_eq!(s, 200, "{out}");
    assert_eq!(code(&d, "og-2", "+88398765432"), Some(608));
    let (s, out) = push(
        api,
        ops,
        "scam-origins",
        "# callscreen list v1 name=scam-origins version=2\n+31201234567\n+883*\n",
    );
    assert_eq!(s, 422, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["total"].as_u64(), v["errors"][0]["line"].as_u64()),
        (Some(1), Some(3))
    );
    let msg = v["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("at least 6 digits"), "{msg}");
    assert_eq!(
        code(&d, "og-3", "+31201234567"),
        Some(608),
        "version 1 serves"
    );
    // A patch, the same.
    let json = |b: &str| b.as_bytes().to_vec();
    let (s, out) = http(
        api,
        "PATCH",
        "/v1/lists/intl-networks",
        ops,
        Some("application/json"),
        &json(r#"{"base_version": 2, "version": 3, "add": ["+881*"]}"#),
    );
    assert_eq!(s, 200, "{out}");
    assert_eq!(code(&d, "og-4", "+88100000001"), Some(608));
    let (s, out) = http(
        api,
        "PATCH",
        "/v1/lists/scam-origins",
        ops,
        Some("application/json"),
        &json(r#"{"base_version": 1, "version": 2, "add": ["+881*"]}"#),
    );
    assert_eq!(s, 422, "{out}");
    // Stored, and loaded again at a restart with the list's own guard.
    drop(d);
    let d = Daemon::start_config(dir.clone(), dir.join("callscreen.toml"), &[]);
    assert_eq!(
        code(&d, "og-5", "+88100000002"),
        Some(608),
        "version 3 after the restart"
    );
    assert_eq!(
        code(&d, "og-6", "+88400000002"),
        Some(302),
        "+884 is not listed"
    );
    // `config check` tells the list's own guard.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["config", "check"])
        .arg(dir.join("callscreen.toml"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("intl-networks@3 (blocklist, 3 entries, pushed")
            && text.contains("prefixes of 3 digits or more)"),
        "{text}"
    );
}
