//! The command line: every subcommand, option and its help text (clap).
//! `main` parses it and hands each subcommand to `crate::commands`; the man
//! pages and shell completions are made from the same definitions.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// `lists verify --min-prefix-digits`'s default: the config's
/// `list_guard.min_prefix_digits` default (`lists::Guard`; a test keeps them
/// equal). Written here because the build script reads this file alone.
pub const DEFAULT_MIN_PREFIX_DIGITS: u8 = 6;

/// SIP call screening against tech-support scams: blocklists, withdrawn
/// number ranges, spoofed caller IDs.
#[derive(Parser)]
#[command(name = "callscreen", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the daemon: screen every INVITE that reaches the configured SIP
    /// listeners, answering it (redirect mode: 302 or a rejection) or
    /// forwarding it (proxy mode), as `[sip] mode` says; one NOC line per
    /// call on stdout. Prints
    /// "callscreen ready: …" on stderr (and notifies systemd) once listening.
    /// SIGHUP reloads the config and seed lists; SIGTERM stops.
    Run {
        /// The configuration file.
        #[arg(long, default_value = "/etc/callscreen/callscreen.toml")]
        config: PathBuf,
        /// Log format, overriding the config's [log] format.
        #[arg(long, value_parser = ["text", "json"])]
        log_format: Option<String>,
    },
    /// Screen one call offline and print the verdict the daemon would give:
    /// the action, every reason code, and each list hit with its entry.
    Check(CheckArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Lists: push, patch, show, export and roll back the lists of a
    /// running daemon (its control API), or verify a list file offline.
    #[command(subcommand)]
    Lists(ListsCommand),
    /// Control API helpers.
    #[command(subcommand)]
    Api(ApiCommand),
    /// Follow a running daemon's calls live (`GET /v1/calls/stream`, scope
    /// `calls`), one NOC line each, coloured by verdict on a terminal; the
    /// filters must all match (a filter that can never match here is
    /// refused: no such peer, list or reason code). Calls missed because the
    /// terminal read too slowly are said so, never waited for. When the
    /// daemon stops, restarts or drops this viewer as too slow, tail says
    /// so on stderr and follows it again once it is back (--once: it ends).
    Tail(TailArgs),
    /// A running daemon at a glance, refreshed every second (80×24 or
    /// more; q quits): calls/s by verdict, decision latency p50/p99, dropped
    /// log lines and unscreened calls, the top reasons, the top peers with
    /// their reject share, the callers and prefixes rejected in the last
    /// minute (the call stream: a token with the `calls` operation), and
    /// every list's version, size and age (OVERDUE past its max_age_secs).
    Top(TopArgs),
    /// Redress for rejected callers (RFC 8688): the signed contact card
    /// that 608 answers point to ([redress] in the config).
    #[command(subcommand)]
    Redress(RedressCommand),
    /// The fleet a running node belongs to ([fleet] in its config).
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Past calls from the call records ([records]): find one call again,
    /// answer a traceback, export a window for analytics.
    #[command(subcommand)]
    Calls(CallsCommand),
    /// A running daemon on one screen (`GET /v1/status`, operation read):
    /// version, uptime, mode, listeners, every list's version and size, the
    /// peers with their calls and what was shed, the fleet, reloads.
    Status {
        /// The status as JSON, as the API gives it.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Reload a running daemon's configuration and seed lists through its
    /// API (`POST /v1/reload`, operation reload), as SIGHUP does, and say
    /// what changed, or every error (file, line, key): what a signal cannot
    /// answer. Exit status 1 when it was refused (nothing changed).
    Reload {
        /// The answer as JSON, as the API gives it.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand)]
pub enum CallsCommand {
    /// Find recorded calls on a running daemon (`GET /v1/calls`, operation
    /// `records`): by the reference a rejected caller quotes, Call-ID,
    /// caller (From or PAI) or callee, and/or peer, within a time window;
    /// printed as a table, oldest first (--json or --csv: as the API gives them).
    Find(FindArgs),
    /// Write the calls recorded on this node in a window, read from the
    /// records directory itself (no daemon needed): CSV on stdout, or one
    /// Parquet file (--output) that DuckDB, ClickHouse and pandas read.
    Export {
        /// The configuration file (its [records] dir is read).
        #[arg(long, default_value = "/etc/callscreen/callscreen.toml")]
        config: PathBuf,
        /// From: unix seconds, YYYY-MM-DD, or an age (90m, 24h, 7d).
        #[arg(long)]
        since: String,
        /// Until (the same forms); default now.
        #[arg(long)]
        until: Option<String>,
        #[arg(long, value_parser = ["csv", "parquet"], default_value = "csv")]
        format: String,
        /// The Parquet file to write (--format parquet).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// The daemon's sealing process (not for people): turns one staging log
    /// of the records directory into its Parquet segment, in a process of
    /// its own at idle priority, and prints `records=N torn=0|1`.
    #[command(hide = true)]
    Seal {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long)]
        generation: u64,
        /// The daemon's pid: the sealing stops when it is gone.
        #[arg(long)]
        parent: u32,
    },
}

#[derive(Args)]
pub struct FindArgs {
    /// The reference of a rejected call (as its answer's Reason text gives it).
    #[arg(long = "ref")]
    pub reference: Option<String>,
    #[arg(long)]
    pub call_id: Option<String>,
    /// The caller's number in E.164 form (+31…): the From or the PAI.
    #[arg(long)]
    pub caller: Option<String>,
    /// The dialled number in E.164 form.
    #[arg(long)]
    pub callee: Option<String>,
    /// Only calls from this peer.
    #[arg(long)]
    pub peer: Option<String>,
    /// From: unix seconds, YYYY-MM-DD, or an age (90m, 24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Until (the same forms).
    #[arg(long)]
    pub until: Option<String>,
    /// Every node of the fleet ([fleet]): each call with the node it was
    /// recorded on; the nodes that did not answer within 2 s are named.
    #[arg(long)]
    pub fleet: bool,
    /// Calls per page.
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Calls to skip (the next page: the offset the last one printed).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
    /// As JSON, as the API gives it.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// As CSV (the Parquet columns).
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Subcommand)]
pub enum FleetCommand {
    /// Every member of the fleet: its state (up, lagging, missing, or
    /// unknown while NATS is down), software, when last seen, and each
    /// list's version against the fleet's head (`GET /v1/fleet`).
    Show {
        /// The view as JSON, as the API gives it.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Forget a missing node: it is no longer shown, counted or alerted on
    /// (`DELETE /v1/fleet/nodes/NODE`, operation `fleet`). A node that
    /// still beats is not forgotten.
    Forget {
        /// The node's name.
        node: String,
        #[command(flatten)]
        api: ApiArgs,
    },
}

#[derive(Subcommand)]
pub enum RedressCommand {
    /// Write the operator's contact card ([redress] name, org, tel, email,
    /// web, note) as a jCard (RFC 7095) signed with the [redress] key (ES256,
    /// JWS compact serialisation, x5u = cert_url) to [redress] card, for
    /// publishing at [redress] url; prints what to publish where.
    Build {
        /// The configuration file.
        #[arg(long, default_value = "/etc/callscreen/callscreen.toml")]
        config: PathBuf,
    },
}

#[derive(Args)]
pub struct TopArgs {
    /// Rejected prefixes: the caller's first N digits.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u8).range(1..=15))]
    pub prefix_digits: u8,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Args)]
pub struct TailArgs {
    /// Only calls with this verdict.
    #[arg(long, value_parser = ["allow", "tag", "anonymise", "warn", "reject"])]
    pub verdict: Option<String>,
    /// Only calls with this reason code (`blocklist:scam-origins`), or any
    /// code of a family (`blocklist`, `spoof`).
    #[arg(long)]
    pub reason: Option<String>,
    /// Only calls from this peer.
    #[arg(long)]
    pub peer: Option<String>,
    /// Only calls that matched this list.
    #[arg(long)]
    pub list: Option<String>,
    /// Only callers whose number starts so (`+3120`).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Never colour (also when NO_COLOR is set, or the output is no terminal).
    #[arg(long)]
    pub no_color: bool,
    /// End when the stream ends (the daemon stopped, or dropped this
    /// viewer) instead of following the daemon again: exit status 3.
    #[arg(long)]
    pub once: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

#[derive(Subcommand)]
pub enum ApiCommand {
    /// Read a token on standard input and print its SHA-256, for
    /// [[api.clients]] token_sha256 (the config never holds the token itself).
    HashToken,
    /// Make an Ed25519 key pair for signed pushes: the secret key goes to
    /// FILE (keep it with the issuer), the public key is printed (for the
    /// client's sign_key in [[api.clients]]).
    Keygen {
        /// Where to write the secret key.
        secret_file: PathBuf,
    },
    /// Make an API client: a new random token, shown once (or written to
    /// --token-file, mode 0600), and its SHA-256 in a drop-in,
    /// conf.d/NAME.toml beside the configuration (`systemctl reload
    /// callscreen` puts it in force). For example, a NOC client for `tail`
    /// and `top`: `callscreen api add-client noc --operations read,calls`.
    AddClient {
        /// The client's name (letters, digits, '-', '_', '.'), shown in the
        /// audit log.
        name: String,
        /// What it may do: read, replace, patch, rollback, calls, hits,
        /// fleet (comma-separated).
        #[arg(long, value_delimiter = ',', required = true)]
        operations: Vec<String>,
        /// The lists it may touch (comma-separated); * for all.
        #[arg(long, value_delimiter = ',', default_value = "*")]
        lists: Vec<String>,
        /// The configuration file; the drop-in goes to conf.d/ beside it.
        #[arg(long, default_value = "/etc/callscreen/callscreen.toml")]
        config: PathBuf,
        /// Write the token to this file (mode 0600, a new file) instead of
        /// printing it.
        #[arg(long)]
        token_file: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct CheckArgs {
    /// The configuration file (the same default as `run`; in a source
    /// tree: --config config/callscreen.toml).
    #[arg(long, default_value = "/etc/callscreen/callscreen.toml")]
    pub config: PathBuf,
    /// The caller as presented (From): a number in any form, or a sip:/tel: URI.
    #[arg(long)]
    pub caller: String,
    /// The P-Asserted-Identity, screened when the peer is pai_trusted.
    #[arg(long)]
    pub pai: Option<String>,
    /// The called number or Request-URI.
    #[arg(long)]
    pub callee: String,
    /// The ingress peer (a [[peers]] name in the config).
    #[arg(long)]
    pub peer: String,
    /// Screen as a call in this direction, whatever the peer's: "originating"
    /// (a subscriber's own call: the dialled number is screened) or
    /// "terminating" (a call into the subscribers).
    #[arg(long, value_parser = ["originating", "terminating"])]
    pub direction: Option<String>,
    /// Decide as if this were the Nth call from the caller's number within
    /// the burst window (`[bursts]`; the daemon counts it).
    #[arg(long, value_name = "N")]
    pub burst: Option<u32>,
    /// Decide as if this were the Nth call from the caller's block within
    /// the burst window.
    #[arg(long, value_name = "N")]
    pub burst_block: Option<u32>,
    /// The caller's display name.
    #[arg(long)]
    pub display_name: Option<String>,
    /// A diverting party (Diversion/History-Info URI or number); repeatable.
    #[arg(long)]
    pub diversion: Vec<String>,
    /// An Identity header value (STIR/SHAKEN PASSporT); repeatable.
    #[arg(long)]
    pub identity: Vec<String>,
    /// The source address of the request (screened against network lists).
    #[arg(long)]
    pub source: Option<IpAddr>,
    /// Decide as at this time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ) instead of now.
    #[arg(long)]
    pub at: Option<String>,
    /// Decide with this answer of the roaming check (`[roaming]`) for a
    /// home mobile number from abroad: the daemon asks the operator's
    /// endpoint; `check` does not.
    #[arg(long, value_parser = ["roaming", "not-roaming", "unknown", "unanswered"])]
    pub roaming: Option<String>,
    /// Decide with this outcome of verifying the call's diversion
    /// PASSporTs (RFC 8946; `[stir]`): the daemon verifies them; `check`
    /// does not. `verified:domestic` is a verified chain naming a
    /// home-country diverting line.
    #[arg(long, value_parser = [
        "verified:domestic", "verified:foreign", "unverified", "failed:malformed",
        "failed:bad-signature", "failed:untrusted", "failed:cert-expired",
        "failed:no-tnauthlist", "failed:revoked", "failed:crl-unavailable", "failed:claim-constraints", "failed:no-shaken", "failed:unlinked", "failed:target",
        "failed:orig", "failed:stale",
    ])]
    pub div: Option<String>,
    /// Decide as if the call's SHAKEN PASSporT carried this verified Rich
    /// Call Data display name (RFC 9795 `rcd.nam`): screened as a From
    /// display name is.
    #[arg(long)]
    pub rcd_name: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate a configuration file and the lists it names; exits non-zero
    /// with every error (file, line, key, what was expected).
    Check {
        /// The configuration file.
        file: PathBuf,
    },
}

/// Where the control API is, and who we are.
#[derive(Args)]
pub struct ApiArgs {
    /// The control API.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// A file holding the bearer token (not the token on the command line:
    /// it would show in the process list).
    #[arg(long)]
    pub token_file: PathBuf,
    /// For https: the CA certificate (PEM) that signed the API's certificate.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// For https with client certificates: this client's certificate (PEM).
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum ListsCommand {
    /// Replace a list on a running daemon with a file (v1 text, JSON, or a
    /// companies TOML file); prints the accepted version and counts, or every
    /// refused line.
    Push {
        /// The list's name.
        name: String,
        /// The list file.
        file: PathBuf,
        /// Sign the body with this Ed25519 secret key (a file of 64 hex
        /// digits, from `callscreen api keygen`).
        #[arg(long)]
        sign_key: Option<PathBuf>,
        /// Replace even if the new version removes more of the list than
        /// list_guard.max_shrink_percent allows (the daemon refuses that
        /// otherwise: a broken export must not unblock every number at once).
        #[arg(long)]
        allow_shrink: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show every list of a running daemon as a table: kind, role,
    /// version, entries, expired, source, age, sha256 (`GET /v1/lists`).
    Show {
        /// Show the fleet instead, as `callscreen fleet show` does: every
        /// node, its state, the lists' heads, which lists lag.
        #[arg(long)]
        fleet: bool,
        /// The lists as JSON, as the API gives them.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Print a list of a running daemon in the v1 format.
    Export {
        /// The list's name.
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// How many calls each entry of a list matched on a running daemon (by
    /// verdict, first and last time), the busiest first
    /// (`GET /v1/lists/{name}/hits`, scope `hits`).
    Hits {
        /// The list's name.
        name: String,
        /// How many entries.
        #[arg(long, default_value_t = 100)]
        top: usize,
        /// Only entries hit since then (YYYY-MM-DD or unix seconds).
        #[arg(long)]
        since: Option<String>,
        /// CSV instead of JSON.
        #[arg(long)]
        csv: bool,
        /// Every node of the fleet, summed (the nodes that did not answer
        /// within 2 s are named).
        #[arg(long)]
        fleet: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// What a candidate version of a list would have done to the calls
    /// recorded on a running daemon ([records]), installing nothing
    /// (`POST /v1/lists/{name}/whatif`, operation `records`): every call in
    /// the window decided again with the file in place of the version in
    /// force; how many calls and callers it would newly reject or let
    /// through, by peer, the top callers and subscribers, and examples.
    Whatif {
        /// The list's name.
        name: String,
        /// The candidate (the body a push would send).
        file: PathBuf,
        /// The calls since then: an age (90m, 24h, 7d), YYYY-MM-DD or unix seconds.
        #[arg(long, default_value = "24h")]
        since: String,
        /// Until (the same forms); default now.
        #[arg(long)]
        until: Option<String>,
        /// The report as JSON, as the API gives it.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Roll a list back to its previous version.
    Rollback {
        /// The list's name.
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Turn a do-not-originate (DNO) list published as CSV (by a regulator
    /// or an industry body) into a v1 list file that `lists verify` accepts,
    /// to sign and push. Every row must give a number: a row that does not
    /// is named by its line and nothing is written.
    Import(ImportArgs),
    /// Check a list file offline, with the same errors a push would get: a
    /// v1 text or JSON list, or a protected-companies file (TOML).
    Verify {
        /// The list file (v1 text, JSON, or a companies file in TOML).
        file: PathBuf,
        /// What the list holds: numbers (callers' or dialled numbers,
        /// prefixes and ranges) or networks (source addresses, CIDR); a
        /// companies file is known by its form.
        #[arg(long, default_value = "numbers", value_parser = ["numbers", "networks"])]
        kind: String,
        /// The fewest digits a prefix may have, as the daemon's
        /// [list_guard] min_prefix_digits (a shorter prefix would block too
        /// much and is refused).
        #[arg(long, default_value_t = DEFAULT_MIN_PREFIX_DIGITS)]
        min_prefix_digits: u8,
    },
}

/// `lists import`: a CSV do-not-originate list turned into a list file.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The CSV file.
    pub csv: PathBuf,
    /// The list's name, as in its header line and the daemon's [[lists]].
    #[arg(long)]
    pub name: String,
    /// The list's version (above the one in force).
    #[arg(long)]
    pub version: u64,
    /// The column of the numbers: its header's name, or its position
    /// from 1. A number ending in `*` is a prefix.
    #[arg(long, default_value = "1")]
    pub number_column: String,
    /// The column of each number's reason (a category); without it,
    /// every entry gets --reason.
    #[arg(long)]
    pub reason_column: Option<String>,
    /// The reason of every entry when there is no --reason-column.
    #[arg(long, default_value = "do-not-originate")]
    pub reason: String,
    /// The column of each number's reference (the publisher's id).
    #[arg(long)]
    pub reference_column: Option<String>,
    /// The country code for numbers in national form (trunk prefix 0,
    /// international prefix 00); without it, numbers must be
    /// international (+44…, 0044… or 44… without the +).
    #[arg(long)]
    pub country_code: Option<String>,
    /// The field separator.
    #[arg(long, default_value_t = ',')]
    pub delimiter: char,
    /// The file has no header row (columns by position only).
    #[arg(long)]
    pub no_header: bool,
    /// Write the list to this file (default: standard output).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// The fewest digits a prefix may have, as the list's guard in the
    /// daemon.
    #[arg(long, default_value_t = DEFAULT_MIN_PREFIX_DIGITS)]
    pub min_prefix_digits: u8,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_its_defaults_match_the_library() {
        super::Cli::command().debug_assert();
        assert_eq!(
            super::DEFAULT_MIN_PREFIX_DIGITS,
            crate::lists::Guard::default().min_prefix_digits
        );
    }
}
