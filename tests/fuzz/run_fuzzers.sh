#!/usr/bin/env bash
# Runs treatd's libFuzzer targets, each for a bounded time, on top of its
# corpus; used by `make fuzz` and `make fuzz-smoke`.
#
#   tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]
#
# BUILD_DIR is a build configured with -DTREATD_BUILD_FUZZERS=ON (the
# Makefile's build-asan/). Each target reads, in this order: its working
# corpus BUILD_DIR/fuzz/corpus/<target>/ (new inputs go there and it
# persists between runs), the seeds treatd_fuzz_seeds derives from the
# repository (BUILD_DIR/fuzz/seeds/<target>/) and the checked-in regression
# corpus tests/fuzz/corpus/<target>/; with the dictionary
# BUILD_DIR/fuzz/dict/<target>.dict. A crash leaves the input in
# BUILD_DIR/fuzz/artifacts/ and the log in BUILD_DIR/fuzz/logs/<target>.log.
#
# FUZZ_JOBS (default 1) targets run at once. FUZZ_FRESH_CORPUS=1 starts each
# target from its seeds and checked-in corpus only, in an emptied
# BUILD_DIR/fuzz/fresh-corpus/<target>/, so that the run's time does not grow
# with earlier runs (make fuzz-smoke). Exits 1 when any target found a
# crash, a leak or a timeout; prints executions per target.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
seconds=$2
shift 2
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
work=$build/fuzz
jobs=${FUZZ_JOBS:-1}

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  targets=()
  # Each target is a fuzz_<target> link to the one binary, treatd_fuzz.
  for binary in "$build"/tests/fuzz/fuzz_*; do
    [[ -L $binary ]] || continue
    targets+=("$(basename "$binary" | sed 's/^fuzz_//')")
  done
fi
if [[ ${#targets[@]} -eq 0 ]]; then
  echo "no fuzzers in $build/tests/fuzz (configure with -DTREATD_BUILD_FUZZERS=ON)" >&2
  exit 2
fi

mkdir -p "$work/logs" "$work/artifacts"
"$build/tests/fuzz/treatd_fuzz_seeds" "$source_dir" "$work" >/dev/null

run_one() {
  local target=$1
  local corpus=$work/corpus/$target
  if [[ ${FUZZ_FRESH_CORPUS:-0} == 1 ]]; then
    corpus=$work/fresh-corpus/$target
    rm -rf "$corpus"
  fi
  mkdir -p "$corpus"
  local args=(-max_total_time="$seconds" -print_final_stats=1 -timeout=25
              -rss_limit_mb=3072 -artifact_prefix="$work/artifacts/$target-")
  [[ -f $work/dict/$target.dict ]] && args+=(-dict="$work/dict/$target.dict")
  local dirs=("$corpus")
  [[ -d $work/seeds/$target ]] && dirs+=("$work/seeds/$target")
  [[ -d $source_dir/tests/fuzz/corpus/$target ]] &&
    dirs+=("$source_dir/tests/fuzz/corpus/$target")
  local status=0
  "$build/tests/fuzz/fuzz_$target" "${args[@]}" "${dirs[@]}" \
    >"$work/logs/$target.log" 2>&1 || status=$?
  echo "$status" >"$work/logs/$target.status"
}

running=0
for target in "${targets[@]}"; do
  if [[ ! -x $build/tests/fuzz/fuzz_$target ]]; then
    echo "unknown fuzz target: $target" >&2
    exit 2
  fi
  run_one "$target" &
  running=$((running + 1))
  if [[ $running -ge $jobs ]]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait

failed=0
printf '%-18s %12s %10s %8s  %s\n' target executions exec/s corpus result
for target in "${targets[@]}"; do
  log=$work/logs/$target.log
  status=$(cat "$work/logs/$target.status")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus_dir=$work/corpus/$target
  [[ ${FUZZ_FRESH_CORPUS:-0} == 1 ]] && corpus_dir=$work/fresh-corpus/$target
  corpus=$(find "$corpus_dir" -type f | wc -l)
  result=ok
  if [[ $status -ne 0 ]]; then
    result="FAILED (exit $status): $(grep -m1 -E 'ERROR: |FUZZ INVARIANT|runtime error' "$log" || true) log: $log"
    failed=1
  fi
  printf '%-18s %12s %10s %8s  %s\n' "$target" "${execs:-?}" "${rate:-?}" \
    "$corpus" "$result"
done
exit "$failed"
