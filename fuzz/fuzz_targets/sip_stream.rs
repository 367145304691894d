//! A TCP stream: the bytes arrive cut at an arbitrary point (the first
//! byte says where); every whole message is scanned and consumed, and the
//! framing never stalls or runs past the buffer.
#![no_main]

use callscreen::sip::{Framing, Limits, Scan, Scanner};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, data)) = data.split_first() else {
        return;
    };
    let cut = usize::from(cut).min(data.len());
    let mut scanner = Scanner::new(Limits::default());
    let mut buf: Vec<u8> = Vec::new();
    for part in [&data[..cut], &data[cut..]] {
        buf.extend_from_slice(part);
        let mut at = 0;
        while at < buf.len() {
            match scanner.scan(&buf[at..], Framing::Stream) {
                Scan::Incomplete => break,
                Scan::Message(m) => {
                    assert!(m.len <= buf.len() - at, "a message longer than the buffer");
                    at += m.len.max(1);
                    if m.fault.is_some_and(|f| f.breaks_framing()) {
                        at = buf.len();
                    }
                }
            }
        }
        buf.drain(..at.min(buf.len()));
    }
});
