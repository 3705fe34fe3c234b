// Decisions per second of the policy engine: policies/default.yaml over the
// findings of examples/findings.jsonl, with and without a trace.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "common/policy/engine/compiled_policy.h"
#include "google/protobuf/util/json_util.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace {

struct Fixture {
  std::shared_ptr<const CompiledPolicy> policy;
  std::vector<v1::Finding> findings;
};

// Loaded once; a benchmark that cannot load its inputs aborts with the
// reason rather than measuring nothing.
const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto* f = new Fixture;
    const std::string root = TREATD_SOURCE_DIR;
    auto policy = CompiledPolicy::CompileFile(root + "/policies/default.yaml");
    if (!policy.ok()) {
      std::fprintf(stderr, "cannot compile policies/default.yaml: %s\n",
                   std::string(policy.status().message()).c_str());
      std::abort();
    }
    f->policy = *policy;
    std::ifstream in(root + "/examples/findings.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      v1::Finding finding;
      auto status = google::protobuf::util::JsonStringToMessage(line, &finding);
      if (!status.ok()) {
        std::fprintf(stderr, "bad finding in examples/findings.jsonl: %s\n",
                     status.ToString().c_str());
        std::abort();
      }
      f->findings.push_back(std::move(finding));
    }
    if (f->findings.empty()) {
      std::fprintf(stderr, "examples/findings.jsonl has no findings\n");
      std::abort();
    }
    return f;
  }();
  return *fixture;
}

void BM_Decide(benchmark::State& state) {
  const Fixture& f = GetFixture();
  EvalOptions options;
  options.as_of = absl::FromUnixSeconds(1796083200);  // 2026-12-01T00:00:00Z
  options.trace = state.range(0) != 0;
  v1::Decision decision;
  size_t i = 0;
  for (auto _ : state) {
    auto status = f.policy->Evaluate(f.findings[i], options, &decision);
    if (!status.ok()) {
      state.SkipWithError(std::string(status.message()).c_str());
      break;
    }
    benchmark::DoNotOptimize(decision);
    if (++i == f.findings.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}
BENCHMARK(BM_Decide)->Arg(0)->ArgName("trace");
BENCHMARK(BM_Decide)->Arg(1)->ArgName("trace");

void BM_Compile(benchmark::State& state) {
  const std::string path =
      std::string(TREATD_SOURCE_DIR) + "/policies/default.yaml";
  std::ifstream in(path);
  const std::string yaml((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  for (auto _ : state) {
    auto policy = CompiledPolicy::Compile(yaml, path);
    benchmark::DoNotOptimize(policy);
  }
}
BENCHMARK(BM_Compile);

}  // namespace
}  // namespace treatd

BENCHMARK_MAIN();
