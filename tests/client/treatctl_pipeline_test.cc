// treatctl in pipelines, run as a process: scanner documents in (every
// sample of tests/testdata/scanners), asset inventory, de-duplication,
// every output format parsed back, the --fail-on gate and its exit code,
// the summary, the progress line, and `decide` streaming 20,000 findings to
// a server started in the test.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/exporters/decision_csv.h"
#include "common/policy/engine/compiled_policy.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/policy_store.h"
#include "server/server.h"
#include "tests/client/treatctl_runner.h"
#include "tests/common/example_decisions.h"
#include "tests/common/exporters/spec_validators.h"
#include "tests/common/random_finding.h"
#include "tests/server/subprocess.h"

namespace treatd {
namespace {

using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::Subprocess;

// Internet-facing critical assets are mitigated first; high CVSS is P2.
constexpr char kPolicy[] = R"yaml(name: pipeline-test
version: "1"
priorities:
  - name: P1
    mitigate_within: 24h
    remediate_within: 3d
    review_within: 7d
  - name: P2
    remediate_within: 30d
    review_within: 30d
  - name: P4
    remediate_within: 90d
    review_within: 30d
rules:
  - id: internet-critical
    when: asset.exposure == "INTERNET" && asset.criticality == "CRITICAL"
    treatment: MITIGATE_THEN_REMEDIATE
    priority: P1
  - id: kev
    when: vulnerability.kev.listed
    treatment: MITIGATE_THEN_REMEDIATE
    priority: P1
  - id: high-cvss
    when: vulnerability.cvss.score >= 7.0
    treatment: REMEDIATE
    priority: P2
default:
  treatment: REMEDIATE
  priority: P4
)yaml";

// The Trivy sample's target, made an internet-facing crown jewel.
constexpr char kInventory[] = R"yaml(assets:
  - match: "testdata/fixtures/images/alpine-39*"
    id: alpine-prod
    environment: production
    criticality: critical
    exposure: internet
    owner: team-base-images
)yaml";

constexpr char kAsOf[] = "2026-01-01T00:00:00Z";

using RunResult = testing::TreatctlRun;

RunResult Treatctl(const std::vector<std::string>& args,
                   const std::string& stdin_text = "") {
  return testing::RunTreatctl(args, stdin_text, absl::Seconds(100));
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/treatctl_pipeline_", getpid(),
                      "_", name);
}

std::string WriteTempFile(const std::string& name, const std::string& text) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string ReadWhole(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

std::string Sample(const std::string& relative) {
  return absl::StrCat(TREATD_SCANNER_TESTDATA_DIR, "/", relative);
}

std::vector<v1::DecisionResult> ParseJsonl(const std::string& text) {
  std::vector<v1::DecisionResult> results;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    v1::DecisionResult result;
    const auto status =
        google::protobuf::util::JsonStringToMessage(std::string(line), &result);
    EXPECT_TRUE(status.ok()) << line;
    results.push_back(result);
  }
  return results;
}

class TreatctlPipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    policy_ = WriteTempFile("policy.yaml", kPolicy);
    inventory_ = WriteTempFile("inventory.yaml", kInventory);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(1));
  }

  // `policy eval` with the test policy at kAsOf, then `args`.
  RunResult Eval(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"policy", "eval", policy_, "--as-of",
                                    kAsOf};
    all.insert(all.end(), args.begin(), args.end());
    return Treatctl(all);
  }

  std::string StartServer(const char* policy_text = kPolicy) {
    auto policy = CompiledPolicy::Compile(policy_text, "policy.yaml");
    EXPECT_TRUE(policy.ok()) << policy.status();
    store_.Set(*policy, "policy.yaml", absl::Now());
    ServerConfig config;
    config.listen = "127.0.0.1:0";
    auto server = TreatdServer::Start(config, &store_);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    return server_->address();
  }

  std::string policy_;
  std::string inventory_;
  PolicyStore store_;
  std::unique_ptr<TreatdServer> server_;
};

struct SampleCount {
  const char* file;
  const char* format;
  int findings;  // Imported.
  int decided;   // After de-duplication.
};

TEST_F(TreatctlPipelineTest, DecidesEveryScannerSampleWithExactCounts) {
  const SampleCount kSamples[] = {
      {"trivy/alpine-39.json", "trivy", 6, 6},
      {"trivy/scheme_2_many_vulns.json", "trivy", 5, 5},
      // matches[4] and matches[5] are the same Django vulnerability.
      {"grype/check_all_fields.json", "grype", 6, 5},
      {"grype/many_vulns_with_epss_values.json", "grype", 15, 15},
      {"sarif/alpine-310.sarif", "sarif", 4, 4},
      {"sarif/cxf-3.4.6.sarif", "sarif", 22, 22},
      {"cyclonedx/cisa-case-3-vex.json", "cyclonedx", 19, 19},
      {"cyclonedx/trivy-npm-cyclonedx.json", "cyclonedx", 1, 1},
      {"openvex/go-vex-v0.2.0.json", "openvex", 10, 10},
      {"openvex/sample-2vulns.openvex.json", "openvex", 2, 2},
      // trivy k8s: one asset per workload, so nothing merges.
      {"trivy/k8s-cluster-report.json", "trivy", 13, 13},
      {"csaf/2022-evd-uc-01-a-001.json", "csaf", 1, 1},
      {"csaf/2022-evd-uc-01-f-001.json", "csaf", 1, 1},
      {"csaf/2022-evd-uc-01-na-001.json", "csaf", 1, 1},
      {"csaf/2022-evd-uc-01-ui-001.json", "csaf", 1, 1},
      {"csaf/2022-evd-uc-02-na-001.json", "csaf", 19, 19},
      {"csaf/2022-evd-uc-04-001.json", "csaf", 3, 3},
      {"csaf/2022-evd-uc-05-001.json", "csaf", 1, 1},
      {"csaf/bsi-2022-0001.json", "csaf", 6, 6},
      {"csaf/rhsa-2022_0011.json", "csaf", 15, 15},
  };
  for (const SampleCount& sample : kSamples) {
    SCOPED_TRACE(sample.file);
    // Detected from the content...
    RunResult run = Eval({Sample(sample.file), "--output", "jsonl"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_THAT(run.err, HasSubstr(absl::StrCat(": ", sample.format, ": ",
                                                sample.findings,
                                                " findings, 0 skipped")));
    EXPECT_THAT(run.err,
                HasSubstr(absl::StrCat(sample.decided, " decided, 0 failed")));
    std::vector<v1::DecisionResult> results = ParseJsonl(run.out);
    ASSERT_EQ(results.size(), static_cast<size_t>(sample.decided));
    for (const v1::DecisionResult& result : results) {
      EXPECT_TRUE(result.has_decision()) << result.ShortDebugString();
    }
    // ...and named explicitly, without de-duplication.
    run = Eval({Sample(sample.file), "--input-format", sample.format,
                "--no-dedup", "--output", "jsonl"});
    EXPECT_EQ(run.exit_code, 0) << run.err;
    EXPECT_EQ(ParseJsonl(run.out).size(), static_cast<size_t>(sample.findings));
  }
}

TEST_F(TreatctlPipelineTest, VexStatementsDecideTheMatchingScanFindings) {
  // The shipped default policy ("default") over the Trivy scan, with an
  // in-house OpenVEX document about three of its packages.
  RunResult run = Treatctl({"policy", "eval", "default", "--as-of", kAsOf,
                            "--output", "jsonl", Sample("trivy/alpine-39.json"),
                            "--vex", Sample("../vex/alpine-39.openvex.json")});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err,
              HasSubstr("vex: 4 findings matched one of 4 VEX statements"));
  int accepted = 0;
  for (const v1::DecisionResult& result : ParseJsonl(run.out)) {
    const v1::Decision& decision = result.decision();
    const std::string actions = [&] {
      std::string text;
      for (const v1::Action& action : decision.actions()) {
        absl::StrAppend(&text, action.id(), ": ", action.text(), "\n");
      }
      return text;
    }();
    if (decision.matched_rule() == "vex-not-affected") {
      ++accepted;
      EXPECT_EQ(decision.treatment(), v1::TREATMENT_ACCEPT);
      EXPECT_THAT(decision.reasons(0),
                  HasSubstr("Example Platform Security <psirt@example.com> "
                            "states that CVE-2019-1549 does not affect"));
      EXPECT_THAT(decision.reasons(0),
                  HasSubstr("vulnerable_code_not_in_execute_path"));
    } else if (absl::StrContains(result.finding_id(), "CVE-2019-1551") &&
               absl::StrContains(actions, "libssl1.1")) {
      EXPECT_THAT(actions, HasSubstr("vex-vendor-action: Rebuild on the "
                                     "alpine 3.9.5 base image"));
    }
  }
  // libssl1.1 and libcrypto1.1 for CVE-2019-1549.
  EXPECT_EQ(accepted, 2);

  // A plain scan is no VEX document.
  run = Eval({Sample("trivy/alpine-39.json"), "--vex",
              Sample("trivy/alpine-39.json")});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("no VEX statement in this trivy document"));
}

// A server policy that decides on the VEX statement alone.
constexpr char kVexPolicy[] = R"yaml(name: vex-test
version: "1"
priorities:
  - name: P4
    remediate_within: 90d
    review_within: 30d
rules:
  - id: vendor-says-not-affected
    when: vex.status == "NOT_AFFECTED" && vex.justification != "UNSPECIFIED"
    treatment: ACCEPT
    priority: P4
default:
  treatment: REMEDIATE
  priority: P4
)yaml";

TEST_F(TreatctlPipelineTest, DecideSendsTheMatchedVexStatementToTheServer) {
  const std::string address = StartServer(kVexPolicy);
  RunResult run = Treatctl({"decide", "--target", address, "--output", "jsonl",
                            Sample("trivy/alpine-39.json"), "--vex",
                            Sample("../vex/alpine-39.openvex.json")});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err,
              HasSubstr("vex: 4 findings matched one of 4 VEX statements"));
  int accepted = 0;
  for (const v1::DecisionResult& result : ParseJsonl(run.out)) {
    if (result.decision().matched_rule() == "vendor-says-not-affected") {
      ++accepted;
    }
  }
  EXPECT_EQ(accepted, 2);
}

TEST_F(TreatctlPipelineTest, TheWrongExplicitInputFormatIsAUsageError) {
  RunResult run =
      Eval({Sample("trivy/alpine-39.json"), "--input-format", "grype"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("alpine-39.json: not a readable grype "
                                 "document: $"));
}

TEST_F(TreatctlPipelineTest, FormatStillNamesTheOutputAndSaysSo) {
  RunResult run = Eval({Sample("trivy/alpine-39.json"), "--format", "trivy"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("use --input-format trivy for the input"));
  run = Eval({Sample("trivy/alpine-39.json"), "--format", "jsonl"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ParseJsonl(run.out).size(), 6u);
}

TEST_F(TreatctlPipelineTest, BrokenScannerEntriesAreReportedAndSkipped) {
  const std::string report = WriteTempFile("broken-trivy.json", R"json({
    "SchemaVersion": 2, "ArtifactName": "img",
    "Results": [{"Target": "img", "Type": "debian", "Vulnerabilities": [
      {"VulnerabilityID": "CVE-2024-0001", "PkgName": "a"},
      {"VulnerabilityID": "CVE-2024-0002", "PkgName": "b", "CVSS": "high"},
      {"PkgName": "c"}
    ]}]})json");
  RunResult run = Eval({report, "--output", "jsonl"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("$.Results[0].Vulnerabilities[1].CVSS"));
  EXPECT_THAT(run.err,
              HasSubstr("$.Results[0].Vulnerabilities[2].VulnerabilityID"));
  EXPECT_THAT(run.err, HasSubstr("trivy: 1 findings, 2 skipped"));
  EXPECT_EQ(ParseJsonl(run.out).size(), 1u);
}

TEST_F(TreatctlPipelineTest, AnUnknownDocumentIsAUsageErrorWithItsPath) {
  const std::string document =
      WriteTempFile("unknown.json", R"({"Results": "x", "SchemaVersion": 2})");
  RunResult run = Eval({document, "--input-format", "trivy"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("$.Results"));
}

TEST_F(TreatctlPipelineTest, TheInventoryChangesTheDecision) {
  RunResult plain = Eval({Sample("trivy/alpine-39.json"), "--output", "jsonl"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  std::vector<v1::DecisionResult> before = ParseJsonl(plain.out);
  ASSERT_EQ(before.size(), 6u);
  for (const v1::DecisionResult& result : before) {
    EXPECT_NE(result.decision().matched_rule(), "internet-critical");
  }

  RunResult run = Eval({Sample("trivy/alpine-39.json"), "--inventory",
                        inventory_, "--output", "csv"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("inventory: 6 findings matched"));
  absl::StatusOr<std::vector<exporters::DecisionCsvRecord>> records =
      exporters::ReadDecisionCsv(run.out);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 6u);
  for (const exporters::DecisionCsvRecord& record : *records) {
    EXPECT_EQ(record.asset, "alpine-prod");
    EXPECT_EQ(record.treatment, "MITIGATE_THEN_REMEDIATE");
    EXPECT_EQ(record.matched_rule, "internet-critical");
    EXPECT_EQ(record.priority, "P1");
  }
}

TEST_F(TreatctlPipelineTest, DuplicatesAcrossScannerFilesAreMergedOnce) {
  const std::string trivy = Sample("trivy/alpine-39.json");
  RunResult run = Eval({trivy, trivy, "--output", "jsonl"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ParseJsonl(run.out).size(), 6u);
  EXPECT_THAT(run.err, HasSubstr("dedup: 12 imported findings merged into 6"));

  run = Eval({trivy, trivy, "--no-dedup", "--output", "jsonl"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(ParseJsonl(run.out).size(), 12u);
  EXPECT_THAT(run.err, Not(HasSubstr("dedup:")));
}

TEST_F(TreatctlPipelineTest, JsonFindingsAndScannerDocumentsMix) {
  const std::string findings = WriteTempFile(
      "mixed.jsonl",
      R"({"id":"j-1","kind":"FINDING_KIND_VULNERABILITY","vulnerability":{"kev":{"listed":true}}}
{"id":"j-2","kind":"FINDING_KIND_MALWARE"}
)");
  RunResult run =
      Eval({findings, Sample("sarif/alpine-310.sarif"), "--output", "jsonl"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  std::vector<v1::DecisionResult> results = ParseJsonl(run.out);
  ASSERT_EQ(results.size(), 6u);
  // Scanner documents first, then JSON inputs in order.
  EXPECT_EQ(results[4].finding_id(), "j-1");
  EXPECT_EQ(results[4].decision().matched_rule(), "kev");
  EXPECT_EQ(results[5].finding_id(), "j-2");
}

TEST_F(TreatctlPipelineTest, CsvRoundTripsAndMatchesJsonl) {
  const std::string grype = Sample("grype/many_vulns_with_epss_values.json");
  RunResult jsonl = Eval({grype, "--output", "jsonl"});
  RunResult csv = Eval({grype, "--output", "csv"});
  ASSERT_EQ(jsonl.exit_code, 0) << jsonl.err;
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  std::vector<v1::DecisionResult> results = ParseJsonl(jsonl.out);
  absl::StatusOr<std::vector<exporters::DecisionCsvRecord>> records =
      exporters::ReadDecisionCsv(csv.out);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), results.size());
  ASSERT_EQ(results.size(), 15u);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ((*records)[i].finding_id, results[i].finding_id());
    EXPECT_EQ((*records)[i].priority, results[i].decision().priority());
    EXPECT_EQ((*records)[i].matched_rule, results[i].decision().matched_rule());
    EXPECT_FALSE((*records)[i].cve.empty());
    EXPECT_FALSE((*records)[i].package.empty());
  }
}

TEST_F(TreatctlPipelineTest, OpenVexOutputHasTheRequiredFields) {
  const std::string out = TempPath("decisions.openvex.json");
  RunResult run = Eval({Sample("grype/many_vulns_with_epss_values.json"),
                        "--output", "openvex", "-o", out});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "");
  const nlohmann::json doc = nlohmann::json::parse(ReadWhole(out), nullptr,
                                                   /*allow_exceptions=*/false);
  ASSERT_FALSE(doc.is_discarded());
  EXPECT_THAT(exporters::testing::ValidateOpenVex(doc), ::testing::IsEmpty());
  EXPECT_EQ(doc["statements"].size(), 15u);
  EXPECT_EQ(doc["timestamp"], "2026-01-01T00:00:00Z");
}

TEST_F(TreatctlPipelineTest, SarifOutputHasTheRequiredFields) {
  RunResult run = Eval({Sample("trivy/alpine-39.json"), "--output", "sarif"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const nlohmann::json log = nlohmann::json::parse(run.out, nullptr,
                                                   /*allow_exceptions=*/false);
  ASSERT_FALSE(log.is_discarded());
  EXPECT_THAT(exporters::testing::ValidateSarif(log), ::testing::IsEmpty());
  ASSERT_EQ(log["runs"][0]["results"].size(), 6u);
  EXPECT_EQ(log["runs"][0]["results"][0]["properties"]["treatment"],
            "REMEDIATE");
}

TEST_F(TreatctlPipelineTest, AnnotatesTheSarifInputInPlace) {
  const std::string sarif =
      WriteTempFile("scan.sarif", ReadWhole(Sample("sarif/cxf-3.4.6.sarif")));
  RunResult run =
      Eval({sarif, "--annotate-sarif", "-o", sarif, "--inventory", inventory_});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("annotated 22 of 22 SARIF results"));
  const nlohmann::json log = nlohmann::json::parse(ReadWhole(sarif), nullptr,
                                                   /*allow_exceptions=*/false);
  ASSERT_FALSE(log.is_discarded());
  EXPECT_THAT(exporters::testing::ValidateSarif(log), ::testing::IsEmpty());
  const nlohmann::json& results = log["runs"][0]["results"];
  ASSERT_EQ(results.size(), 22u);
  for (const nlohmann::json& result : results) {
    EXPECT_TRUE(result["properties"].contains("treatment")) << result.dump();
    EXPECT_TRUE(result["properties"].contains("priority"));
  }
  // The scanner's own content stays.
  EXPECT_EQ(log["runs"][0]["tool"]["driver"]["name"], "Grype");
}

TEST_F(TreatctlPipelineTest, AnnotateSarifNeedsOneSarifInput) {
  RunResult run = Eval({Sample("trivy/alpine-39.json"), "--annotate-sarif"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("--annotate-sarif needs exactly one input"));
}

TEST_F(TreatctlPipelineTest, FailOnExitsFiveAndNamesTheTrippingFindings) {
  RunResult run = Eval({Sample("trivy/alpine-39.json"), "--inventory",
                        inventory_, "--output", "jsonl", "--fail-on",
                        R"(decision.treatment == "MITIGATE_THEN_REMEDIATE" &&
                           finding.vulnerability.cve_id == "CVE-2019-14697")"});
  EXPECT_EQ(run.exit_code, 5) << run.err;
  EXPECT_EQ(ParseJsonl(run.out).size(), 6u);  // Output is still complete.
  EXPECT_THAT(run.err, HasSubstr("fail-on: FAILED: 2 findings matched"));
  EXPECT_THAT(run.err, HasSubstr("(CVE-2019-14697) MITIGATE_THEN_REMEDIATE "
                                 "P1 rule internet-critical"));
  // Only those two are listed under the gate.
  const size_t gate = run.err.find("fail-on: FAILED");
  ASSERT_NE(gate, std::string::npos);
  EXPECT_THAT(run.err.substr(gate), Not(HasSubstr("CVE-2019-1549")));
}

TEST_F(TreatctlPipelineTest, FailOnDeadlineWithinThreeDays) {
  const std::string gate =
      R"(has(decision.remediate_by) && decision.remediate_by < now + duration("3d"))";
  // Without the inventory nothing is due within 3 days (P2 and P4).
  RunResult run = Eval(
      {Sample("trivy/alpine-39.json"), "--output", "csv", "--fail-on", gate});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("fail-on: passed"));
  // With it, P1 gives 3 days: due exactly at now + 3d is not "within".
  run = Eval(
      {Sample("trivy/alpine-39.json"), "--inventory", inventory_, "--output",
       "csv", "--fail-on",
       R"(has(decision.remediate_by) && decision.remediate_by <= now + duration("3d"))"});
  EXPECT_EQ(run.exit_code, 5) << run.err;
  EXPECT_THAT(run.err, HasSubstr("fail-on: FAILED: 6 findings matched"));
}

TEST_F(TreatctlPipelineTest, ABadFailOnExpressionIsAUsageError) {
  RunResult run = Eval({Sample("trivy/alpine-39.json"), "--fail-on",
                        "decision.nosuchfield == 1"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("--fail-on:10: no field 'nosuchfield'"));
  run =
      Eval({Sample("trivy/alpine-39.json"), "--fail-on", "decision.priority"});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("--fail-on:"));
}

TEST_F(TreatctlPipelineTest, FailOnWarnsWhenCelPrecedenceChangedItsMeaning) {
  // CEL: (listed == active_incident) in [true]; treatd's old grammar read
  // listed == (active_incident in [true]). The gate runs, with a warning.
  RunResult run =
      Eval({Sample("trivy/alpine-39.json"), "--output", "csv", "--fail-on",
            "finding.vulnerability.kev.listed == finding.active_incident in "
            "[true]"});
  EXPECT_EQ(run.exit_code, 5) << run.err;
  EXPECT_THAT(run.err, HasSubstr("--fail-on: warning: the meaning of this "
                                 "expression changed: treatd now follows "
                                 "CEL's operator precedence"));
  run = Eval({Sample("trivy/alpine-39.json"), "--output", "csv", "--fail-on",
              "(finding.vulnerability.kev.listed == finding.active_incident) "
              "in [true]"});
  EXPECT_THAT(run.err, Not(HasSubstr("warning")));
}

TEST_F(TreatctlPipelineTest, SummaryCountsAndEarliestDeadlines) {
  RunResult run = Eval({Sample("trivy/alpine-39.json"), "--inventory",
                        inventory_, "--output", "jsonl"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("6 decided, 0 failed"));
  EXPECT_THAT(run.err, HasSubstr("by treatment: MITIGATE_THEN_REMEDIATE 6;"));
  EXPECT_THAT(run.err, HasSubstr("by priority: P1 6;"));
  EXPECT_THAT(run.err, HasSubstr("earliest remediate_by:\n    2026-01-04 "
                                 "00:00Z  trivy:"));
  EXPECT_THAT(run.err, HasSubstr("earliest mitigate_by:\n    2026-01-02 "
                                 "00:00Z  trivy:"));
}

TEST_F(TreatctlPipelineTest, NoProgressLineWhenStderrIsNotATerminal) {
  RunResult run = Eval(
      {Sample("grype/many_vulns_with_epss_values.json"), "--output", "jsonl"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, Not(HasSubstr("\r")));
  EXPECT_THAT(run.err, Not(HasSubstr("findings  ")));
  // --progress forces it; the final state stays on its own line.
  run = Eval({Sample("grype/many_vulns_with_epss_values.json"), "--output",
              "jsonl", "--progress"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_THAT(run.err, HasSubstr("\r15/15 findings  "));
  EXPECT_THAT(run.err, HasSubstr("100%"));
  // --no-progress and --progress exclude each other.
  run = Eval({Sample("grype/many_vulns_with_epss_values.json"), "--progress",
              "--no-progress"});
  EXPECT_EQ(run.exit_code, 2);
}

// 20,000 findings, one in ten KEV-listed, as JSON Lines.
std::string GeneratedFindings(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(
        &text, R"({"id":"gen-)", i,
        R"(","kind":"FINDING_KIND_VULNERABILITY","vulnerability":{"cveId":"CVE-2024-)",
        10000 + i % 5000, R"(","cvss":{"score":)", (i % 100) / 10.0,
        R"(},"kev":{"listed":)", i % 10 == 0 ? "true" : "false",
        R"(}},"package":{"name":"pkg-)", i % 300,
        R"(","installedVersion":"1.0"},"asset":{"id":"host-)", i % 97, R"("}})",
        "\n");
  }
  return text;
}

TEST_F(TreatctlPipelineTest, DecideStreamsTwentyThousandFindings) {
  const std::string address = StartServer();
  const std::string findings =
      WriteTempFile("20k.jsonl", GeneratedFindings(20000));
  const std::string out = TempPath("20k.csv");
  RunResult run = Treatctl({"decide", "--target", address, findings, "--as-of",
                            kAsOf, "--output", "csv", "-o", out, "--fail-on",
                            R"(decision.matched_rule == "kev")"});
  EXPECT_EQ(run.exit_code, 5) << run.err;
  EXPECT_THAT(run.err, HasSubstr("20000 decided, 0 failed"));
  EXPECT_THAT(run.err, HasSubstr("fail-on: FAILED: 2000 findings matched"));
  EXPECT_THAT(run.err, HasSubstr("... and 1980 more"));
  EXPECT_THAT(run.err, HasSubstr("by treatment: REMEDIATE 18000; "
                                 "MITIGATE_THEN_REMEDIATE 2000;"));
  absl::StatusOr<std::vector<exporters::DecisionCsvRecord>> records =
      exporters::ReadDecisionCsv(ReadWhole(out));
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 20000u);
  // Results come back in input order, each with its own finding's columns.
  for (size_t i = 0; i < records->size(); i += 997) {
    EXPECT_EQ((*records)[i].finding_id, absl::StrCat("gen-", i));
    EXPECT_EQ((*records)[i].cve, absl::StrCat("CVE-2024-", 10000 + i % 5000));
    EXPECT_EQ((*records)[i].asset, absl::StrCat("host-", i % 97));
  }
}

// decide --output csv writes each row from the answer's bytes and a thin
// finding (the fields the row reads); with a --fail-on gate it parses
// both whole, as before. Over every example and random findings, valid
// and not (errors with field paths), decided by the shipped policy with
// the full and the basic view, the two write the same bytes.
TEST_F(TreatctlPipelineTest, DecideCsvFromTheBytesIsTheCsvOfTheMessages) {
  std::ifstream policy_file(
      absl::StrCat(TREATD_SOURCE_DIR, "/policies/default.yaml"));
  std::ostringstream policy_text;
  policy_text << policy_file.rdbuf();
  const std::string address = StartServer(policy_text.str().c_str());
  std::string text;
  int added = 0;
  auto add = [&](const v1::Finding& finding) {
    // Findings protobuf cannot print (a timestamp out of range) are no
    // JSON input.
    std::string json;
    if (!google::protobuf::util::MessageToJsonString(finding, &json).ok()) {
      return;
    }
    absl::StrAppend(&text, json, "\n");
    ++added;
  };
  for (const v1::Finding& finding : testing::ExampleFindings()) add(finding);
  for (bool invalid : {false, true}) {
    testing::RandomFindingOptions options;
    options.invalid = invalid;
    testing::RandomFindings random(invalid ? 151 : 150, options);
    for (int i = 0; i < 400; ++i) add(random.Next());
  }
  EXPECT_GT(added, 600);
  const std::string findings = WriteTempFile("csv-diff.jsonl", text);
  for (const char* view : {"full", "basic"}) {
    SCOPED_TRACE(view);
    RunResult bytes =
        Treatctl({"decide", "--target", address, findings, "--as-of", kAsOf,
                  "--view", view, "--output", "csv", "--stream-chunk", "7"});
    RunResult messages =
        Treatctl({"decide", "--target", address, findings, "--as-of", kAsOf,
                  "--view", view, "--output", "csv", "--stream-chunk", "7",
                  "--fail-on", R"(finding_id == "no such finding")"});
    EXPECT_EQ(bytes.exit_code, messages.exit_code) << bytes.err;
    EXPECT_THAT(bytes.err, HasSubstr("failed"));
    EXPECT_THAT(bytes.out, HasSubstr("finding.")) << "no field path";
    EXPECT_GT(bytes.out.size(), text.size() / 10);
    EXPECT_EQ(bytes.out, messages.out);
  }
}

TEST_F(TreatctlPipelineTest, DecideImportsScannerDocuments) {
  const std::string address = StartServer();
  RunResult run = Treatctl({"decide", "--target", address,
                            Sample("trivy/alpine-39.json"), "--inventory",
                            inventory_, "--as-of", kAsOf, "--output", "jsonl"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  std::vector<v1::DecisionResult> results = ParseJsonl(run.out);
  ASSERT_EQ(results.size(), 6u);
  for (const v1::DecisionResult& result : results) {
    EXPECT_EQ(result.decision().matched_rule(), "internet-critical");
  }
}

TEST_F(TreatctlPipelineTest, AFailedOutputFileLeavesNothingBehind) {
  const std::string out = TempPath("no-such-dir/out.csv");
  RunResult run =
      Eval({Sample("trivy/alpine-39.json"), "--output", "csv", "-o", out});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_THAT(run.err, HasSubstr("-o: cannot create"));
}

}  // namespace
}  // namespace treatd
