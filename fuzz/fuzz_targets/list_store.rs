//! The exact store (Elias–Fano) behind a list built from fuzzed text: every
//! listed number is found, no neighbour that is not listed is, the numbers
//! come back ascending, and the binary snapshot reads back the same list.
#![no_main]

use callscreen::lists::snapshot::{decode, encode};
use callscreen::lists::{BloomParams, Guard, List, ListKind, Role, Target, parse};
use callscreen::number::E164;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(p) = parse(data, ListKind::Numbers, Guard::default()) else {
        return;
    };
    let spans = !p.entries.is_empty();
    let mut numbers = p.numbers.clone();
    numbers.sort_unstable();
    numbers.dedup();
    let l = List::from_parsed(p, ListKind::Numbers, Role::Blocklist, BloomParams::Off);
    for &v in &numbers {
        let n = E164::from_u64(v).expect("the parser gives E.164 numbers");
        assert!(l.lookup_number(n, 0).hit.is_some(), "listed {v} not found");
        if !spans
            && numbers.binary_search(&(v + 1)).is_err()
            && let Some(next) = E164::from_u64(v + 1)
        {
            assert!(l.lookup_number(next, 0).hit.is_none(), "{} found", v + 1);
        }
    }
    let listed: Vec<u64> = l
        .entries()
        .filter_map(|(t, _)| match t {
            Target::Number(n) => Some(n.as_u64()),
            _ => None,
        })
        .collect();
    assert_eq!(listed, numbers, "the store's numbers, ascending");
    let snap = encode(&l).expect("a number list has a snapshot");
    let back = decode(&snap).expect("its own snapshot reads back");
    let entries = |l: &List| l.entries().map(|(t, m)| (t, m.clone())).collect::<Vec<_>>();
    assert_eq!(entries(&back), entries(&l));
});
