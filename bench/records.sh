#!/usr/bin/env bash
# Call records under load (issue #34), in one run on the same cores:
# two callscreen daemons (redirect mode, the example config), one without
# [records] (SIP 127.0.0.1:5060, API :8080) and one with it (:5062, :8082),
# both running throughout, loaded in turn by tools/load/src/loadgen.rs in
# the order without, with, with, without (ABBA: drift on a shared machine
# falls on both alike), at windows 8 and 64. With [records] every call is
# recorded: the queue, the staging log synced every 200 ms, Parquet
# segments sealed in a child process when a core is free
# (segment_records lowered to 200 000 so that several fill within the
# run; SEAL_WAIT_SECS=0 seals at once, whatever the load: what sealing
# costs a node with no core to spare).
# calls/s, p50/p99 (each the mean of the two runs), the daemon's CPU per
# call (the sealing process is not the daemon's), and the records'
# counters from /metrics.
#
#   bench/records.sh            (SECONDS_PER_RUN=8 by default)
#   SEAL_WAIT_SECS=0 bench/records.sh
#
# Needs python3 and curl. Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_RUN:-8}

cargo build --release --locked --quiet -p callscreen --bin callscreen -p callscreen-load --bin loadgen
bin=./target/release/callscreen
lg=./target/release/loadgen

. bench/lib.sh

declare -A PID
start() { # name config
  "$bin" run --config "$2" >"$work/$1.noc" 2>"$work/$1.err" &
  PID[$1]=$!
  pids+=("$!")
  for _ in $(seq 1 600); do grep -q "callscreen ready" "$work/$1.err" && break; sleep 0.05; done
  grep -q "callscreen ready" "$work/$1.err" || { cat "$work/$1.err" >&2; exit 1; }
}
stop() { # name
  kill "${PID[$1]}"; wait "${PID[$1]}" 2>/dev/null || true
  grep -h "call records" "$work/$1.noc" | sed "s/^/  log: /" | tail -4 || true
}
declare -A PORT=([off]=5060 [on]=5062)
load() { # name window
  "$lg" run --target "127.0.0.1:${PORT[$1]}" --window "$2" --seconds "$((secs + 1))" --warmup 1
}
cpu() { awk '{print $14 + $15}' "/proc/${PID[$1]}/stat"; }   # utime + stime, clock ticks
metrics() { curl -s http://127.0.0.1:8082/metrics | grep -E '^callscreen_records_' | tr '\n' ' '; }

load_config "$work/off.toml" "$work/state-off" -e '/^\[records\]$/,/^$/d'
load_config "$work/on.toml" "$work/state-on" \
  -e "s/^segment_records = .*/segment_records = ${SEGMENT_RECORDS:-200000}/" \
  -e "s/^seal_wait_secs = .*/seal_wait_secs = ${SEAL_WAIT_SECS:-900}/" \
  -e 's/:5060"/:5062"/g' -e 's/127.0.0.1:8080/127.0.0.1:8082/'

start off "$work/off.toml"
start on "$work/on.toml"
results=()
for w in 8 64; do
  for name in off on on off; do
    c0=$(cpu "$name")
    out=$(load "$name" "$w")
    c1=$(cpu "$name")
    echo "  $name window $w: $out"
    results+=("$name $w $((c1 - c0)) $out")
  done
done
echo "  counters while loaded: $(metrics)"
stop off
stop on
du -sb "$work/state-on/records" | awk '{print "  records directory after stop: " $1 " bytes"}'

printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
tck = int(sys.argv[1])
runs = {}
for line in sys.stdin:
    name, w, ticks, js = line.split(" ", 3)
    x = json.loads(js)
    runs.setdefault((name, int(w)), []).append((x, int(ticks)))
def mean(name, w, f):
    rs = runs[(name, w)]
    return sum(f(x, t) for x, t in rs) / len(rs)
label = {"off": "without [records]", "on": "with [records]"}
print()
print("| run | window | calls/s | vs without | p50 µs | p99 µs | p99 vs without | daemon CPU µs/call |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for w in (8, 64):
    for name in ("off", "on"):
        cps = mean(name, w, lambda x, t: x["calls_per_sec"])
        p50 = mean(name, w, lambda x, t: x["p50_us"])
        p99 = mean(name, w, lambda x, t: x["p99_us"])
        cpu = mean(name, w, lambda x, t: t / tck / max(x["answered"], 1) * 1e6)
        b_cps = mean("off", w, lambda x, t: x["calls_per_sec"])
        b_p99 = mean("off", w, lambda x, t: x["p99_us"])
        print(f"| {label[name]} | {w} | {cps:.0f} | {cps / b_cps:.2f} | {p50:.0f} | {p99:.0f} | {p99 / b_p99:.2f} | {cpu:.1f} |")
' "$(getconf CLK_TCK)"
