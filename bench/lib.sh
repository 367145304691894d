# Shared by bench/run.sh and bench/stir.sh (sourced): a work directory,
# removed at exit with every process in `pids` killed; and the example
# config made fit for load.

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# load_config OUT STATE_DIR [sed -e …]: the example config with its lists
# read from config/lists, its state in STATE_DIR, bursts and peer limits off
# (one load generator sends far more than any real peer); extra sed
# expressions are applied first.
load_config() {
  local out=$1 state=$2
  shift 2
  sed "$@" \
      -e "s|file = \"lists/|file = \"$PWD/config/lists/|" \
      -e "s|state_dir = \"state\"|state_dir = \"$state\"|" \
      -e 's/^peer_calls_per_sec = .*/peer_calls_per_sec = 0/' \
      -e 's/^calls_per_number = .*/calls_per_number = 0/' \
      -e 's/^calls_per_block = .*/calls_per_block = 0/' \
      config/callscreen.toml > "$out"
}
