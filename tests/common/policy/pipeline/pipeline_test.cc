// `intel.*` names in policies and the decision pipeline's enrichment from
// the shipped feeds.
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/pipeline/decide_item.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
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
using testing_util::kEpss;
using testing_util::kIntelPolicy;
using testing_util::kKev;
using testing_util::MustCompile;
using testing_util::MustPipeline;
using testing_util::ShippedIntel;
using testing_util::WithCve;

TEST(IntelNamesTest, PolicyReadsStaleAndAgesFromEvalOptions) {
  auto policy = MustCompile(kIntelPolicy);
  ASSERT_NE(policy, nullptr);
  v1::Finding finding = WithCve("f", "CVE-2024-99999");
  v1::Decision decision;
  EvalOptions options = At(kAsOf);
  ASSERT_TRUE(policy->Evaluate(finding, options, &decision).ok());
  EXPECT_EQ(decision.matched_rule(), "default");
  options.intel_stale = true;
  ASSERT_TRUE(policy->Evaluate(finding, options, &decision).ok());
  EXPECT_EQ(decision.matched_rule(), "stale-unscored");
  options.intel_stale = false;
  options.intel_epss_age = absl::Hours(24 * 4000);
  ASSERT_TRUE(policy->Evaluate(finding, options, &decision).ok());
  EXPECT_EQ(decision.matched_rule(), "old-epss");
}

TEST(IntelNamesTest, UnknownIntelNameIsReportedWithTheKnownOnes) {
  std::string yaml = kIntelPolicy;
  yaml.replace(yaml.find("intel.stale"), 11, "intel.fresh");
  std::vector<v1::PolicyIssue> issues;
  auto policy = CompiledPolicy::Compile(yaml, "test.yaml", &issues);
  ASSERT_FALSE(policy.ok());
  EXPECT_THAT(std::string(policy.status().message()),
              HasSubstr("use intel.stale, intel.kev_age or intel.epss_age"));
}

// The revisit analysis decides variations of the finding; one the policy
// cannot decide (here: listed in KEV, which the table has no row for) fails
// the decision, and leaves nothing of it in a reused decision.
TEST(DecisionPipelineTest, AFailedRevisitAnalysisLeavesTheDecisionEmpty) {
  auto policy = MustCompile(R"(name: t
priorities: [{name: P1, remediate_within: 1d, review_within: 30d}]
tables:
  - name: kev
    inputs: [{name: listed, expr: vulnerability.kev.listed}]
    rows: [{when: ["no"], then: P1}]
rules:
  - id: accept
    when: asset.id == "a"
    treatment: ACCEPT
    priority_expr: tables.kev
default: {treatment: REMEDIATE, priority: P1}
)");
  ASSERT_NE(policy, nullptr);
  auto pipeline = MustPipeline(policy, nullptr);
  ASSERT_NE(pipeline, nullptr);
  v1::Finding remediated = WithCve("r", "CVE-2024-1");
  remediated.mutable_asset()->set_id("b");
  v1::Finding accepted = WithCve("a", "CVE-2024-2");
  accepted.mutable_asset()->set_id("a");
  v1::Decision decision;
  ASSERT_TRUE(pipeline->Decide(remediated, At(kAsOf), &decision).ok());
  ASSERT_FALSE(decision.decision_id().empty());
  const absl::Status status = pipeline->Decide(accepted, At(kAsOf), &decision);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
  EXPECT_EQ(decision.ByteSizeLong(), 0u) << decision.DebugString();
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_ = MustCompile(kIntelPolicy);
    intel_ = ShippedIntel();
    ASSERT_NE(policy_, nullptr);
    ASSERT_NE(intel_, nullptr);
  }
  v1::Decision Decide(const v1::Finding& finding, IntelSettings settings = {}) {
    auto pipeline = MustPipeline(policy_, intel_, settings);
    v1::Decision decision;
    absl::Status status = pipeline->Decide(finding, At(kAsOf), &decision);
    EXPECT_TRUE(status.ok()) << status;
    return decision;
  }
  std::shared_ptr<const CompiledPolicy> policy_;
  std::shared_ptr<const intel::IntelSnapshot> intel_;
};

TEST_F(PipelineTest, EnrichesFromTheFeedsAndNamesTheirVersions) {
  const v1::Decision d = Decide(WithCve("f", "CVE-2021-44228"));
  EXPECT_EQ(d.matched_rule(), "kev");
  EXPECT_THAT(d.intel().feed_versions(), ElementsAre(kKev, kEpss));
  EXPECT_THAT(d.intel().facts(),
              Contains(absl::StrCat("vulnerability.kev from ", kKev,
                                    " for CVE-2021-44228")));
  EXPECT_THAT(d.intel().facts(),
              Contains(HasSubstr("vulnerability.epss from FIRST EPSS")));
  EXPECT_FALSE(d.intel().stale());
}

TEST_F(PipelineTest, CallerFactsWinUnlessTheFeedWins) {
  v1::Finding finding = WithCve("f", "CVE-2021-44228");
  finding.mutable_vulnerability()->mutable_kev()->set_listed(false);
  const v1::Decision caller = Decide(finding);
  EXPECT_EQ(caller.matched_rule(), "default");
  EXPECT_THAT(caller.intel().caller_facts_kept(),
              Contains(HasSubstr("vulnerability.kev kept from the caller")));
  IntelSettings feed_wins;
  feed_wins.feed_wins = true;
  const v1::Decision feed = Decide(finding, feed_wins);
  EXPECT_EQ(feed.matched_rule(), "kev");
  EXPECT_THAT(feed.intel().caller_facts_kept(), IsEmpty());
}

TEST_F(PipelineTest, SeveralCveIdsUseTheListedOne) {
  v1::Finding finding = WithCve("f", "CVE-1999-0001");
  finding.mutable_vulnerability()->add_aliases("GHSA-xxxx-yyyy-zzzz");
  finding.mutable_vulnerability()->add_aliases("CVE-2021-44228");
  const v1::Decision d = Decide(finding);
  EXPECT_EQ(d.matched_rule(), "kev");
  EXPECT_THAT(d.intel().facts(), Contains(HasSubstr("for CVE-2021-44228")));
}

TEST_F(PipelineTest, CveMissingFromTheFeedsIsNotEnriched) {
  const v1::Decision d = Decide(WithCve("f", "CVE-2024-99999"));
  EXPECT_EQ(d.matched_rule(), "default");
  EXPECT_THAT(d.intel().facts(),
              ElementsAre(absl::StrCat("vulnerability.kev from ", kKev,
                                       ": not listed")));
}

TEST_F(PipelineTest, StaleFeedsAreReportedAndVisibleToThePolicy) {
  IntelSettings settings;
  settings.max_age = absl::Hours(24 * 30);
  const v1::Decision d = Decide(WithCve("f", "CVE-2024-99999"), settings);
  EXPECT_EQ(d.matched_rule(), "stale-unscored");
  EXPECT_TRUE(d.intel().stale());
  EXPECT_EQ(d.intel().stale_feeds_size(), 2);
  EXPECT_THAT(d.intel().stale_feeds(0), HasSubstr(kKev));
  EXPECT_THAT(d.reasons(), Contains(HasSubstr("Threat-intel feeds are stale")));
  // Scored by the (stale) EPSS feed: the stale rule does not apply.
  EXPECT_EQ(Decide(WithCve("f", "CVE-1999-0001"), settings).matched_rule(),
            "default");
}

// --- DecisionView ----------------------------------------------------------

// The FULL decision with what the BASIC view leaves out cleared: what a
// BASIC decision must equal, byte for byte.
v1::DecisionResult BasicPart(v1::DecisionResult result) {
  if (!result.has_decision()) return result;
  v1::Decision* d = result.mutable_decision();
  d->clear_actions();
  d->clear_reasons();
  d->clear_deadline_sources();
  d->clear_intel();
  d->clear_revisit_conditions();
  for (v1::TableOutcome& t : *d->mutable_table_outcomes()) t.clear_inputs();
  if (d->has_exception()) {
    v1::ExceptionRef* e = d->mutable_exception();
    e->clear_approver();
    e->clear_reason();
    e->clear_expires();
    e->clear_ticket();
  }
  return result;
}

// Decides `finding` in the three views and checks that UNSPECIFIED is
// FULL and BASIC is FULL without the parts BASIC leaves out.
void ExpectViewsAgree(const DecisionPipeline& pipeline,
                      const v1::Finding& finding, bool trace) {
  EvalOptions options = At(kAsOf);
  options.trace = trace;
  v1::DecisionResult full, unspecified, basic;
  options.view = v1::DECISION_VIEW_FULL;
  DecideInto(pipeline, finding, options, FindingLimits(), "", &full);
  options.view = v1::DECISION_VIEW_UNSPECIFIED;
  DecideInto(pipeline, finding, options, FindingLimits(), "", &unspecified);
  options.view = v1::DECISION_VIEW_BASIC;
  DecideInto(pipeline, finding, options, FindingLimits(), "", &basic);
  EXPECT_EQ(unspecified.SerializeAsString(), full.SerializeAsString())
      << finding.ShortDebugString();
  EXPECT_EQ(basic.SerializeAsString(), BasicPart(full).SerializeAsString())
      << finding.ShortDebugString() << "\nbasic: " << basic.ShortDebugString();
}

class DecisionViewTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto policy = CompiledPolicy::CompileFile(
        absl::StrCat(TREATD_SOURCE_DIR, "/policies/default.yaml"));
    ASSERT_TRUE(policy.ok()) << policy.status();
    plain_ = MustPipeline(*policy, nullptr);
    intel_ = MustPipeline(*policy, ShippedIntel());
    ASSERT_NE(plain_, nullptr);
    ASSERT_NE(intel_, nullptr);
  }
  std::shared_ptr<const DecisionPipeline> plain_, intel_;
};

TEST_F(DecisionViewTest, BasicIsFullWithoutTheExplanationOnEveryExample) {
  std::ifstream in(absl::StrCat(TREATD_SOURCE_DIR, "/examples/findings.jsonl"));
  std::string line;
  int examples = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    v1::Finding finding;
    ASSERT_TRUE(
        google::protobuf::util::JsonStringToMessage(line, &finding).ok());
    for (bool trace : {false, true}) {
      ExpectViewsAgree(*plain_, finding, trace);
      ExpectViewsAgree(*intel_, finding, trace);
    }
    ++examples;
  }
  EXPECT_GT(examples, 10);
}

TEST_F(DecisionViewTest, BasicIsFullWithoutTheExplanationOnRandomFindings) {
  testing::RandomFindings random(15, {});
  for (int i = 0; i < 2000; ++i) {
    const v1::Finding finding = random.Next();
    ExpectViewsAgree(*plain_, finding, /*trace=*/i % 7 == 0);
    ExpectViewsAgree(*intel_, finding, /*trace=*/false);
  }
}

TEST_F(DecisionViewTest, BasicBuildsNoneOfTheLeftOutFields) {
  // The KEV example: a MITIGATE_THEN_REMEDIATE decision with actions,
  // reasons, deadline sources and intel in FULL.
  v1::Finding finding = WithCve("kev-1", "CVE-2025-48384");
  finding.mutable_asset()->set_exposure(v1::EXPOSURE_INTERNET);
  EvalOptions options = At(kAsOf);
  v1::Decision full, basic;
  ASSERT_TRUE(intel_->Decide(finding, options, &full).ok());
  options.view = v1::DECISION_VIEW_BASIC;
  ASSERT_TRUE(intel_->Decide(finding, options, &basic).ok());
  EXPECT_FALSE(full.reasons().empty());
  EXPECT_FALSE(full.deadline_sources().empty());
  EXPECT_TRUE(full.has_intel());
  EXPECT_TRUE(basic.reasons().empty());
  EXPECT_TRUE(basic.actions().empty());
  EXPECT_TRUE(basic.deadline_sources().empty());
  EXPECT_FALSE(basic.has_intel());
  EXPECT_EQ(basic.residual_risk(), full.residual_risk());
  EXPECT_EQ(basic.treatment(), full.treatment());
  EXPECT_EQ(basic.decision_id(), full.decision_id());
  EXPECT_EQ(basic.remediate_by().seconds(), full.remediate_by().seconds());
}

}  // namespace
}  // namespace treatd
