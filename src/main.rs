//! The `callscreen` command: subcommands over the library, no logic of its own.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args, Parser, Subcommand};

use callscreen::engine::Engine;
use callscreen::lists::{Guard, ListKind, parse, parse_expiry};
use callscreen::report;
use callscreen::screen::{CallFacts, RawCall, screen};

/// SIP call screening against tech-support scams: blocklists, withdrawn
/// number ranges, spoofed caller IDs.
#[derive(Parser)]
#[command(name = "callscreen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: screen every INVITE that reaches the configured SIP
    /// listeners (redirect mode), one NOC line per call on stdout. Prints
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
    /// List file commands.
    #[command(subcommand)]
    Lists(ListsCommand),
    /// Control API helpers.
    #[command(subcommand)]
    Api(ApiCommand),
}

#[derive(Subcommand)]
enum ApiCommand {
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
}

#[derive(Args)]
struct CheckArgs {
    /// The configuration file.
    #[arg(long, default_value = "config/callscreen.toml")]
    config: PathBuf,
    /// The caller as presented (From): a number in any form, or a sip:/tel: URI.
    #[arg(long)]
    caller: String,
    /// The P-Asserted-Identity, screened when the peer is pai_trusted.
    #[arg(long)]
    pai: Option<String>,
    /// The called number or Request-URI.
    #[arg(long)]
    callee: String,
    /// The ingress peer (a [[peers]] name in the config).
    #[arg(long)]
    peer: String,
    /// The caller's display name.
    #[arg(long)]
    display_name: Option<String>,
    /// A diverting party (Diversion/History-Info URI or number); repeatable.
    #[arg(long)]
    diversion: Vec<String>,
    /// An Identity header value (STIR/SHAKEN PASSporT); repeatable.
    #[arg(long)]
    identity: Vec<String>,
    /// The source address of the request (screened against network lists).
    #[arg(long)]
    source: Option<IpAddr>,
    /// Decide as at this time (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ) instead of now.
    #[arg(long)]
    at: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate a configuration file and the lists it names; exits non-zero
    /// with every error (file, line, key, what was expected).
    Check {
        /// The configuration file.
        file: PathBuf,
    },
}

/// Where the control API is, and who we are.
#[derive(Args)]
struct ApiArgs {
    /// The control API.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A file holding the bearer token (not the token on the command line:
    /// it would show in the process list).
    #[arg(long)]
    token_file: PathBuf,
    /// For https: the CA certificate (PEM) that signed the API's certificate.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// For https with client certificates: this client's certificate (PEM).
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
}

#[derive(Subcommand)]
enum ListsCommand {
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
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Show every list of a running daemon: version, entries, source.
    Show {
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
    /// Roll a list back to its previous version.
    Rollback {
        /// The list's name.
        name: String,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Check a list file offline, with the same errors a push would get.
    Verify {
        /// The list file (v1 text or JSON).
        file: PathBuf,
        /// What the list holds.
        #[arg(long, default_value = "numbers", value_parser = ["numbers", "networks"])]
        kind: String,
        /// The fewest digits a prefix may have (the config's list_guard.min_prefix_digits).
        #[arg(long, default_value_t = Guard::default().min_prefix_digits)]
        min_prefix_digits: u8,
    },
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn check(a: CheckArgs) -> ExitCode {
    let engine = match Engine::load(&a.config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    for s in &engine.skipped {
        eprintln!("warning: optional list skipped: {s}");
    }
    let policy = &engine.settings.policy;
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
        None => now(),
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
        callee: &a.callee,
        source: a.source,
        diversions: parts(&a.diversion),
        identities: parts(&a.identity),
    };
    let facts = CallFacts::read(&raw, peer, policy, at);
    let verdict = screen(&facts, &engine.lists, policy);
    if a.json {
        println!("{}", report::json(&verdict, &facts, policy));
    } else {
        print!("{}", report::text(&verdict, &facts, policy));
    }
    ExitCode::SUCCESS
}

/// The first few of a repeated option, as the facts hold them.
fn parts(v: &[String]) -> [Option<&str>; callscreen::screen::facts::MAX_PARTS] {
    let mut out = [None; callscreen::screen::facts::MAX_PARTS];
    for (slot, s) in out.iter_mut().zip(v) {
        *slot = Some(s.as_str());
    }
    out
}

fn config_check(file: PathBuf) -> ExitCode {
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
                        l.stats(now()).entries()
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

fn lists_verify(file: PathBuf, kind: &str, min_prefix_digits: u8) -> ExitCode {
    let body = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    let kind = ListKind::from_name(kind).unwrap_or(ListKind::Numbers);
    match parse(&body, kind, Guard { min_prefix_digits }) {
        Ok(l) => {
            println!(
                "{}: ok; list {} version {}, {} entries",
                file.display(),
                l.name,
                l.version,
                l.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            for e in &errors.errors {
                match (e.line, e.entry) {
                    (Some(l), None) => eprintln!("{}:{l}: {}", file.display(), e.message),
                    _ => eprintln!("{}: {e}", file.display()),
                }
            }
            if errors.total > errors.errors.len() {
                eprintln!(
                    "{}: … and {} more",
                    file.display(),
                    errors.total - errors.errors.len()
                );
            }
            ExitCode::from(1)
        }
    }
}

/// Writes a secret key readable by its owner only.
fn write_secret(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{secret}")
}

fn api_call(api: &ApiArgs, method: &str, path: &str, ctype: Option<&str>, body: &[u8]) -> ExitCode {
    api_call_signed(api, method, path, ctype, body, None)
}

/// One API request; the body is printed (stdout on success, stderr on failure).
fn api_call_signed(
    api: &ApiArgs,
    method: &str,
    path: &str,
    ctype: Option<&str>,
    body: &[u8],
    signature: Option<&str>,
) -> ExitCode {
    let token = match std::fs::read_to_string(&api.token_file) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        Ok(_) => {
            eprintln!("{}: the token file is empty", api.token_file.display());
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!(
                "{}: cannot read the token file: {e}",
                api.token_file.display()
            );
            return ExitCode::from(2);
        }
    };
    let tls = match &api.ca {
        None => None,
        Some(ca) => {
            let identity = api.cert.as_deref().zip(api.key.as_deref());
            match callscreen::api::tls::client_config(ca, identity) {
                Ok(c) => Some(c),
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            }
        }
    };
    match callscreen::api::client::request(
        &api.url,
        method,
        path,
        Some(&token),
        ctype,
        body,
        signature,
        tls,
    ) {
        Ok(a) if (200..300).contains(&a.status) => {
            print!("{}", a.body);
            if !a.body.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Ok(a) => {
            eprintln!("{method} {path}: {} {}", a.status, a.body.trim_end());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run { config, log_format } => {
            let opts = callscreen::server::RunOptions {
                config,
                json: log_format.map(|f| f == "json"),
            };
            match callscreen::server::run(opts) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("callscreen: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Command::Check(a) => check(a),
        Command::Config(ConfigCommand::Check { file }) => config_check(file),
        Command::Api(ApiCommand::HashToken) => {
            let mut token = String::new();
            if std::io::stdin().read_line(&mut token).is_err() || token.trim().is_empty() {
                eprintln!(
                    "give the token on standard input, e.g.: printf '%s' \"$TOKEN\" | callscreen api hash-token"
                );
                return ExitCode::from(2);
            }
            println!("{}", callscreen::api::hash_token(token.trim()));
            ExitCode::SUCCESS
        }
        Command::Api(ApiCommand::Keygen { secret_file }) => match callscreen::api::sign::keygen() {
            Ok((secret, public)) => {
                if let Err(e) = write_secret(&secret_file, &secret) {
                    eprintln!(
                        "{}: cannot write the secret key: {e}",
                        secret_file.display()
                    );
                    return ExitCode::from(2);
                }
                println!("{public}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot read randomness: {e}");
                ExitCode::from(2)
            }
        },
        Command::Lists(ListsCommand::Push {
            name,
            file,
            sign_key,
            api,
        }) => {
            let body = match std::fs::read(&file) {
                Ok(b) => b,
                Err(e) => {
                    eprintln!("{}: cannot read: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let ctype = if body.trim_ascii_start().starts_with(b"{") {
                "application/json"
            } else if file.extension().is_some_and(|e| e == "toml") {
                "application/toml"
            } else {
                "text/plain"
            };
            let signature = match sign_key.map(|k| std::fs::read_to_string(&k).map(|s| (k, s))) {
                None => None,
                Some(Ok((k, secret))) => match callscreen::api::sign::sign(&secret, &body) {
                    Some(s) => Some(s),
                    None => {
                        eprintln!("{}: not an Ed25519 secret key (64 hex digits)", k.display());
                        return ExitCode::from(2);
                    }
                },
                Some(Err(e)) => {
                    eprintln!("cannot read the signing key: {e}");
                    return ExitCode::from(2);
                }
            };
            api_call_signed(
                &api,
                "PUT",
                &format!("/v1/lists/{name}"),
                Some(ctype),
                &body,
                signature.as_deref(),
            )
        }
        Command::Lists(ListsCommand::Show { api }) => api_call(&api, "GET", "/v1/lists", None, b""),
        Command::Lists(ListsCommand::Export { name, api }) => {
            api_call(&api, "GET", &format!("/v1/lists/{name}"), None, b"")
        }
        Command::Lists(ListsCommand::Rollback { name, api }) => api_call(
            &api,
            "POST",
            &format!("/v1/lists/{name}/rollback"),
            None,
            b"",
        ),
        Command::Lists(ListsCommand::Verify {
            file,
            kind,
            min_prefix_digits,
        }) => lists_verify(file, &kind, min_prefix_digits),
    }
}
