#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/policy/engine/compiled_policy.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"
#include "xxhash.h"

namespace treatd {
namespace {

constexpr absl::string_view kPolicy = R"(name: test
version: "2026.1"
priorities:
  - {name: P1, mitigate_within: 24h, remediate_within: 7d, review_within: 7d}
  - {name: P2, mitigate_within: 3d, remediate_within: 30d, review_within: 30d}
  - {name: P3, remediate_within: 90d, review_within: 90d}
let:
  exploited: vulnerability.kev.listed || vulnerability.exploit_maturity == "ACTIVE"
  internet: asset.exposure == "INTERNET"
tables:
  - name: ssvc
    inputs:
      - {name: exploitation, expr: vulnerability.exploit_maturity}
      - {name: automatable, expr: vulnerability.automatable == "YES"}
    rows:
      - {when: [ACTIVE, yes], then: act}
      - {when: [ACTIVE, "*"], then: attend}
    default: track
risk:
  inherent: 'has(vulnerability.cvss.score) ? vulnerability.cvss.score * 1.2 : 5.0'
  residual: 'compensating_controls.exists(c, c.effectiveness == "FULL") ? risk.inherent * 0.2 : risk.inherent'
rules:
  - id: kev-internet
    when: exploited && internet
    treatment: MITIGATE_THEN_REMEDIATE
    priority_expr: 'tables.ssvc == "act" ? "P1" : "P2"'
    actions: [waf-rule, upgrade-package, watch]
    reason: "{{vulnerability.cve_id}} is exploited and {{asset.id}} faces the internet"
  - id: broken-index
    when: package.fixed_versions[3] == "x"
    treatment: REMEDIATE
    priority: P1
  - id: low-risk
    when: vulnerability.cvss.score < 4.0 && has(vulnerability.cvss.score)
    treatment: ACCEPT
    priority: P3
    review_within: 14d
    actions: [watch]
default:
  treatment: REMEDIATE
  priority: P3
  actions: [upgrade-package]
  reason: "Fix {{package.fixed_versions[0]}} when convenient"
exceptions:
  - id: EXC-OLD
    when: asset.id == "kiosk-7"
    approver: ciso@example.com
    reason: Kiosk is offline
    expires: 2026-01-31T00:00:00Z
  - id: EXC-NEW
    when: asset.id == "kiosk-7" || asset.id == "kiosk-8"
    approver: ciso@example.com
    reason: Replaced in Q1
    ticket: SEC-1
    expires: 2027-03-31T00:00:00Z
    actions: [watch]
actions:
  - id: upgrade-package
    category: REMEDIATION
    when: size(package.fixed_versions) > 0
    text: "Upgrade {{package.name}} {{package.installed_version}} to {{package.fixed_versions[0]}}"
  - id: waf-rule
    category: MITIGATION
    text: "Block {{vulnerability.cve_id}} at the WAF in front of {{asset.id}}"
  - id: watch
    category: MONITORING
    text: 'Watch {{asset.id}} ({{attributes["missing"]}})'
)";

// 2026-12-01T00:00:00Z.
const absl::Time kAsOf = absl::FromUnixSeconds(1796083200);

std::shared_ptr<const CompiledPolicy> Policy() {
  static auto* policy = [] {
    std::vector<v1::PolicyIssue> issues;
    auto p = CompiledPolicy::Compile(kPolicy, "test.yaml", &issues);
    EXPECT_TRUE(p.ok()) << p.status();
    return new std::shared_ptr<const CompiledPolicy>(p.ok() ? *p : nullptr);
  }();
  return *policy;
}

v1::Finding Finding(absl::string_view text) {
  v1::Finding f;
  EXPECT_TRUE(
      google::protobuf::TextFormat::ParseFromString(std::string(text), &f));
  return f;
}

constexpr absl::string_view kLog4Shell = R"pb(
  id: "f-1"
  kind: FINDING_KIND_VULNERABILITY
  vulnerability {
    cve_id: "CVE-2021-44228"
    cvss { score: 10.0 }
    kev {
      listed: true
      due_date { seconds: 1796342400 }
    }  # 2026-12-04
    exploit_maturity: EXPLOIT_MATURITY_ACTIVE
    automatable: AUTOMATABLE_YES
  }
  package {
    name: "log4j-core"
    installed_version: "2.14.1"
    fixed_versions: "2.17.1"
  }
  asset { id: "payments-api" exposure: EXPOSURE_INTERNET }
  first_seen { seconds: 1795910400 }  # 2026-11-29T00:00:00Z
)pb";

v1::Decision Decide(const v1::Finding& f, bool trace = false,
                    absl::Time as_of = kAsOf) {
  v1::Decision d;
  EvalOptions options;
  options.as_of = as_of;
  options.trace = trace;
  const absl::Status status = Policy()->Evaluate(f, options, &d);
  EXPECT_TRUE(status.ok()) << status;
  return d;
}

std::string Time(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                          absl::FromUnixSeconds(t.seconds()),
                          absl::UTCTimeZone());
}

TEST(EvaluateTest, FirstMatchingRuleDecidesWithPriorityFromTable) {
  const v1::Decision d = Decide(Finding(kLog4Shell));
  EXPECT_EQ(d.match_kind(), v1::MATCH_KIND_RULE);
  EXPECT_EQ(d.matched_rule(), "kev-internet");
  EXPECT_EQ(d.treatment(), v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_EQ(d.priority(), "P1");
  EXPECT_EQ(d.priority_rank(), 1);
  EXPECT_EQ(d.finding_id(), "f-1");
  ASSERT_EQ(d.table_outcomes_size(), 1);
  EXPECT_EQ(d.table_outcomes(0).table(), "ssvc");
  EXPECT_EQ(d.table_outcomes(0).outcome(), "act");
  EXPECT_EQ(d.table_outcomes(0).row(), 0);
  EXPECT_EQ(absl::StrJoin(d.table_outcomes(0).inputs(), ","), "ACTIVE,true");
}

TEST(EvaluateTest, SlaClockStartsAtFirstSeenAndKevDueDateWinsWhenEarlier) {
  const v1::Decision d = Decide(Finding(kLog4Shell));
  // first_seen 2026-11-29 + 24h; + 7d would be 2026-12-06 but KEV says 12-04.
  EXPECT_EQ(Time(d.mitigate_by()), "2026-11-30T00:00:00Z");
  EXPECT_EQ(Time(d.remediate_by()), "2026-12-04T00:00:00Z");
  EXPECT_FALSE(d.has_review_by());
  EXPECT_EQ(
      absl::StrJoin(d.deadline_sources(), "\n"),
      "mitigate_by: priority P1 mitigate_within 1d from first_seen\n"
      "remediate_by: CISA KEV due date 2026-12-04T00:00:00Z (earlier than "
      "P1 remediate_within 7d from first_seen)");
}

TEST(EvaluateTest, KevDueDateLaterThanSlaDoesNotMoveTheDeadline) {
  v1::Finding f = Finding(kLog4Shell);
  f.mutable_vulnerability()->mutable_kev()->mutable_due_date()->set_seconds(
      1798761600);  // 2027-01-01
  const v1::Decision d = Decide(f);
  EXPECT_EQ(Time(d.remediate_by()), "2026-12-06T00:00:00Z");
}

TEST(EvaluateTest, SlaClockStartsAtAsOfWithoutFirstSeen) {
  v1::Finding f = Finding(kLog4Shell);
  f.clear_first_seen();
  f.mutable_vulnerability()->mutable_kev()->clear_due_date();
  const v1::Decision d = Decide(f);
  EXPECT_EQ(Time(d.mitigate_by()), "2026-12-02T00:00:00Z");
  EXPECT_EQ(Time(d.remediate_by()), "2026-12-08T00:00:00Z");
}

// Found by the exporter differential test: a finding first seen on the
// last day a Timestamp can hold got deadlines past year 9999, which the
// JSONL exporter could not write and the CSV exporter wrote as
// "InvalidTime". Deadlines are clamped to the Timestamp range.
TEST(EvaluateTest, DeadlinesPastYear9999AreClampedToTheTimestampRange) {
  v1::Finding f = Finding(kLog4Shell);
  f.mutable_first_seen()->set_seconds(253402300799);  // 9999-12-31T23:59:59Z
  f.mutable_vulnerability()->mutable_kev()->clear_due_date();
  const v1::Decision d = Decide(f);
  EXPECT_EQ(d.mitigate_by().seconds(), 253402300799);
  EXPECT_EQ(d.mitigate_by().nanos(), 999999999);
  EXPECT_EQ(d.remediate_by().seconds(), 253402300799);
  std::string json;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(d, &json).ok());
  EXPECT_NE(json.find("\"mitigateBy\":\"9999-12-31T23:59:59.999999999Z\""),
            std::string::npos)
      << json;
}

TEST(EvaluateTest, RendersActionsWithDueDatesAndSkipsActionsWhoseWhenFails) {
  const v1::Decision d = Decide(Finding(kLog4Shell));
  ASSERT_EQ(d.actions_size(), 3);
  EXPECT_EQ(d.actions(0).id(), "waf-rule");
  EXPECT_EQ(d.actions(0).text(),
            "Block CVE-2021-44228 at the WAF in front of payments-api");
  EXPECT_EQ(Time(d.actions(0).due_by()), "2026-11-30T00:00:00Z");
  EXPECT_EQ(d.actions(1).text(), "Upgrade log4j-core 2.14.1 to 2.17.1");
  EXPECT_EQ(Time(d.actions(1).due_by()), "2026-12-04T00:00:00Z");
  // A failing placeholder renders "?"; monitoring without review_by has no
  // due date.
  EXPECT_EQ(d.actions(2).text(), "Watch payments-api (?)");
  EXPECT_FALSE(d.actions(2).has_due_by());

  v1::Finding no_fix = Finding(kLog4Shell);
  no_fix.mutable_package()->clear_fixed_versions();
  const v1::Decision d2 = Decide(no_fix);
  ASSERT_EQ(d2.actions_size(), 2);
  EXPECT_EQ(d2.actions(1).id(), "watch");
}

TEST(EvaluateTest, ComputesAndClampsRisk) {
  v1::Finding f = Finding(kLog4Shell);
  EXPECT_DOUBLE_EQ(Decide(f).inherent_risk(), 10.0);  // 12 clamped.
  auto* control = f.add_compensating_controls();
  control->set_effectiveness(v1::CONTROL_EFFECTIVENESS_FULL);
  const v1::Decision d = Decide(f);
  EXPECT_DOUBLE_EQ(d.residual_risk(), 2.0);
  EXPECT_DOUBLE_EQ(Decide(v1::Finding()).inherent_risk(), 5.0);
}

TEST(EvaluateTest, ReasonsStartWithTheRuleReason) {
  const v1::Decision d = Decide(Finding(kLog4Shell));
  ASSERT_GE(d.reasons_size(), 3);
  EXPECT_EQ(d.reasons(0),
            "CVE-2021-44228 is exploited and payments-api faces the internet");
  EXPECT_EQ(d.reasons(1),
            "Rule kev-internet matched: `exploited && internet`; "
            "MITIGATE_THEN_REMEDIATE with priority P1");
  EXPECT_EQ(d.reasons(2),
            "The CISA KEV due date 2026-12-04T00:00:00Z comes before the P1 "
            "deadline and sets remediate_by");
}

TEST(EvaluateTest, DefaultDecidesWhenNoRuleMatches) {
  const v1::Decision d = Decide(Finding(R"pb(
    id: "f-2"
    package { fixed_versions: "1.2" }
    asset { id: "db" }
  )pb"));
  EXPECT_EQ(d.match_kind(), v1::MATCH_KIND_DEFAULT);
  EXPECT_EQ(d.matched_rule(), "default");
  EXPECT_EQ(d.treatment(), v1::TREATMENT_REMEDIATE);
  EXPECT_EQ(d.priority(), "P3");
  EXPECT_EQ(Time(d.remediate_by()), "2027-03-01T00:00:00Z");
  EXPECT_EQ(d.reasons(0), "Fix 1.2 when convenient");
  EXPECT_EQ(d.reasons(1),
            "No rule matched; the default applies: REMEDIATE with priority P3");
  EXPECT_EQ(d.table_outcomes(0).outcome(), "track");
  EXPECT_EQ(d.table_outcomes(0).row(), -1);
}

// Placeholders that are a plain string field are read straight through
// the field's accessors (text_template.cc); they must render what the
// same field renders through the expression evaluator ('' + field), set,
// empty, or in a sub-message the finding does not have.
TEST(EvaluateTest, PlainFieldPlaceholdersRenderAsEvaluatedOnes) {
  auto policy = CompiledPolicy::Compile(R"(name: t
priorities: [{name: P1, remediate_within: 1d}]
default:
  treatment: REMEDIATE
  priority: P1
  reason: "{{asset.id}}|{{title}}|{{malware.family}}|{{vulnerability.cvss.vector}}|{{asset.owner}}#{{'' + asset.id}}|{{'' + title}}|{{'' + malware.family}}|{{'' + vulnerability.cvss.vector}}|{{'' + asset.owner}}"
)",
                                        "t.yaml");
  ASSERT_TRUE(policy.ok()) << policy.status();
  int checked = 0;
  for (absl::string_view text :
       {kLog4Shell, absl::string_view(), absl::string_view(R"pb(
          title: "Ünïcode — title"
          malware { family: "Emotet" }
          vulnerability { cvss { vector: "CVSS:3.1/AV:N" } }
          asset { owner: "" }
        )pb")}) {
    v1::Decision d;
    EvalOptions options;
    options.as_of = kAsOf;
    ASSERT_TRUE((*policy)->Evaluate(Finding(text), options, &d).ok());
    ASSERT_GE(d.reasons_size(), 1);
    const std::vector<std::string> halves = absl::StrSplit(d.reasons(0), '#');
    ASSERT_EQ(halves.size(), 2u) << d.reasons(0);
    EXPECT_EQ(halves[0], halves[1]);
    ++checked;
  }
  EXPECT_EQ(checked, 3);
}

TEST(EvaluateTest, AcceptAlwaysCarriesReviewBy) {
  const v1::Decision d = Decide(Finding(R"pb(
    id: "f-3"
    vulnerability { cvss { score: 3.1 } }
    asset { id: "db" }
  )pb"));
  EXPECT_EQ(d.matched_rule(), "low-risk");
  EXPECT_EQ(d.treatment(), v1::TREATMENT_ACCEPT);
  EXPECT_EQ(Time(d.review_by()), "2026-12-15T00:00:00Z");
  EXPECT_FALSE(d.has_remediate_by());
  ASSERT_EQ(d.actions_size(), 1);
  EXPECT_EQ(Time(d.actions(0).due_by()), "2026-12-15T00:00:00Z");
}

TEST(EvaluateTest, UnexpiredExceptionReplacesTreatmentAndNamesExpiredOne) {
  v1::Finding f = Finding(kLog4Shell);
  f.mutable_asset()->set_id("kiosk-7");
  const v1::Decision d = Decide(f);
  EXPECT_EQ(d.match_kind(), v1::MATCH_KIND_EXCEPTION);
  EXPECT_EQ(d.matched_rule(), "kev-internet");
  EXPECT_EQ(d.treatment(), v1::TREATMENT_ACCEPT);
  EXPECT_EQ(d.exception().id(), "EXC-NEW");
  EXPECT_TRUE(d.exception().applied());
  EXPECT_EQ(d.exception().ticket(), "SEC-1");
  EXPECT_EQ(Time(d.review_by()), "2027-03-31T00:00:00Z");
  EXPECT_FALSE(d.has_mitigate_by());
  ASSERT_EQ(d.actions_size(), 1);
  EXPECT_EQ(d.actions(0).id(), "watch");
  const std::string reasons = absl::StrJoin(d.reasons(), "\n");
  EXPECT_NE(reasons.find("Exception EXC-NEW applies: ACCEPT approved by "
                         "ciso@example.com until 2027-03-31T00:00:00Z"),
            std::string::npos);
  EXPECT_NE(reasons.find("Exception EXC-OLD matches but expired on "
                         "2026-01-31T00:00:00Z; it does not apply"),
            std::string::npos);
}

TEST(EvaluateTest, ExpiredExceptionDoesNotApplyButIsNamed) {
  v1::Finding f = Finding(kLog4Shell);
  f.mutable_asset()->set_id("kiosk-8");
  // After EXC-NEW's expiry as well.
  const v1::Decision d = Decide(f, false, absl::FromUnixSeconds(1806624000));
  EXPECT_EQ(d.match_kind(), v1::MATCH_KIND_RULE);
  EXPECT_EQ(d.treatment(), v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_EQ(d.exception().id(), "EXC-NEW");
  EXPECT_FALSE(d.exception().applied());
}

// DecideTreatment is what the revisit analysis decides flipped findings
// with: it must choose exactly what Evaluate() chooses, for rules, the
// default, priority_expr and exceptions.
TEST(EvaluateTest, DecideTreatmentAgreesWithEvaluate) {
  struct Case {
    const char* asset;
    double cvss;
    absl::Time as_of;
  };
  const Case cases[] = {
      {"payments-api", 10.0, kAsOf},                         // kev-internet
      {"kiosk-7", 10.0, kAsOf},                              // EXC-NEW applies
      {"kiosk-8", 10.0, absl::FromUnixSeconds(1806624000)},  // expired
      {"batch-1", 3.0, kAsOf},                               // low-risk
      {"batch-2", 7.0, kAsOf},                               // default
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.asset);
    v1::Finding f = Finding(kLog4Shell);
    f.mutable_asset()->set_id(c.asset);
    f.mutable_vulnerability()->mutable_cvss()->set_score(c.cvss);
    if (absl::string_view(c.asset).substr(0, 5) == "batch") {
      f.mutable_asset()->set_exposure(v1::EXPOSURE_INTERNAL);
    }
    const v1::Decision d = Decide(f, false, c.as_of);
    EvalOptions options;
    options.as_of = c.as_of;
    TreatmentOutcome outcome;
    ASSERT_TRUE(Policy()->DecideTreatment(f, options, &outcome).ok());
    EXPECT_EQ(outcome.treatment, d.treatment());
    EXPECT_EQ(outcome.priority, d.priority());
    EXPECT_EQ(outcome.priority_rank, d.priority_rank());
    EXPECT_EQ(outcome.matched_rule, d.matched_rule());
    EXPECT_EQ(outcome.match_kind, d.match_kind());
  }
}

TEST(EvaluateTest, TraceExplainsWhyEarlierRulesDidNotMatch) {
  v1::Finding f = Finding(R"pb(
    id: "f-4"
    vulnerability {
      cvss { score: 2.0 }
      kev { listed: true }
    }
    asset { id: "db" exposure: EXPOSURE_INTERNAL }
  )pb");
  const v1::Decision d = Decide(f, /*trace=*/true);
  ASSERT_EQ(d.trace_size(), 3);
  EXPECT_EQ(d.trace(0).rule(), "kev-internet");
  EXPECT_FALSE(d.trace(0).matched());
  EXPECT_EQ(d.trace(0).explanation(), "`internet` is false");
  EXPECT_EQ(
      d.trace(1).explanation(),
      "`package.fixed_versions[3] == \"x\"` failed: index 3 out of range "
      "for a list of size 0: package.fixed_versions[3] failed: index 3 out "
      "of range for a list of size 0");
  EXPECT_TRUE(d.trace(2).matched());
  EXPECT_EQ(d.trace(2).rule(), "low-risk");
  EXPECT_TRUE(Decide(f).trace().empty());
}

TEST(EvaluateTest, TraceNamesFirstFalseConjunctWithOperandValues) {
  v1::Finding f = Finding(R"pb(
    id: "f-5"
    vulnerability { cvss { score: 5.0 } }
  )pb");
  const v1::Decision d = Decide(f, /*trace=*/true);
  ASSERT_EQ(d.trace_size(), 3);
  EXPECT_EQ(
      d.trace(2).explanation(),
      "`vulnerability.cvss.score < 4.0` is false: vulnerability.cvss.score "
      "is 5");
}

TEST(EvaluateTest, DecisionIdIsDeterministicAndDependsOnInputs) {
  const v1::Finding f = Finding(kLog4Shell);
  const v1::Decision a = Decide(f);
  const v1::Decision b = Decide(f);
  EXPECT_EQ(a.decision_id().size(), 32u);
  EXPECT_EQ(a.decision_id(), b.decision_id());
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());
  EXPECT_NE(Decide(f, false, kAsOf + absl::Seconds(1)).decision_id(),
            a.decision_id());
  v1::Finding g = f;
  g.set_title("changed");
  EXPECT_NE(Decide(g).decision_id(), a.decision_id());
  EXPECT_EQ(a.policy().name(), "test");
  EXPECT_EQ(a.policy().digest(), Policy()->ref().digest());
  EXPECT_EQ(a.evaluated_at().seconds(), absl::ToUnixSeconds(kAsOf));
}

// A policy whose one table has no row for a finding KEV does not list.
absl::StatusOr<std::shared_ptr<const CompiledPolicy>> KevListedOnlyPolicy() {
  return CompiledPolicy::Compile(R"(name: t
priorities: [{name: P1, remediate_within: 1d}]
tables:
  - name: kev
    inputs: [{name: listed, expr: vulnerability.kev.listed}]
    rows: [{when: ["yes"], then: act}]
default: {treatment: REMEDIATE, priority: P1}
)",
                                 "t.yaml");
}

TEST(EvaluateTest, TableWithoutMatchingRowAndDefaultFailsTheDecision) {
  auto policy = KevListedOnlyPolicy();
  ASSERT_TRUE(policy.ok()) << policy.status();
  v1::Decision d;
  EvalOptions options;
  options.as_of = kAsOf;
  const absl::Status status = (*policy)->Evaluate(v1::Finding(), options, &d);
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(status.message(),
            "table kev: no row matches (listed=false) and the table has no "
            "default");
}

// A decision that fails part-way leaves nothing in a reused decision: not
// the previous finding's id, rule and table outcomes (kept for overwriting
// by ResetDecision()), nor this finding's choice written before the failing
// table.
TEST(EvaluateTest, AFailedDecisionLeavesAReusedDecisionEmpty) {
  auto policy = KevListedOnlyPolicy();
  ASSERT_TRUE(policy.ok()) << policy.status();
  v1::Finding listed;
  listed.set_id("listed");
  listed.mutable_vulnerability()->mutable_kev()->set_listed(true);
  v1::Finding unlisted;
  unlisted.set_id("unlisted");
  for (const v1::DecisionView view :
       {v1::DECISION_VIEW_FULL, v1::DECISION_VIEW_BASIC}) {
    for (const bool cache : {true, false}) {
      EvalOptions options;
      options.as_of = kAsOf;
      options.view = view;
      options.use_core_cache = cache;
      v1::Decision reused;
      ASSERT_TRUE((*policy)->Evaluate(listed, options, &reused).ok());
      ASSERT_EQ(reused.table_outcomes_size(), 1);
      ASSERT_FALSE(reused.decision_id().empty());
      EXPECT_EQ((*policy)->Evaluate(unlisted, options, &reused).code(),
                absl::StatusCode::kInternal);
      EXPECT_EQ(reused.ByteSizeLong(), 0u) << reused.DebugString();
      // And the decision after it is whole again.
      ASSERT_TRUE((*policy)->Evaluate(listed, options, &reused).ok());
      v1::Decision fresh;
      ASSERT_TRUE((*policy)->Evaluate(listed, options, &fresh).ok());
      EXPECT_EQ(reused.SerializeAsString(), fresh.SerializeAsString());
    }
  }
}

TEST(EvaluateTest, DecisionIdIsXxh3OfDigestAsOfAndSerializedFinding) {
  const v1::Finding f = Finding(kLog4Shell);
  std::string bytes;
  ASSERT_TRUE(f.SerializeToString(&bytes));  // No map entries: stable.
  const std::string input = absl::StrCat(Policy()->ref().digest(), "\n",
                                         "2026-12-01T00:00:00Z\n", bytes);
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical,
                           XXH3_128bits(input.data(), input.size()));
  EXPECT_EQ(Decide(f).decision_id(),
            absl::BytesToHexString(absl::string_view(
                reinterpret_cast<const char*>(canonical.digest), 16)));
}

TEST(EvaluateTest, ReusedDecisionEqualsAFreshOne) {
  EvalOptions options;
  options.as_of = kAsOf;
  options.trace = true;
  v1::Decision reused;
  for (absl::string_view text : {kLog4Shell, absl::string_view(), kLog4Shell}) {
    const v1::Finding f = Finding(text);
    ASSERT_TRUE(Policy()->Evaluate(f, options, &reused).ok());
    EXPECT_EQ(reused.SerializeAsString(), Decide(f, true).SerializeAsString());
  }
}

TEST(EvaluateTest, TableTakesTheFirstRowThatMatchesWithWildcards) {
  auto policy = CompiledPolicy::Compile(R"(name: t
priorities: [{name: P1, remediate_within: 1d}]
let:
  exposure: 'asset.exposure == "INTERNET" ? "internet" : asset.id'
tables:
  - name: t
    inputs:
      - {name: listed, expr: vulnerability.kev.listed}
      - {name: exposure, expr: exposure}
      - {name: severity, expr: severity}
    default: none
    rows:
      - {when: ["yes", internet, "*"], then: r0}
      - {when: ["*", lab, CRITICAL], then: r1}
      - {when: ["no", "*", "*"], then: r2}
      - {when: ["*", "*", HIGH], then: r3}
default: {treatment: REMEDIATE, priority: P1}
)",
                                        "t.yaml");
  ASSERT_TRUE(policy.ok()) << policy.status();
  struct Case {
    bool listed;
    const char* asset;
    v1::Severity severity;
    int row;
  } cases[] = {
      {true, "", v1::SEVERITY_LOW, -1},  // "" names no row: the default.
      {true, "lab", v1::SEVERITY_CRITICAL, 1},
      {false, "lab", v1::SEVERITY_CRITICAL, 1},
      {false, "other", v1::SEVERITY_CRITICAL, 2},
      {true, "other", v1::SEVERITY_HIGH, 3},
      {true, "internet", v1::SEVERITY_HIGH, 0},  // The value counts.
  };
  for (const Case& c : cases) {
    v1::Finding f;
    f.mutable_vulnerability()->mutable_kev()->set_listed(c.listed);
    f.mutable_asset()->set_id(c.asset);
    f.set_severity(c.severity);
    v1::Decision d;
    EvalOptions options;
    options.as_of = kAsOf;
    ASSERT_TRUE((*policy)->Evaluate(f, options, &d).ok());
    ASSERT_EQ(d.table_outcomes_size(), 1);
    EXPECT_EQ(d.table_outcomes(0).row(), c.row) << c.asset;
  }
  v1::Finding f;
  f.mutable_vulnerability()->mutable_kev()->set_listed(true);
  f.mutable_asset()->set_exposure(v1::EXPOSURE_INTERNET);
  v1::Decision d;
  EvalOptions options;
  options.as_of = kAsOf;
  ASSERT_TRUE((*policy)->Evaluate(f, options, &d).ok());
  EXPECT_EQ(d.table_outcomes(0).row(), 0);
  EXPECT_EQ(d.table_outcomes(0).outcome(), "r0");
}

TEST(EvaluateTest, NeverFailsOnAnEmptyFinding) {
  const v1::Decision d = Decide(v1::Finding(), /*trace=*/true);
  EXPECT_EQ(d.match_kind(), v1::MATCH_KIND_DEFAULT);
  EXPECT_EQ(d.reasons(0), "Fix ? when convenient");
}

}  // namespace
}  // namespace treatd
