// The what-if layer over the engine: `intel.*` names in policies, the
// decision pipeline's enrichment from the shipped feeds, revisit conditions
// on the default policy, and policy simulation with exact counts.
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "common/intel/intel_snapshot.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "common/policy/revisit/revisit.h"
#include "common/policy/simulate/simulate.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace treatd {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kKev[] = "CISA KEV 2025.08.25";
constexpr char kEpss[] = "FIRST EPSS v2023.03.01 (2024-01-13)";
const absl::Time kAsOf =
    absl::FromCivil(absl::CivilDay(2026, 1, 1), absl::UTCTimeZone());

constexpr char kIntelPolicy[] = R"yaml(name: intel-test
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

std::shared_ptr<const CompiledPolicy> MustCompile(const std::string& yaml) {
  std::vector<v1::PolicyIssue> issues;
  auto policy = CompiledPolicy::Compile(yaml, "test.yaml", &issues);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? *policy : nullptr;
}

std::shared_ptr<const intel::IntelSnapshot> ShippedIntel() {
  auto intel = intel::IntelSnapshot::Load(
      {absl::StrCat(TREATD_SOURCE_DIR,
                    "/intel/known_exploited_vulnerabilities.json"),
       absl::StrCat(TREATD_SOURCE_DIR, "/intel/epss_scores_sample.csv")});
  EXPECT_TRUE(intel.ok()) << intel.status();
  return intel.ok() ? *intel : nullptr;
}

std::shared_ptr<const DecisionPipeline> MustPipeline(
    std::shared_ptr<const CompiledPolicy> policy,
    std::shared_ptr<const intel::IntelSnapshot> intel,
    IntelSettings settings = {}) {
  auto pipeline =
      DecisionPipeline::Create(std::move(policy), std::move(intel), settings);
  EXPECT_TRUE(pipeline.ok()) << pipeline.status();
  return pipeline.ok() ? *pipeline : nullptr;
}

v1::Finding WithCve(const std::string& id, const std::string& cve) {
  v1::Finding finding;
  finding.set_id(id);
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->set_cve_id(cve);
  return finding;
}

EvalOptions At(absl::Time t) {
  EvalOptions options;
  options.as_of = t;
  return options;
}

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
