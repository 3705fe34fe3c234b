#!/usr/bin/env bash
# Where a unary call's CPU and context switches go (issue 15): treatd's
# Decide beside the peer harness's null gRPC server (async, one queue
# thread: the bench's peer; and its callback mode), each pinned like
# run_server_bench.sh's unary rows (server on SERVER_CPU, loadgen on
# CLIENT_CPU) and loaded by the same loadgen. For every run: server CPU
# per call and voluntary / involuntary context switches per call, summed
# over the server's threads from /proc/PID/task/*/{stat,status} around
# the measured run, then the same per thread name (nexting_thread,
# default-executor, ...). CPU time and switches per call move much less
# with the machine's load than QPS and latency do; both are printed.
#
#   bench/unary_threads.sh                      # ~1 minute
#   CONCS="8" VIEWS=basic DURATION=10 bench/unary_threads.sh
#   TREATD_ARGS="--max-connection-idle-seconds 0" bench/unary_threads.sh
#
# Knobs (defaults): DURATION=5 (seconds measured, after a 1 s warm-up
# run), CONCS="8 64", VIEWS="full basic", NULL_MODES="async callback"
# ("" skips the null server), BUILD_DIR=build (treatd and treatctl are
# built there), PEER_BENCH_SRC=../shared/bench, PEER_BENCH_DIR=
# /tmp/peer-bench, SERVER_CPU=1, CLIENT_CPU=0, TREATD_ARGS (more treatd
# flags, split on spaces), TREATD_WRAP (a command treatd runs under, split
# on spaces, e.g. "chrt -b 0" for SCHED_BATCH), STRACE=1 (after each
# measured run, one more of the same length under `strace -c -f` on the
# server, printing its syscalls per call; strace slows every syscall, so
# compare servers, not absolute counts). Needs taskset and 2+ CPUs. 127.0.0.1 only;
# every server is stopped by PID and every load run is bounded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION=${DURATION:-5}
CONCS=${CONCS:-"8 64"}
VIEWS=${VIEWS:-"full basic"}
NULL_MODES=${NULL_MODES-"async callback"}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
PEER_BENCH_SRC=${PEER_BENCH_SRC:-$ROOT/../shared/bench}
PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
read -r -a EXTRA_ARGS <<<"${TREATD_ARGS:-}"
read -r -a WRAP <<<"${TREATD_WRAP:-}"
OUT="$PEER_BENCH_DIR/unary-threads/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cmake --build "$BUILD_DIR" -j2 --target treatd treatctl >"$OUT/build.log" 2>&1 ||
  { tail -20 "$OUT/build.log"; exit 1; }
# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"
build_loadgen || exit 1
if [ -n "$NULL_MODES" ]; then
  cmake -S "$PEER_BENCH_SRC/null" -B "$PEER_BENCH_DIR/null-build" \
    -DCMAKE_BUILD_TYPE=Release >>"$OUT/build.log" 2>&1 &&
    cmake --build "$PEER_BENCH_DIR/null-build" -j2 >>"$OUT/build.log" 2>&1 ||
    { tail -20 "$OUT/build.log"; exit 1; }
fi
NULL_SERVER="$PEER_BENCH_DIR/null-build/null_server"
NULL_PAYLOAD="$OUT/null_small.bin"
printf '\x0a\x02ok' >"$NULL_PAYLOAD"
for view in $VIEWS; do
  "$BUILD_DIR/client/treatctl" bench "$ROOT/examples/findings.jsonl" \
    --mode unary --view "$view" --write-request "$OUT/decide-$view.bin" 2>/dev/null
done

PID=""
stop() { stop_pid "$PID"; PID=""; }
trap stop EXIT

# One line per thread: tid, name, CPU ticks, voluntary, involuntary.
snapshot() {
  local t
  for t in /proc/"$PID"/task/*; do
    printf '%s %s %s %s %s\n' "${t##*/}" \
      "$(tr ' ' '_' <"$t/comm" 2>/dev/null || echo gone)" \
      "$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)" \
      "$(awk '/^voluntary_ctxt/ {print $2}' "$t/status" 2>/dev/null || echo 0)" \
      "$(awk '/^nonvoluntary_ctxt/ {print $2}' "$t/status" 2>/dev/null || echo 0)"
  done
}

# $1 label, $2 target, $3 method, $4 payload, $5 concurrency
measure() {
  local label=$1 target=$2 method=$3 payload=$4 c=$5
  local limit=$((${DURATION%.*} + 60))
  timeout "$limit" taskset -c "$CLIENT_CPU" "$LOADGEN" --target "$target" \
    --method "$method" --payload "$payload" --concurrency "$c" --duration 1 \
    --warmup 0 >/dev/null
  snapshot >"$OUT/$label-c$c.before"
  timeout "$limit" taskset -c "$CLIENT_CPU" "$LOADGEN" --target "$target" \
    --method "$method" --payload "$payload" --concurrency "$c" \
    --duration "$DURATION" --warmup 0 --server-pid "$PID" \
    --label "$label" >"$OUT/$label-c$c.json"
  snapshot >"$OUT/$label-c$c.after"
  python3 - "$OUT/$label-c$c" "$label" "$c" "$(getconf CLK_TCK)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF' | tee -a "$OUT/table.txt"
import collections, json, sys
base, label, conc, hz, load = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
run = json.load(open(base + ".json"))
calls = run["ok_total"] + run["errors_total"]
def read(path):
    return {f[0]: (f[1], int(f[2]), int(f[3]), int(f[4]))
            for f in (line.split() for line in open(path))}
before, after = read(base + ".before"), read(base + ".after")
by_name = collections.defaultdict(lambda: [0, 0, 0])
for tid, (name, ticks, vol, invol) in after.items():
    _, t0, v0, i0 = before.get(tid, (name, 0, 0, 0))
    row = by_name[name]
    row[0] += ticks - t0; row[1] += vol - v0; row[2] += invol - i0
total = [sum(r[i] for r in by_name.values()) for i in range(3)]
if not calls:
    print(f"{label} c{conc}: no calls ({run.get('first_error')})"); sys.exit(0)
print(f"{label:<14} c{conc:<3} {calls / 1e3:7.1f}k calls  qps {run['qps']:8.0f}  "
      f"p50 {run['p50_us']:7.0f} us  p99 {run['p99_us']:8.0f} us  srv {run['server_cpu_pct']:3.0f}%  "
      f"errors {run['errors_total']}  load {load}")
print(f"    per call: {total[0] / hz * 1e6 / calls:6.1f} us CPU  "
      f"{total[1] / calls:.3f} voluntary + {total[2] / calls:.3f} involuntary switches")
for name, (ticks, vol, invol) in sorted(by_name.items(), key=lambda kv: -kv[1][0]):
    if ticks or vol or invol:
        print(f"      {name:<18} {ticks / hz * 1e6 / calls:6.1f} us  "
              f"{vol / calls:.3f} + {invol / calls:.3f}")
EOF
  [ "${STRACE:-0}" = 1 ] || return 0
  strace -c -f -q -p "$PID" -o "$OUT/$label-c$c.strace" &
  local tracer=$!
  sleep 0.5
  timeout "$limit" taskset -c "$CLIENT_CPU" "$LOADGEN" --target "$target" \
    --method "$method" --payload "$payload" --concurrency "$c" \
    --duration "$DURATION" --warmup 0 >"$OUT/$label-c$c.strace.json"
  kill -INT "$tracer"
  wait "$tracer" || true
  python3 - "$OUT/$label-c$c" <<'EOF' | tee -a "$OUT/table.txt"
import json, sys
base = sys.argv[1]
run = json.load(open(base + ".strace.json"))
calls = run["ok_total"] + run["errors_total"]
counts = {}
for line in open(base + ".strace"):
    f = line.split()
    # "% time  seconds  usecs/call  calls  [errors]  syscall"
    if len(f) >= 5 and f[3].isdigit() and f[-1] not in ("total", "syscall"):
        counts[f[-1]] = int(f[3])
if calls:
    top = sorted(counts.items(), key=lambda kv: -kv[1])[:6]
    print(f"    syscalls per call (strace, {calls} calls): "
          f"{sum(counts.values()) / calls:.2f}: "
          + ", ".join(f"{name} {n / calls:.3f}" for name, n in top))
EOF
}

for mode in $NULL_MODES; do
  taskset -c "$SERVER_CPU" "$NULL_SERVER" --addr 127.0.0.1:0 --mode "$mode" \
    2>"$OUT/null-$mode.log" &
  PID=$!
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$OUT/null-$mode.log")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { cat "$OUT/null-$mode.log"; exit 1; }
  for c in $CONCS; do
    measure "null-$mode" "127.0.0.1:$port" /bench.Null/Empty "$NULL_PAYLOAD" "$c"
  done
  stop
done

taskset -c "$SERVER_CPU" ${WRAP[@]+"${WRAP[@]}"} \
  "$BUILD_DIR/server/treatd" --listen 127.0.0.1:0 \
  --policy "$ROOT/policies/default.yaml" --metrics-listen "" \
  --max-concurrent-calls 100000 --max-concurrent-streams 100000 \
  --max-batch 10000 --reload-poll-ms 0 --log-level warning --ledger-off \
  ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"} >"$OUT/treatd.out" 2>"$OUT/treatd.log" &
PID=$!
target=""
for _ in $(seq 200); do
  target=$(sed -n 's/^treatd listening on \(127\.0\.0\.1:[0-9]*\);.*/\1/p' "$OUT/treatd.out")
  [ -n "$target" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$OUT/treatd.log"; exit 1; }
  sleep 0.05
done
[ -n "$target" ] || { echo "treatd did not start" >&2; exit 1; }
for view in $VIEWS; do
  for c in $CONCS; do
    measure "treatd-$view" "$target" /treatd.v1.TreatmentService/Decide \
      "$OUT/decide-$view.bin" "$c"
  done
done
stop
log "table: $OUT/table.txt"
