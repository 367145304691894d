//! The NOC line: one event per screened INVITE, with stable field names
//! (DESIGN.md "The NOC line"), in text or JSON; and the log writer, which
//! never blocks the call path (a bounded queue; dropped lines are counted).

use std::fmt;

use tracing_appender::non_blocking::{ErrorCounter, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;
use crate::number::Cli;
use crate::screen::{Action, Verdict};

/// Starts logging to stdout through a bounded, lossy queue. `RUST_LOG`
/// overrides the configured level. Returns the guard that flushes on exit
/// and the counter of dropped lines.
pub fn init_logging(log: &LogSettings, json: bool) -> (WorkerGuard, ErrorCounter) {
    // The writer thread writes the lines it finds queued in one block (its
    // buffer, flushed whenever the queue is empty), not a write(2) per line
    // as stdout's line buffering would: a line still reaches the journal as
    // soon as the writer has caught up.
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(log.queue_lines)
        .lossy(true)
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stdout(),
        ));
    let dropped = writer.error_counter();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let b = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false);
    // A second init (tests) keeps the first subscriber.
    let _ = if json {
        b.json().flatten_event(true).try_init()
    } else {
        b.try_init()
    };
    (guard, dropped)
}

/// The reason codes of a verdict, comma-separated (`-` for none).
pub struct Reasons<'v, 'a>(pub &'v Verdict<'a>);

impl fmt::Display for Reasons<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for r in self.0.all_reasons() {
            if any {
                f.write_str(",")?;
            }
            any = true;
            write!(f, "{r}")?;
        }
        if !any {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// The lists that matched, as `name@version` (`-` for none).
pub struct Lists<'v, 'a>(pub &'v Verdict<'a>);

impl fmt::Display for Lists<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut n = 0;
        for (i, h) in self.0.findings.iter().filter_map(|x| x.hit).enumerate() {
            let dup = self
                .0
                .findings
                .iter()
                .filter_map(|x| x.hit)
                .take(i)
                .any(|g| g.list == h.list);
            if dup {
                continue;
            }
            if n > 0 {
                f.write_str(",")?;
            }
            n += 1;
            write!(f, "{}@{}", h.list, h.version)?;
        }
        if n == 0 {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// A caller number as logged, optionally masked (privacy law): the country
/// code and the next digits stay, the last five become `*`.
pub struct Number {
    pub cli: Option<Cli>,
    pub mask: bool,
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cli {
            None => f.write_str("-"),
            Some(Cli::Withheld) => f.write_str("withheld"),
            Some(Cli::Invalid) => f.write_str("invalid"),
            Some(Cli::Number(n)) if self.mask => {
                let mut buf = [0u8; 15];
                let len = n.write_digits(&mut buf);
                let keep = len.saturating_sub(5);
                f.write_str("+")?;
                for (i, d) in buf[..len].iter().enumerate() {
                    let c = if i < keep { *d as char } else { '*' };
                    fmt::Write::write_char(f, c)?;
                }
                Ok(())
            }
            Some(Cli::Number(n)) => write!(f, "{n}"),
        }
    }
}

/// The callee as logged: the normalised number, else the dialled user part.
pub struct Callee<'a> {
    pub number: Option<crate::number::E164>,
    pub raw: &'a [u8],
}

impl fmt::Display for Callee<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number {
            Some(n) => write!(f, "{n}"),
            None => f.write_str(&String::from_utf8_lossy(self.raw)),
        }
    }
}

/// The SIP code of an action (0 for none: the call went on).
pub fn code(a: Action, clean_code: u16) -> u16 {
    match a {
        Action::Reject { code } => code,
        Action::Allow => clean_code,
        // Tags, anonymity and the warning travel in a 302 (redirect mode).
        Action::Tag | Action::Anonymise | Action::Warn => 302,
    }
}

/// The NOC line's `direction`.
pub fn direction(originating: bool) -> &'static str {
    if originating {
        "originating"
    } else {
        "terminating"
    }
}

/// A rejected call's reference (redress, RFC 8688): ten characters of
/// Crockford's base32 (no I, L, O, U) from the Call-ID's 64-bit FNV-1a
/// hash, the same for every retransmission of the INVITE. It goes in the
/// answer's Reason text and in the NOC line (`ref=`), so that the operator
/// finds the call from what the rejected caller reads out.
pub struct CallRef(pub [u8; 10]);

impl CallRef {
    pub fn of(call_id: &[u8]) -> CallRef {
        const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in call_id {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut out = [0u8; 10];
        for (i, c) in out.iter_mut().enumerate() {
            *c = ALPHABET[((h >> (5 * i)) & 31) as usize];
        }
        CallRef(out)
    }
}

impl fmt::Display for CallRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Only ASCII from the alphabet above.
        f.write_str(std::str::from_utf8(&self.0).unwrap_or("-"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::E164;

    #[test]
    fn masking() {
        let n = Cli::Number(E164::parse_plus("+31201234567").unwrap());
        assert_eq!(
            Number {
                cli: Some(n),
                mask: true
            }
            .to_string(),
            "+312012*****"
        );
        assert_eq!(
            Number {
                cli: Some(n),
                mask: false
            }
            .to_string(),
            "+31201234567"
        );
        assert_eq!(
            Number {
                cli: None,
                mask: true
            }
            .to_string(),
            "-"
        );
    }

    #[test]
    fn a_call_reference_is_stable_and_readable() {
        let a = super::CallRef::of(b"a84b4c76e66710@pc33.example.com").to_string();
        assert_eq!(
            a,
            super::CallRef::of(b"a84b4c76e66710@pc33.example.com").to_string()
        );
        assert_ne!(
            a,
            super::CallRef::of(b"a84b4c76e66711@pc33.example.com").to_string()
        );
        assert_eq!(a.len(), 10);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
        );
    }
}
