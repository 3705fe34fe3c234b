#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/policy/engine/compiled_policy.h"
#include "gtest/gtest.h"

namespace treatd {
namespace {

// A valid policy to which tests append or in which they replace parts.
constexpr absl::string_view kHeader = R"(name: test
version: "1"
priorities:
  - {name: P1, mitigate_within: 1d, remediate_within: 7d, review_within: 7d}
  - {name: P2, remediate_within: 30d, review_within: 30d}
actions:
  - id: upgrade
    category: REMEDIATION
    text: "Upgrade {{package.name}}"
default:
  treatment: REMEDIATE
  priority: P2
)";

// Compiles `yaml` and returns its issues as "line:col: severity [element]
// path: message", one per issue.
std::vector<std::string> Issues(absl::string_view yaml, bool* ok = nullptr) {
  std::vector<v1::PolicyIssue> issues;
  auto policy = CompiledPolicy::Compile(yaml, "p.yaml", &issues);
  if (ok != nullptr) *ok = policy.ok();
  std::vector<std::string> out;
  for (const auto& i : issues) {
    out.push_back(absl::StrCat(
        i.file(), ":", i.line(), ":", i.column(), ": ",
        i.severity() == v1::ISSUE_SEVERITY_ERROR ? "error" : "warning", " [",
        i.element(), "] ", i.path(), ": ", i.message()));
  }
  return out;
}

std::string Joined(absl::string_view yaml) {
  return absl::StrJoin(Issues(yaml), "\n");
}

TEST(PolicyCompilerTest, AcceptsValidPolicyWithoutIssues) {
  bool ok = false;
  EXPECT_TRUE(Issues(kHeader, &ok).empty());
  EXPECT_TRUE(ok);
}

TEST(PolicyCompilerTest, RejectsRuleWithUnknownField) {
  const std::string yaml = absl::StrCat(kHeader, R"(rules:
  - id: r1
    when: asset.exposur == "INTERNET"
    treatment: REMEDIATE
    priority: P1
)");
  bool ok = true;
  auto issues = Issues(yaml, &ok);
  EXPECT_FALSE(ok);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].substr(0, 73),
            "p.yaml:15:17: error [r1] rules[0].when: no field 'exposur' in "
            "treatd.v1.A");
}

TEST(PolicyCompilerTest, ReportsEveryErrorWithFileLineAndColumn) {
  const std::string yaml = absl::StrCat(kHeader, R"(let:
  exploited: vulnerability.kev.listed || vulnerability.exploit_maturity == "LIVE"
rules:
  - id: r1
    when: exploited && asset.criticality >= "HIGH"
    treatment: MITIGATE
    priority: P2
    actions: [upgrade, patch-now]
  - id: r1
    when: asset.id
    treatment: REMEDIATE
    priority: P9
exceptions:
  - id: EXC-1
    when: asset.id == "kiosk-7"
)");
  bool ok = true;
  const std::vector<std::string> issues = Issues(yaml, &ok);
  EXPECT_FALSE(ok);
  const std::vector<std::string> want = {
      "p.yaml:14:76: error [exploited] let.exploited: 'LIVE' is not a value "
      "of treatd.v1.ExploitMaturity; values: UNSPECIFIED, NONE, POC, ACTIVE",
      "p.yaml:20:24: error [r1] rules[0].actions[1]: unknown action "
      "'patch-now'; actions: upgrade",
      "p.yaml:18:16: error [r1] rules[0].treatment: MITIGATE with priority "
      "P2 needs mitigate_within, which priority P2 does not set",
      "p.yaml:22:11: error [r1] rules[1].when: expected a bool expression, "
      "got string",
      "p.yaml:24:15: error [r1] rules[1].priority: unknown priority 'P9'; "
      "priorities: P1, P2",
      "p.yaml:21:9: error [r1] rules[1].id: rule id 'r1' is used twice",
      "p.yaml:26:5: error [EXC-1] exceptions[0].approver: an exception needs "
      "an approver",
      "p.yaml:26:5: error [EXC-1] exceptions[0].reason: an exception needs a "
      "reason",
      "p.yaml:26:5: error [EXC-1] exceptions[0].expires: an exception needs an "
      "`expires` time; exceptions are never open-ended",
  };
  EXPECT_EQ(absl::StrJoin(issues, "\n"), absl::StrJoin(want, "\n"));
}

TEST(PolicyCompilerTest, StatusMessageListsEveryError) {
  const std::string yaml = absl::StrCat(kHeader, R"(rules:
  - id: a
    when: nope
    treatment: REMEDIATE
    priority: P1
  - id: b
    when: "true"
    treatment: REMEDIATE
)");
  auto policy = CompiledPolicy::Compile(yaml, "p.yaml");
  ASSERT_FALSE(policy.ok());
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(policy.status().message().find("p.yaml:15:11"), std::string::npos);
  EXPECT_NE(policy.status().message().find("exactly one of `priority`"),
            std::string::npos);
}

TEST(PolicyCompilerTest, RejectsMissingDefaultAndDefaultWithWhen) {
  EXPECT_NE(Joined("name: x\npriorities: [{name: P1, remediate_within: 1d}]\n")
                .find("[default] default: the policy needs a `default` rule"),
            std::string::npos);
  const std::string with_when =
      "name: x\npriorities: [{name: P1, remediate_within: 1d}]\n"
      "default: {when: \"true\", treatment: REMEDIATE, priority: P1}\n";
  EXPECT_NE(Joined(with_when).find("default.when: the default rule applies"),
            std::string::npos);
}

TEST(PolicyCompilerTest, RejectsPriorityExprLiteralThatIsNoPriority) {
  const std::string yaml = absl::StrCat(kHeader, R"(rules:
  - id: r
    when: active_incident
    treatment: REMEDIATE
    priority_expr: 'active_incident ? "P1" : "P3"'
)");
  EXPECT_EQ(Joined(yaml),
            "p.yaml:17:46: error [r] rules[0].priority_expr: priority_expr can "
            "yield 'P3', which is not a priority; priorities: P1, P2");
}

TEST(PolicyCompilerTest, RejectsLetCycles) {
  const std::string yaml = absl::StrCat(kHeader, R"(let:
  a: b && true
  b: "!a"
)");
  EXPECT_EQ(Joined(yaml),
            "p.yaml:14:6: error [a] let.a: cycle: a -> b -> a; a value cannot "
            "depend on itself");
}

TEST(PolicyCompilerTest, RejectsCycleThroughTableAndRisk) {
  const std::string yaml = absl::StrCat(kHeader, R"(tables:
  - name: t
    inputs: [{name: high, expr: risk.inherent > 5.0}]
    rows: [{when: ["*"], then: x}]
risk:
  inherent: 'tables.t == "x" ? 9.0 : 1.0'
)");
  EXPECT_NE(Joined(yaml).find("cycle: tables.t -> risk.inherent -> tables.t"),
            std::string::npos);
}

TEST(PolicyCompilerTest, RejectsBadTableCellsAndRowWidths) {
  const std::string yaml = absl::StrCat(kHeader, R"(tables:
  - name: ssvc
    inputs:
      - {name: exploitation, expr: vulnerability.exploit_maturity}
      - {name: automatable, expr: vulnerability.automatable == "YES"}
    rows:
      - {when: [ACTIVE, maybe], then: act}
      - {when: [LIVE, yes], then: act}
      - {when: ["*"], then: track}
    default: track
)");
  EXPECT_EQ(
      Joined(yaml),
      "p.yaml:19:25: error [ssvc] tables[0].rows[0].when[1]: cell 'maybe' for "
      "input 'automatable' (bool): use yes/no, true/false or *\n"
      "p.yaml:20:17: error [ssvc] tables[0].rows[1].when[0]: cell 'LIVE' for "
      "input 'exploitation' (enum treatd.v1.ExploitMaturity): not a value of "
      "treatd.v1.ExploitMaturity; values: UNSPECIFIED, NONE, POC, ACTIVE or *\n"
      "p.yaml:21:16: error [ssvc] tables[0].rows[2].when: row has 1 cell(s) "
      "but the table has 2 input(s)");
}

TEST(PolicyCompilerTest, WarnsAboutTableRowsThatDoNotCoverEveryCombination) {
  const std::string yaml = absl::StrCat(kHeader, R"(tables:
  - name: t
    inputs: [{name: kev, expr: vulnerability.kev.listed}]
    rows: [{when: ["yes"], then: act}]
)");
  bool ok = false;
  auto issues = Issues(yaml, &ok);
  EXPECT_TRUE(ok);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0],
            "p.yaml:14:5: warning [t] tables[0]: rows do not cover every "
            "combination and the table has no default; e.g. kev=false matches "
            "no row and fails the decision");
}

TEST(PolicyCompilerTest, WarnsAboutRulesAfterAnAlwaysTrueRule) {
  const std::string yaml = absl::StrCat(kHeader, R"(rules:
  - {id: all, when: "true", treatment: REMEDIATE, priority: P1}
  - {id: never, when: active_incident, treatment: REMEDIATE, priority: P1}
)");
  bool ok = false;
  const std::string joined = absl::StrJoin(Issues(yaml, &ok), "\n");
  EXPECT_TRUE(ok);
  EXPECT_NE(joined.find("warning [never] rules[1]: rule is never tried"),
            std::string::npos);
  EXPECT_NE(joined.find("warning [default] default: the default is never used"),
            std::string::npos);
}

TEST(PolicyCompilerTest, WarnsWhenCelPrecedenceChangedAConditionsMeaning) {
  // Before treatd followed CEL, `in` bound tighter than `==`: this read
  // listed == (active_incident in [true]); now (listed == active_incident)
  // in [true]. Both check, so the meaning changed.
  const std::string yaml = absl::StrCat(kHeader, R"(rules:
  - id: chain
    when: 'vulnerability.kev.listed == active_incident in [true]'
    treatment: REMEDIATE
    priority: P1
  - id: clear
    when: '(vulnerability.cvss.score < 7.0) == active_incident'
    treatment: REMEDIATE
    priority: P1
  - id: new-only
    when: 'vulnerability.cvss.score < 7.0 == active_incident'
    treatment: REMEDIATE
    priority: P1
)");
  bool ok = false;
  const std::vector<std::string> issues = Issues(yaml, &ok);
  EXPECT_TRUE(ok);
  // Only `chain`: `clear` has parentheses, and `new-only` did not check
  // under the old grammar (7.0 == active_incident), so it meant nothing.
  ASSERT_EQ(issues.size(), 1u) << absl::StrJoin(issues, "\n");
  EXPECT_NE(issues[0].find("warning [chain] rules[0].when: the meaning of "
                           "this expression changed: treatd now follows "
                           "CEL's operator precedence"),
            std::string::npos)
      << issues[0];
}

TEST(PolicyCompilerTest, RejectsNonPositiveDurations) {
  const std::string yaml =
      "name: x\npriorities: [{name: P1, remediate_within: 0s}]\n"
      "default: {treatment: REMEDIATE, priority: P1}\n";
  EXPECT_NE(Joined(yaml).find("priorities[0].remediate_within: durations must "
                              "be positive"),
            std::string::npos);
}

TEST(PolicyCompilerTest, RejectsBadPlaceholderInActionText) {
  const std::string yaml = R"(name: x
priorities: [{name: P1, remediate_within: 1d}]
default: {treatment: REMEDIATE, priority: P1}
actions:
  - id: a
    category: REMEDIATION
    text: "Upgrade {{package.nam}} now"
)";
  EXPECT_EQ(Joined(yaml).substr(0, 77),
            "p.yaml:7:30: error [a] actions[0].text: no field 'nam' in "
            "treatd.v1.Package; ");
}

TEST(PolicyCompilerTest, ComputesDigestOfTheDocument) {
  auto policy = CompiledPolicy::Compile(kHeader, "p.yaml");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ((*policy)->ref().name(), "test");
  EXPECT_EQ((*policy)->ref().version(), "1");
  EXPECT_EQ((*policy)->ref().digest().substr(0, 7), "sha256:");
  EXPECT_EQ((*policy)->ref().digest().size(), 7u + 64u);
  auto other = CompiledPolicy::Compile(absl::StrCat(kHeader, "\n"), "p.yaml");
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*policy)->ref().digest(), (*other)->ref().digest());
}

TEST(PolicyCompilerTest, CompileFileReportsMissingFile) {
  auto policy = CompiledPolicy::CompileFile("/nonexistent/policy.yaml");
  EXPECT_EQ(policy.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace treatd
