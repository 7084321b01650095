#!/usr/bin/env bash
# Patchbay load benchmark: every figure of the load goals, taken in ONE run on loopback.
#
#   benches/load/run.sh                       # everything (about 8-10 minutes)
#   PATCHBAY=0 benches/load/run.sh            # only the parts without Patchbay (direct, oha, peers)
#   PHASES="patchbay open" DUR=5 benches/load/run.sh
#
# Phases, in this order (PHASES, default all):
#   closed    wrk (shared load.sh), CONC connections, DUR s each, direct, the bare proxy and
#             Patchbay side by side: direct/chat bare/chat patchbay/chat direct/stream bare/stream
#             patchbay/stream patchbay/stream-cross direct/messages bare/messages patchbay/messages
#             patchbay/chat-cross patchbay/messages-cross. The bare proxy (examples/bare-proxy:
#             hyper in, hyper out, no parsing) is the floor any proxy pays on this machine; each
#             Patchbay run is also compared with the bare run of the same upstream call.
#   open      oha -q OPEN_RATE -z OPEN_DUR -c CONC --latency-correction, direct vs Patchbay,
#             alternating, OPEN_ROUNDS rounds, for each of OPEN_SCENARIOS (chat chat-cross stream;
#             oha also reports time to first byte)
#   ttfb      time to the first streamed bytes, direct vs Patchbay, interleaved (ttfb.py)
#   rss       RSS with STREAMS_N open streams through Patchbay (hold_streams.py) to a slow
#             upstream (`patchbay mock --scenario text --tokens 1000 --chunks 1000
#             --chunk-delay-ms 100` on SLOW_PORT: ~100 s per stream; the default echo
#             scenario has only a few words, hence as few chunks)
#   peers     LiteLLM and Portkey (PEERS) through the shared run-all.sh, PEER_SCENARIOS
# Idle RSS is read right after Patchbay starts (before any request) and again at the end.
#
# env (defaults):
#   PATCHBAY_BIN=target/release/patchbay   PATCHBAY=1 (0: skip everything that needs it)
#   BARE_BIN=target/release/bare-proxy (unset or missing: no bare runs)   BARE_PORT=14200
#   PB_WORKERS=<n>  Patchbay's [server] workers (runtime threads); unset: one per core
#   PB_RUNTIME=per_thread|work_stealing  Patchbay's [server] runtime; unset: its default
#   PB_OBSERVE=on|off  metrics and the access log on (the default config's metrics, the text
#                      access log to PB_ACCESS_LOG) or both off, to measure what they cost
#   PB_ACCESS_LOG=/dev/null  where the access log goes (a file fills ~7 MB/s at 20k req/s)
#   PB_PORT=14100  SLOW_PORT=18090  MOCK_PORT=18080
#   CONC=32  DUR=10  WARMUP_S=3
#   CLOSED_SCENARIOS="chat stream stream-cross messages chat-cross messages-cross" (closed phase)
#   CLOSED_ROUNDS=1  rounds of the closed phase, each direct, bare and Patchbay in turn; with
#                    more than one, the goals use the median over rounds of each Patchbay run
#                    against the bare run of the same round
#   OPEN_RATE=5000  OPEN_DUR=10  OPEN_ROUNDS=2  OPEN_SCENARIOS="chat chat-cross stream"
#   TTFB_N=1000  TTFB_WARMUP=100  STREAMS_N=1000  STREAMS_HOLD_S=5  (STREAMS_N="1000 9500": one hold each)
#   PEERS="litellm portkey-native"  PEER_SCENARIOS="chat stream messages"
#   SLOW_UPSTREAM=auto (patchbay mock if it runs, else slow_sse.py) | patchbay | python
#   OUT=/tmp/patchbay-load/<timestamp>   (results.jsonl = every raw result; wrk.jsonl = the
#                                          load.sh lines, readable by shared summarize.py)
#   SHARED_BENCH=<repo>/../shared/bench (else /work/shared/bench)   OHA=oha
#   QUIET_MAX / QUIET_WAIT_S are passed to load.sh and used before each oha run.
# Loopback only. Everything this script starts is stopped on exit (trap), by pid.
set -euo pipefail
# Every process started here (mocks, the gateway, the stream holder) may open as many
# descriptors as the machine allows: 10,000 streams need two sockets each in the gateway.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
if [[ -n "${SHARED_BENCH:-}" ]]; then SHARED="$SHARED_BENCH"
elif [[ -d "$REPO/../shared/bench" ]]; then SHARED="$(cd "$REPO/../shared/bench" && pwd)"
else SHARED=/work/shared/bench; fi
[[ -x "$SHARED/load.sh" ]] || { echo "shared bench kit not found (set SHARED_BENCH)" >&2; exit 2; }

PATCHBAY_BIN="${PATCHBAY_BIN:-$REPO/target/release/patchbay}"
PATCHBAY="${PATCHBAY:-1}"
BARE_BIN="${BARE_BIN:-$REPO/target/release/bare-proxy}"; BARE_PORT="${BARE_PORT:-14200}"
PB_PORT="${PB_PORT:-14100}"; SLOW_PORT="${SLOW_PORT:-18090}"; export MOCK_PORT="${MOCK_PORT:-18080}"
CONC="${CONC:-32}"; DUR="${DUR:-10}"; export WARMUP_S="${WARMUP_S:-3}"
OPEN_RATE="${OPEN_RATE:-5000}"; OPEN_DUR="${OPEN_DUR:-10}"; OPEN_ROUNDS="${OPEN_ROUNDS:-2}"
CLOSED_ROUNDS="${CLOSED_ROUNDS:-1}"
OPEN_SCENARIOS="${OPEN_SCENARIOS:-chat chat-cross stream}"
TTFB_N="${TTFB_N:-1000}"; TTFB_WARMUP="${TTFB_WARMUP:-100}"
STREAMS_N="${STREAMS_N:-1000}"; STREAMS_HOLD_S="${STREAMS_HOLD_S:-5}"
PEERS="${PEERS-litellm portkey-native}"; PEER_SCENARIOS="${PEER_SCENARIOS:-chat stream messages}"
PHASES="${PHASES:-closed open ttfb rss peers}"
SLOW_UPSTREAM="${SLOW_UPSTREAM:-auto}"   # auto: patchbay mock, else benches/load/slow_sse.py
OUT="${OUT:-/tmp/patchbay-load/$(date +%Y%m%d-%H%M%S)}"
OHA="${OHA:-$(command -v oha || echo "$HOME/.cargo/bin/oha")}"
QUIET_MAX="${QUIET_MAX:-0.15}"; QUIET_WAIT_S="${QUIET_WAIT_S:-180}"; export QUIET_MAX QUIET_WAIT_S
mkdir -p "$OUT/bodies"
RESULTS="$OUT/results.jsonl"; WRK_JSONL="$OUT/wrk.jsonl"; : > "$RESULTS"; : > "$WRK_JSONL"
HZ="$(getconf CLK_TCK)"
MOCK="http://127.0.0.1:$MOCK_PORT"; PB="http://127.0.0.1:$PB_PORT"
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }
log() { printf '\n== %s\n' "$*"; }

# ---------------------------------------------------------------- cleanup (trap)
PB_PID=""; SLOW_PID=""; BARE_PID=""; MOCK_STARTED=0; PEERS_ACTIVE=0
declare -A PB_OK=()   # Patchbay scenarios that answered their check
stop_pid() { # pid name: TERM, wait up to 5 s, then KILL
  local p="$1"; [[ -z "$p" ]] && return 0
  kill -0 "$p" 2>/dev/null || return 0
  kill "$p" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  echo "stopped $2 (pid $p)"
}
cleanup() {
  local rc=$?
  set +e
  stop_pid "$PB_PID" patchbay; PB_PID=""
  stop_pid "$SLOW_PID" "slow mock"; SLOW_PID=""
  stop_pid "$BARE_PID" "bare proxy"; BARE_PID=""
  if [[ "$PEERS_ACTIVE" == 1 ]]; then "$SHARED/start-litellm.sh" stop; "$SHARED/start-portkey.sh" stop; fi
  [[ "$MOCK_STARTED" == 1 ]] && "$SHARED/start-mock.sh" stop
  echo "results: $RESULTS"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
anon_kb() { awk '/^RssAnon:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }
sys_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
wait_quiet() { # same rule as load.sh: < QUIET_MAX busy cores for 2 s, bounded by QUIET_WAIT_S
  local t0=$SECONDS a b
  while :; do
    a=$(sys_ticks); sleep 2; b=$(sys_ticks)
    awk -v a="$a" -v b="$b" -v hz="$HZ" -v m="$QUIET_MAX" 'BEGIN{exit !((b-a)/hz/2 < m)}' && return 0
    (( SECONDS - t0 >= QUIET_WAIT_S )) && { echo "  (machine not quiet after ${QUIET_WAIT_S}s; running anyway)" >&2; return 1; }
  done
}
record() { python3 "$HERE/report.py" record "$RESULTS" "$@"; }

mk_body() { # src(shared body name) dst model [stream true|false]
  python3 - "$SHARED/bodies/$1.json" "$OUT/bodies/$2.json" "$3" "${4:-}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["model"] = sys.argv[3]
if sys.argv[4]: d["stream"] = sys.argv[4] == "true"
json.dump(d, open(sys.argv[2], "w"), separators=(",", ":"))
PY
}
# direct bodies: the shared ones; Patchbay bodies: the model names of the routes below
mk_body chat direct-chat gpt-4o-mini
mk_body chat-stream direct-stream gpt-4o-mini
mk_body messages direct-messages claude-3-5-haiku-20241022
mk_body chat pb-chat gpt-4o-mini
mk_body chat-stream pb-stream gpt-4o-mini
mk_body messages pb-messages claude-3-5-haiku
mk_body chat pb-chat-cross cross-claude
mk_body messages pb-messages-cross cross-gpt
mk_body messages pb-stream-cross cross-gpt true
mk_body chat-stream pb-slow-stream slow-stream

# scenario -> "URL BODY" for each side; baseline = the direct scenario with the same upstream call
declare -A PB_URL=( [chat]=/v1/chat/completions [stream]=/v1/chat/completions [messages]=/v1/messages
                    [chat-cross]=/v1/chat/completions [messages-cross]=/v1/messages [stream-cross]=/v1/messages )
declare -A BASELINE=( [chat]=chat [stream]=stream [messages]=messages
                      [chat-cross]=messages [messages-cross]=chat [stream-cross]=stream )
declare -A DIRECT_URL=( [chat]=/v1/chat/completions [stream]=/v1/chat/completions [messages]=/v1/messages )

PB_KEY="pbk_loadbench$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
PB_AUTH="Bearer $PB_KEY"
PB_KEY_SHA="$(printf %s "$PB_KEY" | sha256sum | cut -d' ' -f1)"

# ---------------------------------------------------------------- meta
record meta "{\"started\": \"$(date -Iseconds)\", \"host_cores\": $(nproc), \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\",
  \"repo_rev\": \"$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')\",
  \"patchbay_bin\": \"$PATCHBAY_BIN\", \"bare_bin\": \"$BARE_BIN\", \"conc\": $CONC, \"dur_s\": $DUR, \"warmup_s\": $WARMUP_S,
  \"open_rate\": $OPEN_RATE, \"open_dur_s\": $OPEN_DUR, \"open_rounds\": $OPEN_ROUNDS, \"closed_rounds\": $CLOSED_ROUNDS,
  \"ttfb_n\": $TTFB_N, \"streams_n\": \"$STREAMS_N\", \"phases\": \"$PHASES\", \"peers\": \"$PEERS\",
  \"oha\": \"$("$OHA" --version 2>/dev/null | head -1 || echo none)\", \"wrk\": \"$(wrk -v 2>&1 | head -1 || true)\"}"

awk '$1 >= 1.0 {print "warning: load average " $1 " (>= 1.0): builds or other load running; figures will be noisy" > "/dev/stderr"}' /proc/loadavg

# ---------------------------------------------------------------- upstream (shared nginx mock)
log "mock upstream on $MOCK"
if ! curl -fsS -m 2 "$MOCK/health" >/dev/null 2>&1; then "$SHARED/start-mock.sh"; MOCK_STARTED=1; fi
MOCK_PID="$(cat "${PEERS_RUN:-/tmp/peers/run}/mock/nginx.pid" 2>/dev/null || true)"
for s in chat stream messages; do
  code=$(curl -sS -o /dev/null -w '%{http_code}' -m 5 -X POST "$MOCK${DIRECT_URL[$s]}" -H 'content-type: application/json' --data-binary @"$OUT/bodies/direct-$s.json")
  [[ "$code" == 200 ]] || { echo "mock does not answer $s (HTTP $code)" >&2; exit 1; }
done

# ---------------------------------------------------------------- bare proxy (the floor)
BARE="http://127.0.0.1:$BARE_PORT"
if has_phase closed && [[ -x "$BARE_BIN" ]]; then
  port_free "$BARE_PORT" || { echo "port $BARE_PORT is in use: stop what listens there first" >&2; exit 2; }
  "$BARE_BIN" "127.0.0.1:$BARE_PORT" "127.0.0.1:$MOCK_PORT" > "$OUT/bare-proxy.log" 2>&1 < /dev/null &
  BARE_PID=$!
  for _ in $(seq 50); do port_free "$BARE_PORT" || break; sleep 0.1; done
  code=$(curl -sS -o /dev/null -w '%{http_code}' -m 5 -X POST "$BARE/v1/chat/completions" -H 'content-type: application/json' \
    --data-binary @"$OUT/bodies/direct-chat.json" || echo 000)
  if [[ "$code" == 200 ]]; then log "bare proxy: $BARE_BIN on $BARE (pid $BARE_PID)"
  else echo "bare proxy does not answer (HTTP $code): no bare runs"; stop_pid "$BARE_PID" "bare proxy"; BARE_PID=""; fi
else
  echo "no bare proxy at $BARE_BIN (cargo build --release -p bare-proxy): no bare runs"
fi

# ---------------------------------------------------------------- Patchbay
if [[ "$PATCHBAY" == 1 ]]; then
  [[ -x "$PATCHBAY_BIN" ]] || { echo "no Patchbay binary at $PATCHBAY_BIN (cargo build --release -p patchbay, or PATCHBAY=0)" >&2; exit 2; }
  for p in "$PB_PORT" "$SLOW_PORT"; do port_free "$p" || { echo "port $p is in use: stop what listens there first" >&2; exit 2; }; done
  Q='"'
  cat > "$OUT/patchbay.toml" <<TOML
# Written by benches/load/run.sh: loopback only, upstreams = the shared nginx mock + a slow patchbay mock.
[storage]
path = "$OUT/patchbay.db"

[server]
listen = "127.0.0.1:$PB_PORT"
${PB_WORKERS:+workers = $PB_WORKERS}
${PB_RUNTIME:+runtime = $Q$PB_RUNTIME$Q}

$(if [[ "${PB_OBSERVE:-on}" == off ]]; then
    printf '[metrics]\nenabled = false\n\n[access_log]\nformat = "off"\n'
  else
    printf '[access_log]\nformat = "text"\npath = "%s"\n' "${PB_ACCESS_LOG:-/dev/null}"
  fi)

[providers.mock_openai]
kind = "openai_compatible"
base_url = "$MOCK/v1"

[providers.mock_anthropic]
kind = "anthropic"
base_url = "$MOCK"
api_key = "sk-ant-loadbench-unused"

[providers.slow_openai]
kind = "openai_compatible"
base_url = "http://127.0.0.1:$SLOW_PORT/v1"

# same-shape: OpenAI chat -> OpenAI upstream
[[routes]]
model = "gpt-4o-mini"
targets = [{ provider = "mock_openai" }]

# same-shape: Anthropic messages -> Anthropic upstream
[[routes]]
model = "claude-3-5-haiku"
targets = [{ provider = "mock_anthropic", model = "claude-3-5-haiku-20241022" }]

# cross-shape: OpenAI chat caller -> Anthropic upstream
[[routes]]
model = "cross-claude"
targets = [{ provider = "mock_anthropic", model = "claude-3-5-haiku-20241022" }]

# cross-shape: Anthropic caller -> OpenAI upstream (streams too)
[[routes]]
model = "cross-gpt"
targets = [{ provider = "mock_openai", model = "gpt-4o-mini" }]

# 1,000 open streams: a slow upstream that keeps each stream open ~100 s
[[routes]]
model = "slow-stream"
targets = [{ provider = "slow_openai", model = "gpt-4o-mini" }]

[[keys]]
name = "loadbench"
sha256 = "$PB_KEY_SHA"
TOML
  log "Patchbay: $PATCHBAY_BIN serve --config $OUT/patchbay.toml (listen $PB)"
  "$PATCHBAY_BIN" --version 2>/dev/null || true
  SLOW_KIND=""
  if has_phase rss; then
    if [[ "$SLOW_UPSTREAM" != python ]]; then
      "$PATCHBAY_BIN" mock --shape openai --scenario text --tokens 1000 --chunks 1000 --chunk-delay-ms 100 --listen "127.0.0.1:$SLOW_PORT" \
        > "$OUT/slow-mock.log" 2>&1 < /dev/null &
      SLOW_PID=$!; SLOW_KIND="patchbay mock"
      for _ in $(seq 50); do port_free "$SLOW_PORT" || break; kill -0 "$SLOW_PID" 2>/dev/null || break; sleep 0.1; done
      if port_free "$SLOW_PORT"; then
        echo "  patchbay mock did not listen: $(tail -3 "$OUT/slow-mock.log")"
        stop_pid "$SLOW_PID" "patchbay mock"; SLOW_PID=""; SLOW_KIND=""
      fi
    fi
    if [[ -z "$SLOW_PID" && "$SLOW_UPSTREAM" != patchbay ]]; then
      python3 "$HERE/slow_sse.py" --listen "127.0.0.1:$SLOW_PORT" --chunks 1000 --chunk-delay-ms 100 > "$OUT/slow-mock.log" 2>&1 < /dev/null &
      SLOW_PID=$!; SLOW_KIND="slow_sse.py"
      for _ in $(seq 50); do port_free "$SLOW_PORT" || break; sleep 0.1; done
    fi
    echo "  slow upstream for the open-streams test: ${SLOW_KIND:-none} (pid ${SLOW_PID:-})"
  fi
  "$PATCHBAY_BIN" serve --config "$OUT/patchbay.toml" > "$OUT/patchbay.log" 2>&1 < /dev/null &
  PB_PID=$!
  up=0
  for _ in $(seq 300); do
    kill -0 "$PB_PID" 2>/dev/null || { echo "patchbay exited:"; tail -30 "$OUT/patchbay.log"; PB_PID=""; exit 1; }
    if ! port_free "$PB_PORT"; then up=1; break; fi
    sleep 0.1
  done
  [[ "$up" == 1 ]] || { echo "patchbay did not listen on $PB_PORT in 30 s"; tail -30 "$OUT/patchbay.log"; exit 1; }
  sleep 2   # let start-up allocations settle; no request has been made yet
  RSS_IDLE_START=$(rss_kb "$PB_PID"); ANON_IDLE_START=$(anon_kb "$PB_PID")
  echo "patchbay pid $PB_PID, idle RSS right after start: $((RSS_IDLE_START / 1024)) MiB"
  # Each scenario must answer 200 (and streams must carry events) before it is loaded.
  for s in chat stream messages chat-cross messages-cross stream-cross; do
    resp="$OUT/check-$s.out"
    code=$(curl -sS -o "$resp" -w '%{http_code}' -m 10 -X POST "$PB${PB_URL[$s]}" -H 'content-type: application/json' \
      -H "Authorization: $PB_AUTH" --data-binary @"$OUT/bodies/pb-$s.json" || echo 000)
    ok=0
    if [[ "$code" == 200 ]]; then
      case "$s" in
        stream) grep -q '^data: \[DONE\]' "$resp" && ok=1 ;;
        stream-cross) grep -q 'message_stop' "$resp" && ok=1 ;;
        *) python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$resp" 2>/dev/null && ok=1 ;;
      esac
    fi
    if [[ "$ok" == 1 ]]; then PB_OK[$s]=1; echo "  check $s: ok"
    else echo "  check $s: FAILED (HTTP $code): $(head -c 300 "$resp")"; record check "{\"scenario\": \"$s\", \"http\": \"$code\"}"; fi
  done
  sleep 1
  RSS_IDLE_WARM=$(rss_kb "$PB_PID"); ANON_IDLE_WARM=$(anon_kb "$PB_PID")
  record rss_idle "{\"label\": \"patchbay/idle-start\", \"rss_mb\": $(mib "$RSS_IDLE_START"),
    \"rss_after_checks_mb\": $(mib "$RSS_IDLE_WARM"), \"anon_mb\": $(mib "$ANON_IDLE_START"),
    \"anon_after_checks_mb\": $(mib "$ANON_IDLE_WARM")}"
fi

# ---------------------------------------------------------------- closed loop (wrk via shared load.sh)
wrk_run() { # target scenario url body auth pid baseline bare round
  local target="$1" sc="$2" url="$3" body="$4" auth="$5" pid="$6" base="$7" bare="${8:-}" round="${9:-1}" n
  n=$(wc -l < "$WRK_JSONL")
  if LABEL="$target/$sc" PID="$pid" AUTH="$auth" RESULTS_JSONL="$WRK_JSONL" "$SHARED/load.sh" "$url" "$body" "$CONC" "$DUR"; then
    python3 "$HERE/report.py" ingest-wrk "$RESULTS" "$WRK_JSONL" "$n" --phase closed --baseline "$base" --bare "$bare" --round "$round"
  else echo "  ($target/$sc failed)"; fi
}
if has_phase closed; then
  log "closed loop: wrk, $CONC connections, ${DUR}s each (+${WARMUP_S}s warm-up), $CLOSED_ROUNDS round(s)"
  for r in $(seq "$CLOSED_ROUNDS"); do
    [[ "$CLOSED_ROUNDS" == 1 ]] || echo "  round $r"
    for s in ${CLOSED_SCENARIOS:-chat stream stream-cross messages chat-cross messages-cross}; do
      case "$s" in chat|stream|messages)
        wrk_run direct "$s" "$MOCK${DIRECT_URL[$s]}" "$OUT/bodies/direct-$s.json" "Bearer sk-fake" "$MOCK_PID" "" "" "$r"
        if [[ -n "$BARE_PID" ]]; then wrk_run bare "$s" "$BARE${DIRECT_URL[$s]}" "$OUT/bodies/direct-$s.json" "Bearer sk-fake" "$BARE_PID" "direct/$s" "" "$r"; fi ;;
      esac
      if [[ -n "$PB_PID" && -n "${PB_OK[$s]:-}" ]]; then
        wrk_run patchbay "$s" "$PB${PB_URL[$s]}" "$OUT/bodies/pb-$s.json" "$PB_AUTH" "$PB_PID" "direct/${BASELINE[$s]}" \
          "${BARE_PID:+bare/${BASELINE[$s]}}" "$r"
      fi
    done
  done
fi
stop_pid "$BARE_PID" "bare proxy"; BARE_PID=""

# ---------------------------------------------------------------- open loop (oha, fixed rate)
oha_run() { # target scenario url body auth pid round baseline
  local target="$1" sc="$2" url="$3" body="$4" auth="$5" pid="$6" round="$7" base="$8"
  local q=true; wait_quiet || q=false
  local args=(-q "$OPEN_RATE" -z "${OPEN_DUR}s" -c "$CONC" --latency-correction --no-tui -m POST
              -H 'content-type: application/json' -D "$body" --output-format json)
  [[ -n "$auth" ]] && args+=(-H "Authorization: $auth")
  local c0=0 c1=0 s0 s1 js="$OUT/oha-$target-$sc-$round.json"
  [[ -n "$pid" ]] && c0=$(cpu_ticks "$pid"); s0=$(sys_ticks)
  if ! "$OHA" "${args[@]}" "$url" > "$js" 2> "$OUT/oha.err"; then echo "  oha failed: $(tail -3 "$OUT/oha.err")"; return 0; fi
  [[ -n "$pid" ]] && c1=$(cpu_ticks "$pid"); s1=$(sys_ticks)
  python3 "$HERE/report.py" ingest-oha "$RESULTS" "$js" --label "$target/$sc" --round "$round" --rate "$OPEN_RATE" \
    --conc "$CONC" --cpu-ticks $((c1 - c0)) --sys-ticks $((s1 - s0)) --hz "$HZ" --quiet-before "$q" --baseline "$base"
}
if has_phase open; then
  log "open loop: oha -q $OPEN_RATE -z ${OPEN_DUR}s -c $CONC --latency-correction, $OPEN_ROUNDS round(s), alternating"
  if [[ ! -x "$OHA" ]]; then echo "  oha not found ($OHA): cargo install oha --locked"
  else
    for r in $(seq "$OPEN_ROUNDS"); do
      for s in $OPEN_SCENARIOS; do
        b="${BASELINE[$s]}"
        oha_run direct "$b" "$MOCK${DIRECT_URL[$b]}" "$OUT/bodies/direct-$b.json" "" "" "$r" ""
        if [[ -n "$PB_PID" && -n "${PB_OK[$s]:-}" ]]; then
          oha_run patchbay "$s" "$PB${PB_URL[$s]}" "$OUT/bodies/pb-$s.json" "$PB_AUTH" "$PB_PID" "$r" "direct/$b"
        fi
      done
    done
  fi
fi

# ---------------------------------------------------------------- stream time to first byte
if has_phase ttfb; then
  log "stream time to first byte: $TTFB_N samples each, interleaved"
  wait_quiet || true
  if [[ -n "$PB_PID" ]]; then
    for s in stream stream-cross; do
      [[ -n "${PB_OK[$s]:-}" ]] || continue
      python3 "$HERE/ttfb.py" --label "patchbay/$s" --n "$TTFB_N" --warmup "$TTFB_WARMUP" --json-out "$RESULTS" \
        --a "direct=$MOCK/v1/chat/completions@$OUT/bodies/direct-stream.json" \
        --b "patchbay=$PB${PB_URL[$s]}@$OUT/bodies/pb-$s.json" --auth-b "$PB_AUTH"
    done
  else  # without Patchbay: direct against itself, the measurement's own noise floor
    python3 "$HERE/ttfb.py" --label "direct/stream-vs-itself" --n "$TTFB_N" --warmup "$TTFB_WARMUP" --json-out "$RESULTS" \
      --a "direct=$MOCK/v1/chat/completions@$OUT/bodies/direct-stream.json" \
      --b "direct2=$MOCK/v1/chat/completions@$OUT/bodies/direct-stream.json"
  fi
fi

# ---------------------------------------------------------------- RSS with open streams
if has_phase rss && [[ -n "$PB_PID" ]]; then
  log "RSS with $STREAMS_N open streams (slow upstream on 127.0.0.1:$SLOW_PORT)"
  if [[ -n "$SLOW_PID" ]] && kill -0 "$SLOW_PID" 2>/dev/null; then
    code=$(curl -sS -o /dev/null -w '%{http_code}' -m 5 --max-time 3 -X POST "$PB/v1/chat/completions" -H 'content-type: application/json' \
      -H "Authorization: $PB_AUTH" --data-binary @"$OUT/bodies/pb-slow-stream.json" 2>/dev/null || true)
    echo "  check slow-stream: HTTP $code (cut after 3 s on purpose)"
    for n in $STREAMS_N; do
      python3 "$HERE/hold_streams.py" --url "$PB/v1/chat/completions" --body "$OUT/bodies/pb-slow-stream.json" \
        --auth "$PB_AUTH" --pid "$PB_PID" --n "$n" --hold-s "$STREAMS_HOLD_S" \
        --label "patchbay/rss-$n-streams" --upstream "$SLOW_KIND" --json-out "$RESULTS" || echo "  (hold_streams failed)"
      sleep 2
    done
  else
    echo "  slow mock not running: $(tail -5 "$OUT/slow-mock.log" 2>/dev/null)"
  fi
  stop_pid "$SLOW_PID" "slow mock"; SLOW_PID=""
fi
if [[ -n "$PB_PID" ]]; then
  sleep 2
  record rss_idle "{\"label\": \"patchbay/idle-end\", \"rss_mb\": $(mib "$(rss_kb "$PB_PID")"), \"anon_mb\": $(mib "$(anon_kb "$PB_PID")"),
    \"hwm_mb\": $(awk '/^VmHWM:/{printf "%.1f", $2/1024}' "/proc/$PB_PID/status")}"
  stop_pid "$PB_PID" patchbay; PB_PID=""
fi

# ---------------------------------------------------------------- peers (shared run-all.sh)
if has_phase peers && [[ -n "$PEERS" ]]; then
  log "peers: $PEERS ($PEER_SCENARIOS), $CONC connections, ${DUR}s each"
  n=$(wc -l < "$WRK_JSONL")
  PEERS_ACTIVE=1
  TARGETS="$PEERS" SCENARIOS="$PEER_SCENARIOS" CONCS="$CONC" DUR="$DUR" RESULTS_JSONL="$WRK_JSONL" \
    "$SHARED/run-all.sh" || echo "  (run-all.sh failed)"
  PEERS_ACTIVE=0
  python3 "$HERE/report.py" ingest-wrk "$RESULTS" "$WRK_JSONL" "$n" --phase peers
fi

log "summary"
python3 "$HERE/report.py" summary "$RESULTS" | tee "$OUT/summary.md"
echo
echo "(shared summarize.py on the wrk runs:)"
python3 "$SHARED/summarize.py" "$WRK_JSONL" | tee -a "$OUT/summary.md"
