#!/usr/bin/env bash
# What one unary Decide costs the server with the ledger off and on
# (issue 10): server CPU time (user and system) and context switches per
# call, read from /proc around a bounded load by the neutral loadgen
# (../shared/bench). Unlike findings/s these hardly move when other
# processes share the machine, so a change to the unary ledger path can be
# judged on a busy machine.
#
#   bench/run_ledger_unary_cost.sh                  # off and sqlite, ~30 s
#   MODES="sqlite sqlite-normal" ROUNDS=3 bench/run_ledger_unary_cost.sh
#
# Environment knobs (defaults): MODES="off sqlite" (sqlite-normal:
# --ledger-sqlite-sync normal), CONC=64, DURATION=5 (seconds per round),
# ROUNDS=2 (rounds per server: the second runs against a bigger ledger),
# BUILD_DIR=build, PEER_BENCH_SRC=../shared/bench,
# PEER_BENCH_DIR=/tmp/peer-bench, EXTRA_ARGS (more treatd flags).
# treatd listens on 127.0.0.1:0 and is stopped by PID; every load is
# bounded in time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODES=${MODES:-"off sqlite"}
CONC=${CONC:-64}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-2}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
PEER_BENCH_SRC=${PEER_BENCH_SRC:-$ROOT/../shared/bench}
PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}
EXTRA_ARGS=${EXTRA_ARGS:-}
OUT="$PEER_BENCH_DIR/treatd-unary-cost/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"
trap stop_treatd EXIT
trap 'exit 130' INT TERM

cmake --build "$BUILD_DIR" -j2 --target treatd treatctl >"$OUT/build.log" 2>&1 ||
  { tail -20 "$OUT/build.log"; exit 1; }
build_loadgen || exit 2
PAYLOAD="$OUT/decide_1.bin"
"$BUILD_DIR/client/treatctl" bench "$ROOT/examples/findings.jsonl" --mode unary \
  --record --write-request "$PAYLOAD" 2>"$OUT/payload.log"

# The server's counters: "cpu_ticks voluntary involuntary" summed over its
# threads (a thread that has exited is counted in the process totals).
counters() {
  local pid=$1 ticks vol=0 invol=0 f
  ticks=$(awk '{print $14 + $15, $14, $15}' "/proc/$pid/stat")
  for f in /proc/"$pid"/task/*/status; do
    read -r v i < <(awk '/^voluntary_ctxt_switches/ {v=$2}
      /^nonvoluntary_ctxt_switches/ {i=$2} END {print v+0, i+0}' "$f" 2>/dev/null || echo "0 0")
    vol=$((vol + v)); invol=$((invol + i))
  done
  echo "$ticks $vol $invol"
}

HZ=$(getconf CLK_TCK)
printf '| mode | round | calls/s | server CPU µs/call (user+sys) | user | sys | voluntary ctx switches/call | involuntary/call | RSS MB before→after |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for mode in $MODES; do
  args=(--listen 127.0.0.1:0 --metrics-listen "" --max-concurrent-calls 100000
    --reload-poll-ms 0 --log-level warning --ledger-sweep-seconds 0)
  case "$mode" in
    off) args+=(--ledger-off) ;;
    sqlite|sqlite-normal)
      rm -f "$OUT/ledger.db" "$OUT/ledger.db-wal" "$OUT/ledger.db-shm"
      args+=(--ledger "$OUT/ledger.db")
      [ "$mode" = sqlite-normal ] && args+=(--ledger-sqlite-sync normal) ;;
    *) echo "mode $mode: off, sqlite or sqlite-normal" >&2; exit 2 ;;
  esac
  # shellcheck disable=SC2206
  args+=($EXTRA_ARGS)
  "$BUILD_DIR/server/treatd" "${args[@]}" >"$OUT/treatd-$mode.out" 2>"$OUT/treatd-$mode.log" &
  TREATD_PID=$!
  TARGET=""
  for _ in $(seq 300); do
    TARGET=$(sed -n 's/^treatd listening on \(127\.0\.0\.1:[0-9]*\);.*/\1/p' "$OUT/treatd-$mode.out")
    [ -n "$TARGET" ] && break
    kill -0 "$TREATD_PID" 2>/dev/null || { cat "$OUT/treatd-$mode.log"; exit 1; }
    sleep 0.05
  done
  [ -n "$TARGET" ] || { echo "treatd did not start" >&2; exit 1; }
  # Warm-up: connections, threads, the first pages of the ledger.
  "$LOADGEN" --target "$TARGET" --method /treatd.v1.TreatmentService/Decide \
    --payload "$PAYLOAD" --concurrency "$CONC" --duration 1 --warmup 0 >/dev/null
  for round in $(seq "$ROUNDS"); do
    r0=$(awk '/^VmRSS:/ {print $2}' "/proc/$TREATD_PID/status")
    read -r t0 u0 s0 v0 i0 < <(counters "$TREATD_PID")
    line=$(timeout $((DURATION + 60)) "$LOADGEN" --target "$TARGET" \
      --method /treatd.v1.TreatmentService/Decide --payload "$PAYLOAD" \
      --concurrency "$CONC" --duration "$DURATION" --warmup 0)
    read -r t1 u1 s1 v1 i1 < <(counters "$TREATD_PID")
    r1=$(awk '/^VmRSS:/ {print $2}' "/proc/$TREATD_PID/status")
    echo "$line" >>"$OUT/loadgen-$mode.jsonl"
    python3 - "$line" "$mode" "$round" "$HZ" "$t0" "$t1" "$u0" "$u1" "$s0" "$s1" \
      "$v0" "$v1" "$i0" "$i1" "$r0" "$r1" <<'EOF'
import json, sys
d = json.loads(sys.argv[1]); mode, rnd, hz = sys.argv[2], sys.argv[3], float(sys.argv[4])
t0, t1, u0, u1, s0, s1, v0, v1, i0, i1, r0, r1 = map(float, sys.argv[5:17])
calls = d["ok_total"] + d["errors_total"]
us = lambda a, b: (b - a) / hz * 1e6 / calls
print("| %s | %s | %.0f | %.1f | %.1f | %.1f | %.2f | %.2f | %.0f→%.0f |%s" % (
    mode, rnd, d["qps"], us(t0, t1), us(u0, u1), us(s0, s1),
    (v1 - v0) / calls, (i1 - i0) / calls, r0 / 1024, r1 / 1024,
    " %d errors" % d["errors_total"] if d["errors_total"] else ""))
EOF
  done
  stop_treatd
done
log "results in $OUT"
