//! From a SIP request to the raw call strings screening reads: the From and
//! P-Asserted-Identity addresses with their display names, the Request-URI.

use super::addr::{NameAddr, Uri, parse_name_addr, split_list};
use super::header::HeaderName;
use super::request::Request;
use crate::screen::RawCall;
use crate::screen::facts::MAX_PARTS;

/// The caller identities of a request, parsed once and borrowed by `RawCall`.
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

    pub fn raw<'s>(&'s self, req: &Request<'s>, source: Option<std::net::IpAddr>) -> RawCall<'s> {
        let mut diversions = [None; MAX_PARTS];
        let mut n = 0;
        let mut add = |uri: &'s [u8]| {
            if n < MAX_PARTS {
                diversions[n] = std::str::from_utf8(uri).ok();
                n += 1;
            }
        };
        for v in req.msg.all(HeaderName::Diversion) {
            for e in split_list(v) {
                if let Ok(a) = parse_name_addr(e) {
                    add(a.uri);
                }
            }
        }
        // History-Info: every entry before the last is a party the call was diverted from.
        let history = || {
            req.msg
                .all(HeaderName::HistoryInfo)
                .flat_map(split_list)
                .filter_map(|e| parse_name_addr(e).ok().map(|a| a.uri))
        };
        let entries = history().count();
        for uri in history().take(entries.saturating_sub(1)) {
            add(uri);
        }
        let mut identities = [None; MAX_PARTS];
        for (slot, v) in identities.iter_mut().zip(req.msg.all(HeaderName::Identity)) {
            *slot = std::str::from_utf8(v).ok();
        }
        RawCall {
            from: std::str::from_utf8(self.from.uri).unwrap_or_default(),
            from_display: self.from.display.as_deref(),
            pai: self
                .pai
                .as_ref()
                .map(|p| std::str::from_utf8(p.uri).unwrap_or_default()),
            pai_display: self.pai.as_ref().and_then(|p| p.display.as_deref()),
            callee: std::str::from_utf8(req.uri).unwrap_or_default(),
            source,
            diversions,
            identities,
        }
    }
}

/// The user part of the Request-URI (the dialled number, with its parameters).
pub fn request_user<'a>(req: &Request<'a>) -> Option<&'a [u8]> {
    Uri::parse(req.uri).and_then(|u| u.user)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::number::{Cli, E164, NumberContext, normalise};
    use crate::sip::request::read;
    use crate::sip::scan::{Framing, Limits, Scan, Scanner};

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
                    "../../fixtures/invites/twilio-elastic-trunk-inbound-pai-diversion.sip"
                ),
                &e164,
                n("+10987654321"),
                Some(n("+10987654321")),
                None,
                "sip:+11234567890@grable.voip.zoftko.com;transport=tls",
            ),
            (
                "jambonz",
                include_bytes!("../../fixtures/invites/jambonz-twilio-gateway-diversion.sip"),
                &e164,
                n("+15083084809"),
                None,
                None,
                "sip:+15083728299@172.31.3.33:5070",
            ),
            (
                "sipsorcery-pai",
                include_bytes!("../../fixtures/invites/sipsorcery-pai-diversion-ch.sip"),
                &nl,
                n("+417777777"),
                Some(n("+4199999999")),
                Some("+417777777"),
                "sip:+4199999999@10.0.0.1;user=phone",
            ),
            (
                "sipsorcery-multi",
                include_bytes!("../../fixtures/invites/sipsorcery-multi-pai-history-info-ch.sip"),
                &nl,
                n("+417777777"),
                Some(n("+4199999999")),
                Some("+417777777"),
                "sip:+4199999999@10.0.0.1;user=phone",
            ),
            (
                "resip-pai",
                include_bytes!("../../fixtures/invites/resiprocate-ngn-in-pai-diversion-tel.sip"),
                &india,
                n("+919582369046"),
                Some(n("+919582369046")),
                Some("09582369046"),
                "sip:00911206930000@10.52.83.198:5060;user=phone;transport=udp",
            ),
            (
                "resip-hi",
                include_bytes!(
                    "../../fixtures/invites/resiprocate-ngn-in-history-info-embedded.sip"
                ),
                &india,
                n("+919582369046"),
                Some(n("+919582369046")),
                Some("09582369046"),
                "sip:00911206930000@10.52.83.198:5060;user=phone;transport=udp",
            ),
            (
                "resip-identity",
                include_bytes!("../../fixtures/invites/resiprocate-multi-identity-div.sip"),
                &nl,
                n("+15551112222"),
                None,
                None,
                "sip:alice@example.com",
            ),
            (
                "portsip",
                include_bytes!("../../fixtures/invites/portsip-stir-shaken-identity.sip"),
                &e164,
                n("+14045266060"),
                None,
                Some("Alice"),
                "sip:18001234567@example.com:5060",
            ),
            (
                "jssip",
                include_bytes!("../../fixtures/invites/jssip-rfc3325-privacy-id-ppi.sip"),
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
            let raw = ids.raw(&req, None);
            assert_eq!(normalise(raw.from, ctx), from, "{name} From");
            assert_eq!(raw.pai.map(|p| normalise(p, ctx)), pai, "{name} PAI");
            assert_eq!(raw.from_display, display, "{name} display");
            assert_eq!(raw.callee, callee, "{name} callee");
        }
    }
}
