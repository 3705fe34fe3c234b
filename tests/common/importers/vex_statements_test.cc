#include "common/importers/vex_statements.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/importers/importer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/importers/test_data.h"
#include "treatd/v1/finding.pb.h"

namespace treatd::importers {
namespace {

using ::testing::HasSubstr;
using ::treatd::importers::testing::FindFinding;
using ::treatd::importers::testing::ReadScannerSample;

// An OpenVEX document with one statement per (vulnerability, product, status).
std::string OpenVex(absl::string_view statements) {
  return absl::StrCat(
      R"({"@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:t",
          "author": "Acme", "timestamp": "2026-01-01T00:00:00Z",
          "version": 1, "statements": [)",
      statements, "]}");
}

TEST(VexStatementsTest, MatchesTheTrivyScanByVulnerabilityAndPurl) {
  VexStatements vex;
  absl::StatusOr<ImportResult> added =
      vex.AddDocument(ReadScannerSample("../vex/alpine-39.openvex.json"));
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_EQ(vex.size(), 4u);
  absl::StatusOr<ImportResult> scan =
      ImportFindings(ReadScannerSample("trivy/alpine-39.json"));
  ASSERT_TRUE(scan.ok()) << scan.status();
  int matched = 0;
  for (v1::Finding& finding : scan->findings) {
    if (vex.Apply(&finding)) ++matched;
  }
  // libssl/libcrypto for CVE-2019-1549 (purl with version, qualifiers
  // ignored), libssl for CVE-2019-1551 (purl without version), musl for
  // CVE-2019-14697; not libcrypto for CVE-2019-1551 nor musl-utils.
  EXPECT_EQ(matched, 4);
  const v1::Finding* ssl = FindFinding(*scan, "CVE-2019-1549", "libssl1.1");
  ASSERT_NE(ssl, nullptr);
  EXPECT_EQ(ssl->vex().status(), v1::VEX_STATUS_NOT_AFFECTED);
  EXPECT_EQ(ssl->vex().author(),
            "Example Platform Security <psirt@example.com>");
  const v1::Finding* crypto =
      FindFinding(*scan, "CVE-2019-1551", "libcrypto1.1");
  ASSERT_NE(crypto, nullptr);
  EXPECT_FALSE(crypto->has_vex());
  const v1::Finding* affected =
      FindFinding(*scan, "CVE-2019-1551", "libssl1.1");
  ASSERT_NE(affected, nullptr);
  EXPECT_EQ(affected->vex().status(), v1::VEX_STATUS_AFFECTED);
  EXPECT_THAT(affected->vex().action_statement(), HasSubstr("3.9.5"));
  const v1::Finding* utils = FindFinding(*scan, "CVE-2019-14697", "musl-utils");
  ASSERT_NE(utils, nullptr);
  EXPECT_FALSE(utils->has_vex());
}

TEST(VexStatementsTest, VersionOfThePurlMustMatchWhenTheStatementGivesOne) {
  VexStatements vex;
  ASSERT_TRUE(vex.AddDocument(OpenVex(R"(
      {"vulnerability": {"name": "CVE-2024-0001"},
       "products": [{"@id": "pkg:npm/%40acme/web@2.0.0"}],
       "status": "fixed"})"))
                  .ok());
  v1::Finding finding;
  finding.mutable_vulnerability()->set_cve_id("cve-2024-0001");
  finding.mutable_package()->set_purl("pkg:npm/%40acme/web@1.9.0");
  EXPECT_FALSE(vex.Apply(&finding));
  finding.mutable_package()->set_purl("pkg:npm/%40acme/web@2.0.0?os=linux");
  EXPECT_TRUE(vex.Apply(&finding));
  EXPECT_EQ(finding.vex().status(), v1::VEX_STATUS_FIXED);
}

TEST(VexStatementsTest, MatchesAnAliasAndPrefersTheMostSpecificThenTheLatest) {
  VexStatements vex;
  ASSERT_TRUE(vex.AddDocument(OpenVex(R"(
      {"vulnerability": {"name": "GHSA-jfh8-c2jp-5v3q",
                         "aliases": ["CVE-2021-44228"]},
       "products": [{"@id": "pkg:maven/org.apache.logging.log4j/log4j-core"}],
       "status": "affected", "action_statement": "upgrade"},
      {"vulnerability": {"name": "CVE-2021-44228"},
       "products": [{"@id": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}],
       "status": "under_investigation",
       "timestamp": "2026-01-02T00:00:00Z"},
      {"vulnerability": {"name": "CVE-2021-44228"},
       "products": [{"@id": "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}],
       "status": "not_affected", "justification": "component_not_present",
       "timestamp": "2026-01-03T00:00:00Z"})"))
                  .ok());
  v1::Finding finding;
  finding.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
  finding.mutable_package()->set_purl(
      "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1");
  ASSERT_TRUE(vex.Apply(&finding));
  EXPECT_EQ(finding.vex().status(), v1::VEX_STATUS_NOT_AFFECTED);

  v1::Finding other_version = finding;
  other_version.clear_vex();
  other_version.mutable_package()->set_purl(
      "pkg:maven/org.apache.logging.log4j/log4j-core@2.17.0");
  ASSERT_TRUE(vex.Apply(&other_version));
  EXPECT_EQ(other_version.vex().status(), v1::VEX_STATUS_AFFECTED);
}

TEST(VexStatementsTest, MatchesCsafProductsByPackageNameAndVersion) {
  VexStatements vex;
  ASSERT_TRUE(
      vex.AddDocument(ReadScannerSample("csaf/2022-evd-uc-01-na-001.json"))
          .ok());
  v1::Finding finding;
  finding.mutable_vulnerability()->set_cve_id("CVE-2021-44228");
  finding.mutable_package()->set_name("abc");
  finding.mutable_package()->set_installed_version("4.1");
  EXPECT_FALSE(vex.Apply(&finding));
  finding.mutable_package()->set_installed_version("4.2");
  ASSERT_TRUE(vex.Apply(&finding));
  EXPECT_EQ(finding.vex().impact_statement(),
            "Class with vulnerable code was removed before shipping.");
  EXPECT_EQ(finding.vex().document_id(), "2022-EVD-UC-01-NA-001");
}

TEST(VexStatementsTest, RejectsADocumentWithoutStatements) {
  VexStatements vex;
  absl::StatusOr<ImportResult> added =
      vex.AddDocument(ReadScannerSample("trivy/alpine-39.json"));
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(added.status().message(),
              HasSubstr("no VEX statement in this trivy document"));
  EXPECT_EQ(vex.size(), 0u);
}

}  // namespace
}  // namespace treatd::importers
