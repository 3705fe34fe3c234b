#!/usr/bin/env bash
# Installs everything treatd needs to build and test on Debian 12: Debian
# packages (apt, when any is missing) and buf for proto lint (npm, into
# .cache/buf). Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake pkg-config ccache clang-format git openssl
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libabsl-dev libyaml-cpp-dev libre2-dev libssl-dev libcli11-dev
  nlohmann-json3-dev libgtest-dev libgmock-dev libbenchmark-dev libsqlite3-dev
  libxxhash-dev prometheus-cpp-dev libgoogle-perftools-dev postgresql libpq-dev
  libsimdjson-dev
  valgrind  # bench/run_engine_bench.sh: instructions per decision (callgrind)
  clang libclang-rt-14-dev  # libFuzzer + sanitizers (make fuzz)
  chromium fonts-dejavu-core python3  # KPI report render test (headless)
  python3-yaml docker-compose  # deploy/ tests: compose file validation
)
# npm only when no Node.js/npm is installed already (the Debian npm package
# brings Node.js 18; a machine may have a newer Node.js of its own).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y "${missing[@]}"
fi

# buf (proto lint), pinned, from the npm registry.
BUF_VERSION=1.75.0
if [ ! -x .cache/buf/node_modules/.bin/buf ] ||
   [ "$(.cache/buf/node_modules/.bin/buf --version 2>/dev/null)" != "$BUF_VERSION" ]; then
  echo "setup: installing @bufbuild/buf@$BUF_VERSION into .cache/buf"
  mkdir -p .cache/buf
  npm install --prefix .cache/buf --no-audit --no-fund --silent \
    "@bufbuild/buf@$BUF_VERSION"
fi

# Kubernetes API schemas for the deploy/kubernetes manifest test, pinned,
# from the npm registry (tests/deploy/k8s_manifests_test.js).
K8S_MODELS_VERSION=4.5.1
YAML_JS_VERSION=2.9.1
if [ "$(node -p "require('./.cache/k8s-validate/node_modules/kubernetes-models/package.json').version" 2>/dev/null)" != "$K8S_MODELS_VERSION" ]; then
  echo "setup: installing kubernetes-models@$K8S_MODELS_VERSION into .cache/k8s-validate"
  mkdir -p .cache/k8s-validate
  npm install --prefix .cache/k8s-validate --no-audit --no-fund --silent \
    "kubernetes-models@$K8S_MODELS_VERSION" "yaml@$YAML_JS_VERSION"
fi
