//! The call path allocates nothing per call (issue 13: "no allocation per
//! call on the hot path"): a counting allocator watches the thread that
//! screens INVITEs (clean, listed, spoofed, retransmitted, and a broken one
//! answered 400) once the call path is warm.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

mod support;

use callscreen::server::Handler;
use callscreen::sip::Framing;

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Whether this thread's allocations are counted.
    static WATCHED: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call goes to the system allocator unchanged; counting has
// no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's layout, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if WATCHED.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `dealloc`, and the caller's new size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// An INVITE from `caller` (display name `name`), call number `n`.
fn invite(n: u64, caller: &str, name: &str) -> Vec<u8> {
    format!(
        "INVITE sip:+31104567890@callscreen.invalid;user=phone SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bK-a{n:010};rport\r\n\
         Max-Forwards: 70\r\n\
         From: {name}<sip:{caller}@sbc.invalid;user=phone>;tag=t{n:010}\r\n\
         To: <sip:+31104567890@callscreen.invalid>\r\n\
         Call-ID: alloc-{n:010}\r\n\
         CSeq: 1 INVITE\r\n\
         X-Ingress-Trunk: kpn\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn screening_a_call_allocates_nothing() {
    // With call records on: a call is encoded into the records' queue too.
    let records = support::temp_dir("alloc-records");
    let mut h = support::example::example_handler_recording(Some(&records));
    let src: std::net::SocketAddr = "127.0.0.1:40000".parse().expect("an address");
    // Clean, listed (+31201234567 is in config/lists/scam-origins.txt), a
    // Dutch number from abroad, an impersonating display name, withheld.
    let callers = [
        ("+442000000001", ""),
        ("+31201234567", ""),
        ("+31612345678", ""),
        ("+18005550100", "\"Micr0soft Support\" "),
        ("anonymous", ""),
    ];
    let broken = b"INVITE sip:x@y SIP/2.0\r\nVia: nonsense\r\n\r\n".to_vec();
    // Every message built before counting starts.
    let rounds: Vec<Vec<u8>> = (0..2000u64)
        .map(|n| {
            let (caller, name) = callers[(n % callers.len() as u64) as usize];
            invite(n, caller, name)
        })
        .collect();
    let mut codes = std::collections::BTreeMap::new();
    let mut run = |h: &mut Handler, msgs: &[Vec<u8>], watch: bool| {
        for m in msgs {
            // The second is a retransmission, answered from the cache.
            for m in [m, m, &broken] {
                WATCHED.with(|w| w.set(watch));
                h.handle(m, src, Framing::Datagram);
                WATCHED.with(|w| w.set(false));
                let code = h.out.get(8..11).map(<[u8]>::to_vec).unwrap_or_default();
                *codes
                    .entry(String::from_utf8_lossy(&code).into_owned())
                    .or_insert(0) += 1;
            }
        }
    };
    // Warm: buffers reach their working sizes, lazily built tables are built.
    run(&mut h, &rounds[..500], false);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    run(&mut h, &rounds[500..], true);
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - before;
    for code in ["302", "400", "608"] {
        assert!(codes.contains_key(code), "no {code} among {codes:?}");
    }
    // The calls were recorded: dropping the handler stops the recorder,
    // which writes and seals them.
    drop(h);
    let sealed = std::fs::read_dir(&records)
        .map(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".parquet"))
        })
        .unwrap_or(false);
    assert!(sealed, "no call recorded in {records:?}");
    assert_eq!(
        allocations, 0,
        "allocations while screening 1500 calls twice and 1500 broken requests (answers: {codes:?})"
    );
}
