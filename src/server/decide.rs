//! The decision, for both modes: the screening facts read from a SIP
//! request (the glue between `sip`, which reads SIP, and `screen`, which
//! knows nothing of it), the pure `screen` run failing open, and the call
//! counted and written as its NOC line.

use std::net::IpAddr;
use std::time::Instant;

use super::{noc, warn};
use crate::keys::TokenKey;
use crate::screen::facts::MAX_PARTS;
use crate::screen::{Action, CallFacts, PeerId, RawCall, Verdict, screen};
use crate::sip::Request;
use crate::sip::facts::{CallerIds, diverting_parties, identities, request_user};
use crate::state::{CallEvent, Metrics, Runtime, Shared};

/// The facts of an INVITE from `peer`, read in that peer's number context;
/// with whether it is a warned subscriber's insisting call (`warn_key`: the
/// tokens' key when the config names none), and, for a new call arriving
/// from outside (`bursts`: not a retransmission), the caller's calls in the
/// burst window (an emergency call is never counted).
pub fn read_facts<'a>(
    req: &Request<'a>,
    ids: &'a CallerIds<'a>,
    peer: PeerId,
    source: IpAddr,
    rt: &Runtime,
    warn_key: &TokenKey,
    bursts: Option<&crate::state::Bursts>,
) -> CallFacts<'a> {
    let raw = raw_call(ids, req, Some(source));
    // One clock read a call: seconds for the decision, milliseconds for bursts.
    let now_ms = crate::clock::unix_now_ms();
    let now = now_ms / 1000;
    let mut facts = CallFacts::read(&raw, peer, &rt.settings.policy, now);
    if let (true, Some(w)) = (facts.originating, &rt.settings.warn) {
        facts.insisted = warn::insisted(req, &facts, w, warn_key, now);
    }
    if let (Some(b), false, false, Some(n)) = (
        bursts,
        facts.originating,
        facts.emergency,
        facts.from.number(),
    ) {
        facts.burst = b.count(n, now_ms);
    }
    facts
}

/// The burst table when the policy counts anything.
pub fn counting<'b>(
    rt: &Runtime,
    bursts: &'b crate::state::Bursts,
) -> Option<&'b crate::state::Bursts> {
    let t = rt.settings.policy.burst;
    (t.per_number > 0 || t.per_block > 0).then_some(bursts)
}

/// The raw strings screening reads, borrowed from the request.
fn raw_call<'s>(ids: &'s CallerIds<'s>, req: &Request<'s>, source: Option<IpAddr>) -> RawCall<'s> {
    let text = |b: &'s [u8]| std::str::from_utf8(b).ok();
    let mut diversions = [None; MAX_PARTS];
    for (slot, uri) in diversions.iter_mut().zip(diverting_parties(req)) {
        *slot = text(uri);
    }
    let mut ids_out = [None; MAX_PARTS];
    for (slot, v) in ids_out.iter_mut().zip(identities(req)) {
        *slot = text(v);
    }
    RawCall {
        from: text(ids.from.uri).unwrap_or_default(),
        from_display: ids.from.display.as_deref(),
        pai: ids.pai.as_ref().map(|p| text(p.uri).unwrap_or_default()),
        pai_display: ids.pai.as_ref().and_then(|p| p.display.as_deref()),
        callee: text(req.uri).unwrap_or_default(),
        to: text(req.to.uri),
        source,
        diversions,
        identities: ids_out,
    }
}

/// Screens, failing open: an internal error lets the call go on untagged, counted.
pub fn decide<'r>(
    facts: &CallFacts,
    rt: &'r Runtime,
    metrics: &Metrics,
    req: &Request<'_>,
) -> Option<Verdict<'r>> {
    let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Fault injection for the fail-open tests (debug builds only).
        #[cfg(debug_assertions)]
        if std::env::var_os("CALLSCREEN_TEST_PANIC_CALL_ID")
            .is_some_and(|v| v.as_encoded_bytes() == req.call_id)
        {
            panic!("injected fault (CALLSCREEN_TEST_PANIC_CALL_ID)");
        }
        screen(facts, &rt.lists, &rt.settings.policy)
    }));
    match decided {
        Ok(v) => Some(v),
        Err(_) => {
            Metrics::inc(&metrics.fail_open);
            tracing::error!(call_id = %String::from_utf8_lossy(req.call_id), "screening failed: call let through untagged (fail open)");
            None
        }
    }
}

/// Counts a screened call and writes its NOC line (`code` 0: forwarded).
#[allow(clippy::too_many_arguments)]
pub fn account(
    req: &Request<'_>,
    facts: &CallFacts,
    verdict: Option<&Verdict<'_>>,
    peer: usize,
    code: u16,
    rt: &Runtime,
    shared: &Shared,
    t0: Instant,
) {
    let (metrics, calls) = (&shared.metrics, &shared.calls);
    let action = verdict.map_or(Action::Allow, |v| v.action);
    let policy = &rt.settings.policy;
    let mc = metrics;
    // The order of `state::VERDICTS`.
    let (counter, index) = match action {
        Action::Allow => (&mc.calls_allow, 0),
        Action::Tag => (&mc.calls_tag, 1),
        Action::Anonymise => (&mc.calls_anonymise, 2),
        Action::Warn => (&mc.calls_warn, 3),
        Action::Reject { .. } => (&mc.calls_reject, 4),
    };
    Metrics::inc(counter);
    shared.loads.load().count(peer, index);
    if let Some(vs) = verdict.and_then(|v| v.verstat) {
        let i = crate::screen::passport::Verstat::ALL
            .iter()
            .position(|x| *x == vs)
            .unwrap_or(0);
        Metrics::inc(&mc.stir.verstat[i]);
    }
    if let Some(v) = verdict {
        // Hits by list entry (atomics only; a call with no list hit skips it).
        let now = facts.now;
        for h in v.findings.iter().filter_map(|f| f.hit) {
            shared.hits.record(h.list, &h.target, action, now);
        }
        let mut seen = [false; crate::screen::reason_kind_count()];
        for f in v.findings.iter() {
            let k = f.reason.kind as usize;
            if !seen[k] {
                seen[k] = true;
                Metrics::inc(&mc.reasons[k]);
            }
        }
    }
    // One reading for the histogram and the NOC line.
    let latency_us = t0.elapsed().as_micros() as u64;
    mc.observe_latency(latency_us);
    let mask = rt.settings.log.mask_caller;
    let empty = Verdict {
        action,
        decided_by: None,
        reject_text: None,
        findings: Default::default(),
        expired: Default::default(),
        verstat: None,
    };
    let v = verdict.unwrap_or(&empty);
    let callee = noc::Callee {
        number: facts.callee,
        raw: request_user(req).unwrap_or(req.uri),
    };
    // Redress: a rejected call's reference, as its answer's Reason text
    // gives it, closes the line.
    let reference = (matches!(action, Action::Reject { .. }) && rt.settings.redress.is_some())
        .then(|| noc::CallRef::of(req.call_id));
    let call_id = String::from_utf8_lossy(req.call_id);
    let (reasons, lists) = (noc::Reasons(v), noc::Lists(v));
    let (caller, pai) = (
        noc::Number {
            cli: Some(facts.from),
            mask,
        },
        noc::Number {
            cli: facts.pai,
            mask,
        },
    );
    let peer_name = &policy.peer(peer).name;
    let verstat = v.verstat.map(|x| x.name());
    let mut fields: [(&str, noc::Value<'_>); 15] = [
        ("verdict", noc::Value::Text(&action.name())),
        ("code", noc::Value::Num(u64::from(code))),
        ("reasons", noc::Value::Text(&reasons)),
        ("caller", noc::Value::Text(&caller)),
        ("pai", noc::Value::Text(&pai)),
        ("callee", noc::Value::Text(&callee)),
        ("peer", noc::Value::Text(peer_name)),
        ("call_id", noc::Value::Text(&call_id)),
        ("lists", noc::Value::Text(&lists)),
        ("latency_us", noc::Value::Num(latency_us)),
        (
            "direction",
            noc::Value::Text(&noc::direction(facts.originating)),
        ),
        ("", noc::Value::Num(0)),
        ("", noc::Value::Num(0)),
        ("", noc::Value::Num(0)),
        ("", noc::Value::Num(0)),
    ];
    let mut n = 11;
    if let Some(vs) = &verstat {
        fields[n] = ("verstat", noc::Value::Text(vs));
        n += 1;
    }
    let div = facts.div.map(|d| d.name());
    if let Some(d) = &div {
        fields[n] = ("div", noc::Value::Text(d));
        n += 1;
    }
    let rcd = facts.rcd.map(|r| r.name());
    if let Some(r) = &rcd {
        fields[n] = ("rcd", noc::Value::Text(r));
        n += 1;
    }
    if let Some(r) = &reference {
        fields[n] = ("ref", noc::Value::Text(r));
        n += 1;
    }
    noc::call_line(&fields[..n]);
    if let Some(rec) = shared.records.get() {
        // Every rejected call has its reference in the record, with or
        // without [redress] (the caller may quote it once it is configured).
        let cref = matches!(action, Action::Reject { .. }).then(|| noc::CallRef::of(req.call_id));
        let to = match facts.identity {
            crate::screen::Identity::Present(_) => facts.to_number(policy),
            _ => None,
        };
        rec.record(&crate::records::Call {
            time_ms: crate::clock::unix_now_ms(),
            call_id: req.call_id,
            reference: cref.as_ref().map(|r| r as &dyn std::fmt::Display),
            peer: peer_name,
            facts,
            to,
            verdict: action.name(),
            code,
            reasons: &reasons,
            lists: &lists,
            verstat,
            latency_us,
        });
    }
    if calls.watched() {
        calls.send(CallEvent {
            time_ms: crate::clock::unix_now_ms(),
            verdict: action.name(),
            code,
            reasons: noc::Reasons(v).to_string(),
            caller: noc::Number {
                cli: Some(facts.from),
                mask,
            }
            .to_string(),
            pai: noc::Number {
                cli: facts.pai,
                mask,
            }
            .to_string(),
            callee: callee.to_string(),
            peer: policy.peer(peer).name.clone(),
            call_id: String::from_utf8_lossy(req.call_id).into_owned(),
            lists: noc::Lists(v).to_string(),
            latency_us,
            direction: noc::direction(facts.originating),
            verstat: v.verstat.map(|x| x.name()),
            reference: reference.map(|r| r.to_string()),
            caller_number: facts.from.number(),
        });
    }
}
