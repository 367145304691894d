#!/usr/bin/env bash
# One peer floods as fast as one sender thread here can while another peer
# makes 2 000 calls (200/s for 10 s), on the release build; first with a
# UDP queue per peer (the default), then with one shared queue (as before
# issue #11), in one run. Prints the calm peer's answered share and
# latency (tests/e2e/flood.rs, the ignored test `flood_figures`). Then the
# same for a /24 peer while 248 unknown addresses flood (`spoofed_flood_figures`:
# its network's queue, then one shared queue).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release --locked --test e2e --no-run >/dev/null 2>&1
for queues in ${QUEUES:-on off}; do
  CALLSCREEN_FLOOD_QUEUES=$queues cargo test --release --locked --test e2e -- \
    --ignored --nocapture --exact flood::flood_figures 2>&1 | grep -E '^queues=|panicked'
done
for queues in ${QUEUES:-on off}; do
  CALLSCREEN_FLOOD_QUEUES=$queues cargo test --release --locked --test e2e -- \
    --ignored --nocapture --exact flood::spoofed_flood_figures 2>&1 | grep -E '^queues=|panicked'
done
