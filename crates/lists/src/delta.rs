//! A delta (`PATCH`): lines added to a version and entries removed from it.
//! Its meaning is a text: the base version's entries, less the removed ones,
//! then the added lines, under the new version's header; that text is what
//! is stored, hashed and served. The list itself is not parsed from that
//! text again: the base list, already built, is patched (a merge of the
//! sorted numbers), so a 100-entry change to 10 million numbers costs a
//! copy, not a parse. A removed entry is named as the list writes it
//! (`+31201234567`, `+3185208*`); anything else removes nothing.

use std::collections::HashSet;

use serde::Deserialize;

use super::entry::Target;
use super::format::{Guard, LineError, ListErrors, PlanMinimums, parse, parse_target};
use super::kind::ListKind;
use super::numbers::{BloomParams, Change};
use super::set::{List, ListBody};

/// The body of a `PATCH`: entries as list lines (`+3185208*,reason,reference,expires`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delta {
    pub base_version: u64,
    pub version: u64,
    #[serde(default)]
    pub add: Vec<String>,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The entries a delta removes, as the list holds them.
#[derive(Clone, Debug, Default)]
pub struct Removed {
    /// Exact numbers, sorted.
    pub numbers: Vec<u64>,
    pub spans: HashSet<Target>,
}

impl Removed {
    /// The removals that name an entry as the list writes it.
    pub fn of(lines: &[String], kind: ListKind) -> Removed {
        // Any entry listed once can be removed, whatever the guard says now.
        let lenient = Guard {
            min_prefix_digits: 1,
            max_shrink_percent: 100,
            plan_minimums: PlanMinimums::default(),
        };
        let mut r = Removed::default();
        for l in lines {
            let l = l.trim();
            match parse_target(l, kind, lenient) {
                Ok(Target::Number(n)) if n.to_string() == l => r.numbers.push(n.as_u64()),
                Ok(t) if t.to_string() == l => {
                    r.spans.insert(t);
                }
                _ => {}
            }
        }
        r.numbers.sort_unstable();
        r.numbers.dedup();
        r
    }
}

/// The v1 text of `l` as version `version`, less `removed`, plus `extra`
/// lines: what export serves (nothing removed or added) and what a patched
/// version is.
pub fn v1_text(l: &List, version: u64, removed: &Removed, extra: &[String]) -> Vec<u8> {
    let mut out = Vec::new();
    if let ListBody::Numbers(n) = &l.body {
        out.reserve(n.counts().0 * 14);
    }
    v1_text_into(
        l,
        version,
        removed,
        extra,
        &mut out,
        usize::MAX,
        &mut |_| {},
    );
    out
}

/// The pieces a text is written in when it is not kept whole in memory.
pub const PIECE: usize = 1 << 20;

/// [`v1_text`] written to `out`, `flush` called whenever `out` holds
/// `piece` bytes or more, and once at the end.
fn v1_text_into(
    l: &List,
    version: u64,
    removed: &Removed,
    extra: &[String],
    out: &mut Vec<u8>,
    piece: usize,
    flush: &mut dyn FnMut(&mut Vec<u8>),
) {
    out.extend_from_slice(
        format!("# callscreen list v1 name={} version={version}\n", l.name).as_bytes(),
    );
    match &l.body {
        ListBody::Numbers(n) => {
            n.write_v1(out, &removed.numbers, &removed.spans, piece, flush);
        }
        ListBody::Networks(_) | ListBody::Companies(_) => {
            for (t, m) in l.entries() {
                if !removed.spans.contains(&t) {
                    out.extend_from_slice(t.to_string().as_bytes());
                    super::numbers::write_meta(out, m);
                    out.push(b'\n');
                }
            }
        }
    }
    for e in extra {
        out.extend_from_slice(e.trim().as_bytes());
        out.push(b'\n');
    }
    flush(out);
}

/// A version made by a delta: the list, what makes its text, and the
/// text's sha256.
pub struct Patched {
    pub list: List,
    pub text: Text,
    pub sha256: String,
}

/// Applies `d` to `base` (the version it names), hashing its text on other
/// threads meanwhile (in pieces: the text is never whole in memory). The
/// added lines are checked as a push's are; their errors name them
/// `add[i]`.
pub fn apply(
    base: &List,
    d: &Delta,
    bloom: BloomParams,
    guard: Guard,
) -> Result<Patched, ListErrors> {
    let text = Text::of(base, d);
    let (list, sha256) = std::thread::scope(|s| {
        let hashed = s.spawn(|| text.sha256(base));
        let list = patch_with(base, d, &text, bloom, guard);
        (list, hashed.join())
    });
    let sha256 = sha256
        .map_err(|_| ListErrors::single(None, "the patched text could not be hashed".into()))?;
    Ok(Patched {
        list: list?,
        text,
        sha256,
    })
}

/// What makes a patched version's text from its base: for a node that
/// swaps the patched list in first and writes the text after.
#[derive(Clone, Debug)]
pub struct Text {
    version: u64,
    removed: Removed,
    add: Vec<String>,
}

impl Text {
    /// The whole text.
    pub fn make(&self, base: &List) -> Vec<u8> {
        v1_text(base, self.version, &self.removed, &self.add)
    }

    /// The text in pieces of about [`PIECE`] bytes, each handed to `flush`
    /// in a buffer it may empty or replace.
    fn pieces(&self, base: &List, flush: &mut dyn FnMut(&mut Vec<u8>)) {
        let mut out = Vec::with_capacity(PIECE + 4096);
        let (version, removed, add) = (self.version, &self.removed, &self.add);
        v1_text_into(base, version, removed, add, &mut out, PIECE, flush);
    }

    /// The text in pieces of about [`PIECE`] bytes, each handed to `sink`.
    pub fn write(&self, base: &List, sink: &mut dyn FnMut(&[u8])) {
        self.pieces(base, &mut |b| {
            sink(b);
            b.clear();
        });
    }

    /// The text's sha256: written in pieces on this thread and hashed on
    /// another as they come (the two overlap; buffers are reused).
    pub fn sha256(&self, base: &List) -> String {
        use sha2::{Digest, Sha256};
        use std::sync::mpsc::sync_channel;
        let (full, pieces) = sync_channel::<Vec<u8>>(2);
        let (spare, spares) = sync_channel::<Vec<u8>>(4);
        std::thread::scope(|s| {
            let hasher = s.spawn(move || {
                let mut h = Sha256::new();
                for mut b in pieces {
                    h.update(&b);
                    b.clear();
                    let _ = spare.try_send(b);
                }
                super::format::hex(&h.finalize())
            });
            self.pieces(base, &mut |b| {
                let next = spares
                    .try_recv()
                    .unwrap_or_else(|_| Vec::with_capacity(PIECE + 4096));
                let _ = full.send(std::mem::replace(b, next));
            });
            drop(full);
            hasher.join().unwrap_or_default()
        })
    }
}

impl Text {
    fn of(base: &List, d: &Delta) -> Text {
        Text {
            version: d.version,
            removed: Removed::of(&d.remove, base.kind()),
            add: d.add.clone(),
        }
    }
}

/// Applies `d` to `base`: the patched list, and what makes its text.
pub fn patch(
    base: &List,
    d: &Delta,
    bloom: BloomParams,
    guard: Guard,
) -> Result<(List, Text), ListErrors> {
    let text = Text::of(base, d);
    Ok((patch_with(base, d, &text, bloom, guard)?, text))
}

fn patch_with(
    base: &List,
    d: &Delta,
    text: &Text,
    bloom: BloomParams,
    guard: Guard,
) -> Result<List, ListErrors> {
    let kind = base.kind();
    if kind == ListKind::Companies {
        return Err(ListErrors::single(
            None,
            "a companies list is replaced whole (PUT), not patched".into(),
        ));
    }
    let list = match &base.body {
        ListBody::Numbers(n) => {
            let mut lines = format!(
                "# callscreen list v1 name={} version={}\n",
                base.name, d.version
            );
            for a in &d.add {
                lines.push_str(a.trim());
                lines.push('\n');
            }
            let added = parse(lines.as_bytes(), kind, guard).map_err(added_errors)?;
            let change = Change {
                removed_numbers: &text.removed.numbers,
                removed_spans: &text.removed.spans,
                added,
            };
            List {
                name: base.name.clone(),
                version: d.version,
                role: base.role,
                body: ListBody::Numbers(n.patched(change, bloom)),
            }
        }
        // Network lists are small: their text is parsed.
        ListBody::Networks(_) | ListBody::Companies(_) => List::from_parsed(
            parse(&text.make(base), kind, guard)?,
            kind,
            base.role,
            bloom,
        ),
    };
    Ok(list)
}

/// The errors of the added lines, named by their place in `add`.
fn added_errors(e: ListErrors) -> ListErrors {
    ListErrors {
        total: e.total,
        errors: e
            .errors
            .into_iter()
            .map(|x| match x.line {
                Some(l) if l >= 2 => LineError {
                    line: None,
                    entry: None,
                    message: format!("add[{}]: {}", l - 2, x.message),
                },
                _ => x,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Role;

    fn build(body: &str, bloom: BloomParams) -> List {
        let p = parse(body.as_bytes(), ListKind::Numbers, Guard::default()).unwrap();
        List::from_parsed(p, ListKind::Numbers, Role::Blocklist, bloom)
    }

    fn delta(add: &[&str], remove: &[&str]) -> Delta {
        Delta {
            base_version: 1,
            version: 2,
            add: add.iter().map(|s| s.to_string()).collect(),
            remove: remove.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The patched list equals the list parsed from the patched text, entry
    /// for entry and meta for meta, for lists with and without a filter.
    #[test]
    fn a_patched_list_is_the_list_of_its_text() {
        let mut body = String::from("# callscreen list v1 name=t version=1\n");
        for i in 0..6000u64 {
            if i % 3 == 0 {
                body.push_str(&format!("+316{:08},scam,REF-{i}\n", i * 7));
            } else {
                body.push_str(&format!("+316{:08}\n", i * 7));
            }
        }
        body.push_str("+3185208*,block\n+31852081000-+31852081999\n+4930901820*\n");
        for (bloom, size) in [
            (BloomParams::default(), 6000),
            (BloomParams::default(), 100),
        ] {
            let body: String = body
                .lines()
                .take(size + 1)
                .map(|l| format!("{l}\n"))
                .collect::<String>()
                + "+3185208*,block\n+31852081000-+31852081999\n";
            let base = build(&body, bloom);
            let d = delta(
                &[
                    "+31600000007,again,NEW",
                    "+31699999999",
                    "+31699999998,x,,2030-01-01",
                    "+319700*",
                    " +31600000014 ",
                ],
                &[
                    "+31600000021",
                    "+3185208*",
                    "+31 600000028",
                    "+31600000035,scam",
                    "+31600000000",
                ],
            );
            let p = apply(&base, &d, bloom, Guard::default()).unwrap();
            let made = p.text.make(&base);
            assert_eq!(crate::format::sha256_hex(&made), p.sha256, "size {size}");
            let reparsed = build(std::str::from_utf8(&made).unwrap(), bloom);
            let a: Vec<_> = p.list.entries().map(|(t, m)| (t, m.clone())).collect();
            let b: Vec<_> = reparsed.entries().map(|(t, m)| (t, m.clone())).collect();
            assert_eq!(a, b, "size {size}");
            assert_eq!(p.list.version, 2);
            // Removed: canonical names only.
            let n = |s: &str| number::E164::parse_plus(s).unwrap();
            assert!(p.list.lookup_number(n("+31600000021"), 0).hit.is_none());
            assert!(p.list.lookup_number(n("+31600000000"), 0).hit.is_none());
            assert!(p.list.lookup_number(n("+31600000028"), 0).hit.is_some());
            assert!(p.list.lookup_number(n("+31600000035"), 0).hit.is_some());
            // Added, the added line's meta winning over the base's.
            let h = p.list.lookup_number(n("+31600000007"), 0).hit.unwrap();
            assert_eq!(h.meta.reference.as_deref(), Some("NEW"));
            assert!(p.list.lookup_number(n("+31699999999"), 0).hit.is_some());
            assert!(p.list.lookup_number(n("+31970000000"), 0).hit.is_some());
            assert!(p.list.lookup_number(n("+31852080000"), 0).hit.is_none());
            // The text: the new header, the kept entries, the added lines trimmed.
            let text = std::str::from_utf8(&made).unwrap();
            assert!(text.starts_with("# callscreen list v1 name=t version=2\n"));
            assert!(
                text.ends_with("\n+319700*\n+31600000014\n"),
                "{}",
                &text[text.len() - 60..]
            );
            assert!(!text.contains("\n+31600000021\n"));
        }
    }

    /// Chains of patches, small (an overlay on the shared store) and large
    /// (merged into a store of their own), with numbers added, removed,
    /// added back and re-added with other metas: after each, the patched
    /// list is the list of its text, entry for entry, lookup for lookup,
    /// in counts and diffs, and through a snapshot.
    #[test]
    fn chains_of_patches_stay_the_list_of_their_text() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rnd = move |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % m
        };
        let num = |i: u64| format!("+3161{:07}", i);
        let mut body = String::from("# callscreen list v1 name=t version=1\n");
        for i in 0..20_000u64 {
            if i % 2 == 0 {
                body.push_str(&num(i * 3));
                body.push_str(if i % 10 == 0 { ",old,R\n" } else { "\n" });
            }
        }
        body.push_str("+3185208*,block\n");
        let mut cur = build(&body, BloomParams::default());
        for (round, size) in [
            (2u64, 50u64),
            (3, 300),
            (4, 5000),
            (5, 10),
            (6, 3000),
            (7, 2000),
        ] {
            let mut add = Vec::new();
            let mut remove = Vec::new();
            for _ in 0..size {
                let n = num(rnd(60_000));
                match rnd(4) {
                    0 => remove.push(n),
                    1 => add.push(format!("{n},r{round},,2031-01-01")),
                    _ => add.push(n),
                }
            }
            if round == 5 {
                remove.push("+3185208*".into());
                add.push("+3185209*,new".into());
            }
            let d = Delta {
                base_version: round - 1,
                version: round,
                add,
                remove,
            };
            let p = apply(&cur, &d, BloomParams::default(), Guard::default()).unwrap();
            let made = p.text.make(&cur);
            assert_eq!(crate::format::sha256_hex(&made), p.sha256, "round {round}");
            let text = std::str::from_utf8(&made).unwrap();
            let reparsed = build(text, BloomParams::default());
            let a: Vec<_> = p.list.entries().map(|(t, m)| (t, m.clone())).collect();
            let b: Vec<_> = reparsed.entries().map(|(t, m)| (t, m.clone())).collect();
            assert_eq!(a, b, "round {round}");
            assert_eq!(p.list.stats(0), reparsed.stats(0), "round {round}");
            assert_eq!(p.list.stats(2_000_000_000), reparsed.stats(2_000_000_000));
            let (ListBody::Numbers(x), ListBody::Numbers(y), ListBody::Numbers(c)) =
                (&p.list.body, &reparsed.body, &cur.body)
            else {
                panic!("number lists")
            };
            assert_eq!(c.diff_counts(x), c.diff_counts(y), "round {round}");
            let snap = crate::snapshot::decode(&crate::snapshot::encode(&p.list).unwrap())
                .expect("a snapshot of a patched list");
            for i in 0..62_000u64 {
                let n = number::E164::parse_plus(&num(i)).unwrap();
                let want = reparsed
                    .lookup_number(n, 0)
                    .hit
                    .map(|h| (h.target, h.meta.clone()));
                assert_eq!(
                    p.list
                        .lookup_number(n, 0)
                        .hit
                        .map(|h| (h.target, h.meta.clone())),
                    want,
                    "{n} round {round}"
                );
                assert_eq!(
                    snap.lookup_number(n, 0)
                        .hit
                        .map(|h| (h.target, h.meta.clone())),
                    want,
                    "{n} snapshot round {round}"
                );
            }
            // Export of the patched list is the text of the reparsed one.
            assert_eq!(
                v1_text(&p.list, round, &Removed::default(), &[]),
                v1_text(&reparsed, round, &Removed::default(), &[])
            );
            cur = p.list;
        }
    }

    #[test]
    fn bad_added_lines_are_named() {
        let base = build(
            "# callscreen list v1 name=t version=1\n+31201234567\n",
            BloomParams::default(),
        );
        let e = match apply(
            &base,
            &delta(&["+31201234568", "+31*"], &[]),
            BloomParams::default(),
            Guard::default(),
        ) {
            Err(e) => e,
            Ok(_) => panic!("a too-wide prefix must be refused"),
        };
        assert_eq!(e.total, 1);
        assert!(
            e.errors[0].message.starts_with("add[1]: "),
            "{:?}",
            e.errors
        );
    }

    /// `head`, then `n` Dutch mobile numbers `step` apart.
    fn numbers(head: &str, n: u64, step: u64) -> String {
        let mut body = String::from(head);
        for i in 0..n {
            body.push_str(&format!("+316{:08}\n", i * step));
        }
        body
    }

    /// What going from one version to another changes, between a version
    /// and its patch (one store, two overlays) either way and between two
    /// patches of one base, is what comparing their entries one by one
    /// gives.
    #[test]
    fn changes_between_versions_sharing_a_store_are_their_entries_compared() {
        let base = build(
            &numbers(
                "# callscreen list v1 name=t version=1\n+3185208*\n",
                5_000,
                3,
            ),
            BloomParams::default(),
        );
        let (g, b) = (Guard::default(), BloomParams::default());
        let p1 = apply(
            &base,
            &delta(
                &["+31699999999", "+31600000001", "+319700*"],
                &["+31600000003", "+31600000006"],
            ),
            b,
            g,
        )
        .unwrap()
        .list;
        let p2 = apply(
            &base,
            &delta(
                &["+31600000002", "+31600000003"],
                &["+31600000009", "+3185208*"],
            ),
            b,
            g,
        )
        .unwrap()
        .list;
        let entries = |l: &List| -> std::collections::BTreeSet<String> {
            l.entries().map(|(t, _)| t.to_string()).collect()
        };
        for (from, to) in [
            (&base, &p1),
            (&p1, &base),
            (&p1, &p2),
            (&p2, &p1),
            (&base, &p2),
        ] {
            let (a, b) = (entries(from), entries(to));
            let (added, removed) = from.changes(to);
            let removed: std::collections::BTreeSet<String> =
                removed.iter().map(|t| t.to_string()).collect();
            assert_eq!(added, b.difference(&a).count());
            assert_eq!(removed, a.difference(&b).cloned().collect());
        }
    }

    /// A text of several pieces: the pieces are the whole text, and the
    /// sha256 hashed as they come is the whole text's.
    #[test]
    fn a_text_written_in_pieces_is_the_whole_text() {
        let base = build(
            &numbers("# callscreen list v1 name=t version=1\n", 200_000, 7),
            BloomParams::default(),
        );
        let d = delta(&["+31699999999,new,REF"], &["+31600000007"]);
        let p = apply(&base, &d, BloomParams::default(), Guard::default()).unwrap();
        let whole = p.text.make(&base);
        assert!(whole.len() > 2 * PIECE, "{}", whole.len());
        let (mut joined, mut pieces) = (Vec::new(), 0);
        p.text.write(&base, &mut |b| {
            pieces += 1;
            joined.extend_from_slice(b);
        });
        assert!(pieces >= 3, "{pieces}");
        assert_eq!(joined, whole);
        assert_eq!(p.sha256, crate::format::sha256_hex(&whole));
        assert_eq!(p.text.sha256(&base), p.sha256);
    }

    /// Export writes what the parser reads back (numbers with and without
    /// metas, prefixes, ranges, expiries), in the list's order.
    #[test]
    fn export_round_trips() {
        let body = "# callscreen list v1 name=t version=3\n+31201234568\n+31201234567,scam,REF-1,2030-01-01\n+31852081000-+31852081999\n+3185208*,,REF-2,\n";
        let l = build(body, BloomParams::default());
        let text = v1_text(&l, 3, &Removed::default(), &[]);
        assert_eq!(
            std::str::from_utf8(&text).unwrap(),
            "# callscreen list v1 name=t version=3\n+31201234567,scam,REF-1,2030-01-01\n+31201234568\n+31852081000-+31852081999\n+3185208*,,REF-2,\n"
        );
        let again = build(std::str::from_utf8(&text).unwrap(), BloomParams::default());
        assert_eq!(v1_text(&again, 3, &Removed::default(), &[]), text);
    }
}
