#include "common/policy/loader/yaml_proto.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "treatd/v1/finding.pb.h"
#include "treatd/v1/policy.pb.h"

namespace treatd {
namespace {

TEST(YamlToMessageTest, FillsPolicyWithShortEnumsDurationsAndMaps) {
  constexpr char kYaml[] = R"(name: demo
version: "1.2"
priorities:
  - name: P1
    mitigate_within: 24h
    remediate_within: 3d
let:
  internet: asset.exposure == "INTERNET"
rules:
  - id: r1
    when: internet
    treatment: mitigate_then_remediate
    priority: P1
    actions: [waf, upgrade]
default:
  treatment: TREATMENT_REMEDIATE
  priority: P1
exceptions:
  - id: EXC-1
    when: "true"
    approver: ciso
    reason: offline
    expires: 2026-12-31
)";
  v1::Policy policy;
  std::vector<v1::PolicyIssue> issues;
  ASSERT_TRUE(YamlToMessage(kYaml, "p.yaml", &policy, nullptr, &issues).ok())
      << FormatIssues(issues);
  EXPECT_EQ(policy.name(), "demo");
  EXPECT_EQ(policy.version(), "1.2");
  ASSERT_EQ(policy.priorities_size(), 1);
  EXPECT_EQ(policy.priorities(0).mitigate_within().seconds(), 24 * 3600);
  EXPECT_EQ(policy.priorities(0).remediate_within().seconds(), 3 * 86400);
  EXPECT_EQ(policy.let().at("internet"), "asset.exposure == \"INTERNET\"");
  EXPECT_EQ(policy.rules(0).treatment(), v1::TREATMENT_MITIGATE_THEN_REMEDIATE);
  EXPECT_EQ(policy.rules(0).actions_size(), 2);
  EXPECT_EQ(policy.default_().treatment(), v1::TREATMENT_REMEDIATE);
  EXPECT_EQ(policy.exceptions(0).expires().seconds(), 1798675200);
  EXPECT_TRUE(issues.empty());
}

TEST(YamlToMessageTest, ReportsEveryProblemWithPositionAndElement) {
  constexpr char kYaml[] = R"(name: demo
colour: blue
rules:
  - id: first
    treatment: FIX_IT
    review_within: soon
  - id: second
    actions: {a: b}
)";
  v1::Policy policy;
  std::vector<v1::PolicyIssue> issues;
  absl::Status status =
      YamlToMessage(kYaml, "p.yaml", &policy, nullptr, &issues);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(issues.size(), 4u) << FormatIssues(issues);
  EXPECT_EQ(issues[0].line(), 2);
  EXPECT_EQ(issues[0].column(), 1);
  EXPECT_NE(issues[0].message().find("unknown key 'colour'"),
            std::string::npos);
  EXPECT_NE(issues[0].message().find("allowed: name, version"),
            std::string::npos);
  EXPECT_EQ(issues[1].line(), 5);
  EXPECT_EQ(issues[1].column(), 16);
  EXPECT_EQ(issues[1].element(), "first");
  EXPECT_EQ(issues[1].path(), "rules[0].treatment");
  EXPECT_NE(issues[1].message().find("allowed: REMEDIATE, MITIGATE"),
            std::string::npos);
  EXPECT_EQ(issues[2].path(), "rules[0].review_within");
  EXPECT_EQ(issues[3].element(), "second");
  EXPECT_NE(issues[3].message().find("expected a list"), std::string::npos);
  EXPECT_NE(status.message().find("p.yaml:5:16: error: [first] "
                                  "rules[0].treatment: unknown Treatment"),
            std::string::npos)
      << status.message();
}

TEST(YamlToMessageTest, ReportsYamlSyntaxErrorWithPosition) {
  v1::Policy policy;
  std::vector<v1::PolicyIssue> issues;
  absl::Status status = YamlToMessage("name: [a, b\nversion: 1\n", "bad.yaml",
                                      &policy, nullptr, &issues);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_GT(issues[0].line(), 0);
  EXPECT_NE(issues[0].message().find("YAML syntax error"), std::string::npos);
}

// Found by the policy_tests_yaml fuzzer: an empty file was refused with no
// issue, so `treatctl policy test` printed "not a valid test suite" and no
// reason.
TEST(YamlToMessageTest, EmptyDocumentIsAnIssue) {
  for (const char* yaml : {"", "\n# only a comment\n", "~\n"}) {
    SCOPED_TRACE(yaml);
    v1::PolicyTestSuite suite;
    std::vector<v1::PolicyIssue> issues;
    const absl::Status status =
        YamlToMessage(yaml, "cases.yaml", &suite, nullptr, &issues);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    ASSERT_EQ(issues.size(), 1u);
    EXPECT_EQ(issues[0].line(), 1);
    EXPECT_EQ(issues[0].file(), "cases.yaml");
    EXPECT_NE(issues[0].message().find("empty document"), std::string::npos);
    EXPECT_EQ(status.message(), FormatIssues(issues));
  }
}

TEST(YamlToMessageTest, RejectsDuplicateKeys) {
  v1::Policy policy;
  std::vector<v1::PolicyIssue> issues;
  EXPECT_FALSE(
      YamlToMessage("name: a\nname: b\n", "d.yaml", &policy, nullptr, &issues)
          .ok());
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_NE(issues[0].message().find("duplicate key"), std::string::npos);
}

// Regression (ASan stack-use-after-scope): the key node of a mapping entry
// outlives the iterator's temporary proxy, so a non-scalar key is reported
// at its own position after the loop has moved on to read the next keys.
TEST(YamlToMessageTest, RejectsNonScalarKeyAtItsPosition) {
  v1::Policy policy;
  std::vector<v1::PolicyIssue> issues;
  absl::Status status = YamlToMessage("name: a\n? [x, y]\n: b\nversion: c\n",
                                      "k.yaml", &policy, nullptr, &issues);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(issues.size(), 1u) << FormatIssues(issues);
  EXPECT_EQ(issues[0].line(), 2);
  EXPECT_EQ(issues[0].column(), 3);
  EXPECT_NE(issues[0].message().find("keys must be plain names"),
            std::string::npos);
  EXPECT_EQ(policy.name(), "a");
  EXPECT_EQ(policy.version(), "c");
}

TEST(YamlToMessageTest, FillsFindingFromYaml) {
  constexpr char kYaml[] = R"(id: f-1
kind: VULNERABILITY
vulnerability:
  cve_id: CVE-2024-3094
  cvss: {score: 10.0, vector: "CVSS:3.1/AV:N"}
  kev: {listed: yes, due_date: 2024-04-19}
asset:
  exposure: internet
  labels: {team: payments}
first_seen: 2026-11-01T08:00:00Z
)";
  v1::Finding finding;
  ASSERT_TRUE(YamlToMessage(kYaml, "f.yaml", &finding, nullptr, nullptr).ok());
  EXPECT_EQ(finding.kind(), v1::FINDING_KIND_VULNERABILITY);
  EXPECT_TRUE(finding.vulnerability().cvss().has_score());
  EXPECT_DOUBLE_EQ(finding.vulnerability().cvss().score(), 10.0);
  EXPECT_TRUE(finding.vulnerability().kev().listed());
  EXPECT_EQ(finding.asset().exposure(), v1::EXPOSURE_INTERNET);
  EXPECT_EQ(finding.asset().labels().at("team"), "payments");
  EXPECT_TRUE(finding.has_first_seen());
}

TEST(SourceMapTest, ResolvesPositionsInsidePlainQuotedAndBlockScalars) {
  constexpr char kYaml[] = R"(let:
  a: x && y
  b: "x && y"
  c: |
    x &&
      y
)";
  v1::Policy policy;
  SourceMap map;
  ASSERT_TRUE(YamlToMessage(kYaml, "p.yaml", &policy, &map, nullptr).ok());
  // Column 6 of the expression ("y" after "x && ").
  SourcePosition a = map.Resolve("let.a", 1, 6);
  EXPECT_EQ(a.line, 2);
  EXPECT_EQ(a.column, 11);
  SourcePosition b = map.Resolve("let.b", 1, 6);
  EXPECT_EQ(b.line, 3);
  EXPECT_EQ(b.column, 12);
  SourcePosition c = map.Resolve("let.c", 2, 3);
  EXPECT_EQ(c.line, 6);
  EXPECT_EQ(c.column, 7);
  // An absent key falls back to its nearest recorded ancestor.
  SourcePosition d = map.Find("let.c.missing");
  EXPECT_EQ(d.line, 4);
}

}  // namespace
}  // namespace treatd
