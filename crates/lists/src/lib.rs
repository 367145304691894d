//! The lists callscreen screens against, their file formats and the
//! immutable [`ListSet`] that every call reads.
//!
//! - `entry`: what one list line says (a number, prefix, range or network,
//!   with optional reason, reference and expiry);
//! - `format`: the v1 text format and its JSON form, parsed whole or refused
//!   whole with every bad line named;
//! - `intervals`: the longest-prefix structure for prefixes, ranges and
//!   networks (disjoint segments, binary search);
//! - `numbers`: a number list, its exact numbers in `ef` (an Elias–Fano
//!   coded sorted set), optionally behind a Bloom filter;
//! - `networks`: a list of IP networks;
//! - `companies`, `brand`: protected companies (numbers, inbound-only
//!   numbers, allowed peers) and brand-name matching of display names;
//! - `kind`: the shared vocabulary, a list's role and kind (below the
//!   parsers and the set, which all speak it);
//! - `set`: one list with its name, role and version, and the `ListSet`;
//! - `delta`: a `PATCH` applied to a built list, and a list written back
//!   as v1 text (export);
//! - `snapshot`: the binary form of a built list (bytes in, bytes out; the
//!   files that hold it are the daemon's `store`).

pub mod brand;
pub mod companies;
pub mod delta;
pub mod ef;
mod entry;
pub mod format;
mod intervals;
mod kind;
mod networks;
mod numbers;
mod set;
pub mod snapshot;

pub use companies::{Company, CompanyHit, CompanyList, ParsedCompanies};
pub use entry::{EntryMeta, Target, format_entry_expiry, format_expiry, parse_expiry};
pub use format::{Guard, LineError, ListErrors, ParsedList, PlanMinimums, parse, sha256_hex};
pub use kind::{ListKind, Role};
pub use networks::NetworkList;
pub use numbers::{BloomParams, Hit, Lookup, NumberList};
pub use set::{List, ListBody, ListSet, ListStats};
