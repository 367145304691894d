//! STIR/SHAKEN on the call path (`[stir]`): whether a signed INVITE waits
//! for its verification, and running that verification (`crate::stir`: the
//! certificate within the budget, the signature on the verification pool)
//! off the receive thread. What waits, and what happens after, is the INVITE
//! stage's (`invite`): it hands [`Verification::start`] the rest of the call.
//! Unsigned calls never come here.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::answer::Cx;
use super::cache::{Kind, TxKey};
use super::callpath::CallPath;
use crate::screen::passport::{self, StirCheck, Unverified};
use crate::sip::Request;
use crate::sip::facts::identities;
use crate::stir::{CertResult, StirConfig, Verifier};

/// Verifications started and not yet handed to the pool, each with its
/// pool's verifier (the daemon's one).
type Gathered = Vec<(Arc<Verifier>, crate::stir::Job)>;

thread_local! {
    /// The verifications this thread started while it gathers them
    /// ([`gather`]), not yet handed to the pool.
    static GATHERED: std::cell::RefCell<Option<Gathered>> = const { std::cell::RefCell::new(None) };
}

/// Verifications started from here on, on this thread, are held until
/// [`hand_over`]: a receive thread gathers those of one batch of datagrams,
/// so that a verification thread is woken once for its share of them, not
/// once per call.
pub fn gather() {
    GATHERED.with(|g| *g.borrow_mut() = Some(Vec::new()));
}

/// Hands what this thread gathered since [`gather`] to the pool, and
/// stops gathering. A share the pool has no room for (its queues hold
/// `[stir] queue` jobs, which the parked calls' bound keeps from
/// happening) is verified here, now, rather than left unanswered.
pub fn hand_over() {
    let Some(gathered) = GATHERED.with(|g| g.borrow_mut().take()) else {
        return;
    };
    let Some(verifier) = gathered.first().map(|(v, _)| Arc::clone(v)) else {
        return;
    };
    let jobs = gathered.into_iter().map(|(_, j)| j).collect();
    for job in verifier.run_all(jobs) {
        tracing::error!(
            "the STIR verification threads had no room for started verifications: verified on the receive thread"
        );
        job(true);
    }
}

/// What a screened INVITE does about its Identity.
pub enum Step {
    /// Screen it now with this (none: nothing to verify, or no `[stir]`).
    Go(Option<StirCheck>),
    /// Verify it first, off this thread: [`Verification::start`].
    Verify(Verification),
}

/// A verification admitted (within `[stir] queue`), not started yet.
pub struct Verification {
    verifier: Arc<Verifier>,
    cfg: Arc<StirConfig>,
    cp: Arc<CallPath>,
    rt: tokio::runtime::Handle,
    token: String,
    x5u: String,
    /// The certificate, when the cache had it.
    cert: Option<CertResult>,
    t0: Instant,
}

/// The SHAKEN Identity header value of a request, if any (a diversion
/// PASSporT, `ppt=div`, is not the caller's).
fn shaken_identity<'a>(req: &Request<'a>) -> Option<&'a str> {
    identities(req)
        .filter_map(|v| std::str::from_utf8(v).ok())
        .find(|v| matches!(passport::ppt(v).as_deref(), None | Some("shaken")))
}

/// A CANCEL for an INVITE still being verified: marked, so that the INVITE
/// is answered 487 when its verification ends (RFC 3261 §9.2: the CANCEL
/// itself gets 200). False when the INVITE is not parked.
pub fn cancel_parked(key: TxKey, cp: &CallPath) -> bool {
    let mut scratch = Vec::new();
    if cp.cache.get_own(key, Instant::now(), &mut scratch) != Some(Kind::Parked) {
        return false;
    }
    cp.cache.insert(key, Instant::now(), Kind::Cancelled, &[]);
    true
}

/// Decides whether the INVITE `req`, first seen at `cx.t0`, is verified
/// before it is screened.
pub fn step(req: &Request<'_>, cx: &Cx<'_>) -> Step {
    let Some(cfg) = cx.rt.settings.stir.as_ref() else {
        return Step::Go(None);
    };
    let Some(value) = shaken_identity(req) else {
        return Step::Go(None);
    };
    let (token, x5u) = match passport::verifiable(value) {
        Ok(x) => x,
        Err(Some(f)) => return Step::Go(Some(StirCheck::Failed(f))),
        Err(None) => return Step::Go(Some(StirCheck::Unverified(Unverified::Compact))),
    };
    let cp = cx.cp;
    let (Some(verifier), Some(rt)) = (cp.verifier(cfg), cp.runtime.get()) else {
        return Step::Go(Some(StirCheck::Unverified(Unverified::Busy)));
    };
    if cp.parked.fetch_add(1, Ordering::Relaxed) >= cfg.queue {
        cp.parked.fetch_sub(1, Ordering::Relaxed);
        verifier.counts.busy.fetch_add(1, Ordering::Relaxed);
        return Step::Go(Some(StirCheck::Unverified(Unverified::Busy)));
    }
    let cert = verifier.cached(&x5u, cfg);
    if let Some(Err(check)) = cert {
        // A certificate that failed (or could not be had) lately: no wait.
        cp.parked.fetch_sub(1, Ordering::Relaxed);
        return Step::Go(Some(check));
    }
    Step::Verify(Verification {
        verifier,
        cfg: Arc::clone(cfg),
        cp: Arc::clone(cp),
        rt: rt.clone(),
        token: token.to_string(),
        x5u: x5u.to_string(),
        cert,
        t0: cx.t0,
    })
}

impl Verification {
    /// Gives back the place in the parking `step` took, when the call is
    /// not parked after all.
    pub fn abandon(self) {
        self.cp.parked.fetch_sub(1, Ordering::Relaxed);
    }

    /// Starts verifying; `then` gets the outcome, on a verification thread
    /// (the certificate was cached: no task in between) or on a task that
    /// fetches the certificate first, and whether it ends a run of jobs
    /// (`crate::stir::Job`; always on a task). `Err`: the pool is full,
    /// nothing was started, and the call is screened now with this.
    pub fn start(
        self,
        then: impl FnOnce(StirCheck, bool) + Send + 'static,
    ) -> Result<(), StirCheck> {
        let Verification {
            verifier,
            cfg,
            cp,
            rt,
            token,
            x5u,
            cert,
            t0,
        } = self;
        if let Some(Ok(cert)) = cert {
            let v = Arc::clone(&verifier);
            let cp2 = Arc::clone(&cp);
            let job: crate::stir::Job = Box::new(move |last| {
                then(v.verify(&cert, &token, crate::clock::unix_now()), last);
                cp2.parked.fetch_sub(1, Ordering::Relaxed);
            });
            let Some(job) = GATHERED.with(|g| match &mut *g.borrow_mut() {
                Some(jobs) => {
                    jobs.push((Arc::clone(&verifier), job));
                    None
                }
                None => Some(job),
            }) else {
                return Ok(());
            };
            if verifier.run(job).is_err() {
                cp.parked.fetch_sub(1, Ordering::Relaxed);
                return Err(StirCheck::Unverified(Unverified::Busy));
            }
            return Ok(());
        }
        rt.spawn(async move {
            let now = crate::clock::unix_now();
            then(verifier.check(token, x5u, &cfg, now, t0).await, true);
            cp.parked.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(())
    }
}
