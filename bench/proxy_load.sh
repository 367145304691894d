#!/usr/bin/env bash
# Whole-daemon load in proxy mode: a release callscreen on the example
# config switched to mode = "proxy" (next hop 127.0.0.1:5080, played by the
# load generator, which answers 200 OK), closed-loop UDP clients on
# loopback, bounded in calls and time. Each call: INVITE to callscreen,
# forwarded to the next hop, 200 relayed back (608 for the blocklisted 1%).
#
#   bench/proxy_load.sh [CALLS] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
calls=${1:-200000}
clients=${2:-4}
cargo build --release --quiet --bin callscreen --example udp_load
out=$(mktemp -d)
# The copy sits next to the example so its relative list paths hold.
cfg=config/.proxy-load.toml
sed 's/^mode = "redirect".*/mode = "proxy"/' config/callscreen.toml >"$cfg"
./target/release/callscreen run --config "$cfg" >"$out/noc.log" 2>"$out/stderr.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -f "$cfg"' EXIT
for _ in $(seq 1 200); do
  grep -q "callscreen ready" "$out/stderr.log" && break
  kill -0 $pid 2>/dev/null || { cat "$out/stderr.log"; exit 1; }
  sleep 0.05
done
grep -q "callscreen ready: mode=proxy" "$out/stderr.log" || { cat "$out/stderr.log"; echo "daemon not ready in proxy mode"; exit 1; }
./target/release/examples/udp_load 127.0.0.1:5060 "$calls" "$clients" kpn 127.0.0.1:5080
ticks=$(awk '{print $14+$15}' /proc/$pid/stat)
echo "daemon_cpu_seconds=$(echo "$ticks / $(getconf CLK_TCK)" | bc -l | cut -c1-6) noc_lines=$(grep -c ' call verdict=' "$out/noc.log")"
