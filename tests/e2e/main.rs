//! callscreen end to end: the real `callscreen` binary started on loopback
//! ports, spoken to over UDP, TCP, TLS and HTTP. One test binary with one
//! harness (`tests/support/`), a module per feature: a feature's tests are
//! found under its name (`cargo test --test e2e proxy::`).
//!
//! The suites that need real peers or root are `#[ignore]`d and run by
//! `.ci/run` one at a time: `interop::` (SIPp, Kamailio, secsipidx),
//! `fleet::` (nats-server), `monitoring::` (Prometheus), `api::store::` (a
//! small tmpfs).
//!
//! Two test binaries stay apart: `tests/alloc_free.rs` (its counting global
//! allocator would count every other test's allocations) and
//! `tests/layering.rs` (reads the source, starts nothing).

#[path = "../support/roaming.rs"]
mod roaming;
#[path = "../support/sti.rs"]
mod sti;
#[path = "../support/mod.rs"]
mod support;

mod api;
mod burst;
mod cli;
mod fleet;
mod flood;
mod hits;
mod interop;
mod monitoring;
mod noc_log;
mod originating;
mod profiles;
mod proxy;
mod records;
mod redirect;
mod redress;
mod reload;
mod rfc4475;
mod sip_tls;
mod spoofing;
mod stir;
mod stream;
mod systemd;
mod tcp_limits;
mod top;
