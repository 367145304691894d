//! The daemon's systemd side: READY, WATCHDOG and RELOADING reach the
//! notification socket, and the unit file carries what the service needs.

use std::os::unix::net::UnixDatagram;

use crate::support::*;

fn recv_until(sock: &UnixDatagram, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                let hit = msg.lines().any(|l| l == want);
                seen.push(msg);
                if hit {
                    return seen;
                }
            }
            Err(e) => panic!("no {want} on the notify socket ({e}); got {seen:?}"),
        }
    }
}

#[test]
fn ready_watchdog_and_reload_are_notified() {
    let dir = temp_dir("sdnotify");
    let path = dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(TIMEOUT)).unwrap();
    let cfg = config(
        &dir,
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 1\n",
    );
    // The daemon's environment as systemd sets it: pings every 200 ms.
    let env = [
        ("NOTIFY_SOCKET", path.to_str().unwrap()),
        ("WATCHDOG_USEC", "400000"),
    ];
    let d = Daemon::start_env(dir.clone(), cfg, &env);
    recv_until(&sock, "READY=1");
    recv_until(&sock, "WATCHDOG=1");
    d.signal("HUP");
    let seen = recv_until(&sock, "RELOADING=1");
    assert!(seen.last().unwrap().contains("MONOTONIC_USEC="), "{seen:?}");
    recv_until(&sock, "READY=1");
}

#[test]
fn the_unit_file_has_what_the_service_needs() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/callscreen.service"
    ))
    .unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=10s",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "StateDirectory=callscreen",
        "AmbientCapabilities=CAP_NET_BIND_SERVICE",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
        "LogRateLimitIntervalSec=0",
        "ExecStartPre=/usr/bin/callscreen config check /etc/callscreen/callscreen.toml",
        "ExecStart=/usr/bin/callscreen run --config /etc/callscreen/callscreen.toml",
    ] {
        assert!(unit.lines().any(|l| l == line), "missing {line}");
    }
}
