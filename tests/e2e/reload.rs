//! SIGHUP reload under traffic: a new seed list takes effect, a broken one is
//! refused whole while the old lists keep serving, an older seed never
//! replaces a newer list (and is not parsed), and no call goes unanswered
//! meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::support::*;

#[test]
fn sighup_reloads_lists_under_traffic_without_losing_a_call() {
    let d = Daemon::start(
        "reload",
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\nudp_threads = 2\n",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, answered) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let traffic = {
        let (stop, sent, answered, to) = (
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&answered),
            d.udp,
        );
        std::thread::spawn(move || {
            let c = udp_client("127.0.0.1:0");
            // Bounded: at most 50 000 calls, and it stops when told.
            for i in 0..50_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                sent.fetch_add(1, Ordering::Relaxed);
                if udp_ask(&c, to, &invite(&format!("load-{i}"), "+31201234568", ""))
                    .is_some_and(|r| status(&r) == 302)
                {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let c = udp_client("127.0.0.1:0");
    let new_number =
        |id: &str| udp_ask(&c, d.udp, &invite(id, "+31201234599", "")).map(|r| status(&r));
    assert_eq!(new_number("before"), Some(302));
    // A new seed file, then a reload.
    let reseed = |text: &str| {
        std::fs::write(d.dir.join("scam.txt"), text).unwrap();
        d.signal("HUP");
    };

    // 1. A newer seed list: in force after the reload.
    reseed(
        "# callscreen list v1 name=scam-origins version=2\n+31201234567\n+31201234599,new-scam\n",
    );
    d.stdout
        .wait_for(|l| {
            l.contains("reloaded configuration and lists") && l.contains("scam-origins@2")
        })
        .expect("reloaded");
    assert_eq!(new_number("after-v2"), Some(608));
    assert!(d.noc_line("after-v2").contains("lists=scam-origins@2"));

    // 2. A broken seed list: refused whole, version 2 keeps serving.
    reseed("# callscreen list v1 name=scam-origins version=3\n+31201234599\n+31*\n");
    let err = d
        .stdout
        .wait_for(|l| l.contains("reload refused"))
        .expect("refused");
    assert!(err.contains("ERROR"), "{err}");
    let detail = d
        .stdout
        .wait_for(|l| l.contains("scam.txt:3: prefix \"+31*\" would block"))
        .expect("the file and line");
    assert!(!detail.is_empty());
    assert_eq!(new_number("after-broken"), Some(608));
    assert!(d.noc_line("after-broken").contains("lists=scam-origins@2"));

    // 3. An older seed list never replaces the newer one in force.
    reseed("# callscreen list v1 name=scam-origins version=1\n+31201234567\n");
    d.stdout
        .wait_for(|l| l.contains("seed file is older than the list in force"))
        .expect("kept the newer list");
    d.stdout
        .wait_for(|l| {
            l.contains("reloaded configuration and lists")
                && l.contains("scam-origins@2,acm-withdrawn@1")
        })
        .expect("reload done");
    assert_eq!(new_number("after-old-seed"), Some(608));

    // 4. An older seed is not even parsed: one with a broken line does not
    // fail the reload (as it would if it were read), version 2 is kept.
    reseed("# callscreen list v1 name=scam-origins version=1\n+31201234567\n+31*\n");
    let kept = d
        .stdout
        .wait_for(|l| l.contains("the seed was not parsed"))
        .expect("kept without parsing the seed");
    assert!(
        kept.contains("seed=1") && kept.contains("current=2"),
        "{kept}"
    );
    d.stdout
        .wait_for(|l| {
            l.contains("reloaded configuration and lists")
                && l.contains("scam-origins@2,acm-withdrawn@1")
        })
        .expect("reload done, not refused");
    assert_eq!(new_number("after-broken-old-seed"), Some(608));

    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    let (s, a) = (
        sent.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed),
    );
    eprintln!("calls during the reloads: {s} sent, {a} answered");
    assert!(s > 0);
    assert_eq!(a, s, "every call sent during the reloads was answered");
}
