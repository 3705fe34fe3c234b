#include "common/assets/dedup.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"

namespace treatd::assets {
namespace {

using ::google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

v1::Finding Vulnerability(const std::string& id, const std::string& source,
                          const std::string& cve, const std::string& asset,
                          const std::string& package,
                          const std::string& version) {
  v1::Finding finding;
  finding.set_id(id);
  finding.set_source(source);
  finding.set_kind(v1::FINDING_KIND_VULNERABILITY);
  finding.mutable_vulnerability()->set_cve_id(cve);
  finding.mutable_asset()->set_name(asset);
  finding.mutable_package()->set_name(package);
  finding.mutable_package()->set_installed_version(version);
  return finding;
}

google::protobuf::Timestamp Time(const std::string& text) {
  google::protobuf::Timestamp timestamp;
  EXPECT_TRUE(TimeUtil::FromString(text, &timestamp)) << text;
  return timestamp;
}

TEST(DeduplicateFindingsTest, MergesSameVulnerabilityFromTwoScanners) {
  v1::Finding trivy =
      Vulnerability("trivy:1", "trivy", "CVE-2023-0464",
                    "registry.example.com/shop/web:1.2", "libssl3", "3.0.8-r0");
  trivy.mutable_vulnerability()->add_aliases("GHSA-aaaa-bbbb-cccc");
  trivy.mutable_vulnerability()->mutable_cvss()->set_version("3.1");
  trivy.mutable_vulnerability()->mutable_cvss()->set_score(7.5);
  trivy.mutable_vulnerability()->mutable_epss()->set_score(0.02);
  trivy.mutable_package()->add_fixed_versions("3.0.8-r3");
  *trivy.mutable_first_seen() = Time("2025-01-10T00:00:00Z");
  *trivy.mutable_last_seen() = Time("2025-02-01T00:00:00Z");
  trivy.set_severity(v1::SEVERITY_HIGH);

  v1::Finding grype =
      Vulnerability("grype:1", "grype", "CVE-2023-0464",
                    "registry.example.com/shop/web:1.2", "libssl3", "3.0.8-r0");
  grype.mutable_vulnerability()->add_aliases("OSV-2023-1");
  grype.mutable_vulnerability()->mutable_cvss()->set_version("3.1");
  grype.mutable_vulnerability()->mutable_cvss()->set_score(9.8);
  grype.mutable_vulnerability()->mutable_epss()->set_score(0.5);
  grype.mutable_vulnerability()->mutable_kev()->set_listed(true);
  grype.mutable_package()->add_fixed_versions("3.0.8-r3");
  grype.mutable_package()->add_fixed_versions("3.1.0");
  *grype.mutable_first_seen() = Time("2025-01-05T00:00:00Z");
  *grype.mutable_last_seen() = Time("2025-01-20T00:00:00Z");
  grype.set_severity(v1::SEVERITY_CRITICAL);

  v1::Finding other =
      Vulnerability("trivy:2", "trivy", "CVE-2024-1",
                    "registry.example.com/shop/web:1.2", "busybox", "1.36");
  std::vector<v1::Finding> findings = {trivy, other, grype};
  EXPECT_EQ(DeduplicateFindings(&findings), 1u);
  ASSERT_EQ(findings.size(), 2u);
  const v1::Finding& merged = findings[0];
  EXPECT_EQ(merged.id(), "trivy:1");
  EXPECT_EQ(merged.source(), "grype,trivy");
  EXPECT_EQ(merged.vulnerability().cve_id(), "CVE-2023-0464");
  EXPECT_THAT(merged.vulnerability().aliases(),
              ElementsAre("GHSA-aaaa-bbbb-cccc", "OSV-2023-1"));
  EXPECT_DOUBLE_EQ(merged.vulnerability().cvss().score(), 9.8);
  EXPECT_DOUBLE_EQ(merged.vulnerability().epss().score(), 0.5);
  EXPECT_TRUE(merged.vulnerability().kev().listed());
  EXPECT_THAT(merged.package().fixed_versions(),
              ElementsAre("3.0.8-r3", "3.1.0"));
  EXPECT_EQ(TimeUtil::ToString(merged.first_seen()), "2025-01-05T00:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(merged.last_seen()), "2025-02-01T00:00:00Z");
  EXPECT_EQ(merged.severity(), v1::SEVERITY_CRITICAL);
  EXPECT_EQ(merged.attributes().at(std::string(kAttrMergedIds)), "grype:1");
  EXPECT_EQ(findings[1].id(), "trivy:2");
}

TEST(DeduplicateFindingsTest, MergesSamePackageReportedInTwoLayers) {
  // One scanner, one image, the package seen in two layers; the second
  // report names the vulnerability by its GHSA alias only.
  v1::Finding layer1 = Vulnerability("trivy:a", "trivy", "CVE-2022-1", "img",
                                     "lodash", "4.17.20");
  layer1.mutable_vulnerability()->add_aliases("GHSA-xxxx-yyyy-zzzz");
  (*layer1.mutable_attributes())["layer"] = "sha256:1";
  v1::Finding layer2 =
      Vulnerability("trivy:b", "trivy", "", "img", "lodash", "4.17.20");
  layer2.mutable_vulnerability()->add_aliases("ghsa-xxxx-yyyy-zzzz");
  (*layer2.mutable_attributes())["layer"] = "sha256:2";
  (*layer2.mutable_attributes())["path"] = "/app/node_modules/lodash";
  std::vector<v1::Finding> findings = {layer1, layer2};
  EXPECT_EQ(DeduplicateFindings(&findings), 1u);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].source(), "trivy");
  // First wins on shared attribute keys; missing ones are added.
  EXPECT_EQ(findings[0].attributes().at("layer"), "sha256:1");
  EXPECT_EQ(findings[0].attributes().at("path"), "/app/node_modules/lodash");
  EXPECT_THAT(findings[0].vulnerability().aliases(),
              ElementsAre("GHSA-xxxx-yyyy-zzzz"));
}

TEST(DeduplicateFindingsTest, KeepsDifferentVersionsAssetsAndVulnerabilities) {
  std::vector<v1::Finding> findings = {
      Vulnerability("1", "trivy", "CVE-2023-1", "host-a", "openssl", "3.0.1"),
      Vulnerability("2", "grype", "CVE-2023-1", "host-a", "openssl", "3.0.2"),
      Vulnerability("3", "grype", "CVE-2023-1", "host-b", "openssl", "3.0.1"),
      Vulnerability("4", "grype", "CVE-2023-2", "host-a", "openssl", "3.0.1"),
      Vulnerability("5", "grype", "CVE-2023-1", "host-a", "libssl", "3.0.1"),
      Vulnerability("6", "grype", "CVE-2023-1", "", "openssl", "3.0.1"),
      Vulnerability("7", "grype", "CVE-2023-1", "", "openssl", "3.0.1"),
  };
  std::vector<v1::Finding> before = findings;
  EXPECT_EQ(DeduplicateFindings(&findings), 0u);
  ASSERT_EQ(findings.size(), before.size());
  for (size_t i = 0; i < findings.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(findings[i],
                                                                   before[i]));
  }
}

TEST(DeduplicateFindingsTest, AssetIdTakesPrecedenceOverName) {
  // After ApplyAssetContext two image tags of one inventory asset share an
  // id; they are the same asset.
  v1::Finding a = Vulnerability("a", "trivy", "CVE-1", "img:1", "zlib", "1");
  a.mutable_asset()->set_id("shop-images");
  v1::Finding b =
      Vulnerability("b", "grype", "CVE-1", "img:latest", "zlib", "1");
  b.mutable_asset()->set_id("shop-images");
  v1::Finding c = Vulnerability("c", "grype", "CVE-1", "img:1", "zlib", "1");
  c.mutable_asset()->set_id("other-asset");
  std::vector<v1::Finding> findings = {a, b, c};
  EXPECT_EQ(DeduplicateFindings(&findings), 1u);
  ASSERT_EQ(findings.size(), 2u);
  EXPECT_EQ(findings[0].id(), "a");
  EXPECT_EQ(findings[1].id(), "c");
}

TEST(DeduplicateFindingsTest, MergesTransitivelyThroughSharedAliases) {
  v1::Finding a = Vulnerability("a", "s1", "CVE-1", "h", "p", "1");
  v1::Finding b = Vulnerability("b", "s2", "", "h", "p", "1");
  b.mutable_vulnerability()->add_aliases("CVE-1");
  b.mutable_vulnerability()->add_aliases("GHSA-1");
  v1::Finding c = Vulnerability("c", "s3", "", "h", "p", "1");
  c.mutable_vulnerability()->add_aliases("GHSA-1");
  std::vector<v1::Finding> findings = {c, a, b};
  EXPECT_EQ(DeduplicateFindings(&findings), 2u);
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].id(), "c");
  EXPECT_EQ(findings[0].source(), "s1,s2,s3");
  EXPECT_EQ(findings[0].vulnerability().cve_id(), "CVE-1");
  EXPECT_THAT(findings[0].vulnerability().aliases(),
              UnorderedElementsAre("GHSA-1"));
  EXPECT_EQ(findings[0].attributes().at(std::string(kAttrMergedIds)), "a,b");
}

TEST(DeduplicateFindingsTest, IsDeterministicAndIdempotent) {
  auto make = [] {
    std::vector<v1::Finding> findings;
    for (int i = 0; i < 6; ++i) {
      v1::Finding f =
          Vulnerability("f" + std::to_string(i), i % 2 == 0 ? "trivy" : "grype",
                        "CVE-" + std::to_string(i / 2), "host", "pkg", "1");
      f.mutable_vulnerability()->add_aliases("A-" + std::to_string(i));
      findings.push_back(f);
    }
    return findings;
  };
  std::vector<v1::Finding> first = make();
  std::vector<v1::Finding> second = make();
  EXPECT_EQ(DeduplicateFindings(&first), 3u);
  EXPECT_EQ(DeduplicateFindings(&second), 3u);
  ASSERT_EQ(first.size(), 3u);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(first[i],
                                                                   second[i]));
  }
  EXPECT_EQ(first[1].id(), "f2");
  std::vector<v1::Finding> again = first;
  EXPECT_EQ(DeduplicateFindings(&again), 0u);
}

}  // namespace
}  // namespace treatd::assets
