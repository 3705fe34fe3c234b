// Revisit conditions on the default policy.
#include "common/policy/revisit/revisit.h"

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/common/policy/pipeline_test_util.h"

namespace treatd {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_util::At;
using testing_util::kAsOf;
using testing_util::MustPipeline;
using testing_util::WithCve;

// --- Revisit conditions on the default policy -------------------------------

v1::Finding Example(const std::string& id) {
  std::ifstream in(absl::StrCat(TREATD_SOURCE_DIR, "/examples/findings.jsonl"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(absl::StrCat("\"", id, "\"")) == std::string::npos) continue;
    v1::Finding finding;
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(line, &finding).ok());
    return finding;
  }
  ADD_FAILURE() << "no example " << id;
  return v1::Finding();
}

class RevisitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto policy = CompiledPolicy::CompileFile(
        absl::StrCat(TREATD_SOURCE_DIR, "/policies/default.yaml"));
    ASSERT_TRUE(policy.ok()) << policy.status();
    pipeline_ = MustPipeline(*policy, nullptr);
  }
  v1::Decision Decide(const v1::Finding& finding) {
    v1::Decision decision;
    absl::Status status = pipeline_->Decide(finding, At(kAsOf), &decision);
    EXPECT_TRUE(status.ok()) << status;
    return decision;
  }
  static std::vector<v1::RevisitKind> Kinds(const v1::Decision& d) {
    std::vector<v1::RevisitKind> kinds;
    for (const auto& c : d.revisit_conditions()) kinds.push_back(c.kind());
    return kinds;
  }
  std::shared_ptr<const DecisionPipeline> pipeline_;
};

// The analysis reuses the lets, tables and scores of the decision that do
// not depend on the fact it changes. It must find exactly what deciding
// every variation from scratch finds, for every example finding and for
// variations of their exposure, fix and EPSS facts.
TEST_F(RevisitTest, ReusedValuesGiveTheSameConditionsAsDecidingFromScratch) {
  std::ifstream in(absl::StrCat(TREATD_SOURCE_DIR, "/examples/findings.jsonl"));
  std::vector<v1::Finding> findings;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    v1::Finding finding;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(line, &finding).ok());
    for (v1::Exposure exposure :
         {v1::EXPOSURE_UNSPECIFIED, v1::EXPOSURE_INTERNET,
          v1::EXPOSURE_INTERNAL, v1::EXPOSURE_ISOLATED}) {
      v1::Finding variant = finding;
      variant.mutable_asset()->set_exposure(exposure);
      findings.push_back(variant);
      variant.mutable_fix()->set_availability(
          v1::FIX_AVAILABILITY_NOT_AVAILABLE);
      findings.push_back(variant);
      variant.mutable_vulnerability()->mutable_epss()->set_score(0.02);
      findings.push_back(variant);
    }
  }
  ASSERT_GT(findings.size(), 100u);
  const CompiledPolicy& policy = pipeline_->policy();
  int with_conditions = 0;
  for (const v1::Finding& finding : findings) {
    SCOPED_TRACE(finding.ShortDebugString());
    const v1::Decision reused = Decide(finding);
    v1::Decision scratch;
    ASSERT_TRUE(policy.Evaluate(finding, At(kAsOf), &scratch).ok());
    ASSERT_TRUE(pipeline_->revisit()
                    .AddConditions(finding, At(kAsOf), &scratch,
                                   /*base=*/nullptr)
                    .ok());
    EXPECT_EQ(reused.SerializeAsString(), scratch.SerializeAsString());
    if (scratch.revisit_conditions_size() > 1) ++with_conditions;
  }
  // The comparison covers decisions whose conditions come from variations.
  EXPECT_GT(with_conditions, 20);
}

TEST_F(RevisitTest, DefaultPolicyComparesEpssWithOneThreshold) {
  EXPECT_THAT(pipeline_->revisit().epss_thresholds(),
              ElementsAre(EpssThreshold{0.1, true}));
}

TEST_F(RevisitTest, NoFixMitigationListsFixAvailableAndReview) {
  const v1::Decision d = Decide(Example("ex-02-dlink-nas-eol"));
  ASSERT_EQ(d.treatment(), v1::TREATMENT_MITIGATE);
  EXPECT_EQ(d.matched_rule(), "no-fix-available");
  ASSERT_THAT(Kinds(d), ElementsAre(v1::REVISIT_KIND_FIX_AVAILABLE,
                                    v1::REVISIT_KIND_REVIEW_DUE));
  EXPECT_EQ(d.revisit_conditions(0).new_treatment(),
            v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_THAT(d.revisit_conditions(0).text(),
              HasSubstr("A fix becomes available"));
  EXPECT_EQ(d.revisit_conditions(1).at().seconds(), d.review_by().seconds());
}

TEST_F(RevisitTest, AcceptanceListsEveryFactThatWouldEndIt) {
  const v1::Decision d = Decide(Example("ex-12-apt-wont-fix"));
  ASSERT_EQ(d.treatment(), v1::TREATMENT_ACCEPT);
  EXPECT_THAT(Kinds(d), ElementsAre(v1::REVISIT_KIND_FIX_AVAILABLE,
                                    v1::REVISIT_KIND_KEV_LISTED,
                                    v1::REVISIT_KIND_EXPOSURE_CHANGED,
                                    v1::REVISIT_KIND_REVIEW_DUE));
  EXPECT_EQ(d.revisit_conditions(2).value(), "EXPOSURE_INTERNET");
}

TEST_F(RevisitTest, ExceptionExpiryIsACondition) {
  const v1::Decision d = Decide(Example("ex-13-terrapin-ot-gateway"));
  ASSERT_EQ(d.match_kind(), v1::MATCH_KIND_EXCEPTION);
  ASSERT_THAT(Kinds(d), Contains(v1::REVISIT_KIND_EXCEPTION_EXPIRES));
  EXPECT_EQ(d.revisit_conditions(0).at().seconds(),
            absl::ToUnixSeconds(absl::FromCivil(absl::CivilDay(2027, 3, 1),
                                                absl::UTCTimeZone())));
}

TEST_F(RevisitTest, EpssThresholdThatEndsAnAcceptance) {
  // SSVC track only while exploitation is "none": EPSS >= 0.1 makes it
  // "public poc" (track*), so the acceptance turns into a mitigation.
  v1::Finding f = WithCve("epss", "CVE-2024-99999");
  f.mutable_vulnerability()->mutable_cvss()->set_score(2.0);
  f.mutable_vulnerability()->mutable_epss()->set_score(0.01);
  f.mutable_vulnerability()->set_automatable(v1::AUTOMATABLE_NO);
  f.mutable_vulnerability()->set_technical_impact(v1::TECHNICAL_IMPACT_PARTIAL);
  f.mutable_asset()->set_criticality(v1::CRITICALITY_HIGH);
  f.mutable_asset()->set_exposure(v1::EXPOSURE_INTERNAL);
  f.mutable_fix()->set_availability(v1::FIX_AVAILABILITY_NOT_AVAILABLE);
  const v1::Decision d = Decide(f);
  ASSERT_EQ(d.treatment(), v1::TREATMENT_ACCEPT);
  const v1::RevisitCondition* epss = nullptr;
  for (const auto& c : d.revisit_conditions()) {
    if (c.kind() == v1::REVISIT_KIND_EPSS_ABOVE) epss = &c;
  }
  ASSERT_NE(epss, nullptr);
  EXPECT_DOUBLE_EQ(epss->threshold(), 0.1);
  EXPECT_EQ(epss->new_treatment(), v1::TREATMENT_MITIGATE);
}

TEST_F(RevisitTest, OtherTreatmentsCarryNoConditions) {
  EXPECT_THAT(
      Decide(Example("ex-01-log4shell-payments-api")).revisit_conditions(),
      IsEmpty());
}

}  // namespace
}  // namespace treatd
