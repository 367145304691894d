//! The JSON form of a list.
#![no_main]

use callscreen::lists::{Guard, ListKind, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut body = Vec::with_capacity(data.len() + 1);
    if !data.starts_with(b"{") {
        body.push(b'{');
    }
    body.extend_from_slice(data);
    let _ = parse(&body, ListKind::Numbers, Guard::default());
    let _ = parse(&body, ListKind::Networks, Guard::default());
});
