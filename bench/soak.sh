#!/usr/bin/env bash
# Soak (issue 12; not in CI): MINUTES of mixed load with faults on the wire
# and policy reloads against the sanitizer build of treatd, printing the
# calls, the errors by status and treatd's RSS over time, then SIGTERM and
# the exit code (LeakSanitizer makes it 23 when something leaked).
#
#   bench/soak.sh                  # one hour
#   MINUTES=5 bench/soak.sh
#
# The load (bench/soak_client, client/faults/mixed_load.h): two Decide
# loops, one BatchDecide loop (100 findings), one StreamDecide loop (50
# messages per stream) and one thread of faults in turn: a stream cancelled
# mid-conversation, a 1000-finding batch with a 2 ms deadline, 64 KiB of
# garbage, a silent stream, and a connection reset (RST) under an open
# stream. Meanwhile the policy file is replaced every RELOAD_MS (the server
# polls it), with a SIGHUP every tenth time and a broken policy every
# twentieth (rejected: the last good one keeps serving).
#
# Knobs (defaults): MINUTES=60 REPORT_SECONDS=30 RELOAD_MS=200
#   SAN_BUILD=build-asan   treatd under ASan + UBSan (configured and built
#                          here if needed); SAN_BUILD=build for the release
#                          binary (tcmalloc), whose RSS means more
#   BUILD=build            where bench/soak_client is built
#   NO_BUILD=1             use the binaries as they are (no cmake --build)
# RSS under ASan includes its shadow memory and a quarantine of freed
# blocks (capped here at 64 MiB), so it levels off rather than returning.
# treatd listens on 127.0.0.1 (a free port) and is stopped by PID.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MINUTES=${MINUTES:-60}
REPORT_SECONDS=${REPORT_SECONDS:-30}
RELOAD_MS=${RELOAD_MS:-200}
SAN_BUILD=${SAN_BUILD:-build-asan}
BUILD=${BUILD:-build}
JOBS=${JOBS:-2}

if [[ -z "${NO_BUILD:-}" ]]; then
  # The ASan + UBSan build of `make test-asan` (clang; Makefile asan-build).
  [[ -f "$SAN_BUILD/CMakeCache.txt" ]] || make asan-build ASAN_BUILD="$SAN_BUILD"
  cmake --build "$SAN_BUILD" -j"$JOBS" --target treatd >/dev/null
  [[ -f "$BUILD/CMakeCache.txt" ]] ||
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j"$JOBS" --target soak_client >/dev/null
fi

WORK=$(mktemp -d /tmp/treatd-soak-XXXXXX)
POLICY="$WORK/policy.yaml"
cp policies/default.yaml "$POLICY"
sed 's/^version: .*/version: "soak-b"/' policies/default.yaml >"$WORK/b.yaml"
printf 'name: broken\nrules: [\n' >"$WORK/broken.yaml"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:quarantine_size_mb=64}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
"$SAN_BUILD/server/treatd" --listen 127.0.0.1:0 --policy "$POLICY" \
  --metrics-listen "" --reload-poll-ms 50 --stream-idle-seconds 1 \
  --shutdown-grace-seconds 5 >"$WORK/stdout" 2>"$WORK/treatd.log" &
PID=$!
RELOADER=
cleanup() {
  [[ -n "$RELOADER" ]] && kill "$RELOADER" 2>/dev/null || true
  kill "$PID" 2>/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 600); do
  grep -q "listening on" "$WORK/stdout" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || { cat "$WORK/treatd.log"; exit 1; }
  sleep 0.1
done
ADDRESS=$(sed -n 's/^treatd listening on \([^;]*\);.*/\1/p' "$WORK/stdout")
[[ -n "$ADDRESS" ]] || { echo "treatd did not start"; cat "$WORK/treatd.log"; exit 1; }

rss_mib() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status"; }
echo "soak: treatd $SAN_BUILD (pid $PID) on $ADDRESS for $MINUTES min; idle RSS $(rss_mib) MiB"

# Reloads: atomic replacement (write beside, rename), as operators do.
(
  i=0
  while kill -0 "$PID" 2>/dev/null; do
    i=$((i + 1))
    if ((i % 20 == 0)); then src="$WORK/broken.yaml"
    elif ((i % 2)); then src="$WORK/b.yaml"
    else src=policies/default.yaml; fi
    cp "$src" "$POLICY.tmp" && mv "$POLICY.tmp" "$POLICY"
    ((i % 10 == 0)) && kill -HUP "$PID" 2>/dev/null
    sleep "$(awk "BEGIN {print $RELOAD_MS / 1000}")"
  done
) &
RELOADER=$!

# RSS next to the client's tally, every REPORT_SECONDS.
"$BUILD/bench/soak_client" --target "$ADDRESS" --seconds $((MINUTES * 60)) \
  --report-seconds "$REPORT_SECONDS" | while IFS= read -r line; do
  if [[ "$line" == t=* ]]; then
    echo "${line%% *} rss=$(rss_mib)MiB ${line#* }"
  else
    echo "$line"
  fi
done
END_RSS=$(rss_mib)
kill "$RELOADER" 2>/dev/null || true
wait "$RELOADER" 2>/dev/null || true
RELOADER=
sleep 2
echo "after the load (2 s idle): RSS $(rss_mib) MiB (at the end of the load $END_RSS MiB)"
RELOADS=$(grep -c '"msg":"reload finished"' "$WORK/treatd.log" || true)
REJECTED=$(grep -c '"msg":"reload rejected"' "$WORK/treatd.log" || true)
kill -TERM "$PID"
set +e
wait "$PID"
CODE=$?
set -e
trap - EXIT
echo "reloads finished: $RELOADS, rejected: $REJECTED"
echo "SIGTERM: treatd exit code $CODE (0 clean; 23 LeakSanitizer found a leak)"
if grep -q "Sanitizer" "$WORK/treatd.log"; then
  echo "sanitizer report in $WORK/treatd.log:"
  grep -A30 "Sanitizer" "$WORK/treatd.log" | head -60
  exit 1
fi
rm -rf "$WORK"
exit "$CODE"
