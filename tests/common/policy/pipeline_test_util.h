// Policies, feeds and findings shared by the tests of the decision pipeline,
// revisit conditions and simulation (tests/common/policy/pipeline,
// revisit, simulate). TREATD_SOURCE_DIR is the source tree.
#ifndef TREATD_TESTS_COMMON_POLICY_PIPELINE_TEST_UTIL_H_
#define TREATD_TESTS_COMMON_POLICY_PIPELINE_TEST_UTIL_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "gtest/gtest.h"

namespace treatd::testing_util {

inline constexpr char kKev[] = "CISA KEV 2025.08.25";
inline constexpr char kEpss[] = "FIRST EPSS v2023.03.01 (2024-01-13)";
inline const absl::Time kAsOf =
    absl::FromCivil(absl::CivilDay(2026, 1, 1), absl::UTCTimeZone());

inline constexpr char kIntelPolicy[] = R"yaml(name: intel-test
version: "1"
priorities:
  - name: P1
    mitigate_within: 24h
    remediate_within: 3d
    review_within: 7d
  - name: P3
    remediate_within: 60d
    review_within: 30d
rules:
  - id: kev
    when: vulnerability.kev.listed
    treatment: MITIGATE_THEN_REMEDIATE
    priority: P1
  - id: stale-unscored
    when: 'intel.stale && !has(vulnerability.epss.score)'
    treatment: REMEDIATE
    priority: P1
  - id: old-epss
    when: 'intel.epss_age > duration("3650d")'
    treatment: REMEDIATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P3
)yaml";

inline std::shared_ptr<const CompiledPolicy> MustCompile(
    const std::string& yaml) {
  std::vector<v1::PolicyIssue> issues;
  auto policy = CompiledPolicy::Compile(yaml, "test.yaml", &issues);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : nullptr;
}

inline std::shared_ptr<const intel::IntelSnapshot> ShippedIntel() {
  auto intel = intel::IntelSnapshot::Load(
      {absl::StrCat(TREATD_SOURCE_DIR,
                    "/intel/known_exploited_vulnerabilities.json"),
       absl::StrCat(TREATD_SOURCE_DIR, "/intel/epss_scores_sample.csv")});
  EXPECT_TRUE(intel.ok()) << intel.status();
  return intel.ok() ? *intel : nullptr;
}

inline std::shared_ptr<const DecisionPipeline> MustPipeline(
    std::shared_ptr<const CompiledPolicy> policy,
    std::shared_ptr<const intel::IntelSnapshot> intel,
    IntelSettings settings = {}) {
  auto pipeline =
      DecisionPipeline::Create(std::move(policy), std::move(intel), settings);
  EXPECT_TRUE(pipeline.ok()) << pipeline.status();
  return pipeline.ok() ? *pipeline : nullptr;
}

inline v1::Finding WithCve(const std::string& id, const std::string& cve) {
  v1::Finding finding;
  finding.set_id(id);
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->set_cve_id(cve);
  return finding;
}

inline EvalOptions At(absl::Time t) {
  EvalOptions options;
  options.as_of = t;
  return options;
}

}  // namespace treatd::testing_util

#endif  // TREATD_TESTS_COMMON_POLICY_PIPELINE_TEST_UTIL_H_
