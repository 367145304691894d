//! A roaming-check endpoint for benchmarks (bench/roaming.sh): the test
//! PKI's HTTPS certificate written to DIR (`web-ca.pem`, its CA), and the
//! test endpoint (tests/support/roaming.rs: HTTP/1.1 keep-alive, a thread
//! per connection) answering every number `roaming`, until `--seconds`
//! pass. Prints `ready url=…` when it listens.
//!
//!   roaming_endpoint --dir DIR [--seconds 600]

#[path = "../tests/support/roaming.rs"]
mod roaming;
#[path = "../tests/support/sti.rs"]
mod sti;

use std::collections::HashMap;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let Some(dir) = arg("--dir").map(std::path::PathBuf::from) else {
        eprintln!("usage: roaming_endpoint --dir DIR [--seconds S]");
        std::process::exit(2);
    };
    let seconds: u64 = arg("--seconds").and_then(|v| v.parse().ok()).unwrap_or(600);
    std::fs::create_dir_all(&dir).expect("the fixture directory");
    let pki = sti::Pki::new(&dir);
    let answers: HashMap<String, roaming::Answer> = [("*".to_string(), roaming::Answer::Roaming)]
        .into_iter()
        .collect();
    let server = roaming::RoamingServer::start(&pki, answers, Duration::ZERO);
    println!("ready url={}", server.url());
    std::thread::sleep(Duration::from_secs(seconds));
}
