//! Bearer tokens. The configuration holds only each token's SHA-256 (never
//! the token); a presented token is hashed and compared with every client's
//! hash in constant time. Tokens never reach a log line. Then the client's
//! scope (`authorise`) and, for a client that signs, the body's signature.

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sha2::{Digest, Sha256};

use super::context::ApiState;
use super::reply::err;
pub use crate::config::Client;
use crate::config::Operation;

/// The SHA-256 of a token, as stored in the config (hex).
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn ct_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The client a request's `Authorization: Bearer …` names, if any.
pub fn client<'c>(headers: &HeaderMap, clients: &'c [Client]) -> Option<&'c Client> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .trim();
    let h: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    // Every hash is compared, so the time does not tell which client matched.
    let mut found = None;
    for c in clients {
        if ct_eq(&c.token_sha256, &h) && found.is_none() {
            found = Some(c);
        }
    }
    found
}

/// Authenticates and checks the scope; `Err` is the 401/403 answer.
/// When the client has a signing key, the body must carry its signature.
pub(super) fn check_signature(
    c: &crate::config::Client,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Box<Response>> {
    let Some(key) = c.sign_key else { return Ok(()) };
    let sig = headers
        .get("x-callscreen-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if crate::keys::verify(&key, body, sig) {
        Ok(())
    } else {
        Err(Box::new(err(
            StatusCode::UNAUTHORIZED,
            format!(
                "client {:?} must sign what it pushes: X-Callscreen-Signature (Ed25519 over the exact body, hex) is missing or does not verify",
                c.name
            ),
        )))
    }
}

/// The client of a request, among the clients of the configuration in
/// force (a reload adds and removes clients: `conf.d/*.toml`).
pub(super) fn authorise(
    st: &ApiState,
    headers: &HeaderMap,
    op: Operation,
    list: Option<&str>,
) -> Result<crate::config::Client, Box<Response>> {
    let rt = st.shared.runtime.load();
    let clients = rt
        .settings
        .api
        .as_ref()
        .map_or(st.settings.clients.as_slice(), |a| a.clients.as_slice());
    let Some(c) = client(headers, clients).cloned() else {
        return Err(Box::new(err(
            StatusCode::UNAUTHORIZED,
            "a valid bearer token is required (Authorization: Bearer …)",
        )));
    };
    if !c.may(op, list) {
        return Err(Box::new(err(
            StatusCode::FORBIDDEN,
            format!(
                "client {:?} may not do that to {:?}",
                c.name,
                list.unwrap_or("*")
            ),
        )));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Operation;

    #[test]
    fn tokens_and_scopes() {
        let h = hash_token("s3cret");
        assert_eq!(h.len(), 64);
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
        }
        let c = Client {
            name: "acm".into(),
            token_sha256: bytes,
            lists: vec!["acm-withdrawn".into()],
            operations: vec![Operation::Replace],
            sign_key: None,
        };
        let mut hm = HeaderMap::new();
        hm.insert("authorization", "Bearer s3cret".parse().unwrap());
        assert_eq!(
            client(&hm, std::slice::from_ref(&c)).map(|c| c.name.as_str()),
            Some("acm")
        );
        hm.insert("authorization", "Bearer wrong".parse().unwrap());
        assert!(client(&hm, std::slice::from_ref(&c)).is_none());
        assert!(c.may(Operation::Replace, Some("acm-withdrawn")));
        assert!(!c.may(Operation::Replace, Some("scam-origins")));
        assert!(!c.may(Operation::Read, Some("acm-withdrawn")));
    }
}
