#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/exporters/exporter.h"
#include "common/exporters/openvex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/exporters/sample_decisions.h"
#include "tests/common/exporters/spec_validators.h"

namespace treatd::exporters {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Json;
using testing::SampleDecisions;
using testing::ValidateOpenVex;

ExportOptions Options() {
  ExportOptions options;
  options.timestamp = absl::FromUnixSeconds(1767225600);  // 2026-01-01
  options.author = "Security Team <security@example.com>";
  return options;
}

Json Export(const SampleDecisions& samples, const ExportOptions& options) {
  std::ostringstream out;
  absl::Status status =
      WriteDecisions(ExportFormat::kOpenVex, samples.Decided(), options, &out);
  EXPECT_TRUE(status.ok()) << status;
  Json doc = Json::parse(out.str(), nullptr, false);
  EXPECT_FALSE(doc.is_discarded()) << out.str();
  return doc;
}

// The statement about `cve`, or null.
Json StatementFor(const Json& doc, const std::string& cve) {
  for (const Json& statement : doc["statements"]) {
    if (statement["vulnerability"]["name"] == cve) return statement;
  }
  ADD_FAILURE() << "no statement for " << cve;
  return Json();
}

TEST(OpenVexExporterTest, WritesDocumentWithAllRequiredFields) {
  SampleDecisions samples;
  Json doc = Export(samples, Options());
  EXPECT_THAT(ValidateOpenVex(doc), IsEmpty()) << doc.dump(2);
  EXPECT_EQ(doc["@context"], "https://openvex.dev/ns/v0.2.0");
  EXPECT_EQ(doc["author"], "Security Team <security@example.com>");
  EXPECT_EQ(doc["timestamp"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(doc["version"], 1);
}

TEST(OpenVexExporterTest, MarksFullyMitigatedFindingsNotAffected) {
  SampleDecisions samples;
  Json doc = Export(samples, Options());
  Json statement = StatementFor(doc, "CVE-2021-44228");
  EXPECT_EQ(statement["status"], "not_affected");
  EXPECT_EQ(statement["justification"], "inline_mitigations_already_exist");
  std::string impact = statement["impact_statement"];
  EXPECT_THAT(impact, HasSubstr("waf: WAF rule blocks JNDI lookups (CHG-77)"));
  EXPECT_THAT(impact, HasSubstr("ACCEPT"));
  EXPECT_THAT(impact, HasSubstr("accept-low-residual-risk"));
  EXPECT_FALSE(statement.contains("action_statement"));
}

TEST(OpenVexExporterTest, KeepsPartiallyMitigatedOrRiskyFindingsAffected) {
  SampleDecisions samples;
  Json doc = Export(samples, Options());
  // ACCEPT behind a PARTIAL control only.
  EXPECT_EQ(StatementFor(doc, "CVE-2022-0001")["status"], "affected");
  // FULL control, but residual risk 4.5 is not below the default 3.0.
  EXPECT_EQ(StatementFor(doc, "CVE-2023-4863")["status"], "affected");
  // REMEDIATE with no control at all.
  EXPECT_EQ(StatementFor(doc, "CVE-2023-0464")["status"], "affected");
}

TEST(OpenVexExporterTest, CallerCanOverrideResidualRiskThreshold) {
  SampleDecisions samples;
  ExportOptions options = Options();
  options.not_affected_max_residual_risk = 5.0;
  Json lenient = Export(samples, options);
  EXPECT_EQ(StatementFor(lenient, "CVE-2023-4863")["status"], "not_affected");
  options.not_affected_max_residual_risk = 1.0;
  Json strict = Export(samples, options);
  // Residual risk 1.2 is no longer below the threshold.
  EXPECT_EQ(StatementFor(strict, "CVE-2021-44228")["status"], "affected");
  EXPECT_THAT(ValidateOpenVex(strict), IsEmpty());
}

TEST(OpenVexExporterTest, NeverCallsRemediationNotAffectedEvenWithFullControl) {
  SampleDecisions samples;
  samples.result(2).mutable_decision()->set_treatment(v1::TREATMENT_REMEDIATE);
  EXPECT_EQ(VexStatusFor(samples.Decided()[2], Options()),
            VexStatus::kAffected);
}

TEST(OpenVexExporterTest, AffectedStatementsCarryActionsAndDeadlines) {
  SampleDecisions samples;
  Json doc = Export(samples, Options());
  Json mtr = StatementFor(doc, "CVE-2024-3094");
  EXPECT_EQ(mtr["status"], "affected");
  EXPECT_EQ(mtr["action_statement"],
            "MITIGATE_THEN_REMEDIATE (priority P1): Isolate "
            "web-01.prod.example.com; Upgrade xz-utils 5.6.0 → 5.6.1. "
            "Mitigate by 2026-01-01T04:00:00Z. Remediate by "
            "2026-01-04T00:00:00Z.");
  EXPECT_EQ(mtr["status_notes"], "Listed in CISA KEV; Internet-facing");
  Json remediate = StatementFor(doc, "CVE-2023-0464");
  EXPECT_THAT(remediate["action_statement"].get<std::string>(),
              HasSubstr("Remediate by 2026-01-15T00:00:00Z"));
  EXPECT_THAT(remediate["vulnerability"]["aliases"],
              ElementsAre("GHSA-0464-0464-0464"));
  EXPECT_EQ(remediate["timestamp"], "2026-01-01T00:00:00Z");
}

TEST(OpenVexExporterTest, ErrorsAreUnderInvestigation) {
  SampleDecisions samples;
  Json doc = Export(samples, Options());
  Json statement = StatementFor(doc, "CVE-2020-0001");
  EXPECT_EQ(statement["status"], "under_investigation");
  EXPECT_THAT(statement["status_notes"].get<std::string>(),
              HasSubstr("INVALID_ARGUMENT: finding.kind is required"));
}

TEST(OpenVexExporterTest, ProductsAreAssetsWithPackagePurlSubcomponents) {
  SampleDecisions samples;
  Json doc = Export(samples, Options());
  Json statement = StatementFor(doc, "CVE-2023-0464");
  ASSERT_EQ(statement["products"].size(), 1u);
  EXPECT_EQ(statement["products"][0]["@id"], "urn:treatd:asset:shop-images");
  EXPECT_EQ(statement["products"][0]["subcomponents"][0]["@id"],
            "pkg:apk/alpine/libssl3@3.0.8-r0");
  // Non-ASCII asset ids are percent-encoded into the URN.
  EXPECT_EQ(StatementFor(doc, "CVE-2025-0007")["products"][0]["@id"],
            "urn:treatd:asset:caf%C3%A9-server");

  // Without an asset the purl itself is the product.
  samples.finding(0).clear_asset();
  doc = Export(samples, Options());
  EXPECT_EQ(StatementFor(doc, "CVE-2023-0464")["products"][0]["@id"],
            "pkg:apk/alpine/libssl3@3.0.8-r0");
}

TEST(OpenVexExporterTest, SkipsFindingsWithoutVulnerabilityId) {
  SampleDecisions samples;
  Json doc = Export(samples, Options());
  // Eight samples, one of them a misconfiguration.
  EXPECT_EQ(doc["statements"].size(), samples.size() - 1);
  for (const Json& statement : doc["statements"]) {
    EXPECT_NE(statement["vulnerability"]["name"], "AVD-KSV-0017");
  }
}

TEST(OpenVexExporterTest, IsDeterministicAndIdNamesTheContent) {
  SampleDecisions samples;
  Json first = Export(samples, Options());
  Json second = Export(samples, Options());
  EXPECT_EQ(first.dump(), second.dump());
  std::string id = first["@id"];
  EXPECT_THAT(id, ::testing::StartsWith("urn:treatd:vex:sha256:"));
  EXPECT_EQ(id.size(), std::string("urn:treatd:vex:sha256:").size() + 64);
  samples.result(0).mutable_decision()->set_priority("P3");
  EXPECT_NE(Export(samples, Options())["@id"], id);

  ExportOptions options = Options();
  options.document_id = "https://example.com/vex/2026-01-01";
  options.document_version = 3;
  Json custom = Export(samples, options);
  EXPECT_EQ(custom["@id"], "https://example.com/vex/2026-01-01");
  EXPECT_EQ(custom["version"], 3);
}

TEST(OpenVexExporterTest, FallsBackToLatestEvaluationTimeAndFailsWithoutOne) {
  SampleDecisions samples;
  *samples.result(1).mutable_decision()->mutable_evaluated_at() =
      testing::Time("2026-01-02T03:04:05Z");
  Json doc = Export(samples, ExportOptions());
  EXPECT_EQ(doc["timestamp"], "2026-01-02T03:04:05Z");

  for (size_t i = 0; i < samples.size(); ++i) {
    samples.result(i).mutable_decision()->clear_evaluated_at();
  }
  std::ostringstream out;
  absl::Status status = WriteDecisions(
      ExportFormat::kOpenVex, samples.Decided(), ExportOptions(), &out);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("ExportOptions.timestamp"));
}

TEST(OpenVexExporterTest, ValidatorRejectsAffectedWithoutActionStatement) {
  // The validator must be able to fail, or the tests above prove nothing.
  SampleDecisions samples;
  Json doc = Export(samples, Options());
  for (Json& statement : doc["statements"]) {
    statement.erase("action_statement");
  }
  doc["statements"][0]["status"] = "broken";
  doc.erase("author");
  std::vector<std::string> problems = ValidateOpenVex(doc);
  EXPECT_THAT(problems, ::testing::Contains("$.author: required"));
  EXPECT_THAT(problems,
              ::testing::Contains(HasSubstr("action_statement: required")));
  EXPECT_THAT(problems,
              ::testing::Contains(HasSubstr("$.statements[0].status")));
}

}  // namespace
}  // namespace treatd::exporters
