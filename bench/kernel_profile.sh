#!/usr/bin/env bash
# Where a call's kernel time goes (issue #13): the trivial responder and
# callscreen (redirect mode, the example config and lists), one after the
# other at window 8 under tools/load/src/loadgen.rs, each sampled by `perf record`
# (cpu-clock) for a few seconds. Prints each one's CPU per call, user and
# kernel, and the kernel functions where callscreen spends more per call
# than the responder, in nanoseconds per call.
#
#   bench/kernel_profile.sh            4 s of samples each
#   SECONDS_PER_RUN=8 bench/kernel_profile.sh
#
# Needs perf (Debian: linux-perf) and python3; loopback only, stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "needs perf (apt-get install linux-perf)" >&2; exit 1; }
secs=${SECONDS_PER_RUN:-4}

cargo build --release --locked --quiet -p callscreen --bin callscreen -p callscreen-load --bin loadgen
bin=./target/release/callscreen
lg=./target/release/loadgen

. bench/lib.sh

# ready PID LOG TEXT: waits until LOG says TEXT; fails if PID exits first
# (a port taken by another process, say).
ready() {
  until grep -qs "$3" "$2"; do
    if ! kill -0 "$1" 2>/dev/null; then
      echo "it did not start: $(grep -m1 -iE "error|in use|address" "$2" || tail -1 "$2")" >&2
      exit 1
    fi
    sleep 0.01
  done
}

# profile NAME PID ADDR: loadgen at window 8 on ADDR, PID sampled meanwhile.
profile() {
  local name=$1 pid=$2 addr=$3
  "$lg" run --target "$addr" --window 8 --seconds $((secs + 2)) --warmup 1 > "$work/$name.json" &
  local load=$!
  sleep 1.5
  local u0 k0
  u0=$(awk '{print $14}' "/proc/$pid/stat"); k0=$(awk '{print $15}' "/proc/$pid/stat")
  perf record -F 4999 -p "$pid" -o "$work/$name.data" -- sleep "$secs" >/dev/null 2>&1
  echo "$(( $(awk '{print $14}' "/proc/$pid/stat") - u0 )) $(( $(awk '{print $15}' "/proc/$pid/stat") - k0 ))" > "$work/$name.ticks"
  wait "$load"
}

"$lg" responder --listen 127.0.0.1:5070 --threads 1 --seconds 600 2> "$work/responder.log" &
resp=$!
pids+=("$resp")
ready "$resp" "$work/responder.log" "responder ready"
profile responder "$resp" 127.0.0.1:5070
kill "$resp"

load_config "$work/cs.toml" "$work/state"
"$bin" run --config "$work/cs.toml" > "$work/noc.log" 2> "$work/cs.log" &
cs=$!
pids+=("$cs")
ready "$cs" "$work/cs.log" "callscreen ready"
profile callscreen "$cs" 127.0.0.1:5060
kill "$cs"

python3 - "$work" "$secs" "$(getconf CLK_TCK)" <<'EOF'
import json, subprocess, sys
work, secs, hz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
period_ns = 1e9 / 4999
def read(name):
    r = json.load(open(f"{work}/{name}.json"))
    calls = r["calls_per_sec"] * secs
    user, kern = (int(x) for x in open(f"{work}/{name}.ticks").read().split())
    txt = subprocess.run(["perf", "report", "-i", f"{work}/{name}.data", "--no-children",
                          "--sort", "dso,sym", "-g", "none", "-n", "--stdio"],
                         capture_output=True, text=True).stdout
    syms = {}
    for line in txt.splitlines():
        p = line.split()
        if line.startswith("#") or len(p) < 5 or p[2] != "[kernel.kallsyms]":
            continue
        syms[p[4]] = int(p[1]) * period_ns / calls
    return r, calls, user * 1e6 / hz / calls, kern * 1e6 / hz / calls, syms
R, C = read("responder"), read("callscreen")
for name, (r, _, u, k, _) in (("responder", R), ("callscreen", C)):
    print(f"{name:10} {r['calls_per_sec']:>7.0f} calls/s at window 8: CPU per call {u + k:.2f} µs, "
          f"user {u:.2f}, kernel {k:.2f}")
print()
print("kernel functions, ns per call: callscreen − responder (responder, callscreen)")
rows = sorted(((C[4].get(s, 0) - R[4].get(s, 0), s) for s in set(R[4]) | set(C[4])), reverse=True)
for d, s in rows[:15]:
    print(f"  {d:7.0f}  {s:40} ({R[4].get(s, 0):.0f}, {C[4].get(s, 0):.0f})")
print(f"  {sum(C[4].values()) - sum(R[4].values()):7.0f}  (all kernel functions)")
EOF
