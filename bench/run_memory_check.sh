#!/usr/bin/env bash
# Memory check: treatd's RSS with the default policy and full-size KEV and
# EPSS feeds loaded, and whether it stays flat over a long StreamDecide
# stream (10 million findings by default). One markdown table at the end.
#
#   bench/run_memory_check.sh                        # 10M findings, ~11 min here
#   FINDINGS=200000 bench/run_memory_check.sh        # quick try, ~1 min
#   BUILD=0 BUILD_DIR=build-release bench/run_memory_check.sh   # no rebuild
#   LEDGER=sqlite FINDINGS=500000 DISTINCT=200000 bench/run_memory_check.sh
#                                     # RSS while a SQLite ledger grows
#   LEDGER=sqlite MODE=batch STREAM_BATCH=1000 FINDINGS=2000000 \
#     DISTINCT=200000 bench/run_memory_check.sh
#                                     # the same under BatchDecide bursts
#                                     # (8 calls of 1,000 findings in flight)
#
# What it does:
#   1. builds treatd and treatctl (Release, $BUILD_DIR) unless BUILD=0;
#   2. writes a full-size EPSS file with bench/gen_epss.py: SYNTHETIC scores
#      for EPSS_ROWS CVEs (the real daily file has ~250,000+), with the real
#      rows of intel/epss_scores_sample.csv merged in -- the server holds as
#      many entries as with the real file, the scores are made up. The KEV
#      catalog is the real one shipped in intel/. Set EPSS=FILE to use a
#      real full file instead;
#   3. writes DISTINCT varied findings with scripts/gen_findings.py;
#   4. starts treatd on 127.0.0.1 (free ports) with policies/default.yaml,
#      the feeds and otherwise default flags (metrics on, reload polling on),
#      and samples VmRSS/VmHWM of its /proc/PID/status and its decision count
#      (treatd_decisions_total, from /metrics) every SAMPLE_INTERVAL s;
#   5. idles IDLE_SECONDS (RSS with the feeds loaded), decides the first
#      WARMUP_FINDINGS findings with `treatctl decide` (a StreamDecide
#      stream) and idles again, then streams FINDINGS findings through
#      StreamDecide with `treatctl bench --mode stream` (STREAMS streams,
#      WINDOW unanswered each, the DISTINCT findings cycled): a short
#      CALIBRATE-second round measures the rate, further rounds are sized
#      from the server's decision count until FINDINGS have been decided;
#      then idles once more;
#   6. prints RSS min/max/last per tenth of the stream findings, VmHWM, and
#      the verdict "flat" when the largest RSS of the last tenth is within
#      TOLERANCE_MB of the RSS after the first tenth.
#
# Environment knobs (defaults):
#   FINDINGS=10000000        stream findings to push through StreamDecide
#   WARMUP_FINDINGS=1000     findings decided before the stream
#   MODE=stream              stream: StreamDecide; batch: BatchDecide calls of
#                            STREAM_BATCH findings, STREAMS in flight (WINDOW
#                            unused)
#   STREAMS=8 WINDOW=32      treatctl bench -c and --window (as the server bench)
#   STREAM_BATCH=1           findings per stream message (100: chunked
#                            messages, ~5x the findings/s; WINDOW is then
#                            raised to two messages when smaller)
#   DISTINCT=20000           distinct findings cycled by the stream
#   EPSS_ROWS=250000         rows of the generated EPSS file
#   EPSS= KEV=intel/known_exploited_vulnerabilities.json   feed files
#   POLICY=policies/default.yaml
#   IDLE_SECONDS=5           idle time before/after warm-up and after stream
#   SAMPLE_INTERVAL=1        seconds between RSS samples
#   CALIBRATE=3              seconds of the first (rate-measuring) round
#   TOLERANCE_MB=5 TARGET_MB=64   verdict tolerance; idle RSS target
#   TIMEOUT=1800             hard limit in seconds for everything after the
#                            build; rounds are cut to fit it
#   BUILD=1 BUILD_DIR=build-release   build first (0: use the binaries)
#   LEDGER=off               off: --ledger-off; sqlite: every decision is
#                            recorded into OUT/ledger.db (its size is
#                            reported, then it is deleted)
#   LEDGER_ARGS=             more treatd flags, word-split (e.g.
#                            "--ledger-sqlite-cache-mib 64")
#   PEER_BENCH_DIR=/tmp/peer-bench    results under memory-results/<stamp>/,
#                            generated inputs under memory-results/data/
# Exit code 0 when the run completed (whatever the verdict), 1 when it did
# not (e.g. TIMEOUT hit before FINDINGS were decided). Everything listens on
# 127.0.0.1 only; every process started here is stopped by PID on exit.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

FINDINGS=${FINDINGS:-10000000}
WARMUP_FINDINGS=${WARMUP_FINDINGS:-1000}
MODE=${MODE:-stream}
case "$MODE" in stream|batch) ;; *) echo "MODE=$MODE: use stream or batch" >&2; exit 2 ;; esac
STREAMS=${STREAMS:-8}
WINDOW=${WINDOW:-32}
STREAM_BATCH=${STREAM_BATCH:-1}
if [ "$WINDOW" -lt $((2 * STREAM_BATCH)) ]; then WINDOW=$((2 * STREAM_BATCH)); fi
DISTINCT=${DISTINCT:-20000}
EPSS_ROWS=${EPSS_ROWS:-250000}
EPSS=${EPSS:-}
KEV=${KEV:-$ROOT/intel/known_exploited_vulnerabilities.json}
POLICY=${POLICY:-$ROOT/policies/default.yaml}
IDLE_SECONDS=${IDLE_SECONDS:-5}
SAMPLE_INTERVAL=${SAMPLE_INTERVAL:-1}
CALIBRATE=${CALIBRATE:-3}
TOLERANCE_MB=${TOLERANCE_MB:-5}
TARGET_MB=${TARGET_MB:-64}
TIMEOUT=${TIMEOUT:-1800}
BUILD=${BUILD:-1}
LEDGER=${LEDGER:-off}
LEDGER_ARGS=${LEDGER_ARGS:-}
case "$LEDGER" in off|sqlite) ;; *) echo "LEDGER=$LEDGER: use off or sqlite" >&2; exit 2 ;; esac
BUILD_DIR=${BUILD_DIR:-$ROOT/build-release}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac
PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}

STAMP=$(date +%Y%m%d-%H%M%S)
DATA="$PEER_BENCH_DIR/memory-results/data"
OUT="$PEER_BENCH_DIR/memory-results/$STAMP"
mkdir -p "$OUT" "$DATA"
REPORT="$ROOT/bench/memory_report.py"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$OUT/run.log" >&2; }

# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"

SAMPLER_PID="" LOAD_PID=""
cleanup() {
  stop_pid "$LOAD_PID"; LOAD_PID=""
  stop_pid "$TREATD_PID"; TREATD_PID=""
  stop_pid "$SAMPLER_PID"; SAMPLER_PID=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ build --
TREATD="$BUILD_DIR/server/treatd"
TREATCTL="$BUILD_DIR/client/treatctl"
[ "$BUILD" = 1 ] && build_treatd
[ -x "$TREATD" ] && [ -x "$TREATCTL" ] \
  || { echo "no treatd/treatctl in $BUILD_DIR (BUILD=1 builds them)" >&2; exit 1; }
DEADLINE=$((SECONDS + TIMEOUT))

# ----------------------------------------------------------------- inputs --
if [ -z "$EPSS" ]; then
  EPSS="$DATA/epss-synthetic-$EPSS_ROWS.csv"
  if [ ! -s "$EPSS" ]; then
    log "generating $EPSS (synthetic scores, full size)"
    python3 "$ROOT/bench/gen_epss.py" --rows "$EPSS_ROWS" \
      --merge "$ROOT/intel/epss_scores_sample.csv" --out "$EPSS.tmp" 2>>"$OUT/run.log"
    mv "$EPSS.tmp" "$EPSS"
  fi
fi
NGEN=$((DISTINCT > WARMUP_FINDINGS ? DISTINCT : WARMUP_FINDINGS))
STREAM_FILE="$DATA/findings-$NGEN.jsonl"
if [ ! -s "$STREAM_FILE" ]; then
  log "generating $NGEN findings ($STREAM_FILE)"
  python3 "$ROOT/scripts/gen_findings.py" "$NGEN" --out "$STREAM_FILE.tmp"
  mv "$STREAM_FILE.tmp" "$STREAM_FILE"
fi
WARMUP_FILE="$OUT/warmup-$WARMUP_FINDINGS.jsonl"
head -n "$WARMUP_FINDINGS" "$STREAM_FILE" >"$WARMUP_FILE"

{
  echo "date: $(date -Is)"; echo "kernel: $(uname -r)"; echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo || true
  echo "treatd: $(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
  echo "uncommitted: $(git -C "$ROOT" status --porcelain 2>/dev/null | tr '\n' ' ')"
  echo "binaries: $TREATD $(stat -c %y "$TREATD")"
  echo "policy: $POLICY"
  echo "kev: $KEV $(sha256sum <"$KEV" | cut -c1-16)"
  echo "epss: $EPSS $(sha256sum <"$EPSS" | cut -c1-16) ($(($(wc -l <"$EPSS") - 2)) rows)"
  echo "MODE=$MODE FINDINGS=$FINDINGS WARMUP_FINDINGS=$WARMUP_FINDINGS STREAMS=$STREAMS WINDOW=$WINDOW STREAM_BATCH=$STREAM_BATCH DISTINCT=$DISTINCT"
  echo "IDLE_SECONDS=$IDLE_SECONDS SAMPLE_INTERVAL=$SAMPLE_INTERVAL CALIBRATE=$CALIBRATE TOLERANCE_MB=$TOLERANCE_MB TIMEOUT=$TIMEOUT"
  echo "LEDGER=$LEDGER LEDGER_ARGS=$LEDGER_ARGS"
} >"$OUT/env.txt"

# ----------------------------------------------------------------- treatd --
PHASE="$OUT/phase"
echo start >"$PHASE"
args=(--listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 --policy "$POLICY"
  --kev "$KEV" --epss "$EPSS")
if [ "$LEDGER" = sqlite ]; then
  args+=(--ledger "$OUT/ledger.db")
else
  args+=(--ledger-off)
fi
# shellcheck disable=SC2206  # word-split on purpose: several flags
args+=($LEDGER_ARGS)
"$TREATD" "${args[@]}" >"$OUT/treatd.out" 2>"$OUT/treatd.log" &
TREATD_PID=$!
TARGET=""
for _ in $(seq 300); do
  TARGET=$(sed -n 's/^treatd listening on \(127\.0\.0\.1:[0-9]*\);.*/\1/p' "$OUT/treatd.out")
  [ -n "$TARGET" ] && break
  kill -0 "$TREATD_PID" 2>/dev/null || { cat "$OUT/treatd.log" >&2; exit 1; }
  sleep 0.05
done
[ -n "$TARGET" ] || { echo "treatd did not start" >&2; cat "$OUT/treatd.log" >&2; exit 1; }
METRICS_PORT=$(sed -n 's/.*"msg":"listening".*"metrics_port":\([0-9]*\).*/\1/p' "$OUT/treatd.log")
[ -n "$METRICS_PORT" ] && [ "$METRICS_PORT" != 0 ] \
  || { echo "treatd serves no metrics (see $OUT/treatd.log)" >&2; exit 1; }
grep '"msg":"feed loaded"' "$OUT/treatd.log" \
  | sed 's/.*"source":"\([a-z]*\)".*"entries":\([0-9]*\).*/  feed \1: \2 entries/' \
  | tee -a "$OUT/env.txt" >&2
log "treatd on $TARGET (metrics :$METRICS_PORT), pid $TREATD_PID"

echo idle >"$PHASE"
python3 "$REPORT" sample "$TREATD_PID" "$METRICS_PORT" "$PHASE" "$OUT/rss.csv" \
  --interval "$SAMPLE_INTERVAL" &
SAMPLER_PID=$!
sleep "$IDLE_SECONDS"
cat /proc/"$TREATD_PID"/smaps_rollup >"$OUT/smaps-idle.txt" 2>/dev/null || true

count() { python3 "$REPORT" decisions "$METRICS_PORT"; }

# ---------------------------------------------------------------- warm-up --
echo warmup >"$PHASE"
log "warm-up: $WARMUP_FINDINGS findings through treatctl decide"
timeout -k 5 120 "$TREATCTL" decide --target "$TARGET" --output jsonl \
  -o "$OUT/warmup-decisions.jsonl" --no-progress "$WARMUP_FILE" \
  2>"$OUT/warmup.log" || { cat "$OUT/warmup.log" >&2; exit 1; }
echo warmed >"$PHASE"
sleep "$IDLE_SECONDS"
BASE=$(count)
log "warm-up done: server decided $BASE findings so far"

# ----------------------------------------------------------------- stream --
echo stream >"$PHASE"
GOAL=$((BASE + FINDINGS))
window_args=()
[ "$MODE" = stream ] && window_args=(--window "$WINDOW")
ROUNDS="$OUT/load.jsonl"
: >"$ROUNDS"
duration=$CALIBRATE
round=0
done_n=$BASE
complete=0
while :; do
  left=$((DEADLINE - SECONDS - 40))
  if [ "$left" -le 1 ]; then log "TIMEOUT ($TIMEOUT s) reached"; break; fi
  duration=$(awk -v d="$duration" -v l="$left" 'BEGIN { if (d > l) d = l; if (d > 1800) d = 1800; if (d < 0.5) d = 0.5; printf "%.1f", d }')
  round=$((round + 1))
  before=$done_n
  t0=$(date +%s.%N)
  rc=0
  timeout -k 5 "$(awk -v d="$duration" 'BEGIN { printf "%d", d + 120 }')" \
    "$TREATCTL" bench "$STREAM_FILE" --target "$TARGET" --mode "$MODE" \
    -c "$STREAMS" "${window_args[@]}" --batch "$STREAM_BATCH" \
    -d "$duration" --warmup 0 --record --json \
    --label "memory/$MODE-round$round" >>"$ROUNDS" 2>>"$OUT/load.log" &
  LOAD_PID=$!
  wait "$LOAD_PID" || rc=$?
  LOAD_PID=""
  t1=$(date +%s.%N)
  done_n=$(count)
  rate=$(awk -v n=$((done_n - before)) -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", n / (b - a) }')
  log "round $round: ${duration}s, $((done_n - before)) findings (~$rate/s incl. client start), $((done_n - BASE))/$FINDINGS done, treatctl exit $rc"
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
    log "treatctl bench failed (exit $rc); see $OUT/load.log"; break
  fi
  if [ "$done_n" -ge "$GOAL" ]; then complete=1; break; fi
  [ "$rate" -gt 0 ] || { log "no progress"; break; }
  # Size the next round from the rate treatctl measured inside its window
  # (the wall-clock rate above includes its start-up); a round that falls
  # a little short is followed by another, so the overshoot stays small.
  measured=$(tail -n 1 "$ROUNDS" | python3 -c 'import json,sys
try: print("%.0f" % json.loads(sys.stdin.read()).get("items_per_s", 0))
except ValueError: print(0)')
  [ "$measured" -gt 0 ] && rate=$measured
  # At most 4x the last round: a short first round under-measures the rate
  # (treatctl reads the findings file first; batch calls are coarse).
  duration=$(awk -v r=$((GOAL - done_n)) -v s="$rate" -v last="$duration" \
    'BEGIN { d = r / s; if (d > 4 * last) d = 4 * last; printf "%.1f", d }')
done
echo after >"$PHASE"
sleep "$IDLE_SECONDS"
cat /proc/"$TREATD_PID"/smaps_rollup >"$OUT/smaps-end.txt" 2>/dev/null || true
# treatd's CPU time over the whole run (user + system): what returning
# memory costs shows here (--memory-release-ms 0 in LEDGER_ARGS to compare).
cpu_s=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.1f", ($14 + $15) / hz }' \
  "/proc/$TREATD_PID/stat" 2>/dev/null || echo 0)
stop_pid "$SAMPLER_PID"; SAMPLER_PID=""
stop_pid "$TREATD_PID"; TREATD_PID=""
ledger_note="ledger off"
if [ "$LEDGER" = sqlite ]; then
  ledger_mb=$(du -cm "$OUT"/ledger.db* 2>/dev/null | awk 'END { print $1 }')
  ledger_note="SQLite ledger ${LEDGER_ARGS:+($LEDGER_ARGS) }grew to ${ledger_mb} MB"
  rm -f "$OUT"/ledger.db*
fi

# ----------------------------------------------------------------- report --
errors=$(python3 -c 'import json,sys; print(sum(json.loads(l).get("errors",0) for l in open(sys.argv[1]) if l.startswith("{")))' "$ROUNDS")
{
  echo "treatd memory check: $(basename "$POLICY"), KEV $(sed -n 's/^  feed kev: \([0-9]*\).*/\1/p' "$OUT/env.txt") entries (real)," \
    "EPSS $(sed -n 's/^  feed epss: \([0-9]*\).*/\1/p' "$OUT/env.txt") entries (synthetic scores unless EPSS= was set: $(basename "$EPSS"));" \
    "$(if [ "$MODE" = stream ]; then echo "$((done_n - BASE)) findings over StreamDecide in $round round(s), $STREAMS streams x window $WINDOW, $STREAM_BATCH findings per message"; else echo "$((done_n - BASE)) findings over BatchDecide in $round round(s), $STREAMS calls of $STREAM_BATCH findings in flight"; fi)," \
    "$DISTINCT distinct findings cycled; errors: $errors; $ledger_note;" \
    "treatd CPU ${cpu_s} s ($(awk -v c="$cpu_s" -v n=$((done_n - BASE)) 'BEGIN { if (n > 0) printf "%.1f", c * 1e6 / n; else print "-" }') µs per finding)"
  echo
  python3 "$REPORT" report "$OUT/rss.csv" --findings "$FINDINGS" --base "$BASE" \
    --warmup "$WARMUP_FINDINGS" --tolerance-mb "$TOLERANCE_MB" \
    --target-mb "$TARGET_MB" --json "$OUT/summary.json"
} | tee "$OUT/table.md"
echo
echo "Results: $OUT  (rss.csv samples, load.jsonl treatctl rounds, env.txt, smaps-*.txt)"
[ "$complete" = 1 ]
