// Policy simulation (what-if) with exact counts.
#include "common/policy/simulate/simulate.h"

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/policy/pipeline_test_util.h"

namespace treatd {
namespace {

using testing_util::At;
using testing_util::kAsOf;
using testing_util::MustCompile;
using testing_util::MustPipeline;
using testing_util::WithCve;

// --- Simulation
// ---------------------------------------------------------------

constexpr char kOld[] = R"yaml(name: old
version: "1"
priorities:
  - name: P1
    mitigate_within: 24h
    remediate_within: 3d
    review_within: 7d
  - name: P2
    remediate_within: 14d
  - name: P4
    remediate_within: 90d
rules:
  - id: kev
    when: vulnerability.kev.listed
    treatment: MITIGATE_THEN_REMEDIATE
    priority: P1
default:
  treatment: REMEDIATE
  priority: P4
)yaml";

constexpr char kNew[] = R"yaml(name: new
version: "2"
priorities:
  - name: P1
    mitigate_within: 24h
    remediate_within: 3d
    review_within: 7d
  - name: P2
    remediate_within: 14d
  - name: P4
    remediate_within: 90d
rules:
  - id: kev-remediate
    when: vulnerability.kev.listed
    treatment: REMEDIATE
    priority: P1
  - id: internet
    when: asset.exposure == "INTERNET"
    treatment: REMEDIATE
    priority: P2
default:
  treatment: REMEDIATE
  priority: P4
)yaml";

std::vector<v1::Finding> SimulationFindings() {
  std::vector<v1::Finding> findings;
  findings.push_back(WithCve("kev-1", "CVE-2024-0001"));
  findings.back().mutable_vulnerability()->mutable_kev()->set_listed(true);
  findings.push_back(WithCve("kev-2", "CVE-2024-0002"));
  findings.back().mutable_vulnerability()->mutable_kev()->set_listed(true);
  findings.push_back(WithCve("internet", "CVE-2024-0003"));
  findings.back().mutable_asset()->set_exposure(v1::EXPOSURE_INTERNET);
  findings.push_back(WithCve("plain", "CVE-2024-0004"));
  findings.push_back(WithCve("", "CVE-2024-0005"));  // Invalid: no id.
  return findings;
}

TEST(SimulateTest, CountsChangesTransitionsMovedFindingsAndWorkload) {
  auto old_pipeline = MustPipeline(MustCompile(kOld), nullptr);
  auto new_pipeline = MustPipeline(MustCompile(kNew), nullptr);
  const std::vector<v1::Finding> findings = SimulationFindings();
  std::vector<const v1::Finding*> pointers;
  for (const auto& f : findings) pointers.push_back(&f);
  const v1::SimulationReport r =
      Simulate(*old_pipeline, *new_pipeline, pointers, At(kAsOf), {}, 100);
  EXPECT_EQ(r.findings(), 5);
  EXPECT_EQ(r.changed(), 3);
  EXPECT_EQ(r.unchanged(), 1);
  EXPECT_EQ(r.errors(), 1);
  ASSERT_EQ(r.transitions_size(), 2);
  EXPECT_EQ(r.transitions(0).from_treatment(),
            v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_EQ(r.transitions(0).to_treatment(), v1::TREATMENT_REMEDIATE);
  EXPECT_EQ(r.transitions(0).to_priority(), "P1");
  EXPECT_EQ(r.transitions(0).count(), 2);
  EXPECT_EQ(r.transitions(1).from_priority(), "P4");
  EXPECT_EQ(r.transitions(1).to_priority(), "P2");
  EXPECT_EQ(r.transitions(1).count(), 1);
  ASSERT_EQ(r.moved_size(), 3);
  EXPECT_EQ(r.moved(2).finding_id(), "internet");
  EXPECT_EQ(r.moved(2).from_rule(), "default");
  EXPECT_EQ(r.moved(2).to_rule(), "internet");
  EXPECT_FALSE(r.moved_truncated());
  // Old: 2 x 3 days (KEV), 2 x 90 days. New: 2 x 3 days, 14 days, 90 days.
  EXPECT_EQ(r.baseline_workload().within_3_days(), 2);
  EXPECT_EQ(r.baseline_workload().within_14_days(), 0);
  EXPECT_EQ(r.baseline_workload().beyond_60_days(), 2);
  EXPECT_EQ(r.candidate_workload().within_3_days(), 2);
  EXPECT_EQ(r.candidate_workload().within_14_days(), 1);
  EXPECT_EQ(r.candidate_workload().beyond_60_days(), 1);

  const v1::SimulationReport limited =
      Simulate(*old_pipeline, *new_pipeline, pointers, At(kAsOf), {}, 1);
  EXPECT_EQ(limited.changed(), 3);
  EXPECT_EQ(limited.moved_size(), 1);
  EXPECT_TRUE(limited.moved_truncated());
}

}  // namespace
}  // namespace treatd
