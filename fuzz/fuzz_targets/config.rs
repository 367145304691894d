//! The configuration file: validated, never a panic, every error with its key.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = callscreen::config::from_str(text, Path::new("/nonexistent/fuzz.toml")) {
        assert!(!errors.0.is_empty(), "a refusal names at least one error");
    }
});
