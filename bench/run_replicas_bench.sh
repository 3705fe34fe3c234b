#!/usr/bin/env bash
# Replicas bench (issue 13): BatchDecide findings/s with one, two and three
# treatd replicas recording into ONE PostgreSQL ledger, and what that
# PostgreSQL can append at all (Ledger::Append with group commit, measured
# by bench/ledger_bench BM_Append on the same server): the ceiling N
# machines share.
#
#   bench/run_replicas_bench.sh                   # ~2 minutes
#   DURATION=10 REPLICAS="1 3" bench/run_replicas_bench.sh
#
# Each replica gets its own loadgen (the neutral one, ../shared/bench) with
# CONC/N calls in flight, so the total offered concurrency is the same for
# every N; findings/s is the sum. That is what a round-robin client channel
# does, without a load balancer in the measurement. On a machine with fewer
# cores than replicas + loadgens + PostgreSQL, more replicas add no CPU:
# the table then measures the overhead and contention of sharing one
# database, not scaling.
#
# Environment knobs (defaults):
#   DURATION=5 WARMUP=1     seconds measured / warmed up per row
#   BATCH=1000 CONC=12      findings per BatchDecide call; total calls in
#                           flight (a multiple of every N in REPLICAS)
#   REPLICAS="off 1 2 3"     off: one replica with --ledger-off, the
#                           per-machine capacity without the database
#   BUILD_DIR=build         any build of treatd, treatctl and ledger_bench
#                           (benchmarks on); say which when quoting figures
#   PEER_BENCH_SRC=../shared/bench   loadgen sources
#   PEER_BENCH_DIR=/tmp/peer-bench   loadgen build and results
# PostgreSQL: a throwaway server (Debian postgresql binaries) in a temporary
# directory, unix socket only, fsync on; each row gets a fresh database.
# Everything listens on 127.0.0.1 or a socket; every load is bounded in time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
BATCH=${BATCH:-1000}
CONC=${CONC:-12}
REPLICAS=${REPLICAS:-"off 1 2 3"}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
PEER_BENCH_SRC=${PEER_BENCH_SRC:-$ROOT/../shared/bench}
PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}

STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$PEER_BENCH_DIR/treatd-replicas-results/$STAMP"
mkdir -p "$OUT"
JSONL="$OUT/results.jsonl"
: >"$JSONL"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"

PIDS=()
stop_replicas() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() { stop_replicas; stop_postgres; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ build --
log "building treatd, treatctl and ledger_bench ($BUILD_DIR)"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$OUT/build.log" 2>&1
fi
cmake --build "$BUILD_DIR" -j2 --target treatd treatctl ledger_bench >>"$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
TREATD="$BUILD_DIR/server/treatd"
TREATCTL="$BUILD_DIR/client/treatctl"
LEDGER_BENCH="$BUILD_DIR/bench/ledger_bench"
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")

build_loadgen || exit 2

PAYLOAD="$OUT/batch_$BATCH.bin"
"$TREATCTL" bench "$ROOT/examples/findings.jsonl" --mode batch --batch "$BATCH" \
  --record --write-request "$PAYLOAD" 2>>"$OUT/payloads.log"

{
  echo "date: $(date -Is)"; echo "kernel: $(uname -r)"; echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo || true
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "treatd: $(git -C "$ROOT" describe --always --dirty 2>/dev/null) ($BUILD_TYPE)"
  echo "DURATION=$DURATION WARMUP=$WARMUP BATCH=$BATCH CONC=$CONC REPLICAS=$REPLICAS"
} >"$OUT/env.txt"

# ------------------------------------------------------------- PostgreSQL --
start_postgres || exit 2
PG_VERSION=$("$PG_BIN/postgres" --version)
echo "postgres: $PG_VERSION (fsync=on, synchronous_commit=on, unix socket)" >>"$OUT/env.txt"

# ------------------------------------------------- the database's ceiling --
# Ledger::Append from 32 threads x 100 events into a fresh database on the
# same server: what the store can append with group commit, no gRPC.
log "PostgreSQL append ceiling (ledger_bench BM_Append, 32 threads x 100 events)"
CEILING_URL="postgresql:$(new_database ceiling)"
TREATD_LEDGER_BENCH_URL="$CEILING_URL" timeout 300 "$LEDGER_BENCH" \
  --benchmark_filter='BM_Append/batch:100/real_time/threads:32' \
  --benchmark_min_time=$DURATION --benchmark_format=json \
  >"$OUT/ceiling.json" 2>"$OUT/ceiling.log" || log "ledger_bench failed: $(tail -3 "$OUT/ceiling.log")"

# ---------------------------------------------------------------- replicas --
for row in $REPLICAS; do
  if [ "$row" = off ]; then
    n=1
    ledger=(--ledger-off)
  else
    n=$row
    ledger=(--ledger-sweep-seconds 60 --ledger-postgres "$(new_database "replicas_$n")")
  fi
  [ $((CONC % n)) = 0 ] || { echo "CONC=$CONC is not a multiple of $n" >&2; exit 2; }
  TARGETS=()
  for i in $(seq "$n"); do
    "$TREATD" --listen 127.0.0.1:0 --metrics-listen "" --max-concurrent-calls 100000 \
      --max-batch 10000 --reload-poll-ms 0 --log-level warning "${ledger[@]}" \
      >"$OUT/treatd-$row-$i.out" 2>"$OUT/treatd-$row-$i.log" &
    PIDS+=($!)
    target=""
    for _ in $(seq 300); do
      target=$(sed -n 's/^treatd listening on \(127\.0\.0\.1:[0-9]*\);.*/\1/p' "$OUT/treatd-$row-$i.out" 2>/dev/null || true)
      [ -n "$target" ] && break
      kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$OUT/treatd-$row-$i.log"; exit 1; }
      sleep 0.05
    done
    [ -n "$target" ] || { echo "treatd did not start" >&2; exit 1; }
    TARGETS+=("$target")
  done
  log "$row: $n replica(s) on ${TARGETS[*]}, $((CONC / n)) BatchDecide calls of $BATCH in flight each"
  LG=()
  for i in $(seq 0 $((n - 1))); do
    timeout $((${DURATION%.*} + ${WARMUP%.*} + 60)) "$LOADGEN" \
      --target "${TARGETS[$i]}" --method /treatd.v1.TreatmentService/BatchDecide \
      --payload "$PAYLOAD" --items "$BATCH" --concurrency $((CONC / n)) \
      --duration "$DURATION" --warmup "$WARMUP" --server-pid "${PIDS[$i]}" \
      --label "replicas$row/$i" >"$OUT/load-$row-$i.json" 2>>"$OUT/load.log" &
    LG+=($!)
  done
  for pid in "${LG[@]}"; do wait "$pid" || true; done
  for i in $(seq 0 $((n - 1))); do
    python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read() or "{}"); d["row"]=sys.argv[2]; print(json.dumps(d))' \
      "$OUT/load-$row-$i.json" "$row" >>"$JSONL"
  done
  if [ "$row" != off ]; then
    "$TREATCTL" ledger verify --target "${TARGETS[0]}" >"$OUT/verify-$row.txt" 2>&1 || true
    log "  $(cat "$OUT/verify-$row.txt")"
  fi
  stop_replicas
done
stop_postgres

echo
echo "Results: $OUT   (env: $OUT/env.txt)"
python3 - "$JSONL" "$OUT/ceiling.json" "$(nproc)" <<'PYEOF' | tee "$OUT/table.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
ceiling = None
try:
    b = json.load(open(sys.argv[2]))["benchmarks"][0]
    ceiling = b.get("items_per_second")
    per_commit = b.get("events_per_commit")
except Exception:
    pass
print("| replicas on one PostgreSQL | BatchDecide findings/s (sum) | per replica | errors | replica CPU % of a core (mean) | p50 ms | p99 ms |")
print("|---|---|---|---|---|---|---|")
found = {}
for row in [r["row"] for r in rows if r.get("row")]:
    if row in found:
        continue
    rs = [r for r in rows if r.get("row") == row]
    n = 1 if row == "off" else int(row)
    total = sum(r.get("items_per_s", 0) for r in rs)
    found[row] = total
    errors = sum(r.get("errors", 0) or 0 for r in rs)
    cpu = sum(r.get("server_cpu_pct", 0) or 0 for r in rs) / len(rs)
    p50 = max(r.get("p50_us", 0) for r in rs) / 1000.0
    p99 = max(r.get("p99_us", 0) for r in rs) / 1000.0
    label = "1, ledger off (no database)" if row == "off" else row
    print("| %s | %.0f | %.0f | %d | %.0f | %.0f | %.0f |" % (label, total, total / n, errors, cpu, p50, p99))
print()
if ceiling:
    print("PostgreSQL append ceiling (Ledger::Append, 32 threads x 100 events, "
          "group commit, same server): %.0f events/s, %.0f events per commit" % (ceiling, per_commit or 0))
    one = found.get("1")
    off = found.get("off")
    if one:
        print("Projection: total findings/s = min(N x per-machine, %.0f); per machine "
              "%.0f with the ledger on (measured here) -> the database is the limit "
              "from N = %.1f" % (ceiling, one, ceiling / one))
    if off:
        print("A machine's own ceiling without the database: %.0f findings/s "
              "(ledger off)" % off)
print("nproc = %s: replicas, loadgens and PostgreSQL share these cores." % sys.argv[3])
PYEOF
