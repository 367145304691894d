//! callscreen: a SIP call-screening daemon that stops tech-support scam calls
//! before they ring.
//!
//! # Layout
//!
//! Rooms, from the bottom up; each uses only rooms above it in this list
//! (the table, with what each may and may never touch, is `docs/layout.md`,
//! which `tests/layering.rs` enforces):
//!
//! - [`number`]: the `E164` type, reading numbers as they appear in SIP within
//!   a peer's number context, numbering-plan checks, emergency destinations.
//! - [`cidr`]: IP networks, for SBC and peer addresses and network lists.
//! - [`keys`]: Ed25519 keys and the signatures of pushed lists.
//! - [`tls`]: rustls configurations from PEM files (the API, SIP over TLS,
//!   the STIR fetches) and the names a certificate carries.
//! - [`sip`]: the zero-copy SIP scanner, header views, responses built by
//!   copying from the request, proxy mode's forwarded requests
//!   (`sip::forward`) and relayed responses (`sip::relay`). Knows nothing of
//!   screening.
//! - [`lists`]: the list kinds, the v1 list format, the Elias–Fano number
//!   store (with the overlay a `PATCH` puts on it), the immutable `ListSet`
//!   snapshot, the state directory.
//! - [`screen`]: the pure decision: call facts + lists + policy -> verdict,
//!   with the closed set of reason codes.
//! - [`stir`]: STIR/SHAKEN verification: the guarded `x5u` fetch, the chain
//!   to the STI-CA anchors and TNAuthList, the ES256 signature on a bounded
//!   pool of threads, the certificate cache. Knows nothing of SIP.
//! - [`config`]: the TOML schema, validated section by section with file, key
//!   and line in every error.
//! - [`engine`]: loads a config and its lists into a ready policy and list set;
//!   what `callscreen check` and the daemon share.
//! - [`report`]: a verdict written for people and as JSON (`callscreen check`).
//! - [`state`]: what the SIP side and the control plane share: the settings
//!   and lists in force, readiness, counters, the burst counts, the live
//!   call stream, the hits per list entry.
//! - [`server`]: the SIP side: UDP, TCP and TLS transports, and the call
//!   path from a received message to the bytes sent (redirect and proxy
//!   mode, a signed INVITE parked for verification, the decision, the NOC
//!   line).
//! - [`api`]: the control plane over HTTP: list push and export, health,
//!   readiness, metrics. A peer of `server`: neither imports the other.
//! - [`daemon`]: `callscreen run`: starts `server` and `api` side by side over
//!   one `state`; signals, reload, shutdown.
//! - [`cli`]: the command line's definitions (clap).
//! - [`commands`]: what each subcommand does.

pub mod api;
pub mod cidr;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod fleet;
pub mod keys;
pub mod lists;
pub mod number;
pub mod report;
pub mod screen;
pub mod server;
pub mod sip;
pub mod state;
pub mod stir;
pub mod tls;
