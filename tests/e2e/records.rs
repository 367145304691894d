//! Call records (`[records]`): written by a real daemon off the call path,
//! found by each key (`GET /v1/calls`, `callscreen calls find`), kept
//! across a kill -9, removed by size; and `lists whatif` against what the
//! daemon then does when the candidate is pushed.

use std::net::SocketAddr;
use std::process::Command;

use crate::support::*;

const TOKEN: &str = "ops-token-for-records-tests";
const READ_ONLY: &str = "read-only-token-for-records-tests";

fn cfg(state: &std::path::Path, records: &str) -> String {
    // Sealing waits for a free core (`seal_wait_secs`); the tests share
    // the cores, so they seal at once unless they say otherwise.
    let wait = if records.contains("seal_wait_secs") {
        ""
    } else {
        "seal_wait_secs = 0\n"
    };
    format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         [[api.clients]]\nname = \"ops\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"records\", \"replace\", \"read\", \"reload\"]\n\
         [[api.clients]]\nname = \"ro\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\", \"calls\"]\n\
         [list_guard]\nmax_shrink_percent = 100\n\
         [records]\n{wait}{records}\n",
        state.display(),
        callscreen::api::hash_token(TOKEN),
        callscreen::api::hash_token(READ_ONLY),
    )
}

/// A metric's value (the sum of its series matching `filter`).
fn metric(api: SocketAddr, name: &str, filter: &str) -> u64 {
    let (_, body) = http(api, "GET", "/metrics", None, None, b"");
    body.lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Waits (polling, at most [`TIMEOUT`]) until `done` holds; fails saying `what`.
fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {TIMEOUT:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Waits until `n` records were written (the writer appends every 200 ms).
fn wait_written(api: SocketAddr, n: u64) {
    until(&format!("{n} records written"), || {
        metric(api, "callscreen_records_written_total", "") >= n
    });
}

fn find(api: SocketAddr, query: &str) -> serde_json::Value {
    let (s, body) = http(
        api,
        "GET",
        &format!("/v1/calls?{query}"),
        Some(TOKEN),
        None,
        b"",
    );
    assert_eq!(s, 200, "{query}: {body}");
    serde_json::from_str(&body).unwrap_or_default()
}

fn calls(v: &serde_json::Value) -> Vec<serde_json::Value> {
    v["calls"].as_array().cloned().unwrap_or_default()
}

/// An INVITE to `callee` from `from`.
fn invite_to(call_id: &str, from: &str, callee: &str) -> Vec<u8> {
    String::from_utf8_lossy(&invite(call_id, from, ""))
        .replace("+31104567890", callee)
        .into_bytes()
}

#[test]
fn calls_are_recorded_and_found_by_reference_call_id_caller_callee_and_peer() {
    let dir = temp_dir("records-find");
    // Small segments: some calls are found in sealed Parquet segments,
    // the last ones in the staging log.
    let c = config(&dir, &cfg(&dir.join("state"), "segment_records = 3\n"));
    let d = Daemon::start_config(dir.clone(), c, &[]);
    let api = api_addr(&d);
    let sock = udp_client("127.0.0.1:0");
    // A listed caller, rejected twice; clean calls to two subscribers.
    for i in 0..2 {
        let r = udp_ask(
            &sock,
            d.udp,
            &invite(&format!("rec-bad-{i}"), "+31201234567", ""),
        )
        .unwrap();
        assert_eq!(status(&r), 608);
    }
    wait_written(api, 2);
    for i in 0..5 {
        let callee = if i % 2 == 0 {
            "+31104567890"
        } else {
            "+31104567891"
        };
        let r = udp_ask(
            &sock,
            d.udp,
            &invite_to(&format!("rec-ok-{i}"), "+31201234999", callee),
        )
        .unwrap();
        assert_eq!(status(&r), 302);
        if i == 2 {
            // Five in the staging log: it is sealed; the last two go to the next one.
            wait_written(api, 5);
        }
    }
    wait_written(api, 7);
    until("the first staging log sealed", || {
        metric(api, "callscreen_records_sealed_total", "") >= 5
    });

    // By caller: the two rejected calls, oldest first, with their reasons,
    // list versions and references.
    let v = find(api, "caller=%2B31201234567");
    let c = calls(&v);
    assert_eq!(c.len(), 2, "{v}");
    assert_eq!(c[0]["call_id"], "rec-bad-0");
    assert_eq!(c[1]["call_id"], "rec-bad-1");
    assert_eq!(c[0]["verdict"], "reject");
    assert_eq!(c[0]["code"], 608);
    assert_eq!(c[0]["peer"], "dom");
    assert_eq!(c[0]["source"], "127.0.0.1");
    assert!(
        c[0]["reasons"]
            .as_str()
            .unwrap_or("")
            .contains("list:scam-origins"),
        "{v}"
    );
    assert!(
        c[0]["lists"]
            .as_str()
            .unwrap_or("")
            .contains("scam-origins@1"),
        "{v}"
    );
    assert_eq!(c[0]["caller_name"], "Caller");
    let reference = c[1]["ref"]
        .as_str()
        .expect("a rejected call has a reference")
        .to_string();
    assert_eq!(reference.len(), 10);

    // By the reference the caller quotes: that call only.
    let c = calls(&find(api, &format!("ref={reference}")));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["call_id"], "rec-bad-1");
    // By Call-ID; a clean call has no reference.
    let c = calls(&find(api, "call_id=rec-ok-3"));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["verdict"], "allow");
    assert_eq!(c[0]["callee"], "+31104567891");
    assert!(c[0]["ref"].is_null());
    // By callee, and paged.
    let v = find(api, "callee=%2B31104567890&limit=2");
    assert_eq!(calls(&v).len(), 2, "{v}");
    assert_eq!(v["more"], true);
    // The two rejected calls were to this callee too: five in all.
    let v = find(api, "callee=%2B31104567890&limit=2&offset=2");
    let c = calls(&v);
    assert_eq!(c.len(), 2, "{v}");
    assert_eq!(c[0]["call_id"], "rec-ok-0");
    assert_eq!(v["next_offset"], 4);
    let v = find(api, "callee=%2B31104567890&limit=2&offset=4");
    assert_eq!(calls(&v).len(), 1, "{v}");
    assert_eq!(v["more"], false);
    let v = find(api, "callee=%2B31104567890&limit=10");
    assert_eq!(calls(&v).len(), 5, "{v}");
    assert_eq!(v["more"], false);
    // By peer and time: all seven; a window in the past: none.
    assert_eq!(calls(&find(api, "peer=dom&since=1h")).len(), 7);
    assert_eq!(calls(&find(api, "peer=intl")).len(), 0);
    assert_eq!(
        calls(&find(api, "since=2020-01-01&until=2020-01-02")).len(),
        0
    );
    // Nothing asked, a bad number, an unknown parameter: 400 with what to do.
    for (q, says) in [
        ("", "say what to find"),
        ("caller=0201234567", "E.164"),
        ("who=me", "unknown parameter"),
    ] {
        let (s, body) = http(
            api,
            "GET",
            &format!("/v1/calls?{q}"),
            Some(TOKEN),
            None,
            b"",
        );
        assert_eq!(s, 400, "{q}: {body}");
        assert!(body.contains(says), "{q}: {body}");
    }
    // Past calls are traceback data: not for a client without `records`.
    let (s, _) = http(
        api,
        "GET",
        "/v1/calls?caller=%2B31201234567",
        Some(READ_ONLY),
        None,
        b"",
    );
    assert_eq!(s, 403);

    // Sealed segments exist and are Parquet ("PAR1" at both ends).
    let segs: Vec<_> = std::fs::read_dir(dir.join("state/records"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    assert_eq!(segs.len(), 1, "{segs:?}");
    for s in &segs {
        let b = std::fs::read(s).unwrap();
        assert!(b.starts_with(b"PAR1") && b.ends_with(b"PAR1"), "{s:?}");
    }

    // `callscreen calls find`: a table with the call.
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["calls", "find", "--ref", &reference, "--url"])
        .arg(format!("http://{api}"))
        .arg("--token-file")
        .arg(&token_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("time (UTC)"), "{text}");
    assert!(
        lines[1].contains(&reference) && lines[1].contains("rec-bad-1") && lines[1].contains("608"),
        "{text}"
    );

    // Stopped: what was queued is written and sealed; `calls export` reads
    // the directory itself (no daemon), CSV with the Parquet columns.
    d.signal("TERM");
    assert!(
        d.stdout
            .wait_for(|l| l.contains("callscreen stopped"))
            .is_some()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["calls", "export", "--since", "1h", "--config"])
        .arg(dir.join("callscreen.toml"))
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{csv}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(csv.lines().count(), 1 + 7, "{csv}");
    assert!(csv.starts_with("time_ms,call_id,ref,peer,"), "{csv}");
    assert!(
        std::fs::read_dir(dir.join("state/records"))
            .unwrap()
            .filter_map(|e| e.ok())
            .all(|e| !e.file_name().to_string_lossy().starts_with("stage-")),
        "every staging log sealed at stop"
    );
}

#[test]
fn records_survive_kill_9_and_a_torn_last_record_is_counted() {
    let dir = temp_dir("records-kill");
    let c = config(&dir, &cfg(&dir.join("state"), ""));
    {
        let d = Daemon::start_config(dir.clone(), c.clone(), &[]);
        let api = api_addr(&d);
        let sock = udp_client("127.0.0.1:0");
        for i in 0..4 {
            udp_ask(
                &sock,
                d.udp,
                &invite(&format!("kill-{i}"), "+31201234999", ""),
            )
            .unwrap();
        }
        wait_written(api, 4);
        d.signal("KILL");
        // (Dropping the daemon waits for it.)
    }
    // A crash in the middle of a write: half a record at the end.
    let stage = std::fs::read_dir(dir.join("state/records"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().contains("stage-"))
        .expect("the staging log the killed daemon left");
    let mut b = std::fs::read(&stage).unwrap();
    b.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3]);
    std::fs::write(&stage, b).unwrap();
    // And a segment a crash left half written (the sealing process killed
    // before its rename): not a segment, removed at the next start.
    let half = dir.join("state/records/.seg-0000000001-1-2.parquet.tmp");
    std::fs::write(&half, b"PAR1 half").unwrap();

    let d = Daemon::start_config(dir.clone(), c, &[]);
    let api = api_addr(&d);
    let v = find(api, "caller=%2B31201234999");
    assert_eq!(calls(&v).len(), 4, "{v}");
    until("the torn record is counted", || {
        metric(api, "callscreen_records_dropped_total", "torn") == 1
    });
    assert!(!half.exists(), "the half-written segment stayed");
    until("the staging log sealed", || {
        metric(api, "callscreen_records_sealed_total", "") == 4
    });
}

/// Busy loops on every core while alive (killed on drop).
struct Spinners(Vec<std::process::Child>);

impl Spinners {
    fn on_every_core() -> Spinners {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        Spinners(
            (0..n)
                .map(|_| {
                    Command::new("sh")
                        .args(["-c", "while :; do :; done"])
                        .spawn()
                        .expect("sh")
                })
                .collect(),
        )
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn sealing_waits_for_a_free_core_but_not_past_seal_wait_secs() {
    let dir = temp_dir("records-wait");
    let c = config(
        &dir,
        &cfg(
            &dir.join("state"),
            "segment_records = 2\nseal_wait_secs = 3\n",
        ),
    );
    let d = Daemon::start_config(dir.clone(), c, &[]);
    let api = api_addr(&d);
    let sock = udp_client("127.0.0.1:0");
    let spin = Spinners::on_every_core();
    for i in 0..2 {
        let r = udp_ask(
            &sock,
            d.udp,
            &invite(&format!("wait-{i}"), "+31201234999", ""),
        )
        .unwrap();
        assert_eq!(status(&r), 302);
    }
    wait_written(api, 2);
    // Every core busy: the full staging log waits, and is searchable.
    // (The log is on stdout, with the NOC lines.)
    d.stdout
        .wait_for(|l| l.contains("no core free; sealing waits"))
        .expect("the sealer says it waits");
    let t0 = std::time::Instant::now();
    assert_eq!(metric(api, "callscreen_records_sealed_total", ""), 0);
    assert_eq!(calls(&find(api, "caller=%2B31201234999")).len(), 2);
    // seal_wait_secs on, it is sealed although the cores are still busy.
    let sealed = d
        .stdout
        .wait_for(|l| l.contains("sealing after waiting"))
        .expect("sealed after the wait");
    assert!(
        t0.elapsed() >= std::time::Duration::from_secs(2),
        "sealed after {:?}, not after seal_wait_secs: {sealed}",
        t0.elapsed()
    );
    until("the waiting staging log sealed", || {
        metric(api, "callscreen_records_sealed_total", "") == 2
    });
    drop(spin);
    assert_eq!(calls(&find(api, "caller=%2B31201234999")).len(), 2);
}

#[test]
fn the_oldest_segments_go_when_the_records_take_more_than_max_bytes() {
    let dir = temp_dir("records-size");
    let c = config(
        &dir,
        &cfg(
            &dir.join("state"),
            "segment_records = 2\nmax_bytes = 20000\n",
        ),
    );
    let d = Daemon::start_config(dir.clone(), c, &[]);
    let api = api_addr(&d);
    let sock = udp_client("127.0.0.1:0");
    let mut n = 0;
    // Segments of two calls each, until retention has removed some.
    while metric(api, "callscreen_records_expired_total", "") == 0 {
        assert!(n < 200, "nothing removed after {n} calls");
        for _ in 0..2 {
            udp_ask(
                &sock,
                d.udp,
                &invite(&format!("size-{n:03}"), "+31201234999", ""),
            )
            .unwrap();
            n += 1;
        }
        wait_written(api, n);
    }
    // A segment sealed after the last retention pass may still be on its
    // way out (retention runs after every seal): the bound holds once the
    // sealing of the calls sent is done.
    let total = || -> u64 {
        std::fs::read_dir(dir.join("state/records"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
            .map(|e| e.metadata().map_or(0, |m| m.len()))
            .sum()
    };
    until("the records within max_bytes", || total() <= 20_000);
    // The oldest calls went first; the newest are still found.
    assert!(calls(&find(api, "call_id=size-000")).is_empty());
    let last = format!("call_id=size-{:03}", n - 1);
    assert_eq!(calls(&find(api, &last)).len(), 1);
}

#[test]
fn whatif_predicts_what_the_daemon_does_once_the_candidate_is_pushed() {
    let dir = temp_dir("records-whatif");
    let c = config(&dir, &cfg(&dir.join("state"), ""));
    let d = Daemon::start_config(dir.clone(), c, &[]);
    let api = api_addr(&d);
    let sock = udp_client("127.0.0.1:0");
    // Version 1 lists +31201234567 and +4930901820*.
    let callers = [
        ("+31201234567", 2, 608),   // listed now, not in the candidate
        ("+31201230001", 3, 302),   // added by the candidate
        ("+31201230002", 1, 302),   // added by the candidate
        ("+4930901820555", 1, 608), // listed by both
        ("+31201230003", 2, 302),   // in neither
    ];
    let mut n = 0;
    for (caller, times, code) in callers {
        for _ in 0..times {
            let r = udp_ask(&sock, d.udp, &invite(&format!("wi-{n}"), caller, "")).unwrap();
            assert_eq!(status(&r), code, "{caller}");
            n += 1;
        }
    }
    wait_written(api, n);

    let candidate = "# callscreen list v1 name=scam-origins version=2\n+31201230001\n+31201230002\n+4930901820*\n";
    let (s, body) = http(
        api,
        "POST",
        "/v1/lists/scam-origins/whatif?since=1h",
        Some(TOKEN),
        Some("text/plain"),
        candidate.as_bytes(),
    );
    assert_eq!(s, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["installed"], false);
    assert_eq!(v["current_version"], 1);
    assert_eq!(v["candidate_version"], 2);
    let r = &v["report"];
    assert_eq!(r["calls"], 9, "{r}");
    assert_eq!(r["newly_rejected"]["calls"], 4, "{r}");
    assert_eq!(r["newly_rejected"]["callers"], 2, "{r}");
    assert_eq!(r["newly_rejected"]["by_peer"]["dom"], 4, "{r}");
    assert_eq!(
        r["newly_rejected"]["top_callers"][0],
        serde_json::json!(["+31201230001", 3])
    );
    assert_eq!(
        r["newly_rejected"]["top_callers"][1],
        serde_json::json!(["+31201230002", 1])
    );
    assert_eq!(
        r["newly_rejected"]["top_callees"][0],
        serde_json::json!(["+31104567890", 4])
    );
    assert_eq!(r["newly_passed"]["calls"], 2, "{r}");
    assert_eq!(r["newly_passed"]["callers"], 1, "{r}");
    assert_eq!(r["other_changes"], 0, "{r}");
    // Its examples name the calls (and, when rejected, their references).
    let ex = r["newly_passed"]["examples"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0]["call_id"], "wi-0");
    assert_eq!(ex[0]["recorded"], "reject");
    assert_eq!(ex[0]["candidate"], "allow");
    assert!(ex[0]["ref"].is_string());

    // Nothing was installed.
    let (_, lists) = http(api, "GET", "/v1/lists", Some(TOKEN), None, b"");
    assert!(lists.contains("\"version\":1"), "{lists}");
    // A broken candidate: refused with its line, as a push would be.
    let (s, body) = http(
        api,
        "POST",
        "/v1/lists/scam-origins/whatif",
        Some(TOKEN),
        Some("text/plain"),
        b"# callscreen list v1 name=scam-origins version=2\n+31201230001\nnot-a-number\n",
    );
    assert_eq!(s, 422, "{body}");
    assert!(body.contains("\"line\":3"), "{body}");
    // A client without `records` may not ask.
    let (s, _) = http(
        api,
        "POST",
        "/v1/lists/scam-origins/whatif",
        Some(READ_ONLY),
        None,
        candidate.as_bytes(),
    );
    assert_eq!(s, 403);

    // `callscreen lists whatif`, for people.
    let token_file = dir.join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let file = dir.join("candidate.txt");
    std::fs::write(&file, candidate).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["lists", "whatif", "scam-origins"])
        .arg(&file)
        .arg("--url")
        .arg(format!("http://{api}"))
        .arg("--token-file")
        .arg(&token_file)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("would be rejected, let through now: 4 calls, 2 callers"),
        "{text}"
    );
    assert!(
        text.contains("would be let through, rejected now: 2 calls, 1 callers"),
        "{text}"
    );
    assert!(text.contains("+31201230001 (3)"), "{text}");

    // Pushed: the daemon does what the what-if said, call for call.
    assert_eq!(put_list(api, TOKEN, "scam-origins", candidate), 200);
    let predicted = |caller: &str| {
        for k in ["newly_rejected", "newly_passed"] {
            if r[k]["by_caller"].is_null()
                && r[k]["top_callers"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|p| p[0] == caller))
            {
                return if k == "newly_rejected" { 608 } else { 302 };
            }
        }
        // Unchanged: as recorded.
        callers.iter().find(|c| c.0 == caller).map_or(0, |c| c.2)
    };
    for (caller, times, _) in callers {
        for _ in 0..times {
            let r = udp_ask(&sock, d.udp, &invite(&format!("wi-{n}"), caller, "")).unwrap();
            assert_eq!(status(&r), predicted(caller), "{caller}");
            n += 1;
        }
    }
}

#[test]
fn a_full_disk_stops_the_records_not_the_calls() {
    let dir = temp_dir("records-full");
    let rec = dir.join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    let c = config(
        &dir,
        &cfg(
            &dir.join("state"),
            &format!("dir = {:?}\n", rec.display().to_string()),
        ),
    );
    // The records directory is a 64 KiB tmpfs in the daemon's own mount
    // namespace (in a user namespace: no root needed): a real ENOSPC.
    let d = Daemon::start_wrapped(
        dir.clone(),
        c,
        &[
            "unshare",
            "-rm",
            "sh",
            "-c",
            "mount -t tmpfs -o size=64k tmpfs \"$0\" && exec \"$@\"",
            &rec.display().to_string(),
        ],
    );
    let api = api_addr(&d);
    let sock = udp_client("127.0.0.1:0");
    let mut n = 0;
    // A record is some 150 bytes: the disk is full after about 400.
    while metric(api, "callscreen_records_dropped_total", "write") == 0 {
        assert!(n < 3000, "no write failed after {n} calls");
        for _ in 0..50 {
            let r = udp_ask(
                &sock,
                d.udp,
                &invite(&format!("full-{n}"), "+31201234999", ""),
            );
            assert_eq!(r.as_deref().map(status), Some(302), "call {n} answered");
            n += 1;
        }
        // Every call is either written or counted as lost.
        until(&format!("{n} calls accounted for"), || {
            metric(api, "callscreen_records_written_total", "")
                + metric(api, "callscreen_records_dropped_total", "write")
                >= n
        });
    }
    assert!(
        d.stdout
            .wait_for(|l| l.contains("call records not written"))
            .is_some(),
        "the failure is said in the log"
    );
    // The calls written before the disk filled are still found whole, and
    // a failed batch left no half record behind it.
    let v = find(api, "call_id=full-0");
    assert_eq!(calls(&v).len(), 1, "{v}");
    let written = metric(api, "callscreen_records_written_total", "");
    let v = find(api, "since=1h&limit=10000");
    assert_eq!(calls(&v).len() as u64, written, "{v}");
}

#[test]
fn a_reload_says_that_changed_records_settings_wait_for_a_restart() {
    let dir = temp_dir("records-reload");
    let c = config(&dir, &cfg(&dir.join("state"), "max_age_days = 90\n"));
    let d = Daemon::start_config(dir.clone(), c.clone(), &[]);
    let api = api_addr(&d);
    let (s, body) = http(api, "POST", "/v1/reload", Some(TOKEN), None, b"");
    assert_eq!(s, 200, "{body}");
    assert!(!body.contains("[records]"), "nothing changed: {body}");
    let text = std::fs::read_to_string(&c).unwrap();
    std::fs::write(&c, text.replace("max_age_days = 90", "max_age_days = 30")).unwrap();
    let (s, body) = http(api, "POST", "/v1/reload", Some(TOKEN), None, b"");
    assert_eq!(s, 200, "{body}");
    assert!(
        body.contains("[records] changed in the config: call records go on as they were started until the next restart"),
        "{body}"
    );
    // Still recording.
    let sock = udp_client("127.0.0.1:0");
    let r = udp_ask(&sock, d.udp, &invite("reload-rec", "+31201234999", "")).unwrap();
    assert_eq!(status(&r), 302);
    wait_written(api, 1);
}
