#include <set>
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

TEST(GrypeImporterTest, ImportsEveryMatchOfCheckAllFields) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("grype/check_all_fields.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->format, ScannerFormat::kGrype);
  EXPECT_EQ(result->findings.size(), 6u);  // len(matches)
  EXPECT_TRUE(result->skipped.empty());
}

TEST(GrypeImporterTest, MapsFixStatesOfCheckAllFields) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("grype/check_all_fields.json"));
  ASSERT_TRUE(result.ok()) << result.status();

  const v1::Finding* krb5 = FindFinding(*result, "CVE-2004-0971");
  ASSERT_NE(krb5, nullptr);
  EXPECT_EQ(krb5->package().name(), "libgssapi-krb5-2");
  EXPECT_EQ(krb5->package().installed_version(), "1.17-3+deb10u3");
  EXPECT_EQ(krb5->package().ecosystem(), "deb");
  EXPECT_EQ(krb5->fix().availability(), v1::FIX_AVAILABILITY_NOT_AVAILABLE);
  EXPECT_EQ(Attribute(*krb5, "fix.state"), "not-fixed");
  EXPECT_EQ(krb5->severity(), v1::SEVERITY_INFO);  // "Negligible"
  // Only the related NVD record rates it: CVSS v2 2.1.
  EXPECT_EQ(krb5->vulnerability().cvss().version(), "2.0");
  EXPECT_DOUBLE_EQ(krb5->vulnerability().cvss().score(), 2.1);
  EXPECT_THAT(krb5->description(), HasSubstr("krb5-send-pr"));
  EXPECT_EQ(krb5->asset().name(), "vulnerable-image:latest");
  EXPECT_EQ(krb5->asset().type(), v1::ASSET_TYPE_CONTAINER_IMAGE);
  EXPECT_EQ(Attribute(*krb5, "location"), "/var/lib/dpkg/status");

  const v1::Finding* redis = FindFinding(*result, "CVE-2021-32626", "redis");
  ASSERT_NE(redis, nullptr);
  EXPECT_EQ(redis->fix().availability(), v1::FIX_AVAILABILITY_WONT_FIX);
  EXPECT_THAT(redis->package().fixed_versions(), ElementsAre("fix_1", "fix_2"));
  EXPECT_EQ(redis->package().purl(), "pkg:pypi/redis@4.0.2");
  EXPECT_EQ(redis->package().ecosystem(), "pypi");
  EXPECT_EQ(redis->vulnerability().cvss().version(), "3.1");
  EXPECT_DOUBLE_EQ(redis->vulnerability().cvss().score(), 8.8);
  EXPECT_EQ(redis->severity(), v1::SEVERITY_HIGH);

  // A GHSA match: the CVE of the related record is the primary id.
  const v1::Finding* django = FindFinding(*result, "CVE-2021-44420", "Django");
  ASSERT_NE(django, nullptr);
  EXPECT_THAT(django->vulnerability().aliases(),
              ElementsAre("GHSA-v6rh-hp5x-86rv"));
  EXPECT_EQ(django->fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  EXPECT_THAT(django->package().fixed_versions(), ElementsAre("3.2.10"));
  EXPECT_DOUBLE_EQ(django->vulnerability().cvss().score(), 7.3);
  EXPECT_EQ(django->title(), "GHSA-v6rh-hp5x-86rv in Django 3.2.9");
}

TEST(GrypeImporterTest, KeepsIdsUniqueForRepeatedMatches) {
  // matches[4] and matches[5] of the sample are byte-identical.
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("grype/check_all_fields.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  std::set<std::string> ids;
  for (const v1::Finding& finding : result->findings) ids.insert(finding.id());
  EXPECT_EQ(ids.size(), result->findings.size());
  EXPECT_EQ(result->findings[5].id(), result->findings[4].id() + "~2");
}

TEST(GrypeImporterTest, ImportsEpssOfManyVulns) {
  absl::StatusOr<ImportResult> result = ImportFindings(
      ReadScannerSample("grype/many_vulns_with_epss_values.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->findings.size(), 15u);  // len(matches)
  EXPECT_TRUE(result->skipped.empty());
  for (const v1::Finding& finding : result->findings) {
    EXPECT_TRUE(finding.vulnerability().epss().has_score()) << finding.id();
  }

  const v1::Finding* busybox = FindFinding(*result, "CVE-2022-28391");
  ASSERT_NE(busybox, nullptr);
  EXPECT_DOUBLE_EQ(busybox->vulnerability().epss().score(), 0.0719);
  EXPECT_DOUBLE_EQ(busybox->vulnerability().epss().percentile(), 0.91123);
  EXPECT_EQ(busybox->vulnerability().epss().score_date().seconds(), 1750204800);
  EXPECT_EQ(busybox->package().name(), "busybox");
  EXPECT_EQ(busybox->package().purl(), "pkg:generic/busybox@1.32.1");
  EXPECT_EQ(busybox->severity(), v1::SEVERITY_HIGH);
  // The NVD primary v3.1 rating, not the CNA's or the v2 one.
  EXPECT_EQ(busybox->vulnerability().cvss().vector(),
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H");
  EXPECT_EQ(Attribute(*busybox, "cvss.source"), "nvd@nist.gov");
  // An empty fix.state says nothing about a fix.
  EXPECT_EQ(busybox->fix().availability(), v1::FIX_AVAILABILITY_UNSPECIFIED);
  EXPECT_FALSE(busybox->vulnerability().kev().listed());

  const v1::Finding* fixed = FindFinding(*result, "CVE-2021-42376");
  ASSERT_NE(fixed, nullptr);
  EXPECT_EQ(fixed->fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  EXPECT_THAT(fixed->package().fixed_versions(), ElementsAre("1.34.0"));
  EXPECT_EQ(fixed->severity(), v1::SEVERITY_MEDIUM);
}

TEST(GrypeImporterTest, ImportsKnownExploitedAndCwes) {
  // Shape of grype >= 0.87 output with KEV data for a log4j match.
  constexpr absl::string_view kReport = R"json({
    "matches": [{
      "vulnerability": {
        "id": "GHSA-jfh8-c2jp-5v3q", "namespace": "github:language:java",
        "severity": "Critical",
        "fix": {"versions": ["2.15.0"], "state": "fixed"},
        "epss": [{"cve": "CVE-2021-44228", "epss": 0.94358,
                  "percentile": 0.99957, "date": "2025-06-18"}],
        "knownExploited": [{"cve": "CVE-2021-44228",
          "vendorProject": "Apache", "product": "Log4j2",
          "dateAdded": "2021-12-10", "dueDate": "2021-12-24",
          "requiredAction": "Apply updates per vendor instructions.",
          "knownRansomwareCampaignUse": "Known"}],
        "cwes": [{"cve": "CVE-2021-44228", "cwe": "CWE-502"},
                 {"cve": "CVE-2021-44228", "cwe": "CWE-917"}]
      },
      "relatedVulnerabilities": [{"id": "CVE-2021-44228", "namespace": "nvd:cpe",
        "cvss": [{"source": "nvd@nist.gov", "type": "Primary", "version": "3.1",
                  "vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                  "metrics": {"baseScore": 10.0}}]}],
      "artifact": {"name": "log4j-core", "version": "2.14.1",
                   "type": "java-archive",
                   "purl": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}
    }],
    "source": {"type": "directory", "target": "/srv/app"}
  })json";
  absl::StatusOr<ImportResult> result = ImportFindings(kReport);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  const v1::Finding& finding = result->findings[0];
  EXPECT_EQ(finding.vulnerability().cve_id(), "CVE-2021-44228");
  EXPECT_TRUE(finding.vulnerability().kev().listed());
  EXPECT_TRUE(finding.vulnerability().kev().known_ransomware_use());
  EXPECT_EQ(finding.vulnerability().kev().date_added().seconds(), 1639094400);
  EXPECT_EQ(finding.vulnerability().kev().due_date().seconds(), 1640304000);
  EXPECT_EQ(finding.vulnerability().kev().required_action(),
            "Apply updates per vendor instructions.");
  EXPECT_DOUBLE_EQ(finding.vulnerability().epss().score(), 0.94358);
  EXPECT_THAT(finding.vulnerability().cwe_ids(),
              ElementsAre("CWE-502", "CWE-917"));
  EXPECT_DOUBLE_EQ(finding.vulnerability().cvss().score(), 10.0);
  EXPECT_EQ(finding.package().ecosystem(), "maven");
  EXPECT_EQ(finding.asset().name(), "/srv/app");
  EXPECT_EQ(finding.asset().type(), v1::ASSET_TYPE_UNSPECIFIED);
  EXPECT_THAT(result->warnings, IsEmpty());
}

TEST(GrypeImporterTest, AListOfNonMatchesReservesNoFindingForEach) {
  // 100,000 two-byte entries: each is skipped, and the result must not
  // hold ~300 bytes of reserved Finding for every one of them.
  std::string report = R"json({"matches": [{"vulnerability": {"id": )json"
                       R"json("CVE-2024-0001", "severity": "Low"}, )json"
                       R"json("artifact": {"name": "a", "version": "1"}})json";
  for (int i = 0; i < 100000; ++i) report += ",0";
  report += "]}";
  absl::StatusOr<ImportResult> result = ImportFindings(report);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  EXPECT_EQ(result->skipped.size(), 100000u);
  EXPECT_LE(result->findings.capacity(), 4096u);
}

TEST(GrypeImporterTest, SkipsMatchWithoutArtifactAndKeepsTheRest) {
  constexpr absl::string_view kReport = R"json({"matches": [
    {"vulnerability": {"id": "CVE-2024-0001", "severity": "Low"},
     "artifact": {"name": "a", "version": "1"}},
    {"vulnerability": {"id": "CVE-2024-0002", "severity": "Low"}},
    {"vulnerability": {"id": "CVE-2024-0003", "severity": "Low",
                       "epss": [{"cve": "CVE-2024-0003", "epss": "high"}]},
     "artifact": {"name": "c", "version": "1"}},
    {"vulnerability": {"id": "CVE-2024-0004", "severity": "Low"},
     "artifact": {"name": "d", "version": "1"}}
  ]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kReport);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 2u);
  EXPECT_EQ(result->findings[0].package().name(), "a");
  EXPECT_EQ(result->findings[1].package().name(), "d");
  ASSERT_EQ(result->skipped.size(), 2u);
  EXPECT_EQ(result->skipped[0].json_path, "$.matches[1].artifact");
  EXPECT_EQ(result->skipped[1].json_path,
            "$.matches[2].vulnerability.epss[0].epss");
}

TEST(GrypeImporterTest, RepeatedKeysOfAMatchReadTheLastOne) {
  // As nlohmann::json read them (the importers' reader before issue 15).
  constexpr absl::string_view kReport = R"json({"matches": [
    {"artifact": {"name": "old"},
     "vulnerability": {"id": "CVE-2024-0001", "severity": "Low",
                       "id": "CVE-2024-0002", "severity": "High",
                       "cvss": [{"version": "3.1", "metrics": {"baseScore": 1},
                                 "metrics": {"baseScore": 8.1}}]},
     "artifact": {"name": "a", "version": "1", "name": "b"},
     "relatedVulnerabilities": [{"id": "GHSA-0000-0000-0001",
                                 "id": "CVE-2024-0009"}]},
    {"vulnerability": {"id": "CVE-2024-0003"}, "artifact": {"name": "c"},
     "artifact": []}
  ]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kReport);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  const v1::Finding& finding = result->findings[0];
  EXPECT_EQ(finding.package().name(), "b");
  EXPECT_EQ(finding.severity(), v1::SEVERITY_HIGH);
  EXPECT_EQ(finding.vulnerability().cve_id(), "CVE-2024-0002");
  EXPECT_THAT(finding.vulnerability().aliases(), ElementsAre("CVE-2024-0009"));
  EXPECT_DOUBLE_EQ(finding.vulnerability().cvss().score(), 8.1);
  ASSERT_EQ(result->skipped.size(), 1u);
  EXPECT_EQ(result->skipped[0].json_path, "$.matches[1].artifact");
}

}  // namespace
}  // namespace treatd::importers
