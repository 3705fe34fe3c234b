#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "common/assets/dedup.h"
#include "common/exporters/exporter.h"
#include "common/exporters/sarif.h"
#include "common/importers/importer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/common/exporters/sample_decisions.h"
#include "tests/common/exporters/spec_validators.h"

namespace treatd::exporters {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::Json;
using testing::SampleDecisions;
using testing::ValidateSarif;

ExportOptions Options() {
  ExportOptions options;
  options.timestamp = absl::FromUnixSeconds(1767225600);  // 2026-01-01
  options.tool_version = "0.1.0";
  return options;
}

Json Export(const SampleDecisions& samples, const ExportOptions& options) {
  std::ostringstream out;
  absl::Status status =
      WriteDecisions(ExportFormat::kSarif, samples.Decided(), options, &out);
  EXPECT_TRUE(status.ok()) << status;
  Json log = Json::parse(out.str(), nullptr, false);
  EXPECT_FALSE(log.is_discarded()) << out.str();
  return log;
}

std::string ReadSample(const std::string& relative) {
  std::ifstream file(std::string(TREATD_SCANNER_TESTDATA_DIR) + "/" + relative,
                     std::ios::binary);
  EXPECT_TRUE(file.good()) << relative;
  std::stringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

TEST(SarifExporterTest, WritesLogWithAllRequiredFields) {
  SampleDecisions samples;
  Json log = Export(samples, Options());
  EXPECT_THAT(ValidateSarif(log), IsEmpty()) << log.dump(2);
  EXPECT_EQ(log["version"], "2.1.0");
  ASSERT_EQ(log["runs"].size(), 1u);
  const Json& run = log["runs"][0];
  EXPECT_EQ(run["tool"]["driver"]["name"], "treatd");
  EXPECT_EQ(run["tool"]["driver"]["version"], "0.1.0");
  EXPECT_EQ(run["invocations"][0]["endTimeUtc"], "2026-01-01T00:00:00Z");
  EXPECT_EQ(run["results"].size(), samples.size());
}

TEST(SarifExporterTest, AnnotatesEachResultWithItsDecision) {
  SampleDecisions samples;
  Json log = Export(samples, Options());
  const Json& mtr = log["runs"][0]["results"][1];
  EXPECT_EQ(mtr["ruleId"], "CVE-2024-3094");
  const Json& properties = mtr["properties"];
  EXPECT_EQ(properties["treatment"], "MITIGATE_THEN_REMEDIATE");
  EXPECT_EQ(properties["priority"], "P1");
  EXPECT_EQ(properties["mitigate_by"], "2026-01-01T04:00:00Z");
  EXPECT_EQ(properties["remediate_by"], "2026-01-04T00:00:00Z");
  EXPECT_FALSE(properties.contains("review_by"));
  EXPECT_EQ(properties["matched_rule"], "kev-exposed");
  EXPECT_EQ(properties["decision_id"], "dec-2");
  EXPECT_EQ(properties["finding_id"], "grype:CVE-2024-3094:2");
  EXPECT_THAT(mtr["message"]["text"].get<std::string>(),
              HasSubstr("xz backdoor: MITIGATE_THEN_REMEDIATE (priority P1)"));
  EXPECT_EQ(mtr["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "pkg:deb/debian/xz-utils@5.6.0");

  const Json& error = log["runs"][0]["results"][5];
  EXPECT_EQ(error["properties"]["error"],
            "INVALID_ARGUMENT: finding.kind is required");
  EXPECT_FALSE(error["properties"].contains("treatment"));
}

TEST(SarifExporterTest, MapsLevelFromTreatmentAndPriority) {
  SampleDecisions samples;
  Json log = Export(samples, Options());
  const Json& results = log["runs"][0]["results"];
  EXPECT_EQ(results[0]["level"], "warning");  // REMEDIATE P2
  EXPECT_EQ(results[1]["level"], "error");    // MITIGATE_THEN_REMEDIATE
  EXPECT_EQ(results[2]["level"], "note");     // ACCEPT
  EXPECT_EQ(results[4]["level"], "warning");  // MITIGATE P3
  EXPECT_EQ(results[5]["level"], "warning");  // error result

  ExportOptions options = Options();
  options.sarif_error_max_priority_rank = 2;
  EXPECT_EQ(Export(samples, options)["runs"][0]["results"][0]["level"],
            "error");
}

TEST(SarifExporterTest, RuleIdsAreVulnerabilityOrCheckIds) {
  SampleDecisions samples;
  Json log = Export(samples, Options());
  const Json& run = log["runs"][0];
  EXPECT_EQ(run["results"][6]["ruleId"], "AVD-KSV-0017");
  std::set<std::string> rule_ids;
  for (const Json& rule : run["tool"]["driver"]["rules"]) {
    EXPECT_TRUE(rule_ids.insert(rule["id"].get<std::string>()).second)
        << "duplicate rule " << rule["id"];
  }
  EXPECT_EQ(rule_ids.size(), samples.size());
  EXPECT_EQ(run["results"][6]["locations"][0]["physicalLocation"]
               ["artifactLocation"]["uri"],
            "Deployment/web");
}

TEST(SarifExporterTest, ValidatorRejectsBrokenLog) {
  SampleDecisions samples;
  Json log = Export(samples, Options());
  log["runs"][0]["results"][0]["level"] = "critical";
  log["runs"][0]["results"][1].erase("message");
  log["runs"][0]["results"][2]["ruleIndex"] = 1;
  log["runs"][0]["tool"]["driver"].erase("name");
  std::vector<std::string> problems = ValidateSarif(log);
  EXPECT_THAT(problems, ::testing::Contains("$.runs[0].tool.driver.name: "
                                            "required"));
  log["runs"][0]["tool"]["driver"]["name"] = "treatd";
  problems = ValidateSarif(log);
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr("results[0].level")));
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr("results[1].message")));
  EXPECT_THAT(problems, ::testing::Contains(HasSubstr("results[2].ruleIndex")));
}

// Imports a scanner's SARIF as treatctl does, decides some of the findings,
// and annotates the original document.
TEST(SarifAnnotationTest, AddsDecisionsToTheScannersOwnResults) {
  std::string document = ReadSample("sarif/alpine-310.sarif");
  absl::StatusOr<importers::ImportResult> imported =
      importers::ImportFindings(document, importers::ScannerFormat::kSarif);
  ASSERT_TRUE(imported.ok()) << imported.status();
  ASSERT_GE(imported->findings.size(), 4u);
  const size_t total = imported->findings.size();

  // Decide findings 0 and 2 (as copies, the way a pipeline would hold them).
  std::vector<v1::Finding> findings = {imported->findings[0],
                                       imported->findings[2]};
  std::vector<v1::DecisionResult> results(2);
  for (size_t i = 0; i < 2; ++i) {
    results[i].set_finding_id(findings[i].id());
    v1::Decision& d = *results[i].mutable_decision();
    d.set_decision_id("dec-" + std::to_string(i));
    d.set_treatment(i == 0 ? v1::TREATMENT_REMEDIATE : v1::TREATMENT_ACCEPT);
    d.set_priority(i == 0 ? "P2" : "P4");
    d.set_matched_rule("rule-" + std::to_string(i));
    *d.mutable_remediate_by() = testing::Time("2026-02-01T00:00:00Z");
  }
  // Finding 3 was merged into finding 0 by de-duplication.
  (*findings[0].mutable_attributes())[std::string(assets::kAttrMergedIds)] =
      imported->findings[3].id();
  std::vector<DecidedFinding> decided = {{&findings[0], &results[0]},
                                         {&findings[1], &results[1]}};

  std::ostringstream out;
  absl::StatusOr<SarifAnnotationStats> stats =
      AnnotateSarif(document, decided, &out);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->results, total);
  EXPECT_EQ(stats->annotated, 3u);

  Json annotated = Json::parse(out.str(), nullptr, false);
  ASSERT_FALSE(annotated.is_discarded());
  EXPECT_THAT(ValidateSarif(annotated), IsEmpty());
  Json original = Json::parse(document);
  const Json& results_out = annotated["runs"][0]["results"];
  ASSERT_EQ(results_out.size(), original["runs"][0]["results"].size());

  auto result_of = [&](const v1::Finding& finding) -> const Json& {
    std::string path = finding.attributes().at("import.json_path");
    size_t index = std::stoul(path.substr(path.rfind('[') + 1));
    return results_out[index];
  };
  EXPECT_EQ(result_of(imported->findings[0])["properties"]["treatment"],
            "REMEDIATE");
  EXPECT_EQ(result_of(imported->findings[0])["properties"]["decision_id"],
            "dec-0");
  EXPECT_EQ(result_of(imported->findings[3])["properties"]["decision_id"],
            "dec-0");
  EXPECT_EQ(result_of(imported->findings[2])["properties"]["treatment"],
            "ACCEPT");
  EXPECT_EQ(result_of(imported->findings[2])["properties"]["remediate_by"],
            "2026-02-01T00:00:00Z");
  EXPECT_FALSE(result_of(imported->findings[1]).contains("properties"));

  // Everything but the added properties is unchanged.
  Json stripped = annotated;
  for (Json& result : stripped["runs"][0]["results"]) {
    if (result.contains("properties") &&
        !original["runs"][0]["results"][0].contains("properties")) {
      result.erase("properties");
    }
  }
  EXPECT_EQ(stripped, original);
}

TEST(SarifAnnotationTest, RejectsDocumentsThatAreNotSarif) {
  std::ostringstream out;
  EXPECT_EQ(AnnotateSarif("{not json", {}, &out).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      AnnotateSarif(R"({"bomFormat":"CycloneDX"})", {}, &out).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace treatd::exporters
