//! Bursts (`[bursts]`): a real daemon counts calls per caller number and per
//! block in its window; the call that reaches a threshold gets the reason,
//! and the policy acts on it like on any other.

use crate::support::*;

const BURST: &str = "[bursts]\nwindow_secs = 60\ncalls_per_number = 5\ncalls_per_block = 8\nblock_digits = 9\n\
[policy.rules]\n\"burst\" = { action = \"reject\", code = 486, text = \"Too many calls\" }\n";

/// An INVITE from `from` to `to`.
fn call(id: &str, from: &str, to: &str) -> Vec<u8> {
    String::from_utf8(invite(id, from, ""))
        .unwrap()
        .replace(
            "INVITE sip:+31104567890@cs.example;user=phone",
            &format!("INVITE sip:{to}@cs.example;user=phone"),
        )
        .into_bytes()
}

#[test]
fn the_call_that_reaches_the_threshold_is_a_burst_and_the_policy_acts_on_it() {
    let d = Daemon::start("burst", BURST);
    let c = udp_client("127.0.0.1:0");
    let from = "+31612340001";
    // Four calls: below the threshold. A retransmission and an emergency
    // call in between are not counted.
    for i in 1..=4 {
        let id = format!("b-{i}");
        let r = udp_ask(&c, d.udp, &call(&id, from, "+31104567890")).unwrap();
        assert_eq!(status(&r), 302, "call {i}: {r}");
        assert!(!d.noc_line(&id).contains("burst"), "call {i}");
        if i == 2 {
            let again = udp_ask(&c, d.udp, &call(&id, from, "+31104567890")).unwrap();
            assert_eq!(status(&again), 302);
            let sos = udp_ask(&c, d.udp, &call("b-sos", from, "112")).unwrap();
            assert_eq!(status(&sos), 302);
            assert!(d.noc_line("b-sos").contains("reasons=emergency"));
        }
    }
    // The fifth: rejected as the policy says, the reason in the NOC line.
    let r = udp_ask(&c, d.udp, &call("b-5", from, "+31104567890")).unwrap();
    assert_eq!(status(&r), 486, "{r}");
    assert_eq!(
        header(&r, "Reason"),
        Some("SIP;cause=486;text=\"Too many calls\"")
    );
    let line = d.noc_line("b-5");
    assert!(
        line.contains("verdict=reject code=486 reasons=burst caller=+31612340001"),
        "{line}"
    );
    // An emergency call from the bursting number still goes through.
    let sos = udp_ask(&c, d.udp, &call("b-sos-2", from, "112")).unwrap();
    assert_eq!(status(&sos), 302);
    // Three more numbers of the same block (+31 6 1234 0xxx), one call each:
    // the block's eighth call is tagged burst-block (its default rule).
    for (i, n) in ["+31612340002", "+31612340003"].iter().enumerate() {
        let id = format!("blk-{i}");
        let r = udp_ask(&c, d.udp, &call(&id, n, "+31104567890")).unwrap();
        assert_eq!(status(&r), 302);
        assert!(!d.noc_line(&id).contains("burst"));
    }
    let r = udp_ask(&c, d.udp, &call("blk-8", "+31612340004", "+31104567890")).unwrap();
    assert_eq!(status(&r), 302, "{r}");
    assert_eq!(header(&r, "X-Callscreen"), Some("burst-block"), "{r}");
    assert!(
        d.noc_line("blk-8")
            .contains("verdict=tag code=302 reasons=burst-block")
    );
    // Another block is untouched.
    let r = udp_ask(&c, d.udp, &call("other", "+31612349999", "+31104567890")).unwrap();
    assert_eq!(status(&r), 302);
    assert!(header(&r, "X-Callscreen").is_none(), "{r}");
}

#[test]
fn burst_settings_are_checked_with_their_line() {
    let dir = temp_dir("burst-config");
    let cfg = config(&dir, "[bursts]\nwindow_secs = 0\nblock_digits = 3\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["config", "check"])
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bursts.window_secs") && err.contains("1 to 3600"),
        "{err}"
    );
    // file:line: key: what to write
    let line = err
        .lines()
        .find(|l| l.contains(": bursts.window_secs:"))
        .unwrap_or_default();
    let at = line
        .split(": bursts.window_secs:")
        .next()
        .unwrap_or_default();
    assert!(
        at.ends_with(char::is_numeric) && at.contains("callscreen.toml:"),
        "{line}"
    );
    assert!(
        err.contains("bursts.block_digits") && err.contains("4 to 14"),
        "{err}"
    );
}
