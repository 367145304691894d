//! The warn action's SIP side (`[warn]`): a subscriber who dials a listed
//! number is sent to the announcement service first, with RFC 4458's
//! `target` (the dialled number, plus callscreen's token in its `cs`
//! parameter) and `cause` on the announcement URI, and the original target
//! in a History-Info entry (RFC 7044) or a Diversion header (RFC 5806). If the
//! subscriber insists, the service dials `target` back; the token, keyed and
//! time-limited, lets that one call through (`callee:warned-insisted`).

use std::io::Write;

use crate::config::{Carry, WarnSettings};
use crate::keys::TokenKey;
use crate::number::{Cli, E164};
use crate::screen::CallFacts;
use crate::sip::Request;
use crate::sip::facts::request_user_param;
use crate::sip::response::{escape_uri_header, escape_uri_param};

/// The Request-URI user-part parameter that carries the token back (the
/// same name as in `Warned::target`).
pub const TOKEN_PARAM: &[u8] = b"cs";

/// What a token binds the call to besides the dialled number: the caller
/// as presented.
fn caller(from: Cli) -> String {
    from.number().map(|n| n.to_string()).unwrap_or_default()
}

/// Whether this call is a warned subscriber's insisting one: it comes from
/// the announcement service's peer and carries a valid token of callscreen's
/// for this number and caller.
pub fn insisted(
    req: &Request<'_>,
    facts: &CallFacts<'_>,
    warn: &WarnSettings,
    fallback: &TokenKey,
    now: u64,
) -> bool {
    let (Some(callee), Some(announcer)) = (facts.callee, warn.peer) else {
        return false;
    };
    if facts.peer != announcer {
        return false;
    }
    let Some(token) =
        request_user_param(req, TOKEN_PARAM).and_then(|t| std::str::from_utf8(t).ok())
    else {
        return false;
    };
    let key = warn.token_key.as_deref().unwrap_or(fallback);
    key.verify(token, &callee.to_string(), &caller(facts.from), now)
}

/// A warned call: the `target` it is sent on with, and the original target.
pub struct Warned {
    /// `+31900123456;cs=<token>`, what the announcement service dials back.
    pub target: String,
    pub callee: E164,
}

impl Warned {
    pub fn new(
        facts: &CallFacts<'_>,
        warn: &WarnSettings,
        fallback: &TokenKey,
        now: u64,
    ) -> Option<Warned> {
        let callee = facts.callee?;
        let key = warn.token_key.as_deref().unwrap_or(fallback);
        let token = key.mint(
            &callee.to_string(),
            &caller(facts.from),
            now + warn.token_ttl,
        );
        Some(Warned {
            target: format!("{callee};cs={token}"),
            callee,
        })
    }

    /// The announcement URI with `target` and `cause` (RFC 4458).
    pub fn write_uri(&self, out: &mut Vec<u8>, warn: &WarnSettings) {
        out.extend_from_slice(warn.uri.as_bytes());
        out.extend_from_slice(b";target=");
        escape_uri_param(out, self.target.as_bytes());
        let _ = write!(out, ";cause={}", warn.cause);
    }

    /// The Contact of a 302 to the announcement service: the URI, and the
    /// carried header inside it (RFC 3261 §19.1.1), since a 302 cannot add
    /// headers to the next INVITE otherwise. `host`: where the call would
    /// have gone (the redirect's next hop).
    pub fn write_contact(&self, out: &mut Vec<u8>, warn: &WarnSettings, host: &str) {
        let mut uri = Vec::new();
        self.write_uri(&mut uri, warn);
        out.extend_from_slice(b"Contact: <");
        out.extend_from_slice(&uri);
        let original = format!("sip:{}@{host};user=phone", self.callee);
        if let Some((name, value)) = carried(warn, &original, &uri) {
            out.push(b'?');
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            escape_uri_header(out, &value);
        }
        out.extend_from_slice(b">\r\n");
    }
}

/// The header that carries the original target on to the announcement
/// service, as `[warn] carry` says: its name and value. `original`: the
/// target's URI; `announcement`: the URI the call goes to now.
pub fn carried(
    warn: &WarnSettings,
    original: &str,
    announcement: &[u8],
) -> Option<(&'static str, Vec<u8>)> {
    let mut v = Vec::new();
    match warn.carry {
        Carry::TargetOnly => None,
        Carry::HistoryInfo => {
            // RFC 7044: the original target, then the retargeted one.
            let _ = write!(v, "<{original}>;index=1,<");
            v.extend_from_slice(announcement);
            v.extend_from_slice(b">;index=1.1");
            Some(("History-Info", v))
        }
        Carry::Diversion => {
            let _ = write!(v, "<{original}>;reason=unconditional;counter=1");
            Some(("Diversion", v))
        }
    }
}
