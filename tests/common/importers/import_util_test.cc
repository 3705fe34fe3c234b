#include "common/importers/import_util.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "common/time/proto_time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace treatd::importers {
namespace {

TEST(ImportUtilTest, ReadsCvssVersionFromVector) {
  EXPECT_EQ(CvssVersionFromVector("CVSS:3.1/AV:N/AC:L"), "3.1");
  EXPECT_EQ(CvssVersionFromVector("CVSS:3.0/AV:N/AC:L"), "3.0");
  EXPECT_EQ(CvssVersionFromVector("CVSS:4.0/AV:N/AC:L/AT:N"), "4.0");
  EXPECT_EQ(CvssVersionFromVector("AV:N/AC:L/Au:N/C:P/I:N/A:N"), "2.0");
  EXPECT_EQ(CvssVersionFromVector("AV:N/AC:L/PR:N"), "");
}

TEST(ImportUtilTest, PrefersNvdV31ThenV30ThenV4) {
  std::vector<CvssCandidate> candidates = {
      {"redhat", "3.1", 8.6, "CVSS:3.1/a"},
      {"nvd", "2.0", 4.3, "AV:N/Au:N"},
      {"nvd", "4.0", 7.0, "CVSS:4.0/b"},
      {"nvd", "3.0", 6.0, "CVSS:3.0/c"},
  };
  EXPECT_EQ(PreferredCvss(candidates)->vector, "CVSS:3.0/c");
  candidates.push_back({"nvd", "", 6.5, "CVSS:3.1/d"});
  EXPECT_EQ(PreferredCvss(candidates)->vector, "CVSS:3.1/d");
  // Without NVD v3/v4, another source's v3.1 beats NVD's v2.
  std::vector<CvssCandidate> vendor_only = {{"nvd", "2.0", 4.3, "AV:N/Au:N"},
                                            {"ghsa", "3.1", 5.0, "CVSS:3.1/e"}};
  EXPECT_EQ(PreferredCvss(vendor_only)->source, "ghsa");
  EXPECT_EQ(PreferredCvss({}), nullptr);
}

TEST(ImportUtilTest, MapsSeverityWordsAndScores) {
  EXPECT_EQ(SeverityFromWord("CRITICAL"), v1::SEVERITY_CRITICAL);
  EXPECT_EQ(SeverityFromWord("Moderate"), v1::SEVERITY_MEDIUM);
  EXPECT_EQ(SeverityFromWord("Negligible"), v1::SEVERITY_INFO);
  EXPECT_EQ(SeverityFromWord("UNKNOWN"), v1::SEVERITY_UNSPECIFIED);
  EXPECT_EQ(SeverityFromWord("urgent"), std::nullopt);
  EXPECT_EQ(SeverityFromScore(0.0), v1::SEVERITY_INFO);
  EXPECT_EQ(SeverityFromScore(3.9), v1::SEVERITY_LOW);
  EXPECT_EQ(SeverityFromScore(4.0), v1::SEVERITY_MEDIUM);
  EXPECT_EQ(SeverityFromScore(8.9), v1::SEVERITY_HIGH);
  EXPECT_EQ(SeverityFromScore(9.0), v1::SEVERITY_CRITICAL);
}

TEST(ImportUtilTest, ParsesPackageUrls) {
  std::optional<PackageUrl> npm =
      ParsePackageUrl("pkg:npm/%40babel/core@7.0.0");
  ASSERT_TRUE(npm.has_value());
  EXPECT_EQ(npm->type, "npm");
  EXPECT_EQ(npm->name_space, "@babel");
  EXPECT_EQ(npm->name, "core");
  EXPECT_EQ(npm->version, "7.0.0");
  EXPECT_EQ(PackageNameFromPurl(*npm), "@babel/core");

  std::optional<PackageUrl> maven = ParsePackageUrl(
      "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1?type=jar");
  ASSERT_TRUE(maven.has_value());
  EXPECT_EQ(PackageNameFromPurl(*maven), "org.apache.logging.log4j:log4j-core");

  std::optional<PackageUrl> oci = ParsePackageUrl(
      "pkg:oci/alpine@sha256%3A124c?repository_url=index.docker.io");
  ASSERT_TRUE(oci.has_value());
  EXPECT_EQ(oci->version, "sha256:124c");

  std::optional<PackageUrl> deb =
      ParsePackageUrl("pkg:deb/debian/libc6@2.28-10?arch=amd64");
  ASSERT_TRUE(deb.has_value());
  EXPECT_EQ(PackageNameFromPurl(*deb), "libc6");
  EXPECT_EQ(EcosystemFromPurlType("golang"), "go");

  EXPECT_FALSE(ParsePackageUrl("cpe:2.3:a:busybox").has_value());
  EXPECT_FALSE(ParsePackageUrl("pkg:npm").has_value());
}

// EcosystemFromPackageUrl() is what the scanner importers call instead of
// ParsePackageUrl(): the same answer for every purl, valid or not.
TEST(ImportUtilTest, EcosystemFromPackageUrlAgreesWithParsePackageUrl) {
  for (absl::string_view purl : {
           "pkg:npm/%40babel/core@7.0.0",
           "pkg:golang/github.com/a/b@v1.2.3",
           "pkg:GOLANG/x/y",
           "pkg:Maven/org.apache/log4j@2.14.1?type=jar#sub/path",
           "pkg:/deb/debian/libc6@2.28-10?arch=amd64",
           "pkg:apk/alpine/busybox@1.30.1-r2",
           "pkg:npm/@scope/name@1.0.0",
           "pkg:oci/image@sha256%3Aabc",
           "pkg:npm/name@",
           "pkg:npm/%41",
           "pkg:npm/ns/",
           "pkg:npm/@1.0",
           "pkg:npm",
           "pkg:/npm",
           "pkg:/",
           "pkg:",
           "pkg:/a/b?",
           "pkg:a/#x",
           "cpe:2.3:a:busybox",
           "",
       }) {
    std::optional<PackageUrl> parsed = ParsePackageUrl(purl);
    std::optional<std::string> expected;
    if (parsed.has_value()) expected = EcosystemFromPurlType(parsed->type);
    EXPECT_EQ(EcosystemFromPackageUrl(purl), expected) << purl;
  }
}

TEST(ImportUtilTest, ParsesTimestampsAndDates) {
  google::protobuf::Timestamp timestamp;
  ASSERT_TRUE(ParseTimestamp("2021-08-25T12:20:30.000000005Z", &timestamp));
  EXPECT_EQ(timestamp.seconds(), 1629894030);
  EXPECT_EQ(timestamp.nanos(), 5);
  ASSERT_TRUE(ParseTimestamp("2023-07-17T18:28:47-06:00", &timestamp));
  EXPECT_EQ(timestamp.seconds(), 1689640127);
  ASSERT_TRUE(ParseTimestamp("2025-06-18", &timestamp));
  EXPECT_EQ(timestamp.seconds(), 1750204800);
  EXPECT_FALSE(ParseTimestamp("June 18", &timestamp));
}

// ParseTimestamp (ParseTimestampText, common/time) reads the common forms
// itself (issue 15); over edge and random inputs it must agree with
// absl::ParseTime of RFC 3339 or a YYYY-MM-DD date, which it used alone
// before: the same accepted inputs and the same instant. ("2021-8-25" and
// "+2021-08-25", which "%Y-%m-%d" takes, are not YYYY-MM-DD dates.)
TEST(ImportUtilTest, TimestampsAgreeWithAbslParseTime) {
  std::vector<std::string> inputs = {"2021-08-25T12:20:30Z",
                                     "2021-08-25t12:20:30z",
                                     "2021-08-25T12:20:30",
                                     "2021-08-25T12:20:30.1Z",
                                     "2021-08-25T12:20:30.123456789+05:30",
                                     "2021-08-25T12:20:30.1234567891Z",
                                     "2021-08-25T12:20:30.Z",
                                     "2021-08-25T24:00:00Z",
                                     "2021-08-25T23:59:60Z",
                                     "2021-08-25T12:60:00Z",
                                     "2021-08-25T12:20:30+24:00",
                                     "2021-08-25T12:20:30+23:59",
                                     "2021-08-25T12:20:30-00:00",
                                     "2021-08-25T12:20:30+0530",
                                     "2020-02-29",
                                     "2021-02-29",
                                     "2100-02-29",
                                     "2000-02-29",
                                     "2021-04-31",
                                     "2021-00-10",
                                     "2021-13-10",
                                     "2021-01-00",
                                     "0000-01-01",
                                     "9999-12-31",
                                     "1969-12-31T23:59:59.999999999Z",
                                     "1900-03-01T00:00:00Z",
                                     " 2021-08-25 ",
                                     "2021-8-25",
                                     "2021-08-25 12:20:30Z",
                                     "20210825",
                                     "2021-08-25T12:20Z",
                                     "+2021-08-25",
                                     "2021-08-25T12:20:30.5-06:00x"};
  // Random digits in the fixed form: valid and invalid fields alike.
  uint64_t state = 88172645463325252u;
  auto next = [&state](int mod) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<int>(state % static_cast<uint64_t>(mod));
  };
  for (int i = 0; i < 3000; ++i) {
    inputs.push_back(absl::StrFormat(
        "%04d-%02d-%02dT%02d:%02d:%02d%s%s", next(3000), next(14), next(33),
        next(26), next(62), next(62),
        next(2) == 0 ? "" : absl::StrCat(".", next(1000000)),
        next(3) == 0 ? "Z"
                     : absl::StrFormat("%c%02d:%02d", next(2) ? '+' : '-',
                                       next(26), next(62))));
    inputs.push_back(
        absl::StrFormat("%04d-%02d-%02d", next(3000), next(14), next(33)));
  }
  for (const std::string& input : inputs) {
    SCOPED_TRACE(input);
    absl::Time want;
    std::string error;
    std::string stripped(absl::StripAsciiWhitespace(input));
    const bool want_ok =
        absl::ParseTime(absl::RFC3339_full, stripped, &want, &error) ||
        (stripped.size() == 10 &&
         absl::ParseTime("%Y-%m-%d", stripped, &want, &error));
    google::protobuf::Timestamp got;
    ASSERT_EQ(ParseTimestamp(input, &got), want_ok);
    if (!want_ok) continue;
    google::protobuf::Timestamp expected;
    ToProtoTime(want, &expected);
    EXPECT_EQ(got.seconds(), expected.seconds());
    EXPECT_EQ(got.nanos(), expected.nanos());
  }
}

TEST(ImportUtilTest, RecognizesVulnerabilityAndCweIds) {
  EXPECT_TRUE(IsCveId("CVE-2021-44228"));
  EXPECT_FALSE(IsCveId("GHSA-jfh8-c2jp-5v3q"));
  EXPECT_FALSE(IsCveId("CVE-2021-44228-x"));
  EXPECT_EQ(FindVulnerabilityId("CVE-2008-0732-geronimo-jms_1.1_spec"),
            "CVE-2008-0732");
  EXPECT_EQ(FindVulnerabilityId("GHSA-57J2-W4CX-62H2-jackson-databind"),
            "GHSA-57j2-w4cx-62h2");
  EXPECT_EQ(FindVulnerabilityId("js/sql-injection"), "");
  EXPECT_EQ(FindVulnerabilityId("XCVE-2021-44228"), "");
  EXPECT_EQ(NormalizeCweId("external/cwe/cwe-079"), "CWE-79");
  EXPECT_EQ(NormalizeCweId("CWE-787"), "CWE-787");
  EXPECT_EQ(NormalizeCweId("NVD-CWE-Other"), "");
}

}  // namespace
}  // namespace treatd::importers
