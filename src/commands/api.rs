//! `callscreen api …`: helpers for the control API's configuration: a
//! token's hash, a key pair for signed pushes.

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

/// Writes a secret key readable by its owner only.
fn write_secret(path: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    writeln!(f, "{secret}")
}
