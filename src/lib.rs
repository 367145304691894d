//! callscreen: a SIP call-screening daemon that stops tech-support scam calls
//! before they ring.
//!
//! The rooms below (modules, and the pure ones crates of their own under
//! `crates/`), what each owns, may use and may never touch, and the way a
//! call flows through `server`, are written once: in `docs/layout.md`, which
//! `tests/layering.rs` reads and enforces. The README's "Layout" section
//! gives the same picture for a first read.

// The pure rooms, crates of their own (crates/), re-exported so that every
// room above reaches them as `crate::sip`, `crate::lists`, ...
pub use cidr;
pub use lists;
pub use number;
pub use screen;
pub use sip;

pub mod api;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod fleet;
pub mod keys;
pub mod ledger;
pub mod loader;
pub mod records;
pub mod reload;
pub mod report;
pub mod roaming;
pub mod server;
pub mod state;
pub mod stir;
pub mod store;
pub mod tls;
