//! The v1 list text: parsed whole, and streamed in two chunks (as a push
//! arrives), with the same outcome.
#![no_main]

use callscreen::lists::format::TextParser;
use callscreen::lists::{Guard, ListKind, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    for kind in [ListKind::Numbers, ListKind::Networks] {
        let whole = parse(body, kind, Guard::default());
        let cut = usize::from(cut).min(body.len());
        let mut p = TextParser::new(kind, Guard::default());
        p.feed(&body[..cut]);
        p.feed(&body[cut..]);
        let streamed = p.finish();
        assert_eq!(whole.is_ok(), streamed.is_ok(), "chunked parsing disagrees");
        if let (Ok(a), Ok(b)) = (&whole, &streamed) {
            assert_eq!((a.version, a.len()), (b.version, b.len()));
        }
    }
});
