//! STIR/SHAKEN verification (RFC 8224 §6.2, RFC 8225, RFC 8588,
//! ATIS-1000074): the `x5u` certificate fetched (guarded, `fetch`), checked
//! against the STI-CA anchors (`chain`) and cached by URL; the PASSporT's
//! signature verified on a bounded pool of threads of its own. What it gives
//! is a [`StirCheck`] for screening, which compares the PASSporT's claims
//! with the call and decides `verstat`.
//!
//! Never on the receive threads: the server parks a signed call and asks
//! [`Verifier::check`] from a task; a certificate not in the cache is
//! fetched within the call's budget, and if the budget passes the call goes
//! on as `No-TN-Validation` while the fetch goes on for the next call.

pub mod chain;
pub mod crl;
pub mod fetch;
pub mod sign;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use chain::{Anchors, Checked};
pub use fetch::{FetchError, FetchRules};

#[cfg(doc)]
use crate::screen::passport::Verstat;
use crate::screen::passport::{StirCheck, StirFailure, Unverified};

/// How verification is configured (`[stir]`, read by `config`).
#[derive(Debug)]
pub struct StirConfig {
    pub anchors: Arc<Anchors>,
    /// The HTTPS trust for `x5u` fetches: the system's, or `x5u_ca_file`.
    pub https: Arc<rustls::ClientConfig>,
    pub fetch: FetchRules,
    /// How long a call may wait for its certificate.
    pub budget: Duration,
    /// Fetches at once, in all and per host.
    pub max_fetches: usize,
    pub max_fetches_per_host: usize,
    /// Certificates (and failures) kept, and the longest any is kept.
    pub cache_entries: usize,
    pub cache_max_age: Duration,
    /// How long a failed fetch is remembered (by URL, and by origin, host
    /// and port, when the origin failed).
    pub negative: Duration,
    /// Verification threads, and calls waiting for one.
    pub workers: usize,
    pub queue: usize,
    /// Revocation (`crl_check`); none: certificates are not looked up in
    /// CRLs.
    pub crl: Option<CrlConfig>,
}

/// How certificates are looked up in their CRLs.
#[derive(Debug)]
pub struct CrlConfig {
    /// Who may sign indirect CRLs (`crl_signers`, and the anchors).
    pub signers: crl::Signers,
    /// The largest CRL fetched (`crl_max_bytes`).
    pub max_bytes: usize,
    /// What a certificate gets when its CRL cannot be had, is not believed,
    /// or is past its nextUpdate (`crl_unavailable`).
    pub unavailable: CrlUnavailable,
}

/// `crl_unavailable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrlUnavailable {
    /// The certificate passes (as without `crl_check`).
    Pass,
    /// The call is `No-TN-Validation` (`unverified:crl-unavailable`).
    NoValidation,
    /// The call is `TN-Validation-Failed` (`stir:crl-unavailable`).
    Fail,
}

impl CrlUnavailable {
    pub fn parse(s: &str) -> Option<CrlUnavailable> {
        match s {
            "pass" => Some(CrlUnavailable::Pass),
            "no-validation" => Some(CrlUnavailable::NoValidation),
            "fail" => Some(CrlUnavailable::Fail),
            _ => None,
        }
    }
}

/// A CRL that passed, or why none is believed; cached by URL and issuer.
type CrlResult = Result<Arc<crl::Crl>, String>;

enum CrlSlot {
    Pending(watch::Receiver<Option<CrlResult>>),
    Ready { result: CrlResult, until: Instant },
}

/// What a certificate's CRLs say of it.
enum Revocation {
    /// Not listed; the earliest of its CRLs' nextUpdate, from now.
    Good(Option<Duration>),
    /// Listed: the leaf, or (true) an intermediate of its path.
    Revoked(bool),
    /// A CRL could not be had or believed, or is past its nextUpdate.
    Unavailable(String),
}

/// What the verifier did, for `/metrics` and the periodic log.
#[derive(Debug, Default)]
pub struct StirCounts {
    pub fetches: AtomicU64,
    pub fetch_failures: AtomicU64,
    pub cache_hits: AtomicU64,
    /// Calls whose certificate was not had within the budget.
    pub over_budget: AtomicU64,
    /// Calls passed unverified because the pool was full.
    pub busy: AtomicU64,
    pub verified: AtomicU64,
    /// CRL fetches started, CRLs not had or not believed, and certificates
    /// a CRL revoked.
    pub crl_fetches: AtomicU64,
    pub crl_failures: AtomicU64,
    pub revoked: AtomicU64,
    /// Rich Call Data contents fetched (started), not had, and calls whose
    /// RCD URL's content did not have the `rcdi` digest.
    pub rcd_fetches: AtomicU64,
    pub rcd_fetch_failures: AtomicU64,
    pub rcd_mismatches: AtomicU64,
    /// Screened calls by the `verstat` they got, in [`Verstat::ALL`]'s order.
    pub verstat: [AtomicU64; 3],
}

/// A certificate that passed, or what a call gets without one.
pub type CertResult = Result<Arc<Checked>, StirCheck>;

enum Slot {
    Pending(watch::Receiver<Option<CertResult>>),
    Ready {
        result: CertResult,
        until: Instant,
        /// The anchors it was checked against (a reload may change them).
        anchors: usize,
    },
}

/// Work for the verification threads. Its argument says whether it ends a
/// run of jobs (its thread's queue is empty after it, or it is the
/// [`RUN`]th in a row): a job that holds work back for a run (answers to
/// send together) does it then.
pub type Job = Box<dyn FnOnce(bool) + Send>;

/// Most jobs in a run: what a run holds back waits at most this many
/// verifications (about 50 µs each): 4 held the signed calls' p99 lower than 8 at
/// the same CPU per call (BENCHMARKS.md).
pub const RUN: usize = 4;

/// The most bytes fetched of what a Rich Call Data URL refers to.
pub const RCD_MAX_BYTES: usize = 512 * 1024;

/// What a Rich Call Data URL held when it was last fetched.
enum ContentSlot {
    /// Being fetched.
    Pending,
    /// Its SHA-256, SHA-384 and SHA-512 digests (none: it could not be
    /// had), kept until then.
    Ready {
        digests: Option<[Vec<u8>; 3]>,
        until: Instant,
    },
}

/// The verifier: one per daemon.
pub struct Verifier {
    certs: Mutex<HashMap<String, Slot>>,
    /// What Rich Call Data URLs held, by URL.
    contents: Mutex<HashMap<String, ContentSlot>>,
    /// CRLs by URL and the issuer expected of them.
    crls: Mutex<HashMap<(String, Vec<u8>), CrlSlot>>,
    /// Hosts that failed, until when.
    bad_origins: Mutex<HashMap<String, Instant>>,
    fetching: Mutex<(usize, HashMap<String, usize>)>,
    /// One queue per verification thread, filled in turn: a job wakes the
    /// one thread it is for, if that one sleeps (a queue shared behind a
    /// lock woke a second thread, the next to hold the lock, per job).
    pool: Vec<std::sync::mpsc::SyncSender<Job>>,
    next: std::sync::atomic::AtomicUsize,
    pub counts: Arc<StirCounts>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn anchors_id(cfg: &StirConfig) -> usize {
    Arc::as_ptr(&cfg.anchors) as usize
}

impl Verifier {
    /// Starts the verification threads (`workers`, `queue` waiting).
    pub fn start(
        workers: usize,
        queue: usize,
        counts: Arc<StirCounts>,
    ) -> std::io::Result<Arc<Verifier>> {
        let workers = workers.max(1);
        let mut pool = Vec::with_capacity(workers);
        for i in 0..workers {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(queue.div_ceil(workers).max(1));
            std::thread::Builder::new()
                .name(format!("stir-verify-{i}"))
                .spawn(move || {
                    lower_priority();
                    while let Ok(mut job) = rx.recv() {
                        let mut n = 1;
                        loop {
                            match rx.try_recv() {
                                Ok(next) if n < RUN => {
                                    job(false);
                                    job = next;
                                    n += 1;
                                }
                                Ok(next) => {
                                    job(true);
                                    job = next;
                                    n = 1;
                                }
                                Err(_) => {
                                    job(true);
                                    break;
                                }
                            }
                        }
                    }
                })?;
            pool.push(tx);
        }
        Ok(Arc::new(Verifier {
            certs: Mutex::new(HashMap::new()),
            contents: Mutex::new(HashMap::new()),
            crls: Mutex::new(HashMap::new()),
            bad_origins: Mutex::new(HashMap::new()),
            fetching: Mutex::new((0, HashMap::new())),
            pool,
            next: std::sync::atomic::AtomicUsize::new(0),
            counts,
        }))
    }

    /// Whether what `url` refers to has `digest` by `alg` (0: SHA-256, 1:
    /// SHA-384, 2: SHA-512; RFC 9795's `rcdi`), as far as a fetch made
    /// lately tells. `None` when none has told yet: one is then started in
    /// the background on `rt` (the `x5u` guards and fetch limits, up to
    /// [`RCD_MAX_BYTES`]; kept by its `Cache-Control`, at most
    /// `cache_max_age`; a failure for `negative`), so that later calls
    /// know. It never waits.
    pub fn content_matches(
        self: &Arc<Self>,
        url: &str,
        alg: usize,
        digest: &[u8],
        cfg: &Arc<StirConfig>,
        rt: &tokio::runtime::Handle,
    ) -> Option<bool> {
        let mut contents = lock(&self.contents);
        match contents.get(url) {
            Some(ContentSlot::Ready { digests, until }) if *until > Instant::now() => {
                let Some(digests) = digests else {
                    return Some(false);
                };
                let matches = digests.get(alg).is_some_and(|d| d == digest);
                if !matches {
                    self.counts.rcd_mismatches.fetch_add(1, Ordering::Relaxed);
                }
                return Some(matches);
            }
            Some(ContentSlot::Pending) => return None,
            _ => {}
        }
        let parsed = match fetch::Url::parse(url) {
            Ok(p) => p,
            // Not https (or too long): never fetched, never vouched for.
            Err(_) => return Some(false),
        };
        if contents.len() >= cfg.cache_entries {
            let t = Instant::now();
            contents.retain(|_, s| !matches!(s, ContentSlot::Ready { until, .. } if *until <= t));
            if contents.len() >= cfg.cache_entries {
                return None;
            }
        }
        if !self.take_fetch(&parsed.host, cfg) {
            return None;
        }
        contents.insert(url.to_string(), ContentSlot::Pending);
        drop(contents);
        self.counts.rcd_fetches.fetch_add(1, Ordering::Relaxed);
        let (me, cfg, url) = (Arc::clone(self), Arc::clone(cfg), url.to_string());
        rt.spawn(async move {
            let body = fetch::Body::Content(RCD_MAX_BYTES);
            let fetched = fetch::fetch(&parsed, &cfg.fetch, Arc::clone(&cfg.https), body).await;
            me.end_fetch(&parsed.host);
            let (digests, keep) = match fetched {
                Ok(f) => {
                    let algs = [
                        &ring::digest::SHA256,
                        &ring::digest::SHA384,
                        &ring::digest::SHA512,
                    ];
                    let digests = algs.map(|a| ring::digest::digest(a, &f.body).as_ref().to_vec());
                    let keep = f
                        .max_age
                        .unwrap_or(cfg.cache_max_age)
                        .min(cfg.cache_max_age);
                    (Some(digests), keep)
                }
                Err(e) => {
                    me.counts.rcd_fetch_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(url = %url, error = %e, "Rich Call Data content fetch failed");
                    (None, cfg.negative)
                }
            };
            let until = Instant::now() + keep;
            lock(&me.contents).insert(url, ContentSlot::Ready { digests, until });
        });
        None
    }

    /// Verifies the PASSporT `token` (its certificate at `x5u`) at `now`
    /// (unix seconds): the certificate within `cfg.budget` from `start`,
    /// then the signature on the pool.
    pub async fn check(
        self: &Arc<Self>,
        token: String,
        x5u: String,
        cfg: &Arc<StirConfig>,
        now: u64,
        start: Instant,
    ) -> StirCheck {
        let cert = match self.certificate(&x5u, cfg, now, start + cfg.budget).await {
            Ok(c) => c,
            Err(check) => return check,
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let me = Arc::clone(self);
        let job: Job = Box::new(move |_| {
            let _ = reply.send(me.verify(&cert, &token, now));
        });
        if self.run(job).is_err() {
            return StirCheck::Unverified(Unverified::Busy);
        }
        answer
            .await
            .unwrap_or(StirCheck::Unverified(Unverified::Busy))
    }

    /// Verifies `token` with `cert` (on the caller's thread: a pool job's).
    pub fn verify(&self, cert: &Checked, token: &str, now: u64) -> StirCheck {
        match cert.verify(token, now) {
            Ok(()) => {
                self.counts.verified.fetch_add(1, Ordering::Relaxed);
                StirCheck::Signed
            }
            Err(f) => StirCheck::Failed(f),
        }
    }

    /// Runs `job` on a verification thread (the next in turn whose queue
    /// has room); `Err` (counted as busy) when every queue is full (`queue`
    /// jobs in all).
    pub fn run(&self, mut job: Job) -> Result<(), Job> {
        let n = self.pool.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            match self.pool[(first + i) % n].try_send(job) {
                Ok(()) => return Ok(()),
                Err(
                    std::sync::mpsc::TrySendError::Full(j)
                    | std::sync::mpsc::TrySendError::Disconnected(j),
                ) => job = j,
            }
        }
        self.counts.busy.fetch_add(1, Ordering::Relaxed);
        Err(job)
    }

    /// Runs `jobs` on the verification threads, one job of them in turn
    /// per thread (so each thread is woken once for all of its share); the
    /// shares that found no room are given back, their jobs in them.
    pub fn run_all(&self, jobs: Vec<Job>) -> Vec<Job> {
        let n = self.pool.len().min(jobs.len()).max(1);
        let mut shares: Vec<Vec<Job>> = (0..n).map(|_| Vec::new()).collect();
        for (i, j) in jobs.into_iter().enumerate() {
            shares[i % n].push(j);
        }
        let mut refused = Vec::new();
        for share in shares {
            let k = share.len();
            let job: Job = Box::new(move |last| {
                for (i, j) in share.into_iter().enumerate() {
                    j(last && i + 1 == k);
                }
            });
            if let Err(back) = self.run(job) {
                refused.push(back);
            }
        }
        refused
    }

    /// The certificate at `url` if the cache has it (or its failure), now:
    /// the fast path of a signed call, with no task and no wait.
    pub fn cached(&self, url: &str, cfg: &StirConfig) -> Option<CertResult> {
        self.ready(&lock(&self.certs), url, cfg)
    }

    /// A fresh cache entry for `url`, checked against `cfg`'s anchors (a
    /// hit, counted).
    fn ready(
        &self,
        certs: &HashMap<String, Slot>,
        url: &str,
        cfg: &StirConfig,
    ) -> Option<CertResult> {
        match certs.get(url) {
            Some(Slot::Ready {
                result,
                until,
                anchors,
            }) if *until > Instant::now() && *anchors == anchors_id(cfg) => {
                self.counts.cache_hits.fetch_add(1, Ordering::Relaxed);
                Some(result.clone())
            }
            _ => None,
        }
    }

    /// The checked certificate at `url`, from the cache or fetched by `deadline`.
    async fn certificate(
        self: &Arc<Self>,
        url: &str,
        cfg: &Arc<StirConfig>,
        now: u64,
        deadline: Instant,
    ) -> CertResult {
        let no_cert = Err(StirCheck::Unverified(Unverified::NoCertificate));
        let mut rx = {
            let mut certs = lock(&self.certs);
            if let Some(r) = self.ready(&certs, url, cfg) {
                return r;
            }
            match certs.get(url) {
                Some(Slot::Pending(rx)) => rx.clone(),
                _ => {
                    let Ok(parsed) = fetch::Url::parse(url) else {
                        return Err(StirCheck::Failed(StirFailure::Malformed));
                    };
                    if lock(&self.bad_origins)
                        .get(&parsed.origin())
                        .is_some_and(|t| *t > Instant::now())
                    {
                        return no_cert;
                    }
                    if !self.take_fetch(&parsed.host, cfg) {
                        return no_cert;
                    }
                    let (tx, rx) = watch::channel(None);
                    certs.insert(url.to_string(), Slot::Pending(rx.clone()));
                    let me = Arc::clone(self);
                    let (url, cfg) = (url.to_string(), Arc::clone(cfg));
                    tokio::spawn(
                        async move { me.fetch_and_check(url, parsed, cfg, now, tx).await },
                    );
                    rx
                }
            }
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        let got = tokio::time::timeout(wait, rx.wait_for(Option::is_some)).await;
        match got {
            Ok(Ok(r)) => r.clone().unwrap_or(no_cert),
            Ok(Err(_)) => no_cert,
            Err(_) => {
                self.counts.over_budget.fetch_add(1, Ordering::Relaxed);
                no_cert
            }
        }
    }

    fn take_fetch(&self, host: &str, cfg: &StirConfig) -> bool {
        let mut f = lock(&self.fetching);
        let on_host = f.1.get(host).copied().unwrap_or(0);
        if f.0 >= cfg.max_fetches || on_host >= cfg.max_fetches_per_host {
            return false;
        }
        f.0 += 1;
        f.1.insert(host.to_string(), on_host + 1);
        true
    }

    fn end_fetch(&self, host: &str) {
        let mut f = lock(&self.fetching);
        f.0 = f.0.saturating_sub(1);
        if let Some(n) = f.1.get_mut(host) {
            *n -= 1;
            if *n == 0 {
                f.1.remove(host);
            }
        }
    }

    async fn fetch_and_check(
        self: Arc<Self>,
        url: String,
        parsed: fetch::Url,
        cfg: Arc<StirConfig>,
        now: u64,
        tx: watch::Sender<Option<CertResult>>,
    ) {
        self.counts.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = fetch::fetch(
            &parsed,
            &cfg.fetch,
            Arc::clone(&cfg.https),
            fetch::Body::Certificate,
        )
        .await;
        self.end_fetch(&parsed.host);
        let (result, keep) = match fetched {
            Ok(f) => {
                let anchors = Arc::clone(&cfg.anchors);
                let checked =
                    tokio::task::spawn_blocking(move || chain::check(&f.body, &anchors, now)).await;
                let keep = f
                    .max_age
                    .unwrap_or(cfg.cache_max_age)
                    .min(cfg.cache_max_age);
                match checked {
                    Ok(Ok(c)) => {
                        let left = Duration::from_secs(c.not_after.saturating_sub(now));
                        let keep = keep.min(left);
                        match (&cfg.crl, c.revocation.as_slice()) {
                            (Some(crl_cfg), r @ [_, ..]) => {
                                let revocation = self.revocation(r, &cfg, crl_cfg, now).await;
                                self.revoked_or_not(&url, c, revocation, crl_cfg, keep, &cfg)
                            }
                            _ => (Ok(Arc::new(c)), keep),
                        }
                    }
                    Ok(Err(f)) => {
                        tracing::info!(x5u = %url, failure = ?f, "STIR certificate refused");
                        (Err(StirCheck::Failed(f)), keep)
                    }
                    Err(_) => (
                        Err(StirCheck::Unverified(Unverified::NoCertificate)),
                        cfg.negative,
                    ),
                }
            }
            Err(e) => {
                self.counts.fetch_failures.fetch_add(1, Ordering::Relaxed);
                tracing::info!(x5u = %url, error = %e, "STIR certificate fetch failed");
                if e.host_wide() {
                    let mut bad = lock(&self.bad_origins);
                    if bad.len() >= cfg.cache_entries {
                        let t = Instant::now();
                        bad.retain(|_, until| *until > t);
                    }
                    if bad.len() < cfg.cache_entries {
                        bad.insert(parsed.origin(), Instant::now() + cfg.negative);
                    }
                }
                (
                    Err(StirCheck::Unverified(Unverified::NoCertificate)),
                    cfg.negative,
                )
            }
        };
        {
            let mut certs = lock(&self.certs);
            if keep.is_zero() {
                certs.remove(&url);
            } else {
                if certs.len() >= cfg.cache_entries {
                    evict(&mut certs, cfg.cache_entries);
                }
                certs.insert(
                    url,
                    Slot::Ready {
                        result: result.clone(),
                        until: Instant::now() + keep,
                        anchors: anchors_id(&cfg),
                    },
                );
            }
        }
        let _ = tx.send(Some(result));
    }
}

impl Verifier {
    /// What a certificate's CRLs say, and how long its cache entry keeps.
    fn revoked_or_not(
        &self,
        url: &str,
        c: Checked,
        revocation: Revocation,
        crl_cfg: &CrlConfig,
        keep: Duration,
        cfg: &StirConfig,
    ) -> (CertResult, Duration) {
        match revocation {
            // Kept no longer than its CRLs are current: the next CRL is
            // fetched, and the certificate looked up again, after that.
            Revocation::Good(due) => (Ok(Arc::new(c)), due.map_or(keep, |d| keep.min(d))),
            Revocation::Revoked(intermediate) => {
                self.counts.revoked.fetch_add(1, Ordering::Relaxed);
                if intermediate {
                    tracing::info!(x5u = %url, "STIR certificate refused: a CRL revokes an intermediate certificate of its chain");
                } else {
                    tracing::info!(x5u = %url, "STIR certificate refused: its CRL revokes it");
                }
                (Err(StirCheck::Failed(StirFailure::Revoked)), keep)
            }
            Revocation::Unavailable(why) => {
                tracing::info!(x5u = %url, crl = %why, unavailable = ?crl_cfg.unavailable, "STIR certificate's CRL not had");
                let r = match crl_cfg.unavailable {
                    CrlUnavailable::Pass => Ok(Arc::new(c)),
                    CrlUnavailable::NoValidation => Err(StirCheck::Unverified(Unverified::NoCrl)),
                    CrlUnavailable::Fail => Err(StirCheck::Failed(StirFailure::CrlUnavailable)),
                };
                // Looked up again soon: the CRL may be back.
                (r, keep.min(cfg.negative))
            }
        }
    }

    /// Looks each certificate of a path (the leaf, then its intermediates)
    /// up in the CRL of each of its distribution points.
    async fn revocation(
        self: &Arc<Self>,
        certs: &[crl::Revocable],
        cfg: &Arc<StirConfig>,
        crl_cfg: &CrlConfig,
        now: u64,
    ) -> Revocation {
        let mut due: Option<Duration> = None;
        for cert in certs {
            if let Some(uri) = &cert.unfetchable {
                return Revocation::Unavailable(format!(
                    "{uri}: no https distribution point, none fetched under the x5u guards"
                ));
            }
            for point in &cert.points {
                let crl = match self.crl(point, cert, cfg, crl_cfg, now).await {
                    Ok(c) => c,
                    Err(why) => return Revocation::Unavailable(format!("{}: {why}", point.url)),
                };
                if crl.lists(cert) {
                    return Revocation::Revoked(cert.intermediate);
                }
                if crl.expired(now) {
                    return Revocation::Unavailable(format!("{}: past its nextUpdate", point.url));
                }
                if let Some(n) = crl.next_update {
                    let d = Duration::from_secs(n.saturating_sub(now));
                    due = Some(due.map_or(d, |x| x.min(d)));
                }
            }
        }
        Revocation::Good(due)
    }

    /// The CRL at `point` for `cert`: cached while it is current, else
    /// fetched (one fetch at a time per URL; the `x5u` guards and fetch
    /// limits, `crl_max_bytes`) and checked.
    async fn crl(
        self: &Arc<Self>,
        point: &crl::Point,
        cert: &crl::Revocable,
        cfg: &Arc<StirConfig>,
        crl_cfg: &CrlConfig,
        now: u64,
    ) -> CrlResult {
        let expected = point
            .crl_issuer
            .clone()
            .unwrap_or_else(|| cert.issuer.clone());
        let key = (point.url.clone(), expected);
        enum Found {
            Ready(CrlResult),
            Wait(watch::Receiver<Option<CrlResult>>),
            Fetch(watch::Sender<Option<CrlResult>>),
        }
        let found = {
            let mut crls = lock(&self.crls);
            match crls.get(&key) {
                Some(CrlSlot::Ready { result, until }) if *until > Instant::now() => {
                    Found::Ready(result.clone())
                }
                Some(CrlSlot::Pending(rx)) => Found::Wait(rx.clone()),
                _ => {
                    let (tx, rx) = watch::channel(None);
                    if crls.len() >= cfg.cache_entries {
                        let t = Instant::now();
                        crls.retain(
                            |_, s| !matches!(s, CrlSlot::Ready { until, .. } if *until <= t),
                        );
                    }
                    crls.insert(key.clone(), CrlSlot::Pending(rx));
                    Found::Fetch(tx)
                }
            }
        };
        let tx = match found {
            Found::Ready(r) => return r,
            Found::Wait(mut rx) => {
                return match rx.wait_for(Option::is_some).await {
                    Ok(r) => r.clone().unwrap_or_else(|| Err("fetch ended".into())),
                    Err(_) => Err("fetch ended".into()),
                };
            }
            Found::Fetch(tx) => tx,
        };
        let result = self
            .fetch_crl(point, cert, cfg, crl_cfg.max_bytes, now)
            .await;
        let due = match &result {
            // Past its nextUpdate already: asked for again after the
            // negative time, not on every call.
            Ok(c) if c.expired(now) => {
                self.counts.crl_failures.fetch_add(1, Ordering::Relaxed);
                cfg.negative
            }
            Ok(c) => c.next_update.map_or(cfg.cache_max_age, |n| {
                Duration::from_secs(n.saturating_sub(now))
                    .clamp(Duration::from_secs(1), cfg.cache_max_age)
            }),
            Err(_) => {
                self.counts.crl_failures.fetch_add(1, Ordering::Relaxed);
                cfg.negative
            }
        };
        let until = Instant::now() + due;
        lock(&self.crls).insert(
            key,
            CrlSlot::Ready {
                result: result.clone(),
                until,
            },
        );
        let _ = tx.send(Some(result.clone()));
        result
    }

    /// Fetches and checks the CRL at `point` (with the limit `max_bytes`).
    async fn fetch_crl(
        &self,
        point: &crl::Point,
        cert: &crl::Revocable,
        cfg: &Arc<StirConfig>,
        max_bytes: usize,
        now: u64,
    ) -> CrlResult {
        let url = fetch::Url::parse(&point.url).map_err(|_| "not an https URL".to_string())?;
        if !self.take_fetch(&url.host, cfg) {
            return Err("too many fetches at once".into());
        }
        self.counts.crl_fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = fetch::fetch(
            &url,
            &cfg.fetch,
            Arc::clone(&cfg.https),
            fetch::Body::Crl(max_bytes),
        )
        .await;
        self.end_fetch(&url.host);
        let body = fetched.map_err(|e| e.to_string())?.body;
        let (point, cert, cfg) = (point.clone(), cert.clone(), Arc::clone(cfg));
        tokio::task::spawn_blocking(move || {
            let Some(crl_cfg) = cfg.crl.as_ref() else {
                return Err("revocation is not configured".to_string());
            };
            crl::check(&body, &point, &cert, &crl_cfg.signers, now)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err("the check did not finish".into()))
    }
}

/// The verification threads yield the cores to the receive threads: an
/// unsigned call (and the parking of a signed one) is never queued behind
/// signature checks. Linux's per-thread nice value, 10 (lower priority);
/// failing that (a restricted sandbox), the threads keep the default.
fn lower_priority() {
    // SAFETY: gettid and setpriority take plain integers and touch no
    // memory of ours; a failure is only a return value.
    let tid = unsafe { libc::gettid() };
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) };
    if r != 0 {
        tracing::debug!("the STIR verification thread keeps its priority (setpriority failed)");
    }
}

/// Makes room: the expired entries go, then the ones that expire first.
fn evict(certs: &mut HashMap<String, Slot>, max: usize) {
    let now = Instant::now();
    certs.retain(|_, s| !matches!(s, Slot::Ready { until, .. } if *until <= now));
    while certs.len() >= max {
        let first = certs
            .iter()
            .filter_map(|(k, s)| match s {
                Slot::Ready { until, .. } => Some((k.clone(), *until)),
                Slot::Pending(_) => None,
            })
            .min_by_key(|(_, u)| *u);
        match first {
            Some((k, _)) => {
                certs.remove(&k);
            }
            None => return,
        }
    }
}
