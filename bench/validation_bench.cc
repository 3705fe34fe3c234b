// Finding validation throughput over examples/findings.jsonl.
//
//   build/bench/validation_bench
//   build/bench/validation_bench --benchmark_filter=BM_ValidateValid
#include <string>
#include <vector>

#include "bench/bench_data.h"
#include "benchmark/benchmark.h"
#include "common/validation/finding_validator.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {
namespace {

using bench::Die;

const std::vector<v1::Finding>& Findings() { return bench::ExampleFindings(); }

// The example findings with one problem each: a CVSS score out of range.
const std::vector<v1::Finding>& InvalidFindings() {
  static const auto* findings = [] {
    auto* out = new std::vector<v1::Finding>(Findings());
    for (v1::Finding& finding : *out) {
      finding.mutable_vulnerability()->mutable_cvss()->set_score(11.0);
    }
    return out;
  }();
  return *findings;
}

void ValidateAll(benchmark::State& state,
                 const std::vector<v1::Finding>& findings, bool want_ok) {
  const FindingLimits limits;
  for (auto _ : state) {
    for (const v1::Finding& finding : findings) {
      absl::Status status = ValidateFinding(finding, limits);
      if (status.ok() != want_ok) Die("unexpected: " + status.ToString());
      benchmark::DoNotOptimize(status);
    }
  }
  state.SetItemsProcessed(state.iterations() *
                          static_cast<int64_t>(findings.size()));
}

// The server's common case: every finding is valid.
void BM_ValidateValid(benchmark::State& state) {
  ValidateAll(state, Findings(), true);
}
BENCHMARK(BM_ValidateValid);

// Rejected findings: the full report with field paths.
void BM_ValidateInvalid(benchmark::State& state) {
  ValidateAll(state, InvalidFindings(), false);
}
BENCHMARK(BM_ValidateInvalid);

}  // namespace
}  // namespace treatd

BENCHMARK_MAIN();
