//! Fetching an `x5u` certificate. The URL is chosen by whoever made the
//! call, so the fetch is guarded: `https` only, no redirects, a host on the
//! allow-list when one is configured, no loopback, private, link-local or
//! other non-public address unless its network is allowed, at most 16 KiB,
//! within a time limit, and connected to the very address that was checked
//! (a name that resolves differently a moment later changes nothing).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;

use crate::cidr::Cidr;

/// The most an `x5u` response may hold.
pub const MAX_BYTES: usize = 16 * 1024;

/// What may be fetched, and how.
#[derive(Clone, Debug)]
pub struct FetchRules {
    /// The whole fetch: resolving, connecting, TLS, the response.
    pub timeout: Duration,
    /// Hosts an `x5u` may name (lower case); empty: any public host.
    pub allow_hosts: Vec<String>,
    /// Networks a host may resolve into although they are not public
    /// (loopback, private, link-local …).
    pub allow_networks: Vec<Cidr>,
}

/// What a fetch takes: `x5u` certificates ([`MAX_BYTES`]) and CRLs
/// (`[stir] crl_max_bytes`), with the same guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Body {
    Certificate,
    Crl(usize),
    /// What a Rich Call Data URL refers to (a logo, a jCard), up to this
    /// many bytes.
    Content(usize),
}

impl Body {
    fn limit(self) -> usize {
        match self {
            Body::Certificate => MAX_BYTES,
            Body::Crl(n) | Body::Content(n) => n,
        }
    }

    fn accept(self) -> &'static str {
        match self {
            Body::Certificate => "application/pem-certificate-chain, application/pkix-cert",
            Body::Crl(_) => "application/pkix-crl",
            Body::Content(_) => "*/*",
        }
    }
}

/// Why a fetch gave no certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// Not `https://host[:port]/path`.
    BadUrl,
    HostNotAllowed,
    /// Every address of the host is loopback, private, link-local or otherwise not public.
    AddressNotAllowed,
    Resolve(String),
    Connect(String),
    Tls(String),
    /// A status other than 200 (a redirect included: never followed).
    Status(u16),
    /// Over the size limit (of a certificate, or `crl_max_bytes`).
    TooLarge(usize),
    Http(String),
    Timeout,
}

impl FetchError {
    /// Whether the failure is the origin's (so other URLs on the same host
    /// and port would fail too): cached by origin, not only by URL.
    pub fn host_wide(&self) -> bool {
        matches!(
            self,
            FetchError::HostNotAllowed
                | FetchError::AddressNotAllowed
                | FetchError::Resolve(_)
                | FetchError::Connect(_)
                | FetchError::Tls(_)
                | FetchError::Timeout
        )
    }
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::BadUrl => f.write_str("not an https URL"),
            FetchError::HostNotAllowed => f.write_str("host not in [stir] x5u_allow_hosts"),
            FetchError::AddressNotAllowed => f.write_str(
                "the host resolves only to non-public addresses (allow them in [stir] x5u_allow_networks)",
            ),
            FetchError::Resolve(e) => write!(f, "cannot resolve: {e}"),
            FetchError::Connect(e) => write!(f, "cannot connect: {e}"),
            FetchError::Tls(e) => write!(f, "TLS: {e}"),
            FetchError::Status(s) => write!(f, "HTTP status {s} (redirects are not followed)"),
            FetchError::TooLarge(n) => write!(f, "response over {n} bytes"),
            FetchError::Http(e) => write!(f, "HTTP: {e}"),
            FetchError::Timeout => f.write_str("timed out"),
        }
    }
}

/// The parts of an `x5u` URL a fetch needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// Lower case, without brackets for IPv6.
    pub host: String,
    pub port: u16,
    /// The path and query, from the first `/`.
    pub path: String,
}

impl Url {
    /// The origin (host and port) a failure is remembered for: a dead port
    /// says nothing of another port of the same host.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn parse(url: &str) -> Result<Url, FetchError> {
        let rest = url
            .get(..8)
            .filter(|s| s.eq_ignore_ascii_case("https://"))
            .map(|_| &url[8..])
            .ok_or(FetchError::BadUrl)?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') || path.contains(['#', ' ']) {
            return Err(FetchError::BadUrl);
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or(FetchError::BadUrl)?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| FetchError::BadUrl)?,
                None if after.is_empty() => 443,
                None => return Err(FetchError::BadUrl),
            };
            (h, port)
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, p.parse().map_err(|_| FetchError::BadUrl)?),
                None => (authority, 443),
            }
        };
        if host.is_empty() {
            return Err(FetchError::BadUrl);
        }
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path.to_string()
        };
        Ok(Url {
            host: host.to_ascii_lowercase(),
            port,
            path,
        })
    }
}

/// Whether `ip` is a public unicast address.
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

/// A successful fetch: the body, and how long it may be kept by its
/// `Cache-Control` (`None`: the header does not say; zero: not at all).
#[derive(Debug)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub max_age: Option<Duration>,
}

/// Reads `Cache-Control`: `no-store` or `no-cache` keep nothing, `max-age`
/// (or `s-maxage`, which wins, RFC 9111 §5.2.2.10) keeps that long.
pub fn cache_control(value: &str) -> Option<Duration> {
    let mut max_age = None;
    let mut shared = None;
    for d in value.split(',') {
        let d = d.trim().to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" || d == "private" {
            return Some(Duration::ZERO);
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse().ok().map(Duration::from_secs);
        } else if let Some(v) = d.strip_prefix("s-maxage=") {
            shared = v.trim_matches('"').parse().ok().map(Duration::from_secs);
        }
    }
    shared.or(max_age)
}

/// A TCP connection to the first of `addrs` that accepts one; else the
/// last error.
pub async fn connect_first(addrs: &[SocketAddr]) -> Result<tokio::net::TcpStream, String> {
    let mut last = String::from("no address");
    for a in addrs {
        match tokio::net::TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// Fetches `url` under `rules`, trusting the HTTPS servers `tls` trusts.
pub async fn fetch(
    url: &Url,
    rules: &FetchRules,
    tls: Arc<rustls::ClientConfig>,
    what: Body,
) -> Result<Fetched, FetchError> {
    match tokio::time::timeout(rules.timeout, fetch_inner(url, rules, tls, what)).await {
        Ok(r) => r,
        Err(_) => Err(FetchError::Timeout),
    }
}

async fn fetch_inner(
    url: &Url,
    rules: &FetchRules,
    tls: Arc<rustls::ClientConfig>,
    what: Body,
) -> Result<Fetched, FetchError> {
    if !rules.allow_hosts.is_empty() && !rules.allow_hosts.contains(&url.host) {
        return Err(FetchError::HostNotAllowed);
    }
    let addrs: Vec<SocketAddr> = match url.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, url.port)],
        Err(_) => tokio::net::lookup_host((url.host.as_str(), url.port))
            .await
            .map_err(|e| FetchError::Resolve(e.to_string()))?
            .collect(),
    };
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| public(a.ip()) || rules.allow_networks.iter().any(|n| n.contains(a.ip())))
        .collect();
    if allowed.is_empty() {
        return Err(FetchError::AddressNotAllowed);
    }
    let tcp = connect_first(&allowed).await.map_err(FetchError::Connect)?;
    let name =
        ServerName::try_from(url.host.clone()).map_err(|e| FetchError::Tls(e.to_string()))?;
    let stream = tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
        .map_err(|e| FetchError::Tls(e.to_string()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let conn = tokio::spawn(conn);
    let authority = if url.port == 443 {
        url.host.clone()
    } else if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let req = hyper::Request::get(url.path.as_str())
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, what.accept())
        .header(hyper::header::USER_AGENT, "callscreen")
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let status = resp.status().as_u16();
    if status != 200 {
        conn.abort();
        return Err(FetchError::Status(status));
    }
    let max_age = resp
        .headers()
        .get_all(hyper::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(cache_control)
        .min();
    let declared = resp
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let limit = what.limit();
    if declared.is_some_and(|n| n > limit) {
        conn.abort();
        return Err(FetchError::TooLarge(limit));
    }
    let body = Limited::new(resp.into_body(), limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                FetchError::TooLarge(limit)
            } else {
                FetchError::Http(e.to_string())
            }
        })?
        .to_bytes();
    conn.abort();
    Ok(Fetched {
        body: body.to_vec(),
        max_age,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("https://Cert.Example.org/sti/a.pem?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("cert.example.org", 443, "/sti/a.pem?x=1")
        );
        let u = Url::parse("https://[::1]:8443/c").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 8443));
        assert_eq!(Url::parse("https://h").unwrap().path, "/");
        for bad in [
            "http://h/c.pem",
            "https:///c",
            "https://u@h/c",
            "https://h:x/c",
            "ftp://h",
            "https://[::1/c",
        ] {
            assert_eq!(Url::parse(bad), Err(FetchError::BadUrl), "{bad}");
        }
    }

    #[test]
    fn public_addresses() {
        for ip in ["8.8.8.8", "2a00:1450::1", "193.0.14.129"] {
            assert!(public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "224.0.0.1",
        ] {
            assert!(!public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn cache_control_directives() {
        assert_eq!(cache_control("max-age=600"), Some(Duration::from_secs(600)));
        assert_eq!(
            cache_control("public, max-age=60, s-maxage=120"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(cache_control("no-store"), Some(Duration::ZERO));
        assert_eq!(cache_control("public"), None);
    }
}
