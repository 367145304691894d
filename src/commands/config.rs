//! `callscreen config check FILE`: the configuration and every list it
//! names, loaded exactly as the daemon loads them.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::engine::Engine;
use crate::lists::unix_now;

pub fn check(file: PathBuf) -> ExitCode {
    match Engine::load(&file) {
        Ok(e) => {
            for s in &e.skipped {
                eprintln!("warning: optional list skipped: {s}");
            }
            let lists: Vec<String> = e
                .lists
                .lists()
                .iter()
                .map(|l| {
                    format!(
                        "{}@{} ({}, {} entries)",
                        l.name,
                        l.version,
                        l.role,
                        l.stats(unix_now()).entries()
                    )
                })
                .collect();
            println!(
                "{}: ok; {} peers, {} SBCs, lists: {}",
                file.display(),
                e.settings.policy.peers.len(),
                e.settings.sbcs.len(),
                if lists.is_empty() {
                    "none".into()
                } else {
                    lists.join(", ")
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}
