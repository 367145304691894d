//! A minimal HTTP/1.1 client for the `callscreen lists …` commands: one
//! request per connection, `http://` or `https://` (rustls, trusting the
//! CA given, with a client certificate when one is given).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A response: status and body.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// A connection to `base` (`http://host:port` or `https://…`), and its `host:port`.
fn connect(
    base: &str,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Result<(Box<dyn ReadWrite>, String), String> {
    let (rest, secure) = match (base.strip_prefix("http://"), base.strip_prefix("https://")) {
        (Some(r), _) => (r, false),
        (_, Some(r)) => (r, true),
        _ => {
            return Err(format!(
                "--url {base:?}: give http://HOST:PORT or https://HOST:PORT"
            ));
        }
    };
    let hostport = rest.trim_end_matches('/');
    let tcp =
        TcpStream::connect(hostport).map_err(|e| format!("cannot connect to {hostport}: {e}"))?;
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(600)));
    let s: Box<dyn ReadWrite> = if secure {
        let cfg = tls.ok_or_else(|| {
            format!("{base}: https needs --ca (the CA that signed the API's certificate)")
        })?;
        let host = hostport
            .rsplit_once(':')
            .map_or(hostport, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = rustls_pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| format!("{host}: {e}"))?;
        let conn = rustls::ClientConnection::new(cfg, name).map_err(|e| e.to_string())?;
        Box::new(rustls::StreamOwned::new(conn, tcp))
    } else {
        Box::new(tcp)
    };
    Ok((s, hostport.to_string()))
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
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Result<Answer, String> {
    let (mut s, hostport) = connect(base, tls)?;
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
    // A TLS peer that closes without close_notify still sent a whole answer.
    if let Err(e) = s.read_to_end(&mut out)
        && out.is_empty()
    {
        return Err(format!("reading from {hostport}: {e}"));
    }
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

/// `GET path` as a stream of lines: `line` is called with each line of the
/// body as it arrives, until it returns false or the server closes. Asked
/// as HTTP/1.0, so that the body comes as it is, not in chunks.
pub fn stream_lines(
    base: &str,
    path: &str,
    token: &str,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    mut line: impl FnMut(&str) -> bool,
) -> Result<(), String> {
    use std::io::BufRead;
    let (mut s, hostport) = connect(base, tls)?;
    let req =
        format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nAuthorization: Bearer {token}\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|e| format!("sending to {hostport}: {e}"))?;
    let mut r = std::io::BufReader::new(s);
    let mut head = String::new();
    r.read_line(&mut head)
        .map_err(|e| format!("reading from {hostport}: {e}"))?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or("the server's answer is not HTTP")?;
    loop {
        let mut h = String::new();
        let n = r.read_line(&mut h).map_err(|e| e.to_string())?;
        if n == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    if status != 200 {
        let mut body = String::new();
        let _ = r.read_to_string(&mut body);
        return Err(format!("GET {path}: {status} {}", body.trim_end()));
    }
    let mut buf = String::new();
    loop {
        match r.read_line(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                if !line(buf.trim_end()) {
                    return Ok(());
                }
                buf.clear();
            }
            // A quiet stream: keep waiting (what was read stays in `buf`).
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(format!("reading from {hostport}: {e}")),
        }
    }
}
