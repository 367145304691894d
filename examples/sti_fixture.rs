//! A STIR/SHAKEN fixture for benchmarks (bench/stir.sh): a test STI PKI
//! (rcgen) written to DIR (`anchors/`, `web-ca.pem`), N signed Identity
//! header values with fresh `iat`s in `DIR/identities.txt` (`CALLER
//! IDENTITY` per line, distinct callers), and an HTTPS server for their
//! `x5u` on loopback, until `--seconds` pass.
//!
//!   sti_fixture --dir DIR [--identities 2000] [--seconds 600]

#[path = "../tests/support/sti.rs"]
mod sti;

use std::collections::HashMap;
use std::time::Duration;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = arg(&args, "--dir").map(std::path::PathBuf::from) else {
        eprintln!("usage: sti_fixture --dir DIR [--identities N] [--seconds S]");
        std::process::exit(2);
    };
    let n: u32 = arg(&args, "--identities")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let seconds: u64 = arg(&args, "--seconds")
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    std::fs::create_dir_all(&dir).expect("the fixture directory");
    let pki = sti::Pki::new(&dir);
    let files: HashMap<String, String> = [("/sti.pem".to_string(), pki.good.chain_pem.clone())]
        .into_iter()
        .collect();
    let server = sti::X5uServer::start(&pki, files, Duration::ZERO);
    let url = server.url("/sti.pem");
    let now = sti::unix_now();
    let mut out = String::new();
    for i in 0..n {
        let caller = format!("3120{:07}", 1_000_000 + i);
        let id = pki.good.identity(&caller, "31104567890", "A", now, &url);
        out.push_str(&format!("+{caller} {id}\n"));
    }
    let tmp = dir.join("identities.tmp");
    std::fs::write(&tmp, out).expect("the identities");
    std::fs::rename(&tmp, dir.join("identities.txt")).expect("the identities");
    println!("ready x5u={url}");
    std::thread::sleep(Duration::from_secs(seconds));
}
