//! Ed25519 keys and signatures over the exact bytes of a pushed body, below
//! both `config` (which reads a client's public key where its line is known)
//! and `api` (which checks a push's signature). The body carries the list's
//! name and version, so a signed list cannot be replayed as an older version
//! (409: not above the current one) or under another name (422: the name
//! differs from the URL). Keys and signatures travel as hex: a client's
//! public key in the config (`sign_key`), the signature in the
//! `X-Callscreen-Signature` header, the secret key in a file of the issuer's
//! (`callscreen api keygen`).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Parses a public key (64 hex digits).
pub fn public_key(s: &str) -> Option<[u8; 32]> {
    let k = unhex::<32>(s)?;
    VerifyingKey::from_bytes(&k).ok().map(|_| k)
}

/// True when `sig_hex` is a valid signature of `body` by `public`.
pub fn verify(public: &[u8; 32], body: &[u8], sig_hex: &str) -> bool {
    let (Ok(key), Some(sig)) = (VerifyingKey::from_bytes(public), unhex::<64>(sig_hex)) else {
        return false;
    };
    key.verify_strict(body, &Signature::from_bytes(&sig))
        .is_ok()
}

/// Signs `body` with a secret key given as 64 hex digits; the signature as hex.
pub fn sign(secret_hex: &str, body: &[u8]) -> Option<String> {
    let k = SigningKey::from_bytes(&unhex::<32>(secret_hex)?);
    Some(hex(&k.sign(body).to_bytes()))
}

/// A new key pair from the system's randomness: (secret hex, public hex).
pub fn keygen() -> std::io::Result<(String, String)> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    let k = SigningKey::from_bytes(&seed);
    Ok((hex(&seed), hex(k.verifying_key().as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let (secret, public) = keygen().unwrap();
        let pk = public_key(&public).unwrap();
        let body = b"# callscreen list v1 name=acm-withdrawn version=7\n+3185208*\n";
        let sig = sign(&secret, body).unwrap();
        assert!(verify(&pk, body, &sig));
        assert!(
            !verify(
                &pk,
                b"# callscreen list v1 name=acm-withdrawn version=8\n+3185208*\n",
                &sig
            ),
            "another body"
        );
        let (_, other) = keygen().unwrap();
        assert!(
            !verify(&public_key(&other).unwrap(), body, &sig),
            "another key"
        );
        assert!(!verify(&pk, body, "00"));
        assert!(public_key("xyz").is_none());
    }
}
