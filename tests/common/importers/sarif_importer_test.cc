#include <string>

#include "common/importers/importer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/importers/test_data.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::importers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::treatd::importers::testing::Attribute;
using ::treatd::importers::testing::FindFinding;
using ::treatd::importers::testing::ReadScannerSample;

TEST(SarifImporterTest, ImportsEveryResultOfTrivyAlpine310) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("sarif/alpine-310.sarif"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->format, ScannerFormat::kSarif);
  EXPECT_EQ(result->findings.size(), 4u);  // len(runs[0].results)
  EXPECT_TRUE(result->skipped.empty());
}

TEST(SarifImporterTest, MapsRuleAndMessageFieldsOfTrivyAlpine310) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("sarif/alpine-310.sarif"));
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::Finding* finding =
      FindFinding(*result, "CVE-2019-1551", "libssl1.1");
  ASSERT_NE(finding, nullptr);
  EXPECT_EQ(finding->source(), "trivy");
  EXPECT_EQ(finding->kind(), v1::FINDING_KIND_VULNERABILITY);
  EXPECT_EQ(finding->severity(), v1::SEVERITY_MEDIUM);  // security-severity 5.3
  EXPECT_EQ(finding->package().installed_version(), "1.1.1c-r0");
  EXPECT_THAT(finding->package().fixed_versions(), ElementsAre("1.1.1d-r2"));
  EXPECT_EQ(finding->fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  EXPECT_EQ(finding->vulnerability().cvss().version(), "3.1");
  EXPECT_DOUBLE_EQ(finding->vulnerability().cvss().score(), 5.3);
  EXPECT_EQ(finding->vulnerability().cvss().vector(),
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N");
  EXPECT_EQ(finding->asset().name(),
            "testdata/fixtures/images/alpine-310.tar.gz");
  EXPECT_EQ(finding->asset().type(), v1::ASSET_TYPE_CONTAINER_IMAGE);
  EXPECT_EQ(Attribute(*finding, "sarif.rule_id"), "CVE-2019-1551");
  EXPECT_EQ(Attribute(*finding, "sarif.tags"), "vulnerability,security,MEDIUM");
  EXPECT_EQ(Attribute(*finding, "location"),
            "testdata/fixtures/images/alpine-310.tar.gz:1");
  // The rule's help names libssl1.1 too, but the result's message wins.
  EXPECT_NE(FindFinding(*result, "CVE-2019-1551", "libcrypto1.1"), nullptr);
}

TEST(SarifImporterTest, ImportsEveryResultOfGrypeCxf) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("sarif/cxf-3.4.6.sarif"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->findings.size(), 22u);  // len(runs[0].results)
  EXPECT_TRUE(result->skipped.empty());

  const v1::Finding* cxf = FindFinding(*result, "CVE-2019-12419");
  ASSERT_NE(cxf, nullptr);
  EXPECT_EQ(cxf->source(), "grype");
  EXPECT_EQ(cxf->severity(), v1::SEVERITY_CRITICAL);  // security-severity 9.8
  EXPECT_DOUBLE_EQ(cxf->vulnerability().cvss().score(), 9.8);
  EXPECT_EQ(cxf->vulnerability().cvss().version(), "");
  // Grype's SARIF names the package only in the rule's help text.
  EXPECT_EQ(cxf->package().name(), "cxf-xjc-runtime");
  EXPECT_EQ(cxf->package().installed_version(), "3.3.1");
  EXPECT_THAT(cxf->package().fixed_versions(), IsEmpty());
  EXPECT_EQ(cxf->fix().availability(), v1::FIX_AVAILABILITY_UNSPECIFIED);
  EXPECT_EQ(
      cxf->title(),
      "CVE-2019-12419 critical vulnerability for cxf-xjc-runtime package");
  EXPECT_EQ(Attribute(*cxf, "import.target"), "lib/cxf-xjc-runtime-3.3.1.jar");

  const v1::Finding* jackson = FindFinding(*result, "GHSA-57j2-w4cx-62h2");
  ASSERT_NE(jackson, nullptr);
  EXPECT_EQ(jackson->package().name(), "jackson-databind");
  EXPECT_THAT(jackson->package().fixed_versions(), ElementsAre("2.12.6.1"));
  EXPECT_EQ(jackson->fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  EXPECT_EQ(jackson->severity(), v1::SEVERITY_HIGH);  // 7.5

  const v1::Finding* geronimo =
      FindFinding(*result, "CVE-2008-0732", "geronimo-javamail_1.4_provider");
  ASSERT_NE(geronimo, nullptr);
  EXPECT_EQ(geronimo->severity(), v1::SEVERITY_LOW);  // 2.1
  EXPECT_EQ(geronimo->package().installed_version(), "1.8.4");
}

TEST(SarifImporterTest, MapsCodeScanningResultsWithCweTagsAndLevels) {
  constexpr absl::string_view kLog = R"json({
    "version": "2.1.0",
    "runs": [{
      "tool": {"driver": {"name": "CodeQL", "rules": [
        {"id": "js/sql-injection",
         "shortDescription": {"text": "Database query built from user-controlled sources"},
         "properties": {"tags": ["security", "external/cwe/cwe-089"]}},
        {"id": "js/hardcoded-credentials",
         "defaultConfiguration": {"level": "error"},
         "properties": {"tags": ["security", "secret"]}}]}},
      "versionControlProvenance": [{"repositoryUri": "https://github.com/acme/shop"}],
      "invocations": [{"executionSuccessful": true,
                       "endTimeUtc": "2022-03-03T00:00:00Z"}],
      "results": [
        {"ruleId": "js/sql-injection", "level": "note",
         "message": {"text": "This query depends on a user-provided value."},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": "src/db.js"},
                                             "region": {"startLine": 42}}}]},
        {"ruleId": "js/hardcoded-credentials",
         "message": {"text": "Hard-coded password."},
         "locations": [{"physicalLocation": {"artifactLocation": {"uri": "src/cfg.js"},
                                             "region": {"startLine": 3}}}]},
        {"ruleId": "js/sql-injection", "kind": "pass",
         "message": {"text": "Checked."}}
      ]}]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kLog);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 2u);  // The passing result is no finding.

  const v1::Finding& injection = result->findings[0];
  EXPECT_EQ(injection.source(), "codeql");
  EXPECT_EQ(injection.kind(), v1::FINDING_KIND_VULNERABILITY);
  EXPECT_EQ(injection.severity(), v1::SEVERITY_LOW);  // level "note"
  EXPECT_THAT(injection.vulnerability().cwe_ids(), ElementsAre("CWE-89"));
  EXPECT_EQ(injection.vulnerability().cve_id(), "");
  EXPECT_EQ(injection.asset().name(), "https://github.com/acme/shop");
  EXPECT_EQ(injection.asset().type(), v1::ASSET_TYPE_REPOSITORY);
  EXPECT_EQ(injection.last_seen().seconds(), 1646265600);
  EXPECT_EQ(Attribute(injection, "location"), "src/db.js:42");
  EXPECT_THAT(injection.id(),
              ::testing::StartsWith("codeql:js/sql-injection:"));

  const v1::Finding& secret = result->findings[1];
  EXPECT_EQ(secret.kind(), v1::FINDING_KIND_EXPOSED_SECRET);
  EXPECT_EQ(secret.severity(), v1::SEVERITY_HIGH);  // default level "error"
  EXPECT_EQ(secret.secret().location(), "src/cfg.js:3");
}

TEST(SarifImporterTest, SkipsResultWithoutRuleIdAndKeepsTheRest) {
  constexpr absl::string_view kLog = R"json({
    "version": "2.1.0",
    "runs": [{"tool": {"driver": {"name": "scanner"}}, "results": [
      {"ruleId": "CVE-2024-0001", "message": {"text": "one"}},
      {"message": {"text": "no rule"}},
      {"ruleId": "CVE-2024-0003", "message": {"text": "three"},
       "properties": {"security-severity": "very"}},
      {"ruleId": "CVE-2024-0004", "message": {"text": "four"}}]}]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kLog);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 2u);
  EXPECT_EQ(result->findings[0].vulnerability().cve_id(), "CVE-2024-0001");
  EXPECT_EQ(result->findings[1].vulnerability().cve_id(), "CVE-2024-0004");
  ASSERT_EQ(result->skipped.size(), 2u);
  EXPECT_EQ(result->skipped[0].json_path, "$.runs[0].results[1]");
  EXPECT_EQ(result->skipped[1].json_path,
            "$.runs[0].results[2].properties.security-severity");
  EXPECT_THAT(result->skipped[1].message, HasSubstr("expected a number"));
}

TEST(SarifImporterTest, RejectsOtherSarifVersions) {
  absl::StatusOr<ImportResult> result = ImportFindings(
      R"json({"version": "2.0.0", "runs": []})json", ScannerFormat::kSarif);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("$.version"));
}

}  // namespace
}  // namespace treatd::importers
