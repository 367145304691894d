//! The INVITE stage, for both modes: what an initial INVITE goes through
//! before it is answered or forwarded, once, in order:
//!
//! 1. its transaction in the retransmission cache (RFC 3261 §17.2.3):
//!    a retransmission gets what its transaction got; a merged request
//!    (§8.2.2.2) gets 482 in redirect mode;
//! 2. shedding (the handler's admission said so): no screening;
//! 3. STIR/SHAKEN: a signed call is parked while it is verified: it keeps
//!    what was read (its request and caller IDs, moved onto a copy of its
//!    bytes; its peer, transaction, the settings it arrived under, its
//!    mode's [`Render`]), and its verification's end runs [`resume`], which
//!    goes on at step 4 and sends what that gives;
//!    3b. the roaming check (`[roaming]`): a call whose decision needs it
//!    (a home mobile number from an international peer,
//!    `screen::roaming_number`) and has no cached answer is parked the same
//!    way (after its verification, when both apply), and the answer, or
//!    its absence after the budget, resumes it at step 4;
//! 4. the facts, the decision, and the call counted with its NOC line.
//!
//! Redirect and proxy mode then only render the [`Decision`]: a 302 or a
//! rejection, or a forwarded request.

use std::sync::Arc;
use std::time::Instant;

use super::answer::{Cx, Outcome, shaken_identity, simple, transaction, write_terminated};
use super::cache::{Kind, Seen, TxKey};
use super::callpath::CallPath;
use super::decide::{account, counting, decide, read_facts};
use super::links::Dest;
use super::noc;
use super::stir;
use crate::config::Mode;
use crate::number::E164;
use crate::roaming::{Checker, Ticket};
use crate::screen::facts::MAX_PARTS;
use crate::screen::passport::{self, RcdCheck, StirCheck, Unverified};
use crate::screen::{Action, CallFacts, Roaming, Verdict};
use crate::sip::facts::CallerIds;
use crate::sip::moved::{Mover, OwnedMessage};
use crate::sip::response::reason_phrase;
use crate::sip::{Framing, Request};
use crate::state::{Metrics, Runtime};

/// What was decided about an INVITE, for its mode to render.
pub struct Decision<'a, 'r> {
    /// Its transaction, where the rendered answer is kept.
    pub key: TxKey,
    /// The To-tag of callscreen's answer to it (`answer::own_to_tag`).
    pub to_tag: u64,
    /// The cache's time of this message.
    pub now: Instant,
    /// Proxy mode: a retransmission of a call forwarded before (decided
    /// again, not counted), and the Request-URI a warned one went with.
    pub again: Option<Again>,
    /// None when the call was shed (the fail-open answer, unscreened).
    pub facts: Option<CallFacts<'a>>,
    /// None when shed, or when screening failed (fail open).
    pub verdict: Option<Verdict<'r>>,
    /// What its pass learned from outside, for proxy mode to keep.
    pub learned: Learned,
    /// Proxy mode: the URLs its verified Rich Call Data refers to, with
    /// their `rcdi` digests (the Rich Call Data `Call-Info` headers that
    /// may go on with it).
    pub rcd_refs: Vec<passport::RcdRef>,
}

/// A retransmission of a call proxy mode forwarded, with what its first
/// copy's pass learned from outside.
pub struct Again {
    pub learned: Learned,
    /// Forwarded to the announcement service with this Request-URI.
    pub warned: Option<Vec<u8>>,
}

/// What an INVITE's pass learned from outside the message (verification,
/// the roaming check), kept with a forwarded transaction in the cache: its
/// retransmission, forwarded again, is decided with the same, as its first
/// copy was (it is not verified or asked about again).
#[derive(Clone, Copy, Default)]
pub struct Learned {
    verified: Verified,
    roaming: Option<Roaming>,
}

/// Bytes of a [`Learned`] in the cache: the SHAKEN outcome, whether the
/// `div` signatures were looked at and each one's outcome, the `rcd`
/// PASSporT's index and outcome, the roaming answer (each 0 for none, else
/// its place in its list, or the index, plus one).
pub const LEARNED: usize = 5 + MAX_PARTS;

impl Learned {
    /// Its bytes, for the cache.
    pub fn bytes(self) -> [u8; LEARNED] {
        fn stir(c: Option<StirCheck>) -> u8 {
            c.and_then(|c| StirCheck::ALL.iter().position(|a| *a == c))
                .map_or(0, |i| i as u8 + 1)
        }
        let mut b = [0u8; LEARNED];
        let others = self.verified.others;
        b[0] = stir(self.verified.stir);
        if let Some(divs) = others.divs {
            b[1] = 1;
            for (to, d) in b[2..2 + MAX_PARTS].iter_mut().zip(divs) {
                *to = stir(d);
            }
        }
        if let Some((i, check)) = others.rcd {
            b[2 + MAX_PARTS] = i as u8 + 1;
            b[3 + MAX_PARTS] = stir(check);
        }
        b[LEARNED - 1] = self
            .roaming
            .and_then(|r| Roaming::ALL.iter().position(|a| *a == r))
            .map_or(0, |i| i as u8 + 1);
        b
    }

    /// A [`Learned`] read back from the front of `bytes`, and what follows
    /// it; `None` if they do not start with one.
    pub fn split(bytes: &[u8]) -> Option<(Learned, &[u8])> {
        fn stir(b: u8) -> Option<Option<StirCheck>> {
            match b {
                0 => Some(None),
                b => StirCheck::ALL.get(usize::from(b) - 1).copied().map(Some),
            }
        }
        let (b, rest) = bytes.split_first_chunk::<LEARNED>()?;
        let divs = match b[1] {
            0 => None,
            _ => {
                let mut divs = [None; MAX_PARTS];
                for (to, &d) in divs.iter_mut().zip(&b[2..2 + MAX_PARTS]) {
                    *to = stir(d)?;
                }
                Some(divs)
            }
        };
        let rcd = match b[2 + MAX_PARTS] {
            0 => None,
            i if usize::from(i) <= MAX_PARTS => Some((usize::from(i) - 1, stir(b[3 + MAX_PARTS])?)),
            _ => return None,
        };
        let roaming = match b[LEARNED - 1] {
            0 => None,
            r => Some(*Roaming::ALL.get(usize::from(r) - 1)?),
        };
        let verified = Verified {
            stir: stir(b[0])?,
            others: stir::Others { divs, rcd },
        };
        Some((Learned { verified, roaming }, rest))
    }
}

impl Decision<'_, '_> {
    pub fn action(&self) -> Action {
        self.verdict.as_ref().map_or(Action::Allow, |v| v.action)
    }
}

/// How a mode renders what was decided about an INVITE from `peer` (its
/// caller IDs read into `ids`): it writes the answer or the forwarded
/// request into the buffer, keeps it in the cache, and says where it goes.
pub type Render = for<'a, 'r> fn(
    &mut Vec<u8>,
    &Request<'a>,
    &'a CallerIds<'a>,
    usize,
    &Cx<'r>,
    &mut Decision<'a, 'r>,
) -> Outcome;

/// Takes an initial INVITE from `peer` through the stage, and hands what
/// was decided to `render` (its mode).
/// Nothing to send now (a retransmission of a call still being verified, or
/// a call just parked for verification): silent. An answer the stage writes
/// itself (a retransmission's, as its transaction got it; a 482 for a
/// merged request) goes back to the request's source.
pub fn screen(
    out: &mut Vec<u8>,
    req: &Request<'_>,
    peer: usize,
    cx: &Cx<'_>,
    render: Render,
) -> Outcome {
    let (rt, cp) = (cx.rt, cx.cp);
    let m = &cp.shared.metrics;
    let proxy = rt.settings.sip.mode == Mode::Proxy;
    let (key, to_tag) = transaction(req, cx);
    let now = cx.t0;
    let mut again = None;
    match cp.cache.get_into(key, now, out) {
        Some(Seen::Ours(Kind::Answer)) => {
            Metrics::inc(&m.retransmissions);
            return cx.reply_to(req);
        }
        Some(Seen::Ours(Kind::Parked | Kind::Cancelled)) => {
            // Still being verified: it will be answered or forwarded then.
            Metrics::inc(&m.retransmissions);
            return cx.silent();
        }
        Some(Seen::Ours(kind @ (Kind::Forwarded | Kind::Warned))) if proxy => {
            // Kept by this version's proxy render: what it learned, then
            // the warned call's Request-URI.
            if let Some((learned, uri)) = Learned::split(out) {
                let warned = (kind == Kind::Warned).then(|| uri.to_vec());
                again = Some(Again { learned, warned });
            }
            out.clear();
        }
        // A call proxy mode forwarded (before a reload changed the mode):
        // redirect mode screens it anew.
        Some(Seen::Ours(Kind::Forwarded | Kind::Warned)) => {}
        Some(Seen::Another) => {
            // The Call-ID, From-tag and CSeq of a transaction this request
            // is not part of (another branch, sent-by or source). Never
            // that transaction's answer. A UAS answers a merged request 482
            // (RFC 3261 §8.2.2.2; the same each time, so not kept); a
            // stateless proxy forwards what it is given (§16.11): screened
            // on its own.
            Metrics::inc(&m.merged);
            if !proxy && req.to.param("tag").is_none() {
                tracing::debug!(source = %cx.src, "merged request answered 482 Loop Detected");
                simple(out, &req.msg, cx.src, 482, reason_phrase(482), cp, &[]);
                return cx.reply_to(req);
            }
        }
        None => {}
    }
    if again.is_some() {
        // Forwarded again with no second NOC line (the next hop's
        // transaction absorbs it), decided again to write the same tags.
        Metrics::inc(&m.retransmissions);
    }
    let tx = Tx { key, to_tag, now };
    let ids = &CallerIds::read(req);
    if cx.shed {
        let mut d = Decision {
            key,
            to_tag,
            now,
            again,
            facts: None,
            verdict: None,
            learned: Learned::default(),
            rcd_refs: Vec::new(),
        };
        return render(out, req, ids, peer, cx, &mut d);
    }
    if let Some(a) = again {
        let (verified, roaming) = (a.learned.verified, a.learned.roaming);
        return decided(
            out,
            req,
            ids,
            peer,
            tx,
            Some(a),
            verified,
            roaming,
            cx,
            render,
        );
    }
    let (stir, others) = match stir::step(req, peer, cx) {
        stir::Step::Go(s, o) => (s, o),
        stir::Step::Verify(v) => match park(req, ids, peer, tx, cx, render, Wait::Stir(v)) {
            Ok(()) => return cx.silent(),
            // Not verified: nor are its `div` PASSporTs.
            Err(check) => (Some(check), stir::Others::none(true, None)),
        },
    };
    let verified = Verified { stir, others };
    let roaming = match roaming_step(req, ids, peer, verified, cx) {
        RoamingStep::Go(r) => r,
        RoamingStep::Ask(checker, n, ticket) => {
            let wait = Wait::Roaming {
                checker,
                n,
                ticket,
                verified,
            };
            match park(req, ids, peer, tx, cx, render, wait) {
                Ok(()) => return cx.silent(),
                Err(_) => Some(Roaming::Unanswered),
            }
        }
    };
    decided(out, req, ids, peer, tx, None, verified, roaming, cx, render)
}

/// What verification gave a call: its SHAKEN PASSporT's outcome, and its
/// other PASSporTs' signatures (`div` where they decide something, `rcd`).
#[derive(Clone, Copy, Default)]
struct Verified {
    stir: Option<StirCheck>,
    others: stir::Others,
}

impl Verified {
    /// Sets what verification gave on the call's `facts`.
    fn onto(self, req: &Request<'_>, facts: &mut CallFacts<'_>, rt: &Runtime) {
        facts.stir = self.stir;
        facts.div = stir::div_fact(req, facts, self.others.divs, rt);
    }
}

/// What a screened INVITE does about the roaming check.
enum RoamingStep {
    /// Screen it now with this (none: the check does not apply).
    Go(Option<Roaming>),
    /// Ask the endpoint about this number first (or wait for the request
    /// out about it), off this thread.
    Ask(Arc<Checker>, E164, Ticket),
}

/// Step 3b: whether the call's decision needs the roaming check (a home
/// mobile number from an international peer, `screen::roaming_number`),
/// and whether it has the answer already (cached, or none to be had now:
/// the endpoint in its backoff, or too many requests out).
fn roaming_step(
    req: &Request<'_>,
    ids: &CallerIds<'_>,
    peer: usize,
    verified: Verified,
    cx: &Cx<'_>,
) -> RoamingStep {
    let rt = cx.rt;
    let Some(cfg) = rt.settings.roaming.as_ref() else {
        return RoamingStep::Go(None);
    };
    let p = rt.settings.policy.peer(peer);
    if !p.international || p.domestic_cli_allowed {
        return RoamingStep::Go(None);
    }
    let mut facts = read_facts(req, ids, peer, cx.src.ip(), rt, &cx.cp.warn_key, None);
    verified.onto(req, &mut facts, rt);
    let Some(n) = crate::screen::roaming_number(&facts, &rt.lists, &rt.settings.policy) else {
        return RoamingStep::Go(None);
    };
    let checker = cx.cp.roaming(cfg);
    if let Some(r) = checker.cached(n) {
        return RoamingStep::Go(Some(r));
    }
    if cx.cp.runtime.get().is_none() {
        return RoamingStep::Go(Some(Roaming::Unanswered));
    }
    match checker.admit(n) {
        Err(r) => RoamingStep::Go(Some(r)),
        Ok(ticket) => RoamingStep::Ask(checker, n, ticket),
    }
}

/// An INVITE's transaction: its key, the To-tag of callscreen's answer,
/// and the cache's time of it.
#[derive(Clone, Copy)]
struct Tx {
    key: TxKey,
    to_tag: u64,
    now: Instant,
}

/// Step 4: the facts, the decision, the call counted (not a proxy's
/// retransmission), and the decision rendered.
#[allow(clippy::too_many_arguments)]
fn decided<'a, 'r>(
    out: &mut Vec<u8>,
    req: &Request<'a>,
    ids: &'a CallerIds<'a>,
    peer: usize,
    tx: Tx,
    again: Option<Again>,
    verified: Verified,
    roaming: Option<Roaming>,
    cx: &Cx<'r>,
    render: Render,
) -> Outcome {
    let (rt, cp): (&'r Runtime, _) = (cx.rt, cx.cp);
    let m = &cp.shared.metrics;
    let proxy = rt.settings.sip.mode == Mode::Proxy;
    let bursts = cp.shared.bursts.load();
    let counted = counting(rt, &bursts).filter(|_| again.is_none());
    let mut facts = read_facts(req, ids, peer, cx.src.ip(), rt, &cp.warn_key, counted);
    verified.onto(req, &mut facts, rt);
    // Rich Call Data (RFC 9795), where a verification was attempted and
    // the SHAKEN PASSporT has any, or else a `ppt=rcd` PASSporT for the same
    // call does: its display name is screened and passed on only when it
    // is verified (a separate one: when both PASSporTs are).
    let carrier = match facts.identity {
        crate::screen::Identity::Present(p) if p.rcd && facts.stir.is_some() => {
            shaken_identity(req).map(|v| (v, facts.stir))
        }
        crate::screen::Identity::Present(_) => verified.others.rcd.and_then(|(i, sig)| {
            let both = match facts.stir {
                Some(StirCheck::Signed) => sig,
                s => s,
            };
            stir::identity_at(req, i).map(|v| (v, both))
        }),
        _ => None,
    };
    let rcd = carrier.and_then(|(v, signed)| Some((passport::rcd(v)?, signed, v)));
    // Proxy mode: the URLs a verified RCD refers to, with their `rcdi`
    // digests, for the Rich Call Data `Call-Info` headers that go on with it.
    let mut rcd_refs = Vec::new();
    if let Some(((name, claims), signed, value)) = &rcd {
        let check = RcdCheck::of(*signed, *claims);
        facts.rcd = Some(check);
        facts.rcd_name = name.as_deref().filter(|_| check == RcdCheck::Verified);
        if proxy && check == RcdCheck::Verified {
            rcd_refs = passport::rcd_refs(value);
        }
    }
    facts.roaming = roaming;
    let verdict = decide(&facts, rt, m, req);
    if again.is_none() {
        let action = verdict.as_ref().map_or(Action::Allow, |v| v.action);
        // The code the NOC line gives: the answer's in redirect mode, a
        // rejection's in proxy mode (0: forwarded).
        let code = match (proxy, action) {
            (false, a) => noc::code(a, rt.settings.redirect.clean_code),
            (true, Action::Reject { code }) => code,
            (true, _) => 0,
        };
        account(
            req,
            &facts,
            verdict.as_ref(),
            peer,
            code,
            rt,
            &cp.shared,
            cx.t0,
        );
    }
    let mut d = Decision {
        key: tx.key,
        to_tag: tx.to_tag,
        now: tx.now,
        again,
        facts: Some(facts),
        verdict,
        learned: Learned { verified, roaming },
        rcd_refs,
    };
    render(out, req, ids, peer, cx, &mut d)
}

self_cell::self_cell!(
    /// A parked INVITE's request and caller IDs, on a copy of its bytes.
    struct Kept {
        owner: OwnedMessage,
        #[covariant]
        dependent: Read,
    }
);

/// What was read of a parked INVITE.
struct Read<'a> {
    req: Request<'a>,
    ids: CallerIds<'a>,
}

/// An INVITE waiting for its verification, with what was read and found
/// of it, and where its answer goes.
pub struct Parked {
    kept: Kept,
    peer: usize,
    tx: Tx,
    cp: Arc<CallPath>,
    /// The settings and lists it arrived under (its peer is an index into them).
    rt: Arc<Runtime>,
    src: std::net::SocketAddr,
    /// The UDP address it came in on, where its answer leaves from.
    local: Option<std::net::SocketAddr>,
    framing: Framing,
    conn: Option<u64>,
    t0: Instant,
    render: Render,
}

/// What a parked INVITE waits for.
enum Wait {
    /// Its verification (and then, perhaps, the roaming check).
    Stir(stir::Verification),
    /// The roaming check's answer about `n`; `verified`: what its
    /// verification gave, when it had one.
    Roaming {
        checker: Arc<Checker>,
        n: E164,
        ticket: Ticket,
        verified: Verified,
    },
}

/// Parks the INVITE for what it waits for, its transaction marked so that
/// retransmissions are absorbed (and a CANCEL can mark it). `Err`: the
/// wait did not start, and the call is screened now with this.
#[allow(clippy::too_many_arguments)]
fn park(
    req: &Request<'_>,
    ids: &CallerIds<'_>,
    peer: usize,
    tx: Tx,
    cx: &Cx<'_>,
    render: Render,
    wait: Wait,
) -> Result<(), StirCheck> {
    let kept = Kept::try_new(OwnedMessage::copy(&req.msg), |copy| {
        let m = Mover::new(&req.msg, copy);
        match (m.request(req, copy), m.caller_ids(ids)) {
            (Some(req), Some(ids)) => Ok(Read { req, ids }),
            _ => Err(()),
        }
    });
    let Ok(kept) = kept else {
        // Every view lies in the message (`sip::moved`'s tests); were one
        // not to, the call is screened now rather than kept wrong, and the
        // place it took in the wait is given back.
        tracing::error!(source = %cx.src, "an INVITE could not be kept for its verification or roaming check: screened without");
        match wait {
            Wait::Stir(v) => v.abandon(),
            Wait::Roaming {
                checker, n, ticket, ..
            } => checker.release(n, ticket),
        }
        return Err(StirCheck::Unverified(Unverified::Busy));
    };
    let parked = Parked {
        kept,
        peer,
        tx,
        cp: Arc::clone(cx.cp),
        rt: Arc::clone(cx.rt),
        src: cx.src,
        local: cx.local,
        framing: cx.framing,
        conn: cx.conn,
        t0: cx.t0,
        render,
    };
    cx.cp.cache.insert(tx.key, tx.now, Kind::Parked, &[]);
    // If it does not start, the answer written now replaces the mark.
    match wait {
        Wait::Stir(v) => v.start(move |check, others, last| {
            let v = Verified {
                stir: Some(check),
                others,
            };
            verified(parked, v, last)
        }),
        Wait::Roaming {
            checker,
            n,
            ticket,
            verified,
        } => {
            ask_roaming(parked, checker, n, ticket, verified);
            Ok(())
        }
    }
}

/// Asks the roaming check on a task; its answer resumes the call.
fn ask_roaming(p: Parked, checker: Arc<Checker>, n: E164, ticket: Ticket, v: Verified) {
    let Some(handle) = p.cp.runtime.get().cloned() else {
        // `roaming_step` asks only with a runtime; were there none, the
        // call goes on unanswered rather than wait for ever.
        checker.release(n, ticket);
        resume(p, v, Some(Roaming::Unanswered), true);
        return;
    };
    handle.spawn(async move {
        let r = checker.ask(n, ticket).await;
        resume(p, v, Some(r), true);
    });
}

/// A parked INVITE's verification has ended with `v`: it asks the
/// roaming check next if its decision needs one not at hand (still
/// parked), else it is resumed.
fn verified(p: Parked, v: Verified, last: bool) {
    let step = {
        let Read { req, ids } = p.kept.borrow_dependent();
        let cx = p.cx();
        roaming_step(req, ids, p.peer, v, &cx)
    };
    match step {
        RoamingStep::Go(r) => resume(p, v, r, last),
        RoamingStep::Ask(checker, n, ticket) => {
            if last {
                p.cp.links.send_held(&p.cp.shared.metrics);
            }
            ask_roaming(p, checker, n, ticket, v);
        }
    }
}

impl Parked {
    /// The context it arrived in, as the stage reads it.
    fn cx(&self) -> Cx<'_> {
        Cx {
            src: self.src,
            framing: self.framing,
            consumed: 0,
            close: false,
            conn: self.conn,
            rt: &self.rt,
            cp: &self.cp,
            t0: self.t0,
            shed: false,
            local: self.local,
        }
    }
}

/// A parked INVITE's wait has ended (what verification gave, the roaming
/// check's answer `roaming`): it is screened
/// and rendered (step 4), or answered 487 if it was cancelled meanwhile
/// (RFC 3261 §9.2; kept for its retransmissions, never screened or
/// forwarded), and what that gives is sent: over UDP from the address it
/// came in on (RFC 3581 §4), over TCP or TLS on the connection it came on (if that closed,
/// the answer is lost and counted, as RFC 3261 §18.2.2 leaves it to the
/// client to retry).
fn resume(p: Parked, verified: Verified, roaming: Option<Roaming>, last: bool) {
    let Read { req, ids } = p.kept.borrow_dependent();
    let cp = &p.cp;
    let cx = p.cx();
    let mut out = Vec::with_capacity(2048);
    let now = Instant::now();
    let cancelled = cp.cache.get_own(p.tx.key, now, &mut out) == Some(Kind::Cancelled);
    out.clear();
    let outcome = if cancelled {
        write_terminated(&mut out, req, &cx);
        cx.reply_to(req)
    } else {
        let tx = Tx { now, ..p.tx };
        decided(
            &mut out, req, ids, p.peer, tx, None, verified, roaming, &cx, p.render,
        )
    };
    let dest = match outcome {
        Outcome::Reply { dest, .. } => match p.framing {
            Framing::Datagram => Dest::udp_from(p.local, dest),
            Framing::Stream => Dest::Conn {
                id: p.conn,
                fallback: None,
            },
        },
        // Forwarded over UDP: from the address it came in on too, as the
        // receiving thread sends what it forwards at once.
        Outcome::Send {
            dest: Dest::Udp(to),
            ..
        } => Dest::udp_from(p.local, to),
        Outcome::Send { dest, .. } => dest,
        Outcome::Silent { .. } | Outcome::Incomplete => {
            if last {
                cp.links.send_held(&cp.shared.metrics);
            }
            return;
        }
    };
    // Held until the verification thread's run of jobs ends: answers sent
    // together wake their receiver once.
    cp.links.hold(&cp.shared.metrics, dest, out, last);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screen::passport::StirFailure;

    /// Every outcome a forwarded call can have learned comes back from the
    /// cache as it went in, with the warned Request-URI after it; bytes
    /// this version did not write are not taken for one.
    #[test]
    fn what_a_pass_learned_comes_back_from_its_bytes() {
        let mut all = vec![Learned::default()];
        for stir in StirCheck::ALL {
            for roaming in Roaming::ALL {
                all.push(Learned {
                    verified: Verified {
                        stir: Some(stir),
                        others: stir::Others {
                            divs: Some([Some(stir), None, Some(StirCheck::Signed), None]),
                            rcd: Some((MAX_PARTS - 1, Some(stir))),
                        },
                    },
                    roaming: Some(roaming),
                });
            }
        }
        for l in all {
            let mut kept = l.bytes().to_vec();
            kept.extend_from_slice(b"sip:warn@192.0.2.50");
            let (back, rest) = Learned::split(&kept).expect("read back");
            assert_eq!(back.verified.stir, l.verified.stir);
            assert_eq!(back.verified.others, l.verified.others);
            assert_eq!(back.roaming, l.roaming);
            assert_eq!(rest, b"sip:warn@192.0.2.50");
        }
        assert!(Learned::split(b"").is_none());
        let mut bad_stir = [0u8; LEARNED];
        bad_stir[0] = 200;
        assert!(Learned::split(&bad_stir).is_none());
        let l = Learned {
            verified: Verified {
                stir: Some(StirCheck::Failed(StirFailure::Revoked)),
                others: stir::Others {
                    divs: Some([None; MAX_PARTS]),
                    rcd: Some((1, Some(StirCheck::Signed))),
                },
            },
            roaming: None,
        };
        let mut bad_div = l.bytes();
        bad_div[2] = 99;
        assert!(Learned::split(&bad_div).is_none());
        let mut bad_rcd = l.bytes();
        bad_rcd[2 + MAX_PARTS] = MAX_PARTS as u8 + 1;
        assert!(Learned::split(&bad_rcd).is_none());
        bad_rcd[2 + MAX_PARTS] = 1;
        bad_rcd[3 + MAX_PARTS] = 99;
        assert!(Learned::split(&bad_rcd).is_none());
    }
}
