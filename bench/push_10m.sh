#!/usr/bin/env bash
# Push-to-active and load time for a 10-million-number list, on a release
# daemon with the example config (API on 127.0.0.1:8080, state in a temp dir).
#
#   bench/push_10m.sh [NUMBERS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
# CALLSCREEN=path/to/binary measures another build (e.g. an older commit).
bin=${CALLSCREEN:-./target/release/callscreen}
[ -n "${CALLSCREEN:-}" ] || cargo build --release --quiet --bin callscreen
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
# The example config, its lists found where they are, state in $work.
sed -e "s|file = \"lists/|file = \"$PWD/config/lists/|" -e "s|state_dir = \"state\"|state_dir = \"$work/state\"|" \
  config/callscreen.toml > "$work/callscreen.toml"
python3 bench/gen_list.py "$n" > "$work/list.txt"
echo "list: $(wc -l < "$work/list.txt") lines, $(du -h "$work/list.txt" | cut -f1)"
start_daemon() {
  : > "$work/err"
  "$bin" run --config "$work/callscreen.toml" >"$work/noc" 2>"$work/err" &
  pid=$!
  t0=$(date +%s.%N)
  for _ in $(seq 1 2400); do
    grep -q "callscreen ready" "$work/err" && break
    kill -0 $pid 2>/dev/null || { cat "$work/err"; exit 1; }
    sleep 0.05
  done
  echo "ready after $(echo "$(date +%s.%N) - $t0" | bc) s"
}
start_daemon
t0=$(date +%s.%N)
curl -sS -X PUT -T "$work/list.txt" -H 'Content-Type: text/plain' \
     -H 'Authorization: Bearer example-ops-token' "http://127.0.0.1:8080/v1/lists/scam-origins?allow_shrink=true"
echo
echo "push_to_active_s=$(echo "$(date +%s.%N) - $t0" | bc)"
echo "daemon_rss_kib=$(awk '/VmRSS/ {print $2}' /proc/$pid/status) daemon_peak_rss_kib=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)"
# The binary snapshot is written just after the acknowledgement.
t0=$(date +%s.%N)
for _ in $(seq 1 600); do [ -e "$work/state/scam-origins.2.snap" ] && break; sleep 0.05; done
echo "snapshot_written_after_s=$(echo "$(date +%s.%N) - $t0" | bc) ($(du -h "$work/state/scam-origins.2.snap" | cut -f1))"
kill $pid; wait $pid 2>/dev/null || true
echo "restart, loading the pushed 10M list from its snapshot:"
start_daemon
grep -o "lists=[^ ]*" "$work/err"
kill $pid; wait $pid 2>/dev/null || true
rm "$work/state/scam-origins.2.snap"
echo "restart without the snapshot, parsing the stored text:"
start_daemon
grep -o "lists=[^ ]*" "$work/err"
