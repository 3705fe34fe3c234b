#!/usr/bin/env bash
# Ledger bench (issue 10): the same treatd with the ledger off, on SQLite
# and on PostgreSQL, driven by the neutral loadgen (../shared/bench) in one
# run: unary Decide and BatchDecide findings/s side by side with the ratio
# to "off", and the server's RSS before and after each load while its
# ledger grows.
#
#   bench/run_ledger_bench.sh                     # ~1 minute
#   DURATION=10 bench/run_ledger_bench.sh
#   MODES="off sqlite" bench/run_ledger_bench.sh  # no PostgreSQL
#
# Environment knobs (defaults):
#   DURATION=5 WARMUP=1     seconds measured / warmed up per scenario
#   UNARY_CONC=64           Decide concurrency
#   BATCH=1000 BATCH_CONC=8 findings per BatchDecide call, concurrency
#   MODES="off sqlite sqlite-normal postgres"  (sqlite: --ledger-sqlite-sync
#                           full, the default; sqlite-normal: normal)
#   BUILD_DIR=build-release (any build of treatd and treatctl works; say
#                           which when quoting figures)
#   PEER_BENCH_SRC=../shared/bench   loadgen sources
#   PEER_BENCH_DIR=/tmp/peer-bench   loadgen build and results
# PostgreSQL: a throwaway server (Debian postgresql binaries) in a temporary
# directory, unix socket only, fsync on (durable, like the SQLite ledger's
# synchronous=FULL); stopped and deleted at the end. Everything listens on
# 127.0.0.1 or a socket only; every load is bounded in time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
UNARY_CONC=${UNARY_CONC:-64}
BATCH=${BATCH:-1000}
BATCH_CONC=${BATCH_CONC:-8}
MODES=${MODES:-"off sqlite sqlite-normal postgres"}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-release}
PEER_BENCH_SRC=${PEER_BENCH_SRC:-$ROOT/../shared/bench}
PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}

STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$PEER_BENCH_DIR/treatd-ledger-results/$STAMP"
mkdir -p "$OUT"
JSONL="$OUT/results.jsonl"
: >"$JSONL"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"

cleanup() { stop_treatd; stop_postgres; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ build --
build_treatd
TREATD="$BUILD_DIR/server/treatd"
TREATCTL="$BUILD_DIR/client/treatctl"
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")

build_loadgen || exit 2

# --------------------------------------------------------------- payloads --
FINDINGS="$ROOT/examples/findings.jsonl"
PAYLOADS="$OUT/payloads"
mkdir -p "$PAYLOADS"
"$TREATCTL" bench "$FINDINGS" --mode unary --record --write-request "$PAYLOADS/decide_1.bin" 2>>"$OUT/payloads.log"
"$TREATCTL" bench "$FINDINGS" --mode batch --batch "$BATCH" --record \
  --write-request "$PAYLOADS/batch_$BATCH.bin" 2>>"$OUT/payloads.log"

{
  echo "date: $(date -Is)"; echo "kernel: $(uname -r)"; echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo || true
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "treatd: $(git -C "$ROOT" describe --always --dirty 2>/dev/null) ($BUILD_TYPE)"
  echo "DURATION=$DURATION WARMUP=$WARMUP UNARY_CONC=$UNARY_CONC BATCH=$BATCH BATCH_CONC=$BATCH_CONC MODES=$MODES"
} >"$OUT/env.txt"

# ------------------------------------------------------------- PostgreSQL --
start_postgres_db() {
  start_postgres || return 1
  PG_CONNINFO=$(new_database treatd)
}

# ----------------------------------------------------------------- treatd --
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

start_treatd() {  # $1 = mode
  local args=(--listen 127.0.0.1:0 --metrics-listen "" --max-concurrent-calls 100000
    --max-batch 10000 --reload-poll-ms 0 --log-level warning --ledger-sweep-seconds 0)
  case "$1" in
    off) args+=(--ledger-off) ;;
    sqlite|sqlite-normal)
      rm -f "$OUT/ledger.db" "$OUT/ledger.db-wal" "$OUT/ledger.db-shm"
      args+=(--ledger "$OUT/ledger.db")
      [ "$1" = sqlite-normal ] && args+=(--ledger-sqlite-sync normal) ;;
    postgres) args+=(--ledger-postgres "$PG_CONNINFO") ;;
  esac
  "$TREATD" "${args[@]}" >"$OUT/treatd-$1.out" 2>"$OUT/treatd-$1.log" &
  TREATD_PID=$!
  TARGET=""
  for _ in $(seq 300); do
    TARGET=$(sed -n 's/^treatd listening on \(127\.0\.0\.1:[0-9]*\);.*/\1/p' "$OUT/treatd-$1.out")
    [ -n "$TARGET" ] && break
    kill -0 "$TREATD_PID" 2>/dev/null || { cat "$OUT/treatd-$1.log"; exit 1; }
    sleep 0.05
  done
  [ -n "$TARGET" ] || { echo "treatd did not start" >&2; exit 1; }
}

# $1 mode, $2 label, $3 method, $4 payload, $5 items, $6 concurrency
load() {
  local mode=$1 label=$2 method=$3 payload=$4 items=$5 c=$6 line before after
  before=$(rss_kb "$TREATD_PID")
  line=$(timeout $((${DURATION%.*} + ${WARMUP%.*} + 60)) "$LOADGEN" \
    --target "$TARGET" --method "$method" --payload "$payload" --items "$items" \
    --concurrency "$c" --duration "$DURATION" --warmup "$WARMUP" \
    --server-pid "$TREATD_PID" --label "$mode/$label") || true
  after=$(rss_kb "$TREATD_PID")
  [ -n "$line" ] || line="{\"label\":\"$mode/$label\",\"first_error\":{\"name\":\"LOADGEN_FAILED\"}}"
  python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d["mode"]=sys.argv[2]; d["scenario"]=sys.argv[3]; d["rss_before_kb"]=int(sys.argv[4]); d["rss_after_kb"]=int(sys.argv[5]); print(json.dumps(d))' \
    "$line" "$mode" "$label" "$before" "$after" >>"$JSONL"
  log "  $mode $label: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("findings/s=%.0f p50=%.0fus p99=%.0fus errors=%s" % (d.get("items_per_s",0), d.get("p50_us",0), d.get("p99_us",0), d.get("errors","?")))' "$line") rss ${before}->${after} kB"
}

for mode in $MODES; do
  if [ "$mode" = postgres ]; then
    start_postgres_db || { log "skipping postgres"; continue; }
  fi
  start_treatd "$mode"
  log "treatd (ledger $mode) on $TARGET, pid $TREATD_PID"
  load "$mode" "decide-c$UNARY_CONC" /treatd.v1.TreatmentService/Decide \
    "$PAYLOADS/decide_1.bin" 1 "$UNARY_CONC"
  load "$mode" "batch$BATCH-c$BATCH_CONC" /treatd.v1.TreatmentService/BatchDecide \
    "$PAYLOADS/batch_$BATCH.bin" "$BATCH" "$BATCH_CONC"
  # The ledger keeps growing; the server's memory should not.
  load "$mode" "decide-c$UNARY_CONC-again" /treatd.v1.TreatmentService/Decide \
    "$PAYLOADS/decide_1.bin" 1 "$UNARY_CONC"
  if [ "$mode" != off ]; then
    "$TREATCTL" ledger verify --target "$TARGET" >"$OUT/verify-$mode.txt" 2>&1 || true
    log "  $(cat "$OUT/verify-$mode.txt")"
  fi
  stop_treatd
  [ "$mode" = postgres ] && stop_postgres
done

echo
echo "Results: $JSONL   (env: $OUT/env.txt)"
python3 - "$JSONL" <<'EOF' | tee "$OUT/table.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {(r["mode"], r["scenario"]): r for r in rows}
modes = [m for m in ("off", "sqlite", "sqlite-normal", "postgres")
         if any(k[0] == m for k in by)]
scenarios = []
for r in rows:
    if r["scenario"] not in scenarios:
        scenarios.append(r["scenario"])
head = "| scenario | " + " | ".join("%s findings/s" % m for m in modes)
head += " | " + " | ".join("%s / off" % m for m in modes if m != "off")
head += " | " + " | ".join("%s server CPU µs/finding" % m for m in modes)
head += " | " + " | ".join("%s RSS MB before→after" % m for m in modes) + " |"
print(head)
print("|" + "---|" * (head.count("|") - 1))
for s in scenarios:
    cells = []
    off = by.get(("off", s), {}).get("items_per_s", 0)
    for m in modes:
        r = by.get((m, s), {})
        cells.append("%.0f" % r.get("items_per_s", 0) + ("" if not r.get("errors") else " (%s errors)" % r["errors"]))
    for m in modes:
        if m == "off":
            continue
        v = by.get((m, s), {}).get("items_per_s", 0)
        cells.append("%.0f%%" % (100.0 * v / off) if off else "-")
    # Server CPU per finding: what a shared machine's load changes least
    # (findings/s falls when other processes take the cores; this does not).
    for m in modes:
        r = by.get((m, s), {})
        v = r.get("items_per_s", 0)
        cells.append("%.1f" % (r.get("server_cpu_pct", 0) * 1e4 / v) if v else "-")
    for m in modes:
        r = by.get((m, s), {})
        cells.append("%.0f→%.0f" % (r.get("rss_before_kb", 0) / 1024.0, r.get("rss_after_kb", 0) / 1024.0))
    print("| %s | %s |" % (s, " | ".join(cells)))
# Issue 10's target: with the SQLite ledger on, Decide and BatchDecide keep
# at least half of the same server's findings/s with it off.
print()
for m in modes:
    if m == "off":
        continue
    for s in scenarios:
        off = by.get(("off", s), {}).get("items_per_s", 0)
        v = by.get((m, s), {}).get("items_per_s", 0)
        if off:
            print("%s / off %s: %.0f%%%s" % (m, s, 100.0 * v / off,
                  "" if m == "postgres" else
                  (" (target >= 50%: met)" if v >= 0.5 * off else " (target >= 50%: NOT met)")))
EOF
