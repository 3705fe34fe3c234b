#!/usr/bin/env bash
# Instructions per finding of a running treatd, by part (callgrind): treatd
# runs under valgrind with instrumentation off while it starts, one call
# warms it up, then the neutral loadgen (../shared/bench) drives it for a
# bounded time with instrumentation on. Prints the server's instructions
# per finding in total and for the engine (DecideInto / DecideFinding),
# the request parse (ParseRequest), the response serialization
# (EncodeResponse) and the arena release. callgrind counts do not depend on
# the machine's load, unlike wall-clock figures.
#
#   bench/profile_server.sh batch full     # BatchDecide of 1,000, FULL view
#   bench/profile_server.sh unary basic    # Decide, BASIC view
#   bench/profile_server.sh stream basic   # StreamDecide, chunks of 100
#
# The stream mode is driven by `treatctl bench --mode stream` (loadgen is
# unary only): chunks of CHUNK findings (100), two chunks in flight per
# stream, CONC streams (2).
#
# Environment knobs (defaults): BUILD_DIR=build (RelWithDebInfo: symbols),
# SECONDS_LOADED=15, CONC (2 for batch, 8 for unary), PEER_BENCH_SRC=
# ../shared/bench, PEER_BENCH_DIR=/tmp/peer-bench, OUT=/tmp/treatd-profile;
# ANALYZE=FILE only prints the table of a callgrind file of an earlier run;
# LEDGER=off (default), sqlite or sqlite-normal: the ledger the server
# records into (a fresh file in $OUT; --ledger-sqlite-sync full or normal),
# and the table then also shows the ledger's parts (issue 10);
# METRICS_LISTEN (default "": metrics off, so not recorded) e.g.
# 127.0.0.1:0 to profile with the Prometheus metrics recorded;
# TREATD_ARGS: more treatd flags, split on spaces (e.g.
# "--max-connection-idle-seconds 0"), and PROFILE_TAG a suffix for the
# profile file's name.
# 127.0.0.1 only; treatd is stopped by PID; about a minute per run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE=${1:-batch}
VIEW=${2:-full}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
SECONDS_LOADED=${SECONDS_LOADED:-15}
PEER_BENCH_SRC=${PEER_BENCH_SRC:-$ROOT/../shared/bench}
PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}
OUT=${OUT:-/tmp/treatd-profile}
LEDGER=${LEDGER:-off}
mkdir -p "$OUT"
case "$LEDGER" in
  off) LEDGER_ARGS=(--ledger-off) ;;
  sqlite|sqlite-normal)
    rm -f "$OUT/ledger.db" "$OUT/ledger.db-wal" "$OUT/ledger.db-shm"
    LEDGER_ARGS=(--ledger "$OUT/ledger.db" --ledger-sweep-seconds 0)
    [ "$LEDGER" = sqlite-normal ] && LEDGER_ARGS+=(--ledger-sqlite-sync normal) ;;
  *) echo "LEDGER: off, sqlite or sqlite-normal" >&2; exit 2 ;;
esac
case "$MODE" in
  batch) METHOD=BatchDecide; ITEMS=1000; CONC=${CONC:-2}
         BENCH_ARGS=(--mode batch --batch 1000) ;;
  unary) METHOD=Decide; ITEMS=1; CONC=${CONC:-8}; BENCH_ARGS=(--mode unary) ;;
  stream) METHOD=StreamDecide; CHUNK=${CHUNK:-100}; CONC=${CONC:-2}
          BENCH_ARGS=(--mode batch --batch "$CHUNK") ;;
  *) echo "usage: $0 batch|unary|stream full|basic" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "needs valgrind" >&2; exit 1; }

[ -n "${ANALYZE:-}" ] ||
  cmake --build "$BUILD_DIR" -j2 --target treatd treatctl >"$OUT/build.log" 2>&1 ||
  { tail -20 "$OUT/build.log"; exit 1; }
LOADGEN="$PEER_BENCH_DIR/loadgen-build/loadgen"
if [ -z "${ANALYZE:-}" ] && [ ! -x "$LOADGEN" ]; then
  cmake -S "$PEER_BENCH_SRC/loadgen" -B "$PEER_BENCH_DIR/loadgen-build" \
    -DCMAKE_BUILD_TYPE=Release >"$OUT/loadgen.log" 2>&1
  cmake --build "$PEER_BENCH_DIR/loadgen-build" -j2 >>"$OUT/loadgen.log" 2>&1
fi
PAYLOAD="$OUT/$MODE-$VIEW.bin"
[ -n "${ANALYZE:-}" ] || "$BUILD_DIR/client/treatctl" bench "$ROOT/examples/findings.jsonl" \
  "${BENCH_ARGS[@]}" --view "$VIEW" --record --write-request "$PAYLOAD" 2>/dev/null

read -r -a EXTRA_ARGS <<<"${TREATD_ARGS:-}"
PROFILE="$OUT/callgrind-$MODE-$VIEW-$LEDGER${PROFILE_TAG:+-$PROFILE_TAG}.out"
if [ -n "${ANALYZE:-}" ]; then PROFILE=$ANALYZE; else
LOG="$OUT/treatd-$MODE-$VIEW.log"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$PROFILE" \
  "$BUILD_DIR/server/treatd" --listen 127.0.0.1:0 \
  --policy "$ROOT/policies/default.yaml" --metrics-listen "${METRICS_LISTEN:-}" \
  --max-concurrent-calls 100000 --max-concurrent-streams 100000 \
  --max-batch 10000 --reload-poll-ms 0 --log-level warning "${LEDGER_ARGS[@]}" ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"} \
  >"$LOG.out" 2>"$LOG" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
TARGET=""
for _ in $(seq 600); do
  TARGET=$(sed -n 's/^treatd listening on \(127\.0\.0\.1:[0-9]*\);.*/\1/p' "$LOG.out")
  [ -n "$TARGET" ] && break
  kill -0 $PID 2>/dev/null || { cat "$LOG"; exit 1; }
  sleep 0.5
done
[ -n "$TARGET" ] || { echo "treatd did not start" >&2; exit 1; }
load() {
  if [ "$MODE" = stream ]; then
    timeout $(($2 + 120)) "$BUILD_DIR/client/treatctl" bench \
      "$ROOT/examples/findings.jsonl" --target "$TARGET" --mode stream \
      --batch "$CHUNK" --window $((2 * CHUNK)) --view "$VIEW" \
      --concurrency "$1" --duration "$2" --warmup 0 --record --json
    return
  fi
  timeout $(($2 + 120)) "$LOADGEN" --target "$TARGET" \
    --method "/treatd.v1.TreatmentService/$METHOD" --payload "$PAYLOAD" \
    --items "$ITEMS" --concurrency "$1" --duration "$2" --warmup 0 \
    --drain-grace 60
}
load 1 2 >/dev/null
callgrind_control -i on $PID >/dev/null
load "$CONC" "$SECONDS_LOADED" >"$OUT/loadgen-$MODE-$VIEW.json"
callgrind_control -i off $PID >/dev/null
kill -TERM $PID
wait $PID || true
trap - EXIT
fi

python3 - "$PROFILE" <<'EOF'
import collections, re, subprocess, sys
path = sys.argv[1]
# Calls into each function (callgrind's "calls=" lines after "cfn=").
names, calls, current = {}, collections.Counter(), None
for line in open(path):
    m = re.match(r"^c?fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2)
        if line.startswith("cfn="):
            current = names.get(m.group(1))
        continue
    m = re.match(r"^calls=(\d+)", line)
    if m and current:
        calls[current] += int(m.group(1))
findings = sum(c for n, c in calls.items()
               if re.match(r"treatd::(DecideInto|DecideFinding)\(", n))
# --threshold=100: every function, so a part under the default 99 %
# cut-off (an arena release of a few hundred a call) is not read as 0.
text = subprocess.run(["callgrind_annotate", "--inclusive=yes",
                       "--threshold=100", path],
                      capture_output=True, text=True).stdout
def incl(pattern):
    best = 0
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+) \(", line)
        if m and re.search(pattern, line) and "=>" not in line:
            best = max(best, int(m.group(1).replace(",", "")))
    return best
total = incl(r"PROGRAM TOTALS")
parts = [
    ("engine (DecideInto / DecideFinding)", r"treatd::(DecideInto|DecideFinding)\("),
    ("request parse (ParseRequest)",
     r"treatd::ParseRequest\(|CallbackUnaryHandler<treatd::v1::\w+Request, .*::Deserialize\("),
    ("response serialization (EncodeResponse)",
     r"treatd::(EncodeResponse|SerializeResponse|ResultsEncoder::Add)\(|grpc::GenericSerialize<"),
    ("arena release (~ThreadSafeArena)", r"ThreadSafeArena::~ThreadSafeArena"),
]
# The ledger's threads and its work on the handlers' (none with it off).
ledger_parts = [
    ("ledger: events of a call (DecisionEvent)", r"treatd::ledger::DecisionEvent(Into)?\("),
    ("ledger: recorder thread (DecisionRecorder::Run)", r"treatd::DecisionRecorder::Run\("),
    ("ledger: committer thread (Committer::Loop)", r"treatd::ledger::Committer::Loop\("),
    ("ledger: sync threads (Committer::SyncLoop)", r"treatd::ledger::Committer::SyncLoop\("),
    ("ledger: WAL checkpoint thread (Checkpointer)", r"Checkpointer::Loop\("),
]
print(f"{path}: {findings} findings decided while instrumented")
if not findings:
    sys.exit(1)
print(f"  {'server total':<44} {total / findings:>10,.0f} instructions per finding")
rest = total
for name, pattern in parts:
    n = incl(pattern)
    rest -= n
    print(f"  {name:<44} {n / findings:>10,.0f}")
print(f"  {'the rest (gRPC, HTTP/2, threads)':<44} {rest / findings:>10,.0f}")
if incl(ledger_parts[2][1]):
    # Inclusive, so they overlap the rows above: the recorder thread also
    # encodes and finishes the calls it answers. User-space instructions
    # only: the kernel's share of a commit (WAL writes, fdatasync) is not
    # counted here (perf or the loadgen's server CPU show it).
    print("  ledger (inclusive; the recorder's part includes encoding and "
          "finishing its calls):")
    for name, pattern in ledger_parts:
        print(f"    {name:<48} {incl(pattern) / findings:>10,.0f}")
EOF
