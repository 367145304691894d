//! Hits per list entry (`GET /v1/lists/{name}/hits`, `callscreen lists
//! hits`): counted by a real daemon, kept across a restart, reset when an
//! entry leaves its list.

use std::process::Command;

use crate::support::*;

const TOKEN: &str = "acm-feedback-token-for-hits-tests";
const READ_ONLY: &str = "read-only-token-for-hits-tests";

fn api(state: &std::path::Path) -> String {
    format!(
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n\
         [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\n\
         [[api.clients]]\nname = \"acm\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"hits\", \"replace\"]\n\
         [[api.clients]]\nname = \"ro\"\ntoken_sha256 = \"{}\"\nlists = [\"*\"]\noperations = [\"read\"]\n\
         [list_guard]\nmax_shrink_percent = 100\n",
        state.display(),
        callscreen::api::hash_token(TOKEN),
        callscreen::api::hash_token(READ_ONLY),
    )
}

fn report(api: std::net::SocketAddr, query: &str) -> serde_json::Value {
    let (s, body) = http(
        api,
        "GET",
        &format!("/v1/lists/scam-origins/hits{query}"),
        Some(TOKEN),
        None,
        b"",
    );
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_default()
}

#[test]
fn hits_are_counted_per_entry_kept_across_a_restart_and_reset_when_the_entry_leaves() {
    let dir = temp_dir("hits");
    let cfg = config(&dir, &api(&dir.join("state")));
    {
        let d = Daemon::start_config(dir.clone(), cfg.clone(), &[]);
        let api = api_addr(&d);
        let c = udp_client("127.0.0.1:0");
        for i in 0..3 {
            let r = udp_ask(&c, d.udp, &invite(&format!("n-{i}"), "+31201234567", "")).unwrap();
            assert_eq!(status(&r), 608);
        }
        for i in 0..2 {
            let r = udp_ask(&c, d.udp, &invite(&format!("p-{i}"), "+4930901820555", "")).unwrap();
            assert_eq!(status(&r), 608);
        }
        udp_ask(&c, d.udp, &invite("clean", "+31201234568", "")).unwrap();
        // Only a client with the hits scope reads them.
        assert_eq!(
            http(
                api,
                "GET",
                "/v1/lists/scam-origins/hits",
                Some(READ_ONLY),
                None,
                b""
            )
            .0,
            403
        );
        // A node on its own has no fleet to sum over, and says so.
        let (code, body) = http(
            api,
            "GET",
            "/v1/lists/scam-origins/hits?fleet=1",
            Some(TOKEN),
            None,
            b"",
        );
        assert_eq!(code, 400, "{body}");
        assert!(body.contains("not in a fleet"), "{body}");
        let v = report(api, "");
        let e = v["entries"].as_array().cloned().unwrap_or_default();
        assert_eq!(e.len(), 2, "{v}");
        assert_eq!(e[0]["entry"], "+31201234567");
        assert_eq!(e[0]["hits"], 3);
        assert_eq!(e[0]["by_verdict"]["reject"], 3);
        assert_eq!(e[1]["entry"], "+4930901820*");
        assert_eq!(e[1]["hits"], 2);
        assert_eq!(v["table"]["overflow"], 0);
        assert_eq!(
            report(api, "?top=1")["entries"].as_array().map(Vec::len),
            Some(1)
        );
        // CSV, and `callscreen lists hits`.
        let token_file = dir.join("token");
        std::fs::write(&token_file, TOKEN).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_callscreen"))
            .args(["lists", "hits", "scam-origins", "--csv", "--url"])
            .arg(format!("http://{api}"))
            .arg("--token-file")
            .arg(&token_file)
            .output()
            .unwrap();
        let csv = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{csv}");
        let mut lines = csv.lines();
        assert_eq!(
            lines.next(),
            Some("entry,hits,allow,tag,anonymise,warn,reject,first,last")
        );
        assert!(
            lines
                .next()
                .unwrap_or_default()
                .starts_with("+31201234567,3,0,0,0,0,3,"),
            "{csv}"
        );
        // Stopped (SIGTERM): the counts are saved.
        d.signal("TERM");
        assert!(
            d.stdout
                .wait_for(|l| l.contains("callscreen stopped"))
                .is_some()
        );
    }
    let d = Daemon::start_config(dir.clone(), cfg, &[]);
    let api = api_addr(&d);
    let v = report(api, "");
    assert_eq!(
        v["entries"][0]["hits"], 3,
        "read back after the restart: {v}"
    );
    // A new version without the number: its count is gone; the prefix's stays.
    let v2 = "# callscreen list v1 name=scam-origins version=2\n+4930901820*\n+31201234599\n";
    assert_eq!(put_list(api, TOKEN, "scam-origins", v2), 200);
    // (The counts are reset as the new version goes in force, before the answer.)
    let v = report(api, "");
    let e = v["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(e.len(), 1, "{v}");
    assert_eq!(e[0]["entry"], "+4930901820*");
    assert_eq!(e[0]["hits"], 2);
    assert_eq!(
        v["table"]["used"], 1,
        "the number's slot is free again: {v}"
    );
    // Put back, it starts from nothing.
    let v3 = "# callscreen list v1 name=scam-origins version=3\n+4930901820*\n+31201234567\n";
    assert_eq!(put_list(api, TOKEN, "scam-origins", v3), 200);
    let c = udp_client("127.0.0.1:0");
    udp_ask(&c, d.udp, &invite("again", "+31201234567", "")).unwrap();
    let v = report(api, "");
    let e = v["entries"].as_array().cloned().unwrap_or_default();
    let n = e
        .iter()
        .find(|x| x["entry"] == "+31201234567")
        .cloned()
        .unwrap_or_default();
    assert_eq!(n["hits"], 1, "{v}");
}
