#!/usr/bin/env bash
# The p99 of SIP calls during a 100 000-number list swap against the p99
# before it, on the release build (tests/e2e/api/load.rs, the ignored test).
# Run on an otherwise idle machine; repeat with RUNS=n.
set -euo pipefail
cd "$(dirname "$0")/.."
for _ in $(seq "${RUNS:-3}"); do
  cargo test --release --locked --test e2e -- --ignored --nocapture api::load::swap_latency_ratio 2>&1 |
    grep -E '^p99|test result|panicked'
done
