//! Number normalisation in the contexts a peer can have, and E.164 parsing.
#![no_main]

use callscreen::number::{E164, NumberContext, normalise};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    for ctx in [
        NumberContext::national("31"),
        NumberContext::national("1"),
        NumberContext::e164_only(),
    ] {
        if let Some(n) = normalise(s, &ctx).number() {
            // A number read is a number that prints and reads back the same.
            assert_eq!(E164::parse_plus(&n.to_string()), Some(n));
        }
    }
    let _ = E164::parse_plus(s);
});
