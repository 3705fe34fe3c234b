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
using ::treatd::importers::testing::Attribute;
using ::treatd::importers::testing::FindFinding;
using ::treatd::importers::testing::ReadScannerSample;

TEST(OpenVexImporterTest, ImportsEveryStatementAndSubcomponentOfGoVex) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("openvex/go-vex-v0.2.0.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->format, ScannerFormat::kOpenVex);
  // 5 statements x 1 product x 2 subcomponents.
  EXPECT_EQ(result->findings.size(), 10u);
  EXPECT_TRUE(result->skipped.empty());
}

TEST(OpenVexImporterTest, MakesNotAffectedJustificationVisibleToPolicies) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("openvex/go-vex-v0.2.0.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::Finding* finding = FindFinding(*result, "CVE-2023-3446", "libssl3");
  ASSERT_NE(finding, nullptr);
  EXPECT_EQ(finding->source(), "openvex");
  EXPECT_EQ(finding->vex().status(), v1::VEX_STATUS_NOT_AFFECTED);
  EXPECT_EQ(finding->vex().justification(),
            v1::VEX_JUSTIFICATION_VULNERABLE_CODE_NOT_PRESENT);
  EXPECT_EQ(finding->vex().justification_label(),
            "vulnerable_code_not_present");
  EXPECT_EQ(finding->vex().impact_statement(),
            "affected functions were removed before packaging");
  // Typed, no longer a loose attribute.
  EXPECT_EQ(Attribute(*finding, "vex.status"), "");
  EXPECT_EQ(finding->package().installed_version(), "3.0.8-r3");
  EXPECT_EQ(finding->package().ecosystem(), "apk");
  EXPECT_EQ(finding->package().purl(), "pkg:apk/alpine/libssl3@3.0.8-r3");
  EXPECT_EQ(finding->asset().name(),
            "alpine@sha256:124c7d2707904eea7431fffe91522a01e5a861a624ee31d03"
            "372cc1d138a3126");
  EXPECT_EQ(finding->asset().type(), v1::ASSET_TYPE_CONTAINER_IMAGE);
  EXPECT_EQ(finding->fix().availability(), v1::FIX_AVAILABILITY_UNSPECIFIED);
  EXPECT_EQ(finding->vex().author(),
            "The OpenVEX Project <openvex@openssf.org>");

  const v1::Finding* fixed =
      FindFinding(*result, "CVE-2023-1255", "libcrypto3");
  ASSERT_NE(fixed, nullptr);
  EXPECT_EQ(fixed->vex().status(), v1::VEX_STATUS_FIXED);
  EXPECT_EQ(fixed->fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  EXPECT_EQ(fixed->vex().justification(), v1::VEX_JUSTIFICATION_UNSPECIFIED);
}

TEST(OpenVexImporterTest, ImportsProductsWithoutSubcomponentsOfSample) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("openvex/sample-2vulns.openvex.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 2u);
  const v1::Finding& first = result->findings[0];
  EXPECT_EQ(first.vulnerability().cve_id(), "CVE-2023-27103");
  EXPECT_THAT(first.vulnerability().aliases(),
              ElementsAre("SNYK-DEBIAN12-LIBDE265-3361563"));
  EXPECT_EQ(first.vex().status(), v1::VEX_STATUS_NOT_AFFECTED);
  EXPECT_EQ(first.vex().justification(),
            v1::VEX_JUSTIFICATION_COMPONENT_NOT_PRESENT);
  // 2023-08-15T19:55:22.076684217-06:00
  EXPECT_EQ(first.vex().timestamp().seconds(), 1692150922);
  EXPECT_EQ(first.vex().timestamp().nanos(), 76684217);
  EXPECT_FALSE(first.has_package());
  EXPECT_THAT(first.asset().name(), ::testing::StartsWith("nginx@sha256:"));

  const v1::Finding& second = result->findings[1];
  EXPECT_EQ(second.description(),
            "Access Restriction Bypass vulnerability in shadow");
  EXPECT_EQ(second.vex().status(), v1::VEX_STATUS_FIXED);
  // The document's timestamp stands in for a statement without one.
  EXPECT_EQ(second.vex().timestamp().seconds(), 1692150922 + 86400);
}

TEST(OpenVexImporterTest, SkipsStatementWithUnknownStatusAndKeepsTheRest) {
  constexpr absl::string_view kDocument = R"json({
    "@context": "https://openvex.dev/ns/v0.2.0",
    "@id": "https://example.com/vex/1", "author": "Acme PSIRT",
    "timestamp": "2024-01-01T00:00:00Z", "version": 1,
    "statements": [
      {"vulnerability": {"name": "CVE-2024-0001"},
       "products": [{"@id": "pkg:deb/debian/curl@7.88.1"}],
       "status": "affected",
       "action_statement": "Upgrade curl to 8.5.0"},
      {"vulnerability": {"name": "CVE-2024-0002"},
       "products": [{"@id": "pkg:deb/debian/curl@7.88.1"}],
       "status": "probably_fine"},
      {"vulnerability": {"name": "CVE-2024-0003"}, "products": [],
       "status": "fixed"}
    ]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kDocument);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  const v1::Finding& finding = result->findings[0];
  EXPECT_EQ(finding.vex().status(), v1::VEX_STATUS_AFFECTED);
  EXPECT_EQ(finding.vex().action_statement(), "Upgrade curl to 8.5.0");
  EXPECT_EQ(finding.vex().author(), "Acme PSIRT");
  EXPECT_EQ(finding.package().name(), "curl");
  EXPECT_EQ(finding.package().ecosystem(), "deb");
  EXPECT_EQ(finding.vex().document_id(), "https://example.com/vex/1");
  ASSERT_EQ(result->skipped.size(), 2u);
  EXPECT_EQ(result->skipped[0].json_path, "$.statements[1].status");
  EXPECT_THAT(result->skipped[0].message, HasSubstr("probably_fine"));
  EXPECT_EQ(result->skipped[1].json_path, "$.statements[2].products");
}

}  // namespace
}  // namespace treatd::importers
