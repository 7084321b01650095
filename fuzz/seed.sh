#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the translate fixtures, prefixing each file with the
# selector byte(s) the targets read (shape index in ApiShape::ALL order; chunk size 7).
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../crates/gateway-translate/tests/fixtures
shapes=(openai_chat openai_responses anthropic gemini ollama)
mkdir -p corpus/request_decoders corpus/response_decoders corpus/stream_decoders
for i in "${!shapes[@]}"; do
  shape=${shapes[$i]}
  sel=$(printf "\\x$(printf %02x "$i")")
  for f in "$fixtures/$shape"/*/request.json; do
    [ -e "$f" ] || continue
    { printf '%s' "$sel"; cat "$f"; } > "corpus/request_decoders/$shape-$(basename "$(dirname "$f")")"
  done
  for f in "$fixtures/$shape"/*/response.json; do
    [ -e "$f" ] || continue
    { printf '%s' "$sel"; cat "$f"; } > "corpus/response_decoders/$shape-$(basename "$(dirname "$f")")"
  done
  for f in "$fixtures/$shape"/*/stream.sse "$fixtures/$shape"/*/stream.ndjson; do
    [ -e "$f" ] || continue
    { printf '%s\x07' "$sel"; cat "$f"; } > "corpus/stream_decoders/$shape-$(basename "$(dirname "$f")")"
  done
done
echo "seeded: $(ls corpus/*/ | wc -l) files"
