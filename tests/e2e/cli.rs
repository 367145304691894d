//! The `callscreen` binary's offline commands, as a user runs them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_callscreen"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the binary in the source tree; `check` reads the example config
/// there (its default is the installed one).
fn run(args: &[&str]) -> Output {
    let mut args = args.to_vec();
    if args.first() == Some(&"check") && !args.contains(&"--config") {
        args.splice(1..1, ["--config", "config/callscreen.toml"]);
    }
    bin()
        .current_dir(root())
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn check_json(args: &[&str]) -> serde_json::Value {
    let mut all = vec![
        "check",
        "--config",
        "config/callscreen.toml",
        "--json",
        "--at",
        "2026-12-01",
    ];
    all.extend_from_slice(args);
    let o = run(&all);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("check --json prints JSON")
}

/// Issue #31, item 3: `check` reads the installed config by default, as
/// `run` does, and says how to name another.
#[test]
fn check_and_run_read_the_same_default_config() {
    for cmd in ["check", "run"] {
        let o = bin().args([cmd, "--help"]).output().expect("runs");
        assert!(
            stdout(&o).contains("[default: /etc/callscreen/callscreen.toml]"),
            "{cmd}: {}",
            stdout(&o)
        );
    }
    let o = bin()
        .args(["check", "--config", "/nonexistent/callscreen.toml"])
        .args(["--caller", "1", "--callee", "2", "--peer", "x"])
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("pass --config FILE"), "{}", stderr(&o));
}

#[test]
fn the_example_config_is_valid() {
    let o = run(&["config", "check", "config/callscreen.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("scam-origins@1 (blocklist"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn check_reports_a_blocklisted_caller_with_its_list_hit() {
    let v = check_json(&[
        "--caller",
        "020 123 4567",
        "--callee",
        "+31104567890",
        "--peer",
        "kpn-interconnect",
    ]);
    assert_eq!(v["verdict"], "reject");
    assert_eq!(v["sip_code"], 608);
    assert_eq!(v["caller"], "+31201234567");
    let r = &v["reasons"][0];
    assert_eq!(r["code"], "blocklist:scam-origins");
    assert_eq!(r["hit"]["list"], "scam-origins");
    assert_eq!(r["hit"]["version"], 1);
    assert_eq!(r["hit"]["entry"], "+31201234567");
    assert_eq!(r["hit"]["reason"], "tech-support-scam");
    assert_eq!(v["reason_header"], "SIP;cause=608;text=\"Network blocked\"");
}

#[test]
fn check_reads_numbers_in_the_peers_context() {
    // An international peer sends E.164 only: a national form is an invalid CLI.
    let v = check_json(&[
        "--caller",
        "020 123 4567",
        "--callee",
        "+31104567890",
        "--peer",
        "intl-carrier-1",
    ]);
    assert_eq!(v["verdict"], "tag");
    assert_eq!(v["tags"], serde_json::json!(["invalid-cli"]));
    // intl-carrier-2's own policy rejects an invalid CLI.
    let v = check_json(&[
        "--caller",
        "020 123 4567",
        "--callee",
        "+31104567890",
        "--peer",
        "intl-carrier-2",
    ]);
    assert_eq!(
        (v["verdict"].as_str(), v["sip_code"].as_u64()),
        (Some("reject"), Some(608))
    );
}

#[test]
fn check_screens_a_trusted_pai_and_the_allowlist() {
    let v = check_json(&[
        "--caller",
        "+31201234568",
        "--pai",
        "sip:+31852081500@kpn.nl;user=phone",
        "--callee",
        "+31104567890",
        "--peer",
        "kpn-interconnect",
    ]);
    assert_eq!(v["reasons"][0]["code"], "withdrawn:acm-withdrawn");
    assert_eq!(v["reasons"][0]["subject"], "pai");
    assert_eq!(
        v["reason_header"],
        "SIP;cause=608;text=\"Number withdrawn\""
    );
    let v = check_json(&[
        "--caller",
        "+31852089999",
        "--callee",
        "+31104567890",
        "--peer",
        "kpn-interconnect",
    ]);
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["reasons"][0]["code"], "allowlist");
    assert_eq!(v["reasons"][1]["lifted_by_allowlist"], true);
}

#[test]
fn check_never_blocks_an_emergency_call() {
    let v = check_json(&[
        "--caller",
        "+31201234567",
        "--callee",
        "tel:112;phone-context=+31",
        "--peer",
        "kpn-interconnect",
    ]);
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["emergency"], true);
    assert_eq!(v["reasons"][0]["code"], "emergency");
}

#[test]
fn check_honours_expiry() {
    // The +44 20 7946 0xxx range expires at the end of 2027-12-31.
    let args = [
        "--caller",
        "+442079460123",
        "--callee",
        "+31104567890",
        "--peer",
        "intl-carrier-1",
    ];
    let mut before = vec!["check", "--json", "--at", "2027-12-31"];
    before.extend_from_slice(&args);
    let v: serde_json::Value = serde_json::from_slice(&run(&before).stdout).unwrap();
    assert_eq!(v["verdict"], "reject");
    let mut after = vec!["check", "--json", "--at", "2028-01-01"];
    after.extend_from_slice(&args);
    let v: serde_json::Value = serde_json::from_slice(&run(&after).stdout).unwrap();
    assert_eq!(v["verdict"], "allow");
    assert_eq!(v["expired"][0]["list"], "scam-origins");
    // Issue #31, item 7: the expiry as the list wrote it (the last day it
    // matches), not the instant after.
    assert_eq!(v["expired"][0]["expires"], "2027-12-31");
}

/// Issue #31, item 7: each reason line names what it was found on, and a
/// rejected call carries no tags.
#[test]
fn check_names_the_subject_of_every_reason() {
    let out = stdout(&run(&[
        "check",
        "--caller",
        "abc",
        "--callee",
        "+31104567890",
        "--peer",
        "kpn-interconnect",
    ]));
    assert!(
        out.contains("invalid-cli                  from \"abc\"  [tag]"),
        "{out}"
    );
    let out = stdout(&run(&[
        "check",
        "--caller",
        "+31201234568",
        "--callee",
        "+31104567890",
        "--peer",
        "kpn-interconnect",
        "--source",
        "198.51.100.7",
    ]));
    assert!(
        out.contains("blocklist:bad-networks       source 198.51.100.7  [reject 608]"),
        "{out}"
    );
    let v = check_json(&[
        "--caller",
        "+31201234567",
        "--callee",
        "+31104567890",
        "--peer",
        "kpn-interconnect",
    ]);
    assert_eq!(v["verdict"], "reject");
    assert_eq!(v["tags"], serde_json::json!([]), "{v}");
}

#[test]
fn check_text_output_names_everything() {
    let o = run(&[
        "check",
        "--caller",
        "+31852081500",
        "--callee",
        "+31104567890",
        "--peer",
        "kpn-interconnect",
        "--at",
        "2026-12-01",
    ]);
    let out = stdout(&o);
    assert!(out.starts_with("verdict: reject 608"), "{out}");
    assert!(
        out.contains("list acm-withdrawn@1 entry +3185208* reason \"withdrawn\" ref ACM-2026-0042"),
        "{out}"
    );
    let o = run(&[
        "check", "--caller", "1", "--callee", "2", "--peer", "nobody",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no peer \"nobody\"; the configured peers are: intl-carrier-1"),
        "{}",
        stderr(&o)
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("callscreen-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn config_check_reports_every_error_and_fails() {
    let d = temp_dir("badcfg");
    let cfg = d.join("bad.toml");
    std::fs::write(
        &cfg,
        "[[lists]]\nname = \"scam\"\nrole = \"blocklist\"\nfile = \"scam.txt\"\n\n[[peers]]\nname = \"p\"\nscope = \"everywhere\"\ntrunk_ids = [\"x\"]\n",
    )
    .unwrap();
    let o = run(&["config", "check", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("bad.toml:8: peers[0].scope: \"everywhere\" is not a scope"),
        "{err}"
    );
    // With the config fixed, a bad line in a list is named with its file and line.
    std::fs::write(
        &cfg,
        "[[lists]]\nname = \"scam\"\nrole = \"blocklist\"\nfile = \"scam.txt\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("scam.txt"),
        "# callscreen list v1 name=scam version=3\n+31201234567\n+31*\n",
    )
    .unwrap();
    let o = run(&["config", "check", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("scam.txt:3: prefix \"+31*\" would block a whole country"),
        "{err}"
    );
    // A header naming another list.
    std::fs::write(
        d.join("scam.txt"),
        "# callscreen list v1 name=other version=3\n",
    )
    .unwrap();
    let err = stderr(&run(&["config", "check", cfg.to_str().unwrap()]));
    assert!(
        err.contains("scam.txt:1: the header names list \"other\""),
        "{err}"
    );
    std::fs::remove_file(d.join("scam.txt")).unwrap();
    let err = stderr(&run(&["config", "check", cfg.to_str().unwrap()]));
    assert!(err.contains("scam.txt: cannot read the list"), "{err}");
}

/// `config check` says what a start would serve: a version pushed to the
/// state directory wins over an older seed file, as at start; a damaged
/// stored version falls back to the seed; unreadable TLS files fail it.
#[test]
fn config_check_shows_what_a_start_would_serve() {
    let d = temp_dir("served");
    std::fs::write(
        d.join("scam.txt"),
        "# callscreen list v1 name=scam version=3\n+31201234567\n",
    )
    .unwrap();
    let cfg = d.join("callscreen.toml");
    let base = "[[lists]]\nname = \"scam\"\nrole = \"blocklist\"\nfile = \"scam.txt\"\n\n[api]\nlisten = \"127.0.0.1:0\"\nstate_dir = \"state\"\n";
    std::fs::write(&cfg, base).unwrap();
    let check = || run(&["config", "check", cfg.to_str().unwrap()]);
    let o = check();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("scam@3 (blocklist, 1 entries, seed "),
        "{}",
        stdout(&o)
    );
    assert!(!d.join("state").exists(), "config check creates nothing");

    std::fs::create_dir(d.join("state")).unwrap();
    std::fs::write(
        d.join("state/scam.7.list"),
        "# callscreen list v1 name=scam version=7\n+31201234567\n+31201234568\n",
    )
    .unwrap();
    let o = check();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("scam@7 (blocklist, 2 entries, pushed, in "),
        "{}",
        stdout(&o)
    );

    // A stored version that does not parse is passed over, as at start.
    std::fs::write(d.join("state/scam.9.list"), "not a list\n").unwrap();
    let o = check();
    assert!(stdout(&o).contains("scam@7 "), "{}", stdout(&o));

    std::fs::write(
        &cfg,
        format!("{base}tls_cert = \"missing.pem\"\ntls_key = \"missing.key\"\n"),
    )
    .unwrap();
    let o = check();
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("[api] TLS: "), "{}", stderr(&o));
}

/// The configuration the Debian package installs in /etc/callscreen
/// (build.rs makes it from the example, into target/assets): it checks, with
/// the seed lists beside it, and opens the API to nobody.
#[test]
fn the_packaged_config_checks_and_has_no_api_client() {
    let assets = Path::new(env!("OUT_DIR"))
        .ancestors()
        .nth(4)
        .expect("target dir")
        .join("assets");
    let packaged = std::fs::read_to_string(assets.join("callscreen.toml")).unwrap();
    assert!(!packaged.contains("\n[[api.clients]]"), "{packaged}");
    assert!(packaged.contains("\nstate_dir = \"/var/lib/callscreen\""));
    let d = temp_dir("packaged");
    std::fs::write(d.join("callscreen.toml"), &packaged).unwrap();
    std::fs::create_dir(d.join("lists")).unwrap();
    for f in std::fs::read_dir(root().join("config/lists")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, d.join("lists").join(f.file_name().unwrap())).unwrap();
    }
    let o = run(&[
        "config",
        "check",
        d.join("callscreen.toml").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("scam-origins@1 (blocklist"),
        "{}",
        stdout(&o)
    );
    for man in [
        "man1/callscreen.1",
        "man1/callscreen-lists-push.1",
        "man5/callscreen.toml.5",
    ] {
        let page = std::fs::read_to_string(assets.join(man)).unwrap();
        assert!(page.starts_with(".TH") || page.contains("\n.TH"), "{man}");
    }
    // Issue #31, item 4: each key under its own section, the installed
    // values, and no page named that does not exist.
    let page = std::fs::read_to_string(assets.join("man5/callscreen.toml.5")).unwrap();
    let section_of = |key: &str| {
        let at = page
            .find(&format!("\\fB{key}\\fR"))
            .unwrap_or_else(|| panic!("no {key}"));
        page[..at]
            .rmatch_indices(".SH ")
            .chain(page[..at].rmatch_indices(".SS "))
            .max_by_key(|(i, _)| *i)
            .map(|(i, _)| page[i..].lines().next().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    for (key, section) in [
        ("trust_anchors", "[stir]"),
        ("servers", "[fleet]"),
        ("heads_bucket", "[fleet]"),
        ("cert_url", "[redress]"),
        ("budget_ms", "[stir]"),
        ("token_sha256", "[[api.clients]]"),
    ] {
        let s = section_of(key);
        assert!(s.contains(section), "{key} is under {s:?}, not {section}");
    }
    assert!(
        page.contains("/var/lib/callscreen"),
        "the installed state_dir"
    );
    let main = std::fs::read_to_string(assets.join("man1/callscreen.1")).unwrap();
    for named in main.split("\\fBcallscreen\\-").skip(1) {
        let name = named.split("\\fR").next().unwrap_or("").replace("\\-", "-");
        assert!(
            assets.join(format!("man1/callscreen-{name}.1")).exists(),
            "callscreen(1) names callscreen-{name}(1), which is not made"
        );
    }
    let copyright = std::fs::read_to_string(root().join("debian/copyright")).unwrap();
    assert!(
        copyright.starts_with(
            "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
        )
    );
    assert!(copyright.contains("License: MIT or Apache-2.0"));
    assert!(root().join("LICENSE-MIT").exists() && root().join("LICENSE-APACHE").exists());
}

#[test]
fn lists_verify_checks_a_file_offline() {
    let d = temp_dir("verify");
    let f = d.join("push.txt");
    std::fs::write(
        &f,
        "# callscreen list v1 name=acm-withdrawn version=43\n+3185208*\nbad\n+316*\n",
    )
    .unwrap();
    let o = run(&["lists", "verify", f.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("push.txt:3: \"bad\" is not in E.164 form"),
        "{err}"
    );
    assert!(
        err.contains("push.txt:4: prefix \"+316*\" would block"),
        "{err}"
    );
    let o = run(&[
        "lists",
        "verify",
        "--min-prefix-digits",
        "3",
        f.to_str().unwrap(),
    ]);
    assert!(
        !stderr(&o).contains("push.txt:4"),
        "a looser guard allows +316*"
    );
    let o = run(&[
        "lists",
        "verify",
        Path::new("config/lists/acm-withdrawn.txt")
            .to_str()
            .unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("list acm-withdrawn version 1, 3 entries"));
    // Issue #31, item 6: a companies file verifies; a networks list checked
    // as numbers says to use --kind networks.
    let o = run(&["lists", "verify", "config/lists/protected.toml"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("ok; companies file protected-companies version 1"),
        "{}",
        stdout(&o)
    );
    let bad = d.join("companies.toml");
    std::fs::write(
        &bad,
        "name = \"protected-companies\"\nversion = 2\n[[company]]\nname = \"X\"\nbrands = [\"X\"]\nnumbers = [\"bad\"]\n",
    )
    .unwrap();
    let o = run(&["lists", "verify", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("companies.toml:6: company \"X\" numbers: \"bad\""),
        "{}",
        stderr(&o)
    );
    let o = run(&["lists", "verify", "config/lists/bad-networks.txt"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("verify it with --kind networks"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "lists",
        "verify",
        "--kind",
        "networks",
        "config/lists/bad-networks.txt",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let help = stdout(&run(&["lists", "verify", "--help"]));
    assert!(
        help.contains("networks (source addresses")
            && help.contains("min_prefix_digits (a shorter"),
        "{help}"
    );
}

/// `lists import` (issue #33): a do-not-originate list published as CSV
/// becomes a list file that `lists verify` accepts; pushed to the real
/// daemon, its numbers are rejected as callers. A file with rows that give
/// no number is refused whole, every such row named by its line, and
/// nothing is written.
#[test]
fn a_csv_do_not_originate_list_is_imported_verified_and_pushed() {
    use crate::support::*;
    let d = temp_dir("cli-import");
    let out = d.join("uk-dno.txt");
    let csv = root().join("fixtures/dno/uk-dno-example.csv");
    let o = run(&[
        "lists",
        "import",
        csv.to_str().unwrap(),
        "--name",
        "uk-dno",
        "--version",
        "2",
        "--country-code",
        "44",
        "--reason-column",
        "Category",
        "--reference-column",
        "reference",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("5 rows, 4 entries (1 listed twice, kept once); list uk-dno version 2"),
        "{}",
        stderr(&o)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("# callscreen list v1 name=uk-dno version=2\n")
            && text.contains("\n+442079460000,Government HMRC,DNO-0001\n")
            && text.contains("\n+4480815706*,Helpline range,DNO-0005\n"),
        "{text}"
    );
    let o = run(&["lists", "verify", out.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("ok; list uk-dno version 2, 4 entries"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    // Pushed to the daemon, as the operator would after signing it.
    std::fs::write(
        d.join("dno.txt"),
        "# callscreen list v1 name=uk-dno version=1\n+447700900000\n",
    )
    .unwrap();
    let extra = format!(
        "{}[[lists]]\nname = \"uk-dno\"\nrole = \"blocklist\"\nfile = \"dno.txt\"\n",
        ops_api_config(&d.join("state"), 1, "ops-token")
    );
    let daemon = Daemon::start_config(d.clone(), config(&d, &extra), &[]);
    let (s, body) = http(
        api_addr(&daemon),
        "PUT",
        "/v1/lists/uk-dno",
        Some("ops-token"),
        Some("text/plain"),
        text.as_bytes(),
    );
    assert_eq!(s, 200, "{body}");
    let c = udp_client("127.0.0.1:0");
    let code = |id: &str, from: &str| {
        udp_ask(
            &c,
            daemon.udp,
            &invite(id, from, "X-Ingress-Trunk: intl\r\n"),
        )
        .map(|r| status(&r))
    };
    assert_eq!(code("dno-1", "+442079460000"), Some(608));
    assert_eq!(code("dno-2", "+448081570612"), Some(608), "in the prefix");
    assert_eq!(code("dno-3", "+442079460001"), Some(302), "not listed");
    // Rows without a number: refused whole, by line, nothing written.
    let bad = d.join("bad.csv");
    std::fs::write(
        &bad,
        "number,category\n+442079460002,Bank\nHMRC helpline,Government\n,Bank\n+442079460003,Bank\n",
    )
    .unwrap();
    let out2 = d.join("bad.txt");
    let o = run(&[
        "lists",
        "import",
        bad.to_str().unwrap(),
        "--name",
        "uk-dno",
        "--version",
        "3",
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("bad.csv:3: \"HMRC helpline\" is not a number")
            && err.contains("bad.csv:4: no number in the number column")
            && err.contains("2 of 4 rows not imported: nothing written"),
        "{err}"
    );
    assert!(!out2.exists());
    // Options that cannot make a list are named as options, before any row.
    for (opt, val, says) in [
        (
            "--name",
            "uk dno",
            "--name \"uk dno\": a list's name is 1 to 64",
        ),
        (
            "--country-code",
            "+44",
            "--country-code \"+44\": a country code is 1 to 3 digits",
        ),
    ] {
        let mut args = vec!["lists", "import", csv.to_str().unwrap(), "--version", "3"];
        if opt != "--name" {
            args.extend(["--name", "uk-dno"]);
        }
        args.extend([opt, val]);
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{opt}");
        assert!(stderr(&o).contains(says), "{opt}: {}", stderr(&o));
    }
}

/// A profile as an operator sets it: `config check` lists what it turns
/// on (each rule with its source, an override named), `check` names the
/// profile rule that decided, and a profile that does not exist is refused
/// with its line and the list of profiles.
#[test]
fn a_country_profile_is_shown_by_config_check_and_named_by_check() {
    let dir = temp_dir("profile-cli");
    let cfg = dir.join("cs.toml");
    std::fs::write(
        &cfg,
        "[home]\nprofile = \"be\"\n\n[policy.rules]\n\"spoof:domestic-mobile-unchecked\" = \"tag\"\n\n\
         [[peers]]\nname = \"intl-be\"\ntrunk_ids = [\"intl-be\"]\nscope = \"international\"\n\n\
         [[peers]]\nname = \"intl-de\"\ntrunk_ids = [\"intl-de\"]\nscope = \"international\"\nprofile = \"de\"\n",
    )
    .unwrap();
    let path = cfg.to_str().unwrap();
    let check = |peer: &str, caller: &str, more: &[&str]| {
        let mut args = vec![
            "check",
            "--config",
            path,
            "--peer",
            peer,
            "--caller",
            caller,
            "--callee",
            "+3222345678",
        ];
        args.extend_from_slice(more);
        run(&args)
    };
    let o = run(&["config", "check", path]);
    let out = stdout(&o);
    assert!(o.status.success(), "{out}{}", stderr(&o));
    for want in [
        "profile be (Belgium, +32), [home]: peers intl-be; numbering plan +32",
        "profile de (Germany, +49): peers intl-de; numbering plan +49",
        "spoof:domestic-cli-intl           reject 608  Royal Decree against spoofing (2024)",
        "(the profile says anonymise; [policy.rules] overrides it)",
        "cli-premium                       reject 608  TKG §120",
        "roaming check: not configured ([roaming])",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    let o = check("intl-de", "+4915112345678", &["--roaming", "not-roaming"]);
    let out = stdout(&o);
    for want in [
        "verdict: anonymise",
        "profile: de (Germany, +49)",
        "roaming: not-roaming",
        "spoof:domestic-mobile-intl   from +4915112345678  [anonymise] (roaming check: not roaming)",
        "decided by: spoof:domestic-mobile-intl under profile de (Germany): TKG §120",
    ] {
        assert!(out.contains(want), "{want:?} not in:\n{out}");
    }
    // The operator's own rule decides, and is named as such.
    let o = check(
        "intl-be",
        "+32470123456",
        &["--roaming", "unanswered", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["verdict"], "tag", "{v}");
    assert_eq!(v["decided_by"]["rule"], "config", "{v}");
    assert_eq!(v["profile"], "be", "{v}");
    let o = check("intl-be", "+3222345678", &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["verdict"], "reject", "{v}");
    assert_eq!(v["decided_by"]["profile"], "be", "{v}");
    assert_eq!(v["decided_by"]["code"], "spoof:domestic-cli-intl", "{v}");

    std::fs::write(&cfg, "[home]\nprofile = \"xx\"\n").unwrap();
    let o = run(&["config", "check", path]);
    let err = stderr(&o);
    assert!(!o.status.success());
    assert!(
        err.contains("cs.toml:2: home.profile")
            && err.contains(
                "\"xx\" is not a country profile; the profiles are: de, be, uk, fr, fi, se, es, nl"
            ),
        "{err}"
    );
    std::fs::write(&cfg, "[home]\ncountry_code = \"31\"\nprofile = \"de\"\n").unwrap();
    let err = stderr(&run(&["config", "check", path]));
    assert!(
        err.contains("home.country_code")
            && err.contains("profile \"de\" is Germany's (+49), not +31"),
        "{err}"
    );
}

/// `[signing]` refused as an operator would need it explained: signing in
/// redirect mode, a key that is not one, `sign` on a terminating peer or
/// without `[signing]`, each with its line.
#[test]
fn signing_misconfigured_is_refused_with_its_line() {
    let dir = temp_dir("signing-cli");
    std::fs::write(
        dir.join("bad.key"),
        "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
    )
    .unwrap();
    let cfg = dir.join("cs.toml");
    std::fs::write(
        &cfg,
        "[signing]\nkey_file = \"bad.key\"\nx5u = \"http://cert.example/sti.pem\"\n\n\
         [[peers]]\nname = \"in\"\ntrunk_ids = [\"in\"]\nscope = \"domestic\"\nsign = \"customer\"\n",
    )
    .unwrap();
    let o = run(&["config", "check", cfg.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    for want in [
        "cs.toml:2: signing: calls are signed in proxy mode only",
        "cs.toml:3: signing.x5u: \"http://cert.example/sti.pem\" must be the https URL",
        "cs.toml:2: signing.key_file:",
        "no PKCS#8 private key",
        "cs.toml:9: peers[0].sign: only an originating trunk's calls are signed",
    ] {
        assert!(err.contains(want), "{want:?} not in:\n{err}");
    }
}

/// `check --div`: what the daemon's verification of the call's diversion
/// PASSporTs found (RFC 8946), given by hand, decides as in the daemon: a
/// verified chain naming a Dutch diverting line lifts
/// `spoof:domestic-cli-intl` on an international peer; anything else does
/// not; a name the daemon does not give is refused.
#[test]
fn check_takes_what_a_calls_diversion_passports_proved() {
    const CALL: [&str; 6] = [
        "--caller",
        "+31201234568",
        "--callee",
        "+31104567890",
        "--peer",
        "intl-carrier-1",
    ];
    let reasons = |div: Option<&str>| {
        let mut args = CALL.to_vec();
        if let Some(d) = div {
            args.extend(["--div", d]);
        }
        check_json(&args)["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|r| r["code"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(reasons(None), ["spoof:domestic-cli-intl"]);
    assert_eq!(reasons(Some("verified:domestic")), Vec::<String>::new());
    assert_eq!(
        reasons(Some("verified:foreign")),
        ["spoof:domestic-cli-intl"]
    );
    assert_eq!(
        reasons(Some("failed:bad-signature")),
        ["spoof:domestic-cli-intl"]
    );
    let o = run(&[&["check"], &CALL[..], &["--div", "trust-me"]].concat());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("verified:domestic"), "{}", stderr(&o));
}
