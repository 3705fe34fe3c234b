#!/usr/bin/env bash
# Engine bench (issue 15, target 2): decisions per second on one core and
# instructions per decision, BASIC and FULL view, the shipped default
# policy over the example findings (bench/engine_bench.cc: BM_DecideBasic
# and BM_Decide/trace:0, one reused Decision, the way a server thread
# decides).
#
#   bench/run_engine_bench.sh                 # Release build in build-perf
#   BUILD_DIR=build bench/run_engine_bench.sh # an existing build
#   BENCH=/path/to/engine_bench bench/run_engine_bench.sh  # that binary, no build
#                                             # (e.g. main's, for a before/after)
#
# Environment knobs (defaults):
#   BUILD_DIR=build-perf   build directory; configured Release and
#                          engine_bench built when it has none
#   MIN_TIME=2             --benchmark_min_time of the timed runs (seconds)
#   REPETITIONS=3          timed repetitions; the median is reported
#   CALLGRIND=1            also count instructions per decision (valgrind)
# Prints one line per view: decisions/s (CPU time, median), instructions
# per decision (callgrind: instructions inside CompiledPolicy::Evaluate
# divided by its calls), and the targets; then the same decisions by the
# plain interpreter (no reuse of decision cores) and the worst case for
# the core cache (every finding's core differs). Takes about three minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR=${BUILD_DIR:-$ROOT/build-perf}
MIN_TIME=${MIN_TIME:-2}
REPETITIONS=${REPETITIONS:-3}
CALLGRIND=${CALLGRIND:-1}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ -z "${BENCH:-}" ]; then
  BENCH="$BUILD_DIR/bench/engine_bench"
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    log "configuring $BUILD_DIR (Release)"
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  log "building engine_bench in $BUILD_DIR"
  cmake --build "$BUILD_DIR" -j2 --target engine_bench >/dev/null
fi
[ -x "$BENCH" ] || { echo "no engine_bench at $BENCH" >&2; exit 2; }

WORK=$(mktemp -d /tmp/treatd-engine-bench-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Decisions per second: the median over the repetitions of items/s.
log "timing BM_DecideBasic, BM_Decide/trace:0, the plain interpreter and the all-miss case (${REPETITIONS} x ${MIN_TIME}s each)"
"$BENCH" --benchmark_filter='^(BM_DecideBasic|BM_Decide/trace:0|BM_DecidePlain/basic:[01]|BM_DecideBasicDistinct/cache:[01])$' \
  --benchmark_min_time="$MIN_TIME" --benchmark_repetitions="$REPETITIONS" \
  --benchmark_report_aggregates_only=true --benchmark_format=json \
  >"$WORK/timed.json"

# Instructions per call of CompiledPolicy::Evaluate from RunDecisions.
instructions() {
  local filter=$1 out="$WORK/callgrind.$2"
  valgrind --tool=callgrind --dump-instr=no --callgrind-out-file="$out" \
    --toggle-collect='treatd::CompiledPolicy::Evaluate(*' \
    "$BENCH" --benchmark_filter="$filter" --benchmark_min_time=0.3 \
    >/dev/null 2>&1
  python3 - "$out" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
total = int(re.search(r"^summary: (\d+)", text, re.M).group(1))
# Compressed names: "(id) name" the first time, "(id)" afterwards.
def fn_id(pattern):
    return re.search(r"\((\d+)\) " + pattern, text).group(1)
runner, evaluate = fn_id(r"treatd::\(anonymous namespace\)::RunDecisions"), \
    fn_id(r"treatd::CompiledPolicy::Evaluate\(")
calls, in_runner, pending = 0, False, False
for line in text.splitlines():
    if line.startswith("fn="):
        in_runner = line.startswith("fn=(%s)" % runner)
    elif in_runner and line.startswith("cfn=(%s)" % evaluate):
        pending = True
    elif pending and line.startswith("calls="):
        calls += int(line[6:].split()[0])
        pending = False
print(round(total / calls))
EOF
}

basic_ipd="" full_ipd="" plain_basic_ipd="" plain_full_ipd="" miss_ipd=""
if [ "$CALLGRIND" = 1 ] && command -v valgrind >/dev/null; then
  log "counting instructions with callgrind"
  basic_ipd=$(instructions '^BM_DecideBasic$' basic)
  full_ipd=$(instructions '^BM_Decide/trace:0$' full)
  plain_basic_ipd=$(instructions '^BM_DecidePlain/basic:1$' plain_basic)
  plain_full_ipd=$(instructions '^BM_DecidePlain/basic:0$' plain_full)
  miss_ipd=$(instructions '^BM_DecideBasicDistinct/cache:1$' miss)
fi

python3 - "$WORK/timed.json" "$basic_ipd" "$full_ipd" "$plain_basic_ipd" \
  "$plain_full_ipd" "$miss_ipd" <<'EOF'
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
def median(name):
    for b in runs:
        if b["run_name"] == name and b.get("aggregate_name") == "median":
            return b["items_per_second"], b["cpu_time"], b["time_unit"]
    raise SystemExit("no median for " + name)
rows = [("BASIC", "BM_DecideBasic", sys.argv[2], 2_000_000),
        ("FULL", "BM_Decide/trace:0", sys.argv[3], 600_000)]
print("view   decisions/s (1 core)   CPU per decision   instructions   target/s   ratio")
for view, name, ipd, target in rows:
    rate, cpu, unit = median(name)
    print(f"{view:<6} {rate:>20,.0f}   {cpu:>12.0f} {unit:<4}   "
          f"{(int(ipd) if ipd else 0):>12,}   {target:>9,}   {rate / target:.2f}")
# The rows above reuse decision cores (the examples repeat); for
# comparison, every expression run, and a stream whose cores all differ.
print("\nwithout reuse / worst case       decisions/s   CPU per decision   instructions")
others = [("BASIC, plain interpreter", "BM_DecidePlain/basic:1", sys.argv[4]),
          ("FULL, plain interpreter", "BM_DecidePlain/basic:0", sys.argv[5]),
          ("BASIC, every core differs", "BM_DecideBasicDistinct/cache:1",
           sys.argv[6]),
          ("  same, cache off", "BM_DecideBasicDistinct/cache:0", "")]
for label, name, ipd in others:
    rate, cpu, unit = median(name)
    print(f"{label:<27} {rate:>14,.0f}   {cpu:>12.0f} {unit:<4}   "
          f"{(format(int(ipd), ',') if ipd else '-'):>12}")
EOF
