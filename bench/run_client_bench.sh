#!/usr/bin/env bash
# Client bench (issue 15): what JSON costs at the edge. In one run against
# one local treatd (Release, default policy): `treatctl decide` JSON Lines in
# -> JSONL (and CSV) out over FINDINGS findings, beside `treatctl bench
# --mode stream` (protobuf only, the findings already in memory) with the
# same stream shape (one stream, chunks of 100), and the ratio of the two.
#
#   bench/run_client_bench.sh                      # 1,000,000 findings
#   FINDINGS=200000 bench/run_client_bench.sh
#
# Environment knobs (defaults):
#   FINDINGS=1000000        findings decided by treatctl decide
#   VIEWS="full basic"      DecisionView of each run
#   OUTPUTS="jsonl csv"     treatctl decide --output formats
#   DURATION=10             seconds of each treatctl bench run
#   BUILD_DIR=build-release build directory (treatd, treatctl): Release
#                           when new, else kept at the type it has (so
#                           BUILD_DIR=$PWD/build reuses a RelWithDebInfo tree)
#   DATA_DIR=/tmp/treatd-client-bench   generated findings (kept for reuse)
# The server runs with --ledger-off, as in run_server_bench.sh: the bench is
# about the client's JSON, and a ledger in the working directory would grow
# by every decision of every run.
# Everything listens on and targets 127.0.0.1 only; the server is stopped by
# PID; every run is bounded in time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FINDINGS=${FINDINGS:-1000000}
VIEWS=${VIEWS:-"full basic"}
OUTPUTS=${OUTPUTS:-"jsonl csv"}
DURATION=${DURATION:-10}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-release}
DATA_DIR=${DATA_DIR:-/tmp/treatd-client-bench}
mkdir -p "$DATA_DIR"
OUT="$DATA_DIR/results-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

TREATD_PID=""
stop_treatd() {
  [ -n "$TREATD_PID" ] || return 0
  kill -TERM "$TREATD_PID" 2>/dev/null || true
  wait "$TREATD_PID" 2>/dev/null || true
  TREATD_PID=""
}
trap stop_treatd EXIT
trap 'exit 130' INT TERM

BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
BUILD_TYPE=${BUILD_TYPE:-Release}
log "building treatd and treatctl ($BUILD_TYPE, $BUILD_DIR)"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" >"$OUT/build.log" 2>&1
cmake --build "$BUILD_DIR" -j2 --target treatd treatctl >>"$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
TREATD="$BUILD_DIR/server/treatd"
TREATCTL="$BUILD_DIR/client/treatctl"

INPUT="$DATA_DIR/findings-$FINDINGS.jsonl"
if [ ! -s "$INPUT" ]; then
  log "writing $FINDINGS findings to $INPUT"
  python3 "$ROOT/scripts/gen_findings.py" "$FINDINGS" --out "$INPUT"
fi
# treatctl bench holds its findings in memory and cycles them: the first
# 20,000 of the same input.
SAMPLE="$DATA_DIR/findings-sample-20000.jsonl"
[ -s "$SAMPLE" ] || head -n 20000 "$INPUT" >"$SAMPLE"
BYTES=$(stat -c %s "$INPUT")

"$TREATD" --listen 127.0.0.1:0 --policy "$ROOT/policies/default.yaml" \
  --metrics-listen "" --max-concurrent-calls 100000 \
  --max-concurrent-streams 100000 --max-batch 10000 --reload-poll-ms 0 \
  --log-level warning --ledger-off >"$OUT/treatd.out" 2>"$OUT/treatd.log" &
TREATD_PID=$!
TARGET=""
for _ in $(seq 200); do
  TARGET=$(sed -n 's/^treatd listening on \(127\.0\.0\.1:[0-9]*\);.*/\1/p' "$OUT/treatd.out")
  [ -n "$TARGET" ] && break
  sleep 0.05
done
[ -n "$TARGET" ] || { echo "treatd did not start" >&2; cat "$OUT/treatd.log"; exit 1; }
log "treatd on $TARGET (pid $TREATD_PID); input $INPUT ($BYTES bytes)"

{
  echo "date: $(date -Is)  nproc: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "treatd: $(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
  echo "FINDINGS=$FINDINGS VIEWS=$VIEWS OUTPUTS=$OUTPUTS DURATION=$DURATION BUILD_TYPE=$BUILD_TYPE"
} >"$OUT/env.txt"

declare -A RATE
# client us/f: treatctl's own CPU time (user + system) per finding, which a
# shared machine's load does not inflate the way it does wall time.
cat "$OUT/env.txt"
printf '%-34s %12s %10s %12s\n' "run" "findings/s" "seconds" "client us/f" | tee "$OUT/table.txt"
row() { printf '%-34s %12.0f %10.2f %12s\n' "$1" "$2" "$3" "${4:--}" | tee -a "$OUT/table.txt"; }

for view in $VIEWS; do
  # Protobuf only: one stream, chunks of 100, two chunks in flight, the
  # shape treatctl decide sends.
  line=$(timeout $((DURATION + 60)) "$TREATCTL" bench "$SAMPLE" --target "$TARGET" \
    --mode stream --batch 100 --window 200 -c 1 -d "$DURATION" --warmup 1 \
    --view "$view" --json --label "stream-$view")
  echo "$line" >>"$OUT/results.jsonl"
  rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["items_per_s"])' "$line")
  RATE["stream-$view"]=$rate
  row "bench stream c1 ($view)" "$rate" "$DURATION"
  for output in $OUTPUTS; do
    start=$(date +%s.%N)
    /usr/bin/time -f '%U %S' -o "$OUT/decide-$output-$view.time" \
      timeout 1800 "$TREATCTL" decide "$INPUT" --target "$TARGET" \
      --output "$output" -o /dev/null --no-progress --view "$view" \
      >"$OUT/decide-$output-$view.out" 2>"$OUT/decide-$output-$view.err" || true
    end=$(date +%s.%N)
    secs=$(python3 -c "print($end - $start)")
    rate=$(python3 -c "print($FINDINGS / ($end - $start))")
    cpu=$(python3 -c "import sys; u, s = open(sys.argv[1]).read().split()[-2:]; print('%.1f' % ((float(u) + float(s)) * 1e6 / $FINDINGS))" "$OUT/decide-$output-$view.time" 2>/dev/null || echo -)
    RATE["decide-$output-$view"]=$rate
    row "decide $output ($view)" "$rate" "$secs" "$cpu"
  done
done

echo | tee -a "$OUT/table.txt"
echo "ratios: treatctl decide / treatctl bench --mode stream (target >= 0.8)" | tee -a "$OUT/table.txt"
for view in $VIEWS; do
  for output in $OUTPUTS; do
    python3 -c "print('  %-30s %.2f' % ('$output ($view)', ${RATE[decide-$output-$view]} / ${RATE[stream-$view]}))" \
      | tee -a "$OUT/table.txt"
  done
done
echo "results: $OUT" >&2
