//! callscreen's own zero-copy SIP scanner and the messages it writes.
//!
//! Why not a SIP crate: reading the caller ID right is the product. rsip 0.4
//! refuses `tel:` caller IDs, folded and compact headers and ignores
//! Content-Length; other Rust parsers mis-read number-portability user parts
//! or drop headers after a non-UTF-8 byte. This scanner is proven against the
//! RFC 4475 torture messages and real carrier INVITEs (`fixtures/`).
//!
//! - `scan`: framing (datagram or stream) and the one-pass header index;
//! - `header`: header names, full and compact;
//! - `addr`: lists, name-addr and URI views;
//! - `via`: the Via header;
//! - `request`: what a stateless UAS checks before it answers;
//! - `facts`: the caller identities a request presents;
//! - `response`: responses built by copying from the request;
//! - `forward`: proxy mode's forwarded requests and relayed responses;
//! - `moved`: a read request kept on a copy of its bytes, not read again.

pub mod addr;
pub mod facts;
pub mod forward;
pub mod header;
pub mod moved;
pub mod relay;
pub mod request;
pub mod response;
pub mod scan;
pub mod via;

#[cfg(test)]
mod fuzz_tests;

pub use header::HeaderName;
pub use request::{ALLOW, Method, Refusal, Request};
pub use scan::{Fault, Framing, Limits, Message, Scan, Scanner, StartLine};
