//! Telephone numbers: the [`E164`] type and the normalisation of numbers as
//! they appear in SIP (`sip:`/`tel:` user parts, national and international
//! dialling forms) within the number context of the peer a call came from.
//!
//! What cannot be read as a number is not an error here: it becomes
//! [`Cli::Invalid`], a fact that screening turns into the `invalid-cli` reason.

mod builtin;
pub mod e164;
pub mod emergency;
mod normalise;
pub mod plan;

pub use e164::E164;
pub use normalise::{Cli, NumberContext, normalise};
