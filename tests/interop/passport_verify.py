"""A second opinion on STIR/SHAKEN: an Identity header verified with PyJWT
and cryptography (PyPI), not with callscreen's code (ring, rustls-webpki,
x509-parser). Used by tests/e2e/interop.rs.

    passport_verify.py IDENTITY CHAIN_PEM ROOT_PEM [CRL_PEM]

IDENTITY is the header's value (`token;info=<x5u>;alg=ES256;ppt=...`),
CHAIN_PEM the certificates served at its x5u (the leaf first), ROOT_PEM the
trust anchor, CRL_PEM the leaf's issuer's CRL. Prints one JSON object
(`ok`, `reason`, the header and the claims) and exits 0 when the PASSporT
verifies: the chain to the root (each certificate issued and signed by the
next, all valid now), TNAuthList on the leaf (RFC 8226), the ES256
signature (RFC 8225), and, with a CRL, the CRL signed by the leaf's issuer
and not listing the leaf.
"""

import datetime
import json
import sys

import jwt
from cryptography import x509
from cryptography.x509.oid import ObjectIdentifier

TN_AUTH_LIST = ObjectIdentifier("1.3.6.1.5.5.7.1.26")


def answer(ok, reason, header=None, claims=None):
    print(json.dumps({"ok": ok, "reason": reason, "header": header, "claims": claims}))
    sys.exit(0 if ok else 1)


def main():
    identity, chain_pem, root_pem = sys.argv[1:4]
    crl_pem = sys.argv[4] if len(sys.argv) > 4 else None
    token = identity.split(";")[0].strip()
    with open(chain_pem, "rb") as f:
        chain = x509.load_pem_x509_certificates(f.read())
    with open(root_pem, "rb") as f:
        root = x509.load_pem_x509_certificate(f.read())
    now = datetime.datetime.now(datetime.timezone.utc)
    path = chain + [root]
    for cert, issuer in zip(path, path[1:]):
        try:
            cert.verify_directly_issued_by(issuer)
        except Exception as e:  # the signature or the names do not match
            answer(False, f"chain: {cert.subject.rfc4514_string()}: {e}")
    for cert in path:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            answer(False, f"expired: {cert.subject.rfc4514_string()}")
    leaf = chain[0]
    if not any(e.oid == TN_AUTH_LIST for e in leaf.extensions):
        answer(False, "no TNAuthList")
    if crl_pem:
        with open(crl_pem, "rb") as f:
            crl = x509.load_pem_x509_crl(f.read())
        issuer = path[1]
        if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):
            answer(False, "CRL not signed by the leaf's issuer")
        if crl.get_revoked_certificate_by_serial_number(leaf.serial_number) is not None:
            answer(False, "revoked")
    header = jwt.get_unverified_header(token)
    try:
        claims = jwt.decode(
            token,
            key=leaf.public_key(),
            algorithms=["ES256"],
            options={"verify_exp": False, "verify_aud": False, "verify_iat": False},
        )
    except jwt.InvalidTokenError as e:
        answer(False, f"signature: {e}", header)
    answer(True, "verified", header, claims)


if __name__ == "__main__":
    main()
