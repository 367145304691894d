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

/// The public key of a secret key given as 64 hex digits.
pub fn public_of(secret_hex: &str) -> Option<[u8; 32]> {
    let k = SigningKey::from_bytes(&unhex::<32>(secret_hex)?);
    Some(k.verifying_key().to_bytes())
}

/// A public key as the config and the heads write it (64 hex digits).
pub fn public_hex(public: &[u8; 32]) -> String {
    hex(public)
}

/// A fleet node's own key (`[fleet] key_file`): it seals every head it
/// publishes. Its `Debug` shows the public half only.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey {
    secret: String,
    public: [u8; 32],
}

impl SealKey {
    /// From a secret key file's text (64 hex digits, `callscreen api keygen`).
    pub fn from_secret_hex(text: &str) -> Option<SealKey> {
        let secret = text.trim().to_string();
        let public = public_of(&secret)?;
        Some(SealKey { secret, public })
    }

    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// The signature of `body` (hex).
    pub fn sign(&self, body: &[u8]) -> String {
        sign(&self.secret, body).unwrap_or_default()
    }
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SealKey(public {})", hex(&self.public))
    }
}

/// A new key pair from the system's randomness: (secret hex, public hex).
/// `n` random bytes from the kernel, in hex (an API token).
pub fn random_hex(n: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut b = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(hex(&b))
}

pub fn keygen() -> std::io::Result<(String, String)> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    let k = SigningKey::from_bytes(&seed);
    Ok((hex(&seed), hex(k.verifying_key().as_bytes())))
}

/// The key of the tokens that let a warned subscriber's call through once
/// they insisted (`[warn]`): HMAC-SHA256 over the dialled number, the
/// caller and the expiry, truncated to 128 bits. The announcement service
/// carries the token back in the dialled number's `cs` parameter; nobody
/// else can make one, and it stops working when it expires.
pub struct TokenKey(ring::hmac::Key);

/// Bytes of the HMAC kept in a token.
const TOKEN_MAC: usize = 16;

impl TokenKey {
    /// From hex (at least 32 bytes: 64 hex digits), as in `[warn] token_key_file`.
    pub fn from_hex(s: &str) -> Option<TokenKey> {
        let s = s.trim();
        if s.len() < 64 || !s.len().is_multiple_of(2) {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..s.len() / 2)
            .map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        Some(TokenKey(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &bytes?,
        )))
    }

    /// A new key from the system's randomness (tokens then hold only until
    /// the daemon restarts, and only on this node).
    pub fn random() -> std::io::Result<TokenKey> {
        let rng = ring::rand::SystemRandom::new();
        ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            .map(TokenKey)
            .map_err(|_| std::io::Error::other("no system randomness"))
    }

    fn mac(&self, callee: &str, caller: &str, expires: u64) -> ring::hmac::Tag {
        let mut ctx = ring::hmac::Context::with_key(&self.0);
        for part in [
            b"callscreen-warn".as_slice(),
            callee.as_bytes(),
            caller.as_bytes(),
        ] {
            ctx.update(part);
            ctx.update(&[0]);
        }
        ctx.update(&expires.to_be_bytes());
        ctx.sign()
    }

    /// A token for `callee` dialled by `caller`, valid until `expires` (unix
    /// seconds): `<expires, hex>.<MAC, hex>`, safe in a URI parameter.
    pub fn mint(&self, callee: &str, caller: &str, expires: u64) -> String {
        format!(
            "{expires:x}.{}",
            hex(&self.mac(callee, caller, expires).as_ref()[..TOKEN_MAC])
        )
    }

    /// Whether `token` was minted by this key for `callee` and `caller` and
    /// has not expired at `now`.
    pub fn verify(&self, token: &str, callee: &str, caller: &str, now: u64) -> bool {
        let Some((exp, mac)) = token.split_once('.') else {
            return false;
        };
        let (Ok(expires), Some(mac)) = (u64::from_str_radix(exp, 16), unhex::<TOKEN_MAC>(mac))
        else {
            return false;
        };
        if now >= expires {
            return false;
        }
        let want = self.mac(callee, caller, expires);
        // Constant time, as ring's own verify is (it needs the whole tag).
        want.as_ref()[..TOKEN_MAC]
            .iter()
            .zip(mac)
            .fold(0u8, |d, (a, b)| d | (a ^ b))
            == 0
    }
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

    #[test]
    fn warn_tokens_hold_for_their_call_until_they_expire() {
        let key = TokenKey::from_hex(&"ab".repeat(32)).unwrap();
        let t = key.mint("+31900123456", "+31612345678", 1_000);
        assert!(key.verify(&t, "+31900123456", "+31612345678", 999));
        assert!(
            !key.verify(&t, "+31900123456", "+31612345678", 1_000),
            "expired"
        );
        assert!(
            !key.verify(&t, "+31900123457", "+31612345678", 999),
            "another number"
        );
        assert!(
            !key.verify(&t, "+31900123456", "+31612345679", 999),
            "another caller"
        );
        let other = TokenKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(
            !other.verify(&t, "+31900123456", "+31612345678", 999),
            "another key"
        );
        let (exp, mac) = t.split_once('.').unwrap();
        assert!(
            !key.verify(
                &format!("{:x}.{mac}", 5_000),
                "+31900123456",
                "+31612345678",
                999
            ),
            "a later expiry"
        );
        assert!(!key.verify(exp, "+31900123456", "+31612345678", 999));
        assert!(!key.verify("zz.zz", "+31900123456", "+31612345678", 999));
        assert!(TokenKey::from_hex("abcd").is_none(), "too short");
        let r = TokenKey::random().unwrap();
        assert!(r.verify(&r.mint("a", "b", 10), "a", "b", 9));
    }
}
