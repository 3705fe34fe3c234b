#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/digest/sha256.h"
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

TEST(TrivyImporterTest, ImportsEveryVulnerabilityOfAlpine39) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("trivy/alpine-39.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->format, ScannerFormat::kTrivy);
  // 6 = len(Results[0].Vulnerabilities), counted with python3.
  EXPECT_EQ(result->findings.size(), 6u);
  EXPECT_TRUE(result->skipped.empty());
  EXPECT_TRUE(result->warnings.empty());
}

TEST(TrivyImporterTest, MapsVulnerabilityFieldsOfAlpine39) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("trivy/alpine-39.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  const v1::Finding* finding =
      FindFinding(*result, "CVE-2019-1549", "libcrypto1.1");
  ASSERT_NE(finding, nullptr);
  EXPECT_EQ(finding->kind(), v1::FINDING_KIND_VULNERABILITY);
  EXPECT_EQ(finding->source(), "trivy");
  EXPECT_EQ(finding->title(), "openssl: information disclosure in fork()");
  EXPECT_THAT(finding->description(), HasSubstr("rewritten random number"));
  EXPECT_EQ(finding->severity(), v1::SEVERITY_MEDIUM);
  EXPECT_EQ(finding->package().installed_version(), "1.1.1b-r1");
  EXPECT_THAT(finding->package().fixed_versions(), ElementsAre("1.1.1d-r0"));
  EXPECT_EQ(finding->package().purl(),
            "pkg:apk/alpine/libcrypto1.1@1.1.1b-r1?arch=x86_64&distro=3.9.4");
  EXPECT_EQ(finding->package().ecosystem(), "apk");
  EXPECT_EQ(finding->fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  EXPECT_EQ(Attribute(*finding, "fix.state"), "fixed");
  // NVD v3.1 wins over Red Hat's v3.0 and NVD's v2.
  EXPECT_EQ(finding->vulnerability().cvss().version(), "3.1");
  EXPECT_DOUBLE_EQ(finding->vulnerability().cvss().score(), 5.3);
  EXPECT_EQ(finding->vulnerability().cvss().vector(),
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N");
  EXPECT_EQ(Attribute(*finding, "cvss.source"), "nvd");
  EXPECT_THAT(finding->vulnerability().cwe_ids(), ElementsAre("CWE-330"));
  EXPECT_EQ(finding->vulnerability().published().seconds(), 1568135700);
  EXPECT_EQ(finding->asset().name(),
            "testdata/fixtures/images/alpine-39.tar.gz");
  EXPECT_EQ(finding->asset().type(), v1::ASSET_TYPE_CONTAINER_IMAGE);
  EXPECT_EQ(Attribute(*finding, "import.target"),
            "testdata/fixtures/images/alpine-39.tar.gz (alpine 3.9.4)");
  EXPECT_EQ(Attribute(*finding, "import.json_path"),
            "$.Results[0].Vulnerabilities[0]");
  EXPECT_EQ(Attribute(*finding, "import.format"), "trivy");
  EXPECT_EQ(finding->last_seen().seconds(), 1629894030);
  EXPECT_EQ(finding->last_seen().nanos(), 5);

  const v1::Finding* musl = FindFinding(*result, "CVE-2019-14697", "musl");
  ASSERT_NE(musl, nullptr);
  EXPECT_EQ(musl->severity(), v1::SEVERITY_CRITICAL);
  EXPECT_EQ(musl->vulnerability().cvss().version(), "3.0");
  EXPECT_DOUBLE_EQ(musl->vulnerability().cvss().score(), 9.8);
}

TEST(TrivyImporterTest, ImportsEveryVulnerabilityOfScheme2Report) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("trivy/scheme_2_many_vulns.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  // 3 os-pkgs + 0 (HdrHistogram) + 2 (commons-compress).
  EXPECT_EQ(result->findings.size(), 5u);
  EXPECT_TRUE(result->skipped.empty());

  const v1::Finding* compress = FindFinding(
      *result, "CVE-2018-11771", "org.apache.commons:commons-compress");
  ASSERT_NE(compress, nullptr);
  // No PURL in this older report: the result Type "jar" gives the ecosystem.
  EXPECT_EQ(compress->package().ecosystem(), "maven");
  EXPECT_EQ(compress->package().installed_version(), "1.14");
  EXPECT_THAT(compress->package().fixed_versions(), ElementsAre("1.18"));
  // No Status field: a FixedVersion means a fix is available.
  EXPECT_EQ(compress->fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  EXPECT_EQ(compress->vulnerability().cvss().version(), "3.0");
  EXPECT_DOUBLE_EQ(compress->vulnerability().cvss().score(), 5.5);
  EXPECT_EQ(compress->asset().name(), "teamdojo:latest");
  EXPECT_EQ(Attribute(*compress, "import.target"),
            "app/libs/commons-compress-1.14.jar");

  const v1::Finding* freetype = FindFinding(*result, "CVE-2020-15999");
  ASSERT_NE(freetype, nullptr);
  // NVD v3.1 (6.5) is preferred over Red Hat's higher v3.1 (8.6).
  EXPECT_DOUBLE_EQ(freetype->vulnerability().cvss().score(), 6.5);
  EXPECT_THAT(freetype->vulnerability().cwe_ids(), ElementsAre("CWE-787"));
  EXPECT_EQ(Attribute(*freetype, "location"), "app/libs/freetype-2.9.1-r2");
  EXPECT_EQ(Attribute(*freetype, "severity.source"), "nvd");
}

TEST(TrivyImporterTest, FindingIdsAreStableAndUnique) {
  std::string sample = ReadScannerSample("trivy/alpine-39.json");
  absl::StatusOr<ImportResult> first = ImportFindings(sample);
  absl::StatusOr<ImportResult> second = ImportFindings(sample);
  ASSERT_TRUE(first.ok() && second.ok());
  std::set<std::string> ids;
  for (size_t i = 0; i < first->findings.size(); ++i) {
    EXPECT_EQ(first->findings[i].id(), second->findings[i].id());
    EXPECT_THAT(first->findings[i].id(), ::testing::StartsWith("trivy:CVE-"));
    ids.insert(first->findings[i].id());
  }
  EXPECT_EQ(ids.size(), first->findings.size());
}

// A finding id is "<source>:<primary id>:" and the first 16 hex digits of
// SHA-256 over source, kind, primary id and identity joined by U+001F; ids
// must not change between versions (the ledger and dedup key on them).
TEST(TrivyImporterTest, FindingIdIsTheDocumentedDigest) {
  constexpr absl::string_view kReport = R"json({
    "SchemaVersion": 2, "ArtifactName": "img",
    "Results": [{"Target": "lib/x.jar", "Type": "jar", "Vulnerabilities": [
      {"VulnerabilityID": "CVE-2024-0001", "PkgName": "a",
       "InstalledVersion": "1.0", "PkgPath": "lib/x.jar",
       "PkgIdentifier": {"PURL": "pkg:maven/g/a@1.0"}}]}]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kReport);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  constexpr absl::string_view kSep = "\x1f";
  const std::string key = absl::StrCat(
      "trivy", kSep, v1::FINDING_KIND_VULNERABILITY, kSep, "CVE-2024-0001",
      kSep, "a", kSep, "1.0", kSep, "pkg:maven/g/a@1.0", kSep, "lib/x.jar",
      kSep, "img", kSep, "lib/x.jar");
  EXPECT_EQ(result->findings[0].id(),
            absl::StrCat("trivy:CVE-2024-0001:", Sha256Hex(key).substr(0, 16)));
  unsigned char digest[32];
  Sha256Into(key, digest);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(digest), 32),
            Sha256(key));
}

// Repeats of one identity are numbered in document order, each identity on
// its own, across results and around a skipped entry (ImportContext counts
// only ids whose digest prefix it has seen before).
TEST(TrivyImporterTest, RepeatedIdentitiesAreNumberedInDocumentOrder) {
  constexpr absl::string_view kReport = R"json({
    "SchemaVersion": 2, "ArtifactName": "img",
    "Results": [
      {"Target": "img", "Type": "debian", "Vulnerabilities": [
        {"VulnerabilityID": "CVE-2024-0001", "PkgName": "a"},
        {"VulnerabilityID": "CVE-2024-0002", "PkgName": "b"},
        {"VulnerabilityID": "CVE-2024-0001", "PkgName": "a"},
        {"PkgName": "broken"},
        {"VulnerabilityID": "CVE-2024-0002", "PkgName": "b"},
        {"VulnerabilityID": "CVE-2024-0001", "PkgName": "a"}]},
      {"Target": "img", "Type": "debian", "Vulnerabilities": [
        {"VulnerabilityID": "CVE-2024-0001", "PkgName": "a"},
        {"VulnerabilityID": "CVE-2024-0001", "PkgName": "other"}]}]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kReport);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 7u);
  EXPECT_EQ(result->skipped.size(), 1u);
  const std::string a = result->findings[0].id();
  const std::string b = result->findings[1].id();
  EXPECT_THAT(a, ::testing::StartsWith("trivy:CVE-2024-0001:"));
  EXPECT_THAT(b, ::testing::StartsWith("trivy:CVE-2024-0002:"));
  EXPECT_EQ(result->findings[2].id(), a + "~2");
  EXPECT_EQ(result->findings[3].id(), b + "~2");
  EXPECT_EQ(result->findings[4].id(), a + "~3");
  EXPECT_EQ(result->findings[5].id(), a + "~4");
  // Another package: another identity, not a repeat.
  EXPECT_THAT(result->findings[6].id(),
              ::testing::StartsWith("trivy:CVE-2024-0001:"));
  EXPECT_NE(result->findings[6].id(), a);
  EXPECT_FALSE(absl::StrContains(result->findings[6].id(), "~"));
}

TEST(TrivyImporterTest, ImportsMisconfigurationsAndSecrets) {
  // Shape of `trivy config` / `trivy fs --scanners secret` output.
  constexpr absl::string_view kReport = R"json({
    "SchemaVersion": 2,
    "ArtifactName": "deploy/",
    "ArtifactType": "filesystem",
    "Results": [
      {"Target": "deploy/web.yaml", "Class": "config", "Type": "kubernetes",
       "Misconfigurations": [
         {"Type": "Kubernetes Security Check", "ID": "KSV017",
          "AVDID": "AVD-KSV-0017", "Title": "Privileged container",
          "Description": "Privileged containers share namespaces with the host.",
          "Message": "Container 'web' should set 'securityContext.privileged' to false",
          "Resolution": "Change 'containers[].securityContext.privileged' to 'false'.",
          "Severity": "HIGH", "Status": "FAIL",
          "CauseMetadata": {"Resource": "Deployment/web", "Provider": "Kubernetes",
                            "Service": "general", "StartLine": 21}},
         {"ID": "KSV001", "AVDID": "AVD-KSV-0001", "Title": "Passing check",
          "Severity": "MEDIUM", "Status": "PASS"}
       ]},
      {"Target": "src/config.py", "Class": "secret",
       "Secrets": [
         {"RuleID": "aws-access-key-id", "Category": "AWS",
          "Severity": "CRITICAL", "Title": "AWS Access Key ID",
          "StartLine": 12, "EndLine": 12, "Match": "KEY=*****"}
       ]}
    ]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kReport);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 2u);  // The PASS check is no finding.

  const v1::Finding& misconfig = result->findings[0];
  EXPECT_EQ(misconfig.kind(), v1::FINDING_KIND_MISCONFIGURATION);
  EXPECT_EQ(misconfig.misconfiguration().check_id(), "AVD-KSV-0017");
  EXPECT_EQ(misconfig.misconfiguration().resource(), "Deployment/web");
  EXPECT_EQ(misconfig.severity(), v1::SEVERITY_HIGH);
  EXPECT_EQ(misconfig.title(), "Privileged container");
  EXPECT_EQ(misconfig.fix().availability(), v1::FIX_AVAILABILITY_AVAILABLE);
  EXPECT_EQ(Attribute(misconfig, "location"), "deploy/web.yaml:21");
  EXPECT_THAT(Attribute(misconfig, "remediation"), HasSubstr("privileged"));
  EXPECT_EQ(misconfig.asset().name(), "deploy/");
  EXPECT_THAT(misconfig.id(), ::testing::StartsWith("trivy:AVD-KSV-0017:"));

  const v1::Finding& secret = result->findings[1];
  EXPECT_EQ(secret.kind(), v1::FINDING_KIND_EXPOSED_SECRET);
  EXPECT_EQ(secret.secret().secret_type(), "aws-access-key-id");
  EXPECT_EQ(secret.secret().location(), "src/config.py:12");
  EXPECT_EQ(secret.severity(), v1::SEVERITY_CRITICAL);
  EXPECT_EQ(Attribute(secret, "secret.category"), "AWS");
}

TEST(TrivyImporterTest, ImportsKubernetesClusterReportOneAssetPerWorkload) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(ReadScannerSample("trivy/k8s-cluster-report.json"));
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->format, ScannerFormat::kTrivy);
  EXPECT_TRUE(result->skipped.empty());
  // Image findings: 3 in redis-follower, 4 in redis-leader; failed checks:
  // 1 and 5 (the two Services have none).
  ASSERT_EQ(result->findings.size(), 13u);
  std::map<std::string, std::pair<int, int>> per_asset;
  for (const v1::Finding& finding : result->findings) {
    auto& [vulnerabilities, misconfigurations] =
        per_asset[finding.asset().name()];
    if (finding.kind() == v1::FINDING_KIND_VULNERABILITY) ++vulnerabilities;
    if (finding.kind() == v1::FINDING_KIND_MISCONFIGURATION) {
      ++misconfigurations;
    }
    EXPECT_EQ(finding.asset().type(), v1::ASSET_TYPE_CONTAINER);
    EXPECT_EQ(Attribute(finding, "k8s.cluster"),
              "arn:aws:eks:us-east-1:576036489467:cluster/"
              "monitoring-test-cluster");
    EXPECT_EQ(Attribute(finding, "k8s.namespace"), "default");
    EXPECT_EQ(Attribute(finding, "k8s.kind"), "Deployment");
  }
  EXPECT_EQ(per_asset["default/Deployment/redis-follower"],
            std::make_pair(3, 1));
  EXPECT_EQ(per_asset["default/Deployment/redis-leader"], std::make_pair(4, 5));

  // The same CVE in the images of both Deployments: two findings, two ids.
  std::vector<const v1::Finding*> apt;
  for (const v1::Finding& finding : result->findings) {
    if (finding.vulnerability().cve_id() == "CVE-2020-27350") {
      apt.push_back(&finding);
    }
  }
  ASSERT_EQ(apt.size(), 2u);
  EXPECT_EQ(apt[1]->asset().name(), "default/Deployment/redis-leader");
  EXPECT_EQ(Attribute(*apt[1], "import.target"),
            "docker.io/redis:6.0.5 (debian 10.4)");
  EXPECT_EQ(Attribute(*apt[1], "k8s.name"), "redis-leader");
  EXPECT_NE(apt[0]->id(), apt[1]->id());
}

TEST(TrivyImporterTest, ClusterReportFindingsOfTwoWorkloadsHaveDistinctIds) {
  constexpr absl::string_view kReport = R"json({
    "ClusterName": "kind-kind",
    "Vulnerabilities": [
      {"Namespace": "shop", "Kind": "Deployment", "Name": "web",
       "Results": [{"Target": "nginx:1.25", "Class": "os-pkgs",
         "Vulnerabilities": [{"VulnerabilityID": "CVE-2023-44487",
           "PkgName": "libnghttp2-14", "InstalledVersion": "1.52.0-1",
           "Severity": "HIGH"}]}]},
      {"Namespace": "shop", "Kind": "Deployment", "Name": "api",
       "Results": [{"Target": "nginx:1.25", "Class": "os-pkgs",
         "Vulnerabilities": [{"VulnerabilityID": "CVE-2023-44487",
           "PkgName": "libnghttp2-14", "InstalledVersion": "1.52.0-1",
           "Severity": "HIGH"}]}]},
      {"Namespace": "shop", "Name": "no-kind", "Results": []}
    ],
    "Misconfigurations": null})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kReport);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 2u);
  EXPECT_EQ(result->findings[0].asset().name(), "shop/Deployment/web");
  EXPECT_EQ(result->findings[1].asset().name(), "shop/Deployment/api");
  EXPECT_NE(result->findings[0].id(), result->findings[1].id());
  ASSERT_EQ(result->skipped.size(), 1u);
  EXPECT_EQ(result->skipped[0].json_path, "$.Vulnerabilities[2].Kind");
}

TEST(TrivyImporterTest, ImportsLegacyTopLevelList) {
  constexpr absl::string_view kLegacy = R"json([
    {"Target": "alpine:3.9 (alpine 3.9.4)", "Type": "alpine",
     "Vulnerabilities": [
       {"VulnerabilityID": "CVE-2019-14697", "PkgName": "musl",
        "InstalledVersion": "1.1.20-r4", "FixedVersion": "1.1.20-r5",
        "Severity": "CRITICAL"},
       {"VulnerabilityID": "CVE-2019-1549", "PkgName": "libssl1.1",
        "InstalledVersion": "1.1.1b-r1", "Severity": "MEDIUM"}
     ]}])json";
  EXPECT_EQ(DetectFormat(kLegacy).value_or(ScannerFormat::kAuto),
            ScannerFormat::kTrivy);
  absl::StatusOr<ImportResult> result = ImportFindings(kLegacy);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 2u);
  EXPECT_EQ(result->findings[0].asset().name(), "alpine:3.9 (alpine 3.9.4)");
  EXPECT_EQ(result->findings[0].package().ecosystem(), "apk");
  // No FixedVersion and no Status: no fix yet.
  EXPECT_EQ(result->findings[1].fix().availability(),
            v1::FIX_AVAILABILITY_NOT_AVAILABLE);
}

TEST(TrivyImporterTest, SkipsBrokenVulnerabilityAndKeepsTheRest) {
  constexpr absl::string_view kReport = R"json({
    "SchemaVersion": 2, "ArtifactName": "img",
    "Results": [{"Target": "img", "Type": "debian", "Vulnerabilities": [
      {"VulnerabilityID": "CVE-2024-0001", "PkgName": "a"},
      {"VulnerabilityID": "CVE-2024-0002", "PkgName": "b", "CVSS": "high"},
      {"PkgName": "c"},
      {"VulnerabilityID": "CVE-2024-0004", "PkgName": "d",
       "PublishedDate": "yesterday"}
    ]}]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kReport);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 2u);
  EXPECT_EQ(result->findings[0].vulnerability().cve_id(), "CVE-2024-0001");
  EXPECT_EQ(result->findings[1].vulnerability().cve_id(), "CVE-2024-0004");
  EXPECT_EQ(result->findings[1].package().ecosystem(), "deb");
  ASSERT_EQ(result->skipped.size(), 2u);
  EXPECT_EQ(result->skipped[0].json_path,
            "$.Results[0].Vulnerabilities[1].CVSS");
  EXPECT_THAT(result->skipped[0].message, HasSubstr("expected an object"));
  EXPECT_EQ(result->skipped[1].json_path,
            "$.Results[0].Vulnerabilities[2].VulnerabilityID");
  // The unparseable date is dropped, the finding kept.
  ASSERT_EQ(result->warnings.size(), 1u);
  EXPECT_EQ(result->warnings[0].json_path,
            "$.Results[0].Vulnerabilities[3].PublishedDate");
}

TEST(TrivyImporterTest, EveryFindingCarriesTheReportTime) {
  for (const char* created_at : {"2024-05-06T07:08:09.5Z", "yesterday"}) {
    SCOPED_TRACE(created_at);
    const std::string report = absl::StrCat(
        R"json({"SchemaVersion": 2, "CreatedAt": ")json", created_at,
        R"json(", "Results": [{"Target": "t", "Vulnerabilities": [
          {"VulnerabilityID": "CVE-2024-0001", "PkgName": "a"},
          {"VulnerabilityID": "CVE-2024-0002", "PkgName": "b"}]}]})json");
    absl::StatusOr<ImportResult> result = ImportFindings(report);
    ASSERT_TRUE(result.ok()) << result.status();
    ASSERT_EQ(result->findings.size(), 2u);
    const bool valid = absl::StartsWith(created_at, "2024");
    for (const v1::Finding& finding : result->findings) {
      EXPECT_EQ(finding.last_seen().seconds(), valid ? 1714979289 : 0);
      EXPECT_EQ(finding.last_seen().nanos(), valid ? 500000000 : 0);
    }
    // A time that does not parse warns on every finding, as before.
    ASSERT_EQ(result->warnings.size(), valid ? 0u : 2u);
    for (const ImportIssue& warning : result->warnings) {
      EXPECT_EQ(warning.json_path, "$.CreatedAt");
    }
  }
}

TEST(TrivyImporterTest, RepeatedKeysOfAnEntryReadTheLastOne) {
  // As nlohmann::json read them (the importers' reader before issue 15).
  constexpr absl::string_view kReport = R"json({
    "SchemaVersion": 2, "ArtifactName": "img",
    "Results": [{"Target": "img", "Type": "debian", "Vulnerabilities": [
      {"VulnerabilityID": "CVE-2024-0001", "PkgName": "first",
       "Severity": "LOW", "VulnerabilityID": "CVE-2024-0002",
       "CVSS": {"nvd": {"V3Score": 1.0}, "nvd": {"V3Score": 9.8}},
       "PkgName": "last", "Severity": "CRITICAL", "Title": 7,
       "Title": "last title"},
      {"VulnerabilityID": "CVE-2024-0003", "PkgName": "p", "CVSS": {},
       "CVSS": "high"}
    ]}]})json";
  absl::StatusOr<ImportResult> result = ImportFindings(kReport);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  const v1::Finding& finding = result->findings[0];
  EXPECT_EQ(finding.vulnerability().cve_id(), "CVE-2024-0002");
  EXPECT_EQ(finding.package().name(), "last");
  EXPECT_EQ(finding.severity(), v1::SEVERITY_CRITICAL);
  EXPECT_DOUBLE_EQ(finding.vulnerability().cvss().score(), 9.8);
  EXPECT_EQ(finding.title(), "last title");
  ASSERT_EQ(result->skipped.size(), 1u);
  EXPECT_EQ(result->skipped[0].json_path,
            "$.Results[0].Vulnerabilities[1].CVSS");
}

}  // namespace
}  // namespace treatd::importers
