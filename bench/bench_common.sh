# Sourced by the bench scripts that start treatd, load it with the neutral
# loadgen and record into a throwaway PostgreSQL (run_server_bench.sh,
# run_ledger_bench.sh, run_replicas_bench.sh, run_memory_check.sh).
# Expects OUT (results directory), PEER_BENCH_SRC, PEER_BENCH_DIR and a
# log() function; sets LOADGEN, PG_BIN, PG_DIR, TREATD_PID.
# PostgreSQL: Debian's binaries, a temporary directory, unix socket only,
# fsync on (durable, like the SQLite ledger's synchronous=FULL).

PG_DIR=""
PG_BIN=""

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The treatd a script started (its pid), stopped by stop_treatd.
TREATD_PID=""

# Stops process $1: SIGTERM (graceful drain), SIGKILL after 10 s; no-op
# for an empty pid.
stop_pid() {
  local pid=$1
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null || true
}

stop_treatd() { stop_pid "$TREATD_PID"; TREATD_PID=""; }

# Prints the address a treatd started with --listen 127.0.0.1:0 wrote to
# its stdout, file $1, waiting up to 10 s for it; returns 1 without one.
treatd_address() {
  local address=""
  for _ in $(seq 200); do
    address=$(sed -n 's/^treatd listening on \(127\.0\.0\.1:[0-9]*\);.*/\1/p' "$1")
    [ -n "$address" ] && { echo "$address"; return 0; }
    sleep 0.05
  done
  return 1
}

# Builds treatd and treatctl in $BUILD_DIR (from $ROOT), exiting when they
# do not build. A new build directory is configured lean (Release, no tests,
# no benchmarks); an existing one keeps its options: reconfiguring it here
# used to switch off the tests and benchmarks of a user's own build.
build_treatd() {
  log "building treatd and treatctl ($BUILD_DIR)"
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
      -DTREATD_BUILD_TESTS=OFF -DTREATD_BUILD_BENCHMARKS=OFF >"$OUT/build.log" 2>&1
  fi
  cmake --build "$BUILD_DIR" -j2 --target treatd treatctl >>"$OUT/build.log" 2>&1 \
    || { tail -40 "$OUT/build.log"; exit 1; }
}

# Builds the loadgen from $PEER_BENCH_SRC into $PEER_BENCH_DIR and sets
# LOADGEN. Returns 1 (LOADGEN empty) when the sources are missing; exits
# when they do not build.
build_loadgen() {
  LOADGEN=""
  [ -f "$PEER_BENCH_SRC/loadgen/CMakeLists.txt" ] || {
    log "loadgen sources not found at $PEER_BENCH_SRC (set PEER_BENCH_SRC)"
    return 1
  }
  log "building the neutral loadgen from $PEER_BENCH_SRC"
  cmake -S "$PEER_BENCH_SRC/loadgen" -B "$PEER_BENCH_DIR/loadgen-build" \
    -DCMAKE_BUILD_TYPE=Release >"$OUT/build-loadgen.log" 2>&1
  cmake --build "$PEER_BENCH_DIR/loadgen-build" -j2 >>"$OUT/build-loadgen.log" 2>&1 \
    || { tail -40 "$OUT/build-loadgen.log"; exit 1; }
  LOADGEN="$PEER_BENCH_DIR/loadgen-build/loadgen"
}

# Starts a PostgreSQL server; returns 1 when the binaries are missing.
# With a directory $1 its data is kept there across runs (initialized when
# absent; a server left running there is restarted) and stop_postgres
# leaves it; $2 adds server options.
PG_KEEP=""
start_postgres() {
  PG_BIN=${TREATD_TEST_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
  [ -x "$PG_BIN/initdb" ] || { echo "PostgreSQL binaries not found (apt-get install postgresql)" >&2; return 1; }
  if [ -n "${1:-}" ]; then
    PG_DIR=$1 PG_KEEP=1
    mkdir -p "$PG_DIR"
  else
    PG_DIR=$(mktemp -d /tmp/treatd-bench-pg-XXXXXX) PG_KEEP=""
  fi
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_DIR"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres >>"$OUT/postgres.log" 2>&1
  elif as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -t 60 -w stop >>"$OUT/postgres.log" 2>&1
  fi
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -t 60 -w \
    -o "-k $PG_DIR -c listen_addresses='' -c fsync=on -c synchronous_commit=on ${2:-}" \
    start >>"$OUT/postgres.log" 2>&1
}

# Creates database $1 on the running server; prints its libpq conninfo.
new_database() {
  as_postgres "$PG_BIN/createdb" -h "$PG_DIR" -U postgres "$1" >>"$OUT/postgres.log" 2>&1
  echo "host=$PG_DIR dbname=$1 user=postgres"
}

# Stops the server and deletes its directory unless it is kept (no-op when
# none runs).
stop_postgres() {
  [ -n "$PG_DIR" ] || return 0
  as_postgres "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -t 30 stop \
    >>"$OUT/postgres.log" 2>&1 || true
  [ -n "$PG_KEEP" ] || rm -rf "$PG_DIR"
  PG_DIR=""
}
