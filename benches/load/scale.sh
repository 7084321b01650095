#!/usr/bin/env bash
# Scale-out load figures (issue 14): same-shape chat through Patchbay, closed loop with the
# shared load.sh (wrk), in ONE run, with a database key whose rpm limit is consulted on
# every request:
#
#   sqlite     one instance, SQLite file, in-process limiter (the default deployment)
#   pg         one instance, [storage] url = PostgreSQL, in-process limiter
#   pg-redis   one instance, [storage] url = PostgreSQL, [limits] redis = Redis
#   pg-redis-2 two instances (one worker each) on the same PostgreSQL and Redis behind nginx
#   sqlite-1w  one instance, one worker: the per-instance baseline for pg-redis-2
#
#   eval "$(scripts/services start)"          # PostgreSQL and Redis (PATCHBAY_TEST_*)
#   cargo build --release -p patchbay
#   benches/load/scale.sh
#
# env (defaults): PATCHBAY_BIN=target/release/patchbay  CONC=32  DUR=10  WARMUP_S=3
#   ROUNDS=2 (each configuration is run ROUNDS times, interleaved)
#   CONFIGS="sqlite pg pg-redis sqlite-1w pg-redis-2" (which to run, in this order)  MOCK_PORT=18080
#   OUT=/tmp/patchbay-scale/<timestamp>  SHARED_BENCH=<repo>/../shared/bench
#   PATCHBAY_TEST_POSTGRES, PATCHBAY_TEST_REDIS: the servers (from scripts/services)
# Loopback only; everything started here is stopped on exit.
set -euo pipefail
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
if [[ -n "${SHARED_BENCH:-}" ]]; then SHARED="$SHARED_BENCH"
elif [[ -d "$REPO/../shared/bench" ]]; then SHARED="$(cd "$REPO/../shared/bench" && pwd)"
else SHARED=/work/shared/bench; fi
PATCHBAY_BIN="${PATCHBAY_BIN:-$REPO/target/release/patchbay}"
CONC="${CONC:-32}"; DUR="${DUR:-10}"; ROUNDS="${ROUNDS:-2}"; export WARMUP_S="${WARMUP_S:-3}"
export MOCK_PORT="${MOCK_PORT:-18080}"
OUT="${OUT:-/tmp/patchbay-scale/$(date +%Y%m%d-%H%M%S)}"
PG="${PATCHBAY_TEST_POSTGRES:?eval \"\$(scripts/services start)\" first}"
REDIS="${PATCHBAY_TEST_REDIS:?eval \"\$(scripts/services start)\" first}"
[[ -x "$PATCHBAY_BIN" ]] || { echo "no binary at $PATCHBAY_BIN (cargo build --release -p patchbay)" >&2; exit 2; }
command -v nginx >/dev/null || { echo "nginx is needed (the shared mock installs it)" >&2; exit 2; }
mkdir -p "$OUT"
RESULTS="$OUT/results.jsonl"; : > "$RESULTS"
export QUIET_MAX="${QUIET_MAX:-0.15}" QUIET_WAIT_S="${QUIET_WAIT_S:-30}"

PIDS=()
NGINX_DIR="$OUT/nginx"
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -f "$NGINX_DIR/nginx.pid" ]] && kill "$(cat "$NGINX_DIR/nginx.pid")" 2>/dev/null || true
  "$SHARED/start-mock.sh" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
"$SHARED/start-mock.sh" >/dev/null

body="$OUT/chat.json"
python3 - "$SHARED/bodies/chat.json" "$body" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["model"] = "gpt-4o-mini"
json.dump(d, open(sys.argv[2], "w"), separators=(",", ":"))
PY

# A database of this run's own on the PostgreSQL server.
DB="pbscale_$(date +%s)"
psql "$PG" -qAt -c "CREATE DATABASE $DB" >/dev/null
PG_URL="${PG%/*}/$DB"

config() { # dir port storage-toml workers
  mkdir -p "$1"
  cat > "$1/p.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
workers = $4
[admin]
enabled = false
[access_log]
format = "text"
path = "/dev/null"
$3
[providers.mock]
kind = "openai_compatible"
base_url = "http://127.0.0.1:$MOCK_PORT/v1"
[[routes]]
model = "gpt-4o-mini"
targets = [{ provider = "mock" }]
TOML
}
serve() { # dir -> pid
  "$PATCHBAY_BIN" serve -c "$1/p.toml" > "$1/serve.log" 2>&1 < /dev/null &
  local pid=$!
  PIDS+=("$pid")
  for _ in $(seq 100); do grep -q "http://" "$1/serve.log" 2>/dev/null && break; sleep 0.1; done
  echo "$pid"
}
key() { # dir -> plaintext of a key with a generous rpm (consulted, never reached)
  "$PATCHBAY_BIN" keys create -c "$1/p.toml" --name "bench-$RANDOM" \
    --policy '{"limits":{"rpm":100000000}}' | tail -n 1
}

CORES="$(nproc)"
SQL="$OUT/sqlite"; config "$SQL" 14301 "[storage]
path = \"$SQL/pb.db\"" "$CORES"
SQL1="$OUT/sqlite-1w"; config "$SQL1" 14302 "[storage]
path = \"$SQL1/pb.db\"" 1
PGO="$OUT/pg"; config "$PGO" 14307 "[storage]
path = \"$PGO/pb.db\"
url = \"$PG_URL\"" "$CORES"
PGR="$OUT/pg-redis"; config "$PGR" 14303 "[storage]
path = \"$PGR/pb.db\"
url = \"$PG_URL\"
[limits]
redis = \"$REDIS\"" "$CORES"
for n in a b; do
  port=$([[ $n == a ]] && echo 14304 || echo 14305)
  config "$OUT/pg-redis-2$n" "$port" "[storage]
path = \"$OUT/pg-redis-2$n/pb.db\"
url = \"$PG_URL\"
[limits]
redis = \"$REDIS\"" 1
done
mkdir -p "$NGINX_DIR"
cat > "$NGINX_DIR/nginx.conf" <<NGINX
worker_processes 1;
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  upstream patchbay { server 127.0.0.1:14304; server 127.0.0.1:14305; keepalive 64; }
  server {
    listen 127.0.0.1:14306;
    location / {
      proxy_pass http://patchbay;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
NGINX

SQL_KEY=$(key "$SQL"); SQL1_KEY=$(key "$SQL1"); PG_KEY=$(key "$PGR")
PGO_KEY=$(key "$PGO")
declare -A URL=([sqlite]=http://127.0.0.1:14301 [sqlite-1w]=http://127.0.0.1:14302 \
  [pg]=http://127.0.0.1:14307 [pg-redis]=http://127.0.0.1:14303 [pg-redis-2]=http://127.0.0.1:14306)
declare -A KEY=([sqlite]=$SQL_KEY [sqlite-1w]=$SQL1_KEY [pg]=$PGO_KEY [pg-redis]=$PG_KEY \
  [pg-redis-2]=$PG_KEY)

run() { # label dir... (instances to start; stopped after)
  local label=$1; shift
  local pids=() d
  for d in "$@"; do pids+=("$(serve "$d")"); done
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' -m 5 -X POST "${URL[$label]}/v1/chat/completions" \
    -H "Authorization: Bearer ${KEY[$label]}" -H 'content-type: application/json' --data-binary @"$body")
  [[ "$code" == 200 ]] || { echo "$label answered $code" >&2; exit 1; }
  # CPU and RSS are sampled for the first instance's process tree (pg-redis-2: one of two).
  AUTH="Bearer ${KEY[$label]}" PID="${pids[0]}" LABEL="$label" RESULTS_JSONL="$RESULTS" \
    "$SHARED/load.sh" "${URL[$label]}/v1/chat/completions" "$body" "$CONC" "$DUR" | tail -n 1
  for p in "${pids[@]}"; do kill -TERM "$p"; wait "$p" 2>/dev/null || true; done
}

nginx -c "$NGINX_DIR/nginx.conf"
declare -A DIRS=([sqlite]="$SQL" [pg]="$PGO" [pg-redis]="$PGR" [sqlite-1w]="$SQL1" \
  [pg-redis-2]="$OUT/pg-redis-2a $OUT/pg-redis-2b")
for round in $(seq "$ROUNDS"); do
  echo "== round $round"
  for c in ${CONFIGS:-sqlite pg pg-redis sqlite-1w pg-redis-2}; do
    # shellcheck disable=SC2086
    run "$c" ${DIRS[$c]}
  done
done
psql "$PG" -qAt -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
python3 - "$RESULTS" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault(r.get("label"), []).append(r)
print(f"{'configuration':<12} {'req/s (median)':>15} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} {'cpu':>6}")
for label, rs in runs.items():
    med = lambda k: statistics.median(x.get(k, 0) or 0 for x in rs)
    bad = sum(x.get("err_status", 0) or 0 for x in rs)
    print(f"{label:<12} {med('rps'):>15.0f} {med('lat_p50_ms'):>8.2f} {med('lat_p99_ms'):>8.2f} {bad:>8} {med('cpu_cores'):>6.2f}")
PY
echo "results: $RESULTS"
