# Thin wrapper over CMake. `make run` and `make test` work on a fresh Debian 12
# machine: both install what is missing first (scripts/setup.sh).
BUILD ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
LISTEN ?= 127.0.0.1:50051
POLICY ?= policies/default.yaml
# Sanitizer builds, each in its own directory (cmake/Sanitizers.cmake says
# how one is made). build-asan/ is one clang build with ASan + UBSan and
# libFuzzer's coverage instrumentation: it serves both the suite under
# ASan + UBSan and the fuzzers.
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
# The TSan stage: the tests that race threads over shared state without
# gRPC traffic (policy store swaps under deciding readers, tokens store
# reloads, call governor slots, intel snapshot readers, the decision
# recorder's thread and the ledger's group committer under many callers, on
# SQLite and PostgreSQL). Tests with gRPC traffic are left out: Debian's
# libgrpc is not instrumented, so TSan cannot see the ordering its lock-free
# queues give and reports races inside gRPC's own HPACK encoder and
# WorkSerializer (README, Development).
TSAN_TARGETS ?= concurrency_test intel_snapshot_test ledger_test
TSAN_TESTS ?= ^(PolicyStoreConcurrencyTest|TokenStoreConcurrencyTest|CallGovernorConcurrencyTest|DecisionRecorderConcurrencyTest|IntelSnapshotTest\.ServesConcurrentReaders|LedgerTest\.SqliteAndPostgres)
# Packaging, deployment-file and lint checks say nothing new under a
# sanitizer.
SANITIZER_SKIP ?= ^(Install|Style|ProtoLint|Deploy)\.
# The first report fails the test (the build also sets
# -fno-sanitize-recover); leaks are checked at every process exit.
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1:strict_init_order=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

# Fuzzing (tests/fuzz, README "Fuzzing"): the libFuzzer binaries of the
# ASan + UBSan build.
FUZZ_BUILD ?= $(ASAN_BUILD)
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_JOBS ?= $(JOBS)
FUZZ_TARGETS ?=

.PHONY: all setup configure build run test test-release test-sanitizers test-asan test-tsan bench format clean asan-build fuzz-build fuzz fuzz-smoke

all: build

setup:
	@scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	./$(BUILD)/server/treatd --listen $(LISTEN) --policy $(POLICY)

# Everything CI checks, one stage after the other (README, Development):
# the whole suite on the release build; the suite under ASan + UBSan; the
# concurrency tests under TSan; every fuzzer for FUZZ_SMOKE_SECONDS on top of
# its corpus. Each stage builds only what it runs.
test: test-release test-asan test-tsan fuzz-smoke

test-sanitizers: test-asan test-tsan

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

# clang: the same build directory makes the fuzzers (fuzz-build), so one
# compiler and one set of flags serve both.
asan-build: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DCMAKE_CXX_COMPILER=clang++ -DTREATD_SANITIZE=address,undefined \
	  -DTREATD_BUILD_FUZZERS=ON -DTREATD_BUILD_BENCHMARKS=OFF >/dev/null

test-asan: asan-build
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	cd $(ASAN_BUILD) && $(ASAN_ENV) ctest --output-on-failure -j$(JOBS) -E '$(SANITIZER_SKIP)'

test-tsan: setup
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) \
	  -DTREATD_SANITIZE=thread -DTREATD_BUILD_BENCHMARKS=OFF >/dev/null
	@cmake --build $(TSAN_BUILD) -j$(JOBS) --target $(TSAN_TARGETS)
	cd $(TSAN_BUILD) && $(TSAN_ENV) ctest --output-on-failure -j$(JOBS) -R '$(TSAN_TESTS)'

bench: build
	./$(BUILD)/bench/engine_bench

fuzz-build: asan-build
	@cmake --build $(FUZZ_BUILD) -j$(JOBS) --target treatd_fuzzers

# Every fuzzer for FUZZ_SECONDS (FUZZ_TARGETS="policy_yaml expression" for
# some), FUZZ_JOBS at a time.
fuzz: fuzz-build
	@FUZZ_JOBS=$(FUZZ_JOBS) tests/fuzz/run_fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Every fuzzer for FUZZ_SMOKE_SECONDS on top of its seeds and checked-in
# corpus (not the corpus earlier runs grew, so the time stays bounded): the
# CI check.
fuzz-smoke: fuzz-build
	@FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_FRESH_CORPUS=1 tests/fuzz/run_fuzzers.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
