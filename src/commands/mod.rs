//! What each subcommand does, for `main`, which only parses the command line
//! (`crate::cli`) and hands each subcommand here:
//!
//! - `run`: the daemon (`crate::daemon`);
//! - `check`: one call screened offline, as the daemon would;
//! - `config`: `config check`, the configuration and every list it names;
//! - `lists`: `lists push|show|export|rollback` against a running daemon's
//!   API, `lists verify` offline, `lists import` (a CSV do-not-originate
//!   list as a list file);
//! - `api`: `api hash-token`, `api keygen`;
//! - `fleet`: `fleet show` (the members and their lists), `fleet forget`;
//! - `redress`: the signed contact card 608 answers point to (RFC 8688).
//! - `tail`: a running daemon's calls, live.
//! - `top`: a running daemon at a glance (ratatui).
//! - `status`, `reload`: a running daemon on one screen; its configuration
//!   reloaded through the API, with what changed or every error.

pub mod api;
pub mod calls;
pub mod check;
pub mod config;
pub mod fleet;
pub mod import;
pub mod lists;
pub mod redress;
pub mod status;
pub mod tail;
pub mod top;

use std::path::PathBuf;
use std::process::ExitCode;

/// A query parameter's value, `%XX` for what it may not hold as it is.
pub(crate) fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':' | b'*' | b'@' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `callscreen run`: the daemon, until SIGTERM.
pub fn run(config: PathBuf, log_format: Option<String>) -> ExitCode {
    let opts = crate::daemon::RunOptions {
        config,
        json: log_format.map(|f| f == "json"),
    };
    match crate::daemon::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("callscreen: {e}");
            ExitCode::from(1)
        }
    }
}
