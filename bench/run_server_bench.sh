#!/usr/bin/env bash
# Server bench (issue 5): treatd beside the machine's null gRPC server and a
# Cerbos PDP, driven by the same neutral load generator in one run, and one
# table with the ratios the issue sets as targets.
#
#   bench/run_server_bench.sh                  # ~3 minutes
#   DURATION=2 WARMUP=1 bench/run_server_bench.sh
#   PEERS= bench/run_server_bench.sh           # treatd only
#   ROUNDS=5 PEERS=null POLICIES=default BATCHES= STREAM_CHUNKS= \
#     bench/run_server_bench.sh                # issue 15's unary verdict, ~4 min
#
# What it needs:
#   - this project's build dependencies (scripts/setup.sh) and python3;
#   - for the peers, the shared peer harness (../shared/bench, or
#     PEER_BENCH_SRC): its loadgen and null server are built from it and
#     its run_peers.sh runs the null server and Cerbos; it needs the Debian
#     packages python3-grpcio, python3-protobuf and curl (Cerbos is installed
#     from npm on first use, so npm and the network are needed once).
#     Without the harness, the peers are skipped (and said so) and treatd is
#     loaded with `treatctl bench` instead of loadgen.
#
# Environment knobs (defaults):
#   DURATION=5 WARMUP=1         seconds measured / warmed up per scenario
#   UNARY_CONCS="8 64"          Decide concurrencies
#   BATCH_CONC=8                BatchDecide and StreamDecide concurrency
#   BATCHES="100 1000"          findings per BatchDecide call
#   STREAM_CHUNKS="1 100"       findings per StreamDecide message, one row
#                               each (treatd-<policy>-stream<N>); 1 is the
#                               classic one-finding message
#   STREAM_WINDOW=32            unanswered findings per stream for
#                               1-finding messages; chunked rows keep 2
#                               messages in flight (--window 2N), send
#                               prebuilt bytes (treatctl bench --prebuilt,
#                               like loadgen) and run again with the typed
#                               client as stream<N>-typed; with
#                               loadgen, treatctl also runs BatchDecide of
#                               N (treatd-<policy>-treatctl-batchN) for a
#                               same-client stream/batch ratio
#   VIEWS="full basic"          DecisionView of the requests; BASIC rows
#                               are labelled treatd-<policy>.basic-...
#   POLICIES="default cerbos"   policies/default.yaml and
#                               bench/policies/cerbos_equivalent.yaml
#   PEERS="null cerbos"         peers to run beside treatd ("" for none)
#   BUILD_DIR=build-release     treatd Release build directory
#   BUILD=1                     BUILD=0: use treatd and treatctl in BUILD_DIR
#                               as they are (no cmake; e.g. another
#                               checkout's up-to-date build, read only)
#   PEER_BENCH_SRC=../shared/bench   the peer harness sources
#   PEER_BENCH_DIR=/tmp/peer-bench   harness builds, payloads and results
#   PIN=auto                    with 2+ CPUs: the unary rows (treatd and the
#                               null server alike) run the server on CPU
#                               SERVER_CPU=1 and the load generator on CPU
#                               CLIENT_CPU=0, so neither starves the other
#                               and the ratios compare one server core with
#                               one; the BatchDecide and StreamDecide rows
#                               give treatd every CPU and keep the client on
#                               CLIENT_CPU (it needs little: loadgen sends a
#                               prebuilt request). PIN=0: nothing pinned.
#   TREATD_ARGS="--max-connection-idle-seconds 0"
#                               more treatd flags (split on spaces). Like
#                               the null server, treatd then closes no idle
#                               connections, and gRPC leaves out the filter
#                               that tracks every call for it (~4,000
#                               instructions a Decide call); "" measures
#                               the default (300 s).
#   BATCHES= STREAM_CHUNKS=      (both empty) only the unary rows
#   ROUNDS=1                    unary rounds. The null server's QPS moves by
#                               half between runs minutes apart on this
#                               shared machine, so one null run decides a
#                               unary ratio. With ROUNDS=N > 1 the null
#                               server (through the harness) and treatd's
#                               unary rows (every policy and view) alternate
#                               N times in the same pinning, and one more
#                               null run closes the last round: null#1,
#                               treatd#1, null#2, ..., treatd#N,
#                               null#N+1. Round r's ratios divide treatd#r
#                               by the mean of null#r and null#r+1 (the runs
#                               just before and after it, so a drift in the
#                               machine's load during the round cancels to
#                               first order); server_report.py shows every
#                               round's ratio and judges the median. Cerbos
#                               runs once, before null#1. The BatchDecide
#                               and StreamDecide rows run once, after the
#                               rounds. ROUNDS=1: one null run, treatd's
#                               ratios against it (as before rounds).
# Everything listens on and targets 127.0.0.1 only; every load run is
# bounded in time and every server is stopped by PID.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
UNARY_CONCS=${UNARY_CONCS:-"8 64"}
BATCH_CONC=${BATCH_CONC:-8}
BATCHES=${BATCHES-"100 1000"}
STREAM_CHUNKS=${STREAM_CHUNKS-"1 100"}
STREAM_WINDOW=${STREAM_WINDOW:-32}
VIEWS=${VIEWS:-"full basic"}
POLICIES=${POLICIES:-"default cerbos"}
PEERS=${PEERS-"null cerbos"}
BUILD_DIR=${BUILD_DIR:-$ROOT/build-release}
BUILD=${BUILD:-1}
PIN=${PIN:-auto}
TREATD_ARGS=${TREATD_ARGS-"--max-connection-idle-seconds 0"}
ROUNDS=${ROUNDS:-1}
case "$ROUNDS" in
  '' | *[!0-9]*) ROUNDS=0 ;;
esac
# Base 10: $((ROUNDS + 1)) would read ROUNDS=08 as octal and abort.
ROUNDS=$((10#$ROUNDS))
[ "$ROUNDS" -ge 1 ] || { echo "ROUNDS must be a positive integer" >&2; exit 2; }
read -r -a EXTRA_ARGS <<<"$TREATD_ARGS"
SERVER_CPU=${SERVER_CPU:-1}
CLIENT_CPU=${CLIENT_CPU:-0}
if [ "$PIN" = auto ]; then
  if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then PIN=1; else PIN=0; fi
fi
SRV_PIN=(); CLI_PIN=(); MODE=unpinned
if [ "$PIN" = 1 ]; then
  SRV_PIN=(taskset -c "$SERVER_CPU"); CLI_PIN=(taskset -c "$CLIENT_CPU")
fi
PEER_BENCH_SRC=${PEER_BENCH_SRC:-$ROOT/../shared/bench}
export PEER_BENCH_DIR=${PEER_BENCH_DIR:-/tmp/peer-bench}

STAMP=$(date +%Y%m%d-%H%M%S)
OUT="$PEER_BENCH_DIR/treatd-results/$STAMP"
mkdir -p "$OUT"
JSONL="$OUT/results.jsonl"
: >"$JSONL"
PAYLOADS="$OUT/payloads"
mkdir -p "$PAYLOADS"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"

trap stop_treatd EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ build --
[ "$BUILD" != 0 ] && build_treatd
TREATD="$BUILD_DIR/server/treatd"
TREATCTL="$BUILD_DIR/client/treatctl"
for bin in "$TREATD" "$TREATCTL"; do
  [ -x "$bin" ] || { echo "$bin not found (BUILD=0 needs a built BUILD_DIR)" >&2; exit 1; }
done

if ! build_loadgen; then
  log "peer harness not found: skipping the null server and Cerbos;" \
    "loading treatd with treatctl bench"
  PEERS=""
fi

# --------------------------------------------------------------- payloads --
FINDINGS="$ROOT/examples/findings.jsonl"
for view in $VIEWS; do
  sfx=""; [ "$view" = full ] || sfx="-$view"
  "$TREATCTL" bench "$FINDINGS" --mode unary --view "$view" \
    --write-request "$PAYLOADS/decide_1$sfx.bin" 2>>"$OUT/payloads.log"
  for b in $BATCHES; do
    "$TREATCTL" bench "$FINDINGS" --mode batch --batch "$b" --view "$view" \
      --write-request "$PAYLOADS/batch_$b$sfx.bin" 2>>"$OUT/payloads.log"
  done
done

{
  echo "date: $(date -Is)"; echo "kernel: $(uname -r)"; echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo || true
  echo "grpc++: $(pkg-config --modversion grpc++ 2>/dev/null)  protobuf: $(pkg-config --modversion protobuf 2>/dev/null)"
  echo "treatd: $(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
  echo "PIN=$PIN (server CPU $SERVER_CPU, client CPU $CLIENT_CPU for unary rows; client CPU $CLIENT_CPU and a free server for batch/stream rows)"
  echo "TREATD_ARGS=$TREATD_ARGS"
  echo "ROUNDS=$ROUNDS (unary: null and treatd alternate; round r against the mean of null#r and null#r+1)"
  echo "VIEWS=$VIEWS DURATION=$DURATION WARMUP=$WARMUP UNARY_CONCS=$UNARY_CONCS BATCH_CONC=$BATCH_CONC BATCHES=$BATCHES STREAM_CHUNKS=$STREAM_CHUNKS STREAM_WINDOW=$STREAM_WINDOW POLICIES=$POLICIES PEERS=$PEERS"
} >"$OUT/env.txt"

# ------------------------------------------------------------------ peers --
for p in $PEERS; do
  case "$p" in
    null | cerbos) ;;
    *) echo "unknown peer $p (null, cerbos)" >&2; exit 2 ;;
  esac
done
HAS_NULL=""
case " $PEERS " in *" null "*) HAS_NULL=1 ;; esac

# Runs scenarios $1 of the peer harness (one repetition in this script's
# pinning) and appends their rows to $JSONL labelled as round $2
# (<mode>/<scenario>#<round>).
run_peers() {
  local scen=$1 round=$2 peer_log="$OUT/peers-$2.log" results
  log "peers: $scen, round $round (via $PEER_BENCH_SRC/run_peers.sh)"
  local peer_mode=unpinned; [ "$PIN" = 1 ] && peer_mode=pinned
  # Tried twice: the harness can lose the race between starting a server
  # and reading the log the server's port goes to ("sed: can't read
  # .../null-async-pinned.log"), which more null runs make likelier.
  local try
  for try in 1 2; do
    DURATION=$DURATION WARMUP=$WARMUP CONCS="$UNARY_CONCS" MODES=$peer_mode REPS=1 \
      SERVER_CPU=$SERVER_CPU CLIENT_CPU=$CLIENT_CPU \
      SCENARIOS="$scen" "$PEER_BENCH_SRC/run_peers.sh" >"$peer_log" 2>&1 && break
    tail -5 "$peer_log" >&2
    [ "$try" = 1 ] || { echo "peer run failed twice; see $peer_log" >&2; exit 1; }
    log "peer run failed; trying once more"
    mv "$peer_log" "$peer_log.failed"
  done
  # The harness names its results file ("Results: <file>   (env: ...)").
  results=$(sed -n 's/^Results: \([^ ]*\).*/\1/p' "$peer_log" | tail -1)
  if [ -z "$results" ] || [ ! -s "$results" ]; then
    echo "run_peers.sh wrote no results; see $peer_log" >&2; exit 1
  fi
  sed "s/\(\"label\":\"[^\"]*#\)1\"/\1$round\"/" "$results" >>"$JSONL"
}

# ----------------------------------------------------------------- treatd --
LOG_SUFFIX=""     # added to treatd's log names (the unary round)
ROUND=1           # the round a load row is labelled with (<label>#<round>)
start_treatd() {  # $1 = policy file, then the pin prefix (may be none)
  local pfile=$1; shift
  local slog
  slog="$OUT/treatd-$(basename "$pfile" .yaml)-$MODE$LOG_SUFFIX.log"
  local args=(--listen 127.0.0.1:0 --policy "$pfile" --metrics-listen ""
    --max-concurrent-calls 100000 --max-concurrent-streams 100000
    --max-batch 10000 --reload-poll-ms 0 --log-level warning --ledger-off
    ${EXTRA_ARGS[@]+"${EXTRA_ARGS[@]}"})
  "$@" "$TREATD" "${args[@]}" >"$slog.out" 2>"$slog" &
  TREATD_PID=$!
  TARGET=""
  for _ in $(seq 200); do
    TARGET=$(sed -n 's/^treatd listening on \(127\.0\.0\.1:[0-9]*\);.*/\1/p' "$slog.out")
    [ -n "$TARGET" ] && break
    kill -0 "$TREATD_PID" 2>/dev/null || { cat "$slog"; exit 1; }
    sleep 0.05
  done
  [ -n "$TARGET" ] || { echo "treatd did not start" >&2; cat "$slog"; exit 1; }
}

show() {
  /usr/bin/env python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("  %-40s c=%-3s qps=%9.1f items/s=%10.1f p50=%8.1fus p99=%9.1fus srv=%3.0f%% cli=%3.0f%% err=%s" % (d.get("label"), d.get("concurrency"), d.get("qps",0), d.get("items_per_s",0), d.get("p50_us",0), d.get("p99_us",0), d.get("server_cpu_pct",-1), d.get("client_cpu_pct",-1), d.get("errors","?")))' "$1" >&2
}

# CPU ticks (user + system) of process $1 so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# Prints the CPU of process $1 (100 = one core) over the measured window
# of a load run that starts now: from WARMUP for $2 seconds (DURATION; a
# load client that exits at the window's end is sampled over less).
sample_cpu() {
  local hz t0 t1 window=${2:-$DURATION}
  hz=$(getconf CLK_TCK)
  sleep "$WARMUP"; t0=$(cpu_ticks "$1")
  sleep "$window"; t1=$(cpu_ticks "$1")
  awk -v a="$t0" -v b="$t1" -v hz="$hz" -v d="$window" \
    'BEGIN { printf "%.1f", (b - a) * 100 / hz / d }'
}

# $1 label, $2 method, $3 payload, $4 items, $5 concurrency, $6 treatctl mode
load() {
  local label=$1 method=$2 payload=$3 items=$4 c=$5 mode=$6 line
  local limit=$((${DURATION%.*} + ${WARMUP%.*} + 60))
  if [ -n "$LOADGEN" ]; then
    line=$(timeout "$limit" "${CLI_PIN[@]}" "$LOADGEN" --target "$TARGET" --method "$method" \
      --payload "$payload" --items "$items" --concurrency "$c" \
      --duration "$DURATION" --warmup "$WARMUP" --server-pid "$TREATD_PID" \
      --label "$MODE/$label#$ROUND") || true
  else
    local extra=()
    [ "$mode" = batch ] && extra=(--batch "$items")
    line=$(timeout "$limit" "$TREATCTL" bench "$FINDINGS" --target "$TARGET" \
      --mode "$mode" "${extra[@]}" --view "${view:-full}" -c "$c" \
      -d "$DURATION" --warmup "$WARMUP" \
      --json --label "$MODE/$label#$ROUND") || true
  fi
  [ -n "$line" ] || line="{\"label\":\"$MODE/$label#$ROUND\",\"concurrency\":$c,\"first_error\":{\"name\":\"LOADGEN_FAILED\"}}"
  echo "$line" >>"$JSONL"
  show "$line"
}

# $1 label, then treatctl bench flags; concurrency BATCH_CONC. The CPU of
# the server and of treatctl over the window are sampled beside it
# (server_cpu_pct, client_cpu_pct): the two share the machine's cores, so
# a row whose client takes as much CPU as the server measures both.
treatctl_load() {
  local label="$MODE/$1#1" line out_file="$OUT/bench.$$" cli_file="$OUT/cli.$$"
  local cpu_file="$OUT/cpu.$$"
  shift
  sample_cpu "$TREATD_PID" >"$cpu_file" &
  local sampler=$!
  "${CLI_PIN[@]}" "$TREATCTL" bench "$FINDINGS" --target "$TARGET" "$@" \
    -c "$BATCH_CONC" -d "$DURATION" --warmup "$WARMUP" --json \
    --label "$label" >"$out_file" &
  local client=$!
  sample_cpu "$client" "$(awk -v d="$DURATION" 'BEGIN { print d * 0.8 }')" \
    >"$cli_file" &
  local cli_sampler=$!
  # Bounded like every load run: stopped by PID if it overstays.
  local waited=0 limit=$((${DURATION%.*} + ${WARMUP%.*} + 60))
  while kill -0 "$client" 2>/dev/null && [ "$waited" -lt "$limit" ]; do
    sleep 1; waited=$((waited + 1))
  done
  kill "$client" 2>/dev/null || true
  wait "$client" || true
  wait "$sampler" "$cli_sampler" || true
  line=$(cat "$out_file" 2>/dev/null)
  [ -n "$line" ] || line="{\"label\":\"$label\",\"concurrency\":$BATCH_CONC,\"first_error\":{\"name\":\"BENCH_FAILED\"}}"
  line=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); c=sys.argv[2]; k=sys.argv[3]; d["server_cpu_pct"]=float(c) if c else -1.0; d["client_cpu_pct"]=float(k) if k else -1.0; print(json.dumps(d, separators=(",", ":")))' "$line" "$(cat "$cpu_file" 2>/dev/null)" "$(cat "$cli_file" 2>/dev/null)")
  rm -f "$cpu_file" "$cli_file" "$out_file"
  echo "$line" >>"$JSONL"
  show "$line"
}

policy_file() {  # $1 = policy name
  case "$1" in
    default) echo "$ROOT/policies/default.yaml" ;;
    cerbos) echo "$ROOT/bench/policies/cerbos_equivalent.yaml" ;;
    *) echo "unknown policy $1 (default, cerbos)" >&2; return 2 ;;
  esac
}
for policy in $POLICIES; do policy_file "$policy" >/dev/null || exit 2; done

# Sets sfx (the payload's suffix) and tag (the row's "policy") for policy
# $1 in view $2: BASIC rows are another "policy" to the report,
# treatd-<policy>.basic-...
view_tag() {
  sfx=""; tag=$1
  [ "$2" = full ] || { sfx="-$2"; tag="$1.$2"; }
}

# Unary rows of every policy and view, round $ROUND: treatd pinned like
# the null server (PIN).
unary_round() {
  local policy pfile
  MODE=unpinned; [ "$PIN" = 1 ] && MODE=pinned
  LOG_SUFFIX=""; [ "$ROUNDS" -gt 1 ] && LOG_SUFFIX="-round$ROUND"
  for policy in $POLICIES; do
    pfile=$(policy_file "$policy")
    start_treatd "$pfile" ${SRV_PIN[@]+"${SRV_PIN[@]}"}
    log "treatd ($policy policy, $MODE, round $ROUND/$ROUNDS) on $TARGET, pid $TREATD_PID"
    for view in $VIEWS; do
      view_tag "$policy" "$view"
      for c in $UNARY_CONCS; do
        load "treatd-$tag-1" /treatd.v1.TreatmentService/Decide \
          "$PAYLOADS/decide_1$sfx.bin" 1 "$c" unary
      done
    done
    stop_treatd
  done
  LOG_SUFFIX=""
}

# The unary rounds: null#1 (after Cerbos, so the null run is the one next
# to treatd's), treatd#1, null#2, treatd#2, ..., treatd#N and, for N > 1,
# null#N+1.
for ROUND in $(seq "$ROUNDS"); do
  if [ -n "$PEERS" ]; then
    scen=""
    if [ "$ROUND" = 1 ]; then
      case " $PEERS " in *" cerbos "*) scen="cerbos-1 cerbos-100" ;; esac
    fi
    [ -n "$HAS_NULL" ] && scen="$scen null-async"
    [ -z "${scen# }" ] || run_peers "${scen# }" "$ROUND"
  fi
  unary_round
done
if [ "$ROUNDS" -gt 1 ] && [ -n "$HAS_NULL" ]; then
  run_peers null-async $((ROUNDS + 1))
fi
ROUND=1

# Throughput rows: treatd on every CPU, the client on CLIENT_CPU (PIN).
for policy in $POLICIES; do
  [ -n "$BATCHES$STREAM_CHUNKS" ] || break
  pfile=$(policy_file "$policy")
  MODE=unpinned
  start_treatd "$pfile"
  log "treatd ($policy policy, all CPUs) on $TARGET, pid $TREATD_PID"
  for view in $VIEWS; do
  view_tag "$policy" "$view"
  for b in $BATCHES; do
    load "treatd-$tag-batch$b" /treatd.v1.TreatmentService/BatchDecide \
      "$PAYLOADS/batch_$b$sfx.bin" "$b" "$BATCH_CONC" batch
  done
  # loadgen is unary only: the streams run under treatctl bench, one row
  # per chunk size (findings per message; 1 = one `finding` per message).
  # With loadgen driving the batches, a treatctl-driven batch of the same
  # size runs too (treatd-<policy>-treatctl-batch<N>): the stream/batch
  # ratio compares the same client, which shares the two cores.
  # Chunked rows send prebuilt messages and check answers from their bytes
  # (--prebuilt), as loadgen sends a prebuilt BatchDecide: the client then
  # takes little of the two cores the server is measured on. The typed
  # client (every message serialized, every answer parsed) runs too, as
  # treatd-<policy>-stream<N>-typed, for the same-client ratio.
  for n in $STREAM_CHUNKS; do
    window=$STREAM_WINDOW
    [ "$n" -gt 1 ] && window=$((2 * n))
    if [ "$n" -gt 1 ]; then
      treatctl_load "treatd-$tag-stream$n" --mode stream --batch "$n" \
        --window "$window" --view "$view" --prebuilt
      treatctl_load "treatd-$tag-stream$n-typed" --mode stream --batch "$n" \
        --window "$window" --view "$view"
    else
      treatctl_load "treatd-$tag-stream$n" --mode stream --batch "$n" \
        --window "$window" --view "$view"
    fi
    if [ "$n" -gt 1 ] && [ -n "$LOADGEN" ]; then
      treatctl_load "treatd-$tag-treatctl-batch$n" --mode batch --batch "$n" \
        --view "$view"
    fi
  done
  done
  stop_treatd
done

echo
echo "Results: $JSONL   (env: $OUT/env.txt)"
echo "items = findings per request; srv% / cli% = CPU of the server / the load client over the window (100 = one core; for treatctl rows sampled from /proc beside the run); treatd stream rows come from treatctl bench: stream1 sends 1 finding per message, streamN chunks of N (prebuilt bytes; streamN-typed: protobuf client), QPS counts messages; pinned/unpinned: see PIN in env.txt"
echo
python3 "$ROOT/bench/server_report.py" "$JSONL" | tee "$OUT/table.txt"
