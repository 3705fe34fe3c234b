// The shipped policy, intel and example findings, for tests that compare
// encodings of real decisions (the JSON writer, the server's response
// encoder). TREATD_SOURCE_DIR must be defined by the test's CMake target.
// Header-only test helper; gtest failures on missing or broken files.
#ifndef TREATD_TESTS_COMMON_EXAMPLE_DECISIONS_H_
#define TREATD_TESTS_COMMON_EXAMPLE_DECISIONS_H_

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::testing {

// policies/default.yaml, with the shipped KEV catalog and EPSS sample when
// `with_intel`.
inline std::shared_ptr<const DecisionPipeline> DefaultPolicyPipeline(
    bool with_intel) {
  auto policy = CompiledPolicy::CompileFile(
      absl::StrCat(TREATD_SOURCE_DIR, "/policies/default.yaml"));
  EXPECT_TRUE(policy.ok()) << policy.status();
  std::shared_ptr<const intel::IntelSnapshot> snapshot;
  if (with_intel) {
    auto loaded = intel::IntelSnapshot::Load(
        {absl::StrCat(TREATD_SOURCE_DIR,
                      "/intel/known_exploited_vulnerabilities.json"),
         absl::StrCat(TREATD_SOURCE_DIR, "/intel/epss_scores_sample.csv")});
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    snapshot = *loaded;
  }
  auto pipeline = DecisionPipeline::Create(*policy, snapshot, {});
  EXPECT_TRUE(pipeline.ok()) << pipeline.status();
  return *pipeline;
}

// examples/findings.jsonl, parsed with protobuf's JSON parser.
inline std::vector<v1::Finding> ExampleFindings() {
  std::ifstream in(absl::StrCat(TREATD_SOURCE_DIR, "/examples/findings.jsonl"));
  std::vector<v1::Finding> findings;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    findings.emplace_back();
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(line, &findings.back())
            .ok())
        << line;
  }
  return findings;
}

}  // namespace treatd::testing

#endif  // TREATD_TESTS_COMMON_EXAMPLE_DECISIONS_H_
