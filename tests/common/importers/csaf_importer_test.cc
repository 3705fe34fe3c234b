#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/importers/importer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/importers/test_data.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::importers {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::treatd::importers::testing::Attribute;
using ::treatd::importers::testing::ReadScannerSample;

absl::StatusOr<ImportResult> ImportSample(absl::string_view name) {
  return ImportFindings(ReadScannerSample(absl::StrCat("csaf/", name)));
}

// Every OASIS sample: how many findings, of which VEX status, and nothing
// skipped. The counts are the product_status entries of each document,
// each product once (bsi-2022-0001 names CSAFPID-0006 both first_fixed and
// fixed; rhsa-2019_1862 is an informational advisory without
// vulnerabilities).
TEST(CsafImporterTest, ImportsEveryProductStatusOfTheOasisSamples) {
  struct Expected {
    const char* file;
    int affected, not_affected, fixed, under_investigation;
  };
  const Expected kSamples[] = {
      {"2022-evd-uc-01-a-001.json", 1, 0, 0, 0},
      {"2022-evd-uc-01-f-001.json", 0, 0, 1, 0},
      {"2022-evd-uc-01-na-001.json", 0, 1, 0, 0},
      {"2022-evd-uc-01-ui-001.json", 0, 0, 0, 1},
      {"2022-evd-uc-02-na-001.json", 0, 19, 0, 0},
      {"2022-evd-uc-04-001.json", 3, 0, 0, 0},
      {"2022-evd-uc-05-001.json", 0, 0, 0, 1},
      {"bsi-2022-0001.json", 5, 0, 1, 0},
      {"rhsa-2019_1862.json", 0, 0, 0, 0},
      {"rhsa-2022_0011.json", 0, 0, 15, 0},
  };
  for (const Expected& sample : kSamples) {
    SCOPED_TRACE(sample.file);
    absl::StatusOr<ImportResult> result = ImportSample(sample.file);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->format, ScannerFormat::kCsaf);
    EXPECT_TRUE(result->skipped.empty());
    EXPECT_TRUE(result->warnings.empty());
    int counts[5] = {0, 0, 0, 0, 0};
    for (const v1::Finding& finding : result->findings) {
      EXPECT_EQ(finding.source(), "csaf");
      EXPECT_EQ(finding.kind(), v1::FINDING_KIND_VULNERABILITY);
      ++counts[finding.vex().status()];
    }
    EXPECT_EQ(counts[v1::VEX_STATUS_AFFECTED], sample.affected);
    EXPECT_EQ(counts[v1::VEX_STATUS_NOT_AFFECTED], sample.not_affected);
    EXPECT_EQ(counts[v1::VEX_STATUS_FIXED], sample.fixed);
    EXPECT_EQ(counts[v1::VEX_STATUS_UNDER_INVESTIGATION],
              sample.under_investigation);
  }
}

TEST(CsafImporterTest, NotAffectedProductCarriesTheImpactStatement) {
  absl::StatusOr<ImportResult> result =
      ImportSample("2022-evd-uc-01-na-001.json");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  const v1::Finding& finding = result->findings[0];
  EXPECT_EQ(finding.vulnerability().cve_id(), "CVE-2021-44228");
  EXPECT_EQ(finding.vex().status(), v1::VEX_STATUS_NOT_AFFECTED);
  EXPECT_EQ(finding.vex().impact_statement(),
            "Class with vulnerable code was removed before shipping.");
  EXPECT_EQ(finding.vex().author(), "Example Company ProductCERT");
  EXPECT_EQ(finding.vex().document_id(), "2022-EVD-UC-01-NA-001");
  EXPECT_TRUE(finding.vex().has_timestamp());
  EXPECT_EQ(finding.asset().name(), "Example Company ABC 4.2");
  EXPECT_EQ(finding.package().name(), "ABC");
  EXPECT_EQ(finding.package().installed_version(), "4.2");
  EXPECT_EQ(Attribute(finding, "csaf.vendor"), "Example Company");
  EXPECT_EQ(Attribute(finding, "import.target"), "CSAFPID-0001");
  EXPECT_THAT(finding.description(), HasSubstr("Apache Log4j2"));
}

TEST(CsafImporterTest, AffectedProductCarriesTheVendorFixAsItsAction) {
  absl::StatusOr<ImportResult> result =
      ImportSample("2022-evd-uc-01-a-001.json");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  const v1::Finding& finding = result->findings[0];
  EXPECT_EQ(finding.vex().status(), v1::VEX_STATUS_AFFECTED);
  EXPECT_EQ(finding.vex().action_statement(),
            "Customers should update to version 1.1 of product DEF which "
            "fixes the issue.");
  EXPECT_EQ(finding.fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  EXPECT_EQ(Attribute(finding, "csaf.remediations"), "vendor_fix");
}

TEST(CsafImporterTest, ReadsScoresCweIdsAndCpeOfTheBsiAdvisory) {
  absl::StatusOr<ImportResult> result = ImportSample("bsi-2022-0001.json");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 6u);
  const v1::Finding& first = result->findings[0];
  EXPECT_EQ(first.vulnerability().cve_id(), "CVE-2022-27193");
  EXPECT_THAT(first.vulnerability().aliases(),
              ElementsAre("csaf-tools/CVRF-CSAF-Converter#78"));
  EXPECT_THAT(first.vulnerability().cwe_ids(), ElementsAre("CWE-611"));
  EXPECT_DOUBLE_EQ(first.vulnerability().cvss().score(), 6.1);
  EXPECT_EQ(first.vulnerability().cvss().version(), "3.1");
  EXPECT_EQ(first.severity(), v1::SEVERITY_MEDIUM);
  EXPECT_EQ(first.package().name(), "CVRF-CSAF-Converter");
  EXPECT_EQ(first.package().installed_version(), "1.0.0-alpha");
  EXPECT_EQ(Attribute(first, "csaf.cpe"),
            "cpe:/a:csaf-tools:cvrf-csaf-converter:1.0.0-alpha");
  EXPECT_EQ(Attribute(first, "remediation.url"),
            "https://github.com/csaf-tools/CVRF-CSAF-Converter/releases/tag/"
            "1.0.0-rc2");
  EXPECT_EQ(first.fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  // The fixed version is a finding too: "verify it is deployed".
  const v1::Finding& fixed = result->findings[5];
  EXPECT_EQ(fixed.vex().status(), v1::VEX_STATUS_FIXED);
  EXPECT_EQ(fixed.package().installed_version(), "1.0.0-rc2");
}

TEST(CsafImporterTest,
     RelationshipMakesComponentThePackageAndPlatformTheAsset) {
  absl::StatusOr<ImportResult> result = ImportSample("rhsa-2022_0011.json");
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 15u);
  const v1::Finding& first = result->findings[0];
  EXPECT_EQ(first.vulnerability().cve_id(), "CVE-2020-10188");
  EXPECT_EQ(first.asset().name(),
            "Red Hat Enterprise Linux Server AUS (v. 7.6)");
  EXPECT_EQ(first.package().name(), "telnet-1:0.17-65.el7_6.src");
  EXPECT_EQ(Attribute(first, "csaf.relationship"), "default_component_of");
  EXPECT_EQ(Attribute(first, "csaf.platform_cpe"),
            "cpe:/o:redhat:rhel_aus:7.6::server");
  // Red Hat's impact threat "Important" is a severity word.
  EXPECT_EQ(first.severity(), v1::SEVERITY_HIGH);
  EXPECT_TRUE(first.vex().impact_statement().empty());
  EXPECT_EQ(first.vex().author(), "Red Hat Product Security");
  EXPECT_EQ(first.vex().document_id(), "RHSA-2022:0011");
  // Distinct products, distinct ids.
  EXPECT_NE(first.id(), result->findings[1].id());
}

TEST(CsafImporterTest, MapsRemediationCategoriesFlagsAndSkipsUnknownProducts) {
  constexpr absl::string_view kDocument = R"json({
    "document": {
      "category": "csaf_vex", "csaf_version": "2.0", "title": "t",
      "publisher": {"category": "vendor", "name": "Acme PSIRT",
                    "namespace": "https://acme.example"},
      "tracking": {"id": "ACME-2026-7", "current_release_date":
                   "2026-11-02T10:00:00Z", "initial_release_date":
                   "2026-11-01T10:00:00Z", "status": "final", "version": "2",
                   "revision_history": []}
    },
    "product_tree": {
      "full_product_names": [
        {"name": "Acme Gateway 5.1", "product_id": "GW-51",
         "product_identification_helper":
           {"purl": "pkg:generic/acme/gateway@5.1"}},
        {"name": "Acme Gateway 5.2", "product_id": "GW-52"},
        {"name": "Acme Gateway 4.0", "product_id": "GW-40"}
      ],
      "product_groups": [{"group_id": "OLD", "product_ids": ["GW-40"]}]
    },
    "vulnerabilities": [
      {"cve": "CVE-2026-1111",
       "product_status": {"known_affected": ["GW-51", "GW-40", "GW-99"],
                          "known_not_affected": ["GW-52"]},
       "flags": [{"label": "vulnerable_code_not_in_execute_path",
                  "product_ids": ["GW-52"]}],
       "threats": [{"category": "exploit_status",
                    "details": "Exploited in the wild", "product_ids":
                    ["GW-51", "GW-40"]}],
       "remediations": [
         {"category": "workaround", "details": "Disable the SSL VPN portal.",
          "product_ids": ["GW-51"]},
         {"category": "none_available", "details": "No fix yet.",
          "product_ids": ["GW-51"]},
         {"category": "no_fix_planned", "details": "End of life.",
          "group_ids": ["OLD"]}
       ]},
      {"notes": [], "product_status": {"known_affected": ["GW-51"]}}
    ]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kDocument);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 3u);

  const v1::Finding& workaround = result->findings[0];
  EXPECT_EQ(workaround.asset().name(), "Acme Gateway 5.1");
  EXPECT_EQ(workaround.package().purl(), "pkg:generic/acme/gateway@5.1");
  EXPECT_EQ(workaround.vex().mitigation_statement(),
            "Disable the SSL VPN portal.");
  EXPECT_EQ(workaround.vex().action_statement(), "No fix yet.");
  EXPECT_EQ(workaround.fix().availability(),
            v1::FIX_AVAILABILITY_NOT_AVAILABLE);
  EXPECT_EQ(workaround.vulnerability().exploit_maturity(),
            v1::EXPLOIT_MATURITY_ACTIVE);

  const v1::Finding& end_of_life = result->findings[1];
  EXPECT_EQ(end_of_life.asset().name(), "Acme Gateway 4.0");
  EXPECT_EQ(end_of_life.fix().availability(), v1::FIX_AVAILABILITY_WONT_FIX);
  EXPECT_EQ(end_of_life.vex().action_statement(), "End of life.");

  const v1::Finding& not_affected = result->findings[2];
  EXPECT_EQ(not_affected.vex().status(), v1::VEX_STATUS_NOT_AFFECTED);
  EXPECT_EQ(not_affected.vex().justification(),
            v1::VEX_JUSTIFICATION_VULNERABLE_CODE_NOT_IN_EXECUTE_PATH);
  EXPECT_EQ(not_affected.vex().justification_label(),
            "vulnerable_code_not_in_execute_path");
  EXPECT_EQ(not_affected.vex().timestamp().seconds(), 1793613600);

  ASSERT_EQ(result->skipped.size(), 2u);
  EXPECT_EQ(result->skipped[0].json_path,
            "$.vulnerabilities[0].product_status.known_affected[2]");
  EXPECT_THAT(result->skipped[0].message, HasSubstr("GW-99"));
  EXPECT_EQ(result->skipped[1].json_path, "$.vulnerabilities[1]");
  EXPECT_THAT(result->skipped[1].message, HasSubstr("neither \"cve\""));
}

TEST(CsafImporterTest, RejectsAnotherCsafVersion) {
  absl::StatusOr<ImportResult> result = ImportFindings(
      R"({"document": {"csaf_version": "1.2"}, "vulnerabilities": []})");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(result.status().message(),
              HasSubstr("$.document.csaf_version: unsupported CSAF version"));
}

}  // namespace
}  // namespace treatd::importers
