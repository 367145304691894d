#!/usr/bin/env bash
# Whole-daemon load: a release callscreen on the example config (its UDP
# listener on 127.0.0.1:5060), closed-loop UDP clients on loopback, bounded
# in calls and time. Prints the clients' figures and the daemon's CPU time.
#
#   bench/udp_load.sh [CALLS] [CLIENTS] [redirect|proxy|proxy-originating|proxy-signed]
#   CALLSCREEN=path/to/binary bench/udp_load.sh …   (another build, e.g. before a change)
#   CONFIG=config/other.toml bench/udp_load.sh …     (another config beside the example, e.g. an older one)
#   RECORDS=off bench/udp_load.sh …                  (without the example's [records]; on: written to a temporary directory)
#
# proxy: the example config switched to mode = "proxy" (next hop
# 127.0.0.1:5080, played by the load generator, which answers 200 OK), so a
# call is INVITE to callscreen, forwarded, 200 relayed back (608 for the
# blocklisted 1 %).
# proxy-originating: proxy, the calls on the originating trunk `subs`;
# proxy-signed: the same, the calls on the originating trunk `subs` signed
# (`sign = "gateway"`, a P-256 key made here with openssl): each forwarded
# INVITE carries callscreen's Identity header.
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-200000}
clients=${2:-4}
mode=${3:-redirect}
cargo build --release --locked --quiet -p callscreen-load --bin udp_load
if [ -z "${CALLSCREEN:-}" ]; then
  cargo build --release --quiet --bin callscreen
fi
bin=${CALLSCREEN:-./target/release/callscreen}
out=$(mktemp -d)
hop=()
# The copy sits next to the example so its relative list paths hold. The
# peers' rate limit is off in it ([sip] peer_calls_per_sec = 0): this
# measures screening at full rate, and one trunk here sends far more than
# any real peer would (README "Security and reliability").
cfg=config/.load.toml
sed 's/^peer_calls_per_sec = .*/peer_calls_per_sec = 0/' "${CONFIG:-config/callscreen.toml}" >"$cfg"
# Call records: in a temporary directory (removed at the end), or off.
if [ "${RECORDS:-on}" = off ]; then
  sed -i '/^\[records\]$/,/^$/d' "$cfg"
else
  sed -i "s|^# dir = .*records\"|dir = \"$out/records\"|" "$cfg"
fi
trunk=kpn
if [ "$mode" = proxy ] || [ "$mode" = proxy-signed ] || [ "$mode" = proxy-originating ]; then
  sed -i 's/^mode = "redirect".*/mode = "proxy"/' "$cfg"
  hop=(127.0.0.1:5080)
fi
if [ "$mode" = proxy-originating ]; then
  trunk=subs
  mode=proxy
fi
if [ "$mode" = proxy-signed ]; then
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/sti.key" 2>/dev/null
  sed -i '/^name = "subscribers"$/,/^direction = "originating"$/ s/^direction = "originating"$/direction = "originating"\nsign = "gateway"/' "$cfg"
  printf '\n[signing]\nkey_file = "%s"\nx5u = "https://cert.example/sti.pem"\n' "$out/sti.key" >>"$cfg"
  trunk=subs
  mode=proxy
fi
"$bin" run --config "$cfg" >"$out/noc.log" 2>"$out/stderr.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f config/.load.toml; rm -rf "$out/records"' EXIT
# Wait for the daemon's own ready line (bounded).
for _ in $(seq 1 200); do
  grep -q "callscreen ready" "$out/stderr.log" && break
  kill -0 $pid 2>/dev/null || { cat "$out/stderr.log"; exit 1; }
  sleep 0.05
done
grep -q "callscreen ready: mode=$mode" "$out/stderr.log" || { cat "$out/stderr.log"; echo "daemon not ready in $mode mode"; exit 1; }
./target/release/udp_load 127.0.0.1:5060 "$calls" "$clients" "$trunk" "${hop[@]}"
# utime+stime of the daemon, in clock ticks (/proc/PID/stat fields 14 and 15).
ticks=$(awk '{print $14+$15}' /proc/$pid/stat)
echo "daemon_cpu_seconds=$(echo "$ticks / $(getconf CLK_TCK)" | bc -l | cut -c1-6) noc_lines=$(grep -c ' call verdict=' "$out/noc.log") records=${RECORDS:-on}"
