#!/usr/bin/env bash
# Instructions per request of a whole `patchbay serve` process, by callgrind: the
# process is run twice under valgrind, serving N1 and then N2 one-connection requests
# (oha -c 1), and the slope (total(N2) - total(N1)) / (N2 - N1) is printed, so start-up
# and shutdown cancel out. Deterministic to ~0.5%, unlike timings on a shared machine.
#
#   benches/callgrind/per_request.sh BINARY SCENARIO N1 N2
#   SCENARIO: chat | stream | stream-usage | messages (Anthropic caller, OpenAI-shape route)
#
# Needs valgrind, oha, curl, python3, and the shared nginx mock upstream on
# 127.0.0.1:18080 (`MOCK_PORT=18080 ../shared/bench/start-mock.sh`); request bodies
# from ../shared/bench/bodies. Work files go to ${OUT:-/tmp/pb-callgrind}/SCENARIO.
set -euo pipefail
BIN=$1; SC=$2; N1=$3; N2=$4
BODIES=${BODIES:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench/bodies}
D=${OUT:-/tmp/pb-callgrind}/$SC; rm -rf "$D"; mkdir -p "$D"
PORT=${PORT:-14199}
KEY=pbk_cgbench0123456789abcdef; SHA=$(printf %s $KEY | sha256sum | cut -d' ' -f1)
cat > "$D/c.toml" <<TOML
[storage]
path = "$D/p.db"
[server]
listen = "127.0.0.1:$PORT"
[admin]
enabled = false
[access_log]
format = "text"
path = "/dev/null"
[providers.mock_openai]
kind = "openai_compatible"
base_url = "http://127.0.0.1:18080/v1"
[providers.mock_anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:18080"
api_key = "sk-ant-unused"
[[routes]]
model = "gpt-4o-mini"
targets = [{ provider = "mock_openai" }]
[[routes]]
model = "claude-3-5-haiku"
targets = [{ provider = "mock_anthropic", model = "claude-3-5-haiku-20241022" }]
[[keys]]
name = "cg"
sha256 = "$SHA"
TOML
P=/v1/chat/completions
case $SC in
  chat) BODY=$BODIES/chat.json;;
  stream) BODY=$BODIES/chat-stream.json;;
  stream-usage) BODY=$D/stream-usage.json
    python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));d["stream_options"]={"include_usage":True};json.dump(d,open(sys.argv[2],"w"))' "$BODIES/chat-stream.json" "$BODY";;
  messages) BODY=$D/messages.json; P=/v1/messages
    python3 -c 'import json,sys;d=json.load(open(sys.argv[1]));d["model"]="claude-3-5-haiku";json.dump(d,open(sys.argv[2],"w"))' "$BODIES/messages.json" "$BODY";;
  *) echo "unknown scenario $SC" >&2; exit 2;;
esac
total() {
  local n=$1
  valgrind --tool=callgrind --callgrind-out-file="$D/cg.$n" "$BIN" serve --config "$D/c.toml" >"$D/log.$n" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$PORT/healthz" && break; sleep 0.3; done
  oha -n "$n" -c 1 --no-tui -m POST -H "authorization: Bearer $KEY" -H 'content-type: application/json' \
    -H 'anthropic-version: 2023-06-01' -D "$BODY" "http://127.0.0.1:$PORT$P" > "$D/oha.$n" 2>&1
  grep -q "\[200\] $n" "$D/oha.$n" || { echo "not all 200:" >&2; grep -A3 "Status code" "$D/oha.$n" >&2; }
  kill -TERM $pid; wait $pid || true
  grep "Collected" "$D/log.$n" | awk '{print $4}'
}
a=$(total "$N1"); b=$(total "$N2")
echo "$SC $(( (b - a) / (N2 - N1) ))"
