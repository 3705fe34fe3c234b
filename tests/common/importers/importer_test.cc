#include "common/importers/importer.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/importers/test_data.h"

namespace treatd::importers {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::treatd::importers::testing::ReadScannerSample;

struct DetectionCase {
  const char* sample;
  ScannerFormat format;
};

class DetectFormatTest : public ::testing::TestWithParam<DetectionCase> {};

TEST_P(DetectFormatTest, DetectsFormatOfSharedSample) {
  absl::StatusOr<ScannerFormat> format =
      DetectFormat(ReadScannerSample(GetParam().sample));
  ASSERT_TRUE(format.ok()) << format.status();
  EXPECT_EQ(*format, GetParam().format);
}

INSTANTIATE_TEST_SUITE_P(
    EverySample, DetectFormatTest,
    ::testing::Values(
        DetectionCase{"trivy/alpine-39.json", ScannerFormat::kTrivy},
        DetectionCase{"trivy/scheme_2_many_vulns.json", ScannerFormat::kTrivy},
        DetectionCase{"grype/check_all_fields.json", ScannerFormat::kGrype},
        DetectionCase{"grype/many_vulns_with_epss_values.json",
                      ScannerFormat::kGrype},
        DetectionCase{"sarif/alpine-310.sarif", ScannerFormat::kSarif},
        DetectionCase{"sarif/cxf-3.4.6.sarif", ScannerFormat::kSarif},
        DetectionCase{"cyclonedx/cisa-case-3-vex.json",
                      ScannerFormat::kCycloneDx},
        DetectionCase{"cyclonedx/trivy-npm-cyclonedx.json",
                      ScannerFormat::kCycloneDx},
        DetectionCase{"openvex/go-vex-v0.2.0.json", ScannerFormat::kOpenVex},
        DetectionCase{"openvex/sample-2vulns.openvex.json",
                      ScannerFormat::kOpenVex}));

TEST(ImporterTest, RejectsDocumentThatIsNotJson) {
  absl::StatusOr<ImportResult> result =
      ImportFindings("Total: 6 (UNKNOWN: 0, LOW: 0, MEDIUM: 4)");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              StartsWith("$: not a JSON document"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("line 1"));
  EXPECT_FALSE(DetectFormat("{\"matches\": [").ok());
}

// Found by fuzz_import_trivy (tests/fuzz/corpus/import_trivy/): a number
// no double can hold made nlohmann::json throw out_of_range, which was not
// caught and terminated treatctl.
TEST(ImporterTest, RejectsNumberOutOfDoubleRange) {
  for (ScannerFormat format : {ScannerFormat::kAuto, ScannerFormat::kTrivy}) {
    absl::StatusOr<ImportResult> result = ImportFindings(
        R"json({"SchemaVersion": 2, "Results": [{"Target": 8e364}]})json",
        format);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(result.status().message()),
                StartsWith("$: not a JSON document"));
    EXPECT_THAT(std::string(result.status().message()),
                HasSubstr("number overflow"));
  }
  EXPECT_FALSE(DetectFormat("[-1e400]").ok());
}

TEST(ImporterTest, RejectsJsonOfUnknownShape) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(R"json({"findings": [{"id": "x"}]})json");
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(result.status().message()),
              StartsWith("$: unrecognized document"));
  EXPECT_FALSE(DetectFormat("[1, 2]").ok());
  EXPECT_FALSE(DetectFormat("\"trivy\"").ok());
}

TEST(ImporterTest, OverrideReadsDocumentAsGivenFormat) {
  // Content detection says Grype; the override insists on Trivy, whose
  // required shape the document lacks.
  std::string grype = ReadScannerSample("grype/check_all_fields.json");
  absl::StatusOr<ImportResult> as_trivy =
      ImportFindings(grype, ScannerFormat::kTrivy);
  ASSERT_FALSE(as_trivy.ok());
  EXPECT_EQ(as_trivy.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(as_trivy.status().message()),
              StartsWith("$: not a Trivy report"));

  absl::StatusOr<ImportResult> as_grype =
      ImportFindings(grype, ScannerFormat::kGrype);
  ASSERT_TRUE(as_grype.ok()) << as_grype.status();
  EXPECT_EQ(as_grype->format, ScannerFormat::kGrype);
  EXPECT_EQ(as_grype->findings.size(), 6u);

  // A SARIF log without $schema or version is only readable with the
  // override.
  constexpr absl::string_view kBareSarif =
      R"json({"runs": [{"tool": {"driver": {"name": "t"}},
                        "results": [{"ruleId": "CVE-2024-1234"}]}]})json";
  EXPECT_FALSE(ImportFindings(kBareSarif).ok());
  absl::StatusOr<ImportResult> sarif =
      ImportFindings(kBareSarif, ScannerFormat::kSarif);
  ASSERT_TRUE(sarif.ok()) << sarif.status();
  EXPECT_EQ(sarif->findings.size(), 1u);
}

TEST(ImporterTest, OverrideReportsPathOfMissingTopLevelArray) {
  absl::StatusOr<ImportResult> result =
      ImportFindings(R"json({"statements": {}})json", ScannerFormat::kGrype);
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              StartsWith("$.matches: "));
  result = ImportFindings(
      R"json({"@context": "https://openvex.dev/ns/v0.2.0", "statements": 3})json");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()),
              StartsWith("$.statements: expected an array"));
}

TEST(ImporterTest, ParsesFormatNames) {
  EXPECT_EQ(ParseScannerFormat("trivy").value(), ScannerFormat::kTrivy);
  EXPECT_EQ(ParseScannerFormat("Grype").value(), ScannerFormat::kGrype);
  EXPECT_EQ(ParseScannerFormat("SARIF").value(), ScannerFormat::kSarif);
  EXPECT_EQ(ParseScannerFormat("cyclonedx").value(), ScannerFormat::kCycloneDx);
  EXPECT_EQ(ParseScannerFormat("openvex").value(), ScannerFormat::kOpenVex);
  EXPECT_EQ(ParseScannerFormat("auto").value(), ScannerFormat::kAuto);
  absl::StatusOr<ScannerFormat> unknown = ParseScannerFormat("spdx");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("cyclonedx"));
  for (ScannerFormat format :
       {ScannerFormat::kTrivy, ScannerFormat::kGrype, ScannerFormat::kSarif,
        ScannerFormat::kCycloneDx, ScannerFormat::kOpenVex}) {
    EXPECT_EQ(ParseScannerFormat(ScannerFormatName(format)).value(), format);
  }
}

TEST(ImporterTest, CutsLongTextAtCharacterBoundary) {
  // "é" is two bytes; a 5-byte limit must not split the third one.
  constexpr absl::string_view kReport = R"json({"SchemaVersion": 2,
    "Results": [{"Target": "t", "Vulnerabilities": [
      {"VulnerabilityID": "CVE-2024-0001", "Title": "ééééé"}]}]})json";
  ImportOptions options;
  options.max_text_bytes = 5;
  absl::StatusOr<ImportResult> result = ImportFindings(kReport, options);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->findings.size(), 1u);
  EXPECT_EQ(result->findings[0].title(), "éé");
}

}  // namespace
}  // namespace treatd::importers
