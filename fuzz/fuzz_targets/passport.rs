//! An Identity header value: the SHAKEN PASSporT reader.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = callscreen::screen::passport::ppt(s);
        let _ = callscreen::screen::passport::parse(s);
    }
});
