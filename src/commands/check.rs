//! `callscreen check`: one call screened offline, with exactly the daemon's
//! decision (the same loader, facts and `screen`).

use std::process::ExitCode;

use crate::cli::CheckArgs;
use crate::clock::unix_now;
use crate::lists::parse_expiry;
use crate::loader::Loaded;
use crate::report;
use crate::screen::facts::MAX_PARTS;
use crate::screen::{CallFacts, RawCall, Roaming, screen};

pub fn check(a: CheckArgs) -> ExitCode {
    let loaded = match Loaded::load(&a.config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            if !a.config.exists() {
                eprintln!(
                    "(check reads {} by default, as run does: pass --config FILE; in a source tree, --config config/callscreen.toml)",
                    a.config.display()
                );
            }
            return ExitCode::from(2);
        }
    };
    for s in &loaded.skipped {
        eprintln!("warning: optional list skipped: {s}");
    }
    let policy = &loaded.settings.policy;
    let Some(peer) = policy.peer_by_name(&a.peer) else {
        let names: Vec<_> = policy.peers.iter().map(|p| p.name.as_str()).collect();
        eprintln!(
            "{}: no peer {:?}; the configured peers are: {}",
            a.config.display(),
            a.peer,
            names.join(", ")
        );
        return ExitCode::from(2);
    };
    let at = match &a.at {
        None => unix_now(),
        // An instant: the expiry parser gives the end of a date; take its start.
        Some(s) => match parse_expiry(s) {
            Some(t) if s.len() == 10 => t - 86_400,
            Some(t) => t,
            None => {
                eprintln!("--at {s:?}: write YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
                return ExitCode::from(2);
            }
        },
    };
    let raw = RawCall {
        from: &a.caller,
        from_display: a.display_name.as_deref(),
        pai: a.pai.as_deref(),
        pai_display: None,
        to: None,
        callee: &a.callee,
        source: a.source,
        diversions: parts(&a.diversion),
        identities: parts(&a.identity),
    };
    let mut facts = CallFacts::read(&raw, peer, policy, at);
    if let Some(d) = &a.direction {
        facts.originating = d == "originating";
    }
    facts.burst.number = a.burst.unwrap_or(0);
    facts.burst.block = a.burst_block.unwrap_or(0);
    if let Some(n) = &a.rcd_name {
        facts.rcd = Some(crate::screen::passport::RcdCheck::Verified);
        facts.rcd_name = Some(n);
    }
    facts.div = a
        .div
        .as_deref()
        .and_then(crate::screen::passport::DivCheck::from_name);
    let asks = crate::screen::roaming_number(&facts, &loaded.lists, policy);
    facts.roaming = a
        .roaming
        .as_deref()
        .and_then(Roaming::from_name)
        .filter(|_| asks.is_some());
    if let (Some(n), None, Some(_)) = (asks, facts.roaming, &loaded.settings.roaming) {
        eprintln!(
            "note: the daemon asks the roaming check about {n}; give its answer with --roaming"
        );
    }
    let verdict = screen(&facts, &loaded.lists, policy);
    if a.json {
        println!("{}", report::json(&verdict, &facts, policy));
    } else {
        print!("{}", report::text(&verdict, &facts, policy));
    }
    ExitCode::SUCCESS
}

/// The first few of a repeated option, as the facts hold them.
fn parts(v: &[String]) -> [Option<&str>; MAX_PARTS] {
    let mut out = [None; MAX_PARTS];
    for (slot, s) in out.iter_mut().zip(v) {
        *slot = Some(s.as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// `check --div` takes the names the daemon gives (the build script
    /// reads `cli.rs` without the library, so they are written out there).
    #[test]
    fn check_div_takes_every_diversion_outcome() {
        let cmd = crate::cli::Cli::command();
        let check = cmd.find_subcommand("check").expect("check");
        let div = check
            .get_arguments()
            .find(|a| a.get_id() == "div")
            .expect("--div");
        let names: Vec<String> = div
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_string())
            .collect();
        let ours = crate::screen::passport::DivCheck::ALL.map(|c| c.name().to_string());
        assert_eq!(names, ours);
    }
}
