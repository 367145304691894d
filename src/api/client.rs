//! A minimal HTTP/1.1 client for the `callscreen lists …` commands: one
//! request per connection, `http://` or `https://` (rustls, trusting the
//! CA given, with a client certificate when one is given).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// Why a request got no answer, or a stream was refused. A caller acts on
/// `Refused`'s status (401 and 403: the token); the text is for people.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--url {0:?}: give http://HOST:PORT or https://HOST:PORT")]
    Url(String),
    #[error("{0}: https needs --ca (the CA that signed the API's certificate)")]
    NeedsCa(String),
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Tls(String),
    #[error("{doing} {addr}: {source}")]
    Io {
        doing: &'static str,
        addr: String,
        source: std::io::Error,
    },
    #[error("the server's answer is not HTTP")]
    NotHttp,
    #[error("the server's answer has no status")]
    NoStatus,
    /// The stream was answered with another status than 200.
    #[error("GET {path}: {status} {body}")]
    Refused {
        path: String,
        status: u16,
        body: String,
    },
}

impl ClientError {
    /// The API refused the token (401) or its operations (403).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            ClientError::Refused {
                status: 401 | 403,
                ..
            }
        )
    }
}

/// The commands report errors as text.
impl From<ClientError> for String {
    fn from(e: ClientError) -> String {
        e.to_string()
    }
}

/// A response: status and body.
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// A connection to `base` (`http://host:port` or `https://…`), and its `host:port`.
fn connect(
    base: &str,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Result<(Box<dyn ReadWrite>, String), ClientError> {
    let (rest, secure) = match (base.strip_prefix("http://"), base.strip_prefix("https://")) {
        (Some(r), _) => (r, false),
        (_, Some(r)) => (r, true),
        _ => return Err(ClientError::Url(base.to_string())),
    };
    let hostport = rest.trim_end_matches('/');
    let tcp = TcpStream::connect(hostport).map_err(|source| ClientError::Connect {
        addr: hostport.to_string(),
        source,
    })?;
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(600)));
    let s: Box<dyn ReadWrite> = if secure {
        let cfg = tls.ok_or_else(|| ClientError::NeedsCa(base.to_string()))?;
        let host = hostport
            .rsplit_once(':')
            .map_or(hostport, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let name = rustls_pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| ClientError::Tls(format!("{host}: {e}")))?;
        let conn = rustls::ClientConnection::new(cfg, name)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
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
) -> Result<Answer, ClientError> {
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
        .map_err(|source| ClientError::Io {
            doing: "sending to",
            addr: hostport.clone(),
            source,
        })?;
    // The server may answer (413, 401) before reading a large body.
    let _ = s.write_all(body);
    let mut out = Vec::new();
    // A TLS peer that closes without close_notify still sent a whole answer.
    if let Err(e) = s.read_to_end(&mut out)
        && out.is_empty()
    {
        return Err(ClientError::Io {
            doing: "reading from",
            addr: hostport,
            source: e,
        });
    }
    let text = String::from_utf8_lossy(&out);
    let (head, body) = text.split_once("\r\n\r\n").ok_or(ClientError::NotHttp)?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(ClientError::NoStatus)?;
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
) -> Result<(), ClientError> {
    use std::io::BufRead;
    let (mut s, hostport) = connect(base, tls)?;
    let req =
        format!("GET {path} HTTP/1.0\r\nHost: {hostport}\r\nAuthorization: Bearer {token}\r\n\r\n");
    s.write_all(req.as_bytes())
        .map_err(|source| ClientError::Io {
            doing: "sending to",
            addr: hostport.clone(),
            source,
        })?;
    let mut r = std::io::BufReader::new(s);
    let mut head = String::new();
    let reading = |source| ClientError::Io {
        doing: "reading from",
        addr: hostport.clone(),
        source,
    };
    r.read_line(&mut head).map_err(reading)?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(ClientError::NotHttp)?;
    loop {
        let mut h = String::new();
        let n = r.read_line(&mut h).map_err(reading)?;
        if n == 0 || h == "\r\n" || h == "\n" {
            break;
        }
    }
    if status != 200 {
        let mut body = String::new();
        let _ = r.read_to_string(&mut body);
        return Err(ClientError::Refused {
            path: path.to_string(),
            status,
            body: body.trim_end().to_string(),
        });
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
            Err(e) => return Err(reading(e)),
        }
    }
}
