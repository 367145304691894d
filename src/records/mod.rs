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
//! segment and applies retention. A failed write (a full disk) loses its
//! batch, counted; calls go on.

pub mod file;
pub mod query;
pub mod row;
pub mod store;
pub mod whatif;

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
    stop: AtomicBool,
    counts: Arc<Counts>,
}

/// The call path's handle: records calls; dropping it writes what is
/// queued and seals the staging log.
pub struct Recorder {
    shared: Arc<Shared>,
    dir: PathBuf,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Recorder {
    /// Opens `settings.dir` (made if missing, mode 0700: full numbers),
    /// seals staging logs a previous run left, and starts the writer.
    pub fn start(settings: &RecordsSettings) -> std::io::Result<Recorder> {
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
        let sealer = Sealer::start(&dir, settings, Arc::clone(&counts))?;
        for p in &listing.sealed_stages {
            std::fs::remove_file(p)?;
        }
        for (g, _) in &listing.stages {
            let _ = sealer.tx.send(*g);
        }
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::with_room(settings.queue_records)),
            limit: settings.queue_records,
            stop: AtomicBool::new(false),
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
    fn start(dir: &Path, st: &RecordsSettings, counts: Arc<Counts>) -> std::io::Result<Sealer> {
        let (tx, rx) = std::sync::mpsc::channel::<u64>();
        let dir = dir.to_path_buf();
        let (max_age_ms, max_bytes) = (st.max_age.as_millis() as u64, st.max_bytes);
        let thread = std::thread::Builder::new()
            .name("records-seal".into())
            .spawn(move || {
                idle_priority();
                // Retention at start, after every seal, and every
                // RETAIN_EVERY when no call comes (old segments still go).
                loop {
                    match rx.recv_timeout(RETAIN_EVERY) {
                        Ok(g) => match store::seal(&dir, g) {
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
                        },
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    match store::retain(&dir, crate::clock::unix_now_ms(), max_age_ms, max_bytes) {
                        Ok(n) => {
                            counts.expired.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => tracing::warn!(error = %e, "call records: retention failed"),
                    }
                }
            })?;
        Ok(Sealer {
            tx,
            thread: Some(thread),
        })
    }
}
