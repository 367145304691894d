//! STIR/SHAKEN verification costs: a PASSporT's signature checked with a
//! certificate already in the cache (what every signed call costs), the
//! certificate chain checked (what each fetch costs), reading the
//! Identity header, and signing one (`[signing]`: what each call of an
//! originating trunk that signs costs).
//!
//! cargo bench --bench stir

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use callscreen::number::E164;
use callscreen::screen::passport;
use callscreen::stir::sign::Signer;
use callscreen::stir::{Anchors, chain};

#[path = "../tests/support/sti.rs"]
mod sti;

fn stir(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("callscreen-bench-stir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    let pki = sti::Pki::new(&dir);
    let anchors = Anchors::load(&dir.join("anchors")).expect("the test anchors");
    let now = sti::unix_now();
    let x5u = "https://cert.example/sti.pem";
    let identity = pki
        .good
        .identity("31201234568", "31104567890", "A", now, x5u);
    let (token, _) = passport::verifiable(&identity).expect("a verifiable PASSporT");
    let checked =
        chain::check(pki.good.chain_pem.as_bytes(), &anchors, now).expect("the chain checks");
    let mut g = c.benchmark_group("stir");
    g.bench_function("verify-signature-cached-cert", |b| {
        b.iter(|| checked.verify(black_box(token), now).expect("verifies"))
    });
    g.bench_function("check-chain-per-fetch", |b| {
        b.iter(|| chain::check(black_box(pki.good.chain_pem.as_bytes()), &anchors, now).is_ok())
    });
    g.bench_function("read-identity-header", |b| {
        b.iter(|| passport::verifiable(black_box(&identity)).is_ok())
    });
    std::fs::write(dir.join("sti.key"), pki.good.key.serialize_pem()).expect("the key");
    let signer =
        Signer::load(&dir.join("sti.key"), x5u.into(), Vec::new(), Vec::new()).expect("the signer");
    let (orig, dest) = (
        E164::parse_plus("+31201234568").expect("a number"),
        E164::parse_plus("+31104567890").expect("a number"),
    );
    let mut out = Vec::with_capacity(1024);
    g.bench_function("sign-identity-header", |b| {
        b.iter(|| {
            signer
                .identity(&mut out, b'A', black_box(orig), dest, now)
                .is_ok()
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, stir);
criterion_main!(benches);
