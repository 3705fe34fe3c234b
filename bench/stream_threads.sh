#!/usr/bin/env bash
# What a StreamDecide message costs treatd beyond its instructions (issue
# 15): server CPU, kernel time and context switches per 100 findings, for
# one or more treatd binaries side by side (e.g. main's and a branch's),
# alternating run by run so that each sees the same machine state, with
# BatchDecide of 1,000 as the reference. treatd runs as
# run_server_bench.sh runs it for its throughput rows (every CPU, ledger
# and metrics off, --max-connection-idle-seconds 0), the client pinned to
# CLIENT_CPU: `treatctl bench --mode stream --batch 100 --window 200
# --prebuilt -c CONC` (the target row's client) and loadgen for
# BatchDecide. Counters: `perf stat -e context-switches,task-clock -p` on
# treatd over the measured window, user and system CPU from /proc; with
# STRACE=1 one more run per binary under `strace -c -f` (syscalls per
# message; strace slows every syscall, so compare binaries, not absolute
# counts). Prints every run, then medians and ranges per binary.
#
#   bench/stream_threads.sh
#   TREATDS="/tmp/main/treatd build-release/server/treatd" ROUNDS=5 STRACE=1 \
#     bench/stream_threads.sh
#
# Knobs (defaults): TREATDS (space-separated treatd binaries;
# $BUILD_DIR/server/treatd), BUILD_DIR=build-release (treatctl, and
# treatd when TREATDS is unset; both built there), ROUNDS=3, DURATION=6
# (seconds per run, the first is warm-up and the last is left out of the
# window), CONC=8, VIEW=full, BATCH=1 (also BatchDecide 1,000 with the
# last binary; 0 skips it), CLIENT_CPU=0, STRACE (unset), PEER_BENCH_SRC
# (../shared/bench, for loadgen), PEER_BENCH_DIR=/tmp/peer-bench.
# 127.0.0.1 only; every server and client is stopped by PID.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR=${BUILD_DIR:-$ROOT/build-release}
TREATDS=${TREATDS:-$BUILD_DIR/server/treatd}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-6}
CONC=${CONC:-8}
VIEW=${VIEW:-full}
BATCH=${BATCH:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
PEER_BENCH_SRC=${PEER_BENCH_SRC:-$ROOT/../shared/bench}
PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}
OUT="$PEER_BENCH_DIR/stream-threads/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
ROWS="$OUT/rows.tsv"
: >"$ROWS"
[ "$DURATION" -ge 4 ] || { echo "DURATION must be at least 4" >&2; exit 2; }
WINDOW=$((DURATION - 2))

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

cmake --build "$BUILD_DIR" -j2 --target treatd treatctl >"$OUT/build.log" 2>&1 ||
  { tail -20 "$OUT/build.log"; exit 1; }
TREATCTL="$BUILD_DIR/client/treatctl"
# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"
LOADGEN=""
if [ "$BATCH" = 1 ]; then build_loadgen || exit 1; fi
FINDINGS="$ROOT/examples/findings.jsonl"
PAYLOAD="$OUT/batch_1000.bin"
"$TREATCTL" bench "$FINDINGS" --mode batch --batch 1000 --view "$VIEW" \
  --write-request "$PAYLOAD" 2>>"$OUT/payload.log"

CLIENT_PID=""
cleanup() { stop_pid "$CLIENT_PID"; stop_treatd; }
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() {  # $1 = treatd binary
  local slog="$OUT/treatd.log"
  "$1" --listen 127.0.0.1:0 --policy "$ROOT/policies/default.yaml" \
    --metrics-listen "" --max-concurrent-calls 100000 \
    --max-concurrent-streams 100000 --max-batch 10000 --reload-poll-ms 0 \
    --log-level warning --ledger-off --max-connection-idle-seconds 0 \
    >"$slog.out" 2>"$slog" &
  TREATD_PID=$!
  TARGET=$(treatd_address "$slog.out") || { cat "$slog"; exit 1; }
}

# user and system ticks of process $1
ticks() { awk '{print $14, $15}' "/proc/$1/stat" 2>/dev/null || echo "0 0"; }

# $1 binary, $2 stream|batch, $3 label; appends a row to $ROWS.
run() {
  local bin=$1 mode=$2 label=$3 res="$OUT/res.json" perf="$OUT/perf.txt"
  start_server "$bin"
  if [ "$mode" = batch ]; then
    taskset -c "$CLIENT_CPU" "$LOADGEN" --target "$TARGET" \
      --method /treatd.v1.TreatmentService/BatchDecide --payload "$PAYLOAD" \
      --items 1000 --concurrency "$CONC" --duration "$DURATION" --warmup 1 \
      --label "$label" >"$res" &
  else
    taskset -c "$CLIENT_CPU" "$TREATCTL" bench "$FINDINGS" --target "$TARGET" \
      --mode stream --batch 100 --window 200 --prebuilt --view "$VIEW" \
      -c "$CONC" -d "$DURATION" --warmup 1 --json --label "$label" >"$res" &
  fi
  CLIENT_PID=$!
  sleep 1
  local s0 s1 c0 c1 load
  load=$(cut -d' ' -f1 /proc/loadavg)
  s0=$(ticks "$TREATD_PID"); c0=$(ticks "$CLIENT_PID")
  if [ -n "${STRACE:-}" ] && [ "$label" = strace ]; then
    timeout -s INT "$WINDOW" strace -c -f -p "$TREATD_PID" -o "$OUT/strace.txt" \
      2>/dev/null || true
    echo "0,,task-clock,," >"$perf"
  else
    perf stat -x, -e context-switches,task-clock -p "$TREATD_PID" \
      -- sleep "$WINDOW" 2>"$perf" || true
  fi
  s1=$(ticks "$TREATD_PID"); c1=$(ticks "$CLIENT_PID")
  wait "$CLIENT_PID" || true
  CLIENT_PID=""
  stop_treatd
  python3 - "$res" "$perf" "$WINDOW" "$s0" "$s1" "$c0" "$c1" "$(getconf CLK_TCK)" \
    "$bin" "$mode" "$label" "$load" "$OUT/strace.txt" >>"$ROWS" <<'PY'
import json, sys
(res, perf, window, s0, s1, c0, c1, hz, binary, mode, label, load,
 strace) = sys.argv[1:]
window, hz = float(window), float(hz)
r = json.loads(open(res).read().strip().splitlines()[-1])
items = r.get("items_per_s", 0) * window
messages = r.get("qps", 0) * window
if not items:
    sys.exit(0)
counters = {}
for line in open(perf):
    f = line.strip().split(",")
    if len(f) > 2 and f[0] not in ("", "<not counted>"):
        counters[f[2]] = float(f[0])
(su0, ss0), (su1, ss1) = map(int, s0.split()), map(int, s1.split())
(cu0, cs0), (cu1, cs1) = map(int, c0.split()), map(int, c1.split())
per100 = 100 / items
row = {
    "binary": binary, "mode": mode, "label": label, "load": float(load),
    "findings_per_s": r.get("items_per_s", 0), "errors": r.get("errors"),
    "server_cpu_pct": (su1 - su0 + ss1 - ss0) / hz / window * 100,
    "server_us": (su1 - su0 + ss1 - ss0) / hz * 1e6 * per100,
    "server_sys_us": (ss1 - ss0) / hz * 1e6 * per100,
    "client_us": (cu1 - cu0 + cs1 - cs0) / hz * 1e6 * per100,
}
if label == "strace":
    calls = {}
    for line in open(strace):
        f = line.split()
        if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
            calls[f[-1]] = int(f[3])
    row["syscalls_per_message"] = {k: round(v / messages, 2)
                                   for k, v in calls.items()}
else:
    cpu_s = counters.get("task-clock", 0) / 1e3
    row["findings_per_server_cpu_s"] = items / cpu_s if cpu_s else 0
    row["context_switches"] = counters.get("context-switches", 0) * per100
print(json.dumps(row))
PY
  tail -1 "$ROWS" >&2
}

last=""
for round in $(seq "$ROUNDS"); do
  for bin in $TREATDS; do
    log "round $round: $bin, StreamDecide 100/msg"
    run "$bin" stream "round$round"
    last=$bin
  done
  if [ "$BATCH" = 1 ]; then
    log "round $round: $last, BatchDecide 1,000"
    run "$last" batch "round$round"
  fi
done
if [ -n "${STRACE:-}" ]; then
  for bin in $TREATDS; do run "$bin" stream strace; done
  if [ "$BATCH" = 1 ]; then run "$last" batch strace; fi
fi

echo
echo "per 100 findings unless said; median (min-max) over the rounds; load = 1-min load average at each run's start"
python3 - "$ROWS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
groups = {}
for r in rows:
    groups.setdefault((r["binary"], r["mode"]), []).append(r)
def stat(values, fmt):
    if not values:
        return "-"
    return (fmt % statistics.median(values)) + " (" + (fmt % min(values)) + \
        "-" + (fmt % max(values)) + ")"
for (binary, mode), rs in groups.items():
    runs = [r for r in rs if r["label"] != "strace"]
    print(f"{mode:6s} {binary}")
    print("  runs %d, load %s" % (len(runs), stat([r["load"] for r in runs], "%.1f")))
    for key, name, fmt in [
        ("findings_per_s", "findings/s", "%.0f"),
        ("server_cpu_pct", "server CPU %", "%.0f"),
        ("findings_per_server_cpu_s", "findings per server CPU-s", "%.0f"),
        ("server_us", "server CPU us", "%.0f"),
        ("server_sys_us", "of which kernel us", "%.0f"),
        ("context_switches", "context switches", "%.2f"),
        ("client_us", "client CPU us", "%.0f")]:
        print("  %-27s %s" % (name, stat([r[key] for r in runs if key in r], fmt)))
    for r in rs:
        if r["label"] == "strace":
            calls = sorted(r["syscalls_per_message"].items(), key=lambda kv: -kv[1])
            print("  syscalls per message or call (strace): %.2f: %s" % (
                sum(v for _, v in calls),
                ", ".join(f"{k} {v}" for k, v in calls[:6])))
PY
echo "rows: $ROWS"
