#!/usr/bin/env bash
# One timed AFL++ campaign: ./campaign.sh <target> [seconds] (default 600).
# Starts from seeds/<target>/ (./seed.sh) and the committed corpus/<target>/, writes
# to out/<target>/ (not committed). Build first:
#   cargo afl build --release --no-default-features --features afl
# One campaign at a time: the machines have two cores.
set -euo pipefail
cd "$(dirname "$0")"
target=$1
seconds=${2:-600}
case $target in
  *_decoders) dict=dict/decoders.dict ;;
  http_ingress) dict=dict/http_ingress.dict ;;
  config_toml) dict=dict/config_toml.dict ;;
  *) echo "unknown target: $target" >&2; exit 2 ;;
esac
bin=${CARGO_TARGET_DIR:-target}/release/afl_$target
in=out/$target-in
rm -rf "$in" "out/$target"
mkdir -p "$in"
for d in "seeds/$target" "corpus/$target"; do
  if [ -d "$d" ]; then cp "$d"/* "$in"/ 2>/dev/null || true; fi
done
export AFL_SKIP_CPUFREQ=1 AFL_NO_UI=1 AFL_NO_AFFINITY=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1
exec cargo afl fuzz -V "$seconds" -x "$dict" -i "$in" -o "out/$target" "$bin"
