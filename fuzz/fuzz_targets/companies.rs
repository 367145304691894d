//! The protected-companies file (TOML or JSON), and brand matching on the
//! companies it yields.
#![no_main]

use callscreen::lists::companies::parse;
use callscreen::lists::{Guard, List};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (body, display) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b"Micr0soft Support"[..]),
    };
    if let Ok(c) = parse(body, Guard::default()) {
        let list = List::from_companies(c);
        if let (Some(cl), Ok(d)) = (list.companies(), std::str::from_utf8(display)) {
            let _ = cl.brand(d);
        }
    }
});
