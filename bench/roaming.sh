#!/usr/bin/env bash
# The roaming check under load (issue #33), in one run on the same cores:
# callscreen (redirect mode, the example config) under
# tools/load/src/loadgen.rs with every call a Dutch mobile number (+316…)
# from an international peer, so that every call is one the check decides:
#   1. without [roaming] (spoof:domestic-mobile-intl, nothing asked);
#   2. with [roaming] and no cache (cache_secs = 0): every call asks the
#      endpoint (examples/roaming_endpoint.rs: HTTPS on loopback,
#      keep-alive, every number roaming) within the budget;
#   3. with [roaming] as configured by default, callers drawn from 1 000
#      numbers: answers from the cache after the first.
# Windows 8 and 64 each. Also the daemon's CPU per call, and the check's
# counters from /metrics (requests, cache hits, calls over budget or over
# the limit: an answer that did not come within budget_ms).
#
#   bench/roaming.sh            (SECONDS_PER_RUN=8 by default)
#
# Needs python3 and curl. Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_RUN:-8}

cargo build --release --locked --quiet -p callscreen --bin callscreen --example roaming_endpoint -p callscreen-load --bin loadgen
bin=./target/release/callscreen
lg=./target/release/loadgen

. bench/lib.sh

./target/release/examples/roaming_endpoint --dir "$work/hlr" --seconds 900 >"$work/hlr.out" &
pids+=($!)
for _ in $(seq 1 600); do grep -q "^ready" "$work/hlr.out" 2>/dev/null && break; sleep 0.05; done
url=$(sed -n 's/^ready url=//p' "$work/hlr.out")
[ -n "$url" ] || { echo "the roaming endpoint did not start" >&2; exit 1; }

start() { # config
  "$bin" run --config "$1" >"$work/cs.noc" 2>"$work/cs.err" &
  cs=$!
  pids+=("$cs")
  for _ in $(seq 1 600); do grep -q "callscreen ready" "$work/cs.err" && break; sleep 0.05; done
  grep -q "callscreen ready" "$work/cs.err" || { cat "$work/cs.err" >&2; exit 1; }
}
stop() { kill "$cs"; wait "$cs" 2>/dev/null || true; }
load() { # window [extra args…]
  local w=$1; shift
  "$lg" run --target 127.0.0.1:5060 --window "$w" --seconds "$((secs + 1))" --warmup 1 \
    --trunk intl1 --caller-prefix +316 "$@"
}
cpu() { awk '{print $14 + $15}' "/proc/$cs/stat"; }   # utime + stime, clock ticks
metrics() { curl -s -H "Authorization: Bearer example-ops-token" http://127.0.0.1:8080/metrics | grep -E '^callscreen_roaming_' | tr '\n' ' '; }

load_config "$work/off.toml" "$work/state-off"
for kind in asked cached; do
  load_config "$work/$kind.toml" "$work/state-$kind"
  cat >> "$work/$kind.toml" <<TOML

[roaming]
url = "$url"
ca_file = "$work/hlr/web-ca.pem"
TOML
done
echo 'cache_secs = 0' >> "$work/asked.toml"

declare -A R C
run() { # name window [extra…]
  local name=$1 w=$2; shift 2
  local c0 c1 out
  c0=$(cpu)
  out=$(load "$w" "$@")
  c1=$(cpu)
  R[$name,$w]=$out
  C[$name,$w]=$((c1 - c0))
  echo "  $name window $w: $out"
}

echo "== without [roaming]"
start "$work/off.toml"
for w in 8 64; do run off "$w"; done
stop
echo "== with [roaming], no cache: every call asked"
start "$work/asked.toml"
for w in 8 64; do run asked "$w"; done
echo "  counters: $(metrics)"
stop
echo "== with [roaming], answers cached"
start "$work/cached.toml"
for w in 8 64; do run cached "$w" --caller-pool 1000; done
echo "  counters: $(metrics)"
stop

python3 - "$(getconf CLK_TCK)" \
  "${R[off,8]}" "${R[off,64]}" "${R[asked,8]}" "${R[asked,64]}" "${R[cached,8]}" "${R[cached,64]}" \
  "${C[off,8]}" "${C[off,64]}" "${C[asked,8]}" "${C[asked,64]}" "${C[cached,8]}" "${C[cached,64]}" <<'EOF'
import json, sys
tck = int(sys.argv[1])
names = ["off,8", "off,64", "asked,8", "asked,64", "cached,8", "cached,64"]
r = {n: json.loads(a) for n, a in zip(names, sys.argv[2:8])}
c = {n: int(a) for n, a in zip(names, sys.argv[8:14])}
label = {"off": "without [roaming]", "asked": "every call asked (no cache)", "cached": "from the cache (1 000 numbers)"}
print()
print("| run | window | calls/s | vs without | p50 µs | p99 µs | daemon CPU µs/call | codes |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
for n in names:
    kind, w = n.split(",")
    x, base = r[n], r[f"off,{w}"]
    cpu = c[n] / tck / max(x["answered"], 1) * 1e6
    print(f"| {label[kind]} | {w} | {x['calls_per_sec']:.0f} | {x['calls_per_sec'] / max(base['calls_per_sec'], 1):.2f} | {x['p50_us']} | {x['p99_us']} | {cpu:.1f} | {x['codes']} |")
EOF
