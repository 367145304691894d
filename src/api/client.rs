//! A minimal HTTP/1.1 client for the `callscreen lists …` commands: one
//! request per connection, `http://` only (the API listens on loopback or a
//! management network; TLS is not built yet).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A response: status and body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// Sends one request to `base` (`http://host:port`) + `path`, with an
/// `X-Callscreen-Signature` when one is given.
#[allow(clippy::too_many_arguments)]
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    ctype: Option<&str>,
    body: &[u8],
    signature: Option<&str>,
) -> Result<Answer, String> {
    let rest = base.strip_prefix("http://").ok_or_else(|| {
        format!("--url {base:?}: give http://HOST:PORT (https is not supported yet)")
    })?;
    let hostport = rest.trim_end_matches('/');
    let mut s =
        TcpStream::connect(hostport).map_err(|e| format!("cannot connect to {hostport}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(600)));
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(c) = ctype {
        req.push_str(&format!("Content-Type: {c}\r\n"));
    }
    if let Some(s) = signature {
        req.push_str(&format!("X-Callscreen-Signature: {s}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("sending to {hostport}: {e}"))?;
    // The server may answer (413, 401) before reading a large body.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    s.read_to_end(&mut out)
        .map_err(|e| format!("reading from {hostport}: {e}"))?;
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("the server's answer is not HTTP")?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("the server's answer has no status")?;
    Ok(Answer {
        status,
        body: body.to_string(),
    })
}
