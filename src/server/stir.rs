//! STIR/SHAKEN on the call path (`[stir]`): whether a signed INVITE waits
//! for its verification, and running that verification (`crate::stir`: the
//! certificate within the budget, the signature on the verification pool)
//! off the receive thread. What waits, and what happens after, is the INVITE
//! stage's (`invite`): it hands [`Verification::start`] the rest of the call.
//! Unsigned calls never come here.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::answer::{Cx, shaken_identity};
use super::cache::{Kind, TxKey};
use super::callpath::CallPath;
use crate::screen::facts::MAX_PARTS;
use crate::screen::passport::{
    self, DivCheck, DivPassport, DivSigs, Ppt, StirCheck, StirFailure, Unverified,
};
use crate::screen::{CallFacts, PeerId};
use crate::sip::Request;
use crate::sip::facts::identities;
use crate::state::Runtime;
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
    /// Screen it now with this (none: nothing to verify, or no `[stir]`),
    /// and what its other PASSporTs' signatures gave.
    Go(Option<StirCheck>, Others),
    /// Verify it first, off this thread: [`Verification::start`].
    Verify(Verification),
}

/// What verifying a call's PASSporTs other than its SHAKEN one gave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Others {
    /// Its `div` PASSporTs' signatures, by Identity header index (none:
    /// they decide nothing, or it has none).
    pub divs: Option<DivSigs>,
    /// Its Rich Call Data PASSporT of its own (`ppt=rcd`, RFC 9795 §5; looked
    /// for when the SHAKEN PASSporT carries no `rcd` claim): its Identity
    /// header index and its signature's outcome (none: not verified, the
    /// SHAKEN PASSporT having failed or not been verified).
    pub rcd: Option<(usize, Option<StirCheck>)>,
}

impl Others {
    /// Nothing verified beside the SHAKEN PASSporT; `divs`: its `div`
    /// PASSporTs decide something; `rcd`: the index of its `rcd` PASSporT.
    pub fn none(divs: bool, rcd: Option<usize>) -> Others {
        Others {
            divs: divs.then_some([None; MAX_PARTS]),
            rcd: rcd.map(|i| (i, None)),
        }
    }
}

/// A PASSporT to verify beside the SHAKEN one (`div`, `rcd`): its Identity
/// header's index, its token and its certificate's URL.
type OtherJob = (usize, String, String);

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
    /// The other PASSporTs' signatures known already (a malformed one), by
    /// Identity header index, and those still to verify.
    sigs: DivSigs,
    jobs: Vec<OtherJob>,
    /// Whether the `div` PASSporTs decide something, and which is the
    /// `rcd` PASSporT, for the [`Others`] the verification gives.
    divs_decide: bool,
    rcd_at: Option<usize>,
    t0: Instant,
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

/// The values of a request's `div` Identity headers (RFC 8946), by their
/// index among its first [`MAX_PARTS`] Identity headers.
fn div_identities<'a>(req: &Request<'a>) -> [Option<&'a str>; MAX_PARTS] {
    let mut out = [None; MAX_PARTS];
    for (slot, v) in out.iter_mut().zip(identities(req)) {
        *slot = std::str::from_utf8(v)
            .ok()
            .filter(|v| passport::ppt(v).as_deref() == Some("div"));
    }
    out
}

/// Whether a call from `peer` has its `div` PASSporTs verified: where they
/// decide something, on an international peer whose home-country caller
/// IDs are screened (they can lift `spoof:domestic-*-intl`).
fn divs_decide(rt: &Runtime, peer: PeerId) -> bool {
    let p = rt.settings.policy.peer(peer);
    p.international && !p.domestic_cli_allowed && !p.originating
}

/// The `div` PASSporTs of the call's chain (by their claims, from the
/// SHAKEN PASSporT's `dest` to the Request-URI) that need their signature
/// verified, and the outcomes known without (a malformed one). Those off
/// the chain are never verified: a caller's extra headers cost nothing.
fn div_work(
    req: &Request<'_>,
    values: &[Option<&str>; MAX_PARTS],
    shaken: &str,
    peer: PeerId,
    rt: &Runtime,
) -> (DivSigs, Vec<OtherJob>) {
    let mut sigs: DivSigs = [None; MAX_PARTS];
    let mut jobs = Vec::new();
    let divs = values.map(|v| v.and_then(passport::parse_div));
    let start = passport::parse(shaken).and_then(|p| p.dest);
    let home = &rt.settings.policy.country(peer).home;
    let target = std::str::from_utf8(req.uri)
        .ok()
        .and_then(|u| crate::number::normalise(u, home).number());
    if let Ok((chain, n)) = passport::div_chain(start, target, &divs) {
        for &i in &chain[..n] {
            match values[i].map(|v| passport::verifiable_as(v, Ppt::Div)) {
                Some(Ok((token, x5u))) => jobs.push((i, token.to_string(), x5u)),
                Some(Err(f)) => {
                    let f = f.unwrap_or(passport::StirFailure::Malformed);
                    sigs[i] = Some(StirCheck::Failed(f));
                }
                None => {}
            }
        }
    }
    (sigs, jobs)
}

/// What a call's `div` PASSporTs prove (the fact screening reads), from
/// what verifying their signatures gave (`sigs`, from [`Step`] or the
/// verification), once its facts are read (`facts.stir` set). None when
/// they were not verified (they decide nothing for its peer) or it has
/// none.
pub fn div_fact(
    req: &Request<'_>,
    facts: &CallFacts<'_>,
    sigs: Option<DivSigs>,
    rt: &Runtime,
) -> Option<DivCheck> {
    let sigs = sigs?;
    let divs: [Option<DivPassport>; MAX_PARTS] =
        div_identities(req).map(|v| v.and_then(passport::parse_div));
    let shaken = match facts.identity {
        crate::screen::Identity::Present(p) => Some(p),
        _ => None,
    };
    let policy = &rt.settings.policy;
    let cc = policy.country(facts.peer).home.country_code.as_deref();
    passport::check_diversion(
        &divs,
        &sigs,
        shaken.as_ref(),
        facts.stir,
        facts.callee,
        facts.now,
        policy.shaken_max_age,
        cc.unwrap_or_default().as_bytes(),
    )
}

/// The value of the request's Identity header `i` (its `ppt=rcd`
/// PASSporT, [`Others::rcd`]).
pub fn identity_at<'a>(req: &Request<'a>, i: usize) -> Option<&'a str> {
    identities(req)
        .nth(i)
        .and_then(|v| std::str::from_utf8(v).ok())
}

/// The request's `ppt=rcd` PASSporT that goes with its SHAKEN PASSporT
/// `shaken` ([`passport::separate_rcd`]): its index and value. Looked for
/// only when the SHAKEN PASSporT carries no `rcd` claim of its own and
/// there is another Identity header.
fn rcd_identity<'a>(req: &Request<'a>, shaken: &str, rt: &Runtime) -> Option<(usize, &'a str)> {
    identities(req).nth(1)?;
    let p = passport::parse(shaken).filter(|p| !p.rcd && !p.compact)?;
    let mut values = [None; MAX_PARTS];
    for (slot, v) in values.iter_mut().zip(identities(req)) {
        *slot = std::str::from_utf8(v).ok();
    }
    let now = crate::clock::unix_now();
    let i = passport::separate_rcd(&values, &p, now, rt.settings.policy.shaken_max_age)?;
    Some((i, values[i]?))
}

/// Decides whether the INVITE `req` from `peer`, first seen at `cx.t0`, is
/// verified before it is screened: its SHAKEN PASSporT, and the `div`
/// PASSporTs of its diversion chain where they decide something.
pub fn step(req: &Request<'_>, peer: PeerId, cx: &Cx<'_>) -> Step {
    let Some(cfg) = cx.rt.settings.stir.as_ref() else {
        return Step::Go(None, Others::default());
    };
    let div_values = div_identities(req);
    let divs = div_values.iter().any(Option::is_some) && divs_decide(cx.rt, peer);
    let Some(value) = shaken_identity(req) else {
        return Step::Go(None, Others::none(divs, None));
    };
    let rcd = rcd_identity(req, value, cx.rt);
    let unverified = Others::none(divs, rcd.map(|(i, _)| i));
    let (token, x5u) = match passport::verifiable(value) {
        Ok(x) => x,
        Err(Some(f)) => return Step::Go(Some(StirCheck::Failed(f)), unverified),
        Err(None) => {
            return Step::Go(Some(StirCheck::Unverified(Unverified::Compact)), unverified);
        }
    };
    let busy = Step::Go(Some(StirCheck::Unverified(Unverified::Busy)), unverified);
    let cp = cx.cp;
    let (Some(verifier), Some(rt)) = (cp.verifier(cfg), cp.runtime.get()) else {
        return busy;
    };
    if cp.parked.fetch_add(1, Ordering::Relaxed) >= cfg.queue {
        cp.parked.fetch_sub(1, Ordering::Relaxed);
        verifier.counts.busy.fetch_add(1, Ordering::Relaxed);
        return busy;
    }
    let cert = verifier.cached(&x5u, cfg);
    if let Some(Err(check)) = cert {
        // A certificate that failed (or could not be had) lately: no wait.
        cp.parked.fetch_sub(1, Ordering::Relaxed);
        return Step::Go(Some(check), unverified);
    }
    let (mut sigs, mut jobs) = match divs {
        true => div_work(req, &div_values, value, peer, cx.rt),
        false => ([None; MAX_PARTS], Vec::new()),
    };
    if let Some((i, v)) = rcd {
        match passport::verifiable_as(v, Ppt::Rcd) {
            Ok((token, x5u)) => jobs.push((i, token.to_string(), x5u)),
            Err(f) => sigs[i] = Some(StirCheck::Failed(f.unwrap_or(StirFailure::Malformed))),
        }
    }
    Step::Verify(Verification {
        verifier,
        cfg: Arc::clone(cfg),
        cp: Arc::clone(cp),
        rt: rt.clone(),
        token: token.to_string(),
        x5u: x5u.to_string(),
        cert,
        sigs,
        jobs,
        divs_decide: divs,
        rcd_at: rcd.map(|(i, _)| i),
        t0: cx.t0,
    })
}

impl Verification {
    /// Gives back the place in the parking `step` took, when the call is
    /// not parked after all.
    pub fn abandon(self) {
        self.cp.parked.fetch_sub(1, Ordering::Relaxed);
    }

    /// Starts verifying; `then` gets the outcome (and what the other
    /// PASSporTs' signatures gave), on a verification thread
    /// (every certificate was cached: no task in between) or on a task that
    /// fetches the certificates first, and whether it ends a run of jobs
    /// (`crate::stir::Job`; always on a task). `Err`: the pool is full,
    /// nothing was started, and the call is screened now with this.
    pub fn start(
        self,
        then: impl FnOnce(StirCheck, Others, bool) + Send + 'static,
    ) -> Result<(), StirCheck> {
        let Verification {
            verifier,
            cfg,
            cp,
            rt,
            token,
            x5u,
            cert,
            mut sigs,
            jobs,
            divs_decide,
            rcd_at,
            t0,
        } = self;
        let others = move |sigs: DivSigs| Others {
            divs: divs_decide.then_some(sigs),
            rcd: rcd_at.map(|i| (i, sigs[i])),
        };
        // Every other certificate cached (or failed lately): verified in
        // the same job as the SHAKEN PASSporT.
        let mut other_certs = Vec::with_capacity(jobs.len());
        let mut all_cached = true;
        for (i, token, x5u) in &jobs {
            match verifier.cached(x5u, &cfg) {
                Some(Ok(c)) => other_certs.push((*i, c, token.clone())),
                Some(Err(check)) => sigs[*i] = Some(check),
                None => all_cached = false,
            }
        }
        if let (Some(Ok(cert)), true) = (cert, all_cached) {
            let v = Arc::clone(&verifier);
            let cp2 = Arc::clone(&cp);
            let job: crate::stir::Job = Box::new(move |last| {
                let now = crate::clock::unix_now();
                let check = v.verify(&cert, &token, now);
                for (i, c, token) in &other_certs {
                    sigs[*i] = Some(v.verify(c, token, now));
                }
                then(check, others(sigs), last);
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
            // The other certificates fetched beside the SHAKEN one, within
            // the same budget.
            let pending: Vec<_> = jobs
                .into_iter()
                .filter(|(i, ..)| sigs[*i].is_none())
                .map(|(i, token, x5u)| {
                    let (v, cfg) = (Arc::clone(&verifier), Arc::clone(&cfg));
                    let task =
                        tokio::spawn(async move { v.check(token, x5u, &cfg, now, t0).await });
                    (i, task)
                })
                .collect();
            let check = verifier.check(token, x5u, &cfg, now, t0).await;
            for (i, task) in pending {
                let got = task
                    .await
                    .unwrap_or(StirCheck::Unverified(Unverified::Busy));
                sigs[i] = Some(got);
            }
            then(check, others(sigs), true);
            cp.parked.fetch_sub(1, Ordering::Relaxed);
        });
        Ok(())
    }
}
