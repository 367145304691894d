//! The NOC line: one line per screened INVITE, with stable field names
//! (DESIGN.md "The NOC line"), in text or JSON, written by the call path
//! itself in the fmt layer's format ([`call_line`]); and the log writer,
//! which never blocks the call path (a bounded queue written in blocks;
//! dropped lines are counted).

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

impl Queue {
    /// Appends one whole line, or counts it dropped when `limit` wait.
    fn push(&self, b: &[u8]) {
        if let Ok(mut p) = self.pending.lock() {
            if p.lines >= self.limit {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                p.bytes.extend_from_slice(b);
                p.lines += 1;
            }
        }
    }
}

/// What the fmt layer writes an event through (one `write` per event).
pub struct Line<'a>(&'a Queue);

impl std::io::Write for Line<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.push(b);
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
    // A second init (tests) keeps the first subscriber, and the first sink.
    let _ = SINK.set(Sink {
        queue: Arc::clone(&queue),
        json,
    });
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

/// Where the call path writes NOC lines itself: the log's queue and format.
struct Sink {
    queue: Arc<Queue>,
    json: bool,
}

static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();

/// A NOC line's value: text, or a number (a JSON number in JSON lines).
pub enum Value<'a> {
    Text(&'a dyn fmt::Display),
    Num(u64),
}

/// The target the NOC line is filtered by (`RUST_LOG=callscreen::server::decide=warn`
/// silences it), as when it was a `tracing` event of that module.
pub const TARGET: &str = "callscreen::server::decide";

/// Writes one NOC line (an INFO event with the message `call` and these
/// fields, in order) straight into the log's queue, formatted as the fmt
/// layer formats every other line, text or JSON, byte for byte. Why not a
/// `tracing` event: its formatting (timestamp, level, a visitor per field)
/// was an eighth of the daemon's CPU under load (perf, BENCHMARKS.md); here
/// the timestamp's date and time are formatted once a second per thread
/// and the line in a reused buffer, no allocation per call. Without a
/// sink (logging not started) or with INFO filtered out for [`TARGET`],
/// nothing is written.
pub fn call_line(fields: &[(&str, Value<'_>)]) {
    let Some(sink) = SINK.get() else { return };
    if !tracing::enabled!(target: TARGET, tracing::Level::INFO) {
        return;
    }
    LINE.with_borrow_mut(|l| {
        l.buf.clear();
        l.format(sink.json, fields);
        sink.queue.push(&l.buf);
    });
}

/// A thread's NOC line buffer and the second its timestamp prefix is for.
struct LineBuf {
    buf: Vec<u8>,
    text: String,
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`.
    prefix: String,
}

thread_local! {
    static LINE: std::cell::RefCell<LineBuf> = const {
        std::cell::RefCell::new(LineBuf {
            buf: Vec::new(),
            text: String::new(),
            second: u64::MAX,
            prefix: String::new(),
        })
    };
}

impl LineBuf {
    /// `2026-12-02T19:19:05.321844Z`, as tracing-subscriber's `SystemTime`.
    fn timestamp(&mut self, now: std::time::SystemTime) {
        let d = now
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if d.as_secs() != self.second {
            self.second = d.as_secs();
            self.prefix = crate::lists::format_expiry(self.second);
            self.prefix.pop(); // the Z, which follows the microseconds
        }
        self.buf.extend_from_slice(self.prefix.as_bytes());
        let micros = d.subsec_micros();
        self.buf.push(b'.');
        for k in (0..6).rev() {
            self.buf.push(b'0' + (micros / 10u32.pow(k) % 10) as u8);
        }
        self.buf.push(b'Z');
    }

    fn format(&mut self, json: bool, fields: &[(&str, Value<'_>)]) {
        self.format_at(json, std::time::SystemTime::now(), fields);
    }

    fn format_at(&mut self, json: bool, now: std::time::SystemTime, fields: &[(&str, Value<'_>)]) {
        use std::fmt::Write as _;
        use std::io::Write as _;
        if json {
            self.buf.extend_from_slice(b"{\"timestamp\":\"");
            self.timestamp(now);
            self.buf
                .extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"call\"");
            for (name, v) in fields {
                self.buf.extend_from_slice(b",\"");
                self.buf.extend_from_slice(name.as_bytes());
                self.buf.extend_from_slice(b"\":");
                match v {
                    Value::Num(n) => {
                        let _ = write!(self.buf, "{n}");
                    }
                    Value::Text(t) => {
                        self.text.clear();
                        let _ = write!(self.text, "{t}");
                        // serde_json's escaping, as the JSON layer's.
                        let _ = serde_json::to_writer(&mut self.buf, self.text.as_str());
                    }
                }
            }
            self.buf.extend_from_slice(b"}\n");
        } else {
            self.timestamp(now);
            self.buf.extend_from_slice(b"  INFO call");
            for (name, v) in fields {
                self.buf.push(b' ');
                self.buf.extend_from_slice(name.as_bytes());
                self.buf.push(b'=');
                let _ = match v {
                    Value::Num(n) => write!(self.buf, "{n}"),
                    Value::Text(t) => write!(self.buf, "{t}"),
                };
            }
            self.buf.push(b'\n');
        }
    }
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

    fn line(json: bool, at: std::time::SystemTime, fields: &[(&str, Value<'_>)]) -> String {
        let mut l = LineBuf {
            buf: Vec::new(),
            text: String::new(),
            second: u64::MAX,
            prefix: String::new(),
        };
        l.format_at(json, at, fields);
        String::from_utf8(l.buf).unwrap()
    }

    #[test]
    fn the_call_line_is_formatted_as_the_fmt_layer_formats_events() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = UNIX_EPOCH + Duration::from_micros(1_764_703_145_021_844);
        let call_id = "a\"b\\c";
        let fields = [
            ("verdict", Value::Text(&"reject")),
            ("code", Value::Num(608)),
            ("call_id", Value::Text(&call_id)),
        ];
        assert_eq!(
            line(false, at, &fields),
            "2025-12-02T19:19:05.021844Z  INFO call verdict=reject code=608 call_id=a\"b\\c\n"
        );
        assert_eq!(
            line(true, at, &fields),
            "{\"timestamp\":\"2025-12-02T19:19:05.021844Z\",\"level\":\"INFO\",\"message\":\"call\",\
             \"verdict\":\"reject\",\"code\":608,\"call_id\":\"a\\\"b\\\\c\"}\n"
        );
        // A leap day's last second; the prefix follows the second.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400 + 86_399);
        assert_eq!(
            line(false, leap, &[]),
            "2000-02-29T23:59:59.000000Z  INFO call\n"
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
