#!/usr/bin/env bash
# Native CPU per finding of each of treatd's threads, ledger on or off
# (issue 10): the same BatchDecide load as bench/run_ledger_bench.sh
# (BatchDecide x 1,000 from examples/findings.jsonl, 8 in flight, the
# neutral loadgen), and the CPU (user + system, /proc/<pid>/task/*/stat)
# each thread used while it ran, divided by the findings decided. The
# ledger's threads are named (ledger-commit, ledger-sync, ledger-ckpt,
# ledger-record; common/ledger/thread_name.h); the server's are summed by
# name. CPU time, unlike findings/s, moves little with the machine's load,
# but it is no instruction count: quote the load (printed) with it.
#
#   bench/ledger_thread_cpu.sh                 # SQLite ledger ("full")
#   LEDGER=off bench/ledger_thread_cpu.sh
#   RUNS=3 SECONDS_LOADED=8 bench/ledger_thread_cpu.sh
#
# Environment knobs (defaults): LEDGER=sqlite (sqlite, sqlite-normal, off),
# SECONDS_LOADED=6, RUNS=1 (each on a fresh ledger file), BUILD_DIR=
# build-release, PEER_BENCH_SRC=../shared/bench, PEER_BENCH_DIR=
# /tmp/peer-bench, OUT=/tmp/treatd-thread-cpu. 127.0.0.1 only; treatd is
# stopped by its PID; every load is bounded in time.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LEDGER=${LEDGER:-sqlite}
SECONDS_LOADED=${SECONDS_LOADED:-6}
RUNS=${RUNS:-1}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-release}
PEER_BENCH_SRC=${PEER_BENCH_SRC:-$ROOT/../shared/bench}
PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}
OUT=${OUT:-/tmp/treatd-thread-cpu}
mkdir -p "$OUT"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"
trap stop_treatd EXIT

case "$LEDGER" in
  off) LEDGER_ARGS=(--ledger-off) ;;
  sqlite) LEDGER_ARGS=(--ledger "$OUT/ledger.db" --ledger-sweep-seconds 0) ;;
  sqlite-normal) LEDGER_ARGS=(--ledger "$OUT/ledger.db" --ledger-sweep-seconds 0
                              --ledger-sqlite-sync normal) ;;
  *) echo "LEDGER: sqlite, sqlite-normal or off" >&2; exit 2 ;;
esac

cmake --build "$BUILD_DIR" -j2 --target treatd treatctl >"$OUT/build.log" 2>&1 \
  || { tail -20 "$OUT/build.log"; exit 1; }
build_loadgen || exit 2
PAYLOAD="$OUT/batch_1000.bin"
"$BUILD_DIR/client/treatctl" bench "$ROOT/examples/findings.jsonl" --mode batch \
  --batch 1000 --record --write-request "$PAYLOAD" 2>/dev/null

# tid comm utime stime, one line per thread of pid $1.
snapshot() {
  local task
  for task in /proc/"$1"/task/*; do
    # comm may hold spaces: the fields after its closing ')'.
    printf '%s %s %s\n' "${task##*/}" "$(tr ' ' _ <"$task/comm")" \
      "$(sed 's/.*) //' "$task/stat" | awk '{print $12, $13}')"
  done 2>/dev/null
}

for run in $(seq "$RUNS"); do
  rm -f "$OUT/ledger.db" "$OUT/ledger.db-wal" "$OUT/ledger.db-shm"
  "$BUILD_DIR/server/treatd" --listen 127.0.0.1:0 \
    --policy "$ROOT/policies/default.yaml" --metrics-listen "" \
    --max-concurrent-calls 100000 --max-concurrent-streams 100000 \
    --max-batch 10000 --reload-poll-ms 0 --log-level warning "${LEDGER_ARGS[@]}" \
    >"$OUT/treatd.out" 2>"$OUT/treatd.log" &
  TREATD_PID=$!
  TARGET=$(treatd_address "$OUT/treatd.out") || { cat "$OUT/treatd.log"; exit 1; }
  load() {
    timeout $(($1 + 120)) "$LOADGEN" --target "$TARGET" \
      --method /treatd.v1.TreatmentService/BatchDecide --payload "$PAYLOAD" \
      --items 1000 --concurrency 8 --duration "$1" --warmup 0 --drain-grace 60
  }
  load 1 >/dev/null  # warm-up
  snapshot "$TREATD_PID" >"$OUT/before"
  load "$SECONDS_LOADED" >"$OUT/loadgen.json"
  snapshot "$TREATD_PID" >"$OUT/after"
  stop_treatd
  python3 - "$OUT/before" "$OUT/after" "$OUT/loadgen.json" "$LEDGER" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" <<'EOF'
import collections, json, os, sys
hz = os.sysconf("SC_CLK_TCK")
def read(path):
    rows = {}
    for line in open(path):
        tid, comm, user, system = line.split()
        rows[tid] = (comm, int(user), int(system))
    return rows
before, after = read(sys.argv[1]), read(sys.argv[2])
result = json.load(open(sys.argv[3]))
findings = result["ok_total"] * result["items"]
by_name = collections.defaultdict(lambda: [0, 0, 0])
for tid, (comm, user, system) in after.items():
    _, user0, system0 = before.get(tid, (comm, 0, 0))
    if user + system == user0 + system0:
        continue
    row = by_name[comm]
    row[0] += user - user0
    row[1] += system - system0
    row[2] += 1
scale = 1e6 / hz / findings
print(f"ledger {sys.argv[4]}: {findings} findings, "
      f"{result['items_per_s']:.0f}/s, load {sys.argv[5]}")
print(f"  {'thread':16s} {'n':>3s} {'user':>6s} {'sys':>6s}  us/finding")
total = 0
for comm, (user, system, n) in sorted(by_name.items(),
                                      key=lambda kv: -(kv[1][0] + kv[1][1])):
    total += user + system
    print(f"  {comm:16s} {n:3d} {user * scale:6.2f} {system * scale:6.2f}")
print(f"  {'total':16s}     {total * scale:13.2f}")
EOF
done
