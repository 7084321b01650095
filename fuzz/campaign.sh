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
timeout=1000+  # ms; `+` skips inputs over it instead of failing the start
case $target in
  *_decoders) dict=dict/decoders.dict ;;
  # A caller may make the mock pause; the target drops answers after 250 ms.
  http_ingress) dict=dict/http_ingress.dict timeout=2000+ ;;
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
# A backtrace takes seconds to print in the big targets: AFL++ then files a panic as a
# hang, not a crash.
export RUST_BACKTRACE=0
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CRASHES=1
cargo afl fuzz -V "$seconds" -t "$timeout" -x "$dict" -i "$in" -o "out/$target" "$bin"
# The figures fuzz/README.md records.
stats=out/$target/default/fuzzer_stats
echo "== $target: load average $(cut -d' ' -f1-3 /proc/loadavg)"
grep -E '^(run_time|execs_done|execs_per_sec|corpus_count|edges_found|total_edges|bitmap_cvg|stability|saved_crashes|saved_hangs) ' "$stats"
awk -F' *: *' '$1 == "execs_done" { e = $2 } $1 == "run_time" { t = $2 }
  END { if (t > 0) printf "average execs/s   : %.0f\n", e / t }' "$stats"
