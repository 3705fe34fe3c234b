#!/usr/bin/env bash
# The two callgrind figures bench/profile_server.sh does not give for the
# unary ratio targets of issue 15 (docs/performance.md): the null gRPC
# server's instructions per call (the peer treatd's Decide is compared
# with), and the load generator's instructions per call against the null
# server and against treatd's Decide (BASIC and FULL), which shows whether
# treatd's requests and answers cost the client more. Instruction counts
# do not depend on the machine's load.
#
#   bench/profile_unary_peers.sh           # about two minutes
#
# The null server runs under valgrind with instrumentation off until one
# warm-up run is done, then loadgen drives it CONC calls in flight for
# SECONDS_LOADED seconds. The client is measured as the difference of two
# runs of loadgen under valgrind (SECONDS_LOADED and 3 × SECONDS_LOADED),
# which cancels its start-up. Knobs (defaults): CONC=8 (null server),
# CLIENT_CONC=64, SECONDS_LOADED=4, NULL_MODE=async, BUILD_DIR=build,
# PEER_BENCH_SRC=../shared/bench, PEER_BENCH_DIR=/tmp/peer-bench,
# OUT=/tmp/treatd-profile, TREATD_ARGS="--max-connection-idle-seconds 0".
# 127.0.0.1 only; every server is stopped by PID, every load run bounded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CONC=${CONC:-8}
CLIENT_CONC=${CLIENT_CONC:-64}
SECONDS_LOADED=${SECONDS_LOADED:-4}
NULL_MODE=${NULL_MODE:-async}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
PEER_BENCH_SRC=${PEER_BENCH_SRC:-$ROOT/../shared/bench}
PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}
OUT=${OUT:-/tmp/treatd-profile}
TREATD_ARGS=${TREATD_ARGS-"--max-connection-idle-seconds 0"}
read -r -a EXTRA_ARGS <<<"$TREATD_ARGS"
mkdir -p "$OUT"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }

cmake --build "$BUILD_DIR" -j2 --target treatd treatctl >"$OUT/build.log" 2>&1 ||
  { tail -20 "$OUT/build.log"; exit 1; }
# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"
build_loadgen || exit 1
if ! { cmake -S "$PEER_BENCH_SRC/null" -B "$PEER_BENCH_DIR/null-build" \
         -DCMAKE_BUILD_TYPE=Release &&
       cmake --build "$PEER_BENCH_DIR/null-build" -j2; } >>"$OUT/build.log" 2>&1; then
  tail -20 "$OUT/build.log"
  exit 1
fi
NULL_SERVER="$PEER_BENCH_DIR/null-build/null_server"
NULL_PAYLOAD="$OUT/null_small.bin"
printf '\x0a\x02ok' >"$NULL_PAYLOAD"
for view in basic full; do
  "$BUILD_DIR/client/treatctl" bench "$ROOT/examples/findings.jsonl" \
    --mode unary --view "$view" --write-request "$OUT/decide-$view.bin" 2>/dev/null
done

PIDS=()
cleanup() { for pid in ${PIDS[@]+"${PIDS[@]}"}; do stop_pid "$pid"; done; }
trap cleanup EXIT

# The port a null server printed on stderr ($1), waiting for it.
null_port() {
  local port=""
  for _ in $(seq 200); do
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$1")
    [ -n "$port" ] && { echo "$port"; return; }
    sleep 0.1
  done
  cat "$1" >&2
  return 1
}
# Calls loadgen's JSON line ($1) counts, in the window or not.
calls_of() {
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(r["ok_total"] + r["errors_total"])' "$1"
}
# Instructions of a callgrind file ($1).
instructions_of() {
  callgrind_annotate "$1" 2>/dev/null |
    sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,
}
limit=$((SECONDS_LOADED * 3 + 120))

# 1. The null server's instructions per call.
log="$OUT/null-$NULL_MODE.log"
profile="$OUT/callgrind-null-$NULL_MODE.out"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$profile" \
  "$NULL_SERVER" --addr 127.0.0.1:0 --mode "$NULL_MODE" 2>"$log" &
PIDS+=($!)
server_pid=$!
null_target="127.0.0.1:$(null_port "$log")"
timeout "$limit" "$LOADGEN" --target "$null_target" --method /bench.Null/Empty \
  --payload "$NULL_PAYLOAD" --concurrency 1 --duration 2 --warmup 0 >/dev/null
callgrind_control -i on "$server_pid" >/dev/null 2>&1
timeout "$limit" "$LOADGEN" --target "$null_target" --method /bench.Null/Empty \
  --payload "$NULL_PAYLOAD" --concurrency "$CONC" --duration "$SECONDS_LOADED" \
  --warmup 0 --drain-grace 60 >"$OUT/null-load.json"
callgrind_control -i off "$server_pid" >/dev/null 2>&1
stop_pid "$server_pid"
calls=$(calls_of "$OUT/null-load.json")
echo "null server ($NULL_MODE), c$CONC: $(($(instructions_of "$profile") / calls)) instructions per call ($calls calls)"

# 2. The client's instructions per call, against the null server (started
# again, not instrumented) and treatd.
"$NULL_SERVER" --addr 127.0.0.1:0 --mode "$NULL_MODE" 2>"$log" &
PIDS+=($!)
null_target="127.0.0.1:$(null_port "$log")"
"$BUILD_DIR/server/treatd" --listen 127.0.0.1:0 \
  --policy "$ROOT/policies/default.yaml" --metrics-listen "" \
  --max-concurrent-calls 100000 --max-concurrent-streams 100000 \
  --reload-poll-ms 0 --log-level warning --ledger-off \
  ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"} \
  >"$OUT/treatd-peers.out" 2>"$OUT/treatd-peers.log" &
PIDS+=($!)
treatd_target=$(treatd_address "$OUT/treatd-peers.out") ||
  { cat "$OUT/treatd-peers.log" >&2; exit 1; }
# $1 label, $2 target, $3 method, $4 payload.
client() {
  local seconds n instructions=() calls=()
  for seconds in "$SECONDS_LOADED" $((3 * SECONDS_LOADED)); do
    n="$OUT/client-$1-$seconds"
    timeout "$limit" valgrind --tool=callgrind --callgrind-out-file="$n.out" \
      "$LOADGEN" --target "$2" --method "$3" --payload "$4" \
      --concurrency "$CLIENT_CONC" --duration "$seconds" --warmup 0 \
      --drain-grace 60 >"$n.json" 2>"$n.log"
    instructions+=("$(instructions_of "$n.out")")
    calls+=("$(calls_of "$n.json")")
  done
  echo "loadgen c$CLIENT_CONC against $1: $(((instructions[1] - instructions[0]) / (calls[1] - calls[0]))) instructions per call ($((calls[1] - calls[0])) calls)"
}
client "null server" "$null_target" /bench.Null/Empty "$NULL_PAYLOAD"
client "treatd BASIC" "$treatd_target" /treatd.v1.TreatmentService/Decide "$OUT/decide-basic.bin"
client "treatd FULL" "$treatd_target" /treatd.v1.TreatmentService/Decide "$OUT/decide-full.bin"
