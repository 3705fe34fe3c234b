#!/usr/bin/env bash
# Ledger KPIs and Prometheus gauges over 1,000,000 findings / 5,000,000
# events (issue 10), SQLite and PostgreSQL side by side in one run:
# ledger_bench's BM_Kpis / BM_Gauges on the SQLite fixture and
# BM_KpisPostgres / BM_GaugesPostgres on the same ledger copied into
# PostgreSQL (same_as_sqlite=1: the two reports are identical;
# server_cpu_ms: the PostgreSQL processes' CPU per query).
# What is measured (bench/ledger_bench.cc):
#   BM_KpisCold / BM_KpisPostgresCold   the first KPI query of the process:
#       for PostgreSQL the first after this script (re)started the server,
#       its shared_buffers empty (the OS page cache is not dropped);
#   BM_Kpis / BM_KpisPostgres           warm: one untimed query first, then
#       the mean of three, as a dashboard or `treatctl ledger kpi` sees a
#       running server.
# On a shared machine compare CPU (treatd's "CPU" column + server_cpu_ms),
# not wall time.
#
#   bench/run_ledger_kpi_bench.sh        # ~1 minute with both fixtures cached
#
# Environment knobs (defaults):
#   BUILD_DIR=build       a build with benchmarks (RelWithDebInfo or Release)
#   FINDINGS=1000000      fixture size (TREATD_LEDGER_BENCH_FINDINGS)
#   PG_CACHE=/tmp/treatd-ledger-bench-pg-$FINDINGS   PostgreSQL data kept
#                         across runs (filled from the SQLite file once, about
#                         a minute; delete it to rebuild)
#   OUT=/tmp/treatd-ledger-kpi-bench  logs and results.json
# The SQLite fixture /tmp/treatd-ledger-bench-$FINDINGS.db is built by
# ledger_bench when absent (about 30 minutes for 1M findings on a loaded
# 2-core VM) and reused. PostgreSQL: Debian's binaries, unix socket only,
# shared_buffers=256MB, stopped (its data kept) at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD_DIR=${BUILD_DIR:-$ROOT/build}
FINDINGS=${FINDINGS:-1000000}
PG_CACHE=${PG_CACHE:-/tmp/treatd-ledger-bench-pg-$FINDINGS}
OUT=${OUT:-/tmp/treatd-ledger-kpi-bench}
mkdir -p "$OUT"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# shellcheck source=bench/bench_common.sh
. "$ROOT/bench/bench_common.sh"

trap stop_postgres EXIT
trap 'exit 130' INT TERM

log "building ledger_bench ($BUILD_DIR)"
cmake --build "$BUILD_DIR" --target ledger_bench >"$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }

log "starting PostgreSQL in $PG_CACHE"
start_postgres "$PG_CACHE" "-c shared_buffers=256MB"
exists=$(as_postgres "$PG_BIN/psql" -h "$PG_DIR" -U postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'ledger_kpi'")
[ "$exists" = 1 ] || as_postgres "$PG_BIN/createdb" -h "$PG_DIR" -U postgres ledger_kpi

log "running BM_Kpis / BM_Gauges on SQLite and PostgreSQL"
TREATD_LEDGER_BENCH_FINDINGS=$FINDINGS \
TREATD_LEDGER_BENCH_PG="host=$PG_DIR dbname=ledger_kpi user=postgres" \
  "$BUILD_DIR/bench/ledger_bench" --benchmark_filter='BM_Kpis|BM_Gauges' \
  --benchmark_out="$OUT/results.json" --benchmark_out_format=json
log "results in $OUT/results.json; machine load: $(cut -d' ' -f1-3 /proc/loadavg)"
