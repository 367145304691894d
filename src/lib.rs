//! callscreen: a SIP call-screening daemon that stops tech-support scam calls
//! before they ring.
//!
//! # Layout
//!
//! - [`number`]: the `E164` type, reading numbers as they appear in SIP within
//!   a peer's number context, numbering-plan checks, emergency destinations.
//! - [`cidr`]: IP networks, for SBC and peer addresses and network lists.
//! - [`lists`]: the list kinds, the v1 list format, the Bloom-fronted number
//!   store and the immutable `ListSet` snapshot.
//! - [`screen`]: the pure decision: call facts + lists + policy -> verdict,
//!   with the closed set of reason codes.
//! - [`sip`]: the zero-copy SIP scanner, header views, responses built by
//!   copying from the request, and proxy mode's forwarded requests and
//!   relayed responses (`sip::forward`).
//! - [`config`]: the TOML schema, validated with file, key and line in every
//!   error.
//! - [`report`]: a verdict written for people and as JSON (`callscreen check`).
//! - [`server`]: the daemon: UDP and TCP transports, redirect and proxy mode
//!   (with its next-hop links and health), readiness, reload, the NOC line.
//! - [`api`]: the control plane over HTTP: list push and export, health,
//!   readiness, metrics.
//! - [`engine`]: loads a config and its lists into a ready policy and list set;
//!   what `callscreen check` and the daemon share.

pub mod api;
pub mod cidr;
pub mod config;
pub mod engine;
pub mod lists;
pub mod number;
pub mod report;
pub mod screen;
pub mod server;
pub mod sip;
