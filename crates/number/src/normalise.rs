//! Reading a caller or callee number the way it arrives in SIP.
//!
//! Accepted forms (each has a unit test below):
//! - `+31201234567`, with visual separators (`-`, `.`, space, parentheses);
//! - national `0201234567` and international `0031201234567`, read with the
//!   trunk and international prefixes of the peer's [`NumberContext`];
//! - `tel:` and `sip:`/`sips:` URIs, name-addr brackets included; the user
//!   part may carry parameters (`;npdi;rn=…`, `;cpc=ordinary`, `;isub=…`),
//!   which never become part of the number (a routing number `rn=` is not the
//!   caller);
//! - `phone-context` (RFC 3966 §5.1.5), as a URI or user-part parameter;
//! - percent-escapes, unescaped once (`%2B31…`).
//!
//! Bare digits that start with neither prefix are read as E.164 without its
//! `+` (common in carrier signalling), except in a national context for short
//! numbers of at most six digits, which are national short codes (`112`).

use super::E164;

/// How a peer writes numbers that are not in `+` form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberContext {
    /// Country code (ASCII digits) for national forms; `None` = E.164 only:
    /// national forms are then invalid.
    pub country_code: Option<String>,
    /// Trunk prefix of national numbers (`0` in most of Europe).
    pub trunk_prefix: String,
    /// International call prefix (`00` in most of the world).
    pub international_prefix: String,
}

impl NumberContext {
    /// The Dutch context: country code 31, trunk prefix `0`, international `00`.
    pub fn national(country_code: &str) -> NumberContext {
        NumberContext {
            country_code: Some(country_code.to_string()),
            trunk_prefix: "0".into(),
            international_prefix: "00".into(),
        }
    }

    /// A peer that must send E.164 (with or without the `+`).
    pub fn e164_only() -> NumberContext {
        NumberContext {
            country_code: None,
            trunk_prefix: "0".into(),
            international_prefix: "00".into(),
        }
    }
}

/// What a caller-ID field turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cli {
    /// A number, normalised to E.164.
    Number(E164),
    /// Deliberately withheld (`anonymous`, `restricted`, … or no user part).
    Withheld,
    /// Present but not readable as a number: the `invalid-cli` fact.
    Invalid,
}

impl Cli {
    pub fn number(self) -> Option<E164> {
        match self {
            Cli::Number(n) => Some(n),
            _ => None,
        }
    }
}

/// User parts that mean "no number given" rather than "a bad number".
const WITHHELD: [&str; 7] = [
    "anonymous",
    "restricted",
    "private",
    "withheld",
    "unavailable",
    "unknown",
    "",
];

/// The longest number of digits still read as a national short code.
const SHORT_CODE_MAX: usize = 6;

/// Normalises a number as it appears in SIP (a URI or a bare number) within
/// the peer's number context. Never fails: see [`Cli`].
pub fn normalise(raw: &str, ctx: &NumberContext) -> Cli {
    let Some(user) = user_part(raw) else {
        return Cli::Withheld;
    };
    let (number, phone_context) = split_user_params(user);
    let mut buf = [0u8; 64];
    let Some(number) = unescape_once(number, &mut buf) else {
        return Cli::Invalid;
    };
    if number.len() <= 11
        && WITHHELD
            .iter()
            .any(|w| w.as_bytes().eq_ignore_ascii_case(trim_ascii(number)))
    {
        return Cli::Withheld;
    }
    let mut digits = [0u8; 32];
    let Some((plus, n)) = strip_visual(number, &mut digits) else {
        return Cli::Invalid;
    };
    let digits = &digits[..n];
    if plus {
        // A global number: phone-context is ignored (RFC 3966 §5.1.5).
        return from_digits(digits);
    }
    if let Some(pc) = phone_context {
        let mut pcbuf = [0u8; 64];
        let Some(pc) = unescape_once(pc, &mut pcbuf) else {
            return Cli::Invalid;
        };
        if let Some(global) = pc.strip_prefix(b"+") {
            let mut prefix = [0u8; 32];
            let Some((_, pn)) = strip_visual(global, &mut prefix) else {
                return Cli::Invalid;
            };
            let prefix = &prefix[..pn];
            // `0201234567;phone-context=+31`: the national form of that country.
            let local = if ctx.country_code.as_deref().map(str::as_bytes) == Some(prefix)
                || prefix.len() <= 3
            {
                digits
                    .strip_prefix(ctx.trunk_prefix.as_bytes())
                    .unwrap_or(digits)
            } else {
                digits
            };
            return join(prefix, local);
        }
        // A domain-name context: the peer's own context decides.
    }
    let Some(cc) = ctx.country_code.as_deref() else {
        // E.164 only: bare digits are an international number without `+`.
        return from_digits(digits);
    };
    if !ctx.international_prefix.is_empty()
        && let Some(rest) = digits.strip_prefix(ctx.international_prefix.as_bytes())
    {
        return from_digits(rest);
    }
    if !ctx.trunk_prefix.is_empty()
        && let Some(rest) = digits.strip_prefix(ctx.trunk_prefix.as_bytes())
    {
        return join(cc.as_bytes(), rest);
    }
    if digits.len() <= SHORT_CODE_MAX {
        return join(cc.as_bytes(), digits);
    }
    from_digits(digits)
}

fn from_digits(d: &[u8]) -> Cli {
    E164::from_digits(d).map_or(Cli::Invalid, Cli::Number)
}

fn join(prefix: &[u8], rest: &[u8]) -> Cli {
    if rest.is_empty() || prefix.len() + rest.len() > 15 {
        return Cli::Invalid;
    }
    let mut b = [0u8; 15];
    b[..prefix.len()].copy_from_slice(prefix);
    b[prefix.len()..prefix.len() + rest.len()].copy_from_slice(rest);
    from_digits(&b[..prefix.len() + rest.len()])
}

/// The part of `raw` that holds the number: the user part of a SIP URI, the
/// whole of a `tel:` URI, or the string itself. `None` for a SIP URI without
/// a user part (nothing was presented).
pub fn user_part(raw: &str) -> Option<&[u8]> {
    let mut s = trim_ascii(raw.as_bytes());
    if let Some(open) = s.iter().position(|&c| c == b'<') {
        // name-addr: keep what is between the angle brackets.
        let inner = &s[open + 1..];
        s = &inner[..inner.iter().position(|&c| c == b'>').unwrap_or(inner.len())];
    }
    if let Some(rest) = strip_scheme(s, b"tel:") {
        // Drop URI headers if any; parameters are handled by the caller.
        return Some(rest);
    }
    let rest = strip_scheme(s, b"sips:").or_else(|| strip_scheme(s, b"sip:"));
    if let Some(rest) = rest {
        let at = rest.iter().position(|&c| c == b'@')?;
        return Some(&rest[..at]);
    }
    Some(s)
}

fn strip_scheme<'s>(s: &'s [u8], scheme: &[u8]) -> Option<&'s [u8]> {
    (s.len() >= scheme.len() && s[..scheme.len()].eq_ignore_ascii_case(scheme))
        .then(|| &s[scheme.len()..])
}

pub fn trim_ascii(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// Splits `0201234567;phone-context=+31;cpc=ordinary` into the number and the
/// value of its `phone-context` parameter; other parameters are dropped.
fn split_user_params(user: &[u8]) -> (&[u8], Option<&[u8]>) {
    let mut parts = user.split(|&c| c == b';');
    let number = parts.next().unwrap_or_default();
    let mut pc = None;
    for p in parts {
        let (name, value) = match p.iter().position(|&c| c == b'=') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => (p, &p[p.len()..]),
        };
        if name.trim_ascii().eq_ignore_ascii_case(b"phone-context") {
            pc = Some(value.trim_ascii());
        }
    }
    (number, pc)
}

/// Percent-unescapes once into `buf`. `None` for a malformed escape or a
/// value too long to be a number.
fn unescape_once<'b>(s: &[u8], buf: &'b mut [u8; 64]) -> Option<&'b [u8]> {
    let mut n = 0;
    let mut i = 0;
    while i < s.len() {
        let c = if s[i] == b'%' {
            let hi = hex(*s.get(i + 1)?)?;
            let lo = hex(*s.get(i + 2)?)?;
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            s[i - 1]
        };
        *buf.get_mut(n)? = c;
        n += 1;
    }
    Some(&buf[..n])
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Drops visual separators (RFC 3966 `visual-separator`, plus space). Returns
/// whether a leading `+` was present and how many digits were written; `None`
/// for any other character or more than 32 digits.
fn strip_visual(s: &[u8], out: &mut [u8; 32]) -> Option<(bool, usize)> {
    let s = trim_ascii(s);
    let (plus, s) = match s.first() {
        Some(b'+') => (true, &s[1..]),
        _ => (false, s),
    };
    let mut n = 0;
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        // "+31 (0)20 …": the bracketed trunk prefix is not dialled from abroad.
        if plus && c == b'(' && s.get(i..i + 2) == Some(b"0)") {
            i += 2;
            continue;
        }
        match c {
            b'0'..=b'9' => {
                *out.get_mut(n)? = c;
                n += 1;
            }
            b'-' | b'.' | b' ' | b'(' | b')' | b'\t' => {}
            _ => return None,
        }
    }
    (n > 0).then_some((plus, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nl() -> NumberContext {
        NumberContext::national("31")
    }

    fn num(s: &str) -> Cli {
        Cli::Number(E164::parse_plus(s).unwrap())
    }

    #[test]
    fn plus_form_and_visual_separators() {
        assert_eq!(normalise("+31201234567", &nl()), num("+31201234567"));
        assert_eq!(normalise("+31 (0)20 123 4567", &nl()), num("+31201234567"));
        assert_eq!(normalise("+31-20-123.4567", &nl()), num("+31201234567"));
        assert_eq!(normalise(" +31 (20) 123 4567 ", &nl()), num("+31201234567"));
    }

    #[test]
    fn national_and_international_prefixes_follow_the_context() {
        assert_eq!(normalise("0201234567", &nl()), num("+31201234567"));
        assert_eq!(normalise("020 123 4567", &nl()), num("+31201234567"));
        assert_eq!(normalise("0031201234567", &nl()), num("+31201234567"));
        assert_eq!(normalise("004930123456", &nl()), num("+4930123456"));
        let de = NumberContext::national("49");
        assert_eq!(normalise("030123456", &de), num("+4930123456"));
        // An E.164-only peer: national forms are not guessed.
        assert_eq!(
            normalise("0201234567", &NumberContext::e164_only()),
            Cli::Invalid
        );
        assert_eq!(
            normalise("31201234567", &NumberContext::e164_only()),
            num("+31201234567")
        );
    }

    #[test]
    fn bare_digits_and_short_codes() {
        // E.164 without '+', as many carriers send it.
        assert_eq!(normalise("14045266060", &nl()), num("+14045266060"));
        // A national short code stays national.
        assert_eq!(normalise("112", &nl()), num("+31112"));
    }

    #[test]
    fn tel_uris_and_phone_context() {
        assert_eq!(normalise("tel:+31-20-123-4567", &nl()), num("+31201234567"));
        assert_eq!(
            normalise(
                "tel:0201234567;phone-context=+31",
                &NumberContext::e164_only()
            ),
            num("+31201234567")
        );
        assert_eq!(
            normalise(
                "tel:1234567;phone-context=+3120",
                &NumberContext::e164_only()
            ),
            num("+31201234567")
        );
        // A domain context falls back to the peer's own context.
        assert_eq!(
            normalise("tel:0201234567;phone-context=example.nl", &nl()),
            num("+31201234567")
        );
        // A global number ignores phone-context.
        assert_eq!(
            normalise("tel:+4930123456;phone-context=+31", &nl()),
            num("+4930123456")
        );
        assert_eq!(normalise("<tel:+19195551002>", &nl()), num("+19195551002"));
    }

    #[test]
    fn sip_uris_with_user_part_parameters() {
        assert_eq!(
            normalise("sip:+31201234567;user=phone@host", &nl()),
            num("+31201234567")
        );
        assert_eq!(
            normalise("sip:+31201234567@host;user=phone", &nl()),
            num("+31201234567")
        );
        // Number portability: the routing number is not the caller.
        assert_eq!(
            normalise(
                "sip:+31201234567;npdi;rn=+31859999999@host;user=phone",
                &nl()
            ),
            num("+31201234567")
        );
        assert_eq!(
            normalise(
                "sips:+4199999999;cpc=ordinary@10.0.0.1;transport=udp",
                &nl()
            ),
            num("+4199999999")
        );
        assert_eq!(
            normalise(
                "sip:0201234567;phone-context=+31@example.nl;user=phone",
                &NumberContext::e164_only()
            ),
            num("+31201234567")
        );
        assert_eq!(
            normalise("\"Alice\" <sip:+31201234567@h>;tag=1", &nl()),
            num("+31201234567")
        );
    }

    #[test]
    fn percent_escapes_are_unescaped_once() {
        assert_eq!(
            normalise("sip:%2B31201234567@host", &nl()),
            num("+31201234567")
        );
        assert_eq!(
            normalise("sip:%2B31%20201234567@h", &nl()),
            num("+31201234567")
        );
        // Twice-escaped stays escaped once: "%2B" is not a number.
        assert_eq!(normalise("sip:%252B31201234567@host", &nl()), Cli::Invalid);
        assert_eq!(normalise("sip:%2@host", &nl()), Cli::Invalid);
    }

    #[test]
    fn withheld_and_invalid() {
        assert_eq!(
            normalise("sip:anonymous@anonymous.invalid", &nl()),
            Cli::Withheld
        );
        assert_eq!(normalise("sip:Restricted@host", &nl()), Cli::Withheld);
        assert_eq!(normalise("sip:example.com", &nl()), Cli::Withheld);
        assert_eq!(normalise("sip:alice@example.com", &nl()), Cli::Invalid);
        assert_eq!(normalise("sip:WeSellPizza@p2.isp.com", &nl()), Cli::Invalid);
        assert_eq!(normalise("+31*20", &nl()), Cli::Invalid);
        assert_eq!(normalise("+", &nl()), Cli::Invalid);
        assert_eq!(normalise("+1234567890123456", &nl()), Cli::Invalid);
        assert_eq!(normalise("0", &nl()), Cli::Invalid);
        assert_eq!(normalise("+0201234567", &nl()), Cli::Invalid);
    }

    /// The awkward caller IDs of the carrier INVITEs in `fixtures/invites/`.
    #[test]
    fn carrier_invite_forms() {
        // resiprocate NGN (India): trunk-prefix national form in an Indian context.
        let india = NumberContext::national("91");
        assert_eq!(
            normalise("sip:09582369046@10.60.65.26;user=phone", &india),
            num("+919582369046")
        );
        assert_eq!(
            normalise("sip:00911206930000@10.52.83.198;user=phone", &india),
            num("+911206930000")
        );
        // The same From in a Dutch context is still read by the prefix rules.
        assert_eq!(
            normalise("sip:09582369046@10.60.65.26;user=phone", &nl()),
            num("+319582369046")
        );
        // PortSIP: E.164 without '+'.
        assert_eq!(
            normalise("sip:14045266060@5.6.7.8:5060", &NumberContext::e164_only()),
            num("+14045266060")
        );
        // sipsorcery: cpc inside the user part.
        assert_eq!(
            normalise(
                "sip:+4188888888;cpc=ordinary@10.0.0.1;transport=udp;user=phone",
                &nl()
            ),
            num("+4188888888")
        );
    }
}
