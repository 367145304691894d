//! The authentication service (RFC 8224 §5, RFC 8225, SHAKEN RFC 8588):
//! the operator's own calls, on its originating trunks, signed with its
//! STI certificate's key. A PASSporT of `ppt=shaken` with `attest`, `dest`,
//! `iat`, `orig` and `origid`, signed ES256 with ring, in an Identity header
//! (full form, `info` = the certificate's `x5u`).
//!
//! Which attestation a call gets is the operator's claim, decided by the
//! server from the trunk's `sign` setting and the number ranges (README,
//! "Signing"): A, B or C.

use std::fmt::Write as _;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};

use crate::number::E164;
use crate::screen::NumberBlock;

/// Where the number signed as `orig` is read, in order (`[signing]
/// caller_order`): France's MAN asks for From before P-Asserted-Identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallerSource {
    From,
    Pai,
}

/// `[signing]`: the key, its certificate's URL and the operator's ranges.
pub struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    /// The `x5u`: where verifiers fetch the certificate chain.
    pub x5u: String,
    /// The numbers the operator holds: attestation A needs one of them.
    pub own_ranges: Vec<NumberBlock>,
    pub caller_order: Vec<CallerSource>,
    /// The key file, as configured (for messages).
    pub key_file: std::path::PathBuf,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("x5u", &self.x5u)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Reads a P-256 private key (PKCS#8 PEM, `-----BEGIN PRIVATE KEY-----`).
    pub fn load(
        key_file: &Path,
        x5u: String,
        own_ranges: Vec<NumberBlock>,
        caller_order: Vec<CallerSource>,
    ) -> Result<Signer, String> {
        use rustls_pki_types::pem::PemObject;
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_file(key_file).map_err(|e| {
            format!(
                "{}: no PKCS#8 private key (PEM \"PRIVATE KEY\"): {e}; convert an \"EC PRIVATE KEY\" with `openssl pkcs8 -topk8 -nocrypt`",
                key_file.display()
            )
        })?;
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            der.secret_pkcs8_der(),
            &rng,
        )
        .map_err(|e| format!("{}: not a P-256 (ES256) key: {e}", key_file.display()))?;
        Ok(Signer {
            key,
            rng,
            x5u,
            own_ranges,
            caller_order,
            key_file: key_file.to_path_buf(),
        })
    }

    /// Whether the operator holds `n` (one of `own_ranges`).
    pub fn holds(&self, n: E164) -> bool {
        self.own_ranges.iter().any(|b| b.holds(n))
    }

    /// Writes the Identity header's value for a call from `orig` to `dest`
    /// with attestation `attest` (`b'A'`, `b'B'` or `b'C'`), issued at
    /// `iat`, into `out` (cleared first). `Err` only if the signing itself
    /// fails (ring), which a good key never does.
    pub fn identity(
        &self,
        out: &mut Vec<u8>,
        attest: u8,
        orig: E164,
        dest: E164,
        iat: u64,
    ) -> Result<(), String> {
        let mut id = [0u8; 16];
        self.rng
            .fill(&mut id)
            .map_err(|_| "no randomness for origid".to_string())?;
        // RFC 4122 version 4.
        id[6] = (id[6] & 0x0f) | 0x40;
        id[8] = (id[8] & 0x3f) | 0x80;
        let mut origid = String::with_capacity(36);
        for (i, b) in id.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                origid.push('-');
            }
            let _ = write!(origid, "{b:02x}");
        }
        // The digits, without `+` (RFC 8224 §8.3).
        let (o, d) = (orig.to_string(), dest.to_string());
        let (o, d) = (o.trim_start_matches('+'), d.trim_start_matches('+'));
        // Members in lexicographic order (RFC 8225 §9, as the compact form
        // would need them).
        let header = format!(
            r#"{{"alg":"ES256","ppt":"shaken","typ":"passport","x5u":{}}}"#,
            json_string(&self.x5u)
        );
        let payload = format!(
            r#"{{"attest":"{}","dest":{{"tn":["{d}"]}},"iat":{iat},"orig":{{"tn":"{o}"}},"origid":"{origid}"}}"#,
            attest as char
        );
        out.clear();
        let mut text = String::with_capacity(512);
        URL_SAFE_NO_PAD.encode_string(header, &mut text);
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut text);
        let sig = self
            .key
            .sign(&self.rng, text.as_bytes())
            .map_err(|_| "ES256 signing failed".to_string())?;
        text.push('.');
        URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut text);
        let _ = write!(text, ";info=<{}>;alg=ES256;ppt=shaken", self.x5u);
        out.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}
