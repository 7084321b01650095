#!/usr/bin/env bash
# Replaces corpus/<target>/ with what a campaign grew: out/<target>/default/queue
# minimized by edge (afl-cmin -e), less the seeds (seed.sh makes them again), only
# inputs of at most 768 bytes, named by content hash. Files named found-* (crash inputs)
# stay. Usage: ./keep.sh <target> [an already minimized directory]
set -euo pipefail
cd "$(dirname "$0")"
target=$1
min=${2:-}
if [ -z "$min" ]; then
  min=out/$target-min
  rm -rf "$min"
  # The bash afl-cmin: the Python one cargo-afl calls recorded no edges for some of
  # these targets.
  bin_dir=$(dirname "$(find ~/.local/share/afl.rs -path '*/afl/bin/afl-cmin.bash' | head -1)")
  timeout=1000
  [ "$target" = http_ingress ] && timeout=2000
  PATH=$bin_dir:$PATH RUST_BACKTRACE=0 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1 \
    afl-cmin.bash -e -t "$timeout" -i "out/$target/default/queue" -o "$min" \
    -- "${CARGO_TARGET_DIR:-target}/release/afl_$target" > "out/$target-cmin.log" 2>&1
fi
find "corpus/$target" -type f ! -name 'found-*' -delete 2>/dev/null || mkdir -p "corpus/$target"
find "$min" -type f ! -name '*orig:*' -size -769c | while read -r f; do
  cp "$f" "corpus/$target/$(sha1sum "$f" | cut -c1-16)"
done
echo "corpus/$target: $(ls "corpus/$target" | wc -l) files, $(du -sb "corpus/$target" | cut -f1) bytes"
