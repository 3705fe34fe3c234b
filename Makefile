# Thin wrapper over CMake. `make run` and `make test` work on a fresh Debian 12
# machine: both install what is missing first (scripts/setup.sh).
BUILD ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
LISTEN ?= 127.0.0.1:50051
POLICY ?= policies/default.yaml

# Fuzzing (tests/fuzz, README "Fuzzing"): clang + libFuzzer + ASan/UBSan in
# a build directory of its own, system allocator.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 600
FUZZ_SMOKE_SECONDS ?= 20
FUZZ_JOBS ?= $(JOBS)
FUZZ_TARGETS ?=

.PHONY: all setup configure build run test bench format clean fuzz-build fuzz fuzz-smoke

all: build

setup:
	@scripts/setup.sh

configure: setup
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	./$(BUILD)/server/treatd --listen $(LISTEN) --policy $(POLICY)

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

bench: build
	./$(BUILD)/bench/engine_bench

fuzz-build: setup
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=clang++ \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTREATD_BUILD_FUZZERS=ON \
	  -DTREATD_BUILD_TESTS=OFF -DTREATD_BUILD_BENCHMARKS=OFF \
	  -DTREATD_TCMALLOC=OFF >/dev/null
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
	rm -rf $(BUILD)
