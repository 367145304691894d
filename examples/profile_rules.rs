//! A fixed workload for instruction counts (deterministic on a noisy
//! machine): 200 000 decisions of a clean call with every rule on
//! (200 protected companies, a signing international peer), or with
//! `core` as argument only the core rules (no protected list, no signing).
//!
//! cargo build --release --example profile_rules
//! valgrind --tool=callgrind ./target/release/examples/profile_rules [core]
//! callgrind_annotate --inclusive=yes callgrind.out.<pid> | head -40

use callscreen::config;
use callscreen::screen::{CallFacts, RawCall, screen};
use std::hint::black_box;
#[path = "../benches/support/mod.rs"]
mod common;
fn main() {
    let dir = std::env::temp_dir().join("callscreen-prof");
    std::fs::create_dir_all(&dir).unwrap();
    let mut companies = String::from("name = \"protected\"\nversion = 1\n");
    for i in 0..200 {
        companies.push_str(&format!("[[company]]\nname = \"Company {i}\"\nbrands = [\"Brandname{i}\", \"B{i}\"]\nnumbers = [\"+3120{:04}*\"]\ninbound_only = [\"+3120{:04}0000\"]\nallowed_peers = [\"dom\"]\n", 5000 + i, 6000 + i));
    }
    std::fs::write(dir.join("protected.toml"), companies).unwrap();
    let peers = "[[peers]]\nname = \"dom\"\ntrunk_ids = [\"dom\"]\nscope = \"domestic\"\n[[peers]]\nname = \"intl\"\ntrunk_ids = [\"intl\"]\nscope = \"international\"\nshaken_signs = true\n";
    let full = config::from_str(&format!("[[lists]]\nname = \"protected\"\nrole = \"protected\"\nfile = \"protected.toml\"\n{peers}"), &dir.join("full.toml")).unwrap();
    let protected = callscreen::loader::load_list(&full.lists[0], full.guard).unwrap();
    let core = std::env::args().nth(1).as_deref() == Some("core");
    let base = common::big_set(10_000, 1000);
    let lists = if core {
        base
    } else {
        base.with_list(std::sync::Arc::new(protected))
    };
    let full = if core {
        config::from_str(
            peers.replace("shaken_signs = true\n", "").as_str(),
            &dir.join("core.toml"),
        )
        .unwrap()
    } else {
        full
    };
    let raw = RawCall {
        from: "+4930123456",
        from_display: Some("Jan de Vries"),
        callee: "+31104567890",
        ..RawCall::default()
    };
    let peer = full.policy.peer_by_name("intl").unwrap();
    let facts = CallFacts::read(&raw, peer, &full.policy, 1_800_000_000);
    let mut n = 0;
    for _ in 0..200_000 {
        n += screen(black_box(&facts), &lists, &full.policy)
            .findings
            .len();
    }
    println!("{n}");
}
