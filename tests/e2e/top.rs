//! `callscreen top` on a real terminal (tmux, 80×24) against a real daemon
//! screening SIP calls.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

const NOC: &str = "noc-token-for-top-tests";
const READ_ONLY: &str = "read-only-token-for-top-tests";

fn daemon(name: &str) -> (Daemon, SocketAddr) {
    noc_view_daemon(name, NOC, READ_ONLY)
}

/// `callscreen top` in a detached tmux session of 80×24; says
/// `EXITED <code>` when it ends.
struct Screen {
    session: String,
}

impl Screen {
    fn start(name: &str, api: SocketAddr, token: &str) -> Screen {
        if Command::new("tmux").arg("-V").output().is_err() {
            panic!("tmux is needed (apt-get install tmux; .ci/run installs it)");
        }
        let dir = temp_dir(&format!("{name}-token"));
        let token_file = dir.join("token");
        std::fs::write(&token_file, token).expect("the token file");
        let session = format!("callscreen-{name}-{}", std::process::id());
        let s = Screen { session };
        let cmd = format!(
            "{} top --url http://{api} --token-file {}; echo EXITED $?; sleep 60",
            env!("CARGO_BIN_EXE_callscreen"),
            token_file.display()
        );
        let started = s.tmux(&[
            "new-session",
            "-d",
            "-x",
            "80",
            "-y",
            "24",
            "-s",
            &s.session,
            &cmd,
        ]);
        assert!(started.status.success(), "{started:?}");
        s
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.session])
            .args(args)
            .output()
            .expect("tmux")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(
            &self
                .tmux(&["capture-pane", "-p", "-t", &self.session])
                .stdout,
        )
        .into_owned()
    }

    /// Waits (10 s at most) until every one of `what` is on the screen.
    fn wait(&self, what: &[&str]) -> String {
        self.wait_until(&format!("{what:?}"), |s| what.iter().all(|w| s.contains(w)))
    }

    /// Waits (10 s at most) until the screen shows what `done` looks for.
    fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            let s = self.text();
            if done(&s) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("never on the screen: {what}\n{}", self.text());
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn line_with<'a>(screen: &'a str, what: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(what))
        .unwrap_or_else(|| panic!("no line with {what:?}:\n{screen}"))
}

#[test]
fn callscreen_top_shows_rates_reasons_peers_rejected_callers_and_lists_and_q_quits() {
    let (d, api) = daemon("top");
    let screen = Screen::start("top", api, NOC);
    screen.wait(&["callscreen top", "scam-origins", "acm-withdrawn"]);
    // Three rounds: one call from a listed number, one from
    // a withdrawn range, two clean, from peer dom (the SBC's default) and
    // peer direct.
    let sbc = udp_client("127.0.0.1:0");
    let direct = udp_client("127.0.0.2:0");
    for round in 0..3 {
        for (i, from) in ["+31201234567", "+31852081234", "+31612345678"]
            .iter()
            .enumerate()
        {
            let a = udp_ask(&sbc, d.udp, &invite(&format!("top-{round}-{i}"), from, ""));
            assert!(a.is_some());
        }
        let a = udp_ask(
            &direct,
            d.udp,
            &invite(&format!("top-d-{round}"), "+31612345679", ""),
        );
        assert!(a.is_some());
    }
    // Every call on the screen: the listed caller's third rejection counted
    // (the screen is redrawn every second).
    let s = screen.wait_until("all three rounds", |s| {
        ["+31852081234", "blocklist", "withdrawn", "│direct "]
            .iter()
            .all(|w| s.contains(w))
            && s.lines()
                .any(|l| l.starts_with("│+31201234567") && l.contains(" 3 "))
            // dom's last (clean) call of the last round counted too.
            && s.lines().any(|l| l.contains("│dom ") && l.contains("67%"))
    });
    // The screen is 80 columns wide and nothing is cut off.
    assert!(s.lines().all(|l| l.chars().count() <= 80), "{s}");
    assert!(s.contains("q quits"), "{s}");
    // Calls/s by verdict, the latency quantiles.
    let rates = line_with(&s, "calls/s");
    assert!(
        rates.contains("reject") && rates.contains("allow"),
        "{rates}"
    );
    assert!(line_with(&s, "p50").contains("µs"), "{s}");
    // dom: two rejects of three calls (waited for above); direct: none
    // rejected.
    assert!(line_with(&s, "│direct ").contains(" 0%"), "{s}");
    // Rejected callers with their counts, their prefixes (6 digits).
    assert!(s.contains("+312012…"), "{s}");
    assert!(
        !s.contains("+31612345678"),
        "a clean caller is not a rejected one:\n{s}"
    );
    // Every list with its version and entries.
    let scam = line_with(&s, "scam-origins");
    assert!(
        scam.split_whitespace().collect::<Vec<_>>()[1..3] == ["1", "2"],
        "{scam}"
    );
    // q quits, and the terminal is given back.
    screen.tmux(&["send-keys", "-t", &screen.session, "q"]);
    let after = screen.wait(&["EXITED 0"]);
    assert!(!after.contains("callscreen top"), "{after}");
}

/// Issue #31, item 10: the refusal is shown whole at 80 columns (wrapped,
/// its status and the API's text to the end), not cut at the edge.
#[test]
fn callscreen_top_without_the_calls_operation_says_what_is_missing() {
    let (_d, api) = daemon("top-ro");
    let screen = Screen::start("top-ro", api, READ_ONLY);
    // The status is looked for with its path before it: the API's port,
    // in the title, may hold the same three digits.
    let s = screen.wait_until("the 403 and the lists", |s| {
        joined(s).contains("verdict=reject: 403 ") && s.contains("scam-origins")
    });
    assert!(
        joined(&s).contains("may not do that"),
        "the API's answer to its end:\n{s}"
    );
    screen.tmux(&["send-keys", "-t", &screen.session, "q"]);
    screen.wait(&["EXITED 0"]);
    // A wrong token: the 401 whole, though /metrics (open) still updates.
    let screen = Screen::start("top-wrong", api, "not-a-token");
    let s = screen.wait_until("the 401 and the lists", |s| {
        joined(s).contains("verdict=reject: 401 ") && s.contains("scam-origins")
    });
    assert!(
        joined(&s).contains("a valid bearer token is required"),
        "the 401's text to its end:\n{s}"
    );
    screen.tmux(&["send-keys", "-t", &screen.session, "q"]);
    screen.wait(&["EXITED 0"]);
}

/// The screen's lines joined by one space, as a wrapped text reads.
fn joined(s: &str) -> String {
    s.lines().map(str::trim_end).collect::<Vec<_>>().join(" ")
}

/// Issue #31, item 10: keys as in htop: h shows them, p pauses, s sorts the
/// peers, l hides the lists, q quits.
#[test]
fn callscreen_top_keys_help_pause_sort_and_lists() {
    let (_d, api) = daemon("top-keys");
    let screen = Screen::start("top-keys", api, NOC);
    screen.wait(&["h help", "scam-origins"]);
    let key = |k: &str| screen.tmux(&["send-keys", "-t", &screen.session, k]);
    key("h");
    screen.wait(&["pause / resume the refresh", "sort peers"]);
    key("h");
    screen.wait_until("help closed", |s| !s.contains("pause / resume"));
    key("p");
    screen.wait(&["PAUSED (p resumes)"]);
    key("p");
    screen.wait_until("resumed", |s| !s.contains("PAUSED"));
    key("s");
    screen.wait(&["top peers by reject share"]);
    key("l");
    screen.wait_until("lists hidden", |s| !s.contains("acm-withdrawn"));
    key("l");
    screen.wait(&["acm-withdrawn"]);
    key("q");
    screen.wait(&["EXITED 0"]);
}

#[test]
fn callscreen_top_into_a_pipe_refuses_and_says_what_to_use() {
    let out = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["top", "--token-file", "/nonexistent"])
        .output()
        .expect("callscreen");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("callscreen tail"),
        "{err}"
    );
}
