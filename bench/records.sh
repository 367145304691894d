#!/usr/bin/env bash
# Call records under load (issue #34), in one run on the same cores:
# callscreen (redirect mode, the example config) under
# tools/load/src/loadgen.rs, windows 8 and 64:
#   1. without [records];
#   2. with [records] as the example configures it (every call recorded:
#      the queue, the staging log synced every 200 ms, Parquet segments
#      sealed at background priority as they fill; segment_records lowered
#      to 200 000 so that sealing happens within the run).
# calls/s, p50/p99 and the daemon's CPU per call (the recorder's threads
# included), and the records' counters from /metrics (written, sealed,
# dropped: a record the queue had no room for).
#
#   bench/records.sh            (SECONDS_PER_RUN=8 by default)
#
# Needs python3 and curl. Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_RUN:-8}

cargo build --release --locked --quiet -p callscreen --bin callscreen -p callscreen-load --bin loadgen
bin=./target/release/callscreen
lg=./target/release/loadgen

. bench/lib.sh

start() { # config
  "$bin" run --config "$1" >"$work/cs.noc" 2>"$work/cs.err" &
  cs=$!
  pids+=("$cs")
  for _ in $(seq 1 600); do grep -q "callscreen ready" "$work/cs.err" && break; sleep 0.05; done
  grep -q "callscreen ready" "$work/cs.err" || { cat "$work/cs.err" >&2; exit 1; }
}
stop() { kill "$cs"; wait "$cs" 2>/dev/null || true; }
load() { # window
  "$lg" run --target 127.0.0.1:5060 --window "$1" --seconds "$((secs + 1))" --warmup 1
}
cpu() { awk '{print $14 + $15}' "/proc/$cs/stat"; }   # utime + stime, clock ticks
metrics() { curl -s http://127.0.0.1:8080/metrics | grep -E '^callscreen_records_' | tr '\n' ' '; }

load_config "$work/off.toml" "$work/state-off" -e '/^\[records\]$/,/^$/d'
load_config "$work/on.toml" "$work/state-on" -e "s/^segment_records = .*/segment_records = ${SEGMENT_RECORDS:-200000}/"

declare -A R C
run() { # name window
  local name=$1 w=$2
  local c0 c1 out
  c0=$(cpu)
  out=$(load "$w")
  c1=$(cpu)
  R[$name,$w]=$out
  C[$name,$w]=$((c1 - c0))
  echo "  $name window $w: $out"
}

echo "== without [records]"
start "$work/off.toml"
for w in 8 64; do run off "$w"; done
stop
echo "== with [records]"
start "$work/on.toml"
for w in 8 64; do run on "$w"; done
echo "  counters: $(metrics)"
stop
du -sb "$work/state-on/records" | awk '{print "  records directory after stop: " $1 " bytes"}'

python3 - "$(getconf CLK_TCK)" \
  "${R[off,8]}" "${R[off,64]}" "${R[on,8]}" "${R[on,64]}" \
  "${C[off,8]}" "${C[off,64]}" "${C[on,8]}" "${C[on,64]}" <<'EOF'
import json, sys
tck = int(sys.argv[1])
names = ["off,8", "off,64", "on,8", "on,64"]
r = {n: json.loads(a) for n, a in zip(names, sys.argv[2:6])}
c = {n: int(a) for n, a in zip(names, sys.argv[6:10])}
label = {"off": "without [records]", "on": "with [records]"}
print()
print("| run | window | calls/s | vs without | p50 µs | p99 µs | p99 vs without | daemon CPU µs/call |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for n in names:
    kind, w = n.split(",")
    x, base = r[n], r[f"off,{w}"]
    cpu = c[n] / tck / max(x["answered"], 1) * 1e6
    print(f"| {label[kind]} | {w} | {x['calls_per_sec']:.0f} | {x['calls_per_sec'] / max(base['calls_per_sec'], 1):.2f} | {x['p50_us']} | {x['p99_us']} | {x['p99_us'] / max(base['p99_us'], 1):.2f} | {cpu:.1f} |")
EOF
