//! `callscreen redress build`: the operator's contact card for rejected
//! callers (RFC 8688 §5), as a jCard (RFC 7095) signed as a JWS (RFC 7515,
//! compact serialisation) with ES256 and the certificate's URL in `x5u`.
//! The daemon never reads the key: it only points 608 answers to the URL
//! where the operator publishes this file.

use std::path::Path;
use std::process::ExitCode;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

use crate::config::RedressSettings;

/// The jCard (RFC 7095) of the operator's contacts.
pub fn jcard(r: &RedressSettings) -> Value {
    let mut props = vec![
        json!(["version", {}, "text", "4.0"]),
        json!(["kind", {}, "text", "org"]),
        json!(["fn", {}, "text", r.name]),
    ];
    if let Some(o) = &r.org {
        props.push(json!(["org", {}, "text", o]));
    }
    for t in &r.tel {
        props.push(json!(["tel", {"type": ["work", "voice"]}, "uri", format!("tel:{t}")]));
    }
    for e in &r.email {
        props.push(json!(["email", {"type": "work"}, "text", e]));
    }
    if let Some(w) = &r.web {
        props.push(json!(["url", {"type": "work"}, "uri", w]));
    }
    if let Some(n) = &r.note {
        props.push(json!(["note", {}, "text", n]));
    }
    json!(["vcard", props])
}

/// The key, as ring takes it (PKCS#8), with what to do when it is not one.
fn key(path: &Path) -> Result<EcdsaKeyPair, String> {
    let der = match PrivateKeyDer::from_pem_file(path) {
        Ok(PrivateKeyDer::Pkcs8(k)) => k,
        Ok(PrivateKeyDer::Sec1(_)) => {
            return Err(format!(
                "{}: an EC key in the SEC1 form (BEGIN EC PRIVATE KEY); convert it: openssl pkcs8 -topk8 -nocrypt -in {0} -out {0}.pk8",
                path.display()
            ));
        }
        Ok(_) => {
            return Err(format!(
                "{}: not an ECDSA P-256 key; make one: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {0}",
                path.display()
            ));
        }
        Err(e) => return Err(format!("{}: not a PEM private key: {e}", path.display())),
    };
    EcdsaKeyPair::from_pkcs8(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        der.secret_pkcs8_der(),
        &ring::rand::SystemRandom::new(),
    )
    .map_err(|e| {
        format!(
            "{}: not an ECDSA P-256 key ({e}); RFC 8688's card is signed with ES256: openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out {0}",
            path.display()
        )
    })
}

/// The signed card: `base64url(header).base64url(jCard).base64url(r‖s)`.
pub fn sign(r: &RedressSettings, key: &EcdsaKeyPair) -> Result<String, String> {
    let header = json!({"alg": "ES256", "x5u": r.cert_url});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(jcard(r).to_string())
    );
    let sig = key
        .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
        .map_err(|e| format!("signing failed: {e}"))?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
}

pub fn build(config: &Path) -> ExitCode {
    let settings = match crate::config::load(config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let Some(r) = settings.redress else {
        eprintln!(
            "{}: no [redress] section: add one (url, key, cert_url, name, tel or email; see the example config)",
            config.display()
        );
        return ExitCode::from(2);
    };
    let signed = match key(&r.key).and_then(|k| {
        // The signature checks out with the key's own public half.
        let jws = sign(&r, &k)?;
        verify(&jws, k.public_key().as_ref()).map(|_| jws)
    }) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
    };
    let tmp = r.card.with_extension("tmp");
    if let Err(e) =
        std::fs::write(&tmp, format!("{signed}\n")).and_then(|()| std::fs::rename(&tmp, &r.card))
    {
        eprintln!("{}: {e}", r.card.display());
        return ExitCode::from(1);
    }
    println!(
        "wrote {} ({} bytes): publish it at {} (media type application/jose){}; the signing key's certificate must be at {}",
        r.card.display(),
        signed.len() + 1,
        r.url,
        if r.listen.is_some() {
            ", or let [redress] listen serve it"
        } else {
            ""
        },
        r.cert_url
    );
    ExitCode::SUCCESS
}

/// Checks a compact JWS's ES256 signature with an uncompressed P-256 public
/// key; the payload, decoded.
pub fn verify(jws: &str, public_key: &[u8]) -> Result<Vec<u8>, String> {
    let mut parts = jws.trim().split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS (three parts)".into());
    };
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|e| e.to_string())?;
    ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_FIXED, public_key)
        .verify(format!("{h}.{p}").as_bytes(), &sig)
        .map_err(|_| "the signature does not verify".to_string())?;
    URL_SAFE_NO_PAD.decode(p).map_err(|e| e.to_string())
}
