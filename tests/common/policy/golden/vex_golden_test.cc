// Golden tests of the default policy over real VEX documents: the OpenVEX,
// CycloneDX VEX and CSAF samples in tests/testdata/scanners/ (see
// ATTRIBUTION.md there) are imported as a user's pipeline would, decided
// with policies/default.yaml, and
//  - every decision is compared with tests/testdata/policy_tests/
//    vex_golden.txt (one line per finding: document, vulnerability,
//    product, VEX status, treatment, priority, rule, actions); run with
//    TREATD_UPDATE_GOLDEN=1 to rewrite the file after a deliberate change;
//  - the promises of docs/default-policy.md ("VEX statements") are checked
//    on each decision, so a golden file rewritten by mistake still fails.
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/importers/importer.h"
#include "common/policy/engine/compiled_policy.h"
#include "common/policy/pipeline/decision_pipeline.h"
#include "common/validation/finding_validator.h"
#include "gtest/gtest.h"
#include "treatd/v1/decision.pb.h"
#include "treatd/v1/finding.pb.h"

namespace treatd {
namespace {

constexpr char kSourceDir[] = TREATD_SOURCE_DIR;

// The real documents, as published upstream.
constexpr const char* kDocuments[] = {
    "openvex/go-vex-v0.2.0.json",      "openvex/sample-2vulns.openvex.json",
    "cyclonedx/cisa-case-3-vex.json",  "csaf/2022-evd-uc-01-a-001.json",
    "csaf/2022-evd-uc-01-f-001.json",  "csaf/2022-evd-uc-01-na-001.json",
    "csaf/2022-evd-uc-01-ui-001.json", "csaf/2022-evd-uc-02-na-001.json",
    "csaf/2022-evd-uc-04-001.json",    "csaf/2022-evd-uc-05-001.json",
    "csaf/bsi-2022-0001.json",         "csaf/rhsa-2022_0011.json",
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

bool HasAction(const v1::Decision& decision, absl::string_view id) {
  for (const v1::Action& action : decision.actions()) {
    if (action.id() == id) return true;
  }
  return false;
}

std::string GoldenLine(absl::string_view document, const v1::Finding& finding,
                       const v1::Decision& decision) {
  std::vector<std::string> actions;
  for (const v1::Action& action : decision.actions()) {
    actions.push_back(action.id());
  }
  const v1::Package& package = finding.package();
  std::string product =
      package.name().empty() ? finding.asset().name() : package.name();
  if (!package.installed_version().empty()) {
    absl::StrAppend(&product, " ", package.installed_version());
  }
  return absl::StrJoin(
      {std::string(document), finding.vulnerability().cve_id(), product,
       v1::VexStatus_Name(finding.vex().status()),
       v1::Treatment_Name(decision.treatment()), decision.priority(),
       decision.matched_rule(), absl::StrJoin(actions, ",")},
      " | ");
}

class VexGoldenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto policy = CompiledPolicy::CompileFile(
        absl::StrCat(kSourceDir, "/policies/default.yaml"));
    ASSERT_TRUE(policy.ok()) << policy.status();
    auto pipeline = DecisionPipeline::Create(*policy, nullptr, {});
    ASSERT_TRUE(pipeline.ok()) << pipeline.status();
    pipeline_ = *std::move(pipeline);
  }

  // 2026-11-27T12:00:00Z, the as_of of the default policy's test cases.
  const absl::Time as_of_ = absl::FromUnixSeconds(1795780800);
  std::shared_ptr<const DecisionPipeline> pipeline_;
};

TEST_F(VexGoldenTest, RealVexDocumentsGetTheGoldenDecisions) {
  std::vector<std::string> lines;
  int not_affected = 0, fixed = 0, affected = 0, investigating = 0;
  for (const char* document : kDocuments) {
    SCOPED_TRACE(document);
    absl::StatusOr<importers::ImportResult> imported =
        importers::ImportFindings(ReadFile(
            absl::StrCat(kSourceDir, "/tests/testdata/scanners/", document)));
    ASSERT_TRUE(imported.ok()) << imported.status();
    ASSERT_FALSE(imported->findings.empty());
    for (const v1::Finding& finding : imported->findings) {
      SCOPED_TRACE(finding.id());
      ASSERT_TRUE(ValidateFinding(finding, FindingLimits()).ok());
      v1::Decision decision;
      ASSERT_TRUE(pipeline_->Decide(finding, {as_of_}, &decision).ok());
      lines.push_back(GoldenLine(document, finding, decision));

      const v1::Vex& vex = finding.vex();
      switch (vex.status()) {
        case v1::VEX_STATUS_NOT_AFFECTED: {
          ++not_affected;
          // Every real not-affected statement says why; none may be
          // remediated or mitigated, and the reason names whose statement.
          EXPECT_EQ(decision.treatment(), v1::TREATMENT_ACCEPT);
          EXPECT_EQ(decision.matched_rule(), "vex-not-affected");
          EXPECT_TRUE(decision.has_review_by());
          ASSERT_FALSE(decision.reasons().empty());
          EXPECT_TRUE(absl::StrContains(
              decision.reasons(0),
              vex.author().empty() ? "The VEX author" : vex.author()));
          EXPECT_TRUE(absl::StrContains(decision.reasons(0),
                                        vex.justification_label().empty()
                                            ? vex.impact_statement()
                                            : vex.justification_label()));
          EXPECT_TRUE(HasAction(decision, "review-vex-statement"));
          break;
        }
        case v1::VEX_STATUS_FIXED:
          ++fixed;
          EXPECT_EQ(decision.matched_rule(), "vex-fixed");
          EXPECT_TRUE(HasAction(decision, "verify-fixed-version"));
          EXPECT_FALSE(HasAction(decision, "upgrade-package"));
          EXPECT_FALSE(HasAction(decision, "apply-vendor-patch"));
          break;
        case v1::VEX_STATUS_AFFECTED: {
          ++affected;
          EXPECT_FALSE(absl::StartsWith(decision.matched_rule(), "vex-"));
          if (!vex.action_statement().empty()) {
            bool carried = false;
            for (const v1::Action& action : decision.actions()) {
              carried = carried || absl::StrContains(action.text(),
                                                     vex.action_statement());
            }
            EXPECT_TRUE(carried) << vex.action_statement();
          }
          break;
        }
        case v1::VEX_STATUS_UNDER_INVESTIGATION: {
          ++investigating;
          EXPECT_FALSE(absl::StartsWith(decision.matched_rule(), "vex-"));
          EXPECT_TRUE(HasAction(decision, "vex-follow-investigation"));
          bool revisits = false;
          for (const v1::RevisitCondition& c : decision.revisit_conditions()) {
            revisits =
                revisits || c.kind() == v1::REVISIT_KIND_VEX_STATUS_CHANGED;
          }
          EXPECT_TRUE(revisits);
          break;
        }
        default:
          ADD_FAILURE() << "a VEX document gave a finding without a status";
      }
    }
  }
  // Each status occurs in the real documents.
  EXPECT_GT(not_affected, 0);
  EXPECT_GT(fixed, 0);
  EXPECT_GT(affected, 0);
  EXPECT_GT(investigating, 0);

  const std::string golden_path =
      absl::StrCat(kSourceDir, "/tests/testdata/policy_tests/vex_golden.txt");
  const std::string actual = absl::StrCat(absl::StrJoin(lines, "\n"), "\n");
  const char* update = std::getenv("TREATD_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(golden_path, std::ios::binary) << actual;
  }
  EXPECT_EQ(ReadFile(golden_path), actual)
      << "rerun with TREATD_UPDATE_GOLDEN=1 after a deliberate change and "
         "review the diff of "
      << golden_path;
}

TEST_F(VexGoldenTest, UnderInvestigationIsRevisitedWithWhatEachStatusDecides) {
  absl::StatusOr<importers::ImportResult> imported =
      importers::ImportFindings(ReadFile(absl::StrCat(
          kSourceDir,
          "/tests/testdata/scanners/csaf/2022-evd-uc-01-ui-001.json")));
  ASSERT_TRUE(imported.ok()) << imported.status();
  ASSERT_EQ(imported->findings.size(), 1u);
  v1::Decision decision;
  ASSERT_TRUE(
      pipeline_->Decide(imported->findings[0], {as_of_}, &decision).ok());
  std::vector<std::string> revised;
  for (const v1::RevisitCondition& c : decision.revisit_conditions()) {
    if (c.kind() != v1::REVISIT_KIND_VEX_STATUS_CHANGED) continue;
    revised.push_back(
        absl::StrCat(c.value(), " -> ", v1::Treatment_Name(c.new_treatment())));
  }
  // Decided as usual (the default rule); a not_affected statement would make
  // it ACCEPT. fixed keeps REMEDIATE (verify instead of patch), so it is no
  // condition of its own.
  EXPECT_EQ(decision.treatment(), v1::TREATMENT_REMEDIATE);
  EXPECT_EQ(absl::StrJoin(revised, "; "),
            "VEX_STATUS_NOT_AFFECTED -> TREATMENT_ACCEPT");
}

TEST_F(VexGoldenTest, NotAffectedWithoutAReasonIsDecidedAsUsual) {
  v1::Finding finding;
  finding.set_id("bare");
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
  finding.mutable_vex()->set_status(v1::VEX_STATUS_NOT_AFFECTED);
  v1::Decision decision;
  ASSERT_TRUE(pipeline_->Decide(finding, {as_of_}, &decision).ok());
  EXPECT_NE(decision.matched_rule(), "vex-not-affected");
  finding.mutable_vex()->set_impact_statement("JNDI lookup class removed");
  ASSERT_TRUE(pipeline_->Decide(finding, {as_of_}, &decision).ok());
  EXPECT_EQ(decision.matched_rule(), "vex-not-affected");
  EXPECT_EQ(decision.treatment(), v1::TREATMENT_ACCEPT);
  ASSERT_FALSE(decision.reasons().empty());
  EXPECT_EQ(decision.reasons(0),
            "The VEX author states that CVE-2021-44228 does not affect the "
            "product: JNDI lookup class removed — accepted until the review; "
            "decide again when the statement is revised");
}

// The typed part is checked against the schema like any field: a policy
// that misspells a status is rejected at load, naming the values.
TEST(VexPolicyTest, PoliciesReadTheTypedVexPartCheckedAgainstTheSchema) {
  constexpr char kPolicy[] = R"yaml(name: vex
version: "1"
priorities:
  - {name: P4, remediate_within: 90d, review_within: 30d}
rules:
  - id: vendor-not-affected
    when: 'vex.status == "%s" && vex.justification == "COMPONENT_NOT_PRESENT"'
    treatment: ACCEPT
    priority: P4
default: {treatment: REMEDIATE, priority: P4}
)yaml";
  auto good = CompiledPolicy::Compile(absl::StrFormat(kPolicy, "NOT_AFFECTED"),
                                      "vex.yaml");
  ASSERT_TRUE(good.ok()) << good.status();
  auto bad = CompiledPolicy::Compile(absl::StrFormat(kPolicy, "NOT_AFECTED"),
                                     "vex.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(absl::StrContains(bad.status().message(),
                                "'NOT_AFECTED' is not a value of "
                                "treatd.v1.VexStatus"))
      << bad.status();
}

}  // namespace
}  // namespace treatd
