// Finding validation throughput over examples/findings.jsonl.
//
//   build/bench/validation_bench
//   build/bench/validation_bench --benchmark_filter=BM_ValidateValid
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "common/validation/finding_validator.h"
#include "google/protobuf/util/json_util.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/treatment_service.pb.h"

namespace treatd {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "validation_bench: %s\n", what.c_str());
  std::abort();
}

// The example findings: every kind, with nested messages, lists, maps and
// timestamps set. All of them are valid.
const std::vector<v1::Finding>& Findings() {
  static const auto* findings = [] {
    auto* out = new std::vector<v1::Finding>;
    std::ifstream in(std::string(TREATD_SOURCE_DIR) +
                     "/examples/findings.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      v1::Finding finding;
      auto status = google::protobuf::util::JsonStringToMessage(line, &finding);
      if (!status.ok()) Die("bad finding: " + status.ToString());
      out->push_back(std::move(finding));
    }
    if (out->empty()) Die("examples/findings.jsonl has no findings");
    return out;
  }();
  return *findings;
}

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
