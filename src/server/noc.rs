//! The NOC line: one event per screened INVITE, with stable field names
//! (DESIGN.md "The NOC line"), in text or JSON; and the log writer, which
//! never blocks the call path (a bounded queue written in blocks; dropped
//! lines are counted).

use std::fmt;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;
use crate::number::Cli;
use crate::screen::{Action, Verdict};

/// How often the writer thread writes what was logged since (one write(2)).
const WRITE_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

/// Lines logged and not yet written: the bytes and how many lines.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    lines: usize,
}

/// The NOC log's queue: a buffer the logging threads append whole lines to
/// (one short lock each, no wake-up of anyone), which a writer thread takes
/// every [`WRITE_EVERY`] and writes to stdout in one block. Lines beyond
/// `limit` waiting lines are dropped and counted: a slow journal never
/// blocks a call.
struct Queue {
    pending: std::sync::Mutex<Pending>,
    limit: usize,
    dropped: AtomicU64,
    stop: std::sync::atomic::AtomicBool,
}

/// What the fmt layer writes an event through (one `write` per event).
pub struct Line<'a>(&'a Queue);

impl std::io::Write for Line<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut p) = self.0.pending.lock() {
            if p.lines >= self.0.limit {
                self.0.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                p.bytes.extend_from_slice(b);
                p.lines += 1;
            }
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The fmt layer's writer.
pub struct NocWriter(Arc<Queue>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for NocWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(&self.0)
    }
}

/// The count of lines dropped because the queue was full.
#[derive(Clone)]
pub struct Dropped(Arc<Queue>);

impl Dropped {
    pub fn dropped_lines(&self) -> u64 {
        self.0.dropped.load(Ordering::Relaxed)
    }
}

/// Stops the writer thread and writes what is left, when dropped.
pub struct LogGuard {
    queue: Arc<Queue>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.queue.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// Writes the queue to stdout every [`WRITE_EVERY`] until stopped, then
/// once more.
fn write_queue(q: &Queue) {
    use std::io::Write;
    let mut spare = Pending::default();
    let mut out = std::io::stdout();
    loop {
        let stopping = q.stop.load(Ordering::Relaxed);
        if let Ok(mut p) = q.pending.lock() {
            std::mem::swap(&mut *p, &mut spare);
        }
        if !spare.bytes.is_empty() {
            // A failed write (no reader) loses these lines, as a full queue would.
            let _ = out.write_all(&spare.bytes).and_then(|()| out.flush());
            spare.bytes.clear();
            spare.lines = 0;
        }
        if stopping {
            return;
        }
        std::thread::park_timeout(WRITE_EVERY);
    }
}

/// Starts logging to stdout through a bounded, lossy queue (`log.queue_lines`
/// lines) that a writer thread empties every 5 ms in one write. `RUST_LOG`
/// overrides the configured level. Returns the guard that writes what is
/// left on exit, and the counter of dropped lines.
///
/// Why not a channel with a writer woken per line (tracing-appender, used
/// before): on a busy node its writer spun and yielded between lines (5 % of
/// the daemon's samples in `perf`, BENCHMARKS.md), and each line was a
/// write(2) of its own.
pub fn init_logging(log: &LogSettings, json: bool) -> (LogGuard, Dropped) {
    let queue = Arc::new(Queue {
        pending: std::sync::Mutex::new(Pending::default()),
        limit: log.queue_lines,
        dropped: AtomicU64::new(0),
        stop: std::sync::atomic::AtomicBool::new(false),
    });
    let q = Arc::clone(&queue);
    let thread = std::thread::Builder::new()
        .name("noc-log".into())
        .spawn(move || write_queue(&q))
        .ok();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&log.level));
    let b = tracing_subscriber::fmt()
        .with_writer(NocWriter(Arc::clone(&queue)))
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false);
    // A second init (tests) keeps the first subscriber.
    let _ = if json {
        b.json().flatten_event(true).try_init()
    } else {
        b.try_init()
    };
    (
        LogGuard {
            queue: Arc::clone(&queue),
            thread,
        },
        Dropped(queue),
    )
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
