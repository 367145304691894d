//! Header names: the ones callscreen reads, recognised case-insensitively in
//! full and compact form (RFC 3261 §7.3.3, §20; RFC 8224 `y` for Identity).

/// The headers callscreen looks at; everything else is `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderName {
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    ContentType,
    Contact,
    PAssertedIdentity,
    PPreferredIdentity,
    Identity,
    Privacy,
    Diversion,
    HistoryInfo,
    Require,
    ProxyRequire,
    Route,
    RecordRoute,
    Other,
}

impl HeaderName {
    /// Recognises a header name (full or compact form, any case).
    pub fn parse(name: &[u8]) -> HeaderName {
        use HeaderName::*;
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'v' => Via,
                b'f' => From,
                b't' => To,
                b'i' => CallId,
                b'l' => ContentLength,
                b'c' => ContentType,
                b'm' => Contact,
                b'y' => Identity,
                _ => Other,
            };
        }
        const FULL: [(&[u8], HeaderName); 19] = [
            (b"via", Via),
            (b"from", From),
            (b"to", To),
            (b"call-id", CallId),
            (b"cseq", CSeq),
            (b"max-forwards", MaxForwards),
            (b"content-length", ContentLength),
            (b"content-type", ContentType),
            (b"contact", Contact),
            (b"p-asserted-identity", PAssertedIdentity),
            (b"p-preferred-identity", PPreferredIdentity),
            (b"identity", Identity),
            (b"privacy", Privacy),
            (b"diversion", Diversion),
            (b"history-info", HistoryInfo),
            (b"require", Require),
            (b"proxy-require", ProxyRequire),
            (b"route", Route),
            (b"record-route", RecordRoute),
        ];
        FULL.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or(Other, |&(_, h)| h)
    }

    /// Headers that may appear once only (RFC 3261 §7.3.1: not a
    /// comma-separated list); a second one is a 400.
    pub fn single(self) -> bool {
        use HeaderName::*;
        matches!(
            self,
            From | To | CallId | CSeq | MaxForwards | ContentLength | ContentType
        )
    }

    /// The full name, for messages.
    pub fn as_str(self) -> &'static str {
        use HeaderName::*;
        match self {
            Via => "Via",
            From => "From",
            To => "To",
            CallId => "Call-ID",
            CSeq => "CSeq",
            MaxForwards => "Max-Forwards",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            Contact => "Contact",
            PAssertedIdentity => "P-Asserted-Identity",
            PPreferredIdentity => "P-Preferred-Identity",
            Identity => "Identity",
            Privacy => "Privacy",
            Diversion => "Diversion",
            HistoryInfo => "History-Info",
            Require => "Require",
            ProxyRequire => "Proxy-Require",
            Route => "Route",
            RecordRoute => "Record-Route",
            Other => "(other)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::HeaderName::{self, *};

    #[test]
    fn full_compact_and_case() {
        assert_eq!(HeaderName::parse(b"f"), From);
        assert_eq!(HeaderName::parse(b"F"), From);
        assert_eq!(HeaderName::parse(b"MaX-fOrWaRdS"), MaxForwards);
        assert_eq!(HeaderName::parse(b"i"), CallId);
        assert_eq!(HeaderName::parse(b"P-Asserted-Identity"), PAssertedIdentity);
        assert_eq!(HeaderName::parse(b"y"), Identity);
        assert_eq!(HeaderName::parse(b"k"), Other);
        assert_eq!(HeaderName::parse(b"X-Callscreen"), Other);
    }
}
