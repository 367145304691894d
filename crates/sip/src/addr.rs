//! Header value views: comma-separated lists, name-addr / addr-spec
//! (From, To, Contact, P-Asserted-Identity, Diversion, History-Info) and
//! URI parts. Line breaks of folded headers count as white space.

use std::borrow::Cow;

/// White space inside a header value (folding included).
pub fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

pub fn trim_lws(s: &[u8]) -> &[u8] {
    let a = s.iter().position(|&c| !is_lws(c)).unwrap_or(s.len());
    let b = s.iter().rposition(|&c| !is_lws(c)).map_or(a, |i| i + 1);
    &s[a..b]
}

fn is_token(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c)
}

/// Splits a header value at top-level commas (not inside quotes or `<>`).
/// Empty elements are kept, so the caller can refuse them.
pub fn split_list(v: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(v);
    std::iter::from_fn(move || {
        let s = rest?;
        // Most values hold one element, or nothing that quotes or brackets
        // before their first comma.
        let comma = match memchr::memchr(b',', s) {
            Some(i) if memchr::memchr2(b'"', b'<', &s[..i]).is_some() => top_level_comma(s),
            found => found,
        };
        Some(trim_lws(match comma {
            Some(i) => {
                rest = Some(&s[i + 1..]);
                &s[..i]
            }
            None => {
                rest = None;
                s
            }
        }))
    })
}

/// The first comma of `s` outside quotes (with `\\` escapes) and `<>`.
fn top_level_comma(s: &[u8]) -> Option<usize> {
    first_outside(s, Some(b','), true).ok()
}

/// Walks `s` as RFC 3261 quotes it (`\\` escapes inside a quoted string):
/// `Ok` with the index of the first `sep` outside quoted strings (and
/// outside `<>` when `angles`); else `Err` with whether a quoted string was
/// left open.
fn first_outside(s: &[u8], sep: Option<u8>, angles: bool) -> Result<usize, bool> {
    let (mut quoted, mut angle, mut esc) = (false, false, false);
    for (i, &c) in s.iter().enumerate() {
        if esc {
            esc = false;
            continue;
        }
        match c {
            b'\\' if quoted => esc = true,
            b'"' => quoted = !quoted,
            b'<' if angles && !quoted => angle = true,
            b'>' if angles && !quoted => angle = false,
            _ if Some(c) == sep && !quoted && !angle => return Ok(i),
            _ => {}
        }
    }
    Err(quoted)
}

/// A parsed name-addr or addr-spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name, unquoted and unescaped (`None` when absent).
    pub display: Option<Cow<'a, str>>,
    /// The URI, without angle brackets.
    pub uri: &'a [u8],
    /// The header parameters after the address (`;tag=…;…`), starting at the first `;`.
    pub params: &'a [u8],
}

impl<'a> NameAddr<'a> {
    /// A header parameter's value (`Some(b"")` for a parameter without value).
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        param(self.params, name)
    }
}

/// Finds a `;name[=value]` parameter (case-insensitive name) in `params`.
pub fn param<'a>(params: &'a [u8], name: &str) -> Option<&'a [u8]> {
    for p in split_params(params) {
        let (n, v) = match p.iter().position(|&c| c == b'=') {
            Some(i) => (trim_lws(&p[..i]), trim_lws(&p[i + 1..])),
            None => (trim_lws(p), &p[p.len()..]),
        };
        if n.eq_ignore_ascii_case(name.as_bytes()) {
            let v = v
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v);
            return Some(v);
        }
    }
    None
}

/// Checks `;name[=value]` parameters: every name a token, every value a token,
/// host or quoted string; nothing empty (RFC 3261 §25.1 `generic-param`).
fn check_params(p: &[u8]) -> Result<(), &'static str> {
    let p = trim_lws(p);
    if p.is_empty() {
        return Ok(());
    }
    let Some(rest) = p.strip_prefix(b";") else {
        return Err("unexpected text after the address");
    };
    if quote_left_open(rest) {
        return Err("unterminated quoted string in a parameter");
    }
    split_params(rest).try_for_each(check_param)
}

/// Whether a quoted string in `p` is never closed (`\\"` inside one is a
/// `quoted-pair`, not its end).
fn quote_left_open(p: &[u8]) -> bool {
    first_outside(p, None, false) == Err(true)
}

/// Splits parameters at the semicolons outside quoted strings (RFC 3261
/// §25.1: a `quoted-string` may hold `;`, and `\"` as a `quoted-pair`).
fn split_params(p: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(p);
    std::iter::from_fn(move || {
        let s = rest?;
        Some(match first_outside(s, Some(b';'), false).ok() {
            Some(i) => {
                rest = Some(&s[i + 1..]);
                &s[..i]
            }
            None => {
                rest = None;
                s
            }
        })
    })
}

/// One `name[=value]` of `check_params`.
fn check_param(part: &[u8]) -> Result<(), &'static str> {
    let (n, v) = match part.iter().position(|&c| c == b'=') {
        Some(i) => (trim_lws(&part[..i]), Some(trim_lws(&part[i + 1..]))),
        None => (trim_lws(part), None),
    };
    if n.is_empty() || !n.iter().all(|&c| is_token(c)) {
        return Err("empty or malformed parameter");
    }
    if let Some(v) = v {
        let ok = if v.first() == Some(&b'"') {
            v.len() >= 2 && v.last() == Some(&b'"')
        } else {
            !v.is_empty()
                && v.iter()
                    .all(|&c| is_token(c) || c == b':' || c == b'[' || c == b']')
        };
        if !ok {
            return Err("malformed parameter value");
        }
    }
    Ok(())
}

fn unescape_quoted(inner: &[u8]) -> Cow<'_, str> {
    if !inner.contains(&b'\\') {
        return String::from_utf8_lossy(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut esc = false;
    for &c in inner {
        if esc {
            out.push(c);
            esc = false;
        } else if c == b'\\' {
            esc = true;
        } else {
            out.push(c);
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// True when `uri` starts with a URI scheme (`ALPHA *(ALPHA / DIGIT / + - .) ":"`).
fn has_scheme(uri: &[u8]) -> bool {
    let Some(colon) = uri.iter().position(|&c| c == b':') else {
        return false;
    };
    colon > 0
        && uri[0].is_ascii_alphabetic()
        && uri[..colon]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"+-.".contains(&c))
}

/// Parses one name-addr (`"Name" <uri>;params`, `Name <uri>`) or addr-spec
/// (`uri;params`, whose parameters belong to the header, RFC 3261 §20.10).
pub fn parse_name_addr(v: &[u8]) -> Result<NameAddr<'_>, &'static str> {
    let v = trim_lws(v);
    if v.is_empty() {
        return Err("empty address");
    }
    let mut display = None;
    let mut i;
    if v[0] == b'"' {
        let mut esc = false;
        let mut end = None;
        for (j, &c) in v.iter().enumerate().skip(1) {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                end = Some(j);
                break;
            }
        }
        let end = end.ok_or("unterminated quoted display name")?;
        display = Some(unescape_quoted(&v[1..end]));
        i = end + 1;
        while i < v.len() && is_lws(v[i]) {
            i += 1;
        }
        if v.get(i) != Some(&b'<') {
            return Err("quoted display name not followed by <uri>");
        }
    } else if let Some(lt) = v.iter().position(|&c| c == b'<') {
        let name = trim_lws(&v[..lt]);
        if !name.iter().all(|&c| is_token(c) || is_lws(c)) {
            return Err("display name with characters that need quotes");
        }
        if !name.is_empty() {
            display = Some(String::from_utf8_lossy(name));
        }
        i = lt;
    } else {
        // addr-spec: the URI runs to the first ';'.
        let end = v.iter().position(|&c| c == b';').unwrap_or(v.len());
        let uri = trim_lws(&v[..end]);
        if uri.iter().any(|&c| is_lws(c) || c == b'>' || c == b'"') || !has_scheme(uri) {
            return Err("malformed address");
        }
        check_params(&v[end..])?;
        return Ok(NameAddr {
            display: None,
            uri,
            params: &v[end..],
        });
    }
    // v[i] == '<'
    let rest = &v[i + 1..];
    let gt = rest.iter().position(|&c| c == b'>').ok_or("missing '>'")?;
    let uri = &rest[..gt];
    if uri.is_empty() || uri.iter().any(|&c| is_lws(c)) || !has_scheme(uri) {
        return Err("malformed URI inside <>");
    }
    let params = &rest[gt + 1..];
    check_params(params)?;
    Ok(NameAddr {
        display,
        uri,
        params: trim_lws(params),
    })
}

/// The parts of a URI that callscreen reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uri<'a> {
    /// `sip`, `sips`, `tel`, `urn` … (as written).
    pub scheme: &'a [u8],
    /// The user part of a sip/sips URI, or the number of a tel URI
    /// (parameters inside it included).
    pub user: Option<&'a [u8]>,
    /// host[:port] of a sip/sips URI.
    pub host: &'a [u8],
    /// URI parameters (`;user=phone;tgrp=…`), from the first `;` after the host.
    pub params: &'a [u8],
}

impl<'a> Uri<'a> {
    pub fn parse(u: &'a [u8]) -> Option<Uri<'a>> {
        let colon = u.iter().position(|&c| c == b':')?;
        let scheme = &u[..colon];
        let rest = &u[colon + 1..];
        let rest = &rest[..rest.iter().position(|&c| c == b'?').unwrap_or(rest.len())];
        if scheme.eq_ignore_ascii_case(b"sip") || scheme.eq_ignore_ascii_case(b"sips") {
            let (user, hp) = match rest.iter().rposition(|&c| c == b'@') {
                Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
                None => (None, rest),
            };
            let semi = hp.iter().position(|&c| c == b';').unwrap_or(hp.len());
            Some(Uri {
                scheme,
                user,
                host: &hp[..semi],
                params: &hp[semi..],
            })
        } else if scheme.eq_ignore_ascii_case(b"tel") {
            let semi = rest.iter().position(|&c| c == b';').unwrap_or(rest.len());
            Some(Uri {
                scheme,
                user: Some(rest),
                host: &[],
                params: &rest[semi..],
            })
        } else {
            Some(Uri {
                scheme,
                user: None,
                host: &[],
                params: &[],
            })
        }
    }

    /// A URI parameter, or a parameter inside the user part (RFC 4904 puts
    /// `tgrp` and `trunk-context` there).
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        param(self.params, name).or_else(|| {
            let user = self.user?;
            let semi = user.iter().position(|&c| c == b';')?;
            param(&user[semi..], name)
        })
    }
}

/// Whether a URI's bytes stay within RFC 3261's grammar (§25.1): printable
/// ASCII, and `%` only as the start of an escape (`%HH`). Anything else
/// (bytes of 0x80 and above, controls, space, `"`, `<`, `>`, `\`, `^`, `` ` ``,
/// `{`, `|`, `}`) must be escaped in a URI, and a request that carries it is
/// refused with 400 rather than screened or echoed.
pub fn uri_bytes_ok(uri: &[u8]) -> bool {
    let mut i = 0;
    while i < uri.len() {
        let c = uri[i];
        match c {
            b'%' => {
                let hex = |k: usize| uri.get(k).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    return false;
                }
                i += 3;
                continue;
            }
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}' => return false,
            0x21..=0x7e => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_addr_forms() {
        let a = parse_name_addr(
            b"\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        assert_eq!(a.display.as_deref(), Some("J Rosenberg \\\""));
        assert_eq!(a.uri, b"sip:jdrosen@example.com");
        assert_eq!(a.param("tag"), Some(&b"98asjd8"[..]));
        let a = parse_name_addr(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(
            (a.display.as_deref(), a.uri),
            (Some("caller"), &b"sip:caller@example.com"[..])
        );
        let a =
            parse_name_addr(b"sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(
            (a.display.clone(), a.uri),
            (None, &b"sip:vivekg@chair-dnrc.example.com"[..])
        );
        assert_eq!(a.param("tag"), Some(&b"1918181833n"[..]));
        let a =
            parse_name_addr(b"<sip:+4199999999;cpc=ordinary@10.0.0.1;transport=udp;user=phone>")
                .unwrap();
        assert_eq!(
            a.uri,
            b"sip:+4199999999;cpc=ordinary@10.0.0.1;transport=udp;user=phone"
        );
        let a = parse_name_addr(b"Microsoft Support <tel:+31201234567>").unwrap();
        assert_eq!(a.display.as_deref(), Some("Microsoft Support"));
        assert!(parse_name_addr(b"<http://www.example.com>").is_ok());
    }

    #[test]
    fn malformed_addresses() {
        for bad in [
            &b"\"Mr. J. User <sip:j.user@example.com>"[..],
            b"Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43",
            b"\"Watson, Thomas\" < sip:t.watson@example.org >",
            b"\"Joe\" <sip:joe@example.org>;;;;",
            b"<sip:a@b",
            b"",
            b"no-scheme-here",
        ] {
            assert!(
                parse_name_addr(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn lists_split_outside_quotes_and_brackets() {
        let v = b"<sip:+4199999999;cpc=ordinary@10.0.0.1>, \"a, b\" <sip:x@y>, <sip:z@w?h=1,2>";
        let parts: Vec<_> = split_list(v).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[1], b"\"a, b\" <sip:x@y>");
        assert_eq!(split_list(b"a,,b").count(), 3);
    }

    #[test]
    fn header_parameters_are_checked_one_by_one() {
        let ok = parse_name_addr(b"<sip:a@b>;tag=1;x=\"a;b\";lr;maddr=[2001:db8::1]").unwrap();
        assert_eq!(ok.param("x"), Some(&b"a;b"[..]));
        // A quoted `;tag=` is the value of another parameter, not the tag.
        let tricky = parse_name_addr(b"<sip:a@b>;x=\"q\\\";tag=evil\";tag=real").unwrap();
        assert_eq!(tricky.param("tag"), Some(&b"real"[..]));
        for (bad, why) in [
            (
                &b"<sip:a@b>;tag=1;x=\"a;b"[..],
                "unterminated quoted string in a parameter",
            ),
            (b"<sip:a@b>;tag=1;;x=2", "empty or malformed parameter"),
            (b"<sip:a@b>;tag=1;x=", "malformed parameter value"),
            (b"<sip:a@b>;t@g=1", "empty or malformed parameter"),
            (b"<sip:a@b>;tag=a b", "malformed parameter value"),
            (b"<sip:a@b>;tag=1;", "empty or malformed parameter"),
        ] {
            assert_eq!(
                parse_name_addr(bad).err(),
                Some(why),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// The split with every comma found by the walk, as RFC 3261 §7.3.1
    /// reads a list: what `split_list`'s shortcut must match.
    fn split_slowly(v: &[u8]) -> Vec<&[u8]> {
        let (mut out, mut s) = (Vec::new(), v);
        while let Some(i) = top_level_comma(s) {
            out.push(trim_lws(&s[..i]));
            s = &s[i + 1..];
        }
        out.push(trim_lws(s));
        out
    }

    #[test]
    fn the_list_shortcut_splits_as_a_byte_at_a_time_would() {
        for v in [
            &b""[..],
            b" , ",
            b"SIP/2.0/UDP a;branch=z9hG4bK1",
            b"SIP/2.0/UDP a;branch=1 , SIP/2.0/TCP b;received=1.2.3.4",
            b"a, \"b, c\" <sip:x@y>, d",
            b"\"q\\\", x\" <sip:a@b>, <sip:c@d;p=1,2>",
            b"<sip:a@b>, c>, d",
            b"x>, <y, z>, w",
            b"\"unterminated, a, b",
            b"<unclosed, a",
            b"a,b,c,,",
        ] {
            let fast: Vec<&[u8]> = split_list(v).collect();
            assert_eq!(fast, split_slowly(v), "{}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn uri_parts() {
        let u = Uri::parse(b"sip:+31201234567;tgrp=intl1;trunk-context=example.net@sbc.example.net:5060;user=phone").unwrap();
        assert_eq!(
            u.user,
            Some(&b"+31201234567;tgrp=intl1;trunk-context=example.net"[..])
        );
        assert_eq!(u.host, b"sbc.example.net:5060");
        assert_eq!(u.param("tgrp"), Some(&b"intl1"[..]));
        assert_eq!(u.param("user"), Some(&b"phone"[..]));
        let u = Uri::parse(b"sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
        let u = Uri::parse(b"tel:+31201234567;tgrp=kpn").unwrap();
        assert_eq!(u.param("tgrp"), Some(&b"kpn"[..]));
        assert_eq!(Uri::parse(b"urn:service:sos").unwrap().scheme, b"urn");
    }

    #[test]
    fn every_byte_of_a_uri_is_classed_as_rfc_3261_says() {
        for c in 0..=255u8 {
            let plain = (0x21..=0x7e).contains(&c) && !b"\"<>\\^`{|}%".contains(&c);
            assert_eq!(uri_bytes_ok(&[b'a', c, b'b']), plain, "byte {c:#04x}");
        }
        assert!(uri_bytes_ok(b"sip:%41b@c%2fd"));
        for bad in [&b"sip:%4"[..], b"sip:%", b"sip:%zz@a", b"sip:%4g@a"] {
            assert!(!uri_bytes_ok(bad), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn uri_bytes_outside_the_grammar_are_told() {
        for ok in [
            &b"sip:+31104567890@cs.example;user=phone"[..],
            b"sip:%61lice@[2001:db8::1]:5060;transport=tcp",
            b"tel:+31-20-123-4567;phone-context=+31",
            b"sip:user;par=u%40example.net@example.com",
        ] {
            assert!(uri_bytes_ok(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"sip:+3110\xff4567890@example.com;user=phone"[..],
            b"sip:\xc3\x28@example.com",
            "sip:j\u{fc}rgen@example.com".as_bytes(),
            b"sip:a b@example.com",
            b"sip:a\x00b@example.com",
            b"sip:a%4@example.com",
            b"sip:a%zz@example.com",
            b"sip:<a>@example.com",
            b"sip:a\"b@example.com",
        ] {
            assert!(!uri_bytes_ok(bad), "{}", String::from_utf8_lossy(bad));
        }
    }
}
