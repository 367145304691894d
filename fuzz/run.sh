#!/usr/bin/env bash
# Runs callscreen's fuzz targets (cargo fuzz, libFuzzer) on their corpora in
# fuzz/corpus/, each for SECONDS (default 20), one after the other, and
# prints each target's executions. Any crash, hang (10 s) or runaway
# allocation (2 GiB) fails the run; libFuzzer writes the input to
# fuzz/artifacts/TARGET/.
#
#   fuzz/run.sh [SECONDS] [TARGET…]
#
# Needs cargo-fuzz (cargo install cargo-fuzz); on the stable toolchain
# RUSTC_BOOTSTRAP=1 lets it use the sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(sip_datagram sip_stream number list_text list_store list_json companies config passport stream_filters)
fi
export RUSTC_BOOTSTRAP=1
cargo fuzz build -O >/dev/null
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  log=$(mktemp)
  if ! cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$secs" -timeout=10 \
      -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log"
    echo "fuzz: $t FAILED (input in fuzz/artifacts/$t/)"
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  echo "fuzz: $t ok, ${runs:-?} executions in ${secs} s, corpus $(ls "corpus/$t" | wc -l) inputs"
  rm -f "$log"
done
