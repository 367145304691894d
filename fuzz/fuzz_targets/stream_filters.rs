//! A call-stream query (`GET /v1/calls/stream?…`, what `callscreen tail`
//! sends): its filters percent-decoded, read and checked against a
//! configuration (peers, lists, the closed set of reason codes).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

const CONFIG: &str = "[home]\ncountry_code = \"31\"\n[[peers]]\nname = \"dom\"\naddresses = [\"192.0.2.1/32\"]\nscope = \"domestic\"\n";

fuzz_target!(|data: &[u8]| {
    static SETTINGS: OnceLock<callscreen::config::Settings> = OnceLock::new();
    let settings = SETTINGS.get_or_init(|| {
        callscreen::config::from_str(CONFIG, std::path::Path::new("fuzz.toml"))
            .expect("the fuzz configuration")
    });
    if let Ok(q) = std::str::from_utf8(data) {
        let _ = callscreen::api::Filters::parse(Some(q), settings);
    }
});
