#!/usr/bin/env bash
# callscreen and Kamailio side by side, on equal terms, in one run (issue
# #13): the trivial responder (the harness's ceiling), callscreen and
# Kamailio 5.6 one after the other on the same cores, each screening the
# same list (1 million numbers and 1 000 prefixes) with one log line per
# call, under tools/load/src/loadgen.rs (one UDP address and port, like an SBC;
# closed loop, windows 8 and 64). Prints one table: calls/s and latency
# p50/p99/p99.9 per window, the ratios to the ceiling and to Kamailio,
# start-up time and memory (PSS) with 1 and 10 million numbers (and the
# bytes per listed number between them), callscreen's p99 while a
# 10-million-number list is pushed during the load, the restart with that
# list in force, and the daemon's CPU per call in redirect and proxy mode
# (proxy mode's next hop: the trivial responder).
#
#   bench/run.sh                 the whole comparison (a few minutes)
#   bench/run.sh --ci            a CI-sized check: 100 000 numbers, callscreen
#                                only, 3 s per window; fails on a lost call or
#                                a wrong verdict mix (no figure is asserted)
#   SECONDS_PER_RUN=20 bench/run.sh, NUMBERS=… , SKIP_10M=1
#
# Needs kamailio and kamailio-sqlite-modules (installed when missing, as
# root), python3. Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

ci=0
[ "${1:-}" = "--ci" ] && ci=1
numbers=${NUMBERS:-1000000}
secs=${SECONDS_PER_RUN:-8}
if [ $ci = 1 ]; then
  numbers=${NUMBERS:-100000}
  secs=${SECONDS_PER_RUN:-3}
fi
cores=$(nproc)

if [ $ci = 0 ] && ! { command -v kamailio >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so ]; }; then
  echo "installing kamailio and its SQLite module"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio kamailio-sqlite-modules >/dev/null
fi

cargo build --release --locked --quiet -p callscreen --bin callscreen -p callscreen-load --bin loadgen
bin=./target/release/callscreen
lg=./target/release/loadgen

. bench/lib.sh

echo "lists: $numbers numbers and 1000 prefixes"
db_flag=""
[ $ci = 1 ] && db_flag="--no-db"
python3 bench/gen_bench_lists.py "$numbers" "$work/lists" 2 $db_flag

# PSS of a process and its children (kB).
pss() {
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo $total
}

# Seconds (two decimals) since a `date +%s%N` reading.
secs_since() { awk -v t0="$1" -v t1="$(date +%s%N)" 'BEGIN { printf "%.2f\n", (t1 - t0) / 1e9 }'; }

# Waits until ADDR answers an INVITE (the daemon is ready); prints seconds
# since $2. One prober asks every 5 ms (the new transaction each time), so
# the reading is not a Python start-up or a poll interval late.
wait_answering() {
  local addr=$1 t0=$2
  if python3 - "$addr" <<'EOF' 2>/dev/null; then
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(0.005)
p = s.getsockname()[1]
deadline = time.monotonic() + 120
n = 0
while time.monotonic() < deadline:
    n += 1
    s.sendto((f"INVITE sip:+31104567890@x;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-probe{n};rport\r\n"
              f"Max-Forwards: 70\r\nFrom: <sip:+442000000001@sbc;user=phone>;tag=p\r\nTo: <sip:+31104567890@x>\r\n"
              f"Call-ID: probe-{p}-{n}\r\nCSeq: 1 INVITE\r\nX-Ingress-Trunk: kpn\r\nContent-Length: 0\r\n\r\n").encode(), (host, int(port)))
    try:
        s.recv(4000)
        sys.exit(0)
    except OSError:
        time.sleep(0.001)
sys.exit(1)
EOF
    secs_since "$t0"
    return 0
  fi
  echo "never answered" >&2
  return 1
}

# Both screeners give the sample's verdicts (608 listed, 302 clean).
check_sample() {
  python3 - "$1" "$work/lists/sample.txt" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(2)
p = s.getsockname()[1]
bad = 0
lines = open(sys.argv[2]).read().split("\n")
for i, line in enumerate(l for l in lines if l):
    caller, due = line.split()
    s.sendto((f"INVITE sip:+31104567890@x;user=phone SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-s{i};rport\r\n"
              f"Max-Forwards: 70\r\nFrom: <sip:{caller}@sbc;user=phone>;tag=s{i}\r\nTo: <sip:+31104567890@x>\r\n"
              f"Call-ID: sample-{i}-{p}\r\nCSeq: 1 INVITE\r\nX-Ingress-Trunk: kpn\r\nContent-Length: 0\r\n\r\n").encode(), (host, int(port)))
    code = s.recv(4000).decode().split()[1]
    got = {"608": "reject", "302": "allow"}.get(code, code)
    if got != due:
        bad += 1
        print(f"  {caller}: {got}, due {due}", file=sys.stderr)
print(f"{len([l for l in lines if l]) - bad}/{len([l for l in lines if l])}")
sys.exit(1 if bad else 0)
EOF
}

# loadgen against ADDR at window W; its JSON line.
load() {
  "$lg" run --target "$1" --window "$2" --seconds "$((secs + 1))" --warmup 1 \
    --listed "$work/lists/listed.txt" --listed-share 0.01 --trunk kpn
}

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])$2)" "$1"; }

# callscreen's config: the example's, screening the bench list, bursts and
# peer limits off (one SBC sends far more than any real peer), its API for
# the push during load, the NOC line to a file.
cs_config() {
  load_config "$work/cs-$2.toml" "$work/state-$2" -e "s|file = \"lists/scam-origins.txt\"|file = \"$1\"|"
}

start_callscreen() { # list-file name
  cs_config "$1" "$2"
  rm -rf "$work/state-$2"
  t0=$(date +%s%N)
  "$bin" run --config "$work/cs-$2.toml" >"$work/cs-$2.noc" 2>"$work/cs-$2.err" &
  cs_pid=$!
  pids+=("$cs_pid")
  cs_start=$(wait_answering 127.0.0.1:5060 "$t0") || { cat "$work/cs-$2.err" >&2; exit 1; }
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# CPU time (utime + stime, clock ticks) of a process; its kernel part (stime).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
kticks() { awk '{print $15}' "/proc/$1/stat"; }

# Microseconds per call: ticks, the loadgen's JSON line.
per_call() {
  python3 -c 'import json,sys; print("%.1f" % (int(sys.argv[2]) / int(sys.argv[3]) / max(json.loads(sys.argv[1])["answered_all"], 1) * 1e6))' \
    "$2" "$1" "$(getconf CLK_TCK)"
}

declare -A R CPU KCPU
run_target() { # name addr [pid: its CPU per call is measured]
  for w in 8 64; do
    local c0=0 k0=0
    [ -n "${3:-}" ] && c0=$(ticks "$3") && k0=$(kticks "$3")
    out=$(load "$2" "$w")
    if [ -n "${3:-}" ]; then
      CPU[$1,$w]=$(per_call "$(( $(ticks "$3") - c0 ))" "$out")
      KCPU[$1,$w]=$(per_call "$(( $(kticks "$3") - k0 ))" "$out")
      echo "  $1 window $w: daemon CPU ${CPU[$1,$w]} µs per call, ${KCPU[$1,$w]} of it in the kernel"
    fi
    echo "  $1 window $w: $out"
    R[$1,$w]=$out
    lost=$(field "$out" "['timeouts']")
    if [ "$lost" != 0 ]; then
      echo "  $1 window $w: $lost calls unanswered" >&2
      [ $ci = 1 ] && exit 1
    fi
  done
}

# The trivial responder on 127.0.0.1:5070 ($resp), answering. With one
# thread: on two cores beside the generator it answers more than with two
# (BENCHMARKS.md), so the ceiling is higher. Fails when what answers there
# is not it (the port taken by another process would be measured instead).
start_responder() {
  "$lg" responder --listen 127.0.0.1:5070 --threads 1 --seconds 900 2>"$work/responder.err" &
  resp=$!
  pids+=("$resp")
  wait_answering 127.0.0.1:5070 "$(date +%s%N)" >/dev/null
  if ! kill -0 "$resp" 2>/dev/null; then
    echo "the trivial responder did not start on 127.0.0.1:5070 (is another process using it?):" \
      "$(grep -m1 "responder's address" "$work/responder.err" || tail -1 "$work/responder.err")" >&2
    exit 1
  fi
}

echo "== ceiling: the trivial responder"
start_responder
run_target ceiling 127.0.0.1:5070 "$resp"
stop "$resp"

echo "== callscreen ($numbers numbers)"
start_callscreen "$work/lists/scam-origins.txt" 1m
echo "  ready after ${cs_start} s, PSS $(pss "$cs_pid") kB"
echo "  verdicts on the sample: $(check_sample 127.0.0.1:5060)"
cs_pss_1m=$(pss "$cs_pid")
cs_start_1m=$cs_start
run_target callscreen 127.0.0.1:5060 "$cs_pid"
noc_lines=$(grep -c ' call ' "$work/cs-1m.noc" || true)
echo "  NOC lines written: $noc_lines"
if [ $ci = 1 ]; then
  # The verdict mix: listed callers (1 %) rejected, the rest let through.
  for w in 8 64; do
    python3 - "${R[callscreen,$w]}" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
codes = r["codes"]
answered = r["answered"]
rejected = codes.get("608", 0)
other = {c: n for c, n in codes.items() if c not in ("302", "608")}
share = rejected / max(answered, 1)
ok = answered > 0 and not other and 0.005 <= share <= 0.015 and r["timeouts"] == 0
print(f"  window {r['window']}: {answered} answered, {share:.2%} rejected, other codes {other or 'none'}: {'ok' if ok else 'WRONG'}")
sys.exit(0 if ok else 1)
EOF
  done
  stop "$cs_pid"
  echo "CI load check passed"
  exit 0
fi

# p99 while a 10-million-number list is pushed during the load.
if [ "${SKIP_10M:-}" != 1 ]; then
  python3 bench/gen_bench_lists.py 10000000 "$work/lists10m" 3 --no-db
  out_file="$work/during.json"
  "$lg" run --target 127.0.0.1:5060 --window 8 --seconds 14 --warmup 1 \
    --listed "$work/lists/listed.txt" --listed-share 0.01 --trunk kpn >"$out_file" &
  lgpid=$!
  sleep 3
  t0=$(date +%s%N)
  code=$(curl -s -o "$work/push.out" -w '%{http_code}' -X PUT -H "Authorization: Bearer example-ops-token" \
    -H "Content-Type: text/plain" -T "$work/lists10m/scam-origins.txt" \
    http://127.0.0.1:8080/v1/lists/scam-origins)
  push_secs=$(secs_since "$t0")
  wait $lgpid
  R[during]=$(cat "$out_file")
  echo "  during the 10 M push (answered $code after ${push_secs} s): ${R[during]}"
fi
stop "$cs_pid"

if [ "${SKIP_10M:-}" != 1 ]; then
  # A restart with the 10 M list in force (the pushed version in the state
  # directory, its snapshot and checksums): until it answers again.
  t0=$(date +%s%N)
  "$bin" run --config "$work/cs-1m.toml" >"$work/cs-restart.noc" 2>"$work/cs-restart.err" &
  cs_pid=$!
  pids+=("$cs_pid")
  # Timed by the daemon's own ready line (sockets bound, lists in force):
  # a probe from a new Python process cannot start much sooner than that.
  for _ in $(seq 1 30000); do
    grep -qs "callscreen ready" "$work/cs-restart.err" && break
    kill -0 "$cs_pid" 2>/dev/null || { cat "$work/cs-restart.err" >&2; exit 1; }
    sleep 0.002
  done
  cs_restart_10m=$(secs_since "$t0")
  cs_restart_answering=$(wait_answering 127.0.0.1:5060 "$t0") || { cat "$work/cs-restart.err" >&2; exit 1; }
  echo "  restart with the pushed 10 M list: ready after ${cs_restart_10m} s (a SIP probe answered after ${cs_restart_answering} s)"
  stop "$cs_pid"
fi

echo "== callscreen in proxy mode ($numbers numbers), the trivial responder as its next hop"
start_responder
cs_config "$work/lists/scam-origins.txt" proxy
sed -i -e 's/^mode = "redirect".*/mode = "proxy"/' \
       -e 's|^next_hops = .*|next_hops = ["sip:127.0.0.1:5070"]|' "$work/cs-proxy.toml"
rm -rf "$work/state-proxy"
"$bin" run --config "$work/cs-proxy.toml" >"$work/cs-proxy.noc" 2>"$work/cs-proxy.err" &
cs_pid=$!
pids+=("$cs_pid")
wait_answering 127.0.0.1:5060 "$(date +%s%N)" >/dev/null || { cat "$work/cs-proxy.err" >&2; exit 1; }
run_target proxy 127.0.0.1:5060 "$cs_pid"
stop "$cs_pid"
stop "$resp"

if [ "${SKIP_10M:-}" != 1 ]; then
  start_callscreen "$work/lists10m/scam-origins.txt" 10m
  cs_start_10m=$cs_start
  cs_pss_10m=$(pss "$cs_pid")
  echo "  10 M numbers: ready after ${cs_start_10m} s, PSS ${cs_pss_10m} kB"
  # A 10 M push with no load, streamed as a client sends a file: until
  # the answer, which comes once the new version is in force.
  sed '1s/version=[0-9]*/version=9/' "$work/lists10m/scam-origins.txt" > "$work/push10m.txt"
  t0=$(date +%s%N)
  code=$(curl -s -o "$work/push-idle.out" -w '%{http_code}' -X PUT -H "Authorization: Bearer example-ops-token" \
    -H "Content-Type: text/plain" -T "$work/push10m.txt" http://127.0.0.1:8080/v1/lists/scam-origins)
  push_idle_secs=$(secs_since "$t0")
  [ "$code" = 200 ] || { echo "idle 10 M push answered $code: $(cat "$work/push-idle.out")" >&2; exit 1; }
  echo "  10 M push with no load: active after ${push_idle_secs} s"
  rm -f "$work/push10m.txt"
  stop "$cs_pid"
fi

echo "== Kamailio $(kamailio -v | sed -n 's/^version: kamailio \([^ ]*\).*/\1/p') ($numbers numbers, htable from SQLite, mtree)"
sed -e "s|@DB@|$work/lists/kamailio.db|; s|@LISTEN@|127.0.0.1:5062|g; s|@CHILDREN@|$cores|g" \
  bench/kamailio-screen.cfg > "$work/kamailio.cfg"
t0=$(date +%s%N)
# Shared memory for the hash table and the tree; private memory for
# db_sqlite, which holds the whole result of the load in it.
kamailio -f "$work/kamailio.cfg" -DD -E -m 1024 -M 1024 -P "$work/kamailio.pid" \
  -w "$work" >"$work/kamailio.log" 2>&1 &
k_pid=$!
pids+=("$k_pid")
k_start=$(wait_answering 127.0.0.1:5062 "$t0") || { tail -20 "$work/kamailio.log" >&2; exit 1; }
k_pss=$(pss "$k_pid")
echo "  ready after ${k_start} s, PSS ${k_pss} kB"
echo "  verdicts on the sample: $(check_sample 127.0.0.1:5062)"
run_target kamailio 127.0.0.1:5062
echo "  log lines written: $(grep -c 'call verdict=' "$work/kamailio.log" || true)"
stop "$k_pid"

python3 - <<EOF
import json
R = {k: json.loads(v) for k, v in {
    "ceiling,8": '''${R[ceiling,8]}''', "ceiling,64": '''${R[ceiling,64]}''',
    "callscreen,8": '''${R[callscreen,8]}''', "callscreen,64": '''${R[callscreen,64]}''',
    "kamailio,8": '''${R[kamailio,8]}''', "kamailio,64": '''${R[kamailio,64]}''',
}.items()}
during = '''${R[during]:-}'''
print()
print("| target | window | calls/s | p50 µs | p99 µs | p99.9 µs | of ceiling | × Kamailio |")
print("|---|---|---|---|---|---|---|---|")
for t in ("ceiling", "callscreen", "kamailio"):
    for w in (8, 64):
        r = R[f"{t},{w}"]
        c = R[f"ceiling,{w}"]["calls_per_sec"]
        k = R[f"kamailio,{w}"]["calls_per_sec"]
        print(f"| {t} | {w} | {r['calls_per_sec']:.0f} | {r['p50_us']} | {r['p99_us']} | {r['p999_us']} | "
              f"{r['calls_per_sec'] / c:.0%} | {r['calls_per_sec'] / k:.2f} |")
print()
print("| | callscreen | Kamailio |")
print("|---|---|---|")
print(f"| start-up, $numbers numbers | ${cs_start_1m} s | ${k_start} s |")
print(f"| PSS, $numbers numbers | {${cs_pss_1m}/1024:.0f} MB | {${k_pss}/1024:.0f} MB |")
if "${SKIP_10M:-}" != "1":
    print(f"| start-up, 10 M numbers | ${cs_start_10m:-0} s | not measured |")
    print(f"| PSS, 10 M numbers | {${cs_pss_10m:-0}/1024:.0f} MB | not measured |")
c8, k8 = R["callscreen,8"], R["ceiling,8"]
if "${SKIP_10M:-}" != "1":
    print(f"| restart with the pushed 10 M list (ready line) | ${cs_restart_10m:-0} s | not measured |")
    print(f"| 10 M push, no load, until in force | ${push_idle_secs:-0} s | not measured |")
    print(f"| 10 M push during the window-8 load | ${push_secs:-0} s | not measured |")
    per = (${cs_pss_10m:-0} - ${cs_pss_1m}) * 1024 / (10_000_000 - $numbers)
    print(f"| bytes per listed number (PSS 10 M − PSS 1 M) | {per:.1f} | not measured |")
print()
cpu = {k: float(v) for k, v in {"c8": "${CPU[ceiling,8]:-0}", "c64": "${CPU[ceiling,64]:-0}",
                                "r8": "${CPU[callscreen,8]:-0}", "r64": "${CPU[callscreen,64]:-0}",
                                "p8": "${CPU[proxy,8]:-0}", "p64": "${CPU[proxy,64]:-0}"}.items()}
kcpu = {k: float(v) for k, v in {"c8": "${KCPU[ceiling,8]:-0}", "c64": "${KCPU[ceiling,64]:-0}",
                                 "r8": "${KCPU[callscreen,8]:-0}", "r64": "${KCPU[callscreen,64]:-0}",
                                 "p8": "${KCPU[proxy,8]:-0}", "p64": "${KCPU[proxy,64]:-0}"}.items()}
P = {8: json.loads(r'''${R[proxy,8]:-null}'''), 64: json.loads(r'''${R[proxy,64]:-null}''')}
print("| callscreen | window | calls/s | p99 µs | daemon CPU per call | of it in the kernel |")
print("|---|---|---|---|---|---|")
for w in (8, 64):
    r = R[f"ceiling,{w}"]
    print(f"| (the trivial responder) | {w} | {r['calls_per_sec']:.0f} | {r['p99_us']} | {cpu[f'c{w}']:.1f} µs | {kcpu[f'c{w}']:.1f} µs |")
for w in (8, 64):
    r = R[f"callscreen,{w}"]
    print(f"| redirect | {w} | {r['calls_per_sec']:.0f} | {r['p99_us']} | {cpu[f'r{w}']:.1f} µs | {kcpu[f'r{w}']:.1f} µs |")
for w in (8, 64):
    r = P[w]
    if r:
        print(f"| proxy (next hop: the responder) | {w} | {r['calls_per_sec']:.0f} | {r['p99_us']} | {cpu[f'p{w}']:.1f} µs | {kcpu[f'p{w}']:.1f} µs |")
if cpu["r64"] and cpu["p64"]:
    print(f"proxy/redirect CPU per call at window 64: {cpu['p64'] / cpu['r64']:.2f}×")
print()
print(f"callscreen p99 at window 8: {c8['p99_us']} µs = {c8['p99_us'] / k8['p99_us']:.2f}× the ceiling's")
if during:
    d = json.loads(during)
    print(f"callscreen p99 at window 8 during the 10 M push: {d['p99_us']} µs = {d['p99_us'] / c8['p99_us']:.2f}× before it ({d['timeouts']} unanswered)")
EOF
