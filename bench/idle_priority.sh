#!/usr/bin/env bash
# Does background work at the lowest priority leave the calls alone?
# (issue #34: why sealing waits for a free core, not just for SCHED_IDLE.)
# callscreen (redirect mode, the example config, no [records]) under
# tools/load/src/loadgen.rs at windows 8 and 64, in turn: alone; beside one
# busy loop per core at SCHED_IDLE (`chrt -i 0`); alone again. calls/s and
# p50/p99 of each.
#
#   bench/idle_priority.sh      (SECONDS_PER_RUN=8 by default)
#
# Needs python3 and chrt (util-linux). Loopback only; stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_RUN:-8}

cargo build --release --locked --quiet -p callscreen --bin callscreen -p callscreen-load --bin loadgen
. bench/lib.sh

load_config "$work/off.toml" "$work/state" -e '/^\[records\]$/,/^$/d'
./target/release/callscreen run --config "$work/off.toml" >"$work/noc" 2>"$work/err" &
pids+=("$!")
for _ in $(seq 1 600); do grep -q "callscreen ready" "$work/err" && break; sleep 0.05; done
grep -q "callscreen ready" "$work/err" || { cat "$work/err" >&2; exit 1; }

load() { # window
  ./target/release/loadgen run --target 127.0.0.1:5060 --window "$1" --seconds "$((secs + 1))" --warmup 1 |
    python3 -c 'import json, sys; d = json.load(sys.stdin); print("%.0f calls/s, p50 %d µs, p99 %d µs" % (d["calls_per_sec"], d["p50_us"], d["p99_us"]))'
}
for w in 8 64; do
  echo "window $w, alone:                       $(load "$w")"
  spin=()
  for _ in $(seq 1 "$(nproc)"); do
    chrt -i 0 sh -c 'while :; do :; done' &
    spin+=("$!")
    pids+=("$!")
  done
  echo "window $w, busy loops at SCHED_IDLE:    $(load "$w")"
  kill "${spin[@]}"
  wait "${spin[@]}" 2>/dev/null || true
  echo "window $w, alone again:                 $(load "$w")"
done
