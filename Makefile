# Thin wrapper over CMake. `make run` and `make test` work on a fresh Debian 12
# machine: both install what is missing first (scripts/setup.sh).
BUILD ?= build
JOBS ?= 2
BUILD_TYPE ?= RelWithDebInfo
LISTEN ?= 127.0.0.1:50051
POLICY ?= policies/default.yaml

.PHONY: all setup configure build run test bench format clean

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

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD)
