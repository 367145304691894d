//! `[warn]`: the announcement service a subscriber's call to a listed
//! number goes to first (RFC 4458 `target` and `cause`), the peer its
//! reconnecting calls arrive as, and the key of callscreen's tokens.

use std::path::Path;
use std::sync::Arc;

use super::context::Ctx;
use super::schema;
use super::settings::{Carry, WarnSettings};
use super::sip::parse_next_hop;
use crate::keys::TokenKey;
use crate::screen::{Action, Peer, Policy, ReasonKey, ReasonKind};

/// RFC 4458 §3's redirecting reasons, as `cause` values.
const CAUSES: [u16; 7] = [302, 404, 408, 480, 486, 487, 503];

pub(super) fn warn_section(
    cx: &mut Ctx<'_>,
    raw: &schema::Config,
    base: &Path,
    peers: &[Peer],
) -> Option<WarnSettings> {
    let w = raw.warn.as_ref()?;
    let uri = w.announcement.get_ref().trim().to_string();
    let hop = match uri
        .strip_prefix("sip:")
        .map(|rest| rest.rsplit_once('@').map_or(rest, |(_, host)| host))
        .ok_or("write a sip: URI, e.g. \"sip:warn@192.0.2.50:5062\"")
        .and_then(parse_next_hop)
    {
        Ok(h) => h,
        Err(e) => {
            return cx.err(
                Some(w.announcement.span()),
                "warn.announcement",
                format!("{uri:?}: {e}"),
            );
        }
    };
    let peer = match &w.peer {
        None => None,
        Some(p) => match peers.iter().position(|n| &n.name == p.get_ref()) {
            Some(i) if peers[i].originating => Some(i),
            Some(_) => {
                return cx.err(
                    Some(p.span()),
                    "warn.peer",
                    format!("peer {:?} carries the subscribers' reconnected calls: give it direction = \"originating\"", p.get_ref()),
                );
            }
            None => {
                return cx.err(
                    Some(p.span()),
                    "warn.peer",
                    format!("there is no peer named {:?} in [[peers]]: name the peer the announcement service's calls arrive as", p.get_ref()),
                );
            }
        },
    };
    let cause = match &w.cause {
        None => 302,
        Some(c) => match u16::try_from(*c.get_ref())
            .ok()
            .filter(|c| CAUSES.contains(c))
        {
            Some(c) => c,
            None => {
                return cx.err(
                    Some(c.span()),
                    "warn.cause",
                    format!("{} is not an RFC 4458 cause; use one of {CAUSES:?} (default 302, unconditional)", c.get_ref()),
                );
            }
        },
    };
    let carry = match w.carry.as_ref().map(|c| (c.get_ref().as_str(), c.span())) {
        None | Some(("history-info", _)) => Carry::HistoryInfo,
        Some(("diversion", _)) => Carry::Diversion,
        Some(("target", _)) => Carry::TargetOnly,
        Some((other, span)) => {
            return cx.err(
                Some(span),
                "warn.carry",
                format!("{other:?}: write \"history-info\" (RFC 7044, the default), \"diversion\" (RFC 5806) or \"target\" (only RFC 4458's target parameter)"),
            );
        }
    };
    let token_key = match &w.token_key_file {
        None => None,
        Some(f) => {
            let path = base.join(f.get_ref());
            let key = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))
                .and_then(|t| {
                    TokenKey::from_hex(&t).ok_or_else(|| {
                        format!("{} must hold at least 64 hex digits (e.g. `head -c 32 /dev/urandom | xxd -p -c 64`)", path.display())
                    })
                });
            match key {
                Ok(k) => Some(Arc::new(k)),
                Err(e) => return cx.err(Some(f.span()), "warn.token_key_file", e),
            }
        }
    };
    Some(WarnSettings {
        uri,
        hop,
        peer,
        cause,
        carry,
        token_ttl: w.token_ttl_secs.unwrap_or(300).clamp(10, 86_400),
        token_key,
    })
}

/// A dialled-number list whose rule warns needs somewhere to send the call.
pub(super) fn check_warn_has_a_service(
    cx: &mut Ctx<'_>,
    policy: &Policy,
    dialled_lists: &[(ReasonKind, String)],
    warn: Option<&WarnSettings>,
) {
    if warn.is_some() {
        return;
    }
    for (kind, name) in dialled_lists {
        let reason = crate::screen::Reason::of_list(*kind, name);
        let warns =
            (0..policy.peers.len().max(1)).any(|p| policy.rule(&reason, p).action == Action::Warn);
        if warns {
            let key = ReasonKey {
                kind: *kind,
                list: Some(name.clone()),
            };
            cx.err::<()>(
                None,
                "warn",
                format!("the rule for {}:{} warns (the default for dialled-number lists), which needs [warn] announcement = \"sip:…@IP:PORT\"; or give that list another rule", key.kind.code(), name),
            );
            return;
        }
    }
}
