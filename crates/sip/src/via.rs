//! The Via header: sent-protocol, sent-by and parameters (RFC 3261 §20.42),
//! read with white space allowed around the separators.

use super::addr::{is_lws, param, split_list, trim_lws};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    /// `UDP`, `TCP`, `TLS`, … (as written).
    pub transport: &'a [u8],
    /// sent-by host (an IPv6 reference keeps its brackets).
    pub host: &'a [u8],
    pub port: Option<u16>,
    /// Parameters from the first `;`.
    pub params: &'a [u8],
}

impl<'a> Via<'a> {
    pub fn param(&self, name: &str) -> Option<&'a [u8]> {
        param(self.params, name)
    }

    /// The host without IPv6 brackets.
    pub fn host_bare(&self) -> &'a [u8] {
        self.host
            .strip_prefix(b"[")
            .and_then(|h| h.strip_suffix(b"]"))
            .unwrap_or(self.host)
    }
}

fn token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&c| c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c))
}

/// Parses one via-parm.
pub fn parse_via(v: &[u8]) -> Result<Via<'_>, &'static str> {
    const BAD: &str = "malformed Via";
    let v = trim_lws(v);
    let mut parts = v.splitn(3, |&c| c == b'/');
    let (Some(name), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(BAD);
    };
    if !trim_lws(name).eq_ignore_ascii_case(b"SIP") || trim_lws(version) != b"2.0" {
        return Err(BAD);
    }
    let rest = trim_lws(rest);
    let t_end = rest.iter().position(|&c| is_lws(c)).ok_or(BAD)?;
    let transport = &rest[..t_end];
    if !token(transport) {
        return Err(BAD);
    }
    let rest = trim_lws(&rest[t_end..]);
    let semi = rest.iter().position(|&c| c == b';').unwrap_or(rest.len());
    let sent_by = trim_lws(&rest[..semi]);
    let params = &rest[semi..];
    let (host, port) = if sent_by.first() == Some(&b'[') {
        let close = sent_by.iter().position(|&c| c == b']').ok_or(BAD)?;
        (&sent_by[..=close], &sent_by[close + 1..])
    } else {
        match sent_by.iter().position(|&c| c == b':') {
            Some(i) => (&sent_by[..i], &sent_by[i..]),
            None => (sent_by, &sent_by[sent_by.len()..]),
        }
    };
    let host = trim_lws(host);
    if host.is_empty() || host.iter().any(|&c| is_lws(c)) {
        return Err(BAD);
    }
    let port = match trim_lws(port).strip_prefix(b":") {
        None if trim_lws(port).is_empty() => None,
        None => return Err(BAD),
        Some(p) => Some(
            std::str::from_utf8(trim_lws(p))
                .ok()
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or(BAD)?,
        ),
    };
    // Every parameter needs a name; values may be empty only for rport/branch-less forms.
    if !trim_lws(params).is_empty() {
        for p in trim_lws(params)[1..].split(|&c| c == b';') {
            let n = match p.iter().position(|&c| c == b'=') {
                Some(i) => trim_lws(&p[..i]),
                None => trim_lws(p),
            };
            if !token(n) {
                return Err(BAD);
            }
        }
    }
    Ok(Via {
        transport,
        host,
        port,
        params,
    })
}

/// Every via-parm of a Via header value; an empty element is an error.
pub fn parse_vias(v: &[u8]) -> impl Iterator<Item = Result<Via<'_>, &'static str>> {
    split_list(v).map(|e| {
        if e.is_empty() {
            Err("empty Via element")
        } else {
            parse_via(e)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_forms() {
        let v = parse_via(b"SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1;rport").unwrap();
        assert_eq!(
            (v.transport, v.host, v.port),
            (&b"UDP"[..], &b"192.0.2.1"[..], Some(5070))
        );
        assert_eq!(v.param("branch"), Some(&b"z9hG4bK1"[..]));
        assert_eq!(v.param("rport"), Some(&b""[..]));
        let v = parse_via(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(
            (v.transport, v.host, v.port),
            (&b"UDP"[..], &b"192.0.2.2"[..], None)
        );
        let v = parse_via(b"SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKa").unwrap();
        assert_eq!((v.host_bare(), v.port), (&b"2001:db8::9"[..], Some(5061)));
        let all: Vec<_> = parse_vias(
            b"SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239, SIP/2.0/SCTP h",
        )
        .collect();
        assert!(all.iter().all(Result::is_ok), "{all:?}");
        assert_eq!(all[0].unwrap().param("branch"), Some(&b"z9hG4bK30239"[..]));
    }

    #[test]
    fn malformed_vias() {
        assert!(parse_vias(b"SIP/2.0/UDP 192.0.2.15;;,;,,").any(|v| v.is_err()));
        assert!(parse_via(b"SIP/2.0/UDP").is_err());
        assert!(parse_via(b"SIP/3.0/UDP h").is_err());
        assert!(parse_via(b"SIP/2.0/UDP h:99999").is_err());
    }
}
