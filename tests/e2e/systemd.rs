//! The daemon's systemd side: READY, WATCHDOG and RELOADING reach the
//! notification socket, the unit file carries what the service needs and
//! passes `systemd-analyze verify`, and secrets reach the service's own
//! user as systemd credentials.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};

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

/// The unit as `systemd-analyze verify` reads it (the binary at the path
/// of this build), without a word.
#[test]
#[ignore = "needs systemd-analyze (systemd); run by .ci/run"]
fn the_unit_file_verifies() {
    let dir = temp_dir("unit-verify");
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/callscreen.service"
    ))
    .unwrap()
    .replace("/usr/bin/callscreen", env!("CARGO_BIN_EXE_callscreen"));
    std::fs::write(dir.join("callscreen.service"), unit).unwrap();
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.join("callscreen.service"))
        .output()
        .expect("systemd-analyze runs");
    let said = String::from_utf8_lossy(&o.stderr).to_string() + &String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && said.trim().is_empty(), "{said}");
}

/// Runs the binary as the unit runs it: an unprivileged user (setpriv),
/// with `env` set; its exit status (None while it runs past the ready
/// line, which is then returned) and its stderr.
fn as_the_service(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .arg(env!("CARGO_BIN_EXE_callscreen"))
    .args(args)
    .env_remove("CREDENTIALS_DIRECTORY")
    .envs(env.iter().copied())
    .stdout(Stdio::null())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("setpriv runs");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    let mut line = String::new();
    while err.read_line(&mut line).unwrap_or(0) > 0 {
        said.push_str(&line);
        if line.contains("callscreen ready") {
            let _ = child.kill();
            let _ = child.wait();
            return (None, said);
        }
        line.clear();
    }
    (child.wait().ok().and_then(|s| s.code()), said)
}

/// Issue #31, item 1: a key made the usual way (root, 0600) is what the
/// service's user cannot read: `config check` run as root says so, the
/// service fails naming the file and the way out, and with the key handed
/// over as a systemd credential (`$CREDENTIALS_DIRECTORY`, a relative
/// path in the config) it starts.
#[test]
#[ignore = "runs the daemon as another user (setpriv): needs root; run by .ci/run"]
fn secrets_reach_the_service_as_credentials() {
    let dir = temp_dir("credentials");
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("api.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("api.key"), key.serialize_pem()).unwrap();
    std::fs::set_permissions(dir.join("api.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let cfg = config(
        &dir,
        &format!(
            "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n\
             [api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"{}\"\ntls_cert = \"api.pem\"\ntls_key = \"api.key\"\n",
            state.display()
        ),
    );
    // The service's user can traverse to, and read, everything else.
    for p in [&dir, &state] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let chown = |p: &std::path::Path| {
        assert!(
            Command::new("chown")
                .arg("nobody:nogroup")
                .arg(p)
                .status()
                .unwrap()
                .success()
        );
    };
    chown(&state);
    let cfg = cfg.to_str().unwrap();

    // config check as root: valid, and the warning.
    let o = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["config", "check", cfg])
        .env_remove("CREDENTIALS_DIRECTORY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("api.tls_key:")
            && err.contains("api.key is not readable by others (mode 0600")
            && err.contains("LoadCredential="),
        "{err}"
    );
    // The service without the credential: it fails, and says why.
    let (status, said) = as_the_service(&["run", "--config", cfg], &[]);
    assert!(status.is_some_and(|s| s != 0), "{said}");
    assert!(
        said.contains("api.key")
            && said.contains("Permission denied")
            && said.contains("LoadCredential="),
        "{said}"
    );
    // As systemd hands it over: a copy, the service's own, in a directory
    // named by $CREDENTIALS_DIRECTORY.
    let creds = dir.join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::copy(dir.join("api.key"), creds.join("api.key")).unwrap();
    std::fs::set_permissions(
        creds.join("api.key"),
        std::fs::Permissions::from_mode(0o400),
    )
    .unwrap();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o500)).unwrap();
    chown(&creds.join("api.key"));
    chown(&creds);
    let env = [("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())];
    let (status, said) = as_the_service(&["config", "check", cfg], &env);
    assert_eq!(status, Some(0), "{said}");
    assert!(!said.contains("warning"), "{said}");
    let (status, said) = as_the_service(&["run", "--config", cfg], &env);
    assert_eq!(status, None, "it is ready: {said}");
    assert!(said.contains("api=127.0.0.1:"), "{said}");
}

/// Issue #31, item 7: under systemd (JOURNAL_STREAM set: stdout and stderr
/// are the journal) the ready line is written once, in the log.
#[test]
fn under_journald_the_ready_line_is_written_once() {
    let dir = temp_dir("journal-ready");
    let cfg = config(
        &dir,
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_callscreen"))
        .args(["run", "--config"])
        .arg(&cfg)
        .env("JOURNAL_STREAM", "8:12345")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut ready = false;
    // Bounded: the daemon is ready within a few lines of its log.
    for _ in 0..50 {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.contains("callscreen ready") {
            ready = true;
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ready, "the ready line is in the log");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("callscreen ready"), "{err}");
}
