#!/usr/bin/env bash
# STIR/SHAKEN verification under load (issue #14), in one run on the same
# cores: callscreen (redirect mode, the example config, [stir] on) under
# tools/load/src/loadgen.rs with every call unsigned, then every call signed
# (2 000 distinct PASSporTs from examples/sti_fixture.rs, their certificate
# served over HTTPS on loopback, fetched once and then cached), then signed
# calls (window 64) and unsigned calls (window 8) at the same time, to see
# whether unsigned calls are slowed. Also the cost of one ES256
# verification here (openssl speed), which sets the limit. Then signing
# beside it (#32): the daemon above stopped, bench/udp_load.sh in proxy mode
# on the originating trunk, unsigned then signed (`proxy-originating`,
# `proxy-signed`, SIGN_CALLS calls from 4 clients): the signed-outbound
# calls/s and the daemon's CPU per signature.
#
#   bench/stir.sh            (SECONDS_PER_RUN=8, SIGN_CALLS=100000 by default)
#
# Needs python3 and openssl. Everything runs on loopback and stops by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_PER_RUN:-8}

cargo build --release --locked --quiet -p callscreen --bin callscreen --example sti_fixture -p callscreen-load --bin loadgen
bin=./target/release/callscreen
lg=./target/release/loadgen

. bench/lib.sh

./target/release/examples/sti_fixture --dir "$work/sti" --identities 2000 --seconds 900 >"$work/sti.out" &
pids+=($!)
for _ in $(seq 1 600); do [ -e "$work/sti/identities.txt" ] && break; sleep 0.05; done
[ -e "$work/sti/identities.txt" ] || { echo "the STI fixture did not start" >&2; exit 1; }

# The example config, bursts and peer limits off (one SBC sends far more
# than any real peer), PASSporTs valid for the whole run, [stir] on.
load_config "$work/cs.toml" "$work/state" -e 's/^max_age_secs = 60$/max_age_secs = 3600/'
cat >> "$work/cs.toml" <<TOML

[stir]
trust_anchors = "$work/sti/anchors"
x5u_ca_file = "$work/sti/web-ca.pem"
x5u_allow_networks = ["127.0.0.0/8", "::1/128"]
TOML

"$bin" run --config "$work/cs.toml" >"$work/cs.noc" 2>"$work/cs.err" &
cs=$!
pids+=("$cs")
for _ in $(seq 1 600); do grep -q "callscreen ready" "$work/cs.err" && break; sleep 0.05; done
grep -q "callscreen ready" "$work/cs.err" || { cat "$work/cs.err" >&2; exit 1; }

load() { # window [extra args…]
  local w=$1; shift
  "$lg" run --target 127.0.0.1:5060 --window "$w" --seconds "$((secs + 1))" --warmup 1 --trunk kpn "$@"
}
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])$2)" "$1"; }
cpu() { awk '{print $14 + $15}' "/proc/$cs/stat"; }   # utime + stime, clock ticks

# A first signed call fetches the certificate; the runs measure the cache.
load 1 --identities "$work/sti/identities.txt" >/dev/null

declare -A R C T
for kind in unsigned signed; do
  for w in 8 64; do
    extra=()
    [ $kind = signed ] && extra=(--identities "$work/sti/identities.txt")
    c0=$(cpu)
    t0=$(date +%s%N)
    out=$(load "$w" "${extra[@]}")
    c1=$(cpu)
    T[$kind,$w]=$(( ($(date +%s%N) - t0) / 1000000 ))
    R[$kind,$w]=$out
    C[$kind,$w]=$((c1 - c0))
    echo "  $kind window $w: $out"
  done
done

echo "== unsigned window 8 while signed calls run at window 64"
load 64 --identities "$work/sti/identities.txt" >"$work/bg.json" &
bg=$!
mixed=$(load 8)
wait "$bg"
echo "  unsigned beside signed: $mixed"
echo "  signed beside unsigned: $(cat "$work/bg.json")"

verify=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/256 bits ecdsa \(nistp256\)/ {print $(NF)}')
metrics=$(curl -s -H "Authorization: Bearer example-ops-token" http://127.0.0.1:8080/metrics 2>/dev/null | grep -E '^callscreen_(stir_|udp_queue_drops|shed)' || true)

python3 - "${R[unsigned,8]}" "${R[unsigned,64]}" "${R[signed,8]}" "${R[signed,64]}" "$mixed" \
  "${C[unsigned,64]}" "${C[signed,64]}" "$verify" "$(nproc)" "$(getconf CLK_TCK)" "${T[signed,64]}" "${C[unsigned,8]}" "${C[signed,8]}" <<'EOF'
import json, sys
u8, u64, s8, s64, mixed = (json.loads(a) for a in sys.argv[1:6])
cu, cs, verify, cores, tck = int(sys.argv[6]), int(sys.argv[7]), float(sys.argv[8] or 0), int(sys.argv[9]), int(sys.argv[10])
cpu8 = (int(sys.argv[12]), u8, int(sys.argv[13]), s8)
wall_s = int(sys.argv[11]) / 1000
print()
print("| run | calls/s | p50 µs | p99 µs | p99.9 µs | codes |")
print("|---|---:|---:|---:|---:|---|")
for name, r in [("unsigned, window 8", u8), ("unsigned, window 64", u64), ("signed, window 8", s8),
                ("signed, window 64", s64), ("unsigned w8 beside signed w64", mixed)]:
    print(f"| {name} | {r['calls_per_sec']:.0f} | {r['p50_us']} | {r['p99_us']} | {r['p999_us']} | {r['codes']} |")
print()
per = 1e6 / verify if verify else 0
for w, (c_u, r_u, c_s, r_s) in ((8, cpu8), (64, (cu, u64, cs, s64))):
    cpu_u = c_u / tck / max(r_u['answered'], 1) * 1e6
    cpu_s = c_s / tck / max(r_s['answered'], 1) * 1e6
    aim = f"; aim (#29): <= ES256 {per:.1f} + unsigned {cpu_u:.1f} + 10 = {per + cpu_u + 10:.1f} µs: {'met' if cpu_s <= per + cpu_u + 10 else 'NOT met'}" if verify else ""
    print(f"daemon CPU per call (window {w}): unsigned {cpu_u:.1f} µs, signed {cpu_s:.1f} µs (+{cpu_s - cpu_u:.1f} µs){aim}")
if verify:
    limit = verify * cores
    print(f"ES256 verify here (openssl speed): {verify:.0f}/s per core = {per:.1f} µs; limit on {cores} cores {limit:.0f} calls/s")
    print(f"signed calls/s at window 64: {s64['calls_per_sec']:.0f} = {s64['calls_per_sec'] / limit * 100:.0f} % of that limit")
    share = cs / tck / wall_s
    print(f"the daemon's share of the cores during it: {share:.2f}; the limit verification sets on that share: {share * verify:.0f} calls/s; signed calls/s = {s64['calls_per_sec'] / (share * verify) * 100:.0f} % of it (aim: 80 %)")
print(f"unsigned p99 beside signed load: {mixed['p99_us']} µs vs {u8['p99_us']} µs alone ({mixed['p99_us'] / max(u8['p99_us'], 1):.2f}x)")
EOF
echo "$metrics"

# Signing beside verification, on the same cores: this daemon stopped first
# (bench/udp_load.sh starts its own on the same ports).
kill "$cs" 2>/dev/null || true
wait "$cs" 2>/dev/null || true
sign_calls=${SIGN_CALLS:-100000}
declare -A S
for m in proxy-originating proxy-signed; do
  S[$m]=$(RECORDS=off bash bench/udp_load.sh "$sign_calls" 4 "$m" | grep -E '^(calls=|daemon_cpu_seconds=)' | tr '\n' ' ')
  echo "  $m: ${S[$m]}"
done
python3 - "${S[proxy-originating]}" "${S[proxy-signed]}" "$verify" <<'EOF2'
import sys
def read(line):
    kv = dict(w.split("=", 1) for w in line.split() if "=" in w)
    return float(kv["calls_per_s"]), float(kv["daemon_cpu_seconds"]) / int(kv["calls"]) * 1e6
(u_cps, u_cpu), (s_cps, s_cpu) = read(sys.argv[1]), read(sys.argv[2])
verify = float(sys.argv[3] or 0)
print()
print("| outbound, proxy mode | calls/s | daemon CPU per call |")
print("|---|---:|---:|")
print(f"| unsigned (proxy-originating) | {u_cps:.0f} | {u_cpu:.1f} µs |")
print(f"| signed (proxy-signed) | {s_cps:.0f} | {s_cpu:.1f} µs |")
per = 1e6 / verify if verify else 0
print(f"CPU per signature in the daemon: {s_cpu - u_cpu:.1f} µs; one ES256 verification here (openssl speed): {per:.1f} µs")
EOF2
