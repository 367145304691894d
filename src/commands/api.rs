//! `callscreen api …`: helpers for the control API's configuration: a
//! token's hash, a key pair for signed pushes, a new client.

use std::path::Path;
use std::process::ExitCode;

/// `api hash-token`: the SHA-256 of a token read on standard input.
pub fn hash_token() -> ExitCode {
    let mut token = String::new();
    if std::io::stdin().read_line(&mut token).is_err() || token.trim().is_empty() {
        eprintln!(
            "give the token on standard input, e.g.: printf '%s' \"$TOKEN\" | callscreen api hash-token"
        );
        return ExitCode::from(2);
    }
    println!("{}", crate::api::hash_token(token.trim()));
    ExitCode::SUCCESS
}

/// `api keygen FILE`: the secret key to FILE, the public key printed.
pub fn keygen(secret_file: &Path) -> ExitCode {
    match crate::keys::keygen() {
        Ok((secret, public)) => {
            if let Err(e) = write_secret(secret_file, &secret) {
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
    }
}

/// Writes a secret (a key, a token) to a new file readable by its owner only.
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    write_new(dir, path, &format!("{secret}\n"), 0o600)
}

/// `api add-client NAME`: a new token, its hash in `conf.d/NAME.toml`
/// beside the configuration, checked with the whole configuration (the
/// drop-in is removed again when that fails); the token printed once, or
/// written to `token_file`.
pub fn add_client(
    name: &str,
    operations: &[String],
    lists: &[String],
    config: &Path,
    token_file: Option<&Path>,
) -> ExitCode {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        || name.starts_with('.')
    {
        eprintln!("{name:?} is not a client name; use letters, digits, '-', '_' and '.'");
        return ExitCode::from(2);
    }
    if let Err(e) = crate::config::load(config) {
        eprintln!("{e}\n(the configuration must be valid before a client is added)");
        return ExitCode::from(2);
    }
    let token = match crate::keys::random_hex(32) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot read randomness: {e}");
            return ExitCode::from(2);
        }
    };
    let dir = crate::config::drop_in_dir(config);
    let file = dir.join(format!("{name}.toml"));
    let quoted = |v: &[String]| {
        v.iter()
            .map(|x| format!("{x:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!(
        "# API client {name:?}, made by `callscreen api add-client`. Its token was\n\
         # shown once; only its SHA-256 is kept. Remove this file (and reload) to\n\
         # withdraw the client.\n\
         [[api.clients]]\nname = {name:?}\ntoken_sha256 = \"{}\"\nlists = [{}]\noperations = [{}]\n",
        crate::api::hash_token(&token),
        quoted(lists),
        quoted(operations),
    );
    if let Err(e) = write_new(&dir, &file, &text, 0o644) {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            eprintln!(
                "{}: a client of that name exists already (remove the file to replace it)",
                file.display()
            );
        } else {
            eprintln!("{}: {e}", file.display());
        }
        return ExitCode::from(2);
    }
    if let Err(e) = crate::config::load(config) {
        let _ = std::fs::remove_file(&file);
        eprintln!("{e}\n(the client was not added)");
        return ExitCode::from(2);
    }
    match token_file {
        Some(t) => {
            if let Err(e) = write_secret(t, &token) {
                let _ = std::fs::remove_file(&file);
                eprintln!(
                    "{}: cannot write the token: {e} (the client was not added)",
                    t.display()
                );
                return ExitCode::from(2);
            }
            eprintln!("the token is in {} (mode 0600)", t.display());
        }
        None => {
            println!("{token}");
            eprintln!(
                "the token above is shown once: keep it in a file of its own (mode 0600) for --token-file"
            );
        }
    }
    eprintln!(
        "client {name:?} added: {} ({}); `systemctl reload callscreen` (or SIGHUP) puts it in force",
        file.display(),
        operations.join(", ")
    );
    ExitCode::SUCCESS
}

/// Writes a new file (never over one) in `dir`, made if missing.
fn write_new(dir: &Path, file: &Path, text: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(file)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
