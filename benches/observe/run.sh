#!/usr/bin/env bash
# The plots of docs/OBSERVABILITY.md: a real Patchbay under a mixed load for a few
# minutes, scraped by a real Prometheus, then the Grafana dashboard's own PromQL
# (docs/grafana/patchbay.json) asked of that Prometheus and drawn as one PNG.
#
#   benches/observe/run.sh                     # ~3 minutes; writes docs/observability/dashboard.png
#   DUR=60 OUT_PNG=/tmp/d.png benches/observe/run.sh
#
# Needs: the release binary (cargo build --release -p patchbay), prometheus (Debian's
# package: apt-get install prometheus), oha, python3 with matplotlib. Loopback only.
#
# What runs: four `patchbay mock` upstreams (a fast and a slow OpenAI, an Anthropic, an
# OpenAI that always answers 503), Patchbay in front of them with [metrics] key_labels
# and scrape credentials on the main listener, four database keys (one limited to 60
# requests a minute, one with a $0.01 daily budget), Prometheus scraping /metrics every
# second, and oha driving same-shape chat, streams, cross-shape traffic, a route whose
# first target fails (retries, fallbacks, cool-downs), one whose only target fails
# (5xx), a bad key (over the access log's 60 lines a minute for refused keys) and the
# limited keys. The load doubles in the middle third.
#
# env (defaults): PATCHBAY_BIN=<repo>/target/release/patchbay  PROMETHEUS=prometheus
#   OHA=oha  DUR=150 (seconds of load)  BASE_PORT=14300 (uses BASE_PORT..+6)
#   OUT_PNG=<repo>/docs/observability/dashboard.png  LOG_FORMAT=json (the access log: json|text)
#   KEEP=0 (1: keep the temp dir: access log, scrape, configs, Prometheus data)
# Everything started here is stopped on exit (trap), by pid; the temp dir is removed.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PATCHBAY_BIN="${PATCHBAY_BIN:-$REPO/target/release/patchbay}"
PROMETHEUS="${PROMETHEUS:-prometheus}"
OHA="${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}"
DUR="${DUR:-150}"
BASE_PORT="${BASE_PORT:-14300}"
OUT_PNG="${OUT_PNG:-$REPO/docs/observability/dashboard.png}"
KEEP="${KEEP:-0}"

PB_PORT=$BASE_PORT; PROM_PORT=$((BASE_PORT + 1)); ADMIN_PORT=$((BASE_PORT + 6))
FAST_PORT=$((BASE_PORT + 2)); BIG_PORT=$((BASE_PORT + 3)); ANT_PORT=$((BASE_PORT + 4)); BUSY_PORT=$((BASE_PORT + 5))
PB="http://127.0.0.1:$PB_PORT"; PROM="http://127.0.0.1:$PROM_PORT"
SCRAPE_USER=prom; SCRAPE_PASSWORD="scrape-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"

for tool in "$PATCHBAY_BIN" "$PROMETHEUS" "$OHA"; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (see the header of $0)" >&2; exit 2; }
done
python3 -c 'import matplotlib' 2>/dev/null || { echo "missing: matplotlib (pip install matplotlib)" >&2; exit 2; }

TMP="$(mktemp -d /tmp/patchbay-observe.XXXXXX)"
PIDS=()
cleanup() {
  local rc=$? p
  set +e
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  if [[ "$KEEP" == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port name
  for _ in $(seq 100); do port_free "$1" || return 0; sleep 0.1; done
  echo "$2 did not listen on $1" >&2; exit 1
}
for p in $(seq "$BASE_PORT" $((BASE_PORT + 6))); do
  port_free "$p" || { echo "port $p is in use (set BASE_PORT)" >&2; exit 2; }
done

# ------------------------------------------------------------------ upstreams
mock() { # port shape scenario chunks delay_ms
  "$PATCHBAY_BIN" mock --listen "127.0.0.1:$1" --shape "$2" --scenario "$3" --chunks "$4" --chunk-delay-ms "$5" \
    > "$TMP/mock-$1.log" 2>&1 < /dev/null &
  PIDS+=($!)
}
mock "$FAST_PORT" openai text-60 12 6
mock "$BIG_PORT" openai text-200 40 15
mock "$ANT_PORT" anthropic text-120 20 10
mock "$BUSY_PORT" openai fail-503 4 0
for p in "$FAST_PORT" "$BIG_PORT" "$ANT_PORT" "$BUSY_PORT"; do wait_port "$p" "patchbay mock"; done

# ------------------------------------------------------------------ Patchbay
cat > "$TMP/patchbay.toml" <<TOML
# Written by benches/observe/run.sh.
[server]
listen = "127.0.0.1:$PB_PORT"

[storage]
path = "$TMP/patchbay.db"

[admin]
listen = "127.0.0.1:$ADMIN_PORT"

[metrics]
main_listener = true
key_labels = true
username = "$SCRAPE_USER"
password = "$SCRAPE_PASSWORD"

[access_log]
format = "${LOG_FORMAT:-json}"
path = "$TMP/access.log"

[providers.openai]
kind = "openai_compatible"
base_url = "http://127.0.0.1:$FAST_PORT/v1"

[providers.openai_big]
kind = "openai_compatible"
base_url = "http://127.0.0.1:$BIG_PORT/v1"

[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:$ANT_PORT"
api_key = "sk-ant-observe-unused"

[providers.busy]
kind = "openai_compatible"
base_url = "http://127.0.0.1:$BUSY_PORT/v1"

[[routes]]
model = "gpt-4o-mini"
targets = [{ provider = "openai" }]

[[routes]]
model = "gpt-4o"
targets = [{ provider = "openai_big" }]

[[routes]]
model = "claude-haiku-4-5"
targets = [{ provider = "anthropic" }]

# The first target always answers 503: a retry, then the fallback; the target then
# cools down and is tried again when the cool-down ends.
[[routes]]
model = "gpt-4.1-mini"
targets = [{ provider = "busy" }]
fallbacks = [{ provider = "openai" }]
retries = 1
backoff_ms = 5

# Only the failing upstream: its 503s reach the caller.
[[routes]]
model = "gpt-4.1"
targets = [{ provider = "busy" }]
TOML
new_key() { # name [policy json]: the secret
  local args=(keys create --config "$TMP/patchbay.toml" --name "$1")
  [[ -n "${2:-}" ]] && args+=(--policy "$2")
  "$PATCHBAY_BIN" "${args[@]}" | tail -1
}
KEY_APP="$(new_key app)"
KEY_BATCH="$(new_key batch)"
KEY_CI="$(new_key ci '{"limits":{"rpm":60}}')"
KEY_TRIAL="$(new_key trial '{"limits":{"daily_usd":0.01}}')"
"$PATCHBAY_BIN" serve --config "$TMP/patchbay.toml" > "$TMP/patchbay.log" 2>&1 < /dev/null &
PIDS+=($!)
wait_port "$PB_PORT" patchbay

# ------------------------------------------------------------------ Prometheus
cat > "$TMP/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: patchbay
    metrics_path: /metrics
    basic_auth:
      username: $SCRAPE_USER
      password: $SCRAPE_PASSWORD
    static_configs:
      - targets: ["127.0.0.1:$PB_PORT"]
YAML
"$PROMETHEUS" --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prometheus" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn > "$TMP/prometheus.log" 2>&1 < /dev/null &
PIDS+=($!)
wait_port "$PROM_PORT" prometheus

# ------------------------------------------------------------------ load
chat_body() { # model stream
  printf '{"model":"%s","stream":%s,"max_tokens":300,"messages":[{"role":"user","content":"Summarise the observability of an LLM gateway in a few words."}]}' "$1" "$2"
}
load() { # seconds rate key path body [extra header]
  local extra=()
  [[ -n "${6:-}" ]] && extra=(-H "$6")
  "$OHA" --no-tui -z "${1}s" -q "$2" -c 4 -m POST -H 'content-type: application/json' \
    -H "authorization: Bearer $3" "${extra[@]}" -d "$5" "$PB$4" > /dev/null 2>&1 < /dev/null &
  PIDS+=($!)
}
mixed() { # seconds factor
  local s=$1 f=$2
  load "$s" $((40 * f)) "$KEY_APP" /v1/chat/completions "$(chat_body gpt-4o-mini false)"
  load "$s" $((8 * f)) "$KEY_APP" /v1/chat/completions "$(chat_body gpt-4o-mini true)"
  load "$s" $((3 * f)) "$KEY_BATCH" /v1/chat/completions "$(chat_body gpt-4o true)"
  load "$s" $((6 * f)) "$KEY_BATCH" /v1/messages "$(chat_body claude-haiku-4-5 true)" 'anthropic-version: 2023-06-01'
  load "$s" $((6 * f)) "$KEY_APP" /v1/chat/completions "$(chat_body claude-haiku-4-5 false)"
  load "$s" $((4 * f)) "$KEY_BATCH" /v1/messages "$(chat_body gpt-4o-mini false)" 'anthropic-version: 2023-06-01'
  load "$s" $((4 * f)) "$KEY_APP" /v1/chat/completions "$(chat_body gpt-4.1-mini false)"
}
echo "load: ${DUR}s against $PB (Prometheus $PROM, temp $TMP)"
START=$(date +%s)
THIRD=$((DUR / 3))
mixed "$DUR" 1
load "$DUR" 2 "$KEY_CI" /v1/chat/completions "$(chat_body gpt-4o-mini false)"
load "$DUR" 1 "$KEY_TRIAL" /v1/chat/completions "$(chat_body gpt-4o false)"
load "$DUR" 1 "$KEY_APP" /v1/chat/completions "$(chat_body gpt-4.1 false)"
load "$DUR" 2 "pbk_not_a_real_key_$$" /v1/chat/completions "$(chat_body gpt-4o-mini false)"
sleep "$THIRD"
mixed "$THIRD" 1   # the middle third: twice the load
sleep $((DUR - THIRD))
sleep 3
END=$(date +%s)

curl -fsS -u "$SCRAPE_USER:$SCRAPE_PASSWORD" "$PB/metrics" > "$TMP/metrics.txt"
echo "scrape: $(grep -c '^patchbay_' "$TMP/metrics.txt") series; requests: $(awk '/^patchbay_requests_total/{s+=$2} END{print s}' "$TMP/metrics.txt")"
mkdir -p "$(dirname "$OUT_PNG")"
python3 "$HERE/plot.py" --prometheus "$PROM" --dashboard "$REPO/docs/grafana/patchbay.json" \
  --start "$START" --end "$END" --out "$OUT_PNG"
