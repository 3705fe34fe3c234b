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

TEST(CycloneDxImporterTest, ImportsEveryVulnerabilityOfCisaCase3Vex) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("cyclonedx/cisa-case-3-vex.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->format, ScannerFormat::kCycloneDx);
  // 19 vulnerabilities, each affecting the one product.
  EXPECT_EQ(result->findings.size(), 19u);
  EXPECT_TRUE(result->skipped.empty());
  int not_affected = 0;
  for (const v1::Finding& finding : result->findings) {
    if (finding.vex().status() == v1::VEX_STATUS_NOT_AFFECTED) ++not_affected;
  }
  EXPECT_EQ(not_affected, 6);  // analysis.state == "not_affected"
}

TEST(CycloneDxImporterTest, MapsAnalysisOfCisaCase3Vex) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("cyclonedx/cisa-case-3-vex.json"));
  ASSERT_TRUE(result.ok()) << result.status();

  const v1::Finding* not_affected = FindFinding(*result, "CVE-2020-11897");
  ASSERT_NE(not_affected, nullptr);
  EXPECT_EQ(not_affected->vex().status(), v1::VEX_STATUS_NOT_AFFECTED);
  EXPECT_EQ(not_affected->vex().justification(),
            v1::VEX_JUSTIFICATION_VULNERABLE_CODE_NOT_PRESENT);
  EXPECT_EQ(not_affected->vex().justification_label(), "code_not_present");
  EXPECT_EQ(not_affected->vex().impact_statement(),
            "IPv6 is not supported and code is not present.");
  EXPECT_EQ(Attribute(*not_affected, "cyclonedx.analysis.state"),
            "not_affected");
  // The company's environmental rating is the only one.
  EXPECT_DOUBLE_EQ(not_affected->vulnerability().cvss().score(), 0.0);
  EXPECT_TRUE(not_affected->vulnerability().cvss().has_score());
  EXPECT_EQ(not_affected->severity(), v1::SEVERITY_INFO);  // "none"
  EXPECT_EQ(not_affected->package().name(), "GHI");
  EXPECT_EQ(not_affected->package().installed_version(), "17.4");
  EXPECT_EQ(not_affected->asset().name(), "GHI");
  EXPECT_EQ(not_affected->asset().type(), v1::ASSET_TYPE_APPLICATION);
  EXPECT_EQ(not_affected->source(), "cyclonedx");
  EXPECT_EQ(not_affected->last_seen().seconds(), 1646265600);

  const v1::Finding* exploitable = FindFinding(*result, "CVE-2020-11896");
  ASSERT_NE(exploitable, nullptr);
  EXPECT_EQ(exploitable->vex().status(), v1::VEX_STATUS_UNDER_INVESTIGATION);
  EXPECT_DOUBLE_EQ(exploitable->vulnerability().cvss().score(), 10.0);
  EXPECT_EQ(exploitable->vulnerability().cvss().version(), "3.1");
  EXPECT_EQ(exploitable->severity(), v1::SEVERITY_CRITICAL);
  EXPECT_EQ(Attribute(*exploitable, "cvss.source"), "NVD");

  const v1::Finding* affected = FindFinding(*result, "CVE-2020-11907");
  ASSERT_NE(affected, nullptr);
  EXPECT_EQ(affected->vex().status(), v1::VEX_STATUS_AFFECTED);

  const v1::Finding* resolved = FindFinding(*result, "CVE-2020-11901");
  ASSERT_NE(resolved, nullptr);
  EXPECT_EQ(resolved->vex().status(), v1::VEX_STATUS_FIXED);
  EXPECT_EQ(resolved->fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
}

TEST(CycloneDxImporterTest, ImportsTrivyNpmBomVulnerability) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("cyclonedx/trivy-npm-cyclonedx.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  const v1::Finding& jquery = result->findings[0];
  EXPECT_EQ(jquery.source(), "trivy");
  EXPECT_EQ(jquery.vulnerability().cve_id(), "CVE-2019-11358");
  EXPECT_EQ(jquery.package().name(), "jquery");
  EXPECT_EQ(jquery.package().installed_version(), "3.3.9");
  EXPECT_EQ(jquery.package().purl(), "pkg:npm/jquery@3.3.9");
  EXPECT_EQ(jquery.package().ecosystem(), "npm");
  // NVD's CVSSv31 rating beats NVD's v2 and Red Hat's v3.0.
  EXPECT_EQ(jquery.vulnerability().cvss().version(), "3.1");
  EXPECT_DOUBLE_EQ(jquery.vulnerability().cvss().score(), 6.1);
  EXPECT_EQ(jquery.vulnerability().cvss().vector(),
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N");
  EXPECT_EQ(jquery.severity(), v1::SEVERITY_MEDIUM);
  EXPECT_THAT(jquery.vulnerability().cwe_ids(), ElementsAre("CWE-79"));
  EXPECT_THAT(jquery.description(), HasSubstr("Object.prototype pollution"));
  EXPECT_EQ(Attribute(jquery, "recommendation"),
            "Upgrade jquery to version 3.4.0");
  EXPECT_EQ(jquery.vulnerability().published().seconds(), 1555720140);
  EXPECT_EQ(jquery.asset().name(), "testdata/fixtures/repo/npm");
  EXPECT_EQ(jquery.title(), "CVE-2019-11358 in jquery 3.3.9");
}

TEST(CycloneDxImporterTest, SkipsBrokenAffectsEntryAndKeepsTheRest) {
  constexpr absl::string_view kBom = R"json({
    "bomFormat": "CycloneDX", "specVersion": "1.5",
    "metadata": {"tools": {"components": [{"name": "Dependency-Track"}]},
                 "component": {"name": "shop", "type": "container"}},
    "components": [{"bom-ref": "lib-a", "name": "a", "version": "1.0",
                    "purl": "pkg:pypi/a@1.0"}],
    "vulnerabilities": [
      {"id": "CVE-2024-0001",
       "analysis": {"state": "exploitable", "response": ["will_not_fix"]},
       "affects": [{"ref": "lib-a"}, {"versions": []},
                   {"ref": "pkg:golang/github.com/acme/b@v1.2.0"}]},
      {"id": 42, "affects": [{"ref": "lib-a"}]}
    ]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kBom);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 2u);
  EXPECT_EQ(result->findings[0].source(), "dependency-track");
  EXPECT_EQ(result->findings[0].package().name(), "a");
  EXPECT_EQ(result->findings[0].package().ecosystem(), "pypi");
  EXPECT_EQ(result->findings[0].fix().availability(),
            v1::FIX_AVAILABILITY_WONT_FIX);
  EXPECT_EQ(result->findings[0].asset().type(), v1::ASSET_TYPE_CONTAINER_IMAGE);
  // A ref outside the BOM that is a purl still names the package.
  EXPECT_EQ(result->findings[1].package().name(), "github.com/acme/b");
  EXPECT_EQ(result->findings[1].package().installed_version(), "v1.2.0");
  EXPECT_EQ(result->findings[1].package().ecosystem(), "go");
  ASSERT_EQ(result->skipped.size(), 2u);
  EXPECT_EQ(result->skipped[0].json_path,
            "$.vulnerabilities[0].affects[1].ref");
  EXPECT_EQ(result->skipped[1].json_path, "$.vulnerabilities[1].id");
}

}  // namespace
}  // namespace treatd::importers
