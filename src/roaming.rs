//! The roaming check (`[roaming]`): whether the subscriber of a home mobile
//! number presented from abroad is roaming, asked of the operator's own
//! endpoint (its HLR/HSS behind a small JSON API, README "The roaming
//! check"), never on the receive threads:
//!
//! - `POST <url>` with `{"number":"+32470123456"}`; the answer is `200` with
//!   `{"status":"roaming"|"not-roaming"|"unknown"}` (and, optionally,
//!   `"max_age"`: seconds it may be kept, at most `cache_secs`);
//! - over HTTPS only, trusting `ca_file` (or the system's store), with a
//!   client certificate when configured; the endpoint is the operator's, so
//!   a private address is fine;
//! - a call waits at most `budget_ms`; the request itself may take up to
//!   `timeout_ms` and its answer is kept for the next call;
//! - answers are cached by number (`cache_secs`, `cache_entries`);
//! - at most `max_in_flight` requests at once: a call beyond them gets no
//!   answer at once rather than a queue; calls about a number already
//!   asked about wait for that request's answer (a burst asks once);
//! - an endpoint that failed (refused, TLS, a status, a timeout) is not
//!   waited for during `failure_backoff_secs`;
//! - connections are kept open and reused (HTTP/1.1 keep-alive).
//!
//! What a call gets without an answer, its profile says (`Roaming::Unanswered`
//! → `spoof:domestic-mobile-unchecked`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::sync::watch;

use crate::number::E164;
use crate::screen::Roaming;
use crate::stir::fetch::{Url, connect_first};

/// The most an answer may hold.
const MAX_ANSWER: usize = 4096;

/// How the check is configured (`[roaming]`, read by `config`).
#[derive(Debug)]
pub struct RoamingConfig {
    /// As written, for messages.
    pub url_text: String,
    pub url: Url,
    pub tls: Arc<rustls::ClientConfig>,
    /// How long a call waits for its answer.
    pub budget: Duration,
    /// How long a request may take (its answer is cached for later calls).
    pub timeout: Duration,
    pub cache_entries: usize,
    /// The longest an answer is kept.
    pub cache: Duration,
    pub max_in_flight: usize,
    /// After a failure, how long calls do not wait for the endpoint.
    pub failure_backoff: Duration,
    /// The client certificate's key, when there is one (a secret file).
    pub client_key: Option<std::path::PathBuf>,
}

/// What the check did, for `/metrics`.
#[derive(Debug, Default)]
pub struct RoamingCounts {
    /// Requests sent to the endpoint.
    pub requests: AtomicU64,
    pub cache_hits: AtomicU64,
    /// Requests that failed (connect, TLS, status, body, timeout).
    pub failures: AtomicU64,
    /// Calls that got no answer within the budget.
    pub over_budget: AtomicU64,
    /// Calls not asked about because `max_in_flight` requests were out.
    pub over_limit: AtomicU64,
    /// Calls not asked about while the endpoint is in its failure backoff.
    pub backoff: AtomicU64,
    /// Calls that waited for a request already out for their number.
    pub joined: AtomicU64,
    /// Answers by kind: roaming, not-roaming, unknown.
    pub answers: [AtomicU64; 3],
}

/// A call's place in the wait for an answer ([`Checker::admit`]).
pub enum Ticket {
    /// It sends the request; the others about the same number join it.
    Lead(watch::Sender<Option<Roaming>>),
    /// A request about its number is out: it waits for that one's answer.
    Join(watch::Receiver<Option<Roaming>>),
}

/// The checker: one per `[roaming]` configuration.
pub struct Checker {
    pub cfg: Arc<RoamingConfig>,
    cache: Mutex<HashMap<E164, (Roaming, Instant)>>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    in_flight: AtomicUsize,
    /// Requests out, by number: calls about the same number join them.
    pending: Mutex<HashMap<E164, watch::Receiver<Option<Roaming>>>>,
    down_until: Mutex<Option<Instant>>,
    pub counts: Arc<RoamingCounts>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why a request gave no answer (for the log).
#[derive(Debug)]
pub enum AskError {
    Connect(String),
    Tls(String),
    Http(String),
    Status(u16),
    Answer(String),
    Timeout,
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AskError::Connect(e) => write!(f, "cannot connect: {e}"),
            AskError::Tls(e) => write!(f, "TLS: {e}"),
            AskError::Http(e) => write!(f, "HTTP: {e}"),
            AskError::Status(s) => write!(f, "HTTP status {s}"),
            AskError::Answer(e) => write!(f, "not a roaming answer: {e}"),
            AskError::Timeout => f.write_str("timed out"),
        }
    }
}

/// Reads an answer: `{"status": …, "max_age": …}`.
pub fn parse_answer(body: &[u8]) -> Result<(Roaming, Option<u64>), String> {
    #[derive(serde::Deserialize)]
    struct Answer {
        status: String,
        max_age: Option<u64>,
    }
    let a: Answer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let r = match a.status.as_str() {
        "roaming" => Roaming::Roaming,
        "not-roaming" => Roaming::NotRoaming,
        "unknown" => Roaming::Unknown,
        other => {
            return Err(format!(
                "status {other:?} is none of roaming, not-roaming, unknown"
            ));
        }
    };
    Ok((r, a.max_age))
}

impl Checker {
    pub fn new(cfg: Arc<RoamingConfig>, counts: Arc<RoamingCounts>) -> Arc<Checker> {
        Arc::new(Checker {
            cfg,
            cache: Mutex::new(HashMap::new()),
            idle: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            pending: Mutex::new(HashMap::new()),
            down_until: Mutex::new(None),
            counts,
        })
    }

    /// A cached answer for `n`, if one is fresh.
    pub fn cached(&self, n: E164) -> Option<Roaming> {
        let now = Instant::now();
        let hit = lock(&self.cache)
            .get(&n)
            .filter(|(_, until)| *until > now)
            .map(|(r, _)| *r);
        if hit.is_some() {
            self.counts.cache_hits.fetch_add(1, Ordering::Relaxed);
        }
        hit
    }

    /// Whether a call should wait for an answer about `n` now: it joins a
    /// request already out for the same number (a burst of calls from one
    /// number asks once); else, outside the failure backoff and within
    /// `max_in_flight`, it leads a new one. `Err`: the answer now.
    pub fn admit(&self, n: E164) -> Result<Ticket, Roaming> {
        let mut pending = lock(&self.pending);
        if let Some(rx) = pending.get(&n) {
            self.counts.joined.fetch_add(1, Ordering::Relaxed);
            return Ok(Ticket::Join(rx.clone()));
        }
        if lock(&self.down_until).is_some_and(|t| t > Instant::now()) {
            self.counts.backoff.fetch_add(1, Ordering::Relaxed);
            return Err(Roaming::Unanswered);
        }
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= self.cfg.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            self.counts.over_limit.fetch_add(1, Ordering::Relaxed);
            return Err(Roaming::Unanswered);
        }
        let (tx, rx) = watch::channel(None);
        pending.insert(n, rx);
        Ok(Ticket::Lead(tx))
    }

    /// Gives back what [`Checker::admit`] took, when nothing is asked.
    pub fn release(&self, n: E164, ticket: Ticket) {
        if let Ticket::Lead(tx) = ticket {
            lock(&self.pending).remove(&n);
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = tx.send(Some(Roaming::Unanswered));
        }
    }

    /// Asks about `n` with the ticket [`Checker::admit`] gave: the answer
    /// within the budget, else `Unanswered`. A leader's request goes on for
    /// up to its timeout, its answer cached and given to the calls that
    /// joined it.
    pub async fn ask(self: Arc<Self>, n: E164, ticket: Ticket) -> Roaming {
        let mut rx = match ticket {
            Ticket::Join(rx) => rx,
            Ticket::Lead(tx) => {
                let rx = tx.subscribe();
                let me = Arc::clone(&self);
                tokio::spawn(async move {
                    let r = tokio::time::timeout(me.cfg.timeout, me.request(n)).await;
                    let answer = match r {
                        Ok(Ok(a)) => a,
                        Ok(Err(e)) => {
                            me.failed(&e);
                            Roaming::Unanswered
                        }
                        Err(_) => {
                            me.failed(&AskError::Timeout);
                            Roaming::Unanswered
                        }
                    };
                    lock(&me.pending).remove(&n);
                    me.in_flight.fetch_sub(1, Ordering::Relaxed);
                    let _ = tx.send(Some(answer));
                });
                rx
            }
        };
        match tokio::time::timeout(self.cfg.budget, rx.wait_for(Option::is_some)).await {
            Ok(Ok(r)) => r.unwrap_or(Roaming::Unanswered),
            Ok(Err(_)) => Roaming::Unanswered,
            Err(_) => {
                self.counts.over_budget.fetch_add(1, Ordering::Relaxed);
                Roaming::Unanswered
            }
        }
    }

    fn failed(&self, e: &AskError) {
        self.counts.failures.fetch_add(1, Ordering::Relaxed);
        let mut down = lock(&self.down_until);
        // Logged once per backoff, not once per call.
        if !down.is_some_and(|t| t > Instant::now()) {
            tracing::warn!(
                url = %self.cfg.url_text,
                "roaming check failed: {e}; calls do not wait for it for {} s",
                self.cfg.failure_backoff.as_secs()
            );
        }
        *down = Some(Instant::now() + self.cfg.failure_backoff);
    }

    /// One request on a kept connection (or a new one), its answer cached.
    async fn request(&self, n: E164) -> Result<Roaming, AskError> {
        self.counts.requests.fetch_add(1, Ordering::Relaxed);
        let mut sender = match self.idle_sender() {
            Some(s) => s,
            None => self.connect().await?,
        };
        let body = format!("{{\"number\":\"{n}\"}}");
        let req = hyper::Request::post(self.cfg.url.path.as_str())
            .header(hyper::header::HOST, self.authority())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(hyper::header::ACCEPT, "application/json")
            .header(hyper::header::USER_AGENT, "callscreen")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| AskError::Http(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| AskError::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let body = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| AskError::Http(e.to_string()))?
            .to_bytes();
        if status != 200 {
            return Err(AskError::Status(status));
        }
        let (answer, max_age) = parse_answer(&body).map_err(AskError::Answer)?;
        lock(&self.idle).push(sender);
        let keep = max_age
            .map(Duration::from_secs)
            .map_or(self.cfg.cache, |m| m.min(self.cfg.cache));
        self.remember(n, answer, keep);
        let i = match answer {
            Roaming::Roaming => 0,
            Roaming::NotRoaming => 1,
            _ => 2,
        };
        self.counts.answers[i].fetch_add(1, Ordering::Relaxed);
        Ok(answer)
    }

    fn remember(&self, n: E164, r: Roaming, keep: Duration) {
        if keep.is_zero() {
            return;
        }
        let now = Instant::now();
        let mut cache = lock(&self.cache);
        if cache.len() >= self.cfg.cache_entries {
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= self.cfg.cache_entries {
                // Full of fresh answers: start again rather than grow.
                cache.clear();
            }
        }
        cache.insert(n, (r, now + keep));
    }

    fn idle_sender(&self) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = lock(&self.idle);
        while let Some(s) = idle.pop() {
            if !s.is_closed() {
                return Some(s);
            }
        }
        None
    }

    fn authority(&self) -> String {
        let u = &self.cfg.url;
        match (u.port, u.host.contains(':')) {
            (443, _) => u.host.clone(),
            (p, true) => format!("[{}]:{p}", u.host),
            (p, false) => format!("{}:{p}", u.host),
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, AskError> {
        let u = &self.cfg.url;
        let addrs: Vec<SocketAddr> = match u.host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, u.port)],
            Err(_) => tokio::net::lookup_host((u.host.as_str(), u.port))
                .await
                .map_err(|e| AskError::Connect(e.to_string()))?
                .collect(),
        };
        let tcp = connect_first(&addrs).await.map_err(AskError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let name =
            ServerName::try_from(u.host.clone()).map_err(|e| AskError::Tls(e.to_string()))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::clone(&self.cfg.tls))
            .connect(name, tcp)
            .await
            .map_err(|e| AskError::Tls(e.to_string()))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| AskError::Http(e.to_string()))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_or_refused() {
        assert_eq!(
            parse_answer(br#"{"status":"roaming"}"#).unwrap(),
            (Roaming::Roaming, None)
        );
        assert_eq!(
            parse_answer(br#"{"status":"not-roaming","max_age":30}"#).unwrap(),
            (Roaming::NotRoaming, Some(30))
        );
        assert_eq!(
            parse_answer(br#"{"status":"unknown"}"#).unwrap().0,
            Roaming::Unknown
        );
        assert!(parse_answer(br#"{"status":"home"}"#).is_err());
        assert!(parse_answer(b"roaming").is_err());
    }
}
