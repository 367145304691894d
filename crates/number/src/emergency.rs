//! Recognising a call *to* an emergency number from the raw Request-URI (or
//! callee string), before any normalisation: such a call is never rejected,
//! tagged, rate-limited or shed.

use super::normalise::{trim_ascii, user_part};

/// Emergency numbers and routing prefixes (from config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmergencyNumbers {
    /// Short numbers dialled for emergencies: `112`, `911`, `999` …
    pub numbers: Vec<String>,
    /// Prefixes the network routes emergency calls with (e.g. a PSAP routing
    /// prefix); any callee starting with one is an emergency call.
    pub routing_prefixes: Vec<String>,
    /// Home country code, so that `+31112` counts as `112`.
    pub country_code: Option<String>,
}

impl Default for EmergencyNumbers {
    fn default() -> Self {
        EmergencyNumbers {
            numbers: vec!["112".into(), "911".into(), "999".into()],
            routing_prefixes: Vec::new(),
            country_code: Some("31".into()),
        }
    }
}

impl EmergencyNumbers {
    /// True when `raw` (a Request-URI, To URI or bare number) is an emergency
    /// destination: `urn:service:sos[.*]` (RFC 5031), an emergency number in
    /// any `sip:`/`tel:` form (`tel:112;phone-context=…` included), the same in
    /// the home country's E.164 form, or a configured routing prefix.
    pub fn is_emergency(&self, raw: &str) -> bool {
        let t = trim_ascii(raw.as_bytes());
        let t = t.strip_prefix(b"<").unwrap_or(t);
        if t.len() >= 15 && t[..15].eq_ignore_ascii_case(b"urn:service:sos") {
            return matches!(t.get(15), None | Some(b'.') | Some(b'>'));
        }
        let Some(user) = user_part(raw) else {
            return false;
        };
        let number = user.split(|&c| c == b';').next().unwrap_or_default();
        let mut digits = [0u8; 32];
        let mut n = 0;
        let mut plus = false;
        for &c in trim_ascii(number) {
            match c {
                b'0'..=b'9' if n < digits.len() => {
                    digits[n] = c;
                    n += 1;
                }
                b'+' if n == 0 => plus = true,
                b'-' | b'.' | b' ' | b'(' | b')' => {}
                _ => return false,
            }
        }
        let mut d = &digits[..n];
        if d.is_empty() {
            return false;
        }
        if plus {
            match self.country_code.as_deref() {
                Some(cc) if d.starts_with(cc.as_bytes()) => d = &d[cc.len()..],
                _ => return false,
            }
        }
        self.numbers.iter().any(|e| e.as_bytes() == d)
            || (!plus
                && self
                    .routing_prefixes
                    .iter()
                    .any(|p| !p.is_empty() && d.starts_with(p.as_bytes())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emergency_destinations() {
        let mut e = EmergencyNumbers::default();
        e.routing_prefixes.push("1120".into());
        for raw in [
            "112",
            "sip:112@ims.example.nl;user=phone",
            "tel:112;phone-context=+31",
            "tel:112",
            "sip:911@host",
            "urn:service:sos",
            "urn:service:sos.police",
            "<urn:service:sos.ambulance>",
            "+31112",
            "sip:+31112@host",
            "sip:11200201234567@host",
        ] {
            assert!(e.is_emergency(raw), "{raw} is an emergency call");
        }
        for raw in [
            "+31104567890",
            "sip:1121@host",
            "sip:0112@host",
            "+4930112",
            "urn:service:sosx",
            "urn:service:counseling",
            "sip:alice@host",
            "sip:host",
            "+1112",
        ] {
            assert!(!e.is_emergency(raw), "{raw} is not an emergency call");
        }
    }
}
