# Shared by bench/fleet_push.sh and bench/forged_heads.sh (sourced): a work
# directory removed at exit with every process in `pids` killed (kept with
# KEEP=1), the release binary, and a fleet of three nodes on the example
# config: node i's SIP on 15060+10i, its API on 18080+i, its state in
# $work/state-i, its NOC log in $work/noc-i; nats-server on 14222.
# CALLSCREEN=path: another build (a before-and-after comparison).
if [ -z "${CALLSCREEN:-}" ]; then cargo build --release --quiet --bin callscreen; fi
bin=${CALLSCREEN:-./target/release/callscreen}
nats=${NATS_SERVER:-nats-server}
work=$(mktemp -d)
pids=()
if [ -n "${KEEP:-}" ]; then echo "work: $work"; fi
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
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
    # The example fleet key (public in this repository; a bench only).
    printf '\n[fleet]\nservers = ["nats://127.0.0.1:14222"]\nnode = "node-%s"\nheartbeat_secs = 1\nkey_file = "%s"\n' "$i" "$PWD/config/fleet/fleet.key" >> "$work/node-$i.toml"
  fi
}
start_node() { # i
  "$bin" run --config "$work/node-$1.toml" >"$work/noc-$1" 2>"$work/err-$1" &
  pids+=($!)
  for _ in $(seq 1 600); do grep -qs "callscreen ready" "$work/err-$1" && return; sleep 0.05; done
  cat "$work/err-$1"; exit 1
}
# nats-server with JetStream and nodes 1–3, each until it says the fleet is connected.
start_fleet() {
  "$nats" -js -a 127.0.0.1 -p 14222 -sd "$work/nats" >/dev/null 2>"$work/nats.err" &
  pids+=($!)
  for _ in $(seq 1 200); do grep -q "Server is ready" "$work/nats.err" && break; sleep 0.05; done
  for i in 1 2 3; do node_config "$i" 1; start_node "$i"; done
  for i in 1 2 3; do
    for _ in $(seq 1 200); do curl -sS "http://127.0.0.1:$((18080 + i))/readyz" | grep -q "fleet: connected" && break; sleep 0.05; done
  done
}
push() { # i file: PUT the file to node i's API; prints the HTTP code
  curl -sS -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$2" -H 'Content-Type: text/plain' \
    -H 'Authorization: Bearer example-ops-token' "http://127.0.0.1:$((18080 + $1))/v1/lists/scam-origins?allow_shrink=true"
}
