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
#include "tests/common/example_decisions.h"
#include "tests/common/policy/pipeline_test_util.h"
#include "tests/common/random_finding.h"

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

// --- Replayed variations (EvaluationMemo::core_key)
// ---------------------------

// Findings that share a core key replay the outcomes of the variations
// the first one decided; only the texts are built per finding. Every
// decision must equal the one made without the core cache (no key, every
// variation decided), also for findings that differ only in what the
// conditions quote (the VEX author, the CVE id) or in what the policy
// reads outside its core (ids, titles, asset ids), with and without
// feeds, at as_ofs on both sides of an exception's expiry.
TEST(RevisitReplayTest, ReplayedConditionsEqualDecidedOnes) {
  auto policy = CompiledPolicy::CompileFile(
      absl::StrCat(TREATD_SOURCE_DIR, "/policies/default.yaml"));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const std::vector<std::shared_ptr<const DecisionPipeline>> pipelines = {
      MustPipeline(*policy, testing_util::ShippedIntel()),
      MustPipeline(*policy, nullptr)};
  std::vector<v1::Finding> findings;
  auto add = [&](v1::Finding f) {
    // Each finding with variants right after it, so that they meet its
    // kept outcomes.
    findings.push_back(f);
    f.set_id(absl::StrCat(f.id(), "-b"));
    f.set_title(absl::StrCat("another ", f.title()));
    f.mutable_asset()->set_id(absl::StrCat(f.asset().id(), "-b"));
    findings.push_back(f);
    f.mutable_vex()->set_author(absl::StrCat("Other ", f.vex().author()));
    findings.push_back(f);
    if (!f.vulnerability().cve_id().empty()) {
      f.mutable_vulnerability()->set_cve_id(
          absl::StrCat(f.vulnerability().cve_id(), "9"));
      findings.push_back(f);
    }
  };
  for (v1::Finding finding : testing::ExampleFindings()) {
    add(finding);
    // Under investigation, and revised with and without a reason.
    finding.mutable_vex()->set_status(v1::VEX_STATUS_UNDER_INVESTIGATION);
    add(finding);
    finding.mutable_vex()->set_status(v1::VEX_STATUS_AFFECTED);
    finding.mutable_vex()->set_impact_statement("");
    finding.mutable_vex()->set_justification_label("");
    finding.mutable_vex()->clear_justification();
    add(finding);
  }
  testing::RandomFindingOptions options;
  options.set_percent = 35;
  testing::RandomFindings gen(20261207, options);
  for (int i = 0; i < 400; ++i) {
    v1::Finding f = gen.Next();
    if (gen.Chance(50)) {
      f.mutable_fix()->set_availability(v1::FIX_AVAILABILITY_NOT_AVAILABLE);
    }
    if (gen.Chance(10)) {
      f.mutable_vulnerability()->set_cve_id("CVE-2023-48795");
      f.mutable_asset()->set_id("ot-gateway-04");
    }
    add(f);
  }
  auto day = [](int y, int m, int d) {
    return absl::FromCivil(absl::CivilDay(y, m, d), absl::UTCTimeZone());
  };
  // EXC-2026-031 expires on 2027-03-01, EXC-2025-112 on 2026-06-30.
  const absl::Time as_ofs[] = {kAsOf, day(2027, 2, 28), day(2027, 3, 1),
                               day(2026, 6, 30)};
  const uint64_t replays_before = RevisitAnalyzer::ThreadReplays();
  int with_conditions = 0;
  for (size_t i = 0; i < findings.size(); ++i) {
    for (const auto& pipeline : pipelines) {
      for (const absl::Time as_of : as_ofs) {
        EvalOptions cached = At(as_of);
        v1::Decision replayed;
        const absl::Status a = pipeline->Decide(findings[i], cached, &replayed);
        EvalOptions plain = cached;
        plain.use_core_cache = false;
        v1::Decision decided;
        const absl::Status b = pipeline->Decide(findings[i], plain, &decided);
        ASSERT_EQ(a, b);
        if (replayed.SerializeAsString() != decided.SerializeAsString()) {
          FAIL() << "finding " << i << " at " << absl::FormatTime(as_of) << "\n"
                 << findings[i].ShortDebugString()
                 << "\nreplayed: " << replayed.DebugString()
                 << "\ndecided: " << decided.DebugString();
        }
        if (decided.revisit_conditions_size() > 1) ++with_conditions;
      }
    }
  }
  // Both paths ran, over decisions with conditions from variations.
  EXPECT_GT(RevisitAnalyzer::ThreadReplays() - replays_before,
            findings.size() / 2);
  EXPECT_GT(with_conditions, 200);
}

}  // namespace
}  // namespace treatd
