#include "common/ledger/identity.h"

#include <string>
#include <vector>

#include "common/assets/dedup.h"
#include "gtest/gtest.h"

namespace treatd::ledger {
namespace {

v1::Finding Vulnerability(const std::string& asset_id, const std::string& cve,
                          const std::string& package,
                          const std::string& version = "1.0") {
  v1::Finding f;
  f.set_id("f-" + cve);
  f.set_kind(v1::FINDING_KIND_VULNERABILITY);
  f.mutable_asset()->set_id(asset_id);
  f.mutable_vulnerability()->set_cve_id(cve);
  f.mutable_package()->set_name(package);
  f.mutable_package()->set_installed_version(version);
  return f;
}

TEST(FindingIdentityKeyTest, VulnerabilityKeyNamesAssetCveAndPackage) {
  absl::StatusOr<std::string> key =
      FindingIdentityKey(Vulnerability("host-1", "cve-2024-3094", "xz-utils"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "vulnerability|id=host-1|CVE-2024-3094|xz-utils");
}

TEST(FindingIdentityKeyTest, InstalledVersionDoesNotChangeTheKey) {
  EXPECT_EQ(*FindingIdentityKey(Vulnerability("h", "CVE-1-1", "p", "1.0")),
            *FindingIdentityKey(Vulnerability("h", "CVE-1-1", "p", "1.1")));
}

TEST(FindingIdentityKeyTest, AssetNameWhenThereIsNoAssetId) {
  v1::Finding f = Vulnerability("", "CVE-2024-1", "p");
  f.mutable_asset()->set_name("registry/app:1");
  EXPECT_EQ(*FindingIdentityKey(f),
            "vulnerability|name=registry/app:1|CVE-2024-1|p");
}

TEST(FindingIdentityKeyTest, ScannersReportingOneCveUnderDifferentIdsAgree) {
  v1::Finding trivy = Vulnerability("h", "CVE-2024-1", "p");
  trivy.mutable_vulnerability()->add_aliases("GHSA-aaaa-bbbb-cccc");
  v1::Finding grype = Vulnerability("h", "", "p");
  grype.mutable_vulnerability()->add_aliases("ghsa-aaaa-bbbb-cccc");
  grype.mutable_vulnerability()->add_aliases("cve-2024-1");
  EXPECT_EQ(*FindingIdentityKey(trivy), *FindingIdentityKey(grype));
}

TEST(FindingIdentityKeyTest, FindingsTheImportersMergeGetOneKey) {
  v1::Finding a = Vulnerability("h", "CVE-2024-7", "openssl");
  v1::Finding b = Vulnerability("h", "", "openssl");
  b.set_id("other");
  b.mutable_vulnerability()->add_aliases("CVE-2024-7");
  std::vector<v1::Finding> findings = {a, b};
  ASSERT_EQ(assets::DeduplicateFindings(&findings), 1u);
  EXPECT_EQ(*FindingIdentityKey(a), *FindingIdentityKey(b));
  EXPECT_EQ(*FindingIdentityKey(findings[0]), *FindingIdentityKey(a));
}

TEST(FindingIdentityKeyTest, OtherKindsUseTheirSubject) {
  v1::Finding misconfig;
  misconfig.set_kind(v1::FINDING_KIND_MISCONFIGURATION);
  misconfig.mutable_asset()->set_id("acct");
  misconfig.mutable_misconfiguration()->set_check_id("AVD-AWS-0086");
  misconfig.mutable_misconfiguration()->set_resource("bucket|logs");
  EXPECT_EQ(*FindingIdentityKey(misconfig),
            "misconfiguration|id=acct|AVD-AWS-0086|bucket%7Clogs");
  // Every '|' and '%' of every part, also next to each other and at the
  // ends; the rest byte for byte.
  misconfig.mutable_asset()->set_id("|a%");
  misconfig.mutable_misconfiguration()->set_resource("%50%|a||b%");
  EXPECT_EQ(*FindingIdentityKey(misconfig),
            "misconfiguration|id=%7Ca%25|AVD-AWS-0086|%2550%25%7Ca%7C%7Cb%25");

  v1::Finding secret;
  secret.set_kind(v1::FINDING_KIND_EXPOSED_SECRET);
  secret.mutable_asset()->set_id("repo");
  secret.mutable_secret()->set_location("config/app.yaml:12");
  secret.mutable_secret()->set_secret_type("aws-access-key");
  EXPECT_EQ(*FindingIdentityKey(secret),
            "secret|id=repo|config/app.yaml:12#aws-access-key|");

  v1::Finding malware;
  malware.set_kind(v1::FINDING_KIND_MALWARE);
  malware.mutable_malware()->set_sha256("ABCDEF");
  malware.mutable_malware()->set_path("/tmp/x");
  EXPECT_EQ(*FindingIdentityKey(malware), "malware|-|abcdef|");
}

TEST(FindingIdentityKeyTest, CallerOverrideIsUsedVerbatim) {
  v1::Finding f = Vulnerability("h", "CVE-2024-1", "p");
  f.set_identity_key("ticket:SEC-42");
  EXPECT_EQ(*FindingIdentityKey(f), "ticket:SEC-42");
}

TEST(FindingIdentityKeyTest, BadInputNamesTheField) {
  v1::Finding no_kind;
  EXPECT_EQ(FindingIdentityKey(no_kind).status().code(),
            absl::StatusCode::kInvalidArgument);

  v1::Finding no_cve = Vulnerability("h", "", "p");
  absl::Status status = FindingIdentityKey(no_cve).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("vulnerability.cve_id"),
            absl::string_view::npos);

  v1::Finding control = Vulnerability("h", "CVE-1", "p");
  control.set_identity_key("a\nb");
  status = FindingIdentityKey(control).status();
  EXPECT_NE(status.message().find("identity_key"), absl::string_view::npos);

  v1::Finding too_long = Vulnerability("h", "CVE-1", "p");
  too_long.set_identity_key(std::string(513, 'k'));
  EXPECT_EQ(FindingIdentityKey(too_long).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace treatd::ledger
