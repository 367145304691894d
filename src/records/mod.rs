//! Call records (`[records]`): every screened call's inputs and outcome,
//! kept on the node for finding a call again (`GET /v1/calls`,
//! `callscreen calls find`), for deciding past calls again with a
//! candidate list (`whatif`), and for the operator's own analytics
//! (the segments are Parquet files; `callscreen calls export`).
//!
//! Off the call path: a call is encoded into a bounded queue (one short
//! lock, no allocation once warm, as the NOC log's queue); when the queue
//! is full the record is dropped and counted, never waited for. A writer
//! thread appends the queue to the staging log every [`WRITE_EVERY`] and
//! syncs it (a crash loses at most that batch); a sealer thread, at
//! background priority, turns a full or old staging log into a Parquet
//! segment and applies retention. The daemon seals in a child process
//! ([`Sealing::Child`]): sealing allocates and frees hundreds of
//! megabytes, and in the daemon's own address space every page it gives
//! back interrupts the cores that run the call path (TLB shootdowns);
//! BENCHMARKS.md "Call records" measures the difference. A failed write (a full disk) loses its
//! batch, counted; calls go on.

pub mod file;
pub mod query;
pub mod row;
pub mod store;
pub mod whatif;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use row::{Call, Record};

use crate::config::RecordsSettings;

/// How often retention runs when no segment is sealed.
const RETAIN_EVERY: Duration = Duration::from_secs(60);

/// How often the writer appends the queue to the staging log.
pub const WRITE_EVERY: Duration = Duration::from_millis(200);

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    records: u64,
}

/// Bytes set aside per queued record when the queue is made (a record
/// takes 100 to 200 bytes).
const RECORD_ROOM: usize = 256;
/// Records the queue has room for without growing (a batch of 200 ms at
/// 40 000 calls/s); beyond, it grows once to its working size.
const ROOM_RECORDS: u64 = 8192;

impl Pending {
    fn with_room(queue: u64) -> Pending {
        Pending {
            bytes: Vec::with_capacity(queue.min(ROOM_RECORDS) as usize * RECORD_ROOM),
            records: 0,
        }
    }
}

/// The recorder's counters (`callscreen_records_*`).
#[derive(Default, Debug)]
pub struct Counts {
    /// Records appended to a staging log.
    pub written: AtomicU64,
    /// Records dropped because the queue was full.
    pub dropped_queue: AtomicU64,
    /// Records lost to a failed write (a full disk, an I/O error).
    pub dropped_write: AtomicU64,
    /// Records found torn at the end of a staging log after a crash.
    pub torn: AtomicU64,
    /// Records sealed into segments.
    pub sealed: AtomicU64,
    /// Records removed by retention.
    pub expired: AtomicU64,
}

struct Shared {
    pending: Mutex<Pending>,
    limit: u64,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
}

/// The call path's handle: records calls; dropping it writes what is
/// queued and seals the staging log.
pub struct Recorder {
    shared: Arc<Shared>,
    dir: PathBuf,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Where staging logs are sealed.
#[derive(Clone, Debug)]
pub enum Sealing {
    /// On the sealer thread itself (a program that embeds the recorder:
    /// tests, tools).
    InProcess,
    /// In a child process, `PROGRAM calls seal --dir … --generation …
    /// --parent PID` (the daemon: its own executable), which inherits the
    /// sealer thread's idle priority and dies with it. When the program
    /// cannot be started, the sealer thread seals itself (said once).
    Child(PathBuf),
}

impl Recorder {
    /// Opens `settings.dir` (made if missing, mode 0700: full numbers),
    /// seals staging logs a previous run left, and starts the writer.
    pub fn start(settings: &RecordsSettings, sealing: Sealing) -> std::io::Result<Recorder> {
        let dir = settings.dir.clone();
        std::fs::create_dir_all(&dir)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let counts = Arc::new(Counts::default());
        let listing = store::list(&dir)?;
        let mut generation = listing
            .stages
            .iter()
            .map(|s| s.0)
            .chain(listing.segments.iter().map(|s| s.generation))
            .max()
            .map_or(1, |g| g + 1);
        let stop = Arc::new(AtomicBool::new(false));
        let sealer = Sealer::start(
            &dir,
            settings,
            sealing,
            Arc::clone(&stop),
            Arc::clone(&counts),
        )?;
        // Sealed logs whose removal a crash interrupted, and segments a
        // crash left half written (their logs are sealed again).
        for p in listing.sealed_stages.iter().chain(&listing.temporaries) {
            std::fs::remove_file(p)?;
        }
        for (g, _) in &listing.stages {
            let _ = sealer.tx.send(*g);
        }
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::with_room(settings.queue_records)),
            limit: settings.queue_records,
            stop,
            counts,
        });
        let (s, d) = (Arc::clone(&shared), dir.clone());
        let (max_records, max_age) = (settings.segment_records, settings.segment_age);
        let writer = std::thread::Builder::new()
            .name("records".into())
            .spawn(move || {
                write_loop(&s, &d, &mut generation, max_records, max_age, sealer);
            })?;
        Ok(Recorder {
            shared,
            dir,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Records a call, or counts it dropped when the queue is full.
    pub fn record(&self, c: &Call<'_>) {
        if let Ok(mut p) = self.shared.pending.lock() {
            if p.records >= self.shared.limit || self.shared.stop.load(Ordering::Relaxed) {
                self.shared
                    .counts
                    .dropped_queue
                    .fetch_add(1, Ordering::Relaxed);
            } else {
                row::encode(&mut p.bytes, c);
                p.records += 1;
            }
        }
    }

    pub fn counts(&self) -> &Arc<Counts> {
        &self.shared.counts
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes what is queued, seals the staging log and stops the
    /// threads (at shutdown); later calls are not recorded.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let t = self.writer.lock().ok().and_then(|mut w| w.take());
        if let Some(t) = t {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.stop();
    }
}

fn write_loop(
    s: &Shared,
    dir: &Path,
    generation: &mut u64,
    max_records: u64,
    max_age: Duration,
    sealer: Sealer,
) {
    let mut spare = Pending::with_room(s.limit);
    // The staging log: its file, records, age, and bytes written whole.
    let mut stage: Option<(std::fs::File, u64, Instant, u64)> = None;
    // Whether the last write failed (said once, not every batch).
    let mut failing = false;
    loop {
        let stopping = s.stop.load(Ordering::Relaxed);
        if let Ok(mut p) = s.pending.lock() {
            std::mem::swap(&mut *p, &mut spare);
        }
        if spare.records > 0 {
            if stage.is_none() {
                let opened = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(store::stage_path(dir, *generation));
                match opened {
                    Ok(f) => {
                        let len = f.metadata().map_or(0, |m| m.len());
                        stage = Some((f, 0, Instant::now(), len));
                    }
                    Err(e) => failed(s, &spare, &e, &mut failing),
                }
            }
            if let Some((f, n, _, good)) = &mut stage {
                match store::append(f, &spare.bytes) {
                    Ok(()) => {
                        *n += spare.records;
                        *good += spare.bytes.len() as u64;
                        s.counts.written.fetch_add(spare.records, Ordering::Relaxed);
                        if failing {
                            failing = false;
                            tracing::info!("call records written again");
                        }
                    }
                    Err(e) => {
                        // Part of the batch may be in the file: cut it
                        // back, so that the next batch follows whole records.
                        let _ = f.set_len(*good);
                        failed(s, &spare, &e, &mut failing);
                    }
                }
            }
            spare.bytes.clear();
            spare.records = 0;
        }
        let full = stage
            .as_ref()
            .is_some_and(|(_, n, t, _)| *n >= max_records || t.elapsed() >= max_age || stopping);
        if full {
            stage = None;
            let _ = sealer.tx.send(*generation);
            *generation += 1;
        }
        if stopping {
            // The sealer seals what was handed to it, then ends.
            drop(sealer);
            return;
        }
        std::thread::park_timeout(WRITE_EVERY);
    }
}

/// A batch that could not be written: its records are lost, counted; said
/// when writing starts to fail.
fn failed(s: &Shared, p: &Pending, e: &std::io::Error, failing: &mut bool) {
    s.counts
        .dropped_write
        .fetch_add(p.records, Ordering::Relaxed);
    if !*failing {
        *failing = true;
        tracing::warn!(error = %e, records = p.records, "call records not written (calls go on; lost records are counted in callscreen_records_dropped_total{{reason=\"write\"}})");
    }
}

/// The sealer runs only when a core has nothing else to run: SCHED_IDLE
/// (a woken receive thread takes the core from it at once, where a nice
/// 19 thread could keep it for the rest of its slice: p99 under load,
/// BENCHMARKS.md "Call records"); nice 19 when that is refused.
fn idle_priority() {
    crate::loader::background_priority();
    #[cfg(target_os = "linux")]
    {
        let p = libc::sched_param { sched_priority: 0 };
        // SAFETY: a plain system call on the calling thread (pid 0).
        let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &p) };
        if r != 0 {
            tracing::debug!("call records: SCHED_IDLE refused; the sealer runs at nice 19");
        }
    }
}

/// The sealer thread: staging logs become segments; retention after each.
struct Sealer {
    tx: std::sync::mpsc::Sender<u64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Sealer {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it sealed what it has.
        let (tx, _) = std::sync::mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Sealer {
    fn start(
        dir: &Path,
        st: &RecordsSettings,
        mut sealing: Sealing,
        stop: Arc<AtomicBool>,
        counts: Arc<Counts>,
    ) -> std::io::Result<Sealer> {
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let dir = dir.to_path_buf();
        let (max_age_ms, max_bytes) = (st.max_age.as_millis() as u64, st.max_bytes);
        let wait = st.seal_wait;
        let thread = std::thread::Builder::new()
            .name("records-seal".into())
            .spawn(move || {
                idle_priority();
                let retain = || match store::retain(
                    &dir,
                    crate::clock::unix_now_ms(),
                    max_age_ms,
                    max_bytes,
                ) {
                    Ok(n) => {
                        counts.expired.fetch_add(n, Ordering::Relaxed);
                    }
                    Err(e) => tracing::warn!(error = %e, "call records: retention failed"),
                };
                // Staging logs handed over, oldest first, with when.
                let mut waiting: std::collections::VecDeque<(u64, Instant)> = Default::default();
                let mut closed = false;
                let mut cores = Cores::new();
                // Whether "sealing waits" was said for the log in front.
                let mut said = false;
                // When shutdown began.
                let mut stopping: Option<Instant> = None;
                retain();
                let mut retained = Instant::now();
                loop {
                    // Retention at start, after every seal, and every
                    // RETAIN_EVERY (a quiet node's old segments still go).
                    if retained.elapsed() >= RETAIN_EVERY {
                        retain();
                        retained = Instant::now();
                    }
                    if waiting.is_empty() && !closed {
                        match rx.recv_timeout(RETAIN_EVERY) {
                            Ok(g) => waiting.push_back((g, Instant::now())),
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => closed = true,
                        }
                    }
                    loop {
                        match rx.try_recv() {
                            Ok(g) => waiting.push_back((g, Instant::now())),
                            Err(std::sync::mpsc::TryRecvError::Empty) => break,
                            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                                closed = true;
                                break;
                            }
                        }
                    }
                    let Some(&(g, since)) = waiting.front() else {
                        if closed {
                            return;
                        }
                        continue;
                    };
                    let shutting = closed || stop.load(Ordering::Relaxed);
                    if shutting {
                        // At shutdown: seal for a few seconds (well within
                        // systemd's stop timeout); a longer backlog stays for
                        // the next start (the logs are searchable meanwhile).
                        let t = *stopping.get_or_insert_with(Instant::now);
                        if t.elapsed() >= SHUTDOWN_SEALING {
                            tracing::info!(logs = waiting.len(), "call records: staging logs left to seal at the next start");
                            return;
                        }
                    }
                    // Calls first: a log waits for a free core, but not
                    // past `wait`, nor when the waiting logs grow past a
                    // tenth of max_bytes, nor at shutdown.
                    let unsealed: u64 = waiting
                        .iter()
                        .filter_map(|(g, _)| std::fs::metadata(store::stage_path(&dir, *g)).ok())
                        .map(|m| m.len())
                        .sum();
                    let hurry = shutting || since.elapsed() >= wait || unsealed > max_bytes / 10;
                    match if hurry { Some(true) } else { cores.one_free() } {
                        Some(true) => {}
                        // The first look since a while: look again.
                        None => {
                            std::thread::sleep(SAMPLE);
                            continue;
                        }
                        Some(false) => {
                            if !said {
                                said = true;
                                tracing::info!(generation = g, wait_secs = wait.as_secs(), "call records: no core free; sealing waits (calls first)");
                            }
                            std::thread::sleep(SAMPLE);
                            continue;
                        }
                    }
                    if said {
                        said = false;
                        tracing::info!(generation = g, waited_ms = since.elapsed().as_millis() as u64, "call records: sealing after waiting for a free core");
                    }
                    waiting.pop_front();
                    match seal(&dir, g, &mut sealing) {
                        Ok(s) => {
                            counts.sealed.fetch_add(s.records, Ordering::Relaxed);
                            if s.torn {
                                counts.torn.fetch_add(1, Ordering::Relaxed);
                                tracing::warn!(generation = g, "call records: a torn record at the end of a staging log (a crash while writing) was dropped");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, generation = g, "call records: a staging log could not be sealed (it stays, and is tried again at the next start)");
                        }
                    }
                    retain();
                    retained = Instant::now();
                }
            })?;
        Ok(Sealer {
            tx,
            thread: Some(thread),
        })
    }
}

/// How long sealing goes on at shutdown.
const SHUTDOWN_SEALING: Duration = Duration::from_secs(4);

/// How often the sealer looks at the machine's cores while a log waits.
const SAMPLE: Duration = Duration::from_millis(250);

/// Whether a whole core of the machine is free for sealing, from
/// `/proc/stat` between two looks: idle (and iowait) time, and time spent
/// on niced work, which includes a sealing already running. On this
/// machine a busy loop at SCHED_IDLE slows calls as much as sealing does
/// (BENCHMARKS.md "Call records"): the scheduler's priority alone does
/// not keep the calls' cores to themselves; waiting for a free core does.
struct Cores {
    /// The last look: (free, total) jiffies, and when.
    last: Option<((u64, u64), Instant)>,
}

impl Cores {
    fn new() -> Cores {
        Cores { last: None }
    }

    /// (free, total) jiffies so far, and the machine's CPUs.
    fn sample(&self) -> Option<((u64, u64), u64)> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        parse_stat(&text)
    }

    /// Whether at least one core was free since the last look, when that
    /// was recent (`None`: this look is the first, ask again after
    /// [`SAMPLE`]); `Some(true)` when `/proc/stat` cannot be read (sealing
    /// then never waits).
    fn one_free(&mut self) -> Option<bool> {
        let Some(((free, total), cpus)) = self.sample() else {
            return Some(true);
        };
        let before = self.last.replace(((free, total), Instant::now()));
        let ((f0, t0), _) = before.filter(|(_, at)| at.elapsed() <= 2 * SAMPLE)?;
        let (df, dt) = (free.saturating_sub(f0), total.saturating_sub(t0));
        Some(dt > 0 && df * cpus >= dt)
    }
}

/// `/proc/stat`'s machine line as (free, total) jiffies, free being idle,
/// iowait and nice; and the number of `cpuN` lines.
fn parse_stat(text: &str) -> Option<((u64, u64), u64)> {
    let mut lines = text.lines();
    let first = lines.next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = first
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total: u64 = v.iter().take(8).sum();
    let free = v.get(1)? + v.get(3)? + v.get(4).copied().unwrap_or(0);
    let cpus = lines
        .filter(|l| l.starts_with("cpu") && l.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .count() as u64;
    Some(((free, total), cpus.max(1)))
}

/// Seals the staging log of `generation` as `sealing` says.
fn seal(dir: &Path, generation: u64, sealing: &mut Sealing) -> std::io::Result<store::Sealed> {
    let Sealing::Child(program) = sealing else {
        return store::seal(dir, generation);
    };
    let out = std::process::Command::new(&*program)
        .args(["calls", "seal", "--dir"])
        .arg(dir)
        .args(["--generation", &generation.to_string()])
        .args(["--parent", &std::process::id().to_string()])
        // Its own process group: a terminal's Ctrl-C is the daemon's to
        // handle, and the daemon waits for the seal.
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            tracing::warn!(program = %program.display(), error = %e, "call records: no sealing process; the daemon seals them itself from now on");
            *sealing = Sealing::InProcess;
            return store::seal(dir, generation);
        }
    };
    let said = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "the sealing process {}: {}",
            out.status,
            said(&out.stderr)
        )));
    }
    let text = said(&out.stdout);
    let field = |k: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse::<u64>().ok())
    };
    match (field("records"), field("torn")) {
        (Some(records), Some(torn)) => Ok(store::Sealed {
            records,
            torn: torn != 0,
        }),
        _ => Err(std::io::Error::other(format!(
            "the sealing process answered {text:?}"
        ))),
    }
}

/// The sealing process (`callscreen calls seal`): seals one staging log
/// at idle priority, and dies with the daemon (`parent`) that started it;
/// SIGTERM and SIGINT are the daemon's to act on (it waits for the seal).
pub fn seal_child(dir: &Path, generation: u64, parent: u32) -> std::io::Result<store::Sealed> {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls; SIG_IGN is a valid disposition.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        libc::signal(libc::SIGTERM, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        if libc::getppid() as u32 != parent {
            return Err(std::io::Error::other(
                "the daemon that started this sealing is gone",
            ));
        }
    }
    idle_priority();
    store::seal(dir, generation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_its_sealing_process_the_recorder_seals_itself() {
        let dir = std::env::temp_dir().join(format!("callscreen-seal-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a directory");
        let mut log = Vec::new();
        for i in 0..3 {
            let r = Record::sample(1_796_000_000_000 + i, format!("c{i}"));
            row::encode_record(&mut log, &r);
        }
        std::fs::write(store::stage_path(&dir, 7), &log).expect("a staging log");
        let mut sealing = Sealing::Child(dir.join("no-such-program"));
        let s = seal(&dir, 7, &mut sealing).expect("sealed in the thread");
        assert_eq!(
            s,
            store::Sealed {
                records: 3,
                torn: false
            }
        );
        assert!(matches!(sealing, Sealing::InProcess), "{sealing:?}");
        let l = store::list(&dir).expect("listed");
        assert_eq!(l.segments.len(), 1);
        assert!(l.stages.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn proc_stat_gives_free_and_total_jiffies_and_the_cpus() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let text = "cpu  100 20 30 400 50 6 7 8 9 0\n\
                    cpu0 50 10 15 200 25 3 3 4 4 0\n\
                    cpu1 50 10 15 200 25 3 4 4 5 0\n\
                    intr 12345\nctxt 99\n";
        // Free: nice + idle + iowait; total: the first eight (guest is in user).
        assert_eq!(parse_stat(text), Some(((470, 621), 2)));
        assert_eq!(parse_stat("intr 1\n"), None);
        assert_eq!(parse_stat("cpu  1 x 3\n"), None);
        // This machine's own.
        let here = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
        let ((free, total), cpus) = parse_stat(&here).expect("this machine's /proc/stat");
        assert!(free <= total && cpus >= 1);
    }
}
