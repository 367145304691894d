//! The hot path: one decision against 10 million listed numbers and 100 000
//! prefixes and ranges; and list build time.
//!
//! cargo bench --bench screen

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};

use callscreen::config;
use callscreen::screen::{CallFacts, RawCall, screen};

#[path = "support/mod.rs"]
mod common;
#[path = "../tests/support/example.rs"]
mod example;

const NOW: u64 = 1_800_000_000;

fn decisions(c: &mut Criterion) {
    let settings = config::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/callscreen.toml"
    )))
    .unwrap();
    let policy = &settings.policy;
    let peer = policy.peer_by_name("kpn-interconnect").unwrap();
    let lists = common::big_set(10_000_000, 100_000);
    let listed = common::a_listed_number();
    let mut g = c.benchmark_group("decision-10M");
    for (name, from) in [
        ("clean", "+31201230000"),
        ("clean-national-form", "020 123 0000"),
        ("listed-number", listed.as_str()),
        ("listed-prefix", "+31880123456"),
    ] {
        let raw = RawCall {
            from,
            callee: "+31104567890",
            ..RawCall::default()
        };
        let facts = CallFacts::read(&raw, peer, policy, NOW);
        g.bench_function(format!("screen/{name}"), |b| {
            b.iter(|| screen(black_box(&facts), &lists, policy).action)
        });
        g.bench_function(format!("read+screen/{name}"), |b| {
            b.iter(|| {
                let facts = CallFacts::read(black_box(&raw), peer, policy, NOW);
                screen(&facts, &lists, policy).action
            })
        });
    }
    // A spread of clean callers, so the Bloom filter is not always cache-hot.
    let mut rng = common::Rng::new(7);
    let callers: Vec<String> = (0..4096)
        .map(|_| format!("+3120{:07}", rng.next() % 10_000_000))
        .collect();
    let facts: Vec<_> = callers
        .iter()
        .map(|c| {
            CallFacts::read(
                &RawCall {
                    from: c,
                    callee: "+31104567890",
                    ..RawCall::default()
                },
                peer,
                policy,
                NOW,
            )
        })
        .collect();
    let mut i = 0;
    g.bench_function("screen/clean-random-callers", |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            screen(black_box(&facts[i]), &lists, policy).action
        })
    });
    g.finish();
}

/// The Bloom filter's worth: lookups with a 1% filter in front of the
/// exact store against the same list without one (the default: every
/// lookup searches the Elias–Fano store), for a 10-million-number list and
/// a 1000-number one.
fn bloom(c: &mut Criterion) {
    use callscreen::lists::{BloomParams, EntryMeta, NumberList};
    let with = NumberList::build(
        common::number_entries(10_000_000, 42),
        vec![EntryMeta::default()],
        BloomParams::FalsePositiveRate(0.01),
    );
    let without = NumberList::build(
        common::number_entries(10_000_000, 42),
        vec![EntryMeta::default()],
        BloomParams::Off,
    );
    let clean = clean_callers();
    let mut g = c.benchmark_group("lookup-10M-clean");
    lookups(&mut g, "bloom-1pct", &clean, |n| {
        with.lookup(n, NOW).hit.is_some()
    });
    lookups(&mut g, "bloom-off", &clean, |n| {
        without.lookup(n, NOW).hit.is_some()
    });
    g.finish();
    // Listed callers: the exact store is searched whatever the filter says.
    let mut r = common::Rng::new(11);
    let entries = common::number_entries(10_000_000, 42);
    let listed: Vec<callscreen::number::E164> = (0..4096)
        .filter_map(|_| match entries[(r.next() % 10_000_000) as usize].0 {
            callscreen::lists::Target::Number(n) => Some(n),
            _ => None,
        })
        .collect();
    drop(entries);
    let mut g = c.benchmark_group("lookup-10M-listed");
    lookups(&mut g, "bloom-1pct", &listed, |n| {
        with.lookup(n, NOW).hit.is_some()
    });
    lookups(&mut g, "bloom-off", &listed, |n| {
        without.lookup(n, NOW).hit.is_some()
    });
    g.finish();
    // A small list: 1.2 bytes a number is the 1% sizing.
    let small_with = NumberList::build(
        common::number_entries(1000, 42),
        vec![EntryMeta::default()],
        BloomParams::Bytes(1200),
    );
    let small_without = NumberList::build(
        common::number_entries(1000, 42),
        vec![EntryMeta::default()],
        BloomParams::Off,
    );
    let mut g = c.benchmark_group("lookup-1k-clean");
    lookups(&mut g, "bloom-1pct", &clean, |n| {
        small_with.lookup(n, NOW).hit.is_some()
    });
    lookups(&mut g, "bloom-off", &clean, |n| {
        small_without.lookup(n, NOW).hit.is_some()
    });
    g.finish();
}

/// A clustered list: 1 million numbers, half a dense block (an operator's
/// range listed number by number: +3185 0000 0000 onwards) and half spread
/// over Dutch numbers; lookups of numbers in the block and of numbers
/// beyond it (whose bucket comes after the whole block).
fn clustered(c: &mut Criterion) {
    use callscreen::lists::{BloomParams, EntryMeta, NumberList, Target};
    use callscreen::number::E164;
    let mut entries = common::number_entries(500_000, 42);
    entries.extend((0..500_000u64).map(|i| {
        let n = E164::from_u64(318_500_000_000 + i).expect("a number");
        (Target::Number(n), 0)
    }));
    let list = NumberList::build(entries, vec![EntryMeta::default()], BloomParams::Off);
    let mut r = common::Rng::new(5);
    let pick = |r: &mut common::Rng, base: u64, span: u64| -> Vec<E164> {
        (0..4096)
            .filter_map(|_| E164::from_u64(base + r.next() % span))
            .collect()
    };
    let inside = pick(&mut r, 318_500_000_000, 500_000);
    let beyond = pick(&mut r, 318_500_500_000, 100_000_000);
    let mut g = c.benchmark_group("lookup-1M-clustered");
    lookups(&mut g, "in-the-block", &inside, |n| {
        list.lookup(n, NOW).hit.is_some()
    });
    lookups(&mut g, "beyond-the-block", &beyond, |n| {
        list.lookup(n, NOW).hit.is_some()
    });
    g.finish();
}

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("1M-numbers", |b| {
        b.iter(|| common::number_list(1_000_000, 0))
    });
    g.bench_function("100k-prefixes-ranges", |b| {
        b.iter(|| common::number_list(0, 100_000))
    });
    g.finish();
}

/// Issue 6's budget: a clean call with every rule on (200 protected
/// companies and their brands, a signing peer with a PASSporT, an
/// international peer so the domestic-from-abroad rule runs) against the
/// same clean call with only the core rules, in one run.
fn all_rules(c: &mut Criterion) {
    use std::sync::Arc;
    let dir = std::env::temp_dir().join(format!("callscreen-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut companies = String::from("name = \"protected\"\nversion = 1\n");
    for i in 0..200 {
        companies.push_str(&format!(
            "[[company]]\nname = \"Company {i}\"\nbrands = [\"Brandname{i}\", \"B{i}\"]\nnumbers = [\"+3120{:04}*\"]\ninbound_only = [\"+3120{:04}0000\"]\nallowed_peers = [\"dom\"]\n",
            5000 + i,
            6000 + i
        ));
    }
    companies.push_str("[[company]]\nname = \"Microsoft\"\nbrands = [\"Microsoft\", \"Windows Support\"]\nnumbers = [\"+31205001500\"]\n");
    std::fs::write(dir.join("protected.toml"), companies).unwrap();
    let peers = "[[peers]]\nname = \"dom\"\ntrunk_ids = [\"dom\"]\nscope = \"domestic\"\n[[peers]]\nname = \"intl\"\ntrunk_ids = [\"intl\"]\nscope = \"international\"\nshaken_signs = true\n";
    let core = config::from_str(peers, &dir.join("core.toml")).unwrap();
    let full_text = format!(
        "[[lists]]\nname = \"protected\"\nrole = \"protected\"\nfile = \"protected.toml\"\n{peers}"
    );
    let full = config::from_str(&full_text, &dir.join("full.toml")).unwrap();
    let protected = callscreen::loader::load_list(&full.lists[0], full.guard).unwrap();
    let base = common::big_set(10_000_000, 100_000);
    let with_protected = base.with_list(Arc::new(protected));
    let header = "eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0IiwieDV1IjoiaHR0cHM6Ly9jZXJ0LmV4YW1wbGUvYS5wZW0ifQ";
    // {"attest":"A","orig":{"tn":"4930123456"},"dest":{"tn":["31104567890"]},"iat":1800000000}
    let payload = "eyJhdHRlc3QiOiJBIiwib3JpZyI6eyJ0biI6IjQ5MzAxMjM0NTYifSwiZGVzdCI6eyJ0biI6WyIzMTEwNDU2Nzg5MCJdfSwiaWF0IjoxODAwMDAwMDAwfQ";
    let identity =
        format!("{header}.{payload}.c2ln;info=<https://cert.example/a.pem>;alg=ES256;ppt=shaken");
    let mut identities = [None; callscreen::screen::facts::MAX_PARTS];
    identities[0] = Some(identity.as_str());
    let raw = RawCall {
        from: "+4930123456",
        from_display: Some("Jan de Vries"),
        callee: "+31104567890",
        identities,
        ..RawCall::default()
    };
    let core_peer = core.policy.peer_by_name("intl").unwrap();
    let full_peer = full.policy.peer_by_name("intl").unwrap();
    let core_facts = CallFacts::read(&raw, core_peer, &core.policy, NOW);
    let full_facts = CallFacts::read(&raw, full_peer, &full.policy, NOW);
    assert_eq!(
        screen(&full_facts, &with_protected, &full.policy)
            .findings
            .len(),
        0,
        "the bench call is clean"
    );
    let mut g = c.benchmark_group("rules-clean-call");
    g.bench_function("core-rules", |b| {
        b.iter(|| screen(black_box(&core_facts), &base, &core.policy).action)
    });
    g.bench_function("all-rules", |b| {
        b.iter(|| screen(black_box(&full_facts), &with_protected, &full.policy).action)
    });
    // A name that starts like a brand somewhere (" b…", "br…"): the
    // automaton runs (the worse case for a clean call).
    let raw_b = RawCall {
        from_display: Some("Bram Bakker"),
        ..raw
    };
    let full_facts_b = CallFacts::read(&raw_b, full_peer, &full.policy, NOW);
    assert_eq!(
        screen(&full_facts_b, &with_protected, &full.policy)
            .findings
            .len(),
        0
    );
    g.bench_function("all-rules-automaton-runs", |b| {
        b.iter(|| screen(black_box(&full_facts_b), &with_protected, &full.policy).action)
    });
    g.bench_function("read+core-rules", |b| {
        b.iter(|| {
            let f = CallFacts::read(black_box(&raw), core_peer, &core.policy, NOW);
            screen(&f, &base, &core.policy).action
        })
    });
    g.bench_function("read+all-rules", |b| {
        b.iter(|| {
            let f = CallFacts::read(black_box(&raw), full_peer, &full.policy, NOW);
            screen(&f, &with_protected, &full.policy).action
        })
    });
    g.finish();
}

/// The SIP work around a decision: a stateless answer (redirect mode) next
/// to a forwarded request and a relayed response (proxy mode).
fn sip_paths(c: &mut Criterion) {
    use callscreen::sip::forward::{Edits, OwnVia, branch, write_request};
    use callscreen::sip::relay::relay_response;
    use callscreen::sip::response::{copy_dialog_headers, finish, status_line};
    use callscreen::sip::{Framing, Limits, Scan, Scanner};
    let invite = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/spoofing/clean-domestic.sip"
    ))
    .expect("fixture");
    let invite = String::from_utf8_lossy(&invite)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    let invite = invite.as_bytes();
    let src: std::net::SocketAddr = "127.0.0.1:5062".parse().unwrap();
    let own = OwnVia {
        tls: false,
        tcp: false,
        host: "192.0.2.10",
        port: 5060,
        conn: None,
    };
    let mut scanner = Scanner::new(Limits::default());
    let mut out = Vec::with_capacity(4096);
    let mut g = c.benchmark_group("sip-paths");
    g.bench_function("answer-302", |b| {
        b.iter(|| {
            let Scan::Message(m) = scanner.scan(black_box(invite), Framing::Datagram) else {
                panic!()
            };
            let req = callscreen::sip::request::read(&m).unwrap();
            status_line(&mut out, 302, "Moved Temporarily");
            copy_dialog_headers(&mut out, &req.msg, Some(&req.top_via), src, Some(42));
            out.extend_from_slice(b"Contact: <sip:+31104567890@192.0.2.20>\r\n");
            finish(&mut out);
            out.len()
        })
    });
    g.bench_function("forward-invite", |b| {
        b.iter(|| {
            let Scan::Message(m) = scanner.scan(black_box(invite), Framing::Datagram) else {
                panic!()
            };
            let req = callscreen::sip::request::read_for_proxy(&m).unwrap();
            let br = branch(&req);
            let e = Edits::plain(69, "X-Callscreen", false, false);
            write_request(
                &mut out,
                &m,
                Some(&req.top_via),
                src,
                &own,
                br.as_bytes(),
                &e,
            );
            out.len()
        })
    });
    // The next hop's 200 to the forwarded INVITE.
    let forwarded = out.clone();
    let text = String::from_utf8_lossy(&forwarded);
    let mut resp = String::from("SIP/2.0 200 OK\r\n");
    for l in text.split("\r\n") {
        let n = l.split(':').next().unwrap_or("").to_ascii_lowercase();
        if ["via", "from", "to", "call-id", "cseq"].contains(&n.as_str()) {
            resp.push_str(l);
            resp.push_str("\r\n");
        }
    }
    resp.push_str("Content-Length: 0\r\n\r\n");
    g.bench_function("relay-response", |b| {
        b.iter(|| {
            let Scan::Message(m) = scanner.scan(black_box(resp.as_bytes()), Framing::Datagram)
            else {
                panic!()
            };
            let r = relay_response(&mut out, &m, |_| true);
            (
                matches!(r, callscreen::sip::relay::Relay::Forward(_)),
                out.len(),
            )
        })
    });
    g.finish();
}

/// A subscriber's own call (originating trunk: the dialled number is
/// screened too) against a call into the network (terminating), both clean,
/// with the 10-million-number set and the dialled-number lists.
fn directions(c: &mut Criterion) {
    let settings = config::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/callscreen.toml"
    )))
    .unwrap();
    let policy = &settings.policy;
    let lists = common::big_set(10_000_000, 100_000);
    let mut g = c.benchmark_group("direction");
    for (name, peer, callee) in [
        ("terminating", "kpn-interconnect", "+31104567890"),
        ("originating", "subscribers", "+31104567890"),
        ("originating-national-form", "subscribers", "0104567890"),
    ] {
        let peer = policy.peer_by_name(peer).unwrap();
        let raw = RawCall {
            from: "+31201230000",
            callee,
            ..RawCall::default()
        };
        g.bench_function(format!("read+screen/{name}"), |b| {
            b.iter(|| {
                let facts = CallFacts::read(black_box(&raw), peer, policy, NOW);
                screen(&facts, &lists, policy).action
            })
        });
    }
    g.finish();
}

/// A 100-number patch to a 10-million-number list (issue #15): the list
/// alone (the added numbers on top of the shared store), and with its text
/// and sha256 (what the node a `PATCH` arrives at does before publishing);
/// and a clean lookup in the patched list against the unpatched one.
fn patches(c: &mut Criterion) {
    use callscreen::lists::delta::{Delta, apply, patch};
    use callscreen::lists::{BloomParams, Guard, List, ListBody, Role};
    let base = List {
        name: "scam-origins".into(),
        version: 1,
        role: Role::Blocklist,
        body: ListBody::Numbers(common::number_list(10_000_000, 0)),
    };
    let delta = Delta {
        base_version: 1,
        version: 2,
        add: (0..100).map(|i| format!("+3197{i:08}")).collect(),
        remove: Vec::new(),
    };
    let (bloom, guard) = (BloomParams::default(), Guard::default());
    let mut g = c.benchmark_group("patch-10M");
    g.sample_size(10);
    g.bench_function("100-added/list", |b| {
        b.iter(|| patch(black_box(&base), &delta, bloom, guard).is_ok())
    });
    g.bench_function("100-added/list+text+sha256", |b| {
        b.iter(|| apply(black_box(&base), &delta, bloom, guard).is_ok())
    });
    if let Ok((_, text)) = patch(&base, &delta, bloom, guard) {
        g.bench_function("100-added/text", |b| {
            b.iter(|| text.make(black_box(&base)).len())
        });
        let made = text.make(&base);
        g.bench_function("100-added/sha256-of-text", |b| {
            b.iter(|| callscreen::lists::sha256_hex(black_box(&made)))
        });
    }
    g.finish();
    let Ok((patched, _)) = patch(&base, &delta, bloom, guard) else {
        return;
    };
    let clean = clean_callers();
    let mut g = c.benchmark_group("lookup-10M-clean");
    lookups(&mut g, "unpatched", &clean, |n| {
        base.lookup_number(n, NOW).hit.is_some()
    });
    lookups(&mut g, "patched-100", &clean, |n| {
        patched.lookup_number(n, NOW).hit.is_some()
    });
    g.finish();
}

/// 4096 callers not listed (in a block the listed numbers share).
fn clean_callers() -> Vec<callscreen::number::E164> {
    let mut rng = common::Rng::new(9);
    (0..4096)
        .map(|_| {
            callscreen::number::E164::from_u64(31_200_000_000 + rng.next() % 10_000_000).unwrap()
        })
        .collect()
}

/// One lookup a call, in turn over `callers`.
fn lookups(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    callers: &[callscreen::number::E164],
    lookup: impl Fn(callscreen::number::E164) -> bool,
) {
    let mut i = 0;
    g.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) & 4095;
            lookup(black_box(callers[i]))
        })
    });
}

/// What counting a call for bursts adds to the call path: two slots (the
/// number's and its block's), each behind its shard's mutex.
fn bursts(c: &mut Criterion) {
    use callscreen::config::BurstSettings;
    use callscreen::state::Bursts;
    let b = Bursts::new(BurstSettings::default());
    let callers = clean_callers();
    let mut g = c.benchmark_group("bursts");
    let (mut i, mut ms) = (0, 1_800_000_000_000u64);
    g.bench_function("count-a-call", |bn| {
        bn.iter(|| {
            i = (i + 1) & 4095;
            ms += 1;
            b.count(black_box(callers[i]), ms)
        })
    });
    g.finish();
    // A rejected call's list hit counted per entry (atomics only).
    let hits = callscreen::state::Hits::new(65_536);
    let reject = callscreen::screen::Action::Reject { code: 608 };
    let targets: Vec<callscreen::lists::Target> = callers
        .iter()
        .map(|&n| callscreen::lists::Target::Number(n))
        .collect();
    let mut g = c.benchmark_group("hits");
    let mut j = 0;
    g.bench_function("record-a-hit", |bn| {
        bn.iter(|| {
            j = (j + 1) & 4095;
            hits.record(
                "scam-origins",
                black_box(&targets[j]),
                reject,
                1_800_000_000,
            )
        })
    });
    g.finish();
}

/// One INVITE through the daemon's call path, as a receive thread runs it
/// (`Handler::handle`: scan, admission, the decision, the 302, the
/// retransmission cache, the counters), with the example config and its
/// lists, bursts and peer limits off as in `bench/run.sh`; the loadgen's
/// INVITE, a new Call-ID and caller each time (a lookup in a list of
/// millions adds tens of nanoseconds: `lookup-10M-*`). Not in it: the system calls, and the NOC line (logging is not
/// started here; `server::noc` formats it).
fn call_path(c: &mut Criterion) {
    use callscreen::sip::Framing;
    let mut h = example::example_handler();
    let src: std::net::SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let invite = "INVITE sip:+31104567890@callscreen.invalid;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-lg1x0-0000000000;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:+442000000000@sbc.invalid;user=phone>;tag=lg0000000000\r\n\
         To: <sip:+31104567890@callscreen.invalid>\r\n\
         Call-ID: lg-1-0-0000000000\r\n\
         CSeq: 1 INVITE\r\n\
         X-Ingress-Trunk: kpn\r\n\
         Content-Length: 0\r\n\r\n";
    let mut msg = invite.as_bytes().to_vec();
    // Where the sequence number's ten digits go (branch, tag, Call-ID) and
    // the caller's last eight.
    let at: Vec<usize> = invite.match_indices("0000000000").map(|(i, _)| i).collect();
    let caller_at = invite.find("+4420").unwrap() + 5;
    let mut seq: u64 = 0;
    let mut g = c.benchmark_group("call-path");
    g.bench_function("invite-to-302", |b| {
        b.iter(|| {
            seq += 1;
            let mut digits = [b'0'; 10];
            for (k, d) in digits.iter_mut().rev().enumerate() {
                *d = b'0' + (seq / 10u64.pow(k as u32) % 10) as u8;
            }
            for &i in &at {
                msg[i..i + 10].copy_from_slice(&digits);
            }
            msg[caller_at..caller_at + 8].copy_from_slice(&digits[2..]);
            h.handle(black_box(&msg), src, Framing::Datagram);
            assert!(h.out.starts_with(b"SIP/2.0 302"));
            h.out.len()
        })
    });
    g.finish();
}

criterion_group!(
    benches, decisions, bloom, clustered, all_rules, build, sip_paths, directions, patches, bursts,
    call_path
);
criterion_main!(benches);
