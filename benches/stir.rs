//! STIR/SHAKEN verification costs: a PASSporT's signature checked with a
//! certificate already in the cache (what every signed call costs), the
//! certificate chain checked (what each fetch costs), and reading the
//! Identity header.
//!
//! cargo bench --bench stir

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use callscreen::screen::passport;
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
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, stir);
criterion_main!(benches);
