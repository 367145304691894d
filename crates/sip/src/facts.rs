//! The caller-side facts of a SIP request, as SIP says them: the From and
//! P-Asserted-Identity addresses with their display names, the parties the
//! call was diverted from, the Identity headers, the dialled user part.
//! Turning them into screening facts is the server's glue, not this room's.

use super::addr::{NameAddr, parse_name_addr, split_list};
use super::header::HeaderName;
use super::request::Request;

/// The caller identities of a request, parsed once.
#[derive(Clone, Debug)]
pub struct CallerIds<'a> {
    pub from: NameAddr<'a>,
    pub pai: Option<NameAddr<'a>>,
}

impl<'a> CallerIds<'a> {
    /// Reads From and the P-Asserted-Identity. With two PAI values (RFC 3325
    /// allows a sip: and a tel: one), the tel: one is the number; else the first.
    pub fn read(req: &Request<'a>) -> CallerIds<'a> {
        let mut pai: Option<NameAddr<'a>> = None;
        for v in req.msg.all(HeaderName::PAssertedIdentity) {
            for e in split_list(v) {
                let Ok(a) = parse_name_addr(e) else { continue };
                let is_tel = a.uri.len() >= 4 && a.uri[..4].eq_ignore_ascii_case(b"tel:");
                match &pai {
                    None => pai = Some(a),
                    Some(p)
                        if is_tel
                            && !(p.uri.len() >= 4 && p.uri[..4].eq_ignore_ascii_case(b"tel:")) =>
                    {
                        pai = Some(a)
                    }
                    _ => {}
                }
            }
        }
        CallerIds {
            from: req.from.clone(),
            pai,
        }
    }
}

/// The URIs of the parties a call was diverted from, in order: every
/// Diversion entry, then every History-Info entry but the last (which is the
/// current target).
pub fn diverting_parties<'a>(req: &Request<'a>) -> impl Iterator<Item = &'a [u8]> {
    let uris = |name| {
        req.msg
            .all(name)
            .flat_map(split_list)
            .filter_map(|e| parse_name_addr(e).ok().map(|a| a.uri))
    };
    let history = uris(HeaderName::HistoryInfo).count();
    uris(HeaderName::Diversion).chain(uris(HeaderName::HistoryInfo).take(history.saturating_sub(1)))
}

/// The Identity header values, as received.
pub fn identities<'a>(req: &Request<'a>) -> impl Iterator<Item = &'a [u8]> {
    req.msg.all(HeaderName::Identity)
}

/// The user part of the Request-URI (the dialled number, with its parameters).
pub fn request_user<'a>(req: &Request<'a>) -> Option<&'a [u8]> {
    req.ruri.and_then(|u| u.user)
}

/// `name=value` → `value`, for a parameter named `name` (any case).
fn param_value<'a>(part: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let (n, v) = part.split_at_checked(name.len())?;
    (n.eq_ignore_ascii_case(name) && v.first() == Some(&b'=')).then(|| &v[1..])
}

/// The value of a user-part parameter of the Request-URI
/// (`sip:+31900123456;cs=…@host`: `cs`).
pub fn request_user_param<'a>(req: &Request<'a>, name: &[u8]) -> Option<&'a [u8]> {
    request_user(req)?
        .split(|&c| c == b';')
        .skip(1)
        .find_map(|p| param_value(p, name))
}

/// A user part without one of its parameters; `None` (and nothing
/// allocated) when it has no such parameter.
pub fn user_without_param(user: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let mut parts = user.split(|&c| c == b';');
    let number = parts.next()?;
    if !user
        .split(|&c| c == b';')
        .skip(1)
        .any(|p| param_value(p, name).is_some())
    {
        return None;
    }
    let mut out = number.to_vec();
    for part in parts.filter(|p| param_value(p, name).is_none()) {
        out.push(b';');
        out.extend_from_slice(part);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::read;
    use crate::scan::{Framing, Limits, Scan, Scanner};
    use number::{Cli, E164, NumberContext, normalise};

    /// (file, From number in the peer's context, PAI number, From display).
    #[allow(clippy::type_complexity)]
    #[test]
    fn carrier_invites_yield_the_right_caller_facts() {
        let nl = NumberContext::national("31");
        let e164 = NumberContext::e164_only();
        let india = NumberContext::national("91");
        let n = |s: &str| Cli::Number(E164::parse_plus(s).unwrap());
        let cases: [(
            &str,
            &[u8],
            &NumberContext,
            Cli,
            Option<Cli>,
            Option<&str>,
            &str,
        ); 9] = [
            (
                "twilio",
                include_bytes!(
                    "../../../fixtures/invites/twilio-elastic-trunk-inbound-pai-diversion.sip"
                ),
                &e164,
                n("+10987654321"),
                Some(n("+10987654321")),
                None,
                "sip:+11234567890@grable.voip.zoftko.com;transport=tls",
            ),
            (
                "jambonz",
                include_bytes!("../../../fixtures/invites/jambonz-twilio-gateway-diversion.sip"),
                &e164,
                n("+15083084809"),
                None,
                None,
                "sip:+15083728299@172.31.3.33:5070",
            ),
            (
                "sipsorcery-pai",
                include_bytes!("../../../fixtures/invites/sipsorcery-pai-diversion-ch.sip"),
                &nl,
                n("+417777777"),
                Some(n("+4199999999")),
                Some("+417777777"),
                "sip:+4199999999@10.0.0.1;user=phone",
            ),
            (
                "sipsorcery-multi",
                include_bytes!(
                    "../../../fixtures/invites/sipsorcery-multi-pai-history-info-ch.sip"
                ),
                &nl,
                n("+417777777"),
                Some(n("+4199999999")),
                Some("+417777777"),
                "sip:+4199999999@10.0.0.1;user=phone",
            ),
            (
                "resip-pai",
                include_bytes!(
                    "../../../fixtures/invites/resiprocate-ngn-in-pai-diversion-tel.sip"
                ),
                &india,
                n("+919582369046"),
                Some(n("+919582369046")),
                Some("09582369046"),
                "sip:00911206930000@10.52.83.198:5060;user=phone;transport=udp",
            ),
            (
                "resip-hi",
                include_bytes!(
                    "../../../fixtures/invites/resiprocate-ngn-in-history-info-embedded.sip"
                ),
                &india,
                n("+919582369046"),
                Some(n("+919582369046")),
                Some("09582369046"),
                "sip:00911206930000@10.52.83.198:5060;user=phone;transport=udp",
            ),
            (
                "resip-identity",
                include_bytes!("../../../fixtures/invites/resiprocate-multi-identity-div.sip"),
                &nl,
                n("+15551112222"),
                None,
                None,
                "sip:alice@example.com",
            ),
            (
                "portsip",
                include_bytes!("../../../fixtures/invites/portsip-stir-shaken-identity.sip"),
                &e164,
                n("+14045266060"),
                None,
                Some("Alice"),
                "sip:18001234567@example.com:5060",
            ),
            (
                "jssip",
                include_bytes!("../../../fixtures/invites/jssip-rfc3325-privacy-id-ppi.sip"),
                &nl,
                Cli::Withheld,
                None,
                Some("Anonymous"),
                "sip:bob@biloxi.com",
            ),
        ];
        let mut scanner = Scanner::new(Limits::default());
        for (name, bytes, ctx, from, pai, display, callee) in cases {
            let Scan::Message(m) = scanner.scan(bytes, Framing::Datagram) else {
                panic!("{name}")
            };
            assert_eq!(m.fault, None, "{name}");
            let req = read(&m).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            let ids = CallerIds::read(&req);
            let text = |b: &[u8]| std::str::from_utf8(b).unwrap().to_string();
            assert_eq!(normalise(&text(ids.from.uri), ctx), from, "{name} From");
            assert_eq!(
                ids.pai.as_ref().map(|p| normalise(&text(p.uri), ctx)),
                pai,
                "{name} PAI"
            );
            assert_eq!(ids.from.display.as_deref(), display, "{name} display");
            assert_eq!(text(req.uri), callee, "{name} callee");
        }
    }
}
